/*
 * edit.c: /images/edits on the three synchronous routes, as a multipart
 * form (libmicrohttpd's post processor, parts kept as they arrive) or as
 * OpenAI's JSON body (images as data URLs).  The answer is made from the
 * inputs: inside the mask's transparent pixels the prompt's landscape,
 * elsewhere the first image; without a mask the image blended with it;
 * several images tiled first.  The same inputs and prompt give the same
 * bytes.  Checks, faults, quotas and the answer's shape are generate.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "image.h"
#include "serve.h"

#define EDIT_MAX_BODY ((uint64_t)64 << 20) /* a whole edit request */
#define EDIT_MAX_FILE ((size_t)50 << 20)   /* one image, as the service */
#define EDIT_MAX_MASK ((size_t)4 << 20)
#define FILE_MAX ((size_t)200 << 20)       /* a batch's input file */
#define EDIT_MAX_IMAGES 16
#define EDIT_MAX_EDGE 8192                 /* pixels we decode */

struct part {
	char *name, *filename, *type;
	struct dalle_buf data;
};

/* An edit's body as it arrives. */
struct edit_in {
	int multipart;
	struct MHD_PostProcessor *pp;
	struct part *v;
	size_t n, cap;
	uint64_t bytes;           /* received */
	int bad;                  /* the form could not be read */
	size_t max_file;          /* bytes of one part */
};

struct pic {
	unsigned char *px;        /* RGBA rows */
	int w, h;
};

/* The decoded inputs of one edit. */
struct edit_src {
	struct pic in[EDIT_MAX_IMAGES];
	int nin;
	struct pic mask;
	int auto_size;            /* no size asked: the first image's */
	char size[32];
	long tokens;
};

enum route
edit_route(const char *method, const char *url)
{
	size_t n;

	if (strcmp(method, "POST") != 0)
		return R_OTHER;
	if (strncmp(url, "/openai/deployments/", 20) == 0) {
		n = strcspn(url + 20, "/");
		if (n > 0 && strcmp(url + 20 + n, "/images/edits") == 0)
			return R_AZURE;
	}
	if (strcmp(url, "/openai/v1/images/edits") == 0)
		return R_AZURE_V1;
	if (strcmp(url, "/v1/images/edits") == 0)
		return R_OPENAI;
	return R_OTHER;
}

const char *
edit_route_name(enum route r)
{
	switch (r) {
	case R_AZURE:
		return "azure_edit";
	case R_AZURE_V1:
		return "azure_v1_edit";
	default:
		return "openai_edit";
	}
}

/* The post processor's iterator: each part's bytes, in order. */
static enum MHD_Result
on_part(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *filename, const char *ctype, const char *enc,
    const char *data, uint64_t off, size_t size)
{
	struct edit_in *ed = cls;
	struct part *p;

	(void)kind;
	(void)enc;
	if (off == 0 || ed->n == 0) {
		if (ed->n == 2 * EDIT_MAX_IMAGES + 64) {
			ed->bad = 1;
			return MHD_NO;
		}
		if (ed->n == ed->cap) {
			ed->cap = ed->cap ? ed->cap * 2 : 16;
			ed->v = dalle_xrealloc(ed->v, ed->cap * sizeof(*ed->v));
		}
		p = &ed->v[ed->n++];
		memset(p, 0, sizeof(*p));
		p->name = dalle_xstrdup(key ? key : "");
		p->filename = filename ? dalle_xstrdup(filename) : NULL;
		p->type = ctype ? dalle_xstrdup(ctype) : NULL;
	}
	p = &ed->v[ed->n - 1];
	if (p->data.len + size > ed->max_file) {
		ed->bad = 1;
		return MHD_NO;
	}
	dalle_buf_add(&p->data, data, size);
	return MHD_YES;
}

