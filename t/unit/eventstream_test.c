/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The eventstream decoder: framing, every header type, streams cut at
 * every byte, corrupt and oversized messages, bounded memory, and agreement
 * with botocore's own decoder (Debian's python3-botocore, run through
 * /usr/bin/python3; those checks are skipped when it is missing).
 *
 * "eventstream_test bench" measures decoding speed instead; build it with
 * -O2 and without sanitizers for figures worth quoting.
 */


#define _GNU_SOURCE                 /* memmem */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <time.h>

#include "tap.h"
#include "ngx_bedrock_eventstream.h"


#define PYTHON   "/usr/bin/python3"


typedef struct {
    char      *log;
    size_t     len;
    size_t     size;
    int        stop_at;        /* return -1 on this message (1-based) */
    int        calls;
} recorder_t;


typedef struct {
    int        allocs;
    int        frees;
    size_t     biggest;
    int        fail;           /* make allocation fail */
} counter_t;


static void
rec_init(recorder_t *r)
{
    memset(r, 0, sizeof(recorder_t));
    r->size = 1024;
    r->log = malloc(r->size);
    r->log[0] = '\0';
}


static void
rec_printf(recorder_t *r, const char *fmt, ...)
{
    int      n;
    va_list  args;

    for ( ;; ) {
        va_start(args, fmt);
        n = vsnprintf(r->log + r->len, r->size - r->len, fmt, args);
        va_end(args);

        if (n < 0) {
            return;
        }

        if ((size_t) n < r->size - r->len) {
            r->len += (size_t) n;
            return;
        }

        r->size *= 2;
        r->log = realloc(r->log, r->size);
    }
}


/* a line per message: everything the decoder said about it */

static int
record(void *data, const ngx_bedrock_es_message_t *m)
{
    recorder_t               *r = data;
    const unsigned char      *pos, *end;
    ngx_bedrock_es_header_t   h;
    size_t                    i;
    int                       rc;

    r->calls++;

    rec_printf(r, "@%llu len=%u %s", (unsigned long long) m->offset,
               m->total_len, ngx_bedrock_es_type_name(m->type));

    if (m->name) {
        rec_printf(r, " name=%.*s", (int) m->name_len, m->name);
    }

    if (m->content_type) {
        rec_printf(r, " ct=%.*s", (int) m->content_type_len,
                   m->content_type);
    }

    if (m->error_message) {
        rec_printf(r, " err=%.*s", (int) m->error_message_len,
                   m->error_message);
    }

    rec_printf(r, " skipped=%d plen=%zu", m->skipped, m->payload_len);

    if (m->payload) {
        rec_printf(r, " pcrc=%08x",
                   ngx_bedrock_es_crc32(0, m->payload, m->payload_len));
    }

    if (m->headers) {
        pos = m->headers;
        end = m->headers + m->headers_len;

        while ((rc = ngx_bedrock_es_header_next(&pos, end, &h)) == 1) {
            rec_printf(r, " [%.*s:%d:%lld:", (int) h.name_len, h.name,
                       (int) h.type, (long long) h.integer);

            for (i = 0; i < h.len; i++) {
                rec_printf(r, "%02x", h.data[i]);
            }

            rec_printf(r, "]");
        }

        if (rc < 0) {
            rec_printf(r, " [bad]");
        }
    }

    rec_printf(r, "\n");

    return (r->stop_at == r->calls) ? -1 : 0;
}


static void *
count_alloc(void *pool, size_t size)
{
    counter_t  *c = pool;

    if (c->fail) {
        return NULL;
    }

    c->allocs++;

    if (size > c->biggest) {
        c->biggest = size;
    }

    return malloc(size);
}


static void
count_free(void *pool, void *p)
{
    counter_t  *c = pool;

    c->frees++;
    free(p);
}


/* -- building messages ---------------------------------------------- */


static ngx_bedrock_es_header_t
hstr(const char *name, const char *value)
{
    ngx_bedrock_es_header_t  h;

    memset(&h, 0, sizeof(h));
    h.name = (const unsigned char *) name;
    h.name_len = strlen(name);
    h.type = NGX_BEDROCK_ES_STRING;
    h.data = (const unsigned char *) value;
    h.len = strlen(value);

    return h;
}


static ngx_bedrock_es_header_t
hint(const char *name, ngx_bedrock_es_value_e type, int64_t v)
{
    ngx_bedrock_es_header_t  h;

    memset(&h, 0, sizeof(h));
    h.name = (const unsigned char *) name;
    h.name_len = strlen(name);
    h.type = type;
    h.integer = v;

    return h;
}


static ngx_bedrock_es_header_t
hbytes(const char *name, ngx_bedrock_es_value_e type, const void *data,
    size_t len)
{
    ngx_bedrock_es_header_t  h;

    memset(&h, 0, sizeof(h));
    h.name = (const unsigned char *) name;
    h.name_len = strlen(name);
    h.type = type;
    h.data = data;
    h.len = len;

    return h;
}


/* Bedrock's order: event type, content type, message type */

static size_t
event(unsigned char *out, const char *type, const char *payload,
    size_t len)
{
    ngx_bedrock_es_header_t  h[3];

    h[0] = hstr(":event-type", type);
    h[1] = hstr(":content-type", "application/json");
    h[2] = hstr(":message-type", "event");

    return ngx_bedrock_es_encode(out, 1 << 20, h, 3,
                                 (const unsigned char *) payload, len);
}


static size_t
ev(unsigned char *out, const char *type, const char *payload)
{
    return event(out, type, payload, strlen(payload));
}


static const char  msg_stream_error[] =
    "{\"message\":\"Model Stream Error\",\"originalStatusCode\":500,"
    "\"originalMessage\":\"The model stream failed.\"}";


/* the modelStreamErrorException of bedrock-facts section 6.1 */

static size_t
model_stream_error(unsigned char *out)
{
    ngx_bedrock_es_header_t  h[3];

    h[0] = hstr(":message-type", "exception");
    h[1] = hstr(":exception-type", "modelStreamErrorException");
    h[2] = hstr(":content-type", "application/json");

    return ngx_bedrock_es_encode(out, 1024, h, 3,
                                 (const unsigned char *) msg_stream_error,
                                 sizeof(msg_stream_error) - 1);
}


