/*
 * provenance.c: what made an image, spliced into the image as it came:
 * PNG iTXt chunks before IEND (libpng writes them, CRC and all), a JPEG
 * COM segment after SOI and the APPn segments.  The compressed image data
 * is never decoded nor re-encoded: the pixels stay the very pixels, and a
 * 2.6 MB PNG costs a rewrite of its last 12 bytes.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <png.h>

#include "dalle.h"

/* The record fields that shaped an image, as "parameters". */
static const char *const param_keys[] = {
	"size", "quality", "style", "background", "output_format",
	"output_compression", "n", "moderation", "input_fidelity",
	"response_format", "complexity", "partial_images", NULL
};

static const unsigned char png_sig[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};
static const unsigned char png_iend[12] = {
	0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82
};

static jv
set_str(jv o, const char *key, const char *s)
{
	if (s == NULL || *s == '\0')
		return o;
	return jv_object_set(o, jv_string(key), jv_string(s));
}

/* The deployment named in an Azure request URL, or NULL (malloc'd). */
static char *
url_deployment(const char *url)
{
	const char *p, *e;

	if (url == NULL || (p = strstr(url, "/deployments/")) == NULL)
		return NULL;
	p += strlen("/deployments/");
	for (e = p; *e && *e != '/' && *e != '?'; e++)
		;
	return e > p ? strndup(p, (size_t)(e - p)) : NULL;
}

jv
dalle_provenance_fields(jv rec, int index)
{
	jv f = jv_object(), v, req, op, item, params, ins, in;
	const char *model, *api;
	char when[32], *dep;
	const char *const *k;
	struct tm tm;
	time_t t;
	int i, n;

	req = dalle_record_get(rec, "request");
	op = dalle_record_get(rec, "operation");
	v = dalle_record_get(rec, "data");
	item = jv_get_kind(v) == JV_KIND_ARRAY &&
	    index < jv_array_length(jv_copy(v)) ?
	    jv_array_get(v, index) : (jv_free(v), jv_null());
	f = set_str(f, "prompt", dalle_record_str(rec, "prompt"));
	f = set_str(f, "revised_prompt", dalle_record_str(item,
	    "revised_prompt"));
	/* The model asked for: the record's, or on OpenAI the one -m named
	 * (on Azure that is the deployment, below). */
	model = dalle_record_str(rec, "model");
	api = dalle_record_str(req, "api");
	if (model == NULL && api != NULL && strcmp(api, "openai") == 0)
		model = dalle_record_str(req, "model");
	f = set_str(f, "model", model);
	dep = dalle_record_str(rec, "deployment") ? NULL :
	    url_deployment(dalle_record_str(req, "url"));
	f = set_str(f, "deployment", dep ? dep :
	    dalle_record_str(rec, "deployment"));
	free(dep);
	f = set_str(f, "provider", dalle_record_str(req, "api"));
	/* Which request it answers: dalle-submit -d/-o skips only its own. */
	f = set_str(f, "request_hash", dalle_record_str(req, "hash"));
	/* The operation's id, else the service's for the request. */
	f = set_str(f, "id", dalle_record_str(op, "id") ?
	    dalle_record_str(op, "id") : dalle_record_str(rec, "id") ?
	    dalle_record_str(rec, "id") : dalle_record_str(req, "id"));
	v = dalle_record_get(rec, "created");
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		t = (time_t)jv_number_value(v);
		if (gmtime_r(&t, &tm) != NULL &&
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
			f = set_str(f, "created", when);
	}
	jv_free(v);
	params = jv_object();
	for (k = param_keys; *k != NULL; k++) {
		v = dalle_record_get(rec, *k);
		if (jv_get_kind(v) == JV_KIND_STRING ||
		    jv_get_kind(v) == JV_KIND_NUMBER)
			params = jv_object_set(params, jv_string(*k), v);
		else
			jv_free(v);
	}
	if (jv_object_length(jv_copy(params)) > 0)
		f = jv_object_set(f, jv_string("parameters"), params);
	else
		jv_free(params);
	ins = dalle_record_get(rec, "inputs");
	n = jv_get_kind(ins) == JV_KIND_ARRAY ? jv_array_length(jv_copy(ins)) :
	    0;
	v = jv_array();
	for (i = 0; i < n; i++) {
		in = jv_array_get(jv_copy(ins), i);
		if (dalle_record_str(in, "sha256") != NULL)
			v = jv_array_append(v, jv_string(dalle_record_str(in,
			    "sha256")));
		jv_free(in);
	}
	jv_free(ins);
	if (jv_array_length(jv_copy(v)) > 0)
		f = jv_object_set(f, jv_string("input_sha256"), v);
	else
		jv_free(v);
	f = set_str(f, "software", dalle_version_software());
	jv_free(item);
	jv_free(op);
	jv_free(req);
	return f;
}

