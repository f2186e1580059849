/*
 * journal.c: the journal of accepted requests.  Every entry is one line
 * appended by one write(2) to a file opened O_APPEND, so that the lines of
 * several processes never mix, and is fsync'd before the record it
 * belongs to moves on.  Readers take complete lines only, and read again
 * what others appended before each request they might send.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"
#include "privdir.h"

struct dalle_journal {
	char *path;
	int fd;
	off_t off;                /* read up to here: whole lines */
	jv index;                 /* key -> its state */
	jv repeats;               /* hash -> requests of it so far */
	jv writers;               /* path -> key last written there */
	char *store;              /* the directory of kept answers */
	int storefd;              /* and its descriptor, or -1 */
};

/*
 * The store of kept answers, opened once (made if make): a directory of
 * ours that nobody else may enter, never through a symbolic link, since
 * the next run sends on what it holds as the service's answer.  Its
 * descriptor, or -1 with errno set and *why (malloc'd) if why.
 */
static int
store_open(struct dalle_journal *j, int make, char **why)
{
	const char *w;
	int e;

	if (j->storefd != -1)
		return j->storefd;
	if ((j->storefd = dalle_privdir_open(j->store, make, &w)) == -1) {
		e = errno;
		if (why != NULL)
			*why = dalle_xasprintf("%s: %s", j->store, w);
		errno = e;
	}
	return j->storefd;
}

/* The name in the store of the file at path. */
static const char *
store_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* One entry (consumed) into the index. */
static void
take_entry(struct dalle_journal *j, jv e)
{
	jv old, w, p;
	const char *key;
	int i;

	if (jv_get_kind(e) != JV_KIND_OBJECT ||
	    (key = dalle_record_str(e, "key")) == NULL) {
		jv_free(e);             /* the head, or a torn line */
		return;
	}
	if (jv_get_kind(w = dalle_record_get(e, "lost")) == JV_KIND_TRUE) {
		/* The answer is no use: as if never accepted. */
		j->index = jv_object_delete(j->index, jv_string(key));
		jv_free(e);
		return;
	}
	jv_free(w);
	w = dalle_record_get(e, "written");
	if (jv_get_kind(w) == JV_KIND_ARRAY) {
		/* The images of the latest accepted entry are written. */
		old = jv_object_get(jv_copy(j->index), jv_string(key));
		if (!jv_is_valid(old))
			old = jv_object();
		/* And each path's images are key's, until another's. */
		for (i = 0; i < jv_array_length(jv_copy(w)); i++) {
			p = jv_array_get(jv_copy(w), i);
			if (jv_get_kind(p) == JV_KIND_STRING)
				j->writers = jv_object_set(j->writers, p,
				    jv_string(key));
			else
				jv_free(p);
		}
		old = jv_object_set(old, jv_string("written"), w);
		j->index = jv_object_set(j->index, jv_string(key), old);
		jv_free(e);
		return;
	}
	jv_free(w);
	j->index = jv_object_set(j->index, jv_string(key), e);
}

/* One line of the journal into the index. */
static void
take(struct dalle_journal *j, const char *s, size_t n)
{
	take_entry(j, jv_parse_sized(s, (int)n));
}

void
dalle_journal_refresh(struct dalle_journal *j)
{
	struct dalle_buf b = { 0 };
	char *p, *nl;

	if (lseek(j->fd, j->off, SEEK_SET) == -1)
		return;
	/* What came whole before an error is taken all the same. */
	(void)dalle_read_fd(j->fd, &b, SIZE_MAX);
	for (p = b.p; p != NULL && p < b.p + b.len; p = nl + 1) {
		if ((nl = memchr(p, '\n', b.len - (size_t)(p - b.p))) == NULL)
			break;          /* being written: next time */
		take(j, p, (size_t)(nl - p));
		j->off += nl + 1 - p;
	}
	dalle_buf_free(&b);
}

struct dalle_journal *
dalle_journal_open(const char *path, int create, char **why)
{
	struct dalle_journal *j;
	struct stat st;
	char head[sizeof(DALLE_JOURNAL_HEAD)];
	int fd;

	*why = NULL;
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK | (create ? O_CREAT : 0), 0600);
	if (fd == -1) {
		*why = dalle_xasprintf("%s: %s", path, errno == ELOOP ?
		    "a symbolic link" : strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = dalle_xasprintf("%s: not a regular file", path);
		return NULL;
	}
	if (st.st_size == 0 && create) {
		/* Two creators may both write it: a second head is skipped. */
		if (write(fd, DALLE_JOURNAL_HEAD "\n",
		    sizeof(DALLE_JOURNAL_HEAD)) == -1 || fsync(fd) == -1) {
			*why = dalle_xasprintf("%s: %s", path,
			    strerror(errno));
			close(fd);
			return NULL;
		}
	} else if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
	    memcmp(head, DALLE_JOURNAL_HEAD "\n", sizeof(head)) != 0) {
		close(fd);
		*why = dalle_xasprintf("%s: not a journal", path);
		return NULL;
	}
	j = dalle_xcalloc(1, sizeof(*j));
	j->path = dalle_xstrdup(path);
	j->fd = fd;
	j->index = jv_object();
	j->repeats = jv_object();
	j->writers = jv_object();
	j->store = dalle_xasprintf("%s.d", path);
	j->storefd = -1;
	/* A store that is there must be fit to use before anything is
	 * sent; a missing one is made when an answer comes. */
	if (create && store_open(j, 0, why) == -1) {
		if (errno != ENOENT) {
			dalle_journal_close(j);
			return NULL;
		}
		free(*why);
		*why = NULL;
	}
	dalle_journal_refresh(j);
	return j;
}