static const unsigned char  uuid[16] = {
    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
    0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21
};

static const unsigned char  raw_bytes[5] = { 0x00, 0xff, 0x10, 0x00, 0x7f };


/* every header value type, with values that test sign and width */

static size_t
all_types(unsigned char *out)
{
    ngx_bedrock_es_header_t  h[13];

    h[0] = hint("t", NGX_BEDROCK_ES_TRUE, 1);
    h[1] = hint("f", NGX_BEDROCK_ES_FALSE, 0);
    h[2] = hint("byte", NGX_BEDROCK_ES_BYTE, -2);
    h[3] = hint("short", NGX_BEDROCK_ES_SHORT, -300);
    h[4] = hint("int", NGX_BEDROCK_ES_INT, -70000);
    h[5] = hint("long", NGX_BEDROCK_ES_LONG, -5000000000LL);
    h[6] = hbytes("bytes", NGX_BEDROCK_ES_BYTES, raw_bytes, 5);
    h[7] = hstr("string", "h\xc3\xa9llo");
    h[8] = hint("ts", NGX_BEDROCK_ES_TIMESTAMP, 1700000000123LL);
    h[9] = hbytes("uuid", NGX_BEDROCK_ES_UUID, uuid, 16);
    h[10] = hstr(":message-type", "event");
    h[11] = hstr(":event-type", "typed");
    h[12] = hstr("empty", "");

    return ngx_bedrock_es_encode(out, 4096, h, 13,
                                 (const unsigned char *) "{}", 2);
}


/*
 * A stream with every kind of message a decoder must take: Bedrock's
 * events, an exception, an error, an empty payload, no headers at all,
 * every header type, and a larger payload.
 */

static size_t
mixed_stream(unsigned char *out)
{
    size_t                   n;
    char                     big[3000];
    ngx_bedrock_es_header_t  h[3];

    n = 0;

    n += ev(out + n, "messageStart", "{\"role\":\"assistant\"}");
    n += ev(out + n, "contentBlockDelta",
            "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
    n += ev(out + n, "contentBlockStop", "");
    n += all_types(out + n);
    n += ngx_bedrock_es_encode(out + n, 64, NULL, 0, NULL, 0);

    memset(big, 'x', sizeof(big));
    n += event(out + n, "contentBlockDelta", big, sizeof(big));

    h[0] = hstr(":message-type", "error");
    h[1] = hstr(":error-code", "InternalFailure");
    h[2] = hstr(":error-message", "An internal error occurred");
    n += ngx_bedrock_es_encode(out + n, 1024, h, 3, NULL, 0);

    n += model_stream_error(out + n);
    n += ev(out + n, "metadata",
            "{\"usage\":{\"inputTokens\":5,\"outputTokens\":7}}");

    return n;
}


/* -- decoding helpers ----------------------------------------------- */


typedef struct {
    recorder_t   rec;
    counter_t    cnt;
    int          rc;           /* the first failing return, or 0 */
    int          error;
    uint64_t     error_offset;
    uint64_t     skipped;
    uint64_t     messages;
} run_t;


/*
 * Decodes data in pieces: cuts[] are the offsets where a piece ends
 * (ascending), then the rest.
 */

static void
run_cuts(run_t *run, const unsigned char *data, size_t len,
    const size_t *cuts, size_t ncuts, size_t max_frame, int stop_at)
{
    size_t            i, from, to;
    ngx_bedrock_es_t  es;

    memset(&run->cnt, 0, sizeof(counter_t));
    rec_init(&run->rec);
    run->rec.stop_at = stop_at;
    run->rc = 0;

    ngx_bedrock_es_init(&es, max_frame, record, &run->rec, count_alloc,
                        count_free, &run->cnt);

    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        if (ngx_bedrock_es_feed(&es, data + from, to - from) != 0
            && run->rc == 0)
        {
            run->rc = -1;
        }

        from = to;
    }

    if (run->rc == 0) {
        run->rc = ngx_bedrock_es_finish(&es);
    }

    run->error = es.error;
    run->error_offset = es.error_offset;
    run->skipped = es.skipped;
    run->messages = es.messages;

    ngx_bedrock_es_free(&es);
}


static void
run_whole(run_t *run, const unsigned char *data, size_t len,
    size_t max_frame)
{
    run_cuts(run, data, len, NULL, 0, max_frame, 0);
}


static void
run_done(run_t *run)
{
    free(run->rec.log);
}


/*
 * Decodes data cut once at every offset, then a byte at a time, then in
 * random pieces, and checks that every way gives what one piece gave:
 * the same messages, the same end, no leak.  Returns the number of ways
 * that differed.  In a stream over 8 KB the single cuts are at every
 * byte of its first and last 512 and every 509th byte between.
 */

static int
same_every_split(const unsigned char *data, size_t len, size_t max_frame,
    const char *what)
{
    int      bad, leaks;
    size_t   k, i, n, cuts[4096], *all;
    run_t    ref, run;

    run_whole(&ref, data, len, max_frame);

    bad = 0;
    leaks = 0;

    for (k = 0; k <= len;
         k += (len <= 8192 || k < 512 || k + 512 > len) ? 1 : 509)
    {
        run_cuts(&run, data, len, &k, 1, max_frame, 0);

        if (strcmp(run.rec.log, ref.rec.log) != 0 || run.rc != ref.rc
            || run.error != ref.error
            || run.error_offset != ref.error_offset)
        {
            if (bad++ == 0) {
                diag("%s: cut at %zu differs:\n%s---\n%s", what, k,
                     run.rec.log, ref.rec.log);
            }
        }

        if (run.cnt.allocs != run.cnt.frees) {
            leaks++;
        }

        run_done(&run);
    }

    all = malloc(len * sizeof(size_t) + 1);

    for (k = 0; k < len; k++) {
        all[k] = k + 1;
    }

    run_cuts(&run, data, len, all, len ? len - 1 : 0, max_frame, 0);

    if (strcmp(run.rec.log, ref.rec.log) != 0 || run.rc != ref.rc) {
        bad++;
        diag("%s: a byte at a time differs", what);
    }

    run_done(&run);
    free(all);

    srand(7);

    for (i = 0; i < 300; i++) {
        n = 0;
        k = 0;

        while (n < 4096) {
            k += 1 + (size_t) rand() % 300;
            if (k >= len) {
                break;
            }
            cuts[n++] = k;
        }

        run_cuts(&run, data, len, cuts, n, max_frame, 0);

        if (strcmp(run.rec.log, ref.rec.log) != 0 || run.rc != ref.rc) {
            if (bad++ == 0) {
                diag("%s: random pieces (seed round %zu) differ", what, i);
            }
        }

        run_done(&run);
    }

    run_done(&ref);

    return bad + leaks;
}