int
edit_upload(struct req *rq, const char *p, size_t n)
{
	struct edit_in *ed = rq->ed;
	const char *ct;

	if (ed == NULL) {
		ed = rq->ed = dalle_xcalloc(1, sizeof(*ed));
		ed->max_file = rq->upload ? FILE_MAX : EDIT_MAX_FILE;
		ct = header(rq, "Content-Type");
		if (ct != NULL && strncasecmp(ct, "multipart/form-data", 19) ==
		    0) {
			ed->multipart = 1;
			ed->pp = MHD_create_post_processor(rq->conn, 65536,
			    on_part, ed);
			if (ed->pp == NULL)
				ed->bad = 1;
		}
	}
	ed->bytes += n;
	if (ed->bytes > EDIT_MAX_BODY + (rq->upload ? FILE_MAX : 0))
		return -1;
	if (!ed->multipart)
		dalle_buf_add(&rq->body, p, n);
	else if (!ed->bad && MHD_post_process(ed->pp, p, n) != MHD_YES)
		ed->bad = 1;
	return 0;
}

void
edit_free(struct req *rq)
{
	struct edit_in *ed = rq->ed;
	size_t i;

	if (ed == NULL)
		return;
	if (ed->pp != NULL)
		MHD_destroy_post_processor(ed->pp);
	for (i = 0; i < ed->n; i++) {
		free(ed->v[i].name);
		free(ed->v[i].filename);
		free(ed->v[i].type);
		dalle_buf_free(&ed->v[i].data);
	}
	free(ed->v);
	free(ed);
	rq->ed = NULL;
}

/* A data URL's bytes as the log shows them: how many, not what. */
static jv
log_url(jv o)
{
	const char *u = dalle_record_str(o, "image_url"), *comma;

	if (u == NULL || strncmp(u, "data:", 5) != 0 ||
	    (comma = strchr(u, ',')) == NULL)
		return o;
	return jv_object_set(o, jv_string("image_url"), jv_string_fmt(
	    "%.*s,[%zu base64 characters]", (int)(comma - u), u,
	    strlen(comma + 1)));
}

jv
edit_log(struct req *rq, jv rec)
{
	struct edit_in *ed = rq->ed;
	jv b, parts, fields, o;
	size_t i;
	int k, n;

	if (ed == NULL)
		return rec;
	rec = jv_object_set(rec, jv_string("body_bytes"),
	    jv_number((double)ed->bytes));
	if (!ed->multipart) {
		b = jv_parse_sized(rq->body.p ? rq->body.p : "",
		    (int)rq->body.len);
		if (jv_get_kind(b) != JV_KIND_OBJECT) {
			jv_free(b);
			return rec;
		}
		o = jv_object_get(jv_copy(b), jv_string("images"));
		n = jv_get_kind(o) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(o)) : 0;
		for (k = 0; k < n; k++)
			o = jv_array_set(o, k, log_url(jv_array_get(jv_copy(o),
			    k)));
		if (n > 0)
			b = jv_object_set(b, jv_string("images"), o);
		else
			jv_free(o);
		o = jv_object_get(jv_copy(b), jv_string("mask"));
		if (jv_get_kind(o) == JV_KIND_OBJECT)
			b = jv_object_set(b, jv_string("mask"), log_url(o));
		else
			jv_free(o);
		return jv_object_set(rec, jv_string("body"), b);
	}
	parts = jv_array();
	fields = jv_object();
	for (i = 0; i < ed->n; i++) {
		o = JV_OBJECT(jv_string("name"), jv_string(ed->v[i].name),
		    jv_string("bytes"), jv_number((double)ed->v[i].data.len));
		if (ed->v[i].filename != NULL)
			o = jv_object_set(o, jv_string("filename"),
			    jv_string(ed->v[i].filename));
		if (ed->v[i].type != NULL)
			o = jv_object_set(o, jv_string("type"),
			    jv_string(ed->v[i].type));
		parts = jv_array_append(parts, o);
		if (ed->v[i].filename == NULL && ed->v[i].data.len <= 4096)
			fields = jv_object_set(fields,
			    jv_string(ed->v[i].name), jv_string_sized(
			    ed->v[i].data.p ? ed->v[i].data.p : "",
			    (int)ed->v[i].data.len));
	}
	rec = jv_object_set(rec, jv_string("parts"), parts);
	return jv_object_set(rec, jv_string("body"), fields);
}

