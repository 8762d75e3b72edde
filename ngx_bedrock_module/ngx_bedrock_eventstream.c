/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_eventstream.h"


/* es->state */
#define NGX_BEDROCK_ES_ST_PRELUDE  0   /* reading a prelude */
#define NGX_BEDROCK_ES_ST_BODY     1   /* assembling a message in buf */
#define NGX_BEDROCK_ES_ST_SKIP     2   /* passing over a large message */
#define NGX_BEDROCK_ES_ST_FAILED   3


static int ngx_bedrock_es_prelude(ngx_bedrock_es_t *es,
    const unsigned char *p);
static int ngx_bedrock_es_start(ngx_bedrock_es_t *es);
static int ngx_bedrock_es_reserve(ngx_bedrock_es_t *es, size_t size);
static int ngx_bedrock_es_whole(ngx_bedrock_es_t *es,
    const unsigned char *frame);
static size_t ngx_bedrock_es_skip(ngx_bedrock_es_t *es,
    const unsigned char *p, size_t n);
static int ngx_bedrock_es_dispatch(ngx_bedrock_es_t *es,
    const unsigned char *headers, size_t headers_len,
    const unsigned char *payload, size_t payload_len);
static int ngx_bedrock_es_fail(ngx_bedrock_es_t *es,
    ngx_bedrock_es_error_e error);
static void *ngx_bedrock_es_malloc(void *pool, size_t size);
static void ngx_bedrock_es_libc_free(void *pool, void *p);
static uint32_t ngx_bedrock_es_be32(const unsigned char *p);
static unsigned char *ngx_bedrock_es_put(unsigned char *p, uint64_t v,
    size_t n);


/* the bytes of a header value by type; 0 for none or length-prefixed */

static const unsigned char  ngx_bedrock_es_value_size[10] = {
    0, 0, 1, 2, 4, 8, 0, 0, 8, 16
};


/* the reflected IEEE polynomial 0xedb88320, as zlib uses it */

static const uint32_t  ngx_bedrock_es_crc_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba,
    0x076dc419, 0x706af48f, 0xe963a535, 0x9e6495a3,
    0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
    0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91,
    0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de,
    0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec,
    0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5,
    0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
    0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b,
    0x35b5a8fa, 0x42b2986c, 0xdbbbc9d6, 0xacbcf940,
    0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116,
    0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
    0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
    0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d,
    0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a,
    0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818,
    0x7f6a0dbb, 0x086d3d2d, 0x91646c97, 0xe6635c01,
    0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
    0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457,
    0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea, 0xfcb9887c,
    0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2,
    0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb,
    0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
    0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
    0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086,
    0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4,
    0x59b33d17, 0x2eb40d81, 0xb7bd5c3b, 0xc0ba6cad,
    0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
    0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683,
    0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8,
    0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe,
    0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7,
    0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
    0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5,
    0xd6d6a3e8, 0xa1d1937e, 0x38d8c2c4, 0x4fdff252,
    0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60,
    0xdf60efc3, 0xa867df55, 0x316e8eef, 0x4669be79,
    0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
    0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f,
    0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04,
    0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a,
    0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713,
    0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
    0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21,
    0x86d3d2d4, 0xf1d4e242, 0x68ddb3f8, 0x1fda836e,
    0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c,
    0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
    0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
    0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db,
    0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0,
    0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6,
    0xbad03605, 0xcdd70693, 0x54de5729, 0x23d967bf,
    0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
    0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d
};


void
ngx_bedrock_es_init(ngx_bedrock_es_t *es, size_t max_frame,
    ngx_bedrock_es_handler_pt handler, void *data,
    ngx_bedrock_es_alloc_pt alloc, ngx_bedrock_es_dealloc_pt dealloc,
    void *pool)
{
    memset(es, 0, sizeof(ngx_bedrock_es_t));

    es->handler = handler;
    es->data = data;
    es->max_frame = max_frame ? max_frame : NGX_BEDROCK_ES_DEFAULT_MAX_FRAME;

    if (alloc == NULL) {
        alloc = ngx_bedrock_es_malloc;
        dealloc = ngx_bedrock_es_libc_free;
        pool = NULL;
    }

    es->alloc = alloc;
    es->dealloc = dealloc;
    es->pool = pool;
}


