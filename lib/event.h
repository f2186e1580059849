/*
 * event.h: the descriptors the HTTP engine waits on: curl's sockets and
 * the caller's one descriptor.  Private to lib/ (http.c).
 */
#ifndef DALLE_EVENT_H
#define DALLE_EVENT_H

struct dalle_event;

/* A new set; it watches interrupt.c's pipe too, so that a signal ends
 * a wait. */
struct dalle_event *dalle_event_new(void);
void dalle_event_free(struct dalle_event *w);
/* Watch socket s for events (CURL_POLL_*), or stop (CURL_POLL_REMOVE);
 * known: s is being watched already. */
void dalle_event_socket(struct dalle_event *w, int s, int what, int known);
/* Watch the caller's fd for input until it is ready once, or stop (-1). */
void dalle_event_user(struct dalle_event *w, int fd);
/* Is the caller's fd one that cannot be watched (a regular file), and so
 * always counts as readable? */
int dalle_event_user_always(const struct dalle_event *w);
/* Wait up to timeout ms; hand each ready socket to ready() with its
 * CURL_CSELECT_* bits.  Returns 1 when the caller's fd is readable. */
int dalle_event_wait(struct dalle_event *w, long timeout,
    void (*ready)(void *, int, int), void *arg);

#endif
