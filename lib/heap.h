/*
 * heap.h: a binary min-heap of pointers by an integer key (a time, mostly),
 * first in first out among equal keys.  For the HTTP engine's queues and
 * dalle-serve's timers; no locking of its own.
 */
#ifndef DALLE_HEAP_H
#define DALLE_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct dalle_heap_item {
	int64_t key;
	uint64_t seq;             /* order of pushing, for ties */
	void *p;                  /* the caller's; may be NULL */
};

struct dalle_heap {
	struct dalle_heap_item *v;
	size_t n, cap;
	uint64_t seq;
};

#define DALLE_HEAP_INIT { NULL, 0, 0, 0 }

/* Add p under key; dies on OOM. */
void dalle_heap_push(struct dalle_heap *h, int64_t key, void *p);
/* The item with the least key (borrowed until the next push or pop), or
 * NULL when the heap is empty. */
const struct dalle_heap_item *dalle_heap_top(const struct dalle_heap *h);
/* Remove the item with the least key and return its pointer (NULL when
 * empty; *key, when given, gets its key). */
void *dalle_heap_pop(struct dalle_heap *h, int64_t *key);
/* Free the heap's array (not what the pointers point to). */
void dalle_heap_free(struct dalle_heap *h);

#endif
