# dalle-tools: one POSIX-style makefile, no recursion.
.POSIX:
.SUFFIXES:
.SUFFIXES: .c .o

VERSION = 0.1.0
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
# The price table (share/prices.json), looked up here first.
DATADIR = $(PREFIX)/share/dalle-tools
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR = $(PREFIX)/share/fish/vendor_completions.d
PKG_CONFIG = pkg-config

CC = cc
CFLAGS = -O2 -g
LDFLAGS =
WFLAGS = -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes
CURL_CFLAGS != $(PKG_CONFIG) --cflags libcurl 2>/dev/null || curl-config --cflags 2>/dev/null || true
CURL_LIBS != $(PKG_CONFIG) --libs libcurl 2>/dev/null || curl-config --libs 2>/dev/null || echo -lcurl
JQ_CFLAGS != $(PKG_CONFIG) --cflags libjq 2>/dev/null || true
JQ_LIBS != $(PKG_CONFIG) --libs libjq 2>/dev/null || echo -ljq
MHD_CFLAGS != $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null || true
MHD_LIBS != $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd
PNG_CFLAGS != $(PKG_CONFIG) --cflags libpng zlib 2>/dev/null || true
PNG_LIBS != $(PKG_CONFIG) --libs libpng zlib 2>/dev/null || echo -lpng -lz
JPEG_LIBS = -ljpeg
CRYPTO_CFLAGS != $(PKG_CONFIG) --cflags libcrypto 2>/dev/null || true
CRYPTO_LIBS != $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto
# libjq 1.6 cannot say its version: --version prints the one built against.
JQ_VERSION != dpkg-query -W -f '$${Version}' libjq-dev 2>/dev/null || jq --version 2>/dev/null || echo unknown
DALLE_CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE \
	-DVERSION=\"$(VERSION)\" -Ilib $(CURL_CFLAGS) $(JQ_CFLAGS) $(CRYPTO_CFLAGS) \
	-DDALLE_DATADIR=\"$(DATADIR)\"
# dalle-serve alone paints images, signs URLs and serves HTTP: only
# serve/*.c are compiled with these libraries' flags.
SERVE_CPPFLAGS = $(MHD_CFLAGS) $(PNG_CFLAGS) $(CRYPTO_CFLAGS)
SERVE_LIBS = $(MHD_LIBS) $(PNG_LIBS) $(JPEG_LIBS) $(CRYPTO_LIBS) -lpthread

BIN = dalle-submit dalle-poll dalle-fetch dalle-serve dalle-gallery
LIBOBJ = lib/api.o lib/base64.o lib/big.o lib/conf.o lib/event.o lib/file.o \
	lib/edit.o lib/form.o lib/heap.o lib/http.o lib/image.o lib/json.o \
	lib/lines.o lib/loop.o lib/model.o lib/rate.o lib/record.o lib/retry.o \
	lib/url.o lib/util.o lib/lifecycle.o lib/modellist.o lib/sse.o \
	lib/stream.o lib/responses.o lib/batch.o lib/progress.o \
	lib/name.o lib/journal.o lib/resume.o lib/stale.o lib/secret.o \
	lib/privdir.o \
	lib/token.o lib/outpath.o \
	lib/grace.o lib/inflight.o lib/apistatus.o lib/summary.o \
	lib/answer.o \
	lib/status.o \
	lib/interrupt.o lib/input.o \
	lib/gallery.o \
	lib/version.o lib/provenance.o lib/digest.o \
	lib/owner.o \
	lib/cost.o \
	lib/fields.o
HDR = lib/dalle.h lib/util.h lib/heap.h lib/base64.h lib/big.h lib/file.h \
	lib/url.h lib/image.h lib/lines.h lib/record.h lib/json.h lib/model.h \
	lib/api.h lib/conf.h lib/retry.h lib/rate.h lib/http.h lib/loop.h \
	lib/event.h lib/lifecycle.h lib/modellist.h lib/edit.h lib/form.h \
	lib/sse.h lib/stream.h lib/responses.h lib/batch.h lib/progress.h \
	lib/name.h lib/journal.h lib/resume.h lib/stale.h lib/secret.h \
	lib/privdir.h \
	lib/token.h lib/outpath.h \
	lib/grace.h lib/inflight.h lib/apistatus.h \
	lib/answer.h lib/fields.h \
	lib/status.h \
	lib/interrupt.h lib/input.h \
	lib/gallery.h \
	lib/version.h lib/provenance.h lib/digest.h \
	lib/owner.h \
	lib/cost.h
