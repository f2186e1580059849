/*
 * cost.h: what images cost, estimated from a dated price table (JSON,
 * share/prices.json): per token from an answer's "usage", else per image
 * by model, size and quality; half in a batch.  See dalle(7), "cost".
 */
#ifndef DALLE_COST_H
#define DALLE_COST_H

#include <stdio.h>

#include <jv.h>

/*
 * Reads the price table once: $DALLE_PRICES, else DALLE_DATADIR's
 * prices.json (the installed copy), else ../share/dalle-tools/prices.json
 * or share/prices.json beside the running program, else the copy built
 * in.  0, or -1 with *why (owned) when the file found cannot be read or is
 * no price table.  Called on first use if not before.
 */
int dalle_cost_init(char **why);

/*
 * The cost object of n images that model made: from usage (borrowed;
 * jv_null() for none) at the table's prices per token, else at its price
 * per image of size and quality (NULL: not known); half when batch.
 * "usd" is null, with a "reason", when the table has no figure for it.
 */
jv dalle_cost_of(const char *model, jv usage, const char *size,
    const char *quality, int n, int batch);

/*
 * rec (consumed) with its "cost" unless it has one already: the model
 * from request.model, else the record's model or deployment, else asked's
 * "model"; size and quality the record's, else asked's; n the items of
 * "data"; a batch when its operation is one.  asked is borrowed
 * (jv_null() for nothing more).
 */
jv dalle_cost_add(jv rec, jv asked);

/*
 * --dry-run: rec (consumed) with the estimated cost of sending body
 * (borrowed) to model, per image; the run's total kept for
 * dalle_cost_total.
 */
jv dalle_cost_estimate(jv rec, const char *model, jv body, int batch);

/* The total of the estimates so far, one line "prog: ..." on fp; nothing
 * when there were none. */
void dalle_cost_total(FILE *fp, const char *prog);

/* rec's cost.usd, 0 when it has none or null.  Consumes rec. */
double dalle_cost_usd(jv rec);

#endif
