/*
 * name.h: the file names of a record's images, from a template such as
 * dalle-fetch's -o, which dalle-submit expands too to see whether a
 * request's images are already on disk before it pays for them.
 */
#ifndef DALLE_NAME_H
#define DALLE_NAME_H

#include <stddef.h>

#include <jv.h>

#include "big.h"

/* The names of one record's images.  Zero it, set the fields, and call
 * dalle_name_free when done; rec may be replaced between calls. */
struct dalle_name {
	jv rec;                       /* borrowed */
	const struct dalle_big *big;  /* rec's big strings, or NULL */
	const char *dir;              /* -d, or "." */
	const char *tmpl;             /* -o, or NULL: "{name}.{ext}" */
	int predict;                  /* before the answer: no image hash */
	char *datahash;               /* the images' hash, once computed */
	int by_request;               /* set: {hash} or {name} gave the
					 request's hash or key */
};

/*
 * The path of image index (of several when multi) with extension ext:
 * {name} {i} {id} {hash} {ext}, and {FIELD} for any other field of the
 * record (see dalle-fetch(1)).  Returns a malloc'd path, or NULL and sets
 * *why (malloc'd) when the record lacks a field the template names; with
 * predict, NULL and *why NULL when the name depends on the answer.
 */
char *dalle_name_path(struct dalle_name *nm, int index, int multi,
    const char *ext, char **why);
void dalle_name_free(struct dalle_name *nm);
/* The extension of an image format ("jpeg" is "jpg"). */
const char *dalle_name_ext(const char *format);
/* The extension the record's URL (or NULL) or output_format promises;
 * borrows rec. */
const char *dalle_name_guess_ext(jv rec, const char *url);
/* The "files" entry of an image at path, its first n bytes at head. */
jv dalle_name_entry(const char *path, int index, const void *head, size_t n,
    long long bytes, int existing);
/* An existing file's entry (with "existing" true), jv_invalid() if there
 * is none, or jv_null() if something other than a regular file is
 * there. */
jv dalle_name_existing(const char *path, int index);
/* The directory that -d and -o name before any field: where a default
 * journal lives.  malloc'd. */
char *dalle_name_dir(const char *dir, const char *tmpl);

#endif