static size_t
count_lines(const char *s)
{
    size_t  n;

    for (n = 0; *s; s++) {
        if (*s == '\n') {
            n++;
        }
    }

    return n;
}


/* -- the tests ------------------------------------------------------ */


static void
test_crc(void)
{
    int       bad;
    unsigned  i, k;
    uint32_t  c;
    unsigned char  b;

    ok(ngx_bedrock_es_crc32(0, (const unsigned char *) "123456789", 9)
       == 0xcbf43926, "CRC-32 of \"123456789\" is the IEEE check value");

    ok(ngx_bedrock_es_crc32(0, NULL, 0) == 0, "CRC-32 of nothing is 0");

    {
        ngx_bedrock_es_t  es;

        ngx_bedrock_es_init(&es, 0, NULL, NULL, NULL, NULL, NULL);

        ok(ngx_bedrock_es_feed(&es, NULL, 0) == 0
           && ngx_bedrock_es_finish(&es) == 0 && es.offset == 0,
           "an empty piece, even at NULL, is nothing");

        ngx_bedrock_es_free(&es);
    }

    ok(ngx_bedrock_es_crc32(ngx_bedrock_es_crc32(0,
                                (const unsigned char *) "12345", 5),
                            (const unsigned char *) "6789", 4)
       == 0xcbf43926, "CRC-32 chains like zlib's crc32()");

    /* each table entry against the bitwise definition */

    bad = 0;

    for (i = 0; i < 256; i++) {
        c = ~0u ^ i;

        for (k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }

        b = (unsigned char) i;

        if (ngx_bedrock_es_crc32(0, &b, 1) != ~c) {
            bad++;
        }
    }

    ok(bad == 0, "CRC-32 of each single byte matches the bitwise CRC");
}


static void
test_model_stream_error(void)
{
    size_t                    n;
    unsigned char             buf[1024];
    run_t                     run;

    n = model_stream_error(buf);

    ok(n == 221, "modelStreamErrorException frame rebuilt from its "
       "headers and payload is 221 bytes (got %zu)", n);

    ok(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 221
       && buf[7] == 103,
       "its prelude says total 221, headers 103");

    run_whole(&run, buf, n, 0);

    ok(run.rc == 0 && run.messages == 1, "it decodes to one message");

    ok(strstr(run.rec.log, "@0 len=221 exception "
              "name=modelStreamErrorException ct=application/json "
              "skipped=0 plen=102") != NULL,
       "as an exception named modelStreamErrorException, JSON, "
       "102-byte payload");

    run_done(&run);

    ok(same_every_split(buf, n, 0, "221-byte exception") == 0,
       "the 221-byte frame decodes the same cut at any byte");
}


static void
test_two_cuts(void)
{
    int            bad;
    size_t         i, k, n, cuts[2];
    unsigned char  buf[1024];
    run_t          ref, run;

    n = model_stream_error(buf);
    run_whole(&ref, buf, n, 0);

    bad = 0;

    for (i = 0; i <= n; i++) {
        for (k = i; k <= n; k++) {
            cuts[0] = i;
            cuts[1] = k;
            run_cuts(&run, buf, n, cuts, 2, 0, 0);

            if (strcmp(run.rec.log, ref.rec.log) != 0 || run.rc != 0) {
                bad++;
            }

            run_done(&run);
        }
    }

    ok(bad == 0, "the 221-byte frame cut in three at every pair of "
       "offsets (%zu ways) decodes the same", (n + 1) * (n + 2) / 2);

    run_done(&ref);
}


static void
test_header_types(void)
{
    int                       rc, bad;
    size_t                    n;
    unsigned char             buf[4096];
    const unsigned char      *pos, *end;
    ngx_bedrock_es_header_t   h[14];
    int                       got;

    n = all_types(buf);

    ok(n > 0, "a message with all ten header types encodes");

    pos = buf + 12;
    end = buf + 12 + ((size_t) buf[6] << 8 | buf[7]);
    got = 0;

    while (got < 14 && (rc = ngx_bedrock_es_header_next(&pos, end,
                                                        &h[got])) == 1)
    {
        got++;
    }

    ok(got == 13 && pos == end, "13 headers read back, block used up");

    ok(h[0].type == NGX_BEDROCK_ES_TRUE && h[0].integer == 1,
       "type 0 is true");
    ok(h[1].type == NGX_BEDROCK_ES_FALSE && h[1].integer == 0,
       "type 1 is false");
    ok(h[2].type == NGX_BEDROCK_ES_BYTE && h[2].integer == -2,
       "type 2 byte -2 keeps its sign");
    ok(h[3].type == NGX_BEDROCK_ES_SHORT && h[3].integer == -300,
       "type 3 short -300");
    ok(h[4].type == NGX_BEDROCK_ES_INT && h[4].integer == -70000,
       "type 4 int -70000");
    ok(h[5].type == NGX_BEDROCK_ES_LONG && h[5].integer == -5000000000LL,
       "type 5 long -5000000000");
    ok(h[6].type == NGX_BEDROCK_ES_BYTES && h[6].len == 5
       && memcmp(h[6].data, raw_bytes, 5) == 0,
       "type 6 bytes, with NULs, length-prefixed");
    ok(h[7].type == NGX_BEDROCK_ES_STRING && h[7].len == 6
       && memcmp(h[7].data, "h\xc3\xa9llo", 6) == 0,
       "type 7 string in UTF-8");
    ok(h[8].type == NGX_BEDROCK_ES_TIMESTAMP
       && h[8].integer == 1700000000123LL, "type 8 timestamp in ms");
    ok(h[9].type == NGX_BEDROCK_ES_UUID && h[9].len == 16
       && memcmp(h[9].data, uuid, 16) == 0, "type 9 uuid, 16 bytes");
    ok(h[12].type == NGX_BEDROCK_ES_STRING && h[12].len == 0
       && h[12].name_len == 5, "an empty string value");

    /* big-endian on the wire: check two values byte by byte */

    bad = memmem(buf, n, "\x05short\x03\xfe\xd4", 9) == NULL;
    bad |= memmem(buf, n, "\x03int\x04\xff\xfe\xee\x90", 9) == NULL;

    ok(!bad, "short and int are written big-endian");

    /*
     * The block cut anywhere either fails or, when the cut falls between
     * two headers, reads up to it: 12 such places inside the block.
     */

    bad = 0;
    got = 0;

    for (n = 1; n < (size_t) (end - (buf + 12)); n++) {
        pos = buf + 12;

        while ((rc = ngx_bedrock_es_header_next(&pos, buf + 12 + n,
                                                &h[13])) == 1)
        {
            /* void */
        }

        if (rc == 0) {
            got++;

            if (pos != buf + 12 + n) {
                bad++;
            }
        }
    }

    ok(bad == 0 && got == 12,
       "the block cut at each of its bytes fails, except at the 12 header "
       "boundaries (%d)", got);
}


