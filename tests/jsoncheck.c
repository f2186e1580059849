/*
 * jsoncheck: for every JSON text on stdin (one per line), check that
 * dalle_json_put writes exactly what jq's jv_dump_string(v, 0) writes.
 * Prints each difference; exits 1 if there was one, 0 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dalle.h"

int
main(void)
{
	struct dalle_buf b = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, bad = 0, checked = 0;
	jv v, s;

	while ((n = getline(&line, &cap, stdin)) != -1) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		v = jv_parse_sized(line, (int)n);
		if (!jv_is_valid(v)) {
			jv_free(v);
			continue;
		}
		dalle_buf_reset(&b);
		dalle_json_put(&b, v);
		s = jv_dump_string(v, 0);
		if (strcmp(b.p, jv_string_value(s)) != 0) {
			printf("line %ld:\n  jq:   %s\n  ours: %s\n", lineno,
			    jv_string_value(s), b.p);
			bad++;
		}
		checked++;
		jv_free(s);
	}
	printf("%ld values checked, %ld differ\n", checked, bad);
	free(line);
	dalle_buf_free(&b);
	return bad > 0 || checked == 0;
}
