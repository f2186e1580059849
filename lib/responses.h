/*
 * responses.h: background responses (OpenAI's Responses API, and Azure's
 * v1 route): the body that asks for one image with the image_generation
 * tool, the operation a record keeps, and the final record made from a
 * response that ended.  No curl.
 */
#ifndef DALLE_RESPONSES_H
#define DALLE_RESPONSES_H

#include <jv.h>

#include "model.h"

#define DALLE_RESPONSES_MODEL "gpt-5"       /* the default mainline model */
#define DALLE_RESPONSES_IMAGE_MODEL "gpt-image-2"
#define DALLE_OP_RESPONSE "openai-response" /* its operation.kind */

/* What the image tool cannot take of a checked generation body
 * (borrowed): 0, or -1 with e filled. */
int dalle_responses_check(jv gen, struct dalle_model_err *e);
/* The Responses API body for a checked generation body gen (consumed):
 * mainline as model, the prompt as input, background true, and one
 * image_generation tool with gen's image model and options. */
jv dalle_responses_body(jv gen, const char *mainline);
/* The operation of a response just created (body borrowed) by a POST to
 * url: kind, id and the URL to poll; jv_invalid() when it has no id. */
jv dalle_responses_operation(jv body, const char *url);
/* 1 when a response with this status has ended. */
int dalle_responses_final(const char *status);
/*
 * The final record for a response that ended (body borrowed; its big
 * strings stay where they are): rec (consumed) with status ("succeeded"
 * for "completed", else the service's), and for "completed" the image as a synchronous b64 result: data [{"b64_json",
 * "revised_prompt"}], usage, size, quality, output_format, background.
 * *e is jv_invalid() then, else the error object for the record.
 */
jv dalle_responses_record(jv rec, jv body, int polls, jv *e);
/* The first item of obj's array key whose "type" is type, or null.
 * Borrows obj. */
jv dalle_responses_find(jv obj, const char *key, const char *type);
/* The error for a response the service no longer has. */
jv dalle_responses_expired(int polls);
/* The URL that cancels the response polled at url (malloc'd). */
char *dalle_responses_cancel_url(const char *url);

#endif