static void
test_mixed_stream(void)
{
    size_t          n, lines;
    unsigned char  *buf;
    run_t           run;

    buf = malloc(1 << 16);
    n = mixed_stream(buf);

    run_whole(&run, buf, n, 0);

    lines = count_lines(run.rec.log);

    ok(run.rc == 0 && lines == 9 && run.messages == 9,
       "a mixed stream of %zu bytes gives its 9 messages", n);

    ok(strstr(run.rec.log, "event name=contentBlockStop "
              "ct=application/json skipped=0 plen=0 ") != NULL,
       "an event with an empty payload is delivered");

    ok(strstr(run.rec.log,
              "len=16 other skipped=0 plen=0 pcrc=00000000\n") != NULL,
       "a 16-byte message with no headers and no payload is delivered");

    ok(strstr(run.rec.log, "error name=InternalFailure "
              "err=An internal error occurred") != NULL,
       "an error message gives :error-code and :error-message");

    ok(strstr(run.rec.log, "event name=typed skipped=0 plen=2") != NULL,
       "the message with every header type is an event named typed");

    ok(run.cnt.allocs == 0,
       "a stream in one piece is decoded in place, with no allocation");

    run_done(&run);

    ok(same_every_split(buf, n, 0, "mixed") == 0,
       "the mixed stream decodes the same cut at every byte, a byte at "
       "a time, and in random pieces");

    free(buf);
}


static void
test_many_per_piece(void)
{
    int             i;
    size_t          n;
    char            payload[64];
    unsigned char  *buf;
    run_t           run;

    buf = malloc(1 << 20);
    n = 0;

    for (i = 0; i < 5000; i++) {
        snprintf(payload, sizeof(payload),
                 "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"%d\"}}",
                 i);
        n += event(buf + n, "contentBlockDelta", payload, strlen(payload));
    }

    run_whole(&run, buf, n, 0);

    ok(run.rc == 0 && run.messages == 5000 && run.cnt.allocs == 0,
       "5000 messages in one piece: all delivered, nothing allocated");

    run_done(&run);

    {
        size_t  cuts[3] = { 7, n / 2 + 3, n - 5 };

        run_cuts(&run, buf, n, cuts, 3, 0, 0);

        ok(run.rc == 0 && run.messages == 5000 && run.cnt.allocs == 1
           && run.cnt.biggest == 4096,
           "cut in 4 pieces: 5000 messages, one 4 KB buffer reused "
           "(%d allocations, largest %zu)", run.cnt.allocs,
           run.cnt.biggest);

        run_done(&run);
    }

    free(buf);
}


static void
corrupt_at(const char *what, long offset, unsigned char mask,
    ngx_bedrock_es_error_e want, size_t want_messages)
{
    size_t          n, first, total;
    unsigned char  *buf;
    run_t           run;

    buf = malloc(1 << 16);
    n = mixed_stream(buf);

    /* the corruption is in the third message */

    first = ((size_t) buf[2] << 8 | buf[3]);
    first += ((size_t) buf[first + 2] << 8 | buf[first + 3]);
    total = ((size_t) buf[first + 2] << 8 | buf[first + 3]);

    /* a negative offset counts from the end of the message */

    buf[first + (offset < 0 ? total + offset : (size_t) offset)] ^= mask;

    run_whole(&run, buf, n, 0);

    ok(run.rc == -1 && run.error == (int) want
       && run.error_offset == first && run.messages == want_messages,
       "%s: stops with \"%s\" at offset %zu after %zu messages "
       "(got \"%s\" at %llu after %llu)", what,
       ngx_bedrock_es_strerror(want), first, want_messages,
       ngx_bedrock_es_strerror(run.error),
       (unsigned long long) run.error_offset,
       (unsigned long long) run.messages);

    run_done(&run);

    ok(same_every_split(buf, n, 0, what) == 0,
       "%s: the same wherever the stream is cut", what);

    free(buf);
}


