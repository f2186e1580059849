/*
 * dotenv.c: the .env parser of lib/conf.c (dotenv_load, static: the
 * file is included here whole) reading the input as ./.env in a
 * directory of its own: keys never empty, holding no '=' or newline, no
 * more pairs than lines with a '=', no value longer than the file; and
 * a file of plain KEY=value lines read exactly, the last one winning.
 */
#include "fuzz.h"
#include "../../lib/conf.c"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmp("dotenv", ".env");
	unsetenv("AZURE_OPENAI_ENDPOINT");
	unsetenv("AZURE_OPENAI_DEPLOYMENT");
	unsetenv("OPENAI_BASE_URL");
	return 0;
}

/* Is the line [p, e) "KEY=value" of plain bytes alone?  Sets its key
 * and value. */
static int
plain(const char *p, const char *e, char *k, char *v)
{
	const char *eq = memchr(p, '=', (size_t)(e - p)), *q;

	if (eq == NULL || eq == p || e - p > 200)
		return 0;
	for (q = p; q < eq; q++)
		if (!(*q == '_' || (*q >= 'A' && *q <= 'Z')))
			return 0;
	for (q = eq + 1; q < e; q++)
		if (!isalnum((unsigned char)*q) && !strchr("_./:-", *q))
			return 0;
	memcpy(k, p, (size_t)(eq - p));
	k[eq - p] = '\0';
	memcpy(v, eq + 1, (size_t)(e - eq - 1));
	v[e - eq - 1] = '\0';
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	char k[256], v[256];
	size_t i, eqlines = 0, simple = 0, lines = 0;
	int fd;

	fd = open(".env", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd != -1);
	CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	dotenv_load();

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		lines++;
		if (memchr(p, '=', (size_t)(nl - p)) != NULL)
			eqlines++;
		if (nl == p || plain(p, nl, k, v))
			simple++;
	}
	CHECK(dotenv.n <= eqlines);
	for (i = 0; i < dotenv.n; i++) {
		CHECK(dotenv.k[i][0] != '\0');
		CHECK(strchr(dotenv.k[i], '=') == NULL);
		CHECK(strchr(dotenv.k[i], '\n') == NULL);
		CHECK(strlen(dotenv.v[i]) <= size);
	}
	/* Plain lines alone: each read as it is, the last of a key wins. */
	if (simple == lines && memchr(data, '\0', size) == NULL) {
		i = 0;
		for (p = (const char *)data; p < end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			if (nl == p)
				continue;
			CHECK(plain(p, nl, k, v));
			CHECK(i < dotenv.n);
			CHECK(strcmp(dotenv.k[i], k) == 0);
			CHECK(strcmp(dotenv.v[i], v) == 0);
			i++;
		}
		CHECK(i == dotenv.n);
		/* The last non-empty value of a key is the one read, unless
		 * the environment has the key. */
		for (i = 0; i < dotenv.n; i++) {
			size_t j;

			for (j = i + 1; j < dotenv.n; j++)
				if (strcmp(dotenv.k[j], dotenv.k[i]) == 0 &&
				    *dotenv.v[j])
					break;
			if (j == dotenv.n && *dotenv.v[i] &&
			    getenv(dotenv.k[i]) == NULL)
				CHECK(strcmp(conf_get(dotenv.k[i]),
				    dotenv.v[i]) == 0);
		}
	}
	for (i = 0; i < dotenv.n; i++) {
		free(dotenv.k[i]);
		free(dotenv.v[i]);
	}
	free(dotenv.k);
	free(dotenv.v);
	memset(&dotenv, 0, sizeof(dotenv));
	return 0;
}