void
dalle_journal_close(struct dalle_journal *j)
{
	if (j == NULL)
		return;
	close(j->fd);
	if (j->storefd != -1)
		close(j->storefd);
	jv_free(j->index);
	jv_free(j->repeats);
	jv_free(j->writers);
	free(j->store);
	free(j->path);
	free(j);
}

const char *
dalle_journal_path(const struct dalle_journal *j)
{
	return j->path;
}

int
dalle_journal_fd(const struct dalle_journal *j)
{
	return j->fd;
}

jv
dalle_journal_get(struct dalle_journal *j, const char *key)
{
	return jv_object_get(jv_copy(j->index), jv_string(key));
}

int
dalle_journal_add(struct dalle_journal *j, jv entry)
{
	struct dalle_buf b = { 0 };
	ssize_t k;
	size_t len;
	int e;

	entry = jv_object_set(entry, jv_string("pid"),
	    jv_number((double)getpid()));
	entry = jv_object_set(entry, jv_string("at"),
	    jv_number((double)dalle_wall_ms()));
	dalle_json_put(&b, entry);
	dalle_buf_add(&b, "\n", 1);
	len = b.len;
	k = write(j->fd, b.p, len);
	e = errno;
	dalle_buf_free(&b);
	if (k != (ssize_t)len || fsync(j->fd) == -1) {
		jv_free(entry);
		errno = k == -1 ? e : EIO;
		return -1;
	}
	/* Our own line: known now, read again later but the same. */
	take_entry(j, entry);
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		if ((k = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

char *
dalle_journal_store(struct dalle_journal *j, const char *key, const char *p,
    size_t n)
{
	char *path, *tmp;
	int dfd, fd, e;

	if ((dfd = store_open(j, 1, NULL)) == -1)
		return NULL;
	path = dalle_xasprintf("%s/%s.json", j->store, key);
	if ((fd = dalle_temp_openat(dfd, path, &tmp)) == -1) {
		free(path);
		return NULL;
	}
	fchmod(fd, 0600);
	/* The directory synced too: the new name lasts. */
	if (write_all(fd, p, n) == -1 || fsync(fd) == -1 ||
	    dalle_outpath_rename(dfd, tmp, dfd, path) == -1 ||
	    fsync(dfd) == -1) {
		e = errno;
		unlinkat(dfd, store_name(tmp), 0);
		close(fd);
		dalle_temp_done(tmp);
		free(path);
		errno = e;
		return NULL;
	}
	close(fd);
	dalle_temp_done(tmp);
	return path;
}

int
dalle_journal_load(struct dalle_journal *j, const char *path,
    struct dalle_buf *b)
{
	int dfd, fd, rc;

	if ((dfd = store_open(j, 0, NULL)) == -1 ||
	    (fd = openat(dfd, store_name(path), O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK)) == -1)
		return -1;
	rc = dalle_read_fd(fd, b, SIZE_MAX);
	close(fd);
	return rc;
}

void
dalle_journal_unstore(struct dalle_journal *j, const char *path)
{
	int dfd;

	if ((dfd = store_open(j, 0, NULL)) != -1)
		unlinkat(dfd, store_name(path), 0);
}

char *
dalle_journal_key(struct dalle_journal *j, const char *hash)
{
	jv v = jv_object_get(jv_copy(j->repeats), jv_string(hash));
	double k = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;

	jv_free(v);
	j->repeats = jv_object_set(j->repeats, jv_string(hash),
	    jv_number(k + 1));
	return k > 0 ? dalle_xasprintf("%s-%.0f", hash, k) :
	    dalle_xstrdup(hash);
}

char *
dalle_journal_writer(struct dalle_journal *j, const char *path)
{
	char real[PATH_MAX], *s = NULL;
	jv k;

	if (realpath(path, real) == NULL)
		return NULL;
	k = jv_object_get(jv_copy(j->writers), jv_string(real));
	if (jv_get_kind(k) == JV_KIND_STRING)
		s = dalle_xstrdup(jv_string_value(k));
	jv_free(k);
	return s;
}