/* The form's text fields as a body, numbers where the API has them. */
static jv
form_body(const struct edit_in *ed)
{
	static const char *const numeric[] = {
		"n", "output_compression", "partial_images", NULL
	};
	const struct part *p;
	jv body = jv_object(), v;
	char *end;
	double d;
	size_t i;
	int k;

	for (i = 0; i < ed->n; i++) {
		p = &ed->v[i];
		if (p->filename != NULL || strcmp(p->name, "image") == 0 ||
		    strcmp(p->name, "image[]") == 0 ||
		    strcmp(p->name, "mask") == 0)
			continue;
		v = jv_string_sized(p->data.p ? p->data.p : "",
		    (int)p->data.len);
		for (k = 0; numeric[k] != NULL; k++)
			if (strcmp(p->name, numeric[k]) == 0 && p->data.p) {
				d = strtod(p->data.p, &end);
				if (*end == '\0' && end != p->data.p) {
					jv_free(v);
					v = jv_number(d);
				}
			}
		/* A form's booleans are words. */
		if (strcmp(p->name, "stream") == 0 && p->data.p &&
		    (strcmp(p->data.p, "true") == 0 ||
		    strcmp(p->data.p, "false") == 0)) {
			jv_free(v);
			v = jv_bool(p->data.p[0] == 't');
		}
		body = jv_object_set(body, jv_string(p->name), v);
	}
	return body;
}

/* The RGBA pixels of a PNG or JPEG of w x h (as its header says, checked
 * before a byte is decoded): 0, or -1. */
static int
decode_rgba(const unsigned char *p, size_t n, int w, int h, struct pic *out)
{
	unsigned char *img;
	size_t i, np;
	int ch;

	out->px = NULL;
	if (w < 1 || h < 1 || w > EDIT_MAX_EDGE || h > EDIT_MAX_EDGE ||
	    (img = paint_decode(p, n, &out->w, &out->h, &ch)) == NULL)
		return -1;
	if (ch == 4) {
		out->px = img;
		return 0;
	}
	np = (size_t)out->w * out->h;
	out->px = dalle_xmalloc(np * 4);
	for (i = 0; i < np; i++) {
		memcpy(out->px + i * 4, img + i * 3, 3);
		out->px[i * 4 + 3] = 255;
	}
	free(img);
	return 0;
}

/* *e as the service words a refusal: param, code and a printf message. */
#define REFUSE(e, p, c, ...) do { \
	(e)->param = (p); \
	(e)->code = (c); \
	snprintf((e)->message, sizeof((e)->message), __VA_ARGS__); \
} while (0)

/* Decode input k (0-based; the mask when mask) of n bytes: 0, or -1
 * with *e the service's 400. */
static int
decode(const unsigned char *p, size_t n, int k, int mask, struct pic *out,
    struct dalle_model_err *e)
{
	const char *param = mask ? "mask" : "image";
	int w, h;
	const char *fmt = dalle_image_probe(p, n, &w, &h);

	if (mask && (fmt == NULL || strcmp(fmt, "png") != 0)) {
		REFUSE(e, param, "invalid_image_format", "Invalid mask "
		    "image format: the mask must be a PNG image with an alpha "
		    "channel.");
		return -1;
	}
	if (n >= (mask ? EDIT_MAX_MASK : EDIT_MAX_FILE)) {
		REFUSE(e, param, "image_too_large", "Image too large: "
		    "%s must be under %d MB.", mask ? "the mask" : "each image",
		    mask ? 4 : 50);
		return -1;
	}
	if (fmt != NULL && strcmp(fmt, "webp") == 0) {
		REFUSE(e, param, "unsupported_image_format", "dalle-serve "
		    "does not decode WebP images: send PNG or JPEG.");
		return -1;
	}
	if (fmt == NULL || (strcmp(fmt, "png") != 0 &&
	    strcmp(fmt, "jpeg") != 0) || decode_rgba(p, n, w, h, out) == -1) {
		if (mask)
			REFUSE(e, param, "invalid_image", "Invalid mask "
			    "image file, please check your image file.");
		else
			REFUSE(e, param, "invalid_image", "Invalid image "
			    "file or mode for image %d, please check your image "
			    "file.", k + 1);
		return -1;
	}
	return 0;
}

