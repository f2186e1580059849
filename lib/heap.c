/* heap.c: a binary min-heap of pointers by (key, order of pushing). */
#include <stdlib.h>

#include "heap.h"
#include "util.h"

static int
less(const struct dalle_heap_item *a, const struct dalle_heap_item *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void
swap(struct dalle_heap *h, size_t i, size_t j)
{
	struct dalle_heap_item t;

	t = h->v[i];
	h->v[i] = h->v[j];
	h->v[j] = t;
}

void
dalle_heap_push(struct dalle_heap *h, int64_t key, void *p)
{
	size_t i, up;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = dalle_xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	i = h->n++;
	h->v[i].key = key;
	h->v[i].seq = h->seq++;
	h->v[i].p = p;
	for (; i > 0 && less(&h->v[i], &h->v[up = (i - 1) / 2]); i = up)
		swap(h, i, up);
}

const struct dalle_heap_item *
dalle_heap_top(const struct dalle_heap *h)
{
	return h->n > 0 ? &h->v[0] : NULL;
}

void *
dalle_heap_pop(struct dalle_heap *h, int64_t *key)
{
	void *p;
	size_t i, l, m;

	if (h->n == 0)
		return NULL;
	p = h->v[0].p;
	if (key != NULL)
		*key = h->v[0].key;
	h->v[0] = h->v[--h->n];
	for (i = 0;; i = m) {
		l = 2 * i + 1;
		m = i;
		if (l < h->n && less(&h->v[l], &h->v[m]))
			m = l;
		if (l + 1 < h->n && less(&h->v[l + 1], &h->v[m]))
			m = l + 1;
		if (m == i)
			break;
		swap(h, i, m);
	}
	return p;
}

void
dalle_heap_free(struct dalle_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
