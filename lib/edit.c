/*
 * edit.c: the input images of an edit.  Each file is read once before any
 * request: its type from its bytes, its size and pixel size from its
 * header, its sha256 (libcrypto) over all of it.  Sent, it is streamed
 * from disk (multipart) or read again into a data URL (JSON).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dalle.h"

#define PROBE_BYTES (256 * 1024)  /* enough for any header we read */

static int
is_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static const char *
mime_type(const char *fmt)
{
	if (fmt == NULL)
		return NULL;
	if (strcmp(fmt, "png") == 0)
		return "image/png";
	if (strcmp(fmt, "jpeg") == 0)
		return "image/jpeg";
	if (strcmp(fmt, "webp") == 0)
		return "image/webp";
	return NULL;                  /* GIF and the rest: not an input */
}

/* Read fd to its end into the digest, the first bytes into probe. */
static int
digest(int fd, unsigned char *probe, size_t *nprobe, char hex[65])
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned mdlen, i;
	EVP_MD_CTX *ctx;
	ssize_t r;
	int rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	*nprobe = 0;
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto out;
		if (r == 0)
			break;
		if (*nprobe < PROBE_BYTES) {
			size_t k = PROBE_BYTES - *nprobe;

			if (k > (size_t)r)
				k = (size_t)r;
			memcpy(probe + *nprobe, buf, k);
			*nprobe += k;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)r) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		goto out;
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
dalle_edit_read(struct dalle_input *in, const char *role, const char *src,
    char *why, size_t n)
{
	long long max = strcmp(role, "mask") == 0 ? DALLE_EDIT_MAX_MASK :
	    DALLE_EDIT_MAX_BYTES;
	unsigned char *probe = NULL;
	const char *fmt;
	struct stat sb;
	size_t got;
	int fd, rc = -1;

	memset(in, 0, sizeof(*in));
	in->role = role;
	if (is_url(src)) {
		in->url = dalle_xstrdup(src);
		return 0;
	}
	in->path = dalle_xstrdup(src);
	if ((fd = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, n, "%s %s: %s", role, src, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(why, n, "%s %s: not a regular file", role, src);
		goto out;
	}
	/* Refused by its size before a byte is read. */
	if ((long long)sb.st_size >= max) {
		snprintf(why, n, "%s %s: %lld bytes: a%s must be under %lld "
		    "MB", role, src, (long long)sb.st_size,
		    strcmp(role, "mask") == 0 ? " mask" : "n image",
		    max >> 20);
		goto out;
	}
	probe = dalle_xmalloc(PROBE_BYTES);
	if (digest(fd, probe, &got, in->sha256) == -1) {
		snprintf(why, n, "%s %s: %s", role, src, strerror(errno));
		goto out;
	}
	in->size = (long long)sb.st_size;
	fmt = dalle_image_probe(probe, got, &in->w, &in->h);
	if ((in->type = mime_type(fmt)) == NULL) {
		snprintf(why, n, "%s %s: not a PNG, JPEG or WebP image", role,
		    src);
		goto out;
	}
	if (in->w <= 0 || in->h <= 0) {
		snprintf(why, n, "%s %s: no pixel size in its header", role,
		    src);
		goto out;
	}
	rc = 0;
out:
	free(probe);
	close(fd);
	return rc;
}

static void
input_free(struct dalle_input *in)
{
	free(in->path);
	free(in->url);
	in->path = in->url = NULL;
}

void
dalle_edit_free(struct dalle_edit *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		input_free(&e->in[i]);
	e->n = 0;
	e->mask = 0;
}

static int
gather_fail(struct dalle_edit *e, jv *err, const char *why)
{
	*err = dalle_record_errorf("submit", DALLE_KIND_INPUT, "%s", why);
	dalle_edit_free(e);
	return -1;
}

/* Read one more input into e: 0, or -1 with why. */
static int
add(struct dalle_edit *e, const char *role, const char *src, char *why,
    size_t n)
{
	if (e->n >= DALLE_EDIT_MAX_IMAGES) {
		snprintf(why, n, "more than %d images", DALLE_EDIT_MAX_IMAGES);
		return -1;
	}
	if (dalle_edit_read(&e->in[e->n], role, src, why, n) == -1) {
		input_free(&e->in[e->n]);
		return -1;
	}
	e->n++;
	return 0;
}

int
dalle_edit_gather(struct dalle_edit *e, jv rec, char *const *images,
    size_t nimages, const char *mask, jv *err)
{
	const struct dalle_input *first, *m;
	char why[512];
	int len, i, bad = 0;
	jv v, s;

	memset(e, 0, sizeof(*e));
	v = dalle_record_get(rec, "image");
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		for (i = 0; !bad && (size_t)i < nimages; i++)
			bad = add(e, "image", images[i], why, sizeof(why));
		break;
	case JV_KIND_STRING:
		bad = add(e, "image", jv_string_value(v), why, sizeof(why));
		break;
	case JV_KIND_ARRAY:
		len = jv_array_length(jv_copy(v));
		if (len == 0 || len > DALLE_EDIT_MAX_IMAGES) {
			snprintf(why, sizeof(why), "\"image\" holds %d paths: "
			    "1 to %d", len, DALLE_EDIT_MAX_IMAGES);
			bad = -1;
		}
		for (i = 0; !bad && i < len; i++) {
			s = jv_array_get(jv_copy(v), i);
			if (jv_get_kind(s) != JV_KIND_STRING) {
				snprintf(why, sizeof(why), "\"image\" holds "
				    "something other than a path or URL");
				bad = -1;
			} else
				bad = add(e, "image", jv_string_value(s), why,
				    sizeof(why));
			jv_free(s);
		}
		break;
	default:
		snprintf(why, sizeof(why), "\"image\" is neither a path, a "
		    "URL nor an array of them");
		bad = -1;
		break;
	}
	jv_free(v);
	if (bad)
		return gather_fail(e, err, why);

	v = dalle_record_get(rec, "mask");
	if (jv_get_kind(v) == JV_KIND_STRING)
		mask = jv_string_value(v);
	else if (jv_get_kind(v) != JV_KIND_NULL) {
		jv_free(v);
		return gather_fail(e, err, "\"mask\" is not a path or URL");
	}
	if (mask != NULL && e->n == 0) {
		jv_free(v);
		return gather_fail(e, err, "a mask without an image to edit");
	}
	if (mask != NULL) {
		if (add(e, "mask", mask, why, sizeof(why)) == -1) {
			jv_free(v);
			return gather_fail(e, err, why);
		}
		e->mask = 1;
	}
	jv_free(v);
	if (!e->mask || e->in[e->n - 1].path == NULL || e->in[0].path == NULL)
		return 0;
	/* The mask marks pixels of the first image: a PNG of its size. */
	first = &e->in[0];
	m = &e->in[e->n - 1];
	if (strcmp(m->type, "image/png") != 0) {
		snprintf(why, sizeof(why), "mask %s: not a PNG (a mask must "
		    "be a PNG with transparency)", m->path);
		return gather_fail(e, err, why);
	}
	if (m->w != first->w || m->h != first->h) {
		snprintf(why, sizeof(why), "mask %s: %dx%d, but the image %s "
		    "is %dx%d: a mask must be the first image's size",
		    m->path, m->w, m->h, first->path, first->w, first->h);
		return gather_fail(e, err, why);
	}
	return 0;
}

