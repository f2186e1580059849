/* modellist.h: dalle-submit --list-models, the table and the service's
 * own dates.  For the filters (uses the HTTP engine). */
#ifndef DALLE_MODELLIST_H
#define DALLE_MODELLIST_H

#include <stdio.h>

#include <jv.h>

#include "conf.h"
#include "model.h"

/* One model of the table as a --list-models line (owned). */
jv dalle_modellist_entry(const struct dalle_model *m);
/* Print every model as one JSON object a line on out.  With an OpenAI key
 * configured (the OpenAI API chosen), GET {base}/models first and take its
 * shutdown_date over the table's ("source": "service"), and add the image
 * models the service lists that the table lacks.  Returns 0, or the exit
 * status of the failed request (the table is printed all the same). */
int dalle_modellist_print(const struct dalle_conf *c, FILE *out);

#endif
