/* json.c: records written as compact JSON, fast. */
#include <math.h>
#include <stdio.h>

#include "json.h"

/*
 * Compact JSON, byte for byte what jv_dump_string(v, 0) of jq 1.6 writes,
 * at several times its speed: jq appends to its string one piece at a
 * time, and every record of a pipeline is written three times.  Numbers
 * other than plain integers are left to jq, so that they print as jq
 * prints them.
 */
static void
put_string(struct dalle_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	static const char short_esc[128] = {
		['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
		['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'
	};
	size_t i, from = 0;
	unsigned char c;
	char e[6] = { '\\', 'u', '0', '0' };

	dalle_buf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		dalle_buf_add(b, s + from, i - from);
		from = i + 1;
		if (short_esc[c]) {
			e[1] = short_esc[c];
			dalle_buf_add(b, e, 2);
			e[1] = 'u';
		} else {
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			dalle_buf_add(b, e, 6);
		}
	}
	dalle_buf_add(b, s + from, n - from);
	dalle_buf_add(b, "\"", 1);
}

void
dalle_json_put(struct dalle_buf *b, jv v)
{
	dalle_json_put_big(b, v, NULL);
}

void
dalle_json_put_big(struct dalle_buf *b, jv v, const struct dalle_big *big)
{
	dalle_json_put_out(b, v, big, NULL);
}

void
dalle_json_put_out(struct dalle_buf *b, jv v, const struct dalle_big *big,
    void (*out)(const char *, size_t))
{
	const struct dalle_span *sp;
	const char *str;
	size_t len;
	char num[32];
	double d;
	int i, n, first;
	jv s;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		dalle_buf_add(b, "null", 4);
		break;
	case JV_KIND_TRUE:
		dalle_buf_add(b, "true", 4);
		break;
	case JV_KIND_FALSE:
		dalle_buf_add(b, "false", 5);
		break;
	case JV_KIND_NUMBER:
		d = jv_number_value(v);
		if (d > -1e15 && d < 1e15 && d == (double)(long long)d &&
		    (d != 0 || !signbit(d))) {
			n = snprintf(num, sizeof(num), "%lld", (long long)d);
			dalle_buf_add(b, num, (size_t)n);
			break;
		}
		s = jv_dump_string(jv_copy(v), 0);
		dalle_buf_adds(b, jv_string_value(s));
		jv_free(s);
		break;
	case JV_KIND_STRING:
		str = jv_string_value(v);
		len = (size_t)jv_string_length_bytes(jv_copy(v));
		if ((sp = dalle_big_span(big, str, len)) != NULL) {
			/* A lifted string: its text as it came, not copied
			 * when there is somewhere to send it. */
			dalle_buf_add(b, "\"", 1);
			if (out != NULL) {
				out(b->p, b->len);
				dalle_buf_reset(b);
				out(sp->p, sp->n);
			} else
				dalle_buf_add(b, sp->p, sp->n);
			dalle_buf_add(b, "\"", 1);
		} else
			put_string(b, str, len);
		break;
	case JV_KIND_ARRAY:
		dalle_buf_add(b, "[", 1);
		n = jv_array_length(jv_copy(v));
		for (i = 0; i < n; i++) {
			jv e = jv_array_get(jv_copy(v), i);

			if (i > 0)
				dalle_buf_add(b, ",", 1);
			dalle_json_put_out(b, e, big, out);
			jv_free(e);
		}
		dalle_buf_add(b, "]", 1);
		break;
	case JV_KIND_OBJECT:
		dalle_buf_add(b, "{", 1);
		first = 1;
		for (i = jv_object_iter(v); jv_object_iter_valid(v, i);
		    i = jv_object_iter_next(v, i)) {
			jv k = jv_object_iter_key(v, i);
			jv e = jv_object_iter_value(v, i);

			if (!first)
				dalle_buf_add(b, ",", 1);
			first = 0;
			put_string(b, jv_string_value(k),
			    (size_t)jv_string_length_bytes(jv_copy(k)));
			dalle_buf_add(b, ":", 1);
			dalle_json_put_out(b, e, big, out);
			jv_free(k);
			jv_free(e);
		}
		dalle_buf_add(b, "}", 1);
		break;
	default:
		/* An invalid value has no JSON; jq would say "<invalid>". */
		dalle_buf_add(b, "null", 4);
		break;
	}
}
