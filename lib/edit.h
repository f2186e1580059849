/*
 * edit.h: the input images of an edit (/images/edits): read and checked
 * before any request, described in the record, and sent in either of the
 * two encodings, a multipart form or a JSON body (which a Batch line
 * uses too).  For the filters.
 */
#ifndef DALLE_EDIT_H
#define DALLE_EDIT_H

#include <stdint.h>

#include <jv.h>

#include "api.h"
#include "form.h"

#define DALLE_EDIT_MAX_IMAGES 16
#define DALLE_EDIT_MAX_BYTES (50LL << 20)   /* an image: under 50 MB */
#define DALLE_EDIT_MAX_MASK (4LL << 20)     /* the mask: under 4 MB */

struct dalle_input {
	const char *role;         /* "image" or "mask" */
	char *path;               /* the file read, or NULL */
	char *url;                /* or an http(s) URL, not read */
	const char *type;         /* "image/png", "image/jpeg", "image/webp" */
	long long size;           /* bytes, when read */
	int w, h;                 /* pixels, when read */
	char sha256[65];          /* hex, when read; else "" */
};

/* The inputs of one request: images, then the mask if there is one. */
struct dalle_edit {
	struct dalle_input in[DALLE_EDIT_MAX_IMAGES + 1];
	size_t n;
	int mask;                 /* in[n - 1] is the mask */
};

/* Read the file (or take the URL) src as an input of role "image" or
 * "mask": its type by its bytes, its size, pixel size and sha256.  0, or
 * -1 with a message in why (n bytes). */
int dalle_edit_read(struct dalle_input *in, const char *role,
    const char *src, char *why, size_t n);
/*
 * The inputs of record rec (borrowed): its "image" (a path or URL, or an
 * array of them) and "mask" fields, each else the options' images
 * (nimages of them) and mask (or NULL).  e->n is 0 when there are none
 * (a generation).  0, or -1 with *err an error object of kind input.
 */
int dalle_edit_gather(struct dalle_edit *e, jv rec, char *const *images,
    size_t nimages, const char *mask, jv *err);
void dalle_edit_free(struct dalle_edit *e);
/* The record's "inputs" array: role, path or url, and what was read. */
jv dalle_edit_inputs(const struct dalle_edit *e);
/* A hash of the inputs (their sha256 or URL), chained with seed. */
uint64_t dalle_edit_hash(const struct dalle_edit *e, uint64_t seed);
/* 1 when the edit goes as a JSON body (OpenAI, GPT image models), 0 when
 * as a multipart form. */
int dalle_edit_json_form(enum dalle_api api, const char *model);
/*
 * The rules of an edit on api for model (NULL: unknown), before any
 * request: which models edit, how many images of which types, URLs only
 * in the JSON form, input_fidelity (copied from rec, borrowed, into
 * *body) not on the gpt-image-2 family.  0, or -1 with *err.
 */
int dalle_edit_check(const struct dalle_edit *e, enum dalle_api api,
    const char *model, int json, jv rec, jv *body, jv *err);
/* The JSON edit body: body (consumed) with "images" and "mask" as
 * {"image_url": data URL or URL}.  describe: the data URLs say what
 * they would hold instead (--dry-run).  Invalid, with *err, when a file
 * cannot be read again. */
jv dalle_edit_json(jv body, const struct dalle_edit *e, int describe,
    jv *err);
/* The multipart form of body (borrowed) and the inputs. */
struct dalle_form *dalle_edit_form(jv body, const struct dalle_edit *e);

#endif
