/*
 * stream.c: a streamed image answer, event by event.  Events are known by
 * their "type" (else by their event name): "<x>.partial_image",
 * "<x>.completed" and "error"; others are read past.  A partial goes to
 * a temporary file beside its target and is renamed when whole, so a
 * preview never shows half an image.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "file.h"
#include "json.h"
#include "outpath.h"
#include "record.h"
#include "secret.h"
#include "stream.h"

static int on_event(void *arg, const char *event, struct dalle_buf *data);

static void
start(struct dalle_stream *s, int attempt)
{
	dalle_sse_init(&s->sse, on_event, s);
	s->attempt = attempt;
	jv_free(s->body);
	s->body = jv_null();
	/* A retry saves its partials again, under the same names. */
	jv_free(s->partials);
	s->partials = jv_array();
	memset(s->seen, 0, sizeof(s->seen));
}

struct dalle_stream *
dalle_stream_new(struct dalle_big *big, const char *stem)
{
	struct dalle_stream *s = dalle_xcalloc(1, sizeof(*s));

	s->big = big;
	s->stem = stem ? dalle_xstrdup(stem) : NULL;
	s->body = jv_null();
	s->partials = jv_null();
	s->error = jv_null();
	start(s, 0);
	return s;
}

void
dalle_stream_free(struct dalle_stream *s)
{
	size_t i;

	if (s == NULL)
		return;
	dalle_sse_free(&s->sse);
	jv_free(s->body);
	jv_free(s->partials);
	jv_free(s->error);
	for (i = 0; i < s->nkeep; i++)
		dalle_buf_free(&s->keep[i]);
	free(s->keep);
	free(s->why);
	free(s->stem);
	free(s);
}

static int
why(struct dalle_stream *s, const char *kind, char *msg)
{
	if (s->why == NULL) {
		s->why = msg;
		s->why_kind = kind;
	} else
		free(msg);
	return -1;
}

/* Does type end in suffix? */
static int
ends(const char *type, const char *suffix)
{
	size_t n = strlen(type), k = strlen(suffix);

	return n > k && strcmp(type + n - k, suffix) == 0;
}

/*
 * The n bytes at p to path, whole or not at all: NULL, or why not.  The
 * directory (which may be a link of the user's, as -d's) is opened once,
 * and the file made and renamed in it by descriptor; a link or other
 * non-file at path is refused, never followed nor replaced, as a link
 * planted in -d is.
 */
static const char *
save(const char *path, const unsigned char *p, size_t n)
{
	const char *name = strrchr(path, '/'), *fail = NULL;
	char *d, *tmp, *e;
	struct stat st;
	ssize_t w;
	size_t off;
	int fd, dfd;

	d = name ? dalle_xasprintf("%.*s", (int)(name - path), path) :
	    dalle_xstrdup(".");
	name = name ? name + 1 : path;
	dfd = dalle_outpath_open(*d ? d : "/", name, &e);
	free(d);
	if (dfd == -1) {
		free(e);
		return strerror(errno);
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		close(dfd);
		return S_ISLNK(st.st_mode) ? "a symbolic link inside "
		    "--partial-dir: not followed, nor replaced" :
		    "exists and is not a file";
	}
	if ((fd = dalle_temp_openat(dfd, path, &tmp)) == -1) {
		close(dfd);
		return strerror(errno);
	}
	for (off = 0; off < n; off += (size_t)w)
		if ((w = write(fd, p + off, n - off)) == -1 && errno != EINTR)
			break;
		else if (w == -1)
			w = 0;
	if (off < n || close(fd) == -1 ||
	    dalle_outpath_rename(dfd, tmp, dfd, path) == -1) {
		fail = strerror(errno);
		if (off < n)
			close(fd);
		unlinkat(dfd, strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp,
		    0);
	}
	dalle_temp_done(tmp);
	close(dfd);
	return fail;
}

static int
partial(struct dalle_stream *s, const struct dalle_big *big, jv ev)
{
	const char *b64, *fmt, *msg;
	unsigned char *img;
	size_t len, n;
	long idx;
	char *path;
	int rc;

	if (s->stem == NULL)
		return 0;
	if ((b64 = dalle_big_str(big, ev, "b64_json", &len)) == NULL ||
	    dalle_record_long(ev, "partial_image_index", &idx) != 0 ||
	    idx < 0 || idx > 99)
		return why(s, DALLE_KIND_PROTOCOL, dalle_xstrdup("a partial "
		    "image event without b64_json or partial_image_index"));
	if ((img = dalle_base64_decode(b64, len, &n)) == NULL)
		return why(s, DALLE_KIND_PROTOCOL, dalle_xstrdup("a partial "
		    "image that is not base64"));
	fmt = dalle_record_str(ev, "output_format");
	if (fmt == NULL || strcmp(fmt, "jpeg") == 0 || strcmp(fmt, "jpg") == 0)
		fmt = fmt ? "jpg" : "png";
	else if (strcmp(fmt, "png") != 0 && strcmp(fmt, "webp") != 0)
		fmt = "bin";
	/* Several images (n > 1) may each send a partial of an index: the
	 * second and later get -2, -3... rather than overwrite the first. */
	if (s->seen[idx]++ == 0)
		path = dalle_xasprintf("%s.partial%ld.%s", s->stem, idx, fmt);
	else
		path = dalle_xasprintf("%s.partial%ld-%d.%s", s->stem, idx,
		    s->seen[idx], fmt);
	msg = save(path, img, n);
	free(img);
	if (msg != NULL) {
		rc = why(s, DALLE_KIND_IO, dalle_xasprintf("%s: %s", path,
		    msg));
		free(path);
		return rc;
	}
	s->partials = jv_array_append(s->partials, jv_string(path));
	free(path);
	return 0;
}