void
ngx_bedrock_es_set_buffer(ngx_bedrock_es_t *es, unsigned char *buf,
    size_t size)
{
    es->alloc = NULL;
    es->dealloc = NULL;
    es->pool = NULL;
    es->buf = buf;
    es->cap = size;

    if (es->max_frame > size) {
        es->max_frame = size;
    }
}


void
ngx_bedrock_es_free(ngx_bedrock_es_t *es)
{
    if (es->alloc && es->buf) {
        if (es->dealloc) {
            es->dealloc(es->pool, es->buf);
        }

        es->buf = NULL;
        es->cap = 0;
    }
}


int
ngx_bedrock_es_feed(ngx_bedrock_es_t *es, const unsigned char *p,
    size_t len)
{
    size_t                n, avail;
    const unsigned char  *end;

    if (es->state == NGX_BEDROCK_ES_ST_FAILED) {
        return -1;
    }

    if (len == 0) {
        /* p may be NULL, and NULL + 0 is undefined in C */
        return 0;
    }

    end = p + len;

    while (p < end) {

        avail = end - p;

        switch (es->state) {

        case NGX_BEDROCK_ES_ST_PRELUDE:

            if (es->have == 0 && avail >= NGX_BEDROCK_ES_PRELUDE_LEN) {

                /*
                 * The common case: a whole message in this piece.  It is
                 * checked and handed over in place, with no copy.
                 */

                es->start = es->offset;

                if (ngx_bedrock_es_prelude(es, p) != 0) {
                    return -1;
                }

                if (es->total <= avail && es->total <= es->max_frame) {

                    if (ngx_bedrock_es_whole(es, p) != 0) {
                        return -1;
                    }

                    p += es->total;
                    es->offset += es->total;
                    continue;
                }

                memcpy(es->prelude, p, NGX_BEDROCK_ES_PRELUDE_LEN);
                es->have = NGX_BEDROCK_ES_PRELUDE_LEN;
                p += NGX_BEDROCK_ES_PRELUDE_LEN;
                es->offset += NGX_BEDROCK_ES_PRELUDE_LEN;

                if (ngx_bedrock_es_start(es) != 0) {
                    return -1;
                }

                continue;
            }

            if (es->have == 0) {
                es->start = es->offset;
            }

            n = NGX_BEDROCK_ES_PRELUDE_LEN - es->have;
            if (n > avail) {
                n = avail;
            }

            memcpy(es->prelude + es->have, p, n);
            es->have += n;
            p += n;
            es->offset += n;

            if (es->have < NGX_BEDROCK_ES_PRELUDE_LEN) {
                return 0;
            }

            if (ngx_bedrock_es_prelude(es, es->prelude) != 0
                || ngx_bedrock_es_start(es) != 0)
            {
                return -1;
            }

            continue;

        case NGX_BEDROCK_ES_ST_BODY:

            n = es->total - es->have;
            if (n > avail) {
                n = avail;
            }

            memcpy(es->buf + es->have, p, n);
            es->have += n;
            p += n;
            es->offset += n;

            if (es->have < es->total) {
                return 0;
            }

            es->have = 0;
            es->state = NGX_BEDROCK_ES_ST_PRELUDE;

            if (ngx_bedrock_es_whole(es, es->buf) != 0) {
                return -1;
            }

            continue;

        default: /* NGX_BEDROCK_ES_ST_SKIP */

            n = ngx_bedrock_es_skip(es, p, avail);
            if (n == 0) {
                return -1;
            }

            p += n;
            continue;
        }
    }

    return 0;
}


int
ngx_bedrock_es_finish(ngx_bedrock_es_t *es)
{
    if (es->state == NGX_BEDROCK_ES_ST_FAILED) {
        return -1;
    }

    if (es->have != 0) {
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_ETRUNCATED);
    }

    return 0;
}


