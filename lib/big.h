/*
 * big.h: the big strings of a record, kept out of jv.  A record of a
 * real image is megabytes of base64 in one string and a few hundred bytes
 * of everything else; jq's parser would copy that string a byte at a time,
 * and its printer again.  dalle_big_parse lifts every long string of plain
 * printable ASCII out of the text before jv sees it and leaves a short
 * placeholder string in its place, naming a span of the original bytes.
 * A placeholder is written back as those bytes, which are exactly what jq
 * would print for the string.  No curl.
 */
#ifndef DALLE_BIG_H
#define DALLE_BIG_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

#include "util.h"

/* Strings shorter than this stay in jv: prompts, URLs, messages.  Every
 * lifted string must be read with dalle_big_str. */
#define DALLE_BIG_MIN 65536

struct dalle_span {
	const char *p;
	size_t n;
};

/*
 * The big strings of one record: spans of the bytes they were parsed
 * from, which must outlive every use of the record's placeholders, or of
 * memory the table owns once dalle_big_keep copied them.  A zeroed struct
 * is an empty table.
 */
struct dalle_big {
	struct dalle_span *v;
	size_t n, cap;
	uint64_t id;              /* names this table in its placeholders */
	char *own;                /* the bytes, once kept */
};

/* Parse the n bytes at s as one JSON value, as jv_parse_sized would,
 * adding its big strings to big (spans of s).  Returns an owned jv,
 * invalid with jq's message when the text is no JSON. */
jv dalle_big_parse(struct dalle_big *big, const char *s, size_t n);
/* The span of string v (borrowed) if v is a placeholder of big, else
 * NULL. */
const struct dalle_span *dalle_big_span(const struct dalle_big *big,
    const char *s, size_t n);
/* obj[key] as bytes, lifted or not: NULL when absent or no string.
 * Borrows obj; the bytes live as long as obj and big. */
const char *dalle_big_str(const struct dalle_big *big, jv obj,
    const char *key, size_t *len);
/* v (consumed) with every placeholder of big in it, however deep, made
 * the string it stands for: for the fields a program reads as text. */
jv dalle_big_unlift(const struct dalle_big *big, jv v);
/* The same for the fields keys (NULL-terminated) of object obj. */
jv dalle_big_unlift_fields(const struct dalle_big *big, jv obj,
    const char *const keys[]);
/* Copy the bytes of the spans whose placeholders rec (borrowed) still
 * holds into memory of the table's own, so that the text they came from
 * may go; the others are forgotten. */
void dalle_big_keep(struct dalle_big *big, jv rec);
void dalle_big_free(struct dalle_big *big);

#endif
