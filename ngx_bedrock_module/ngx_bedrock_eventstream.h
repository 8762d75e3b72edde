/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * An incremental decoder of application/vnd.amazon.eventstream, the
 * framing of Bedrock's streamed answers, for a body filter that sees the
 * response in pieces cut anywhere.  It is an observer: the bytes go to
 * the client whatever it finds, so on a corrupt stream it stops and says
 * why, and the caller logs it.
 *
 * A message is
 *
 *     total_len u32 | headers_len u32 | prelude_crc u32
 *     headers | payload | message_crc u32
 *
 * big-endian, with both CRCs the zlib (IEEE 802.3) CRC-32 of everything
 * before them.  A header is name_len u8, name, type u8, value.
 *
 * Memory: a message that arrives whole in one piece is handed to the
 * handler in place, without a copy.  Only a message cut across pieces is
 * assembled, in one buffer that the decoder owns and reuses; so at most
 * one partial message is kept.  The buffer comes from the allocator given
 * to ngx_bedrock_es_init() (libc malloc when none is given), and grows by
 * doubling up to max_frame, so a stream of small messages allocates once.
 * ngx_bedrock_es_set_buffer() gives a fixed buffer instead and then no
 * allocation happens at all.  A message larger than max_frame is never
 * assembled: its payload is skipped as it passes, its CRC still checked,
 * and the handler is told of it without the payload.  The state is the
 * caller's struct; there is nothing global.
 *
 * Pure C, no nginx types.
 */


#ifndef _NGX_BEDROCK_EVENTSTREAM_H_INCLUDED_
#define _NGX_BEDROCK_EVENTSTREAM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEDROCK_ES_PRELUDE_LEN   12

/* botocore's limits: a message beyond them is not a message */
#define NGX_BEDROCK_ES_MAX_HEADERS   (128 * 1024)
#define NGX_BEDROCK_ES_MAX_PAYLOAD   (16 * 1024 * 1024)

/* a Bedrock chunk carries at most 1,000,000 bytes, base64 in JSON */
#define NGX_BEDROCK_ES_DEFAULT_MAX_FRAME  (2 * 1024 * 1024)


typedef enum {
    NGX_BEDROCK_ES_OTHER = 0,       /* :message-type absent or unknown */
    NGX_BEDROCK_ES_EVENT,           /* "event" */
    NGX_BEDROCK_ES_EXCEPTION,       /* "exception": a modelled error */
    NGX_BEDROCK_ES_ERROR            /* "error": :error-code, :error-message */
} ngx_bedrock_es_type_e;


/* why decoding stopped, in ngx_bedrock_es_t.error */
typedef enum {
    NGX_BEDROCK_ES_OK = 0,
    NGX_BEDROCK_ES_EPRELUDE_CRC,    /* prelude CRC does not match */
    NGX_BEDROCK_ES_ELENGTH,         /* lengths impossible or over limits */
    NGX_BEDROCK_ES_EMESSAGE_CRC,    /* message CRC does not match */
    NGX_BEDROCK_ES_EHEADERS,        /* header block malformed */
    NGX_BEDROCK_ES_ENOMEM,          /* the allocator failed */
    NGX_BEDROCK_ES_EHANDLER,        /* the handler asked to stop */
    NGX_BEDROCK_ES_ETRUNCATED       /* the stream ended inside a message */
} ngx_bedrock_es_error_e;


/* header value types, as on the wire */
typedef enum {
    NGX_BEDROCK_ES_TRUE = 0,
    NGX_BEDROCK_ES_FALSE,
    NGX_BEDROCK_ES_BYTE,
    NGX_BEDROCK_ES_SHORT,
    NGX_BEDROCK_ES_INT,
    NGX_BEDROCK_ES_LONG,
    NGX_BEDROCK_ES_BYTES,
    NGX_BEDROCK_ES_STRING,
    NGX_BEDROCK_ES_TIMESTAMP,       /* milliseconds since the epoch */
    NGX_BEDROCK_ES_UUID
} ngx_bedrock_es_value_e;


typedef struct {
    const unsigned char     *name;
    size_t                   name_len;
    ngx_bedrock_es_value_e   type;
    int64_t                  integer;   /* TRUE/FALSE as 1/0, the numbers */
    const unsigned char     *data;      /* BYTES, STRING, UUID (16 bytes) */
    size_t                   len;
} ngx_bedrock_es_header_t;


typedef struct {
    ngx_bedrock_es_type_e    type;

    /* :event-type, :exception-type or :error-code, by type; else NULL */
    const unsigned char     *name;
    size_t                   name_len;

    const unsigned char     *content_type;       /* or NULL */
    size_t                   content_type_len;
    const unsigned char     *error_message;      /* of an "error", or NULL */
    size_t                   error_message_len;

    /* the raw header block, for ngx_bedrock_es_header_next() */
    const unsigned char     *headers;
    size_t                   headers_len;

    /* NULL when skipped; payload_len is the real length all the same */
    const unsigned char     *payload;
    size_t                   payload_len;

    uint32_t                 total_len;
    uint64_t                 offset;    /* of its first byte in the stream */

    /*
     * Over max_frame: the payload was not kept.  Its headers were kept
     * (and are above) when they alone fit in max_frame; otherwise
     * headers is NULL and type is NGX_BEDROCK_ES_OTHER.
     */
    unsigned                 skipped:1;
} ngx_bedrock_es_message_t;