static void
src_free(struct edit_src *src)
{
	int i;

	for (i = 0; i < src->nin; i++)
		free(src->in[i].px);
	free(src->mask.px);
}

/* Input tokens of a picture, in 512-pixel tiles as OpenAI counts them. */
static long
pic_tokens(const struct pic *p)
{
	return 65 + 129L * ((p->w + 511) / 512) * ((p->h + 511) / 512);
}

/* Add an input of n bytes to src: 0, or -1 with *e. */
static int
src_add(struct edit_src *src, const unsigned char *p, size_t n, int mask,
    struct dalle_model_err *e)
{
	struct pic *out = mask ? &src->mask : &src->in[src->nin];

	if (!mask && src->nin == EDIT_MAX_IMAGES) {
		REFUSE(e, "image", "invalid_value", "Too many images: at "
		    "most %d.", EDIT_MAX_IMAGES);
		return -1;
	}
	if (decode(p, n, src->nin, mask, out, e) == -1)
		return -1;
	if (!mask) {
		src->tokens += pic_tokens(out);
		src->nin++;
	}
	return 0;
}

/* A JSON image object's picture into src: 0, or -1 with *e. */
static int
src_add_json(struct edit_src *src, jv o, int mask, struct dalle_model_err *e)
{
	const char *param = mask ? "mask" : "images";
	const char *u = dalle_record_str(o, "image_url"), *comma;
	unsigned char *bytes;
	size_t n;
	int rc;

	if (u == NULL) {
		if (dalle_record_str(o, "file_id") != NULL)
			REFUSE(e, param, "invalid_value", "dalle-serve takes "
			    "no images by file_id: send the image as a data "
			    "URL.");
		else
			REFUSE(e, param, "invalid_type", "Invalid type for "
			    "'%s': expected an object with 'image_url' or "
			    "'file_id'.", param);
		return -1;
	}
	if (strncmp(u, "data:", 5) != 0 || (comma = strchr(u, ',')) == NULL ||
	    strstr(u, ";base64,") != comma - 7) {
		REFUSE(e, param, "invalid_image_url", "dalle-serve does not "
		    "download image URLs (it has no network): send the image "
		    "as a data URL (data:image/png;base64,...).");
		return -1;
	}
	bytes = dalle_base64_decode(comma + 1, strlen(comma + 1), &n);
	if (bytes == NULL) {
		REFUSE(e, param, "invalid_image_url", "Invalid base64 "
		    "image data in the data URL.");
		return -1;
	}
	rc = src_add(src, bytes, n, mask, e);
	free(bytes);
	return rc;
}

/* The inputs of a JSON body into src: 0, or -1 with *e. */
static int
src_json(struct edit_src *src, jv body, struct dalle_model_err *e)
{
	jv imgs = jv_object_get(jv_copy(body), jv_string("images")), o;
	int i, n, rc = 0;

	if (jv_get_kind(imgs) != JV_KIND_ARRAY ||
	    (n = jv_array_length(jv_copy(imgs))) == 0) {
		jv_free(imgs);
		REFUSE(e, "images", "missing_required_parameter", "Missing "
		    "required parameter: 'images'.");
		return -1;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		o = jv_array_get(jv_copy(imgs), i);
		rc = src_add_json(src, o, 0, e);
		jv_free(o);
	}
	jv_free(imgs);
	o = jv_object_get(jv_copy(body), jv_string("mask"));
	if (rc == 0 && jv_get_kind(o) == JV_KIND_OBJECT)
		rc = src_add_json(src, o, 1, e);
	jv_free(o);
	return rc;
}