jv
dalle_edit_inputs(const struct dalle_edit *e)
{
	const struct dalle_input *in;
	jv a = jv_array(), o;
	size_t i;

	for (i = 0; i < e->n; i++) {
		in = &e->in[i];
		o = jv_object_set(jv_object(), jv_string("role"),
		    jv_string(in->role));
		if (in->url) {
			a = jv_array_append(a, jv_object_set(o,
			    jv_string("url"), jv_string(in->url)));
			continue;
		}
		o = dalle_form_file_json(o, in->path, in->sha256, in->type,
		    in->size);
		o = jv_object_set(o, jv_string("width"), jv_number(in->w));
		o = jv_object_set(o, jv_string("height"), jv_number(in->h));
		a = jv_array_append(a, o);
	}
	return a;
}

uint64_t
dalle_edit_hash(const struct dalle_edit *e, uint64_t seed)
{
	const struct dalle_input *in;
	const char *s;
	size_t i;

	for (i = 0; i < e->n; i++) {
		in = &e->in[i];
		s = in->url ? in->url : in->sha256;
		seed = dalle_hash(in->role, strlen(in->role) + 1, seed);
		seed = dalle_hash(s, strlen(s) + 1, seed);
	}
	return seed;
}

static int
gpt_model(const char *model)
{
	return model != NULL && (strncmp(model, "gpt-image", 9) == 0 ||
	    strncmp(model, "chatgpt-image", 13) == 0);
}

int
dalle_edit_json_form(enum dalle_api api, const char *model)
{
	/* OpenAI takes JSON from the GPT image models; dall-e-2 and Azure
	 * take forms. */
	return api == DALLE_API_OPENAI && gpt_model(model);
}

static int
check_fail(jv *err, const char *kind, const char *param, const char *fmt,
    const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	*err = dalle_record_error("submit", kind, 0, NULL, msg, 0, 0);
	if (param)
		*err = jv_object_set(*err, jv_string("param"),
		    jv_string(param));
	return -1;
}

