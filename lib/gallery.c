/*
 * gallery.c: final records as one HTML page.  The page is written as the
 * records come and keeps nothing of them: the failures' table goes to a
 * temporary file and follows the cards at the end, with the totals.  The
 * page loads no script, font or style from anywhere: its one style sheet
 * is allowed by its sha256 in the Content-Security-Policy, so no style a
 * record might smuggle in would apply either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "base64.h"
#include "gallery.h"
#include "image.h"
#include "record.h"
#include "util.h"

struct dalle_gallery {
	FILE *out;
	FILE *fail;               /* the failures' table's rows so far */
	char *base;               /* with its trailing '/' */
	int inline_images;
	long records, cards, images, failed, notes;
	double usd;               /* the sum of every "cost.usd" */
	long priced, estimated;
};

static const char style[] =
    "body{font:15px/1.4 system-ui,sans-serif;margin:1em 2em;"
    "color:#222;background:#fafafa}"
    "h1{font-size:1.4em}"
    "main{display:grid;grid-template-columns:repeat(auto-fill,"
    "minmax(260px,1fr));gap:1em;align-items:start}"
    "article{background:#fff;border:1px solid #ddd;border-radius:6px;"
    "padding:.6em;overflow-wrap:anywhere}"
    "article.failed{border-color:#c33}"
    ".thumbs{display:flex;gap:.4em}"
    "figure{margin:0 0 .5em;flex:1;min-width:0}"
    "img{width:100%;height:auto;display:block;background:#eee}"
    "figcaption,.note{font-size:.85em;color:#555}"
    ".prompt{white-space:pre-wrap;font-weight:600;margin:.3em 0}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:0 .6em;"
    "margin:0;font-size:.85em}"
    "dt{color:#777}dd{margin:0}"
    ".error{color:#b00}"
    "table{border-collapse:collapse;margin-top:.5em}"
    "td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;"
    "vertical-align:top;white-space:pre-wrap;overflow-wrap:anywhere}"
    "footer{margin-top:1.5em;color:#555}";

void
dalle_gallery_text(FILE *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		const char *ref;

		switch (p[i]) {
		case '&':
			ref = "&amp;";
			break;
		case '<':
			ref = "&lt;";
			break;
		case '>':
			ref = "&gt;";
			break;
		case '"':
			ref = "&quot;";
			break;
		case '\'':
			ref = "&#39;";
			break;
		case '\t':
		case '\n':
		case '\r':
			ref = NULL;
			break;
		default:
			/* Controls: no text, and parse errors in HTML. */
			ref = p[i] < 0x20 || p[i] == 0x7f ? "\xef\xbf\xbd" :
			    NULL;
		}
		if (ref == NULL) {
			run++;
			continue;
		}
		fwrite(s + i - run, 1, run, out);
		fputs(ref, out);
		run = 0;
	}
	fwrite(s + n - run, 1, run, out);
}

static void
text(FILE *out, const char *s)
{
	dalle_gallery_text(out, s, strlen(s));
}

/* Bytes a URL path keeps as they are; every other is %XX. */
static int
path_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("-._~/", c) != NULL;
}

static void
pct(struct dalle_buf *b, unsigned char c)
{
	char hex[4];

	snprintf(hex, sizeof(hex), "%%%02X", c);
	dalle_buf_add(b, hex, 3);
}

char *
dalle_gallery_path_url(const char *path, size_t n, const char *base)
{
	struct dalle_buf b = { NULL, 0, 0 };
	size_t i = 0;

	dalle_buf_reserve(&b, n + 16);
	if (n > 0 && path[0] == '/') {
		/* "//host/x" is a path here, never a host. */
		while (i + 1 < n && path[i + 1] == '/')
			i++;
		dalle_buf_adds(&b, "file://");
	} else if (base != NULL)
		dalle_buf_adds(&b, base);
	/* Encoded, a "name:" is no scheme: "javascript:x" is a file. */
	for (; i < n; i++)
		if (path_byte((unsigned char)path[i]))
			dalle_buf_add(&b, path + i, 1);
		else
			pct(&b, (unsigned char)path[i]);
	return b.p;
}

/* Does s start with scheme (lower case) and "://", in any case? */
static int
has_scheme(const char *s, size_t n, const char *scheme)
{
	size_t k = strlen(scheme);

	return n > k + 3 && strncasecmp(s, scheme, k) == 0 &&
	    memcmp(s + k, "://", 3) == 0;
}

