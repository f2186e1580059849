/*
 * input.h: what the filters take as input before any of it is used:
 * operands that name files, the longest line, the JSON types of a
 * record's request fields.
 */
#ifndef DALLE_INPUT_H
#define DALLE_INPUT_H

#include <stddef.h>

#include <jv.h>

struct dalle_big;

/* The longest input line each program keeps by default (--max-line):
 * prompts are short; a record of real images is megabytes. */
#define DALLE_INPUT_SUBMIT_MAX_LINE (8 * 1024 * 1024)
#define DALLE_INPUT_RECORD_MAX_LINE (64 * 1024 * 1024)

/*
 * prog's operands: dalle-submit's are prompts, one that names an existing
 * file a mistake that would be billed (the words "prompts.txt" drawn),
 * and so is one word that names no file but ends in ".txt", ".jsonl" and
 * the like (a mistyped file name);
 * dalle-poll's and dalle-fetch's are records, URLs or ids, and a file
 * name among them was meant as their input.  Either dies with 64 and a
 * hint; so does "-" beside other operands.  file: -f's argument or NULL:
 * made stdin ("-": stdin as it is), dies with 66 if it cannot be opened,
 * 64 with operands too.
 */
void dalle_input_operands(const char *prog, int argc, char *argv[],
    const char *file);
/*
 * A request field of rec (borrowed) whose JSON type is wrong: "n" and the
 * other numbers must be numbers, "deployment", "model", "size" and the
 * other words strings (null counts as absent).  Returns NULL, or a
 * malloc'd sentence saying which field and what it should be.
 */
char *dalle_input_types(jv rec);
/*
 * What makes a prompt line ambiguous or not text, before it is billed: a
 * line that is not UTF-8 (the service would see other words), a JSON
 * object that names one key twice (which one counts is a guess: rec is
 * the parsed object, or jv_invalid() for a plain line), a prompt with a
 * NUL character.  A malloc'd sentence, or NULL when the line is sound.
 */
char *dalle_input_text(const struct dalle_big *big, const char *s, size_t n,
    jv rec);
/* The part of dalle_input_text that holds for any record, a stage's
 * input too: UTF-8, and no top-level key twice.  big: the strings
 * dalle_big_parse lifted out of s (NULL: none), not looked at again. */
char *dalle_input_record(const struct dalle_big *big, const char *s,
    size_t n, jv rec);

#endif