static void
test_corrupt(void)
{
    int               rc;
    size_t            n;
    unsigned char     buf[256], *big, *payload;
    ngx_bedrock_es_t  es;
    recorder_t        rec;

    corrupt_at("bad prelude CRC", 9, 0x40, NGX_BEDROCK_ES_EPRELUDE_CRC, 2);
    corrupt_at("bad total length", 2, 0x01, NGX_BEDROCK_ES_EPRELUDE_CRC, 2);
    corrupt_at("bad message CRC", -1, 0x01, NGX_BEDROCK_ES_EMESSAGE_CRC, 2);
    corrupt_at("bad header byte", 20, 0x20, NGX_BEDROCK_ES_EMESSAGE_CRC, 2);

    /* after a failure the decoder stays stopped */

    n = model_stream_error(buf);
    buf[100] ^= 1;

    rec_init(&rec);
    ngx_bedrock_es_init(&es, 0, record, &rec, NULL, NULL, NULL);

    rc = ngx_bedrock_es_feed(&es, buf, n);
    buf[100] ^= 1;

    ok(rc == -1 && ngx_bedrock_es_feed(&es, buf, n) == -1
       && rec.calls == 0 && ngx_bedrock_es_finish(&es) == -1,
       "after a CRC error, later pieces are refused, even good ones");

    ngx_bedrock_es_free(&es);
    free(rec.log);

    /* lengths that a correct prelude CRC cannot save */

    {
        static const struct {
            uint32_t     total;
            uint32_t     hlen;
            const char  *what;
        } bad[] = {
            { 15, 0, "total length under 16" },
            { 0, 0, "total length 0" },
            { 100, 85, "headers longer than the message" },
            { 200000, 131073, "headers over 128 KiB" },
            { 16 + 16 * 1024 * 1024 + 1, 0, "payload over 16 MiB" },
        };

        size_t  i;
        run_t   run;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            memset(buf, 0, sizeof(buf));
            buf[0] = (unsigned char) (bad[i].total >> 24);
            buf[1] = (unsigned char) (bad[i].total >> 16);
            buf[2] = (unsigned char) (bad[i].total >> 8);
            buf[3] = (unsigned char) bad[i].total;
            buf[4] = (unsigned char) (bad[i].hlen >> 24);
            buf[5] = (unsigned char) (bad[i].hlen >> 16);
            buf[6] = (unsigned char) (bad[i].hlen >> 8);
            buf[7] = (unsigned char) bad[i].hlen;
            {
                uint32_t  c = ngx_bedrock_es_crc32(0, buf, 8);

                buf[8] = (unsigned char) (c >> 24);
                buf[9] = (unsigned char) (c >> 16);
                buf[10] = (unsigned char) (c >> 8);
                buf[11] = (unsigned char) c;
            }

            run_whole(&run, buf, sizeof(buf), 0);

            ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_ELENGTH
               && run.messages == 0,
               "%s: \"invalid message length\"", bad[i].what);

            run_done(&run);
        }

        /* exactly at the limits is fine */

        big = malloc(16 * 1024 * 1024 + 64);
        payload = malloc(16 * 1024 * 1024);
        memset(payload, 'a', 16 * 1024 * 1024);
        n = ngx_bedrock_es_encode(big, 16 * 1024 * 1024 + 64, NULL, 0,
                                  payload, 16 * 1024 * 1024);
        free(payload);

        run_whole(&run, big, n, 16 * 1024 * 1024 + 16);

        ok(n == 16 * 1024 * 1024 + 16 && run.rc == 0 && run.messages == 1
           && strstr(run.rec.log, "plen=16777216 pcrc=") != NULL,
           "a 16 MiB payload, the limit, decodes in place");

        run_done(&run);
        free(big);
    }
}


static void
malformed_headers(const char *what, const ngx_bedrock_es_header_t *h,
    size_t nh, const unsigned char *raw, size_t raw_len)
{
    size_t         n;
    unsigned char  buf[1024];
    uint32_t       c;
    run_t          run;

    if (raw == NULL) {
        n = ngx_bedrock_es_encode(buf, sizeof(buf), h, nh,
                                  (const unsigned char *) "{}", 2);

    } else {
        /* hand-made header block, with correct lengths and CRCs */
        n = 12 + raw_len + 4;
        buf[0] = 0; buf[1] = 0; buf[2] = (unsigned char) (n >> 8);
        buf[3] = (unsigned char) n;
        buf[4] = 0; buf[5] = 0; buf[6] = (unsigned char) (raw_len >> 8);
        buf[7] = (unsigned char) raw_len;
        c = ngx_bedrock_es_crc32(0, buf, 8);
        buf[8] = (unsigned char) (c >> 24); buf[9] = (unsigned char) (c >> 16);
        buf[10] = (unsigned char) (c >> 8); buf[11] = (unsigned char) c;
        memcpy(buf + 12, raw, raw_len);
        c = ngx_bedrock_es_crc32(0, buf, 12 + raw_len);
        buf[n - 4] = (unsigned char) (c >> 24);
        buf[n - 3] = (unsigned char) (c >> 16);
        buf[n - 2] = (unsigned char) (c >> 8);
        buf[n - 1] = (unsigned char) c;
    }

    run_whole(&run, buf, n, 0);

    ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_EHEADERS
       && run.messages == 0, "%s: \"malformed headers\"", what);

    run_done(&run);
}


static void
test_malformed_headers(void)
{
    ngx_bedrock_es_header_t  h[2];

    h[0] = hstr(":message-type", "event");
    h[1] = hstr(":message-type", "exception");
    malformed_headers("duplicate :message-type", h, 2, NULL, 0);

    h[0] = hstr(":message-type", "event");
    h[1] = hint(":event-type", NGX_BEDROCK_ES_INT, 3);
    malformed_headers(":event-type that is not a string", h, 2, NULL, 0);

    malformed_headers("unknown value type 10", NULL, 0,
                      (const unsigned char *) "\x01x\x0a", 3);
    malformed_headers("string longer than the block", NULL, 0,
                      (const unsigned char *) "\x01x\x07\x00\x09" "abc", 7);
    malformed_headers("name longer than the block", NULL, 0,
                      (const unsigned char *) "\x09xy", 3);
    malformed_headers("long cut short", NULL, 0,
                      (const unsigned char *) "\x01x\x05\x00\x00\x00", 6);
    malformed_headers("uuid cut short", NULL, 0,
                      (const unsigned char *) "\x01x\x09\x01\x02", 5);
    malformed_headers("name without a type", NULL, 0,
                      (const unsigned char *) "\x02xy", 3);
}