int
dalle_edit_check(const struct dalle_edit *e, enum dalle_api api,
    const char *model, int json, jv rec, jv *body, jv *err)
{
	const struct dalle_model *m = model ? dalle_model_find(model) : NULL;
	size_t i, nimg = e->n - (size_t)e->mask;
	jv v;

	if (api == DALLE_API_AZURE_ASYNC)
		return check_fail(err, DALLE_KIND_CONFIG, NULL, "the "
		    "asynchronous DALL-E 2 API does not edit images: name a "
		    "deployment%s", "");
	if (m && m->family == DALLE_FAMILY_DALLE3)
		return check_fail(err, DALLE_KIND_INVALID, "model", "%s does "
		    "not edit images: use gpt-image-2 or later", m->name);
	for (i = 0; i < e->n; i++) {
		if (e->in[i].url && !json)
			return check_fail(err, DALLE_KIND_INPUT, e->in[i].role,
			    "%s: this route takes image files in a multipart "
			    "form, not URLs: download it first",
			    e->in[i].url);
		if (e->in[i].type && strcmp(e->in[i].type, "image/webp") == 0 &&
		    (api == DALLE_API_AZURE || api == DALLE_API_AZURE_V1))
			return check_fail(err, DALLE_KIND_INPUT, "image", "%s: "
			    "Azure takes PNG or JPEG images, not WebP",
			    e->in[i].path);
	}
	if (m && m->family == DALLE_FAMILY_DALLE2) {
		if (nimg != 1)
			return check_fail(err, DALLE_KIND_INVALID, "image",
			    "dall-e-2 edits one image%s", "");
		if (e->in[0].path && (strcmp(e->in[0].type, "image/png") != 0 ||
		    e->in[0].w != e->in[0].h ||
		    e->in[0].size >= DALLE_EDIT_MAX_MASK))
			return check_fail(err, DALLE_KIND_INVALID, "image",
			    "%s: dall-e-2 edits a square PNG under 4 MB",
			    e->in[0].path);
	}
	v = dalle_record_get(rec, "input_fidelity");
	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (model && strncmp(model, "gpt-image-2", 11) == 0) {
		jv_free(v);
		return check_fail(err, DALLE_KIND_INVALID, "input_fidelity",
		    "%s does not take input_fidelity: leave it out", model);
	}
	*body = jv_object_set(*body, jv_string("input_fidelity"), v);
	return 0;
}

/* The data URL of in, or what it would hold (describe). */
static jv
data_url(const struct dalle_input *in, int describe, jv *err)
{
	struct dalle_buf b = { 0 };
	char buf[65536], *enc;
	size_t n;
	FILE *fp;
	jv s;

	if (in->url)
		return jv_string(in->url);
	if (describe)
		return jv_string_fmt("data:%s;base64,[%lld bytes of %s, sha256 "
		    "%s]", in->type, in->size, in->path, in->sha256);
	if ((fp = fopen(in->path, "rb")) == NULL) {
		*err = dalle_record_errorf("submit", DALLE_KIND_INPUT,
		    "%s %s: %s", in->role, in->path, strerror(errno));
		return jv_invalid();
	}
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		dalle_buf_add(&b, buf, n);
	if (ferror(fp)) {
		*err = dalle_record_errorf("submit", DALLE_KIND_INPUT,
		    "%s %s: read error", in->role, in->path);
		fclose(fp);
		dalle_buf_free(&b);
		return jv_invalid();
	}
	fclose(fp);
	enc = dalle_base64_encode(b.p ? b.p : "", b.len, NULL);
	dalle_buf_free(&b);
	s = jv_string_fmt("data:%s;base64,%s", in->type, enc);
	free(enc);
	return s;
}

jv
dalle_edit_json(jv body, const struct dalle_edit *e, int describe, jv *err)
{
	jv images = jv_array(), u;
	size_t i;

	for (i = 0; i < e->n; i++) {
		u = data_url(&e->in[i], describe, err);
		if (!jv_is_valid(u)) {
			jv_free(images);
			jv_free(body);
			return u;
		}
		u = jv_object_set(jv_object(), jv_string("image_url"), u);
		if (e->mask && i + 1 == e->n)
			body = jv_object_set(body, jv_string("mask"), u);
		else
			images = jv_array_append(images, u);
	}
	return jv_object_set(body, jv_string("images"), images);
}

struct dalle_form *
dalle_edit_form(jv body, const struct dalle_edit *e)
{
	struct dalle_form *f = dalle_form_new();
	const struct dalle_input *in;
	size_t i, nimg = e->n - (size_t)e->mask;
	jv keys, k, v;
	int j, nk;

	/* Fields in the order of their names: the same form every time. */
	keys = jv_keys(jv_copy(body));
	nk = jv_array_length(jv_copy(keys));
	for (j = 0; j < nk; j++) {
		k = jv_array_get(jv_copy(keys), j);
		v = jv_object_get(jv_copy(body), jv_copy(k));
		if (jv_get_kind(v) == JV_KIND_STRING)
			dalle_form_add(f, jv_string_value(k),
			    jv_string_value(v));
		else if (jv_get_kind(v) != JV_KIND_NULL) {
			jv t = jv_dump_string(jv_copy(v), 0);

			dalle_form_add(f, jv_string_value(k),
			    jv_string_value(t));
			jv_free(t);
		}
		jv_free(v);
		jv_free(k);
	}
	jv_free(keys);
	for (i = 0; i < e->n; i++) {
		in = &e->in[i];
		dalle_form_add_file(f, strcmp(in->role, "mask") == 0 ? "mask" :
		    nimg > 1 ? "image[]" : "image", in->path, in->type,
		    in->size, in->sha256);
	}
	return f;
}
