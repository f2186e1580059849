/*
 * name.c: the file names of a record's images from a template, shared by
 * dalle-fetch, which writes them, and dalle-submit, which looks for them
 * before it pays for a request.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dalle.h"

/* A value from a record made safe as one path component. */
static void
add_component(struct dalle_buf *b, const char *s)
{
	size_t start = b->len;

	for (; *s; s++)
		dalle_buf_add(b, *s == '/' || (unsigned char)*s < 32 ? "_" : s,
		    1);
	if (b->len == start)
		dalle_buf_adds(b, "_");
	else if (b->p[start] == '.')
		b->p[start] = '_';      /* no "..", no hidden files */
}

static char *
field_text(const struct dalle_big *big, jv rec, const char *key)
{
	jv v = dalle_big_unlift(big, dalle_record_get(rec, key));
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(
	    jv_copy(v)) > 0)
		s = dalle_xstrdup(jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		s = dalle_xasprintf("%.17g", jv_number_value(v));
	jv_free(v);
	return s;
}

/* A field of the record's object o ("request", "operation"). */
static char *
sub_text(struct dalle_name *nm, const char *o, const char *key)
{
	jv v = dalle_record_get(nm->rec, o);
	char *s = field_text(nm->big, v, key);

	jv_free(v);
	return s;
}

/*
 * {id}: the operation id, else a hash of this generation's images as the
 * record holds them, each one's whole URL or base64 data (two identical
 * requests draw two pictures, so the request hash would not tell them
 * apart).  {hash}: the request's hash, else that same hash.  NULL when
 * predicting and the images are still to come.
 */
static char *
record_id(struct dalle_name *nm, int want_hash)
{
	char *s = sub_text(nm, want_hash ? "request" : "operation",
	    want_hash ? "hash" : "id");
	const char *v;
	uint64_t h = 0;
	size_t len;
	int i, n;
	jv d, it;

	if (s != NULL && want_hash)
		nm->by_request = 1;
	if (s != NULL)
		return s;
	if (nm->predict)
		return NULL;
	if (nm->datahash != NULL)
		return dalle_xstrdup(nm->datahash);
	d = dalle_record_get(nm->rec, "data");
	n = jv_get_kind(d) == JV_KIND_ARRAY ? jv_array_length(jv_copy(d)) : 0;
	for (i = 0; i < n; i++) {
		it = jv_array_get(jv_copy(d), i);
		/* A URL as ever; megabytes of base64 a word at a time. */
		if ((v = dalle_big_str(nm->big, it, "url", &len)) != NULL)
			h = dalle_hash(v, len, h);
		else if ((v = dalle_big_str(nm->big, it, "b64_json", &len)) !=
		    NULL)
			h = dalle_hash_words(v, len, h);
		jv_free(it);
	}
	jv_free(d);
	nm->datahash = dalle_xasprintf("%012llx", (unsigned long long)(h &
	    0xffffffffffffULL));
	return dalle_xstrdup(nm->datahash);
}

/* {name}: the record's "name", else the request's journal key (a name
 * that the request alone decides), else {id}. */
static char *
name_of(struct dalle_name *nm)
{
	char *v = field_text(nm->big, nm->rec, "name");

	if (v == NULL && (v = sub_text(nm, "request", "key")) != NULL)
		nm->by_request = 1;
	return v != NULL ? v : record_id(nm, 0);
}