static void
test_oversize(void)
{
    size_t          n, m, first, cuts[1];
    char           *big;
    unsigned char  *buf, fixed[512];
    run_t           run;
    recorder_t      rec;
    counter_t       cnt;
    ngx_bedrock_es_t  es;
    ngx_bedrock_es_header_t  h[2];

    buf = malloc(1 << 16);
    big = malloc(20000);
    memset(big, 'y', 20000);

    n = event(buf, "messageStart", "{}", 2);
    m = event(buf + n, "chunk", big, 20000);
    n += m;
    n += event(buf + n, "messageStop", "{\"stopReason\":\"end_turn\"}", 25);

    run_whole(&run, buf, n, 1024);

    ok(run.rc == 0 && run.messages == 3 && run.skipped == 1,
       "a 20 KB message over a 1 KB limit is skipped, the rest decoded");

    ok(strstr(run.rec.log, "event name=chunk ct=application/json "
              "skipped=1 plen=20000 [") != NULL,
       "the skipped message is reported with its headers and real "
       "payload length, without payload");

    ok(run.cnt.biggest <= 1024,
       "nothing larger than max_frame was allocated (largest %zu)",
       run.cnt.biggest);

    run_done(&run);

    ok(same_every_split(buf, n, 1024, "oversize") == 0,
       "the stream with the oversized message decodes the same cut "
       "anywhere");

    /* its CRC is still checked */

    first = ((size_t) buf[2] << 8 | buf[3]);
    buf[first + m / 2] ^= 0x10;

    run_whole(&run, buf, n, 1024);

    ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_EMESSAGE_CRC
       && run.messages == 1,
       "a skipped message with a bad CRC still stops the decoder");

    run_done(&run);

    ok(same_every_split(buf, n, 1024, "oversize, bad CRC") == 0,
       "... wherever the stream is cut");

    buf[first + m / 2] ^= 0x10;

    /* headers too large to keep */

    {
        char  name[200];

        memset(name, 'h', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';

        h[0] = hstr(":message-type", "event");
        h[1] = hstr("x-big", name);

        m = ngx_bedrock_es_encode(buf, 1 << 16, h, 2,
                                  (const unsigned char *) big, 300);
    }

    run_whole(&run, buf, m, 128);

    ok(run.rc == 0 && run.skipped == 1
       && strstr(run.rec.log, "other skipped=1 plen=300\n") != NULL,
       "a message whose headers alone pass max_frame is reported "
       "without them");

    run_done(&run);

    ok(same_every_split(buf, m, 128, "big headers") == 0,
       "... wherever the stream is cut");

    /* after a skipped message whose headers were kept */

    memmove(buf + 400, buf, m);
    n = event(buf, "first", big, 200);
    memmove(buf + n, buf + 400, m);
    n += m;

    run_whole(&run, buf, n, 128);

    ok(run.rc == 0 && run.skipped == 2
       && strstr(run.rec.log, "event name=first") != NULL
       && strstr(run.rec.log, "other skipped=1 plen=300\n") != NULL,
       "a skipped message with kept headers, then one with headers too "
       "large: the second is reported without them");

    run_done(&run);

    ok(same_every_split(buf, n, 128, "kept, then big headers") == 0,
       "... wherever the stream is cut");

    /* a fixed buffer instead of an allocator */

    n = event(buf, "a", big, 400);
    n += event(buf + n, "b", big, 600);
    n += event(buf + n, "c", big, 100);

    memset(&cnt, 0, sizeof(cnt));
    rec_init(&rec);
    ngx_bedrock_es_init(&es, 1 << 20, record, &rec, count_alloc, count_free,
                        &cnt);
    ngx_bedrock_es_set_buffer(&es, fixed, sizeof(fixed));

    cuts[0] = 1;
    while (cuts[0] < n) {
        ngx_bedrock_es_feed(&es, buf + cuts[0] - 1, 1);
        cuts[0]++;
    }
    ngx_bedrock_es_feed(&es, buf + n - 1, 1);

    ok(es.max_frame == 512 && es.messages == 3 && es.skipped == 1
       && es.error == 0 && cnt.allocs == 0
       && strstr(rec.log, "name=b ct=application/json skipped=1") != NULL
       && ngx_bedrock_es_finish(&es) == 0,
       "with a fixed 512-byte buffer, fed a byte at a time: the 600-byte "
       "payload is skipped, the others decoded, nothing allocated");

    ngx_bedrock_es_free(&es);
    free(rec.log);
    free(big);
    free(buf);
}


static void
test_finish_stop_nomem(void)
{
    size_t          n;
    unsigned char   buf[2048];
    size_t          cuts[1];
    run_t           run;
    ngx_bedrock_es_t  es;
    counter_t       cnt;
    recorder_t      rec;

    n = model_stream_error(buf);
    n += model_stream_error(buf + n);
    n += model_stream_error(buf + n);

    run_cuts(&run, buf, n - 1, NULL, 0, 0, 0);

    ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_ETRUNCATED
       && run.messages == 2 && run.error_offset == 442,
       "a stream that ends inside its third message: finish() says "
       "truncated at 442");

    run_done(&run);

    run_cuts(&run, buf, 442 + 5, NULL, 0, 0, 0);

    ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_ETRUNCATED,
       "... and inside a prelude");

    run_done(&run);

    run_cuts(&run, buf, n, NULL, 0, 0, 2);

    ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_EHANDLER
       && run.rec.calls == 2,
       "a handler returning -1 stops decoding after that message");

    run_done(&run);

    /* allocation failure */

    memset(&cnt, 0, sizeof(cnt));
    cnt.fail = 1;
    rec_init(&rec);
    ngx_bedrock_es_init(&es, 0, record, &rec, count_alloc, count_free, &cnt);

    cuts[0] = 100;

    ok(ngx_bedrock_es_feed(&es, buf, cuts[0]) == -1
       && es.error == NGX_BEDROCK_ES_ENOMEM && rec.calls == 0,
       "an allocator that fails gives \"out of memory\", no crash");

    ok(ngx_bedrock_es_feed(&es, buf, n) == -1
       && ngx_bedrock_es_finish(&es) == -1,
       "and the decoder stays stopped");

    ngx_bedrock_es_free(&es);
    free(rec.log);

    ok(strcmp(ngx_bedrock_es_strerror(NGX_BEDROCK_ES_EPRELUDE_CRC),
              "prelude CRC mismatch") == 0
       && strcmp(ngx_bedrock_es_strerror((ngx_bedrock_es_error_e) 99),
                 "unknown error") == 0,
       "errors have names for the log");
}