const char *
ngx_bedrock_es_strerror(ngx_bedrock_es_error_e error)
{
    switch (error) {
    case NGX_BEDROCK_ES_OK:
        return "no error";
    case NGX_BEDROCK_ES_EPRELUDE_CRC:
        return "prelude CRC mismatch";
    case NGX_BEDROCK_ES_ELENGTH:
        return "invalid message length";
    case NGX_BEDROCK_ES_EMESSAGE_CRC:
        return "message CRC mismatch";
    case NGX_BEDROCK_ES_EHEADERS:
        return "malformed headers";
    case NGX_BEDROCK_ES_ENOMEM:
        return "out of memory";
    case NGX_BEDROCK_ES_EHANDLER:
        return "stopped by handler";
    case NGX_BEDROCK_ES_ETRUNCATED:
        return "stream ended inside a message";
    }

    return "unknown error";
}


const char *
ngx_bedrock_es_type_name(ngx_bedrock_es_type_e type)
{
    switch (type) {
    case NGX_BEDROCK_ES_EVENT:
        return "event";
    case NGX_BEDROCK_ES_EXCEPTION:
        return "exception";
    case NGX_BEDROCK_ES_ERROR:
        return "error";
    default:
        return "other";
    }
}


/*
 * Checks a prelude and takes its lengths.  The CRC is checked first: when
 * it fails, the lengths are noise and a length error would mislead.
 */

static int
ngx_bedrock_es_prelude(ngx_bedrock_es_t *es, const unsigned char *p)
{
    uint32_t  total, hlen;

    if (ngx_bedrock_es_crc32(0, p, 8) != ngx_bedrock_es_be32(p + 8)) {
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_EPRELUDE_CRC);
    }

    total = ngx_bedrock_es_be32(p);
    hlen = ngx_bedrock_es_be32(p + 4);

    if (total < NGX_BEDROCK_ES_PRELUDE_LEN + 4
        || hlen > total - NGX_BEDROCK_ES_PRELUDE_LEN - 4
        || hlen > NGX_BEDROCK_ES_MAX_HEADERS
        || total - hlen - NGX_BEDROCK_ES_PRELUDE_LEN - 4
           > NGX_BEDROCK_ES_MAX_PAYLOAD)
    {
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_ELENGTH);
    }

    es->total = total;
    es->headers_len = hlen;

    return 0;
}


/* The prelude is in es->prelude: assemble the message, or skip it. */

static int
ngx_bedrock_es_start(ngx_bedrock_es_t *es)
{
    if (es->total <= es->max_frame) {

        if (ngx_bedrock_es_reserve(es, es->total) != 0) {
            return -1;
        }

        memcpy(es->buf, es->prelude, NGX_BEDROCK_ES_PRELUDE_LEN);
        es->state = NGX_BEDROCK_ES_ST_BODY;

        return 0;
    }

    /* the headers say what was skipped: keep them when they fit */

    es->keep_headers = 0;

    if (es->headers_len <= es->max_frame) {

        if (ngx_bedrock_es_reserve(es, es->headers_len) != 0) {
            return -1;
        }

        es->keep_headers = 1;
    }

    es->crc = ngx_bedrock_es_crc32(0, es->prelude,
                                   NGX_BEDROCK_ES_PRELUDE_LEN);
    es->state = NGX_BEDROCK_ES_ST_SKIP;

    return 0;
}


/* Grows the buffer to size (at most max_frame), doubling. */

static int
ngx_bedrock_es_reserve(ngx_bedrock_es_t *es, size_t size)
{
    size_t          cap;
    unsigned char  *buf;

    if (size <= es->cap) {
        return 0;
    }

    if (es->alloc == NULL) {
        /* a fixed buffer: max_frame was cut to its size */
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_ENOMEM);
    }

    cap = es->cap ? es->cap : 4096;

    while (cap < size) {
        cap *= 2;
    }

    if (cap > es->max_frame) {
        cap = es->max_frame;
    }

    buf = es->alloc(es->pool, cap);
    if (buf == NULL) {
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_ENOMEM);
    }

    /* nothing to carry over: only the prelude is kept so far, elsewhere */

    if (es->buf && es->dealloc) {
        es->dealloc(es->pool, es->buf);
    }

    es->buf = buf;
    es->cap = cap;

    return 0;
}


