/*
 * stream.c: "stream": true answered as the service does, with server-sent
 * events: the partial images first, each a coarser version of the final
 * picture (blocks averaged, fewer and larger the earlier the partial),
 * then the final image, byte for byte what the unstreamed answer holds.
 * The events go out one by one as they fall due over the request's
 * latency; the connection is suspended in between, holding no thread.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "serve.h"

#define PARTIAL_TOKENS 100        /* output tokens a partial image costs */

struct event {
	size_t end;               /* its last byte + 1 in the text */
	int64_t due;              /* not sent before (dalle_now_ms) */
};

struct stream {
	struct req *rq;
	struct dalle_buf text;    /* every event, in order */
	struct event *ev;
	size_t nev, next;
	size_t limit;             /* end the stream here */
};

/* Every b x b block of img made the mean of its pixels. */
static void
coarsen(unsigned char *img, int w, int h, int ch, int b)
{
	unsigned long sum[4];
	int bx, by, x, y, k, cnt;
	unsigned char *p;

	for (by = 0; by < h; by += b)
		for (bx = 0; bx < w; bx += b) {
			memset(sum, 0, sizeof(sum));
			cnt = 0;
			for (y = by; y < by + b && y < h; y++)
				for (x = bx; x < bx + b && x < w; x++, cnt++)
					for (k = 0, p = img + ((size_t)y * w +
					    x) * ch; k < ch; k++)
						sum[k] += p[k];
			for (y = by; y < by + b && y < h; y++)
				for (x = bx; x < bx + b && x < w; x++)
					for (k = 0, p = img + ((size_t)y * w +
					    x) * ch; k < ch; k++)
						p[k] = (unsigned char)(sum[k] /
						    cnt);
		}
}

/*
 * Partial i of the final picture c, in format fmt: blocks of a 16th of
 * the short edge for the first, half that for each later one (2 pixels
 * at least).  Malloc'd, *len set; NULL when c cannot be read.
 */
static unsigned char *
partial(const struct cent *c, int i, const char *fmt, size_t *len)
{
	unsigned char *img, *out;
	int w, h, ch, b;

	if ((img = paint_decode(c->data, c->len, &w, &h, &ch)) == NULL)
		return NULL;
	b = (w < h ? w : h) / (16 << i);
	coarsen(img, w, h, ch, b < 2 ? 2 : b);
	out = paint_encode(img, w, h, ch, fmt, 75, len);
	free(img);
	return out;
}

/*
 * One event: its name line and a data line of fields (consumed) with
 * "type" first and then "b64_json", the base64 of n bytes at p.
 */
static void
event_add(struct stream *s, const char *type, jv fields,
    const unsigned char *p, size_t n, int64_t due)
{
	static const char key[] = "\"b64_json\":\"";
	const char *t, *at;
	size_t k, old;
	jv o, str;

	o = JV_OBJECT(jv_string("type"), jv_string(type),
	    jv_string("b64_json"), jv_string(""));
	str = jv_dump_string(jv_object_merge(o, fields), 0);
	t = jv_string_value(str);
	if ((at = strstr(t, key)) == NULL)
		errx(DALLE_EX_SOFTWARE, "event_add: no b64_json");
	k = (size_t)(at - t) + sizeof(key) - 1;
	dalle_buf_adds(&s->text, "event: ");
	dalle_buf_adds(&s->text, type);
	dalle_buf_adds(&s->text, "\ndata: ");
	dalle_buf_add(&s->text, t, k);
	dalle_buf_reserve(&s->text, (n + 2) / 3 * 4);
	old = s->text.len;
	s->text.len += (size_t)EVP_EncodeBlock(
	    (unsigned char *)s->text.p + old, p, (int)n);
	dalle_buf_adds(&s->text, t + k);
	dalle_buf_adds(&s->text, "\n\n");
	jv_free(str);
	s->ev = dalle_xrealloc(s->ev, (s->nev + 1) * sizeof(*s->ev));
	s->ev[s->nev].end = s->text.len;
	s->ev[s->nev].due = due;
	s->nev++;
}

/* The fields every event of res carries. */
static jv
common_fields(jv res)
{
	static const char *const keys[] = {
		"size", "quality", "background", "output_format"
	};
	jv o = JV_OBJECT(jv_string("created_at"),
	    dalle_record_get(res, "created"));
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		o = jv_object_set(o, jv_string(keys[i]),
		    dalle_record_get(res, keys[i]));
	return o;
}

