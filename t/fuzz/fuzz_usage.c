/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * libFuzzer target for usage extraction.  The input is read as an answer
 * body, as a chunk payload and for an error message; besides crashes and
 * undefined behaviour it checks that the base64 path agrees with the raw
 * one: the input wrapped as a chunk, {"bytes":"<base64>"} (with '/' also
 * written "\/"), must give exactly what the input gives as a body.  And a
 * message must come back as a terminated string without control bytes.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_usage.h"


#define MAX_INPUT  (256 * 1024)


static size_t
wrap(const uint8_t *in, size_t len, unsigned char *out, int escape)
{
    size_t          i, n;
    uint32_t        v;
    unsigned char   q[4];
    int             k, m;

    static const char  abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    n = 0;
    memcpy(out, "{\"bytes\":\"", 10);
    n = 10;

    for (i = 0; i < len; i += 3) {
        v = (uint32_t) in[i] << 16;
        m = 2;

        if (i + 1 < len) {
            v |= (uint32_t) in[i + 1] << 8;
            m = 3;
        }

        if (i + 2 < len) {
            v |= in[i + 2];
            m = 4;
        }

        q[0] = abc[v >> 18];
        q[1] = abc[(v >> 12) & 63];
        q[2] = m > 2 ? abc[(v >> 6) & 63] : '=';
        q[3] = m > 3 ? abc[v & 63] : '=';

        for (k = 0; k < 4; k++) {
            if (escape && q[k] == '/') {
                out[n++] = '\\';
            }

            out[n++] = q[k];
        }
    }

    memcpy(out + n, "\"}", 2);

    return n + 2;
}


static int
same(const ngx_bedrock_usage_t *a, const ngx_bedrock_usage_t *b)
{
    return a->found == b->found && a->sources == b->sources
           && a->input_tokens == b->input_tokens
           && a->output_tokens == b->output_tokens
           && a->cache_read_input_tokens == b->cache_read_input_tokens
           && a->cache_write_input_tokens == b->cache_write_input_tokens;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, rc2, i;
    size_t                n, room;
    char                  text[48];
    unsigned char        *chunk;
    ngx_bedrock_usage_t   body, wrapped, u;

    if (size > MAX_INPUT) {
        return 0;
    }

    memset(&body, 0, sizeof(body));
    rc = ngx_bedrock_usage_body(data, size, &body);

    if ((rc == 0) != (body.found != 0)) {
        abort();
    }

    memset(&u, 0, sizeof(u));
    ngx_bedrock_usage_chunk(data, size, &u);
    ngx_bedrock_usage_event((const unsigned char *) "metadata", 8, data,
                            size, &u);

    /* the same bytes through base64, plain and with "\/" */

    chunk = malloc(size / 3 * 8 + 32);

    for (i = 0; i < 2; i++) {
        n = wrap(data, size, chunk, i);

        memset(&wrapped, 0, sizeof(wrapped));
        rc2 = ngx_bedrock_usage_chunk(chunk, n, &wrapped);

        if (rc2 != rc || !same(&body, &wrapped)) {
            abort();
        }
    }

    free(chunk);

    /* a message fits, is terminated, and is safe to log */

    room = size ? 1 + data[0] % sizeof(text) : sizeof(text);
    rc = ngx_bedrock_usage_message(data, size, text, room);

    if (rc >= 0) {
        if ((size_t) rc >= room || text[rc] != '\0') {
            abort();
        }

        for (i = 0; i < rc; i++) {
            if ((unsigned char) text[i] < 0x20 || text[i] == 0x7f) {
                abort();
            }
        }
    }

    return 0;
}