/* A complete message of at most max_frame bytes, contiguous at frame. */

static int
ngx_bedrock_es_whole(ngx_bedrock_es_t *es, const unsigned char *frame)
{
    uint32_t  total, hlen;

    total = es->total;
    hlen = es->headers_len;

    if (ngx_bedrock_es_crc32(0, frame, total - 4)
        != ngx_bedrock_es_be32(frame + total - 4))
    {
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_EMESSAGE_CRC);
    }

    return ngx_bedrock_es_dispatch(es, frame + NGX_BEDROCK_ES_PRELUDE_LEN,
                                   hlen,
                                   frame + NGX_BEDROCK_ES_PRELUDE_LEN + hlen,
                                   total - hlen - NGX_BEDROCK_ES_PRELUDE_LEN
                                   - 4);
}


/*
 * Passes over up to n bytes of a message larger than max_frame: CRC the
 * bytes before the message CRC, keep the headers if asked, keep the last
 * four.  Returns how many bytes it took, or 0 when decoding failed.
 */

static size_t
ngx_bedrock_es_skip(ngx_bedrock_es_t *es, const unsigned char *p, size_t n)
{
    size_t  from, to, lo, hi, body_end, hdr_end;

    from = es->have;
    to = es->total - from;

    if (n > to) {
        n = to;
    }

    to = from + n;
    body_end = es->total - 4;
    hdr_end = NGX_BEDROCK_ES_PRELUDE_LEN + es->headers_len;

    if (from < body_end) {
        hi = to < body_end ? to : body_end;
        es->crc = ngx_bedrock_es_crc32(es->crc, p, hi - from);
    }

    if (es->keep_headers && from < hdr_end) {
        hi = to < hdr_end ? to : hdr_end;
        memcpy(es->buf + (from - NGX_BEDROCK_ES_PRELUDE_LEN), p, hi - from);
    }

    if (to > body_end) {
        lo = from > body_end ? from : body_end;
        memcpy(es->tail + (lo - body_end), p + (lo - from), to - lo);
    }

    es->have = to;
    es->offset += n;

    if (to < es->total) {
        return n;
    }

    es->have = 0;
    es->state = NGX_BEDROCK_ES_ST_PRELUDE;
    es->skipped++;
    es->skipped_bytes += es->total;

    if (es->crc != ngx_bedrock_es_be32(es->tail)) {
        ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_EMESSAGE_CRC);
        return 0;
    }

    if (ngx_bedrock_es_dispatch(es, es->keep_headers ? es->buf : NULL,
                                es->headers_len, NULL,
                                es->total - es->headers_len
                                - NGX_BEDROCK_ES_PRELUDE_LEN - 4)
        != 0)
    {
        return 0;
    }

    return n;
}


/*
 * Reads the headers a gateway acts on and calls the handler.  A header
 * block that does not parse, or names one of these twice (botocore
 * refuses duplicates), or gives one of them as anything but a string, is
 * malformed: a client would fail on the message too.
 */