/* res's usage with what the partials cost added. */
static jv
usage_with(jv res, int partials)
{
	jv u = dalle_record_get(res, "usage");
	long out = 0, total = 0, add = (long)partials * PARTIAL_TOKENS;

	if (jv_get_kind(u) != JV_KIND_OBJECT)
		return u;
	dalle_record_long(u, "output_tokens", &out);
	dalle_record_long(u, "total_tokens", &total);
	u = jv_object_set(u, jv_string("output_tokens"),
	    jv_number((double)(out + add)));
	return jv_object_set(u, jv_string("total_tokens"),
	    jv_number((double)(total + add)));
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t start, end, n;

	while (s->next < s->nev && pos >= s->ev[s->next].end) {
		s->next++;
		s->rq->events++;
	}
	/* A cut stream ends as if whole: libmicrohttpd 0.9.75 leaves a
	 * chunked answer hanging after MHD_CONTENT_READER_END_WITH_ERROR. */
	if (pos >= s->limit)
		return MHD_CONTENT_READER_END_OF_STREAM;
	start = s->next > 0 ? s->ev[s->next - 1].end : 0;
	/* At an event's first byte before its time: park until then. */
	if (pos == start && dalle_now_ms() < s->ev[s->next].due &&
	    timer_sleep(s->rq->conn, s->ev[s->next].due) == 0)
		return 0;
	end = s->ev[s->next].end < s->limit ? s->ev[s->next].end : s->limit;
	n = end - (size_t)pos < max ? end - (size_t)pos : max;
	memcpy(buf, s->text.p + pos, n);
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *s = cls;

	dalle_buf_free(&s->text);
	free(s->ev);
	free(s);
}

enum MHD_Result
stream_reply(struct req *rq, const char *prefix, jv res,
    struct cent *const *img, int n, int partials)
{
	struct MHD_Response *r;
	struct stream *s;
	enum MHD_Result ret;
	unsigned char *p;
	const char *fmt;
	char *type;
	int64_t t0 = dalle_now_ms(), span = rq->delay_ms;
	size_t len;
	int i, held;
	jv f;

	s = dalle_xcalloc(1, sizeof(*s));
	s->rq = rq;
	fmt = str_or(res, "output_format", "png");
	type = dalle_xasprintf("%s.partial_image", prefix);
	for (i = 0; n > 0 && i < partials; i++) {
		if ((p = partial(img[0], i, fmt, &len)) == NULL)
			break;
		f = jv_object_set(common_fields(res),
		    jv_string("partial_image_index"), jv_number(i));
		event_add(s, type, f, p, len, t0 + span * (i + 1) /
		    (partials + 1));
		free(p);
	}
	free(type);
	type = dalle_xasprintf("%s.completed", prefix);
	/* A cut stream ends before the final image. */
	s->limit = s->text.len;
	for (i = 0; i < n; i++) {
		f = jv_object_set(common_fields(res), jv_string("usage"),
		    usage_with(res, partials));
		event_add(s, type, f, img[i]->data, img[i]->len, t0 + span);
	}
	free(type);
	jv_free(res);
	if (opt.truncate_rate > 0 && chance() < opt.truncate_rate) {
		stats_add(&st.fault_truncate, 1);
		rq->fault = "truncate";
	} else
		s->limit = s->text.len;
	rq->streamed = 1;
	rq->resp_bytes = s->limit;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	    stream_read, s, stream_free);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_callback");
	MHD_add_response_header(r, "Content-Type", "text/event-stream");
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	/* The headers go now, the events as they fall due; the concurrency
	 * slot stays taken until the stream ends (route_completed). */
	rq->delay_ms = 0;
	held = rq->holds_slot;
	rq->holds_slot = 0;
	ret = reply(rq, 200, r);
	rq->holds_slot = held;
	return ret;
}

int
stream_partials(jv body)
{
	jv v = dalle_record_get(body, "stream");
	long n = 0;
	int on = jv_get_kind(v) == JV_KIND_TRUE;

	jv_free(v);
	if (!on)
		return -1;
	if (dalle_record_long(body, "partial_images", &n) != 0 || n < 0)
		n = 0;
	return n > 3 ? 3 : (int)n;
}