/* A completed event: its image joins the body, its data is kept. */
static int
completed(struct dalle_stream *s, jv ev)
{
	static const char *const keys[] = {
		"usage", "size", "quality", "output_format", "background"
	};
	jv b = s->body, v;
	size_t i;

	if (jv_get_kind(b) != JV_KIND_OBJECT)
		b = JV_OBJECT(jv_string("created"), jv_null(),
		    jv_string("data"), jv_array());
	v = dalle_record_get(ev, "created_at");
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		b = jv_object_set(b, jv_string("created"), v);
	else
		jv_free(v);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = dalle_record_get(ev, keys[i]);
		if (jv_get_kind(v) != JV_KIND_NULL)
			b = jv_object_set(b, jv_string(keys[i]), v);
		else
			jv_free(v);
	}
	v = dalle_record_get(ev, "b64_json");
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		s->body = b;
		return why(s, DALLE_KIND_PROTOCOL, dalle_xstrdup("a completed "
		    "event without b64_json"));
	}
	v = jv_object_set(jv_object(), jv_string("b64_json"), v);
	b = jv_object_set(b, jv_string("data"), jv_array_append(
	    jv_object_get(jv_copy(b), jv_string("data")), v));
	s->body = b;
	return 0;
}

static int
on_event(void *arg, const char *event, struct dalle_buf *data)
{
	struct dalle_stream *s = arg;
	struct dalle_big tmp = { 0 };
	const char *type;
	int rc = 0;
	jv ev;

	/* An event is an answer: redacted as it arrives (loop.c's out). */
	dalle_secret_redact_buf(data);
	/* Parse partials with a table of their own, completed images with
	 * the record's: their data stays as long as the record. */
	ev = dalle_big_parse(&tmp, data->p, data->len);
	type = dalle_record_str(ev, "type");
	if (type == NULL)
		type = event;
	if (jv_get_kind(ev) != JV_KIND_OBJECT)
		rc = why(s, DALLE_KIND_PROTOCOL, dalle_xasprintf("event %.60s: "
		    "the data is not a JSON object", event));
	else if (ends(type, ".partial_image"))
		rc = partial(s, &tmp, ev);
	else if (ends(type, ".completed")) {
		jv_free(ev);
		dalle_big_free(&tmp);
		s->keep = dalle_xrealloc(s->keep, (s->nkeep + 1) *
		    sizeof(*s->keep));
		s->keep[s->nkeep] = *data;
		memset(data, 0, sizeof(*data));
		data = &s->keep[s->nkeep++];
		ev = dalle_big_parse(s->big, data->p, data->len);
		rc = completed(s, ev);
	} else if (strcmp(type, "error") == 0) {
		jv_free(s->error);
		s->error = dalle_record_get(ev, "error");
		if (jv_get_kind(s->error) != JV_KIND_OBJECT) {
			jv_free(s->error);
			s->error = jv_copy(ev);
		}
		s->error = dalle_big_unlift(&tmp, s->error);
		rc = -1;
	}
	jv_free(ev);
	dalle_big_free(&tmp);
	return rc;
}

int
dalle_stream_feed(struct dalle_stream *s, int attempt, const char *p,
    size_t n)
{
	if (attempt != s->attempt)
		start(s, attempt);
	if (dalle_sse_feed(&s->sse, p, n) == -1) {
		if (s->why == NULL && jv_get_kind(s->error) == JV_KIND_NULL)
			why(s, DALLE_KIND_PROTOCOL, dalle_xstrdup("an event "
			    "larger than 64 MiB"));
		return -1;
	}
	return 0;
}

int
dalle_stream_error(const struct dalle_stream *s, const char *stage,
    long status, int attempts, jv *err)
{
	const char *code, *type, *msg, *kind;

	if (s->why != NULL) {
		*err = dalle_record_error(stage, s->why_kind, status, NULL,
		    s->why, 0, attempts);
		return 1;
	}
	if (jv_get_kind(s->error) != JV_KIND_OBJECT)
		return 0;
	code = dalle_record_str(s->error, "code");
	type = dalle_record_str(s->error, "type");
	msg = dalle_record_str(s->error, "message");
	if (code && (strcmp(code, "moderation_blocked") == 0 ||
	    strcmp(code, "content_policy_violation") == 0))
		kind = DALLE_KIND_CONTENT_FILTER;
	else if (type && strcmp(type, "invalid_request_error") == 0)
		kind = DALLE_KIND_INVALID;
	else if (code && strcmp(code, "rate_limit_exceeded") == 0)
		kind = DALLE_KIND_RATE;
	else
		kind = DALLE_KIND_SERVER;
	*err = dalle_record_error(stage, kind, status, code,
	    msg ? msg : "an error event in the stream", 0, attempts);
	return 1;
}

jv
dalle_stream_body(const struct dalle_stream *s)
{
	if (jv_get_kind(s->body) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_copy(s->body);
}

int
dalle_stream_answer(const struct dalle_stream *s, int n, struct dalle_buf *b)
{
	jv data;
	int got;

	if (jv_get_kind(s->body) != JV_KIND_OBJECT)
		return -1;
	data = jv_object_get(jv_copy(s->body), jv_string("data"));
	got = jv_get_kind(data) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(data)) : 0;
	jv_free(data);
	if (got < n)
		return -1;
	dalle_json_put_big(b, s->body, s->big);
	return 0;
}

jv
dalle_stream_record(const struct dalle_stream *s, jv rec)
{
	if (jv_array_length(jv_copy(s->partials)) == 0)
		return rec;
	return jv_object_set(rec, jv_string("partials"),
	    jv_copy(s->partials));
}