static int
ngx_bedrock_es_dispatch(ngx_bedrock_es_t *es, const unsigned char *headers,
    size_t headers_len, const unsigned char *payload, size_t payload_len)
{
    int                        rc, i, name;
    const unsigned char       *pos, *end;
    ngx_bedrock_es_header_t    h;
    ngx_bedrock_es_message_t   msg;
    const unsigned char       *val[6];
    size_t                     len[6];

    static const struct {
        const char  *name;
        size_t       len;
    } known[6] = {
        { ":message-type", 13 },
        { ":event-type", 11 },
        { ":exception-type", 15 },
        { ":error-code", 11 },
        { ":content-type", 13 },
        { ":error-message", 14 }
    };

    memset(&msg, 0, sizeof(ngx_bedrock_es_message_t));
    memset(val, 0, sizeof(val));
    memset(len, 0, sizeof(len));

    if (headers) {
        pos = headers;
        end = headers + headers_len;

        for ( ;; ) {
            rc = ngx_bedrock_es_header_next(&pos, end, &h);

            if (rc == 0) {
                break;
            }

            if (rc < 0) {
                return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_EHEADERS);
            }

            if (h.name_len < 11 || h.name[0] != ':') {
                continue;
            }

            for (i = 0; i < 6; i++) {
                if (h.name_len == known[i].len
                    && memcmp(h.name, known[i].name, h.name_len) == 0)
                {
                    break;
                }
            }

            if (i == 6) {
                continue;
            }

            if (val[i] || h.type != NGX_BEDROCK_ES_STRING) {
                return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_EHEADERS);
            }

            /* an empty string still counts, so point at the name */
            val[i] = h.len ? h.data : h.name;
            len[i] = h.len;
        }

        msg.headers = headers;
        msg.headers_len = headers_len;
    }

    name = -1;

    if (val[0] == NULL) {
        msg.type = NGX_BEDROCK_ES_OTHER;

    } else if (len[0] == 5 && memcmp(val[0], "event", 5) == 0) {
        msg.type = NGX_BEDROCK_ES_EVENT;
        name = 1;

    } else if (len[0] == 9 && memcmp(val[0], "exception", 9) == 0) {
        msg.type = NGX_BEDROCK_ES_EXCEPTION;
        name = 2;

    } else if (len[0] == 5 && memcmp(val[0], "error", 5) == 0) {
        msg.type = NGX_BEDROCK_ES_ERROR;
        name = 3;

    } else {
        msg.type = NGX_BEDROCK_ES_OTHER;
    }

    if (name > 0) {
        msg.name = val[name];
        msg.name_len = len[name];
    }

    msg.content_type = val[4];
    msg.content_type_len = len[4];

    if (msg.type == NGX_BEDROCK_ES_ERROR) {
        msg.error_message = val[5];
        msg.error_message_len = len[5];
    }

    msg.payload = payload;
    msg.payload_len = payload_len;
    msg.total_len = es->total;
    msg.offset = es->start;
    msg.skipped = (payload == NULL);

    es->messages++;

    if (es->handler && es->handler(es->data, &msg) != 0) {
        return ngx_bedrock_es_fail(es, NGX_BEDROCK_ES_EHANDLER);
    }

    return 0;
}


static int
ngx_bedrock_es_fail(ngx_bedrock_es_t *es, ngx_bedrock_es_error_e error)
{
    es->error = error;
    es->error_offset = es->start;
    es->state = NGX_BEDROCK_ES_ST_FAILED;

    return -1;
}


int
ngx_bedrock_es_header_next(const unsigned char **pos,
    const unsigned char *end, ngx_bedrock_es_header_t *h)
{
    size_t                n, i;
    uint64_t              v;
    const unsigned char  *p;

    p = *pos;

    if (p >= end) {
        return 0;
    }

    memset(h, 0, sizeof(ngx_bedrock_es_header_t));

    n = *p++;

    /* the name, then at least the type byte */

    if ((size_t) (end - p) < n + 1) {
        return -1;
    }

    h->name = p;
    h->name_len = n;
    p += n;

    if (*p > NGX_BEDROCK_ES_UUID) {
        return -1;
    }

    h->type = (ngx_bedrock_es_value_e) *p++;

    switch (h->type) {

    case NGX_BEDROCK_ES_TRUE:
        h->integer = 1;
        break;

    case NGX_BEDROCK_ES_FALSE:
        break;

    case NGX_BEDROCK_ES_BYTES:
    case NGX_BEDROCK_ES_STRING:

        if (end - p < 2) {
            return -1;
        }

        n = ((size_t) p[0] << 8) | p[1];
        p += 2;

        if ((size_t) (end - p) < n) {
            return -1;
        }

        h->data = p;
        h->len = n;
        p += n;
        break;

    case NGX_BEDROCK_ES_UUID:

        if (end - p < 16) {
            return -1;
        }

        h->data = p;
        h->len = 16;
        p += 16;
        break;

    default: /* the signed big-endian integers */

        n = ngx_bedrock_es_value_size[h->type];

        if ((size_t) (end - p) < n) {
            return -1;
        }

        v = (p[0] & 0x80) ? UINT64_MAX : 0;

        for (i = 0; i < n; i++) {
            v = (v << 8) | p[i];
        }

        h->integer = (int64_t) v;
        p += n;
        break;
    }

    *pos = p;

    return 1;
}


