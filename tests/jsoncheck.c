/*
 * jsoncheck: for every JSON text on stdin (one per line), check that
 * dalle_json_put writes exactly what jq's jv_dump_string(v, 0) writes, and
 * that so does the line read with its big strings lifted (big.h) and
 * written back; and that a line jq cannot parse is no more parsed with
 * lifting, with jq's own message.  Prints each difference; exits 1 if
 * there was one, 0 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dalle.h"

int
main(void)
{
	struct dalle_buf b = { 0 }, b2 = { 0 };
	struct dalle_big big;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, bad = 0, checked = 0, lifted = 0, invalid = 0;
	jv v, v2, s, m1, m2;

	while ((n = getline(&line, &cap, stdin)) != -1) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		v = jv_parse_sized(line, (int)n);
		memset(&big, 0, sizeof(big));
		v2 = dalle_big_parse(&big, line, (size_t)n);
		lifted += (long)big.n;
		if (!jv_is_valid(v)) {
			m1 = jv_invalid_get_msg(v);
			if (jv_is_valid(v2)) {
				jv_free(v2);
				m2 = jv_string("parsed");
			} else
				m2 = jv_invalid_get_msg(v2);
			if (!jv_equal(jv_copy(m1), jv_copy(m2))) {
				printf("line %ld: jq cannot parse it, but "
				    "lifted: %s\n", lineno,
				    jv_string_value(m2));
				bad++;
			}
			invalid++;
			jv_free(m1);
			jv_free(m2);
			dalle_big_free(&big);
			continue;
		}
		dalle_buf_reset(&b);
		dalle_json_put(&b, v);
		dalle_buf_reset(&b2);
		dalle_json_put_big(&b2, v2, &big);
		s = jv_dump_string(v, 0);
		if (strcmp(b.p, jv_string_value(s)) != 0) {
			printf("line %ld:\n  jq:   %.200s\n  ours: %.200s\n",
			    lineno, jv_string_value(s), b.p);
			bad++;
		}
		if (strcmp(b2.p, jv_string_value(s)) != 0) {
			printf("line %ld, lifted:\n  jq:   %.200s\n  ours: "
			    "%.200s\n", lineno, jv_string_value(s), b2.p);
			bad++;
		}
		checked++;
		jv_free(s);
		jv_free(v2);
		dalle_big_free(&big);
	}
	printf("%ld values checked, %ld differ, %ld strings lifted, %ld "
	    "lines no JSON\n", checked, bad, lifted, invalid);
	free(line);
	dalle_buf_free(&b);
	dalle_buf_free(&b2);
	return bad > 0 || checked == 0;
}