/*
 * PNG: libpng writes each chunk (length, type, data, CRC) to a stream in
 * memory; no image goes through it.
 */
static void
png_fail(png_structp png, png_const_charp msg)
{
	(void)msg;
	png_longjmp(png, 1);
}

static void
png_quiet(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* One iTXt chunk, uncompressed, no language: keyword, 0, 0, 0, "", 0,
 * "", 0, then the text, its NULs (which iTXt cannot hold) left out. */
static void
itxt(png_structp png, struct dalle_buf *tmp, const char *key, jv text)
{
	const char *s = jv_string_value(text);
	int i, n = jv_string_length_bytes(jv_copy(text));

	dalle_buf_reset(tmp);
	dalle_buf_add(tmp, key, strlen(key));
	dalle_buf_add(tmp, "\0\0\0\0\0", 5);
	for (i = 0; i < n; i++)
		if (s[i] != '\0')
			dalle_buf_add(tmp, s + i, 1);
	png_write_chunk(png, (png_const_bytep)"iTXt", (png_const_bytep)tmp->p,
	    tmp->len);
	jv_free(text);
}

/* The iTXt chunks of fields appended to out; 0, or -1. */
static int
png_chunks(jv fields, struct dalle_buf *out)
{
	struct dalle_buf tmp = { NULL, 0, 0 };
	png_structp png;
	char *mem = NULL;
	size_t len = 0;
	FILE *fp;
	jv keys, key, v;
	int i, j, n;
	volatile int rc = -1;

	if ((fp = open_memstream(&mem, &len)) == NULL)
		return -1;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail,
	    png_quiet);
	keys = jv_keys_unsorted(jv_copy(fields));
	if (png == NULL || setjmp(png_jmpbuf(png)))
		goto out;
	png_init_io(png, fp);
	n = jv_array_length(jv_copy(keys));
	for (i = 0; i < n; i++) {
		key = jv_array_get(jv_copy(keys), i);
		v = jv_object_get(jv_copy(fields), jv_copy(key));
		if (jv_get_kind(v) == JV_KIND_ARRAY) {
			for (j = 0; j < jv_array_length(jv_copy(v)); j++)
				itxt(png, &tmp, jv_string_value(key),
				    jv_array_get(jv_copy(v), j));
			jv_free(v);
		} else if (jv_get_kind(v) == JV_KIND_STRING)
			itxt(png, &tmp, jv_string_value(key), v);
		else
			itxt(png, &tmp, jv_string_value(key),
			    jv_dump_string(v, 0));
		jv_free(key);
	}
	rc = 0;
out:
	jv_free(keys);
	dalle_buf_free(&tmp);
	if (png != NULL)
		png_destroy_write_struct(&png, NULL);
	if (fclose(fp) == EOF)
		rc = -1;
	if (rc == 0)
		dalle_buf_add(out, mem, len);
	free(mem);
	return rc;
}

/* JPEG: the fields' JSON in COM segments of at most 65533 bytes each
 * (a reader joins them in order) into out. */
static void
jpeg_com(jv fields, struct dalle_buf *out)
{
	jv s = jv_dump_string(jv_copy(fields), 0);
	const char *p = jv_string_value(s);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s)), k;
	unsigned char h[4];

	while (n > 0) {
		k = n > 65533 ? 65533 : n;
		/* Each segment whole UTF-8: not cut inside a character. */
		while (k < n && k > 0 && ((unsigned char)p[k] & 0xc0) == 0x80)
			k--;
		h[0] = 0xff;
		h[1] = 0xfe;
		h[2] = (unsigned char)((k + 2) >> 8);
		h[3] = (unsigned char)((k + 2) & 0xff);
		dalle_buf_add(out, h, 4);
		dalle_buf_add(out, p, k);
		p += k;
		n -= k;
	}
	jv_free(s);
}

/* Where a JPEG's segments go: after SOI and its APPn segments (JFIF and
 * Exif stay first); 0 when p is no JPEG or ends inside them. */
static size_t
jpeg_at(const unsigned char *p, size_t n)
{
	size_t off = 2;

	if (n < 4 || p[0] != 0xff || p[1] != 0xd8 || p[n - 2] != 0xff ||
	    p[n - 1] != 0xd9)
		return 0;
	while (off + 4 <= n && p[off] == 0xff && p[off + 1] >= 0xe0 &&
	    p[off + 1] <= 0xef)
		off += 2 + ((size_t)p[off + 2] << 8 | p[off + 3]);
	return off + 2 <= n ? off : 0;
}

