/*
 * name.h: the name template of dalle-fetch's -o: a record's image made a
 * path below a directory, every value from the record one safe path
 * component.  No curl.
 */
#ifndef DALLE_NAME_H
#define DALLE_NAME_H

#include <jv.h>

#include "big.h"

/*
 * The path of image index of rec (borrowed; its big strings in big) for
 * template tmpl (NULL: "{name}.{ext}") below dir ("." for none):
 * {name} {i} {id} {hash} {ext}, and {FIELD} for any other field of the
 * record.  When multi (the record has several images) and the template
 * has no {i}, "-INDEX" goes before the file's extension.  *datahash
 * caches the hash of the record's images ({id} of a record without an
 * operation id): NULL at first, then malloc'd, freed by the caller.
 * Returns malloc'd, or NULL with *why (malloc'd) when the record lacks a
 * field the template names.
 */
char *dalle_name_expand(const char *dir, const char *tmpl,
    const struct dalle_big *big, jv rec, char **datahash, int index,
    int multi, const char *ext, char **why);

#endif
