/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * libFuzzer target for the eventstream decoder.  The first three bytes
 * choose max_frame and how the rest is cut into pieces; the rest is the
 * stream.  Besides crashes, leaks and undefined behaviour, it checks the
 * decoder's promise: a stream cut anywhere, into any pieces, gives the
 * same messages and the same end as the stream in one piece, and a fixed
 * buffer of max_frame bytes behaves as the allocator does.  Each message
 * is read as the module reads it (headers, usage, exception message).
 *
 * Random bytes seldom pass a CRC, so when the low bit of the third byte
 * is set, the lengths the input gives are kept and both CRCs of each
 * message are rewritten right: the fuzzer then reaches the header and
 * payload code instead of stopping at the first prelude.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_eventstream.h"
#include "ngx_bedrock_usage.h"


typedef struct {
    uint64_t              hash;
    ngx_bedrock_usage_t   usage;
} digest_t;


static void
mix(digest_t *d, const void *p, size_t len)
{
    size_t                i;
    const unsigned char  *b = p;

    for (i = 0; i < len; i++) {
        d->hash = (d->hash ^ b[i]) * 0x100000001b3ULL;
    }
}


static void
mix_int(digest_t *d, uint64_t v)
{
    mix(d, &v, sizeof(v));
}


static int
on_message(void *data, const ngx_bedrock_es_message_t *m)
{
    int                       rc;
    char                      text[64];
    digest_t                 *d = data;
    const unsigned char      *pos, *end;
    ngx_bedrock_es_header_t   h;

    mix_int(d, m->type);
    mix_int(d, m->offset);
    mix_int(d, m->total_len);
    mix_int(d, m->skipped);
    mix_int(d, m->payload_len);

    if (m->name) {
        mix(d, m->name, m->name_len);
    }

    if (m->content_type) {
        mix(d, m->content_type, m->content_type_len);
    }

    if (m->error_message) {
        mix(d, m->error_message, m->error_message_len);
    }

    if (m->payload) {
        mix(d, m->payload, m->payload_len);
    }

    if (m->headers) {
        pos = m->headers;
        end = m->headers + m->headers_len;

        while ((rc = ngx_bedrock_es_header_next(&pos, end, &h)) == 1) {
            mix(d, h.name, h.name_len);
            mix_int(d, h.type);
            mix_int(d, (uint64_t) h.integer);

            if (h.data) {
                mix(d, h.data, h.len);
            }
        }

        /* the decoder checked the block before the call */
        if (rc != 0) {
            abort();
        }
    }

    if (m->payload && m->type == NGX_BEDROCK_ES_EVENT) {
        ngx_bedrock_usage_event(m->name, m->name_len, m->payload,
                                m->payload_len, &d->usage);
    }

    if (m->payload && m->type == NGX_BEDROCK_ES_EXCEPTION) {
        rc = ngx_bedrock_usage_message(m->payload, m->payload_len, text,
                                       sizeof(text));

        if (rc >= (int) sizeof(text) || (rc >= 0 && text[rc] != '\0')) {
            abort();
        }
    }

    /* a handler may stop the decoder: let some payloads ask for it */
    return (m->payload_len == 13 && m->payload && m->payload[0] == '!')
           ? -1 : 0;
}


static void
finish(ngx_bedrock_es_t *es, digest_t *d)
{
    ngx_bedrock_es_finish(es);

    mix_int(d, es->error);
    mix_int(d, es->error_offset);
    mix_int(d, es->messages);
    mix_int(d, es->skipped);
    mix_int(d, es->skipped_bytes);
    mix_int(d, d->usage.found);
    mix_int(d, d->usage.input_tokens);
    mix_int(d, d->usage.output_tokens);
    mix_int(d, d->usage.cache_read_input_tokens);
    mix_int(d, d->usage.cache_write_input_tokens);
}


static void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}


static void
fix_crcs(unsigned char *p, size_t size)
{
    size_t    pos;
    uint32_t  total;

    for (pos = 0; size - pos >= 16; pos += total) {
        total = (uint32_t) p[pos] << 24 | (uint32_t) p[pos + 1] << 16
                | (uint32_t) p[pos + 2] << 8 | p[pos + 3];

        put32(p + pos + 8, ngx_bedrock_es_crc32(0, p + pos, 8));

        if (total < 16 || total > size - pos) {
            return;
        }

        put32(p + pos + total - 4,
              ngx_bedrock_es_crc32(0, p + pos, total - 4));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               fixed;
    size_t            max_frame, pos, piece;
    uint32_t          rnd;
    unsigned char    *buf, *copy;
    digest_t          whole, split;
    ngx_bedrock_es_t  es;

    if (size < 3) {
        return 0;
    }

    max_frame = data[0] ? 16 + (size_t) data[0] * 32 : 0;
    rnd = (uint32_t) data[1] << 8 | data[2] | 1;
    fixed = data[1] & 1;
    copy = NULL;

    if (data[2] & 1) {
        copy = malloc(size);
        memcpy(copy, data, size);
        fix_crcs(copy + 3, size - 3);
        data = copy;
    }

    data += 3;
    size -= 3;

    /* in one piece */

    memset(&whole, 0, sizeof(whole));
    ngx_bedrock_es_init(&es, max_frame, on_message, &whole, NULL, NULL,
                        NULL);
    ngx_bedrock_es_feed(&es, data, size);
    finish(&es, &whole);
    ngx_bedrock_es_free(&es);

    /* in pieces of 0 to 63 bytes, now and then larger */

    memset(&split, 0, sizeof(split));
    ngx_bedrock_es_init(&es, max_frame, on_message, &split, NULL, NULL,
                        NULL);

    buf = NULL;

    if (fixed) {
        buf = malloc(es.max_frame);
        ngx_bedrock_es_set_buffer(&es, buf, es.max_frame);
    }

    for (pos = 0; pos < size; pos += piece) {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 17;
        rnd ^= rnd << 5;

        piece = (rnd & 0x700) ? rnd % 64 : rnd % 4096;

        if (piece > size - pos) {
            piece = size - pos;
        }

        ngx_bedrock_es_feed(&es, data + pos, piece);
    }

    finish(&es, &split);
    ngx_bedrock_es_free(&es);
    free(buf);

    free(copy);

    if (whole.hash != split.hash) {
        abort();
    }

    return 0;
}
