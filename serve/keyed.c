/*
 * keyed.c: a hash table whose entries also form a FIFO (<sys/queue.h>):
 * found by key, dropped oldest first.  No locking of its own.
 */
#include <string.h>

#include "serve.h"

static uint64_t
key_hash(const char *key)
{
	return dalle_hash(key, strlen(key), 0);
}

void
keyed_add(struct keyed *t, struct link *l, const char *key)
{
	l->key = key;
	l->hv = key_hash(key);
	SLIST_INSERT_HEAD(&t->b[l->hv % t->nb], l, hlink);
	STAILQ_INSERT_TAIL(&t->fifo, l, flink);
	t->n++;
}

struct link *
keyed_find(const struct keyed *t, const char *key)
{
	uint64_t hv = key_hash(key);
	struct link *l;

	SLIST_FOREACH(l, &t->b[hv % t->nb], hlink)
		if (l->hv == hv && strcmp(l->key, key) == 0)
			return l;
	return NULL;
}

struct link *
keyed_pop(struct keyed *t)
{
	struct link *l = STAILQ_FIRST(&t->fifo);

	if (l == NULL)
		return NULL;
	STAILQ_REMOVE_HEAD(&t->fifo, flink);
	SLIST_REMOVE(&t->b[l->hv % t->nb], l, link, hlink);
	t->n--;
	return l;
}