/* A URL as an attribute: the bytes no URL holds as they are (space,
 * quotes, <, >, controls, non-ASCII) encoded, & as &amp;. */
static char *
url_attr(const char *s, size_t n)
{
	struct dalle_buf b = { NULL, 0, 0 };
	size_t i;

	dalle_buf_reserve(&b, n + 16);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '&')
			dalle_buf_adds(&b, "&amp;");
		else if (c <= 0x20 || c >= 0x7f || strchr("\"'<>`\\", c))
			pct(&b, c);
		else
			dalle_buf_add(&b, s + i, 1);
	}
	return b.p;
}

/* A URL of the service's as an attribute; NULL unless http(s). */
static char *
remote_url(const char *s, size_t n)
{
	if (!has_scheme(s, n, "https") && !has_scheme(s, n, "http"))
		return NULL;
	return url_attr(s, n);
}

/* The style sheet's CSP source: 'sha256-...'. */
static char *
style_hash(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *b64, *s;

	if (EVP_Digest(style, sizeof(style) - 1, md, &mdlen, EVP_sha256(),
	    NULL) != 1)
		return dalle_xstrdup("'unsafe-inline'");
	b64 = dalle_base64_encode(md, mdlen, NULL);
	s = dalle_xasprintf("'sha256-%s'", b64);
	free(b64);
	return s;
}

/* The origin of an http(s) base, for img-src; NULL for any other. */
static char *
base_origin(const char *base)
{
	size_t n = strlen(base), k;
	const char *host;

	if (!has_scheme(base, n, "https") && !has_scheme(base, n, "http"))
		return NULL;
	host = strstr(base, "://") + 3;
	k = strcspn(host, "/?#");
	return dalle_xasprintf("%.*s%.*s", (int)(host - base), base, (int)k,
	    host);
}

/* Is base an http(s) or file URL (1), or a path (0)? */
static int
base_is_url(const char *base)
{
	size_t n = strlen(base);

	return has_scheme(base, n, "https") || has_scheme(base, n, "http") ||
	    has_scheme(base, n, "file");
}

const char *
dalle_gallery_base_check(const char *base)
{
	if (!base_is_url(base) && base[strcspn(base, ":/?#")] == ':')
		return "not an http, https or file URL, nor a path";
	return NULL;
}

struct dalle_gallery *
dalle_gallery_new(FILE *out, const struct dalle_gallery_opts *opts,
    const char **why)
{
	struct dalle_gallery *g;
	const char *title = opts->title ? opts->title : "dalle-gallery";
	char *hash, *origin = NULL, *b;

	g = dalle_xcalloc(1, sizeof(*g));
	g->out = out;
	g->inline_images = opts->inline_images;
	if (opts->base != NULL && opts->base[0] != '\0') {
		/* Encoded once here, the image paths after it each time. */
		b = dalle_xasprintf("%s%s", opts->base,
		    opts->base[strlen(opts->base) - 1] == '/' ? "" : "/");
		g->base = base_is_url(b) ? url_attr(b, strlen(b)) :
		    dalle_gallery_path_url(b, strlen(b), NULL);
		origin = base_origin(b);
		free(b);
	}
	if ((g->fail = tmpfile()) == NULL) {
		*why = strerror(errno);
		free(origin);
		free(g->base);
		free(g);
		return NULL;
	}
	hash = style_hash();
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\""
	    "default-src 'none'; img-src 'self' data: file: https: "
	    "http://127.0.0.1:* http://localhost:*", out);
	if (origin != NULL)
		fprintf(out, " %s", origin);
	fprintf(out, "; style-src %s; base-uri 'none'; form-action 'none'\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n"
	    "<meta name=\"generator\" content=\"dalle-gallery %s\">\n"
	    "<title>", hash, VERSION);
	text(out, title);
	fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>",
	    style);
	text(out, title);
	fputs("</h1>\n<main>\n", out);
	free(hash);
	free(origin);
	return g;
}

/* A string field of obj (borrowed), lifted or not; NULL when absent. */
static const char *
field(jv obj, const struct dalle_big *big, const char *key, size_t *len)
{
	return big ? dalle_big_str(big, obj, key, len) :
	    dalle_record_strn(obj, key, len);
}

/* The model or deployment that made the record's images: "model",
 * "deployment", else the deployment in the request's URL. */
