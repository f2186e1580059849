/*
 * input.c: checks on input before it costs anything: operands that are
 * file names, and request fields of the wrong JSON type, which would
 * otherwise be ignored (a "deployment" of 5 sent to the default one).
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "big.h"
#include "input.h"
#include "record.h"
#include "util.h"

/* s looks like a file's name: one word ending in an extension that
 * prompt lists are kept in (a mistyped "promts.txt" is billed as art). */
static int
file_like(const char *s)
{
	static const char *const ext[] = {
		".txt", ".jsonl", ".json", ".csv", ".tsv", ".md", ".prompts",
		NULL
	};
	size_t n = strlen(s), k;
	int i;

	if (strpbrk(s, " \t\n") != NULL)
		return 0;
	for (i = 0; ext[i] != NULL; i++)
		if (n > (k = strlen(ext[i])) &&
		    strcasecmp(s + n - k, ext[i]) == 0)
			return 1;
	return 0;
}

void
dalle_input_operands(const char *prog, int argc, char *argv[],
    const char *file)
{
	struct stat st;
	int i, fd;

	if (file != NULL && argc > 0)
		errx(DALLE_EX_USAGE, "-f %s: prompts come from the file or "
		    "from operands, not both", file);
	if (file != NULL && strcmp(file, "-") != 0) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			err(DALLE_EX_NOINPUT, "%s", file);
		if (fd != STDIN_FILENO) {
			if (dup2(fd, STDIN_FILENO) == -1)
				err(DALLE_EX_OSERR, "dup2");
			close(fd);
		}
	}
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0 && argc > 1)
			errx(DALLE_EX_USAGE, "-: stdin cannot be read beside "
			    "other operands");
		if (strcmp(prog, "dalle-submit") == 0 && stat(argv[i],
		    &st) == -1 && file_like(argv[i]))
			errx(DALLE_EX_USAGE, "%s: no such file, and as a "
			    "prompt it would draw its name: a prompt that "
			    "is a file name goes on standard input", argv[i]);
		if (strcmp(argv[i], "-") == 0 || stat(argv[i], &st) == -1)
			continue;
		if (strcmp(prog, "dalle-submit") == 0)
			errx(DALLE_EX_USAGE, "%s: names a file, and operands "
			    "are prompts: to read prompts from it, use "
			    "'< %s' or '-f %s'", argv[i], argv[i], argv[i]);
		errx(DALLE_EX_USAGE, "%s: names a file, and operands are "
		    "records, URLs or ids: to read records from it, use "
		    "'< %s'", argv[i], argv[i]);
	}
}

/* The fields that choose where a request goes, and the JSON kind each
 * must have: one of another kind, or an empty deployment or model, must
 * not send it to the default deployment or model, nor to ".../deployments
 * //images".  The request's own fields (n, size ...) are the
 * model's rules' to judge, worded as the service words them. */
static const struct {
	const char *field;
	jv_kind kind;
} types[] = {
	{ "prompt", JV_KIND_STRING },
	{ "deployment", JV_KIND_STRING },
	{ "model", JV_KIND_STRING },
};

char *
dalle_input_types(jv rec)
{
	size_t i;
	jv_kind k;
	jv v;
	int empty;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		v = dalle_record_get(rec, types[i].field);
		k = jv_get_kind(v);
		empty = k == JV_KIND_STRING && strcmp(types[i].field,
		    "prompt") != 0 && jv_string_length_bytes(jv_copy(v)) == 0;
		jv_free(v);
		if (empty)
			return dalle_xasprintf("\"%s\" is an empty string",
			    types[i].field);
		if (k != JV_KIND_NULL && k != types[i].kind)
			return dalle_xasprintf("\"%s\" is %s %s, not %s",
			    types[i].field, k == JV_KIND_ARRAY ||
			    k == JV_KIND_OBJECT ? "an" : "a", jv_kind_name(k),
			    types[i].kind == JV_KIND_STRING ? "a string" :
			    "a number");
	}
	return NULL;
}

/* The offset of the first byte that is not well-formed UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF), or -1. */
static long
utf8_bad(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	unsigned char c;
	uint64_t w;

	while (i < n) {
		/* ASCII a word at a time: most of a record is. */
		if (n - i >= 8) {
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				i += 8;
				continue;
			}
		}
		c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		else
			return (long)i;
		if (n - i <= need)
			return (long)i;
		for (k = 1; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return (long)i;
		if ((c == 0xe0 && s[i + 1] < 0xa0) ||
		    (c == 0xed && s[i + 1] > 0x9f) ||
		    (c == 0xf0 && s[i + 1] < 0x90) ||
		    (c == 0xf4 && s[i + 1] > 0x8f))
			return (long)i;
		i += need + 1;
	}
	return -1;
}

/* Where a walk over a JSON text is: its depth, and whether in a string. */
struct walk {
	size_t keys;
	int depth, str, esc;
};

/* The keys of a JSON object's top level as written, counted over the n
 * bytes at s: each is followed by the only ':' at depth 1 outside
 * strings. */
static void
top_keys(struct walk *w, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (w->esc) {
			w->esc = 0;
			continue;
		}
		if (w->str) {
			if (s[i] == '\\')
				w->esc = 1;
			else if (s[i] == '"')
				w->str = 0;
			continue;
		}
		switch (s[i]) {
		case '"':
			w->str = 1;
			break;
		case '{':
		case '[':
			w->depth++;
			break;
		case '}':
		case ']':
			w->depth--;
			break;
		case ':':
			w->keys += w->depth == 1;
			break;
		}
	}
}

char *
dalle_input_record(const struct dalle_big *big, const char *s, size_t n,
    jv rec)
{
	struct walk w = { 0 };
	const char *at = s, *e = s + n, *to;
	size_t k = 0;
	long bad;

	/*
	 * The text between the big strings: those were found plain
	 * printable ASCII when lifted (big.c), inside a string, so they are
	 * UTF-8 and hold no key.  A record of an image is megabytes of them
	 * and a few hundred bytes of the rest.
	 */
	while (at < e) {
		to = e;
		while (big != NULL && k < big->n && (big->v[k].p < at ||
		    big->v[k].p >= e))
			k++;
		if (big != NULL && k < big->n)
			to = big->v[k].p;
		if ((bad = utf8_bad((const unsigned char *)at,
		    (size_t)(to - at))) != -1)
			return dalle_xasprintf("not UTF-8 text: byte %ld of "
			    "the line is 0x%02x", (long)(at - s) + bad + 1,
			    (unsigned char)at[bad]);
		top_keys(&w, at, (size_t)(to - at));
		if (to == e)
			break;
		at = to + big->v[k].n;
		k++;
	}
	if (jv_get_kind(rec) == JV_KIND_OBJECT &&
	    w.keys != (size_t)jv_object_length(jv_copy(rec)))
		return dalle_xstrdup("a key appears twice in the object: "
		    "which one counts would be a guess");
	return NULL;
}

char *
dalle_input_text(const struct dalle_big *big, const char *s, size_t n,
    jv rec)
{
	const char *p;
	size_t len;
	char *why;

	if ((why = dalle_input_record(big, s, n, rec)) != NULL ||
	    jv_get_kind(rec) != JV_KIND_OBJECT)
		return why;
	if ((p = dalle_record_strn(rec, "prompt", &len)) != NULL &&
	    memchr(p, '\0', len) != NULL)
		return dalle_xstrdup("the prompt holds a NUL character "
		    "(\\u0000)");
	return NULL;
}
