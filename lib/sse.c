/*
 * sse.c: server-sent events as the WHATWG HTML standard parses them
 * (9.2.6): lines end in CRLF, LF or CR; a blank line dispatches the event;
 * a line that starts with a colon is a comment; "field: value" loses one
 * space after the colon; data lines are joined with LF; id and retry are
 * read past.  A line is collected whole, however it was split, and a
 * long data line, the usual one of megabytes of base64, becomes the
 * event's data without being copied again.
 */
#include <stdio.h>
#include <string.h>

#include "sse.h"

void
dalle_sse_init(struct dalle_sse *s, dalle_sse_fn fn, void *arg)
{
	dalle_buf_reset(&s->line);
	dalle_buf_reset(&s->data);
	s->fn = fn;
	s->arg = arg;
	s->event[0] = '\0';
	s->has_data = 0;
	s->cr = 0;
	s->bom = 1;
	s->failed = 0;
}

void
dalle_sse_free(struct dalle_sse *s)
{
	dalle_buf_free(&s->line);
	dalle_buf_free(&s->data);
}

static int
dispatch(struct dalle_sse *s)
{
	int rc = 0;

	if (s->has_data) {
		if (s->data.p == NULL)
			dalle_buf_add(&s->data, "", 0);
		rc = s->fn(s->arg, s->event[0] ? s->event : "message",
		    &s->data);
	}
	dalle_buf_reset(&s->data);
	s->has_data = 0;
	s->event[0] = '\0';
	return rc;
}

/* A whole line is in s->line: act on it. */
static int
line_done(struct dalle_sse *s)
{
	struct dalle_buf t;
	char *l = s->line.p ? s->line.p : "", *colon, *v;
	size_t n = s->line.len, k, vn;

	if (s->bom && n >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0) {
		l += 3;
		n -= 3;
	}
	s->bom = 0;
	if (n == 0)
		return dispatch(s);
	if (l[0] == ':') {
		dalle_buf_reset(&s->line);
		return 0;
	}
	colon = memchr(l, ':', n);
	k = colon ? (size_t)(colon - l) : n;
	v = colon ? colon + 1 : l + n;
	vn = colon ? n - k - 1 : 0;
	if (vn > 0 && *v == ' ') {
		v++;
		vn--;
	}
	if (k == 4 && memcmp(l, "data", 4) == 0) {
		if (!s->has_data && s->line.p != NULL) {
			/* The line's buffer becomes the data's. */
			memmove(s->line.p, v, vn);
			s->line.len = vn;
			s->line.p[vn] = '\0';
			t = s->data;
			s->data = s->line;
			s->line = t;
		} else {
			if (s->has_data)
				dalle_buf_add(&s->data, "\n", 1);
			dalle_buf_add(&s->data, v, vn);
		}
		s->has_data = 1;
	} else if (k == 5 && memcmp(l, "event", 5) == 0)
		snprintf(s->event, sizeof(s->event), "%.*s", (int)vn, v);
	dalle_buf_reset(&s->line);
	return s->data.len > DALLE_SSE_MAX ? -1 : 0;
}

int
dalle_sse_feed(struct dalle_sse *s, const char *p, size_t n)
{
	const char *end = p + n, *lf, *cr, *q;

	if (s->failed)
		return -1;
	while (p < end) {
		if (s->cr) {
			/* The LF of a CRLF split between two pieces. */
			s->cr = 0;
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		lf = memchr(p, '\n', (size_t)(end - p));
		cr = memchr(p, '\r', (size_t)((lf ? lf : end) - p));
		q = cr ? cr : lf;
		if (q == NULL) {
			if (s->line.len + (size_t)(end - p) > DALLE_SSE_MAX) {
				s->failed = 1;
				return -1;
			}
			dalle_buf_add(&s->line, p, (size_t)(end - p));
			break;
		}
		dalle_buf_add(&s->line, p, (size_t)(q - p));
		p = q + 1;
		if (*q == '\r') {
			if (p < end && *p == '\n')
				p++;
			else if (p == end)
				s->cr = 1;
		}
		if (line_done(s) == -1) {
			s->failed = 1;
			return -1;
		}
	}
	return 0;
}