static void
test_encode_limits(void)
{
    unsigned char            buf[64];
    ngx_bedrock_es_header_t  h;
    char                     name[300];

    ok(ngx_bedrock_es_encode(NULL, 0, NULL, 0, NULL, 5) == 21,
       "encode with no buffer gives the length it needs");

    ok(ngx_bedrock_es_encode(buf, 20, NULL, 0, (const unsigned char *) "abcde",
                             5) == 0,
       "encode into a buffer too small gives 0");

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    h = hstr(name, "v");

    ok(ngx_bedrock_es_encode(NULL, 0, &h, 1, NULL, 0) == 0,
       "a header name over 255 bytes cannot be encoded");

    h = hint("x", (ngx_bedrock_es_value_e) 10, 0);

    ok(ngx_bedrock_es_encode(NULL, 0, &h, 1, NULL, 0) == 0,
       "an unknown header type cannot be encoded");
}


/* -- against botocore ----------------------------------------------- */


static int
have_botocore(void)
{
    return access(PYTHON, X_OK) == 0
           && system(PYTHON " -c 'import botocore.eventstream' "
                     "2>/dev/null") == 0;
}


/* botocore's EventStreamBuffer prints each message it decodes */

static const char  botocore_decode[] =
    PYTHON " -c '\n"
    "import sys, zlib\n"
    "from botocore.eventstream import EventStreamBuffer\n"
    "b = EventStreamBuffer()\n"
    "b.add_data(open(sys.argv[1], \"rb\").read())\n"
    "for m in b:\n"
    "    h = m.headers\n"
    "    parts = []\n"
    "    for k in sorted(h):\n"
    "        v = h[k]\n"
    "        if isinstance(v, bytes): v = v.hex()\n"
    "        parts.append(\"%%s=%%s:%%s\" %% (k, type(v).__name__, v))\n"
    "    print(m.prelude.total_length, \",\".join(parts),\n"
    "          \"%%08x\" %% zlib.crc32(m.payload))\n"
    "' %s";


static void
test_botocore_decodes_ours(void)
{
    int             bad, fd;
    char            tmp[] = "/tmp/es-test-XXXXXX";
    char            cmd[2048], line[4096];
    size_t          n, lines;
    FILE           *f;
    unsigned char  *buf;

    buf = malloc(1 << 16);
    n = mixed_stream(buf);

    fd = mkstemp(tmp);
    if (fd < 0 || write(fd, buf, n) != (ssize_t) n) {
        ok(0, "temporary file for botocore");
        free(buf);
        return;
    }
    close(fd);

    snprintf(cmd, sizeof(cmd), botocore_decode, tmp);

    f = popen(cmd, "r");
    lines = 0;
    bad = 0;

    {
        /* what botocore must print for each message, in order */
        static const char  *want[] = {
            ":content-type=str:application/json,:event-type=str:"
            "messageStart,:message-type=str:event",
            ":event-type=str:contentBlockDelta",
            ":event-type=str:contentBlockStop",
            "byte=int:-2,bytes=str:00ff10007f,empty=str:,f=bool:False,"
            "int=int:-70000,long=int:-5000000000,short=int:-300,"
            "string=str:h\xc3\xa9llo,t=bool:True,ts=int:1700000000123,"
            "uuid=str:123456789abcdef00fedcba987654321",
            "16  00000000",
            "contentBlockDelta",
            ":error-code=str:InternalFailure,:error-message=str:An "
            "internal error occurred,:message-type=str:error",
            "221 :content-type=str:application/json,:exception-type=str:"
            "modelStreamErrorException,:message-type=str:exception",
            ":event-type=str:metadata"
        };

        while (f && fgets(line, sizeof(line), f)) {
            if (lines < 9 && strstr(line, want[lines]) == NULL) {
                if (bad++ == 0) {
                    diag("botocore line %zu: %s  wanted: %s", lines, line,
                         want[lines]);
                }
            }

            lines++;
        }
    }

    ok(f && pclose(f) == 0 && lines == 9 && bad == 0,
       "botocore's EventStreamBuffer decodes our 9-message stream "
       "(CRCs, lengths, all ten header types) to the same messages");

    unlink(tmp);
    free(buf);
}


/*
 * Frames made in Python from the format alone (struct and zlib), checked
 * with botocore's decoder, then decoded here.
 */

static const char  python_frames[] =
    PYTHON " -c '\n"
    "import struct, zlib, uuid\n"
    "from botocore.eventstream import EventStreamBuffer, ChecksumMismatch\n"
    "def hdr(n, t, v):\n"
    "    n = n.encode()\n"
    "    out = bytes([len(n)]) + n + bytes([t])\n"
    "    if t in (0, 1): return out\n"
    "    f = {2: \">b\", 3: \">h\", 4: \">i\", 5: \">q\", 8: \">q\"}\n"
    "    if t in f: return out + struct.pack(f[t], v)\n"
    "    if t == 9: return out + v\n"
    "    return out + struct.pack(\">H\", len(v)) + v\n"
    "def frame(hs, payload):\n"
    "    hb = b\"\".join(hdr(*h) for h in hs)\n"
    "    pre = struct.pack(\">II\", 16 + len(hb) + len(payload), len(hb))\n"
    "    m = pre + struct.pack(\">I\", zlib.crc32(pre)) + hb + payload\n"
    "    return m + struct.pack(\">I\", zlib.crc32(m))\n"
    "ev = [(\":message-type\", 7, b\"event\"),\n"
    "      (\":event-type\", 7, b\"chunk\"),\n"
    "      (\":content-type\", 7, b\"application/json\")]\n"
    "typed = [(\"a\", 0, None), (\"b\", 1, None), (\"c\", 2, -128),\n"
    "      (\"d\", 3, 32767), (\"e\", 4, -2147483648),\n"
    "      (\"f\", 5, 9223372036854775807), (\"g\", 6, b\"\\x00\\x01\"),\n"
    "      (\"h\", 7, b\"str\"), (\"i\", 8, -1),\n"
    "      (\"j\", 9, uuid.UUID(int=0xfeedface).bytes)]\n"
    "s = frame(ev, b\"{\\\"bytes\\\":\\\"e30=\\\"}\")\n"
    "s += frame(typed, b\"\")\n"
    "s += frame([], b\"x\" * 70000)\n"
    "b = EventStreamBuffer(); b.add_data(s)\n"
    "got = list(b)\n"
    "assert len(got) == 3 and got[1].headers[\"f\"] == 2**63 - 1\n"
    "bad = bytearray(frame(ev, b\"{}\")); bad[-6] ^= 1\n"
    "b = EventStreamBuffer(); b.add_data(bytes(bad))\n"
    "try:\n"
    "    list(b); raise SystemExit(\"botocore took a bad CRC\")\n"
    "except ChecksumMismatch: pass\n"
    "print(s.hex()); print(bytes(bad).hex())\n"
    "'";