static void
put_model(FILE *out, jv rec)
{
	const char *s = dalle_record_str(rec, "model"), *p;
	jv req;

	if (s == NULL)
		s = dalle_record_str(rec, "deployment");
	if (s != NULL) {
		text(out, s);
		return;
	}
	req = dalle_record_get(rec, "request");
	/* The one -m or --deployment named, as dalle-submit checked it. */
	if ((s = dalle_record_str(req, "model")) != NULL) {
		text(out, s);
		jv_free(req);
		return;
	}
	s = dalle_record_str(req, "url");
	if (s != NULL && (p = strstr(s, "/deployments/")) != NULL) {
		p += strlen("/deployments/");
		dalle_gallery_text(out, p, strcspn(p, "/?#"));
	} else
		fputs("\xe2\x80\x94", out);
	jv_free(req);
}

static void
put_cost(struct dalle_gallery *g, jv rec)
{
	jv cost = dalle_record_get(rec, "cost"), usd, est;

	usd = dalle_record_get(cost, "usd");
	est = dalle_record_get(cost, "estimated");
	if (jv_get_kind(usd) == JV_KIND_NUMBER) {
		double d = jv_number_value(usd);

		fprintf(g->out, d < 0.01 ? "$%.4f" : "$%.3f", d);
		if (jv_get_kind(est) == JV_KIND_TRUE) {
			fputs(" (estimated)", g->out);
			g->estimated++;
		}
		g->usd += d;
		g->priced++;
	} else
		fputs("\xe2\x80\x94", g->out);
	jv_free(est);
	jv_free(usd);
	jv_free(cost);
}

static void
put_time(FILE *out, jv rec)
{
	jv v = dalle_record_get(rec, "created");
	char iso[32], human[32];
	struct tm tm;
	time_t t;

	if (jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) >= 0 &&
	    jv_number_value(v) < 253402300800.0) {
		t = (time_t)jv_number_value(v);
		gmtime_r(&t, &tm);
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		strftime(human, sizeof(human), "%Y-%m-%d %H:%M:%S UTC", &tm);
		fprintf(out, "<time datetime=\"%s\">%s</time>", iso, human);
	} else
		fputs("\xe2\x80\x94", out);
	jv_free(v);
}

/* What the service says it made, else the first file's pixels. */
static void
put_size(FILE *out, jv rec, jv files)
{
	const char *s = dalle_record_str(rec, "size");
	jv f = jv_get_kind(files) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(files)) > 0 ?
	    jv_array_get(jv_copy(files), 0) : jv_null();
	long w, h;

	if (s != NULL)
		text(out, s);
	else if (dalle_record_long(f, "width", &w) == 0 &&
	    dalle_record_long(f, "height", &h) == 0)
		fprintf(out, "%ldx%ld", w, h);
	else
		fputs("\xe2\x80\x94", out);
	jv_free(f);
}

/* The entry of files (borrowed) for image index, else jv_null(). */
static jv
file_of(jv files, int index)
{
	jv f;
	long k;
	int i, n = jv_get_kind(files) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(files)) : 0;

	for (i = 0; i < n; i++) {
		f = jv_array_get(jv_copy(files), i);
		if (dalle_record_long(f, "index", &k) == 0 && k == index)
			return f;
		jv_free(f);
	}
	return jv_null();
}

/* width and height attributes from an entry of files, else from
 * "WxH". */
static void
put_dims(FILE *out, jv f, const char *size)
{
	long w = 0, h = 0;

	if (dalle_record_long(f, "width", &w) == -1 ||
	    dalle_record_long(f, "height", &h) == -1) {
		w = h = 0;
		if (size == NULL || sscanf(size, "%ldx%ld", &w, &h) != 2)
			w = h = 0;
	}
	if (w > 0 && h > 0 && w < 100000 && h < 100000)
		fprintf(out, " width=\"%ld\" height=\"%ld\"", w, h);
}

static void
put_img(struct dalle_gallery *g, const char *url, jv f, const char *size,
    const char *alt, size_t altlen)
{
	fprintf(g->out, "<a href=\"%s\"><img src=\"%s\" loading=\"lazy\"",
	    url, url);
	put_dims(g->out, f, size);
	fputs(" alt=\"", g->out);
	dalle_gallery_text(g->out, alt, altlen);
	fputs("\"></a>", g->out);
	g->images++;
}

