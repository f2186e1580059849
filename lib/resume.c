/*
 * resume.c: skip before paying.  A request is looked up, by its key, in
 * the journal (read again first: other processes may share it), and its
 * images' names, by the template, on disk; only when neither holds it is
 * it sent.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

int
dalle_resume_open(struct dalle_resume *rs, const char *path, char **why)
{
	char *dir = NULL, *p, real[PATH_MAX];

	*why = NULL;
	if (rs->files)
		dalle_resume_sweep(rs->dir, rs->tmpl);
	if (path == NULL && !rs->files)
		return 0;
	if (path == NULL) {
		dir = dalle_name_dir(rs->dir, rs->tmpl);
		p = dalle_xasprintf("%s%s%s", dir, *dir && dir[strlen(dir) -
		    1] != '/' ? "/" : "", DALLE_JOURNAL_NAME);
		free(dir);
	} else
		p = dalle_xstrdup(path);
	if (dalle_mkdirs(p) == -1) {
		*why = dalle_xasprintf("%s: %s", p, strerror(errno));
		free(p);
		return -1;
	}
	/* Opened by its whole path: the records name it, and a stage may
	 * run elsewhere. */
	rs->journal = dalle_journal_open(p, 1, why);
	if (rs->journal != NULL && realpath(p, real) != NULL) {
		dalle_journal_close(rs->journal);
		rs->journal = dalle_journal_open(real, 1, why);
	}
	if (rs->journal != NULL)
		rs->abspath = dalle_xstrdup(dalle_journal_path(rs->journal));
	free(p);
	return rs->journal != NULL ? 0 : -1;
}

void
dalle_resume_close(struct dalle_resume *rs)
{
	dalle_journal_close(rs->journal);
	rs->journal = NULL;
	free(rs->abspath);
	rs->abspath = NULL;
}

/* Is the file at path this request's (request borrowed)?  Its provenance
 * decides when it names a request; else a name made of the request's
 * hash or key (by_name), else the journal: were this request's images
 * the last it says were written there? */
static int
mine(struct dalle_resume *rs, const char *path, jv request, int by_name)
{
	const char *key = dalle_record_str(request, "key");
	int o = dalle_owner_of(path, dalle_record_str(request, "hash"));
	char *w;

	if (o != -1 || by_name)
		return o != 0;
	w = rs->journal != NULL && key != NULL ?
	    dalle_journal_writer(rs->journal, path) : NULL;
	o = w != NULL && strcmp(w, key) == 0;
	free(w);
	return o;
}

/* The files of paths (an array, consumed) when every one is a complete
 * image made for request (see mine), else jv_invalid(). */
static jv
all_there(struct dalle_resume *rs, jv paths, jv request, int by_name)
{
	jv files = jv_array(), f;
	int i, n = jv_array_length(jv_copy(paths));

	for (i = 0; i < n && jv_is_valid(files); i++) {
		jv p = jv_array_get(jv_copy(paths), i);

		f = jv_get_kind(p) == JV_KIND_STRING ?
		    dalle_name_existing(jv_string_value(p), i) : jv_invalid();
		if (jv_get_kind(f) == JV_KIND_OBJECT &&
		    dalle_record_str(f, "format") != NULL &&
		    mine(rs, jv_string_value(p), request, by_name))
			/* Listed as dalle-fetch lists a file: with its sum. */
			files = jv_array_append(files,
			    dalle_digest_entry(f, jv_string_value(p)));
		else {
			jv_free(f);
			jv_free(files);
			files = jv_invalid();
		}
		jv_free(p);
	}
	jv_free(paths);
	if (n == 0) {
		jv_free(files);
		return jv_invalid();
	}
	return files;
}

/* The paths the template gives rec's n images, or jv_invalid() when a
 * name depends on the answer or on a field rec lacks; *by_request set
 * when every one is made of the request's hash or key. */
static jv
names(struct dalle_resume *rs, jv rec, const struct dalle_big *big, int n,
    const char *ext, int *by_request)
{
	struct dalle_name nm;
	jv paths = jv_array();
	char *p, *why;
	int i;

	memset(&nm, 0, sizeof(nm));
	nm.rec = rec;
	nm.big = big;
	nm.dir = rs->dir;
	nm.tmpl = rs->tmpl;
	nm.predict = 1;
	*by_request = 1;
	for (i = 0; i < n; i++) {
		nm.by_request = 0;
		p = dalle_name_path(&nm, i, n > 1, ext, &why);
		*by_request = *by_request && nm.by_request;
		if (p == NULL) {
			free(why);
			jv_free(paths);
			paths = jv_invalid();
			break;
		}
		paths = jv_array_append(paths, jv_string(p));
		free(p);
	}
	dalle_name_free(&nm);
	return paths;
}

