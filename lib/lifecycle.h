/*
 * lifecycle.h: a model's shutdown dates (lib/models.def) judged on a day:
 * active, shutting down soon, or retired.  No curl: for dalle-serve too.
 */
#ifndef DALLE_LIFECYCLE_H
#define DALLE_LIFECYCLE_H

#include <stddef.h>

#include "model.h"

/* Days before a shutdown from which a client warns. */
#define DALLE_LIFECYCLE_WARN_DAYS 30

enum dalle_life {
	DALLE_LIFE_ACTIVE,        /* no date, or more than 30 days away */
	DALLE_LIFE_SOON,          /* shuts down within 30 days */
	DALLE_LIFE_RETIRED        /* the date has come: shut down */
};

/* "YYYY-MM-DD" as days since 1970-01-01, or -1 when it is no such date. */
long dalle_lifecycle_day(const char *ymd);
/* Today (UTC) as days since 1970-01-01. */
long dalle_lifecycle_today(void);
/* The provider's name as records and --list-models spell it. */
const char *dalle_lifecycle_provider(enum dalle_provider p);
/* m on provider p on day today; *days gets the days left until the
 * shutdown (<= 0 once retired) when there is a date. */
enum dalle_life dalle_lifecycle_state(const struct dalle_model *m,
    enum dalle_provider p, long today, long *days);
/* What a user reads about a retired or retiring m, into buf: "dall-e-3
 * was shut down on OpenAI on 2026-05-12; use gpt-image-2 instead". */
void dalle_lifecycle_message(const struct dalle_model *m,
    enum dalle_provider p, long today, char *buf, size_t size);

#endif