SERVEOBJ = serve/blob.o serve/cache.o serve/edit.o serve/generate.o \
	serve/batch.o serve/keyed.o \
	serve/main.o serve/operation.o serve/paint.o serve/quota.o \
	serve/reply.o serve/route.o serve/stats.o serve/timer.o \
	serve/models.o serve/stream.o serve/responses.o serve/echo.o \
	serve/hostile.o
MAN1 = man/dalle-submit.1 man/dalle-poll.1 man/dalle-fetch.1 \
	man/dalle-serve.1 man/dalle-gallery.1
MAN7 = man/dalle.7

all: $(BIN)

.c.o:
	$(CC) $(DALLE_CPPFLAGS) $(WFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBOBJ) cmd/dalle-submit.o cmd/dalle-poll.o cmd/dalle-fetch.o: $(HDR)
cmd/dalle-gallery.o: $(HDR)
# The version of libjq built against; PNG's headers for provenance.
lib/version.o: lib/version.c $(HDR)
	$(CC) $(DALLE_CPPFLAGS) -DDALLE_JQ_VERSION=\"$(JQ_VERSION)\" $(WFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ lib/version.c
lib/provenance.o: lib/provenance.c $(HDR)
	$(CC) $(DALLE_CPPFLAGS) $(PNG_CFLAGS) $(WFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ lib/provenance.c
# The model table is data included by model.c.
lib/model.o: lib/models.def
# The price table, built in as a C string: a copied program keeps it.
lib/cost.o: lib/prices.inc
lib/prices.inc: share/prices.json
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' \
	    share/prices.json >$@

# POSIX make has no flags per target: the server's objects have a rule of
# their own, and each its source below.
$(SERVEOBJ): $(HDR) serve/serve.h
	$(CC) $(DALLE_CPPFLAGS) $(SERVE_CPPFLAGS) $(WFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $(@:.o=.c)
serve/batch.o: serve/batch.c
serve/blob.o: serve/blob.c
serve/cache.o: serve/cache.c
serve/edit.o: serve/edit.c
serve/generate.o: serve/generate.c
serve/keyed.o: serve/keyed.c
serve/main.o: serve/main.c
serve/operation.o: serve/operation.c
serve/paint.o: serve/paint.c
serve/quota.o: serve/quota.c
serve/reply.o: serve/reply.c
serve/responses.o: serve/responses.c
serve/route.o: serve/route.c
serve/stats.o: serve/stats.c
serve/timer.o: serve/timer.c
serve/models.o: serve/models.c
serve/stream.o: serve/stream.c
serve/hostile.o: serve/hostile.c

libdalle.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

dalle-submit: cmd/dalle-submit.o libdalle.a
	$(CC) $(LDFLAGS) $(CFLAGS) -o $@ cmd/dalle-submit.o libdalle.a $(CURL_LIBS) $(JQ_LIBS) $(CRYPTO_LIBS) -lm
dalle-poll: cmd/dalle-poll.o libdalle.a
	$(CC) $(LDFLAGS) $(CFLAGS) -o $@ cmd/dalle-poll.o libdalle.a $(CURL_LIBS) $(JQ_LIBS) -lm
dalle-fetch: cmd/dalle-fetch.o libdalle.a
	$(CC) $(LDFLAGS) $(CFLAGS) -o $@ cmd/dalle-fetch.o libdalle.a $(CURL_LIBS) $(JQ_LIBS) $(PNG_LIBS) $(CRYPTO_LIBS) -lm
# A page from records: curl only for --version's line.
dalle-gallery: cmd/dalle-gallery.o libdalle.a
	$(CC) $(LDFLAGS) $(CFLAGS) -o $@ cmd/dalle-gallery.o libdalle.a $(CURL_LIBS) $(JQ_LIBS) $(CRYPTO_LIBS) -lm
dalle-serve: $(SERVEOBJ) libdalle.a
	$(CC) $(LDFLAGS) $(CFLAGS) -o $@ $(SERVEOBJ) libdalle.a $(SERVE_LIBS) $(CURL_LIBS) $(JQ_LIBS) -lm

# A test program: dalle_json_put against jq's own writer.
tests/jsoncheck: tests/jsoncheck.c libdalle.a $(HDR)
	$(CC) $(DALLE_CPPFLAGS) $(WFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ tests/jsoncheck.c libdalle.a $(CURL_LIBS) $(JQ_LIBS) -lm

# The budget on a simulated clock: rate.c's clock calls wrapped (GNU ld or
# lld, as on Debian).
tests/ratesim: tests/ratesim.c libdalle.a $(HDR)
	$(CC) $(DALLE_CPPFLAGS) $(WFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -Wl,--wrap=dalle_wall_ms,--wrap=dalle_now_ms -o $@ tests/ratesim.c libdalle.a $(CURL_LIBS) $(JQ_LIBS) -lm

# Decodes images whole (libpng, libjpeg): the soak's and tests' judge of
# a file being complete and valid.
tests/imgcheck: tests/imgcheck.c
	$(CC) $(WFLAGS) $(CPPFLAGS) $(PNG_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ tests/imgcheck.c $(PNG_LIBS) $(JPEG_LIBS)

# Build dependencies: installed with apt-get when root, else the exact line.
# check and demo install first, then build in a fresh make, so that the
# pkg-config lines above see the new packages.
deps:
	@sh .ci/deps

# The whole suite; TAP from bats, summed up as "N passed, N failed".
check:
	@sh .ci/deps check
	@$(MAKE) all tests/jsoncheck tests/ratesim tests/imgcheck
	@PATH="$$PWD:$$PATH" sh tests/run

demo:
	@sh .ci/deps
	@$(MAKE) all
	@sh examples/demo.sh

bench: all
	@sh bench/run.sh bench/batch.sh

# 10,000 prompts through the pipeline under faults (bench/soak.sh):
# lost, duplicated, partial, stray, paid twice, crashes; then leaks, of a
# leak pass of SOAK_LEAK_N (200) prompts with each stage under valgrind.
soak: all tests/imgcheck
	@SOAK_N=$${SOAK_N:-10000} bash bench/soak.sh

# kill -9 at 100 random moments (tests/killnine.sh; make check runs 6):
# prints what was lost, duplicated, partial or paid twice.
killtest: all tests/imgcheck
	@PATH="$$PWD:$$PATH" bash tests/killnine.sh 100

lint:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN7)
	shellcheck -s bash completions/dalle.bash tests/helpers/*.bash bench/run.sh bench/batch.sh

# Every program of the suite under the sanitizers or valgrind; a report of
# the tool's, even from a process whose status no test reads, fails it.
# DALLE_TEST_SLOW (an integer) scales the few waits and server latencies
# that must outlast a program's own work (tests/helpers/common.bash slow).
asan:
	@sh .ci/deps asan
	$(MAKE) clean
	rm -rf tests/.tool-log && mkdir -p tests/.tool-log
	ASAN_OPTIONS=exitcode=99:log_path=$$PWD/tests/.tool-log/asan \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$$PWD/tests/.tool-log/ubsan \
	    DALLE_TEST_SLOW=$${DALLE_TEST_SLOW:-3} \
	    $(MAKE) check CC=clang \
	    CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer' \
	    LDFLAGS='-fsanitize=address,undefined'; \
	    rc=$$?; sh tests/wrap -r tests/.tool-log && exit $$rc

# make valgrind runs every test file, tests/soak.bats with its own leak
# pass of the three stages under valgrind.  CI's .ci/run (make check,
# fuzz-brief, valgrind, asan) takes about 50 minutes on 2 cores.
valgrind:
	@sh .ci/deps valgrind
	@$(MAKE) all tests/jsoncheck tests/ratesim tests/imgcheck
	rm -rf tests/.wrap tests/.tool-log && mkdir -p tests/.tool-log
	sh tests/wrap -l $$PWD/tests/.tool-log tests/.wrap valgrind -q \
	    --leak-check=full --errors-for-leak-kinds=definite \
	    --error-exitcode=99 --log-fd=9
	DALLE_WRAP_DIR=$$PWD/tests/.wrap DALLE_TEST_SLOW=$${DALLE_TEST_SLOW:-10} \
	    PATH="$$PWD:$$PATH" sh tests/run; \
	    rc=$$?; echo "make valgrind: the suite's status $$rc"; \
	    sh tests/wrap -r tests/.tool-log || rc=1; exit $$rc

# libFuzzer harnesses (clang), tests/fuzz/*.c, over a libdalle.a of
# their own in fuzz/ built with the fuzzer's instrumentation and the
# sanitizers.  make fuzz runs each FUZZ_TIME seconds from its seeds in
# tests/fuzz/corpus/; a crash fails it and stays in fuzz/ (tests/fuzz/run).
FUZZ_CC = clang
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_TIME = 60
FUZZ = base64 batch dotenv lines name owner record response retry sse stream \
	url
FUZZBIN = fuzz/base64 fuzz/batch fuzz/dotenv fuzz/lines fuzz/name \
	fuzz/owner fuzz/record fuzz/response fuzz/retry fuzz/sse fuzz/stream \
	fuzz/url

fuzz/libdalle.a: $(LIBOBJ:.o=.c) $(HDR) lib/prices.inc
	mkdir -p fuzz/obj
	for s in $(LIBOBJ:.o=.c); do \
	    $(FUZZ_CC) $(DALLE_CPPFLAGS) $(WFLAGS) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o fuzz/obj/$${s#lib/}.o $$s || \
	    exit 1; \
	done
	rm -f $@
	ar rcs $@ fuzz/obj/*.o

$(FUZZBIN): fuzz/libdalle.a tests/fuzz/fuzz.h lib/conf.c
	$(FUZZ_CC) $(DALLE_CPPFLAGS) $(WFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    -o $@ tests/$@.c fuzz/libdalle.a $(CURL_LIBS) $(JQ_LIBS) \
	    $(CRYPTO_LIBS) -lm
fuzz/base64: tests/fuzz/base64.c
fuzz/batch: tests/fuzz/batch.c
fuzz/dotenv: tests/fuzz/dotenv.c
fuzz/lines: tests/fuzz/lines.c
fuzz/name: tests/fuzz/name.c
fuzz/owner: tests/fuzz/owner.c
fuzz/record: tests/fuzz/record.c
fuzz/response: tests/fuzz/response.c
fuzz/retry: tests/fuzz/retry.c
fuzz/sse: tests/fuzz/sse.c
fuzz/stream: tests/fuzz/stream.c
fuzz/url: tests/fuzz/url.c

fuzz:
	@sh .ci/deps fuzz
	@$(MAKE) $(FUZZBIN)
	@FUZZ_TIME=$(FUZZ_TIME) sh tests/fuzz/run $(FUZZ)

# CI's share: 10 s each.
fuzz-brief:
	@$(MAKE) fuzz FUZZ_TIME=10

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
	    $(DESTDIR)$(DATADIR)
	cp -f $(BIN) $(DESTDIR)$(BINDIR)/
	cp -f share/prices.json $(DESTDIR)$(DATADIR)/
	cp -f $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	cp -f $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	for b in dalle-submit dalle-poll dalle-fetch dalle-serve dalle-gallery; do \
	    cp -f completions/dalle.bash $(DESTDIR)$(BASHCOMPDIR)/$$b; \
	    cp -f completions/$$b.fish $(DESTDIR)$(FISHCOMPDIR)/; \
	done
	cp -f completions/_dalle $(DESTDIR)$(ZSHCOMPDIR)/

uninstall:
	for b in $(BIN); do \
	    rm -f $(DESTDIR)$(BINDIR)/$$b $(DESTDIR)$(MANDIR)/man1/$$b.1 \
	        $(DESTDIR)$(BASHCOMPDIR)/$$b $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; \
	done
	rm -f $(DESTDIR)$(MANDIR)/man7/dalle.7 $(DESTDIR)$(ZSHCOMPDIR)/_dalle
	rm -f $(DESTDIR)$(DATADIR)/prices.json

clean:
	rm -f $(BIN) libdalle.a lib/*.o cmd/*.o serve/*.o tests/jsoncheck \
	    tests/ratesim tests/imgcheck lib/prices.inc
	rm -rf tests/.wrap tests/.tool-log

.PHONY: all deps check demo bench soak killtest lint asan valgrind fuzz \
	fuzz-brief install uninstall clean