/* The inputs of a form into src: 0, or -1 with *e. */
static int
src_form(struct edit_src *src, const struct edit_in *ed,
    struct dalle_model_err *e)
{
	const struct part *p;
	size_t i;

	for (i = 0; i < ed->n; i++) {
		p = &ed->v[i];
		if (strcmp(p->name, "image") != 0 &&
		    strcmp(p->name, "image[]") != 0)
			continue;
		if (src_add(src, (unsigned char *)p->data.p, p->data.len, 0,
		    e) == -1)
			return -1;
	}
	if (src->nin == 0) {
		REFUSE(e, "image", "missing_required_parameter", "Missing "
		    "required parameter: 'image'.");
		return -1;
	}
	for (i = 0; i < ed->n; i++)
		if (strcmp(ed->v[i].name, "mask") == 0)
			return src_add(src, (unsigned char *)ed->v[i].data.p,
			    ed->v[i].data.len, 1, e);
	return 0;
}

enum MHD_Result
edit_reply(struct req *rq, const char *deployment, enum flavour fl)
{
	const struct dalle_model *m = NULL;
	struct dalle_model_err e;
	enum MHD_Result ret;
	jv body;

	if (precheck(rq, deployment, fl, &m, &ret) || fault(rq, &ret) ||
	    quota_take(rq, query(rq, "api-version"), 1, &ret))
		return ret;
	if (rq->ed != NULL && rq->ed->multipart) {
		if (rq->ed->bad) {
			REFUSE(&e, NULL, "invalid_multipart", "The "
			    "multipart/form-data body could not be read.");
			return reply_invalid(rq, &e);
		}
		body = form_body(rq->ed);
	} else if (reply_parse_body(rq, &body, &ret))
		return ret;
	if (body_checked(rq, body, fl, &m, &ret))
		return ret;
	return edit_checked(rq, m, body, fl);
}

const struct dalle_buf *
edit_part(struct req *rq, const char *name, const char **filename)
{
	size_t i;

	if (rq->ed == NULL || !rq->ed->multipart || rq->ed->bad)
		return NULL;
	for (i = 0; i < rq->ed->n; i++)
		if (strcmp(rq->ed->v[i].name, name) == 0) {
			*filename = rq->ed->v[i].filename;
			return &rq->ed->v[i].data;
		}
	return NULL;
}

enum MHD_Result
edit_checked(struct req *rq, const struct dalle_model *m, jv body,
    enum flavour fl)
{
	struct dalle_model_err e;
	struct edit_src src;
	enum MHD_Result ret;
	const char *size;

	memset(&src, 0, sizeof(src));
	if (m->family == DALLE_FAMILY_DALLE3) {
		REFUSE(&e, "model", "invalid_value", "The model '%s' does "
		    "not support image edits.", m->name);
		goto refused;
	}
	if ((rq->ed != NULL && rq->ed->multipart ? src_form(&src, rq->ed,
	    &e) : src_json(&src, body, &e)) == -1)
		goto refused;
	if (src.mask.px != NULL && (src.mask.w != src.in[0].w ||
	    src.mask.h != src.in[0].h)) {
		REFUSE(&e, "mask", "invalid_image_dimensions", "Invalid mask "
		    "image: the mask is %dx%d but the image is %dx%d. The mask "
		    "must have the same dimensions as the first image.",
		    src.mask.w, src.mask.h, src.in[0].w, src.in[0].h);
		goto refused;
	}
	size = str_or(body, "size", "auto");
	src.auto_size = strcmp(size, "auto") == 0;
	stats_add(&st.edits, 1);
	ret = generate(rq, m, body, fl, &src);
	src_free(&src);
	return ret;
refused:
	src_free(&src);
	jv_free(body);
	return reply_invalid(rq, &e);
}

