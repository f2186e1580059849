/*
 * event.c: the descriptors the HTTP engine waits on.  curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION); we wait on them with epoll
 * (poll(2) where there is none) and hand curl only the sockets that are
 * ready, so a wake-up costs the same with 1 or 1,000 transfers in flight.
 * The caller's one descriptor (stdin) is watched beside them.
 */
#ifdef __linux__
#include <sys/epoll.h>
#else
#include <poll.h>
#endif

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "event.h"
#include "interrupt.h"
#include "util.h"

/*
 * The descriptors we wait on: curl's sockets, as its socket callback asks,
 * and the caller's one descriptor, armed only while the caller wants it.
 */
#define USER_TAG ((uint64_t)1 << 32)
#define WAKE_TAG ((uint64_t)2 << 32)

/* A signal came (interrupt.c): empty its pipe; the loop reads the flag. */
static void
woken(void)
{
	char b[64];

	while (read(dalle_interrupt_fd(), b, sizeof(b)) > 0)
		;
}

struct dalle_event {
	int user;                 /* the caller's descriptor, or -1 */
	int user_armed;           /* epoll: armed, one shot */
	int user_always;          /* cannot be watched (a regular file) */
#ifdef __linux__
	int ep;
#else
	struct pollfd *fds;       /* curl's sockets */
	struct pollfd *polled;    /* what one wait polls: fds and user */
	size_t n, cap;
#endif
};

/* What curl_multi_socket_action wants to hear of a ready socket. */
static int
cselect(int in, int out, int error)
{
	return (in ? CURL_CSELECT_IN : 0) | (out ? CURL_CSELECT_OUT : 0) |
	    (error ? CURL_CSELECT_ERR : 0);
}

#ifdef __linux__
/*
 * SIGINT, SIGTERM and SIGHUP wake the wait through interrupt.c's pipe,
 * watched beside everything else: the loop then accounts for every
 * record it holds before it ends.
 */
struct dalle_event *
dalle_event_new(void)
{
	struct dalle_event *w = dalle_xcalloc(1, sizeof(*w));
	struct epoll_event ev;

	w->user = -1;
	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(DALLE_EX_OSERR, "epoll_create1");
	if (dalle_interrupt_fd() >= 0) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = WAKE_TAG;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, dalle_interrupt_fd(),
		    &ev) == -1)
			err(DALLE_EX_OSERR, "epoll_ctl");
	}
	return w;
}

void
dalle_event_free(struct dalle_event *w)
{
	close(w->ep);
	free(w);
}

void
dalle_event_socket(struct dalle_event *w, int s, int what, int known)
{
	struct epoll_event ev;

	if (what == CURL_POLL_REMOVE) {
		/* curl may already have closed it: nothing to undo then. */
		epoll_ctl(w->ep, EPOLL_CTL_DEL, s, NULL);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
	    (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	ev.data.u64 = (uint64_t)s;
	if (epoll_ctl(w->ep, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
	    &ev) == -1 && (errno != (known ? ENOENT : EEXIST) ||
	    epoll_ctl(w->ep, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s,
	    &ev) == -1))
		err(DALLE_EX_OSERR, "epoll_ctl");
}

void
dalle_event_user(struct dalle_event *w, int fd)
{
	struct epoll_event ev;

	if (fd == w->user && (fd == -1 || w->user_armed || w->user_always))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = USER_TAG;
	if (fd != w->user) {
		if (w->user >= 0 && !w->user_always)
			epoll_ctl(w->ep, EPOLL_CTL_DEL, w->user, NULL);
		w->user = fd;
		w->user_armed = w->user_always = 0;
		if (fd == -1)
			return;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			/* A regular file or /dev/null: always readable. */
			if (errno != EPERM)
				err(DALLE_EX_OSERR, "epoll_ctl");
			w->user_always = 1;
			return;
		}
	} else if (epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev) == -1)
		err(DALLE_EX_OSERR, "epoll_ctl");
	w->user_armed = 1;
}

int
dalle_event_wait(struct dalle_event *w, long timeout,
    void (*ready)(void *, int, int), void *arg)
{
	struct epoll_event ev[64];
	int i, n, user = 0;

	n = epoll_wait(w->ep, ev, 64, (int)timeout);
	if (n == -1 && errno != EINTR)
		err(DALLE_EX_OSERR, "epoll_wait");
	for (i = 0; i < n; i++) {
		if (ev[i].data.u64 == WAKE_TAG) {
			woken();
			continue;
		}
		if (ev[i].data.u64 == USER_TAG) {
			w->user_armed = 0;
			user = 1;
			continue;
		}
		ready(arg, (int)ev[i].data.u64, cselect(ev[i].events &
		    (EPOLLIN | EPOLLHUP), ev[i].events & EPOLLOUT,
		    ev[i].events & EPOLLERR));
	}
	return user;
}
#else
struct dalle_event *
dalle_event_new(void)
{
	struct dalle_event *w = dalle_xcalloc(1, sizeof(*w));

	w->user = -1;
	return w;
}

void
dalle_event_free(struct dalle_event *w)
{
	free(w->fds);
	free(w->polled);
	free(w);
}

void
dalle_event_socket(struct dalle_event *w, int s, int what, int known)
{
	size_t i;

	(void)known;
	for (i = 0; i < w->n && w->fds[i].fd != s; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < w->n)
			w->fds[i] = w->fds[--w->n];
		return;
	}
	if (i == w->n) {
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 16;
			w->fds = dalle_xrealloc(w->fds,
			    w->cap * sizeof(*w->fds));
		}
		w->n++;
	}
	w->fds[i].fd = s;
	w->fds[i].events = (what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0);
}

void
dalle_event_user(struct dalle_event *w, int fd)
{
	w->user = fd;
}

int
dalle_event_wait(struct dalle_event *w, long timeout,
    void (*ready)(void *, int, int), void *arg)
{
	size_t i, n = w->n;
	int user = 0;
	short re;

	/* Poll a copy: ready() may change the set as it goes. */
	w->polled = dalle_xrealloc(w->polled, (n + 2) * sizeof(*w->polled));
	if (n > 0)
		memcpy(w->polled, w->fds, n * sizeof(*w->polled));
	if (w->user >= 0) {
		w->polled[n].fd = w->user;
		w->polled[n].events = POLLIN;
		n++;
	}
	if (dalle_interrupt_fd() >= 0) {
		w->polled[n].fd = dalle_interrupt_fd();
		w->polled[n].events = POLLIN;
		n++;
	}
	if (poll(w->polled, n, (int)timeout) == -1 && errno != EINTR)
		err(DALLE_EX_OSERR, "poll");
	for (i = 0; i < n; i++) {
		if ((re = w->polled[i].revents) == 0)
			continue;
		if (w->polled[i].fd == dalle_interrupt_fd()) {
			woken();
			continue;
		}
		if (i == w->n && w->user >= 0) {
			user = 1;
			continue;
		}
		ready(arg, w->polled[i].fd, cselect(re & (POLLIN | POLLHUP),
		    re & POLLOUT, re & (POLLERR | POLLNVAL)));
	}
	return user;
}
#endif

int
dalle_event_user_always(const struct dalle_event *w)
{
	return w->user_always;
}
