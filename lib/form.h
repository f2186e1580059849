/*
 * form.h: a multipart/form-data body described part by part, so that a
 * transfer can build it afresh for every attempt (files streamed from
 * disk, never read into memory) and --dry-run can show it without the
 * files' bytes.  For the filters (a curl type in dalle_form_mime).
 */
#ifndef DALLE_FORM_H
#define DALLE_FORM_H

#include <curl/curl.h>
#include <jv.h>

struct dalle_form_part {
	char *name;               /* the form field: "prompt", "image[]" */
	char *value;              /* a text field's value, or NULL */
	char *path;               /* a file part's file, or NULL */
	char *filename;           /* the file name sent (path's last part) */
	const char *type;         /* the file's Content-Type */
	long long size;           /* the file's bytes */
	char sha256[65];          /* the file's digest, hex */
};

struct dalle_form {
	struct dalle_form_part *v;
	size_t n, cap;
};

/* A new, empty form (dies on OOM). */
struct dalle_form *dalle_form_new(void);
void dalle_form_free(struct dalle_form *f);
/* A text field (both copied). */
void dalle_form_add(struct dalle_form *f, const char *name,
    const char *value);
/* A file field (copied) of type (static), size and sha256 as read. */
void dalle_form_add_file(struct dalle_form *f, const char *name,
    const char *path, const char *type, long long size,
    const char *sha256);
/* The curl_mime of f for easy handle e, its files read while sent; NULL
 * on failure.  The caller frees it with curl_mime_free after the
 * transfer. */
curl_mime *dalle_form_mime(const struct dalle_form *f, CURL *e);
/* o (consumed) with a file's "path", "sha256", "type" and "bytes". */
jv dalle_form_file_json(jv o, const char *path, const char *sha256,
    const char *type, long long size);
/* What --dry-run shows: {"parts": [{"name", "value"} or {"name",
 * "filename", "path", "sha256", "type", "bytes"}]}; never file bytes. */
jv dalle_form_describe(const struct dalle_form *f);

#endif