/* The record of an answer the journal kept for key: rec with its data. */
static jv
stored(struct dalle_journal *j, jv rec, const char *path)
{
	struct dalle_buf b = { 0 };
	jv body, data;

	if (dalle_journal_load(j, path, &b) == -1) {
		dalle_buf_free(&b);
		jv_free(rec);
		return jv_invalid();
	}
	body = jv_parse_sized(b.p ? b.p : "", (int)b.len);
	dalle_buf_free(&b);
	data = dalle_record_get(body, "data");
	if (jv_get_kind(data) != JV_KIND_ARRAY) {
		jv_free(data);
		jv_free(body);
		jv_free(rec);
		return jv_invalid();
	}
	rec = dalle_batch_merge(rec, body, data);
	jv_free(body);
	return rec;
}

/* to (consumed) with the "operation" and "status" of from (borrowed), or
 * jv_invalid() when from has no operation. */
static jv
with_operation(jv to, jv from)
{
	jv v = dalle_record_get(from, "operation");

	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		jv_free(to);
		return jv_invalid();
	}
	to = jv_object_set(to, jv_string("operation"), v);
	return jv_object_set(to, jv_string("status"), dalle_record_get(from,
	    "status"));
}

int
dalle_resume_check(struct dalle_resume *rs, struct dalle_loop *lp, jv *rec,
    const struct dalle_big *big, jv *request, int n, const char *ext)
{
	char *key;

	if (rs->journal != NULL) {
		key = dalle_journal_key(rs->journal, dalle_record_str(*request,
		    "hash"));
		*request = jv_object_set(*request, jv_string("key"),
		    jv_string(key));
		*request = jv_object_set(*request, jv_string("journal"),
		    jv_string(rs->abspath));
		free(key);
	}
	return dalle_resume_lookup(rs, lp, lp->cur, *rec, big, *request, n,
	    ext);
}

int
dalle_resume_lookup(struct dalle_resume *rs, struct dalle_loop *lp,
    struct dalle_loop_id id, jv rec, const struct dalle_big *big,
    jv request, int n, const char *ext)
{
	jv st = jv_invalid(), files = jv_invalid(), r, v;
	const char *key = dalle_record_str(request, "key");
	int by_name;

	if (rs->journal != NULL && key != NULL) {
		dalle_journal_refresh(rs->journal);
		st = dalle_journal_get(rs->journal, key);
	}
	r = jv_object_set(jv_copy(rec), jv_string("request"),
	    jv_copy(request));
	/* The names as the user gave them, else where the journal says. */
	if (rs->files) {
		v = names(rs, r, big, n, ext, &by_name);
		files = jv_is_valid(v) ? all_there(rs, v, request, by_name) :
		    v;
	}
	if (!jv_is_valid(files) && jv_is_valid(st)) {
		jv_free(files);
		v = dalle_record_get(st, "written");
		files = jv_get_kind(v) == JV_KIND_ARRAY ? all_there(rs, v,
		    request, 0) : (jv_free(v), jv_invalid());
	}
	if (jv_is_valid(files)) {
		/* Done before: nothing to pay, nothing to fetch. */
		r = jv_object_set(r, jv_string("skipped"), jv_true());
		r = jv_object_set(r, jv_string("files"), files);
		jv_free(st);
		dalle_loop_write(lp, id, r, big);
		return 1;
	}
	if (!jv_is_valid(st) || jv_get_kind(v = dalle_record_get(st,
	    "written")) == JV_KIND_ARRAY) {
		/* Never accepted, or written and the files gone since. */
		if (jv_is_valid(st))
			jv_free(v);
		jv_free(st);
		jv_free(r);
		return 0;
	}
	jv_free(v);
	if (dalle_record_str(st, "result") != NULL)
		r = stored(rs->journal, r, dalle_record_str(st, "result"));
	else
		r = with_operation(r, st);
	jv_free(st);
	if (!jv_is_valid(r)) {
		jv_free(r);
		return 0;               /* the kept answer is lost: send */
	}
	r = jv_object_set(r, jv_string("resumed"), jv_true());
	dalle_loop_write(lp, id, r, big);
	return 1;
}

int
dalle_resume_accepted(struct dalle_resume *rs, jv rec, const char *p,
    size_t n)
{
	jv req = dalle_record_get(rec, "request"), e, v;
	const char *key = dalle_record_str(req, "key");
	char *path = NULL;
	int rc = 0;

	if (rs->journal == NULL || key == NULL) {
		jv_free(req);
		return 0;
	}
	e = JV_OBJECT(jv_string("key"), jv_string(key), jv_string("hash"),
	    dalle_record_get(req, "hash"));
	v = with_operation(jv_copy(e), rec);
	if (jv_is_valid(v)) {
		jv_free(e);
		e = v;
	} else {
		if ((path = dalle_journal_store(rs->journal, key, p, n)) ==
		    NULL)
			rc = -1;
		else
			e = jv_object_set(e, jv_string("result"),
			    jv_string(path));
	}
	if (rc == 0 && dalle_journal_add(rs->journal, e) == -1) {
		e = jv_null();
		rc = -1;
	}
	if (rc == -1) {
		warn("%s: the answer to %s is not journaled",
		    dalle_journal_path(rs->journal), key);
		jv_free(e);
	}
	free(path);
	jv_free(req);
	return rc;
}

