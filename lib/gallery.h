/*
 * gallery.h: final records as one self-contained HTML page, written as
 * the records come (dalle-gallery(1)).  Everything from a record is
 * untrusted text: escaped for HTML, and a link is a relative path, an
 * http(s) URL or a file: URL, percent-encoded.  No curl.
 */
#ifndef DALLE_GALLERY_H
#define DALLE_GALLERY_H

#include <stddef.h>
#include <stdio.h>

#include <jv.h>

#include "big.h"

struct dalle_gallery_opts {
	const char *title;        /* the page's title, or NULL */
	const char *base;         /* prefix of relative image paths, or NULL */
	int inline_images;        /* b64_json without a file as data: URLs */
};

/* Why a page may not link to base (static), or NULL when it may: a path
 * or an http, https or file URL. */
const char *dalle_gallery_base_check(const char *base);

struct dalle_gallery;
/* A page on out (borrowed until dalle_gallery_end); its head is written
 * at once.  NULL with *why (static) when no temporary file could be
 * made.  opts->base must have passed dalle_gallery_base_check. */
struct dalle_gallery *dalle_gallery_new(FILE *out,
    const struct dalle_gallery_opts *opts, const char **why);
/* One record (borrowed), its big strings in big (or NULL): a card with
 * its images, and a row of the failures' table when it failed, where
 * source:lineno names it. */
void dalle_gallery_record(struct dalle_gallery *g, jv rec,
    const struct dalle_big *big, const char *source, long lineno);
/* An input line that is no record: a row of the failures' table, with
 * why and the line's start (n bytes at s, of which 64 are shown). */
void dalle_gallery_bad_line(struct dalle_gallery *g, const char *source,
    long lineno, const char *why, const char *s, size_t n);
/* The failures' table and the totals, then free g.  0, or -1 when
 * writing failed (errno set). */
int dalle_gallery_end(struct dalle_gallery *g);

/* n bytes of text as HTML text or attribute value: & < > " ' as
 * references, control characters as U+FFFD. */
void dalle_gallery_text(FILE *out, const char *s, size_t n);
/* A relative or absolute file path as a URL (absolute: file://),
 * percent-encoded but for letters, digits, "-._~/"; base (or NULL) goes
 * before a relative one.  HTML-safe as it is.  malloc'd. */
char *dalle_gallery_path_url(const char *path, size_t n, const char *base);

#endif
