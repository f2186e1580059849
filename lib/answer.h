/* answer.h: what an answer may be before its body is taken. */
#ifndef DALLE_ANSWER_H
#define DALLE_ANSWER_H

/* The largest API answer taken when a transfer sets no cap. */
#define DALLE_ANSWER_MAX ((long long)64 << 20)

/*
 * Why a 2xx answer with Content-Type ctype and Content-Encoding cenc
 * (each NULL when absent) is refused, or NULL when it is fine.  An image
 * download (image) takes an image type or octet-stream and no encoding,
 * since it asked for none; an API answer (stream: an event stream) takes
 * JSON.  Returns a static string.
 */
const char *dalle_answer_refused(const char *ctype, const char *cenc,
    int image, int stream);

/* A byte count s, whole or with k, m or g for KiB, MiB or GiB, from 1
 * to 1 TiB, into *v: 0, or -1 when it is none. */
int dalle_answer_bytes(const char *s, long long *v);

#endif