/* The bytes to insert into the image p[0..n) and where; -1: none. */
static int
insertion(const unsigned char *p, size_t n, jv fields, struct dalle_buf *b,
    size_t *at)
{
	if (n >= 8 + 12 && memcmp(p, png_sig, 8) == 0 &&
	    memcmp(p + n - 12, png_iend, 12) == 0) {
		*at = n - 12;
		return png_chunks(fields, b);
	}
	if ((*at = jpeg_at(p, n)) == 0)
		return -1;
	jpeg_com(fields, b);
	return 0;
}

int
dalle_provenance_splice(const unsigned char *p, size_t n, jv fields,
    unsigned char **out, size_t *outn)
{
	struct dalle_buf b = { NULL, 0, 0 };
	size_t at;

	if (insertion(p, n, fields, &b, &at) == -1) {
		dalle_buf_free(&b);
		return -1;
	}
	*outn = n + b.len;
	*out = dalle_xmalloc(*outn);
	memcpy(*out, p, at);
	memcpy(*out + at, b.p, b.len);
	memcpy(*out + at + b.len, p + at, n - at);
	dalle_buf_free(&b);
	return 0;
}

unsigned char *
dalle_provenance_into(unsigned char *p, size_t *n, jv rec, int index)
{
	jv fields = dalle_provenance_fields(rec, index);
	unsigned char *out;
	size_t outn;

	if (dalle_provenance_splice(p, *n, fields, &out, &outn) == 0) {
		free(p);
		p = out;
		*n = outn;
	}
	jv_free(fields);
	return p;
}

static int
pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	ssize_t k;

	while (n > 0) {
		k = pwrite(fd, p, n, off);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1)
			return -1;
		p = (const char *)p + k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

int
dalle_provenance_file(int fd, jv fields)
{
	struct dalle_buf b = { NULL, 0, 0 };
	unsigned char tail[20];
	const unsigned char *p;
	struct stat st;
	size_t n, at;
	int rc = 1;

	if (fstat(fd, &st) == -1)
		return -1;
	n = (size_t)st.st_size;
	if (n < 20)
		return 1;
	/* A PNG is read at its ends alone. */
	if (pread(fd, tail, 8, 0) == 8 && memcmp(tail, png_sig, 8) == 0) {
		if (pread(fd, tail, 12, (off_t)(n - 12)) != 12 ||
		    memcmp(tail, png_iend, 12) != 0 ||
		    png_chunks(fields, &b) == -1)
			goto out;
		dalle_buf_add(&b, png_iend, 12);
		rc = pwrite_all(fd, b.p, b.len, (off_t)(n - 12));
		goto out;
	}
	p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	if ((at = jpeg_at(p, n)) != 0) {
		jpeg_com(fields, &b);
		dalle_buf_add(&b, p + at, n - at);
		rc = pwrite_all(fd, b.p, b.len, (off_t)at);
	}
	munmap((void *)p, n);
out:
	dalle_buf_free(&b);
	return rc;
}

int
dalle_provenance_differs(const char *path, const unsigned char *p, size_t n)
{
	const unsigned char *f;
	struct stat st;
	size_t m, at;
	int fd, differ = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return 0;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	m = (size_t)st.st_size;
	f = m > 0 ? mmap(NULL, m, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (f == MAP_FAILED)
		return 1;
	if (m == n)
		differ = n > 0 && memcmp(f, p, n) != 0;
	else if (m > n) {
		/* The image as it came, with something in the one place. */
		if (n >= 20 && memcmp(p, png_sig, 8) == 0)
			at = n - 12;
		else
			at = jpeg_at(p, n);
		differ = at == 0 || memcmp(f, p, at) != 0 ||
		    memcmp(f + m - (n - at), p + at, n - at) != 0;
	}
	if (m > 0)
		munmap((void *)f, m);
	return differ;
}

int
dalle_provenance_sidecar(const char *path, jv fields, jv file)
{
	struct dalle_buf b = { NULL, 0, 0 };
	char *name, *tmp;
	int fd, rc = -1, e;
	jv o;

	name = dalle_xasprintf("%s.json", path);
	if ((fd = dalle_temp_open(name, &tmp)) == -1) {
		free(name);
		return -1;
	}
	o = jv_object_set(jv_copy(fields), jv_string("file"), jv_copy(file));
	dalle_json_put(&b, o);
	jv_free(o);
	dalle_buf_add(&b, "\n", 1);
	if (pwrite_all(fd, b.p, b.len, 0) == 0 && fchmod(fd, 0644) == 0 &&
	    fsync(fd) == 0 && rename(tmp, name) == 0)
		rc = 0;
	e = errno;
	if (rc == -1)
		unlink(tmp);
	close(fd);
	dalle_temp_done(tmp);
	dalle_buf_free(&b);
	free(name);
	errno = e;
	return rc;
}
