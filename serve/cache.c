/*
 * cache.c: rendered images, shared by reference.  The newest stay while
 * they fit in --cache-size; a dropped entry lives on until its last user
 * gives it back.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define CACHE_BUCKETS 4096

static struct bucket cache_b[CACHE_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
	size_t bytes;
} cache = { PTHREAD_MUTEX_INITIALIZER, KEYED_INIT(cache_b, cache.t), 0 };

static void
cent_free(struct cent *c)
{
	free(c->key);
	free(c->data);
	free(c);
}

void
cache_release(struct cent *c)
{
	int last;

	pthread_mutex_lock(&cache.mu);
	last = --c->refs == 0 && c->dead;
	pthread_mutex_unlock(&cache.mu);
	if (last)
		cent_free(c);
}

/* Drop the oldest entries until the cache fits.  Called locked. */
static void
cache_trim(void)
{
	struct cent *c;

	while (cache.bytes > opt.cache_bytes &&
	    (c = (struct cent *)keyed_pop(&cache.t)) != NULL) {
		cache.bytes -= c->len;
		c->dead = 1;
		if (c->refs == 0)
			cent_free(c);
	}
}

struct cent *
cache_get(const char *prompt, int idx, int w, int h, const char *fmt,
    int quality, int transparent)
{
	struct cent *c;
	char *key, *variant;
	unsigned char *data;
	size_t len;

	if (opt.image_scale > 1) {
		w = w / opt.image_scale > 0 ? w / opt.image_scale : 1;
		h = h / opt.image_scale > 0 ? h / opt.image_scale : 1;
	}
	if (strcmp(fmt, "png") != 0)
		transparent = 0;
	else
		quality = 0;
	key = dalle_xasprintf("%dx%d/%s/%d/%d/%d/%s", w, h, fmt, quality,
	    transparent, idx, prompt);
	pthread_mutex_lock(&cache.mu);
	if ((c = (struct cent *)keyed_find(&cache.t, key)) != NULL) {
		c->refs++;
		pthread_mutex_unlock(&cache.mu);
		free(key);
		stats_add(&st.cache_hits, 1);
		return c;
	}
	pthread_mutex_unlock(&cache.mu);
	stats_add(&st.cache_misses, 1);
	/* Each image of a request differs; image 0 is the prompt's own. */
	variant = idx == 0 ? dalle_xstrdup(prompt) :
	    dalle_xasprintf("%s\n#%d", prompt, idx);
	/* --image-bytes is set once, so the key need not hold it. */
	data = paint_image(variant, w, h, fmt, quality, transparent,
	    opt.image_bytes, &len);
	free(variant);
	if (data == NULL) {
		free(key);
		return NULL;
	}
	c = dalle_xcalloc(1, sizeof(*c));
	c->key = key;
	c->data = data;
	c->len = len;
	c->refs = 1;
	pthread_mutex_lock(&cache.mu);
	if (len <= opt.cache_bytes) {
		/* The table holds it without a reference: cache_trim marks
		 * it dead, and the last cache_release frees it. */
		keyed_add(&cache.t, &c->l, c->key);
		cache.bytes += len;
		cache_trim();
	} else
		c->dead = 1;
	pthread_mutex_unlock(&cache.mu);
	return c;
}

void
cache_usage(size_t *bytes, size_t *entries)
{
	pthread_mutex_lock(&cache.mu);
	*bytes = cache.bytes;
	*entries = cache.t.n;
	pthread_mutex_unlock(&cache.mu);
}