/* base64 from a record as a data: URL, if it is base64 of an image. */
static int
put_inline(struct dalle_gallery *g, const char *b64, size_t n,
    const char *alt, size_t altlen)
{
	unsigned char *head;
	const char *fmt;
	size_t i, hn;
	int w = 0, h = 0;

	for (i = 0; i < n; i++)
		if (!path_byte((unsigned char)b64[i]) && b64[i] != '+' &&
		    b64[i] != '=')
			return -1;
	if ((head = dalle_base64_decode(b64, n < 65536 ? n & ~(size_t)3 :
	    65536, &hn)) == NULL)
		return -1;
	fmt = dalle_image_probe(head, hn, &w, &h);
	free(head);
	if (fmt == NULL)
		return -1;
	fprintf(g->out, "<img src=\"data:image/%s;base64,", fmt);
	fwrite(b64, 1, n, g->out);
	fputs("\" loading=\"lazy\"", g->out);
	if (w > 0 && h > 0)
		fprintf(g->out, " width=\"%d\" height=\"%d\"", w, h);
	fputs(" alt=\"", g->out);
	dalle_gallery_text(g->out, alt, altlen);
	fputs("\">", g->out);
	g->images++;
	return 0;
}

/* Image index of rec: its file, else its URL, else its base64 (a note,
 * or with inline_images the image), else its error. */
static void
put_image(struct dalle_gallery *g, jv rec, const struct dalle_big *big,
    jv item, int index, const char *prompt, size_t plen)
{
	jv files = dalle_record_get(rec, "files"), f = file_of(files, index);
	jv ie = dalle_record_get(item, "error");
	const char *size = dalle_record_str(rec, "size"), *s, *rp;
	size_t n = 0, rplen = 0;
	char *url;

	fputs("<figure>", g->out);
	if ((s = dalle_record_strn(f, "path", &n)) != NULL) {
		url = dalle_gallery_path_url(s, n, g->base);
		put_img(g, url, f, size, prompt, plen);
		free(url);
	} else if ((s = field(item, big, "url", &n)) != NULL) {
		if ((url = remote_url(s, n)) != NULL) {
			put_img(g, url, f, size, prompt, plen);
			free(url);
		} else {
			fputs("<p class=\"note\">An image URL that is not "
			    "http or https: not shown.</p>", g->out);
			g->notes++;
		}
	} else if ((s = field(item, big, "b64_json", &n)) != NULL) {
		if (!g->inline_images || put_inline(g, s, n, prompt,
		    plen) == -1) {
			fprintf(g->out, "<p class=\"note\">The image is in "
			    "the record as base64 (%zu KiB): not embedded; "
			    "write it to a file with dalle-fetch%s.</p>",
			    n / 4 * 3 / 1024 + 1, g->inline_images ?
			    " (it is no PNG, JPEG, WebP or GIF)" :
			    ", or give --inline");
			g->notes++;
		}
	} else if (jv_get_kind(ie) == JV_KIND_OBJECT) {
		fputs("<p class=\"error\">", g->out);
		s = dalle_record_str(ie, "code");
		text(g->out, s ? s : "failed");
		if ((s = dalle_record_str(ie, "message")) != NULL) {
			fputs(": ", g->out);
			text(g->out, s);
		}
		fputs("</p>", g->out);
	} else {
		fputs("<p class=\"note\">No image.</p>", g->out);
		g->notes++;
	}
	if ((rp = field(item, big, "revised_prompt", &rplen)) != NULL) {
		fputs("<figcaption>Revised: ", g->out);
		dalle_gallery_text(g->out, rp, rplen);
		fputs("</figcaption>", g->out);
	}
	fputs("</figure>\n", g->out);
	jv_free(ie);
	jv_free(f);
	jv_free(files);
}

/* A row of the failures' table. */
static void
fail_row(struct dalle_gallery *g, const char *source, long lineno,
    const char *kind, const char *msg, const char *prompt, size_t plen)
{
	FILE *fp = g->fail;

	fputs("<tr><td>", fp);
	text(fp, source);
	fprintf(fp, ":%ld</td><td class=\"kind\">", lineno);
	text(fp, kind);
	fputs(*kind ? "" : "\xe2\x80\x94", fp);
	fputs("</td><td>", fp);
	text(fp, msg);
	fputs("</td><td>", fp);
	dalle_gallery_text(fp, prompt, plen);
	fputs("</td></tr>\n", fp);
	g->failed++;
}

