/*
 * form.c: multipart/form-data bodies as a list of parts, made into a
 * curl_mime for each attempt of a transfer.
 */
#include <stdlib.h>
#include <string.h>

#include "dalle.h"

struct dalle_form *
dalle_form_new(void)
{
	return dalle_xcalloc(1, sizeof(struct dalle_form));
}

void
dalle_form_free(struct dalle_form *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
		free(f->v[i].path);
		free(f->v[i].filename);
	}
	free(f->v);
	free(f);
}

static struct dalle_form_part *
part_new(struct dalle_form *f, const char *name)
{
	struct dalle_form_part *p;

	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = dalle_xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	p = &f->v[f->n++];
	memset(p, 0, sizeof(*p));
	p->name = dalle_xstrdup(name);
	return p;
}

void
dalle_form_add(struct dalle_form *f, const char *name, const char *value)
{
	part_new(f, name)->value = dalle_xstrdup(value);
}

void
dalle_form_add_file(struct dalle_form *f, const char *name,
    const char *path, const char *type, long long size, const char *sha256)
{
	struct dalle_form_part *p = part_new(f, name);
	const char *base = strrchr(path, '/');

	p->path = dalle_xstrdup(path);
	p->filename = dalle_xstrdup(base && base[1] ? base + 1 : path);
	p->type = type;
	p->size = size;
	snprintf(p->sha256, sizeof(p->sha256), "%s", sha256);
}

curl_mime *
dalle_form_mime(const struct dalle_form *f, CURL *e)
{
	const struct dalle_form_part *p;
	curl_mimepart *mp;
	curl_mime *m;
	CURLcode rc;
	size_t i;

	if ((m = curl_mime_init(e)) == NULL)
		return NULL;
	for (i = 0; i < f->n; i++) {
		p = &f->v[i];
		if ((mp = curl_mime_addpart(m)) == NULL)
			goto fail;
		rc = curl_mime_name(mp, p->name);
		if (rc == CURLE_OK && p->path) {
			/* Streamed from the file as curl sends it. */
			rc = curl_mime_filedata(mp, p->path);
			/* A file gone since it was read fails the transfer,
			 * as a read error, not the program. */
			if (rc == CURLE_READ_ERROR)
				rc = CURLE_OK;
			if (rc == CURLE_OK)
				rc = curl_mime_filename(mp, p->filename);
			if (rc == CURLE_OK)
				rc = curl_mime_type(mp, p->type);
		} else if (rc == CURLE_OK)
			rc = curl_mime_data(mp, p->value,
			    CURL_ZERO_TERMINATED);
		if (rc != CURLE_OK)
			goto fail;
	}
	return m;
fail:
	curl_mime_free(m);
	return NULL;
}

jv
dalle_form_file_json(jv o, const char *path, const char *sha256,
    const char *type, long long size)
{
	o = jv_object_set(o, jv_string("path"), jv_string(path));
	o = jv_object_set(o, jv_string("sha256"), jv_string(sha256));
	o = jv_object_set(o, jv_string("type"), jv_string(type));
	return jv_object_set(o, jv_string("bytes"), jv_number((double)size));
}

jv
dalle_form_describe(const struct dalle_form *f)
{
	const struct dalle_form_part *p;
	jv parts = jv_array(), o;
	size_t i;

	for (i = 0; i < f->n; i++) {
		p = &f->v[i];
		o = jv_object_set(jv_object(), jv_string("name"),
		    jv_string(p->name));
		if (p->path == NULL) {
			parts = jv_array_append(parts, jv_object_set(o,
			    jv_string("value"), jv_string(p->value)));
			continue;
		}
		o = jv_object_set(o, jv_string("filename"),
		    jv_string(p->filename));
		parts = jv_array_append(parts, dalle_form_file_json(o, p->path,
		    p->sha256, p->type, p->size));
	}
	return jv_object_set(jv_object(), jv_string("parts"), parts);
}