size_t
ngx_bedrock_es_encode(unsigned char *buf, size_t size,
    const ngx_bedrock_es_header_t *headers, size_t nheaders,
    const unsigned char *payload, size_t len)
{
    size_t                          i, hlen, total, n;
    unsigned char                  *p;
    const ngx_bedrock_es_header_t  *h;

    hlen = 0;

    for (i = 0; i < nheaders; i++) {
        h = &headers[i];

        if (h->name_len > 255 || (unsigned) h->type > NGX_BEDROCK_ES_UUID) {
            return 0;
        }

        if (h->type == NGX_BEDROCK_ES_BYTES
            || h->type == NGX_BEDROCK_ES_STRING)
        {
            if (h->len > 65535) {
                return 0;
            }

            n = 2 + h->len;

        } else {
            n = ngx_bedrock_es_value_size[h->type];
        }

        hlen += 1 + h->name_len + 1 + n;
    }

    if (hlen > NGX_BEDROCK_ES_MAX_HEADERS
        || len > NGX_BEDROCK_ES_MAX_PAYLOAD)
    {
        return 0;
    }

    total = NGX_BEDROCK_ES_PRELUDE_LEN + hlen + len + 4;

    if (buf == NULL) {
        return total;
    }

    if (size < total) {
        return 0;
    }

    p = ngx_bedrock_es_put(buf, total, 4);
    p = ngx_bedrock_es_put(p, hlen, 4);
    p = ngx_bedrock_es_put(p, ngx_bedrock_es_crc32(0, buf, 8), 4);

    for (i = 0; i < nheaders; i++) {
        h = &headers[i];

        *p++ = (unsigned char) h->name_len;
        memcpy(p, h->name, h->name_len);
        p += h->name_len;
        *p++ = (unsigned char) h->type;

        switch (h->type) {

        case NGX_BEDROCK_ES_TRUE:
        case NGX_BEDROCK_ES_FALSE:
            break;

        case NGX_BEDROCK_ES_BYTES:
        case NGX_BEDROCK_ES_STRING:
            p = ngx_bedrock_es_put(p, h->len, 2);
            memcpy(p, h->data, h->len);
            p += h->len;
            break;

        case NGX_BEDROCK_ES_UUID:
            memcpy(p, h->data, 16);
            p += 16;
            break;

        default:
            p = ngx_bedrock_es_put(p, (uint64_t) h->integer,
                                   ngx_bedrock_es_value_size[h->type]);
            break;
        }
    }

    if (len) {
        memcpy(p, payload, len);
        p += len;
    }

    ngx_bedrock_es_put(p, ngx_bedrock_es_crc32(0, buf, p - buf), 4);

    return total;
}


uint32_t
ngx_bedrock_es_crc32(uint32_t crc, const unsigned char *p, size_t len)
{
    crc = ~crc;

    while (len--) {
        crc = ngx_bedrock_es_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }

    return ~crc;
}


static void *
ngx_bedrock_es_malloc(void *pool, size_t size)
{
    (void) pool;

    return malloc(size);
}


static void
ngx_bedrock_es_libc_free(void *pool, void *p)
{
    (void) pool;

    free(p);
}


static uint32_t
ngx_bedrock_es_be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


/* the low n bytes of v, big-endian */

static unsigned char *
ngx_bedrock_es_put(unsigned char *p, uint64_t v, size_t n)
{
    while (n--) {
        *p++ = (unsigned char) (v >> (n * 8));
    }

    return p;
}
