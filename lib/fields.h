/* fields.h: the JSON types of the record fields a stage reads. */
#ifndef DALLE_FIELDS_H
#define DALLE_FIELDS_H

#include <jq.h>

/* A field a stage reads: its path (keys joined by '.') and the kind it
 * must have when present and not null. */
struct dalle_field {
	const char *path;
	jv_kind kind;
};

/*
 * The first field of spec (ended by a NULL path) that rec holds with
 * another JSON type, as a malloc'd sentence ("\"operation.url\" is a
 * number, not a string"), or NULL when every one is absent, null or of
 * its kind.  A field below one of another type is not looked at.
 */
char *dalle_fields_check(jv rec, const struct dalle_field *spec);
/* "a string", "an object", ...: the JSON kind k in a sentence. */
const char *dalle_fields_noun(jv_kind k);

#endif