char *
dalle_name_path(struct dalle_name *nm, int index, int multi, const char *ext,
    char **why)
{
	const char *t = nm->tmpl ? nm->tmpl : "{name}.{ext}", *p, *e;
	struct dalle_buf b = { 0 };
	char key[64], num[16], *v, *slash, *dot;
	size_t at;

	*why = NULL;
	if (strcmp(nm->dir, ".") != 0 && t[0] != '/') {
		dalle_buf_adds(&b, nm->dir);
		if (b.p[b.len - 1] != '/')
			dalle_buf_adds(&b, "/");
	}
	for (p = t; *p; p++) {
		if (*p != '{' || (e = strchr(p, '}')) == NULL ||
		    (size_t)(e - p - 1) >= sizeof(key)) {
			dalle_buf_add(&b, p, 1);
			continue;
		}
		memcpy(key, p + 1, (size_t)(e - p - 1));
		key[e - p - 1] = '\0';
		if (strcmp(key, "i") == 0)
			v = dalle_xasprintf("%d", index);
		else if (strcmp(key, "ext") == 0)
			v = dalle_xstrdup(ext);
		else if (strcmp(key, "id") == 0)
			v = record_id(nm, 0);
		else if (strcmp(key, "hash") == 0)
			v = record_id(nm, 1);
		else if (strcmp(key, "name") == 0)
			v = name_of(nm);
		else if ((v = field_text(nm->big, nm->rec, key)) == NULL)
			*why = dalle_xasprintf("-o: the record has no \"%s\" "
			    "for {%s}", key, key);
		if (v == NULL) {
			dalle_buf_free(&b);
			return NULL;
		}
		add_component(&b, v);
		free(v);
		p = e;
	}
	if (multi && strstr(t, "{i}") == NULL) {
		slash = strrchr(b.p, '/');
		dot = strrchr(slash ? slash + 1 : b.p, '.');
		if (dot == NULL || dot == (slash ? slash + 1 : b.p))
			at = b.len;
		else
			at = (size_t)(dot - b.p);
		snprintf(num, sizeof(num), "-%d", index);
		dalle_buf_add(&b, num, strlen(num));    /* make room */
		memmove(b.p + at + strlen(num), b.p + at,
		    b.len - strlen(num) - at);
		memcpy(b.p + at, num, strlen(num));
	}
	return b.p;
}

void
dalle_name_free(struct dalle_name *nm)
{
	free(nm->datahash);
	nm->datahash = NULL;
}

const char *
dalle_name_ext(const char *format)
{
	return strcmp(format, "jpeg") == 0 ? "jpg" : format;
}

const char *
dalle_name_guess_ext(jv rec, const char *url)
{
	const char *f = dalle_record_str(rec, "output_format"), *q, *e = NULL;
	struct dalle_url u;

	if (url && dalle_url_parse(url, &u) == 0) {
		if ((q = strrchr(u.last, '.')) != NULL) {
			q++;
			if (strncasecmp(q, "jpg", 3) == 0 ||
			    strncasecmp(q, "jpeg", 4) == 0)
				e = "jpg";
			else if (strncasecmp(q, "webp", 4) == 0)
				e = "webp";
			else if (strncasecmp(q, "png", 3) == 0)
				e = "png";
		}
		dalle_url_free(&u);
		if (e != NULL)
			return e;
	}
	if (f && (strcmp(f, "jpeg") == 0 || strcmp(f, "jpg") == 0))
		return "jpg";
	if (f && strcmp(f, "webp") == 0)
		return "webp";
	return "png";
}

jv
dalle_name_entry(const char *path, int index, const void *head, size_t n,
    long long bytes, int existing)
{
	const char *fmt;
	int w, h;
	jv f;

	fmt = dalle_image_probe(head, n, &w, &h);
	f = jv_object_set(jv_object(), jv_string("path"), jv_string(path));
	f = jv_object_set(f, jv_string("index"), jv_number(index));
	f = jv_object_set(f, jv_string("format"),
	    fmt ? jv_string(fmt) : jv_null());
	f = jv_object_set(f, jv_string("width"), jv_number(w));
	f = jv_object_set(f, jv_string("height"), jv_number(h));
	f = jv_object_set(f, jv_string("bytes"), jv_number((double)bytes));
	if (existing)
		f = jv_object_set(f, jv_string("existing"), jv_true());
	return f;
}

jv
dalle_name_existing(const char *path, int index)
{
	unsigned char head[65536];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return jv_invalid();
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return jv_null();       /* taken, by something no image */
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	return dalle_name_entry(path, index, head, n > 0 ? (size_t)n : 0,
	    (long long)st.st_size, 1);
}

char *
dalle_name_dir(const char *dir, const char *tmpl)
{
	struct dalle_buf b = { 0 };
	const char *p, *slash = NULL;

	if (tmpl == NULL || tmpl[0] != '/')
		dalle_buf_adds(&b, dir);
	if (tmpl != NULL && strcmp(tmpl, "-") != 0) {
		/* The template's directories before its first field. */
		for (p = tmpl; *p && *p != '{'; p++)
			if (*p == '/')
				slash = p;
		if (slash != NULL) {
			if (b.len > 0)
				dalle_buf_adds(&b, "/");
			dalle_buf_add(&b, tmpl, slash == tmpl ? 1 :
			    (size_t)(slash - tmpl));
		}
	}
	dalle_buf_adds(&b, "");
	return b.p;
}