void
dalle_gallery_record(struct dalle_gallery *g, jv rec,
    const struct dalle_big *big, const char *source, long lineno)
{
	jv data = dalle_record_get(rec, "data"), files, err, item;
	const char *prompt, *status, *kind, *msg;
	size_t plen = 0;
	int i, n, nfiles;
	char *why;

	g->records++;
	if ((prompt = field(rec, big, "prompt", &plen)) == NULL)
		prompt = "";
	files = dalle_record_get(rec, "files");
	n = jv_get_kind(data) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(data)) : 0;
	nfiles = jv_get_kind(files) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(files)) : 0;
	err = dalle_record_get(rec, "error");
	status = dalle_record_str(rec, "status");
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		kind = dalle_record_str(err, "kind");
		msg = dalle_record_str(err, "message");
		fail_row(g, source, lineno, kind ? kind : "", msg ? msg : "",
		    prompt, plen);
	} else if (n == 0 && nfiles == 0) {
		why = dalle_xasprintf("no images in the record%s%s%s",
		    status ? " (status " : "", status ? status : "",
		    status ? "; pipe it through dalle-poll)" : "");
		fail_row(g, source, lineno, "", why, prompt, plen);
		free(why);
	}
	/* A card for every record that has an image, or the note why not. */
	if (n > 0 || nfiles > 0) {
		g->cards++;
		fprintf(g->out, "<article id=\"r%ld\"%s>\n", g->records,
		    jv_get_kind(err) == JV_KIND_OBJECT ?
		    " class=\"failed\"" : "");
		fputs("<div class=\"thumbs\">\n", g->out);
		for (i = 0; i < (n > 0 ? n : nfiles); i++) {
			item = n > 0 ? jv_array_get(jv_copy(data), i) :
			    jv_object();
			put_image(g, rec, big, item, i, prompt, plen);
			jv_free(item);
		}
		fputs("</div>\n<p class=\"prompt\">", g->out);
		dalle_gallery_text(g->out, prompt, plen);
		fputs("</p>\n<dl><dt>Model</dt><dd>", g->out);
		put_model(g->out, rec);
		fputs("</dd><dt>Size</dt><dd>", g->out);
		put_size(g->out, rec, files);
		fputs("</dd><dt>Cost</dt><dd>", g->out);
		put_cost(g, rec);
		fputs("</dd><dt>Time</dt><dd>", g->out);
		put_time(g->out, rec);
		fputs("</dd>", g->out);
		if (jv_get_kind(err) == JV_KIND_OBJECT &&
		    (msg = dalle_record_str(err, "message")) != NULL) {
			fputs("<dt>Error</dt><dd class=\"error\">", g->out);
			text(g->out, msg);
			fputs("</dd>", g->out);
		}
		fputs("</dl>\n</article>\n", g->out);
		/* A page being written shows its cards so far. */
		fflush(g->out);
	}
	jv_free(err);
	jv_free(files);
	jv_free(data);
}

void
dalle_gallery_bad_line(struct dalle_gallery *g, const char *source,
    long lineno, const char *why, const char *s, size_t n)
{
	g->records++;
	fail_row(g, source, lineno, DALLE_KIND_INPUT, why, s, n < 64 ? n : 64);
}

int
dalle_gallery_end(struct dalle_gallery *g)
{
	char chunk[65536];
	size_t k;
	int rc = 0, e;

	fputs("</main>\n", g->out);
	if (g->failed > 0) {
		fprintf(g->out, "<section>\n<h2>Failed (%ld)</h2>\n<table>\n"
		    "<tr><th>Input</th><th>Kind</th><th>Message</th>"
		    "<th>Prompt or line</th></tr>\n", g->failed);
		rewind(g->fail);
		while ((k = fread(chunk, 1, sizeof(chunk), g->fail)) > 0)
			fwrite(chunk, 1, k, g->out);
		if (ferror(g->fail))
			rc = -1;
		fputs("</table>\n</section>\n", g->out);
	}
	fprintf(g->out, "<footer>%ld image%s from %ld record%s; %ld failed; "
	    "%ld not shown; cost ", g->images, g->images == 1 ? "" : "s",
	    g->records, g->records == 1 ? "" : "s", g->failed, g->notes);
	if (g->priced > 0)
		fprintf(g->out, "$%.3f%s", g->usd, g->estimated ?
		    " (estimated)" : "");
	else
		fputs("unknown", g->out);
	if (g->priced > 0 && g->priced < g->cards)
		fprintf(g->out, ", %ld record%s without one",
		    g->cards - g->priced,
		    g->cards - g->priced == 1 ? "" : "s");
	fputs(".</footer>\n</body>\n</html>\n", g->out);
	e = errno;
	if (fflush(g->out) == EOF || ferror(g->out))
		rc = -1;
	else
		errno = e;
	fclose(g->fail);
	free(g->base);
	free(g);
	return rc;
}