void
edit_ask(struct edit_src *src, struct ask *a)
{
	a->rf = "b64_json";
	a->in_image_tokens = src->tokens;
	if (src->auto_size) {
		a->w = src->in[0].w;
		a->h = src->in[0].h;
		snprintf(src->size, sizeof(src->size), "%dx%d", a->w, a->h);
		a->size = src->size;
	}
}

/* The pixel of p nearest to (x, y) of a w by h picture. */
static const unsigned char *
at(const struct pic *p, int x, int y, int w, int h)
{
	return p->px + ((size_t)((long)y * p->h / h) * p->w +
	    (size_t)((long)x * p->w / w)) * 4;
}

/* The inputs as one RGBA picture of w by h: the first image, or all of
 * them in tiles, each scaled to its tile. */
static unsigned char *
compose(const struct edit_src *src, int w, int h)
{
	unsigned char *out = dalle_xmalloc((size_t)w * h * 4);
	int cols, rows, x, y, k, tx, ty, tw, th;

	cols = (int)ceil(sqrt((double)src->nin));
	rows = (src->nin + cols - 1) / cols;
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++) {
			tx = x * cols / w;
			ty = y * rows / h;
			k = ty * cols + tx;
			if (k >= src->nin) {
				memset(out + ((size_t)y * w + x) * 4, 0, 4);
				continue;
			}
			tw = w / cols > 0 ? w / cols : 1;
			th = h / rows > 0 ? h / rows : 1;
			memcpy(out + ((size_t)y * w + x) * 4,
			    at(&src->in[k], (x - tx * tw) % tw,
			    (y - ty * th) % th, tw, th), 4);
		}
	return out;
}

struct cent *
edit_render(struct edit_src *src, const struct ask *a, int idx)
{
	unsigned char *base, *scene, *img, *o;
	const unsigned char *b, *s, *mk;
	struct cent *c;
	char *variant;
	size_t len, i;
	int x, y, ch, painted, k, jpeg;

	if (a->w < 1 || a->h < 1 || a->w > EDIT_MAX_EDGE ||
	    a->h > EDIT_MAX_EDGE || src->nin == 0)
		return NULL;
	jpeg = strcmp(a->fmt, "png") != 0;
	ch = a->transparent && !jpeg ? 4 : 3;
	variant = idx == 0 ? dalle_xstrdup(a->prompt) :
	    dalle_xasprintf("%s\n#%d", a->prompt, idx);
	scene = paint_pixels(variant, a->w, a->h);
	free(variant);
	if (scene == NULL)
		return NULL;
	base = compose(src, a->w, a->h);
	img = dalle_xmalloc((size_t)a->w * a->h * ch);
	for (y = 0; y < a->h; y++)
		for (x = 0; x < a->w; x++) {
			i = (size_t)y * a->w + x;
			b = base + i * 4;
			s = scene + i * 3;
			o = img + i * ch;
			painted = 0;
			if (src->mask.px != NULL) {
				/* Transparent in the mask: repaint here. */
				mk = at(&src->mask, x, y, a->w, a->h);
				painted = mk[3] < 128;
				for (k = 0; k < 3; k++)
					o[k] = painted ? s[k] : b[k];
			} else
				for (k = 0; k < 3; k++)
					o[k] = (unsigned char)((b[k] * 3 +
					    s[k] * 2) / 5);
			if (ch == 4)
				o[3] = painted ? 255 : b[3];
		}
	free(base);
	free(scene);
	/* Of real size under --image-bytes, as generations are. */
	o = paint_encode_sized(img, a->w, a->h, ch, a->fmt, a->comp,
	    opt.image_bytes, dalle_hash(a->prompt, strlen(a->prompt),
	    0x6a41 + (uint64_t)idx), &len);
	free(img);
	if (o == NULL)
		return NULL;
	/* Not in the cache: dead already, freed by its one release. */
	c = dalle_xcalloc(1, sizeof(*c));
	c->data = o;
	c->len = len;
	c->refs = 1;
	c->dead = 1;
	return c;
}