typedef struct ngx_bedrock_es_s  ngx_bedrock_es_t;

/*
 * Called for each message whose CRCs match, in order.  The pointers are
 * valid only during the call.  Returns 0 to go on, -1 to stop decoding
 * (ngx_bedrock_es_feed() then returns -1 with NGX_BEDROCK_ES_EHANDLER).
 */
typedef int (*ngx_bedrock_es_handler_pt)(void *data,
    const ngx_bedrock_es_message_t *msg);

typedef void *(*ngx_bedrock_es_alloc_pt)(void *pool, size_t size);
typedef void (*ngx_bedrock_es_dealloc_pt)(void *pool, void *p);


struct ngx_bedrock_es_s {
    ngx_bedrock_es_handler_pt   handler;
    void                       *data;
    size_t                      max_frame;
    ngx_bedrock_es_alloc_pt     alloc;      /* NULL: a fixed buffer */
    ngx_bedrock_es_dealloc_pt   dealloc;
    void                       *pool;

    /* the message being assembled or skipped */
    unsigned char              *buf;
    size_t                      cap;
    size_t                      have;       /* of it, so far */
    uint32_t                    total;
    uint32_t                    headers_len;
    uint32_t                    crc;        /* running, while skipping */
    uint64_t                    start;      /* its offset in the stream */
    unsigned char               prelude[NGX_BEDROCK_ES_PRELUDE_LEN];
    unsigned char               tail[4];
    unsigned                    state:2;
    unsigned                    keep_headers:1;

    /* what it saw; readable by the caller at any time */
    ngx_bedrock_es_error_e      error;
    uint64_t                    offset;     /* bytes consumed in all */
    uint64_t                    error_offset;  /* of the failing message */
    uint64_t                    messages;   /* handed to the handler */
    uint64_t                    skipped;    /* of those, over max_frame */
    uint64_t                    skipped_bytes;
};


/*
 * Sets the decoder up.  max_frame 0 means the default.  alloc and
 * dealloc may both be NULL for libc malloc and free; pool is passed to
 * them.
 */
void ngx_bedrock_es_init(ngx_bedrock_es_t *es, size_t max_frame,
    ngx_bedrock_es_handler_pt handler, void *data,
    ngx_bedrock_es_alloc_pt alloc, ngx_bedrock_es_dealloc_pt dealloc,
    void *pool);

/*
 * Replaces the allocator by a fixed buffer of the caller's, which must
 * outlive the decoder; max_frame becomes at most its size.  Call it
 * right after ngx_bedrock_es_init().
 */
void ngx_bedrock_es_set_buffer(ngx_bedrock_es_t *es, unsigned char *buf,
    size_t size);

/*
 * Decodes the next piece of the stream, of any length, calling the
 * handler for every message it completes.  Returns 0, or -1 when the
 * stream is corrupt (es->error says why, es->error_offset where); after
 * that every call returns -1 at once.
 */
int ngx_bedrock_es_feed(ngx_bedrock_es_t *es, const unsigned char *p,
    size_t len);

/*
 * At the end of the stream: 0 when it ended between messages, -1 with
 * NGX_BEDROCK_ES_ETRUNCATED when it stopped inside one (or -1 if it had
 * failed before).
 */
int ngx_bedrock_es_finish(ngx_bedrock_es_t *es);

/* Releases the buffer, through the allocator it came from. */
void ngx_bedrock_es_free(ngx_bedrock_es_t *es);

const char *ngx_bedrock_es_strerror(ngx_bedrock_es_error_e error);
const char *ngx_bedrock_es_type_name(ngx_bedrock_es_type_e type);

/*
 * Reads the header at *pos (before end) and moves *pos past it.
 * Returns 1 for a header, 0 at the end of the block, -1 when the block
 * is malformed.
 */
int ngx_bedrock_es_header_next(const unsigned char **pos,
    const unsigned char *end, ngx_bedrock_es_header_t *h);

/*
 * Writes one message to buf; returns its length, or 0 when it does not
 * fit in size or a header cannot be encoded.  With buf NULL, returns the
 * length it would need.  Used by the tests and the benchmarks.
 */
size_t ngx_bedrock_es_encode(unsigned char *buf, size_t size,
    const ngx_bedrock_es_header_t *headers, size_t nheaders,
    const unsigned char *payload, size_t len);

/* zlib's crc32(): start with crc 0, chain by passing the last value */
uint32_t ngx_bedrock_es_crc32(uint32_t crc, const unsigned char *p,
    size_t len);


#endif /* _NGX_BEDROCK_EVENTSTREAM_H_INCLUDED_ */
