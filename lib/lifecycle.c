/*
 * lifecycle.c: shutdown dates judged on a day.  Dates are whole UTC days:
 * a model is shut down from its date on, as the providers' tables say.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lifecycle.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long
days_from_civil(long y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

long
dalle_lifecycle_day(const char *ymd)
{
	static const int mdays[] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int y, m, d, n = 0, i;

	if (ymd == NULL || strlen(ymd) != 10)
		return -1;
	for (i = 0; i < 10; i++)
		if ((i == 4 || i == 7) ? ymd[i] != '-' :
		    (ymd[i] < '0' || ymd[i] > '9'))
			return -1;
	if (sscanf(ymd, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 ||
	    m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || y < 1970)
		return -1;
	if (m == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 &&
	    y % 400 != 0)))
		return -1;
	return days_from_civil(y, m, d);
}

long
dalle_lifecycle_today(void)
{
	return (long)(time(NULL) / 86400);
}

const char *
dalle_lifecycle_provider(enum dalle_provider p)
{
	return p == DALLE_PROVIDER_AZURE ? "azure" : "openai";
}

enum dalle_life
dalle_lifecycle_state(const struct dalle_model *m, enum dalle_provider p,
    long today, long *days)
{
	long day = dalle_lifecycle_day(m->shutdown[p]);

	if (day < 0)
		return DALLE_LIFE_ACTIVE;
	if (days != NULL)
		*days = day - today;
	if (day <= today)
		return DALLE_LIFE_RETIRED;
	if (day - today <= DALLE_LIFECYCLE_WARN_DAYS)
		return DALLE_LIFE_SOON;
	return DALLE_LIFE_ACTIVE;
}

void
dalle_lifecycle_message(const struct dalle_model *m, enum dalle_provider p,
    long today, char *buf, size_t size)
{
	const char *who = p == DALLE_PROVIDER_AZURE ? "Azure" : "OpenAI";
	long days = 0;
	int n;

	if (dalle_lifecycle_state(m, p, today, &days) == DALLE_LIFE_RETIRED)
		n = snprintf(buf, size, "%s was shut down on %s on %s", m->name,
		    who, m->shutdown[p]);
	else
		n = snprintf(buf, size, "%s shuts down on %s on %s (in %ld "
		    "day%s)", m->name, who, m->shutdown[p], days,
		    days == 1 ? "" : "s");
	if (n < 0 || (size_t)n >= size || *m->replacement == '\0')
		return;
	snprintf(buf + n, size - (size_t)n, "; use %s instead",
	    m->replacement);
}