static size_t
unhex(const char *s, unsigned char *out, size_t size)
{
    size_t        n;
    unsigned int  v;

    for (n = 0; n < size && s[0] && s[1] && s[0] != '\n'; n++, s += 2) {
        if (sscanf(s, "%2x", &v) != 1) {
            break;
        }
        out[n] = (unsigned char) v;
    }

    return n;
}


static void
test_python_frames(void)
{
    FILE           *f;
    char           *line;
    size_t          n, m;
    unsigned char  *good, *bad;
    run_t           run;

    line = malloc(1 << 20);
    good = malloc(1 << 19);
    bad = malloc(4096);
    n = 0;
    m = 0;

    f = popen(python_frames, "r");

    if (f && fgets(line, 1 << 20, f)) {
        n = unhex(line, good, 1 << 19);
    }

    if (f && fgets(line, 1 << 20, f)) {
        m = unhex(line, bad, 4096);
    }

    ok(f && pclose(f) == 0 && n > 70000 && m > 0,
       "Python builds 3 frames from the format and botocore accepts them, "
       "and refuses a bad CRC");

    run_whole(&run, good, n, 0);

    ok(run.rc == 0 && run.messages == 3
       && strstr(run.rec.log, "event name=chunk ct=application/json "
                 "skipped=0 plen=16") != NULL,
       "we decode the Python chunk event");

    ok(strstr(run.rec.log, "[a:0:1:] [b:1:0:] [c:2:-128:] [d:3:32767:] "
              "[e:4:-2147483648:] [f:5:9223372036854775807:] [g:6:0:0001] "
              "[h:7:0:737472] [i:8:-1:] [j:9:0:00000000000000000000000"
              "0feedface]") != NULL,
       "we read the ten header types at their extreme values as Python "
       "wrote them");

    ok(strstr(run.rec.log, "other skipped=0 plen=70000") != NULL,
       "and a 70000-byte payload with no headers");

    run_done(&run);

    ok(same_every_split(good, n, 0, "python frames") == 0,
       "the Python stream decodes the same cut anywhere");

    run_whole(&run, bad, m, 0);

    ok(run.rc == -1 && run.error == NGX_BEDROCK_ES_EMESSAGE_CRC,
       "the frame botocore refused for its CRC we refuse too");

    run_done(&run);

    free(line);
    free(good);
    free(bad);
}


/* -- speed ---------------------------------------------------------- */


static int
count_only(void *data, const ngx_bedrock_es_message_t *m)
{
    (*(uint64_t *) data) += m->payload_len;
    return 0;
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
bench(void)
{
    int               i, round;
    size_t            n, pos, piece;
    char              payload[400];
    double            t, best;
    uint64_t          seen;
    unsigned char    *buf;
    ngx_bedrock_es_t  es;

    static const size_t  pieces[] = { 0, 16384, 1500, 97 };

    /* ConverseStream-like: contentBlockDelta events of ~120-400 bytes */

    buf = malloc(64 << 20);
    n = 0;

    for (i = 0; n < (60 << 20); i++) {
        memset(payload, 'a' + i % 26, sizeof(payload));
        memcpy(payload, "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"", 40);
        memcpy(payload + 100 + i % 290, "\"}}", 3);
        n += event(buf + n, "contentBlockDelta", payload, 103 + i % 290);
    }

    for (i = 0; i < 4; i++) {
        best = 1e9;

        for (round = 0; round < 5; round++) {
            seen = 0;
            ngx_bedrock_es_init(&es, 0, count_only, &seen, NULL, NULL, NULL);

            piece = pieces[i] ? pieces[i] : n;

            t = now();

            for (pos = 0; pos < n; pos += piece) {
                ngx_bedrock_es_feed(&es, buf + pos,
                                    n - pos < piece ? n - pos : piece);
            }

            t = now() - t;

            if (es.error || ngx_bedrock_es_finish(&es) != 0) {
                printf("decode failed: %s\n",
                       ngx_bedrock_es_strerror(es.error));
                return 1;
            }

            ngx_bedrock_es_free(&es);

            if (t < best) {
                best = t;
            }
        }

        printf("%zu MB in %s pieces: %.0f MB/s (%llu messages)\n",
               n >> 20, i == 0 ? "whole" : (i == 1 ? "16 KB"
                                      : (i == 2 ? "1500-byte" : "97-byte")),
               (double) n / best / 1e6, (unsigned long long) es.messages);
    }

    t = now();

    for (round = 0; round < 5; round++) {
        seen += ngx_bedrock_es_crc32(0, buf, n);
    }

    printf("CRC-32 alone: %.0f MB/s\n", 5.0 * n / (now() - t) / 1e6);

    free(buf);

    return 0;
}


int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        return bench();
    }

    test_crc();
    test_model_stream_error();
    test_two_cuts();
    test_header_types();
    test_mixed_stream();
    test_many_per_piece();
    test_corrupt();
    test_malformed_headers();
    test_oversize();
    test_finish_stop_nomem();
    test_encode_limits();

    if (have_botocore()) {
        test_botocore_decodes_ours();
        test_python_frames();

    } else {
        ok(1, "botocore checks # SKIP no " PYTHON " with botocore");
    }

    return done_testing();
}