int
dalle_resume_skipped(struct dalle_loop *lp, jv rec, struct dalle_big *big,
    int paths_only)
{
	struct dalle_buf b = { 0 };
	jv v = dalle_record_get(rec, "skipped"), files, f;
	int i, n;

	if (jv_get_kind(v) != JV_KIND_TRUE) {
		jv_free(v);
		return 0;
	}
	jv_free(v);
	if (paths_only) {
		files = dalle_record_get(rec, "files");
		n = jv_get_kind(files) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(files)) : 0;
		for (i = 0; i < n; i++) {
			f = jv_array_get(jv_copy(files), i);
			if (dalle_record_str(f, "path") != NULL) {
				dalle_buf_adds(&b, dalle_record_str(f, "path"));
				dalle_buf_adds(&b, "\n");
			}
			jv_free(f);
		}
		jv_free(files);
		jv_free(rec);
		dalle_loop_emit(lp, lp->cur, b.p, b.len);
		dalle_buf_free(&b);
	} else
		dalle_loop_write(lp, lp->cur, rec, big);
	dalle_big_free(big);
	return 1;
}

/* The journal at path, opened once: made by --journal, else only an
 * existing journal (a record cannot name any other file). */
static struct dalle_journal *
fetch_journal(const char *path, int create)
{
	static struct dalle_journal *j;
	static char *last;
	char *why;

	if (last != NULL && strcmp(last, path) == 0)
		return j;
	dalle_journal_close(j);
	free(last);
	last = dalle_xstrdup(path);
	if ((j = dalle_journal_open(path, create, &why)) == NULL) {
		warnx("%s", why);
		free(why);
	}
	return j;
}

/* The journal of a record's request (req, borrowed): path (--journal),
 * else the record's, which must be a journal already; NULL when none. */
static struct dalle_journal *
record_journal(const char *path, jv req)
{
	const char *named = dalle_record_str(req, "journal");

	if (path == NULL)
		path = named;
	if (dalle_record_str(req, "key") == NULL || path == NULL)
		return NULL;
	return fetch_journal(path, path != named);
}

int
dalle_resume_writer(const char *path, jv rec, const char *file)
{
	jv req = dalle_record_get(rec, "request");
	struct dalle_journal *j = record_journal(path, req);
	char *w = NULL;
	int rc;

	if (j != NULL) {
		dalle_journal_refresh(j);
		w = dalle_journal_writer(j, file);
	}
	rc = w == NULL ? -1 : strcmp(w, dalle_record_str(req, "key")) == 0;
	free(w);
	jv_free(req);
	return rc;
}

void
dalle_resume_written(const char *path, jv rec, jv files)
{
	struct dalle_journal *j;
	jv req = dalle_record_get(rec, "request"), paths = jv_array(), f, st;
	const char *key = dalle_record_str(req, "key");
	char real[PATH_MAX];
	int i, lost = jv_get_kind(files) == JV_KIND_NULL;
	int n = lost ? 1 : jv_array_length(jv_copy(files));

	if (n == 0 || (j = record_journal(path, req)) == NULL) {
		jv_free(paths);
		jv_free(req);
		return;
	}
	for (i = 0; i < n && !lost; i++) {
		f = jv_array_get(jv_copy(files), i);
		/* Whole paths: the next run may start elsewhere. */
		paths = jv_array_append(paths, jv_string(realpath(
		    dalle_record_str(f, "path"), real) ? real :
		    dalle_record_str(f, "path")));
		jv_free(f);
	}
	dalle_journal_refresh(j);
	st = dalle_journal_get(j, key);
	if (dalle_journal_add(j, JV_OBJECT(jv_string("key"), jv_string(key),
	    jv_string(lost ? "lost" : "written"), lost ? (jv_free(paths),
	    jv_true()) : paths)) == -1)
		warn("%s", dalle_journal_path(j));
	else if (jv_is_valid(st) && dalle_record_str(st, "result") != NULL)
		dalle_journal_unstore(j, dalle_record_str(st, "result"));
	jv_free(st);
	jv_free(req);
}

void
dalle_resume_sweep(const char *dir, const char *tmpl)
{
	char *d = dalle_name_dir(dir, tmpl);

	dalle_stale_sweep(*d ? d : ".");
	free(d);
}
