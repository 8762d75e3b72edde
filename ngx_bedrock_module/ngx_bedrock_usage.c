/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#include <string.h>

#include "ngx_bedrock_usage.h"


#define NGX_BEDROCK_JSON_PATH       4     /* keys of the path kept */
#define NGX_BEDROCK_JSON_MAX_DEPTH  1024
#define NGX_BEDROCK_JSON_KEY_LEN    40    /* longer keys are not ours */


/* the keys the walker knows; any other key is NGX_BEDROCK_KEY_OTHER */
enum {
    NGX_BEDROCK_KEY_OTHER = 0,
    NGX_BEDROCK_KEY_ITEM,               /* an element of an array */
    NGX_BEDROCK_KEY_USAGE,
    NGX_BEDROCK_KEY_MESSAGE,
    NGX_BEDROCK_KEY_BYTES,
    NGX_BEDROCK_KEY_RESULTS,
    NGX_BEDROCK_KEY_METRICS,
    NGX_BEDROCK_KEY_TOKEN_COUNT,
    NGX_BEDROCK_KEY_INPUT_TOKENS,       /* Converse, camel case */
    NGX_BEDROCK_KEY_OUTPUT_TOKENS,
    NGX_BEDROCK_KEY_CACHE_READ,
    NGX_BEDROCK_KEY_CACHE_WRITE,
    NGX_BEDROCK_KEY_CACHE_READ_COUNT,
    NGX_BEDROCK_KEY_CACHE_WRITE_COUNT,
    NGX_BEDROCK_KEY_INPUT_TOKENS_S,     /* Anthropic, snake case */
    NGX_BEDROCK_KEY_OUTPUT_TOKENS_S,
    NGX_BEDROCK_KEY_CACHE_CREATION_S,
    NGX_BEDROCK_KEY_CACHE_READ_S,
    NGX_BEDROCK_KEY_PROMPT_TOKENS,
    NGX_BEDROCK_KEY_COMPLETION_TOKENS,
    NGX_BEDROCK_KEY_INPUT_TOKEN_COUNT,
    NGX_BEDROCK_KEY_OUTPUT_TOKEN_COUNT,
    NGX_BEDROCK_KEY_INPUT_TEXT_COUNT,
    NGX_BEDROCK_KEY_OUTPUT_TEXT_COUNT,
    NGX_BEDROCK_KEY_PROMPT_COUNT,
    NGX_BEDROCK_KEY_GENERATION_COUNT
};


/* what a walk looks for */
enum {
    NGX_BEDROCK_JSON_USAGE = 0,
    NGX_BEDROCK_JSON_BYTES,             /* the top-level "bytes" string */
    NGX_BEDROCK_JSON_MESSAGE            /* the top-level "message" string */
};


/* the counts, as indexes */
enum {
    NGX_BEDROCK_FIELD_INPUT = 0,
    NGX_BEDROCK_FIELD_OUTPUT,
    NGX_BEDROCK_FIELD_CACHE_READ,
    NGX_BEDROCK_FIELD_CACHE_WRITE,
    NGX_BEDROCK_FIELD_LAST
};


typedef struct {
    const char     *name;
    unsigned char   len;
    unsigned char   id;
} ngx_bedrock_json_key_t;


/* a count at the end of a path from the top of the document */
typedef struct {
    unsigned char   depth;
    unsigned char   path[3];
    unsigned char   field;
    unsigned char   rank;       /* the higher wins within one payload */
    unsigned char   sum;        /* added up over an array */
    unsigned char   source;
} ngx_bedrock_json_rule_t;


typedef struct {
    /* the input: raw bytes, or the base64 text of a JSON string */
    const unsigned char  *p;
    const unsigned char  *end;
    unsigned char         win[3];   /* decoded, not yet walked */
    unsigned char         win_pos;
    unsigned char         win_len;
    unsigned              b64:1;
    unsigned              b64_done:1;

    unsigned              what:2;
    unsigned              depth;
    unsigned char         path[NGX_BEDROCK_JSON_PATH];
    uint64_t              arrays[NGX_BEDROCK_JSON_MAX_DEPTH / 64];

    /* what was found */
    uint64_t              value[NGX_BEDROCK_FIELD_LAST];
    unsigned char         rank[NGX_BEDROCK_FIELD_LAST];
    uint64_t              sum;
    const ngx_bedrock_json_rule_t  *sum_rule;
    unsigned              sources;
    const unsigned char  *str;
    const unsigned char  *str_end;
} ngx_bedrock_json_t;


static void ngx_bedrock_json_init(ngx_bedrock_json_t *j,
    const unsigned char *p, size_t len, unsigned what);
static int ngx_bedrock_json_walk(ngx_bedrock_json_t *j);
static int ngx_bedrock_json_ws(ngx_bedrock_json_t *j);
static int ngx_bedrock_json_peek(ngx_bedrock_json_t *j);
static void ngx_bedrock_json_next(ngx_bedrock_json_t *j);
static int ngx_bedrock_json_refill(ngx_bedrock_json_t *j);
static int ngx_bedrock_json_b64(int c);
static int ngx_bedrock_json_hex4(ngx_bedrock_json_t *j, unsigned *code);
static int ngx_bedrock_json_string(ngx_bedrock_json_t *j, int is_key,
    unsigned *id);
static int ngx_bedrock_json_number(ngx_bedrock_json_t *j);
static int ngx_bedrock_json_literal(ngx_bedrock_json_t *j);
static int ngx_bedrock_json_push(ngx_bedrock_json_t *j, int array);
static int ngx_bedrock_json_in_array(ngx_bedrock_json_t *j);
static unsigned ngx_bedrock_json_key_id(const unsigned char *key,
    size_t len);
static void ngx_bedrock_json_count(ngx_bedrock_json_t *j, uint64_t v);
static void ngx_bedrock_json_take(ngx_bedrock_json_t *j,
    const ngx_bedrock_json_rule_t *r, uint64_t v);
static void ngx_bedrock_json_pop(ngx_bedrock_json_t *j);
static int ngx_bedrock_usage_merge(ngx_bedrock_json_t *j,
    ngx_bedrock_usage_t *u);
static unsigned ngx_bedrock_hex4(const unsigned char *p);
static size_t ngx_bedrock_utf8_put(unsigned char *p, unsigned cp);
static size_t ngx_bedrock_utf8_trim(const unsigned char *buf, size_t n);


static const ngx_bedrock_json_key_t  ngx_bedrock_json_keys[] = {
    { "usage", 5, NGX_BEDROCK_KEY_USAGE },
    { "message", 7, NGX_BEDROCK_KEY_MESSAGE },
    { "Message", 7, NGX_BEDROCK_KEY_MESSAGE },
    { "bytes", 5, NGX_BEDROCK_KEY_BYTES },
    { "results", 7, NGX_BEDROCK_KEY_RESULTS },
    { "amazon-bedrock-invocationMetrics", 32, NGX_BEDROCK_KEY_METRICS },
    { "tokenCount", 10, NGX_BEDROCK_KEY_TOKEN_COUNT },
    { "inputTokens", 11, NGX_BEDROCK_KEY_INPUT_TOKENS },
    { "outputTokens", 12, NGX_BEDROCK_KEY_OUTPUT_TOKENS },
    { "cacheReadInputTokens", 20, NGX_BEDROCK_KEY_CACHE_READ },
    { "cacheWriteInputTokens", 21, NGX_BEDROCK_KEY_CACHE_WRITE },
    { "cacheReadInputTokenCount", 24, NGX_BEDROCK_KEY_CACHE_READ_COUNT },
    { "cacheWriteInputTokenCount", 25, NGX_BEDROCK_KEY_CACHE_WRITE_COUNT },
    { "input_tokens", 12, NGX_BEDROCK_KEY_INPUT_TOKENS_S },
    { "output_tokens", 13, NGX_BEDROCK_KEY_OUTPUT_TOKENS_S },
    { "cache_creation_input_tokens", 27, NGX_BEDROCK_KEY_CACHE_CREATION_S },
    { "cache_read_input_tokens", 23, NGX_BEDROCK_KEY_CACHE_READ_S },
    { "prompt_tokens", 13, NGX_BEDROCK_KEY_PROMPT_TOKENS },
    { "completion_tokens", 17, NGX_BEDROCK_KEY_COMPLETION_TOKENS },
    { "inputTokenCount", 15, NGX_BEDROCK_KEY_INPUT_TOKEN_COUNT },
    { "outputTokenCount", 16, NGX_BEDROCK_KEY_OUTPUT_TOKEN_COUNT },
    { "inputTextTokenCount", 19, NGX_BEDROCK_KEY_INPUT_TEXT_COUNT },
    { "totalOutputTextTokenCount", 25, NGX_BEDROCK_KEY_OUTPUT_TEXT_COUNT },
    { "prompt_token_count", 18, NGX_BEDROCK_KEY_PROMPT_COUNT },
    { "generation_token_count", 22, NGX_BEDROCK_KEY_GENERATION_COUNT },
    { NULL, 0, NGX_BEDROCK_KEY_OTHER }
};


#define K(name)  NGX_BEDROCK_KEY_##name
#define F(name)  NGX_BEDROCK_FIELD_##name
#define S(name)  NGX_BEDROCK_USAGE_##name

static const ngx_bedrock_json_rule_t  ngx_bedrock_json_rules[] = {

    /* Converse, ConverseStream metadata; Nova's InvokeModel */
    { 2, { K(USAGE), K(INPUT_TOKENS) }, F(INPUT), 1, 0, S(CONVERSE) },
    { 2, { K(USAGE), K(OUTPUT_TOKENS) }, F(OUTPUT), 1, 0, S(CONVERSE) },
    { 2, { K(USAGE), K(CACHE_READ) }, F(CACHE_READ), 1, 0, S(CONVERSE) },
    { 2, { K(USAGE), K(CACHE_WRITE) }, F(CACHE_WRITE), 1, 0, S(CONVERSE) },
    { 2, { K(USAGE), K(CACHE_READ_COUNT) }, F(CACHE_READ), 1, 0,
      S(CONVERSE) },
    { 2, { K(USAGE), K(CACHE_WRITE_COUNT) }, F(CACHE_WRITE), 1, 0,
      S(CONVERSE) },

    /* Claude Messages; its message_delta event */
    { 2, { K(USAGE), K(INPUT_TOKENS_S) }, F(INPUT), 1, 0, S(ANTHROPIC) },
    { 2, { K(USAGE), K(OUTPUT_TOKENS_S) }, F(OUTPUT), 1, 0, S(ANTHROPIC) },
    { 2, { K(USAGE), K(CACHE_READ_S) }, F(CACHE_READ), 1, 0, S(ANTHROPIC) },
    { 2, { K(USAGE), K(CACHE_CREATION_S) }, F(CACHE_WRITE), 1, 0,
      S(ANTHROPIC) },

    /* Claude's message_start event */
    { 3, { K(MESSAGE), K(USAGE), K(INPUT_TOKENS_S) }, F(INPUT), 1, 0,
      S(ANTHROPIC) },
    { 3, { K(MESSAGE), K(USAGE), K(OUTPUT_TOKENS_S) }, F(OUTPUT), 1, 0,
      S(ANTHROPIC) },
    { 3, { K(MESSAGE), K(USAGE), K(CACHE_READ_S) }, F(CACHE_READ), 1, 0,
      S(ANTHROPIC) },
    { 3, { K(MESSAGE), K(USAGE), K(CACHE_CREATION_S) }, F(CACHE_WRITE), 1, 0,
      S(ANTHROPIC) },

    /* the chat completions shape */
    { 2, { K(USAGE), K(PROMPT_TOKENS) }, F(INPUT), 1, 0, S(CHAT) },
    { 2, { K(USAGE), K(COMPLETION_TOKENS) }, F(OUTPUT), 1, 0, S(CHAT) },

    /* Titan Text: body and stream chunks */
    { 1, { K(INPUT_TEXT_COUNT) }, F(INPUT), 1, 0, S(TITAN) },
    { 1, { K(OUTPUT_TEXT_COUNT) }, F(OUTPUT), 1, 0, S(TITAN) },
    { 3, { K(RESULTS), K(ITEM), K(TOKEN_COUNT) }, F(OUTPUT), 1, 1,
      S(TITAN) },

    /* Llama: body and stream chunks */
    { 1, { K(PROMPT_COUNT) }, F(INPUT), 1, 0, S(LLAMA) },
    { 1, { K(GENERATION_COUNT) }, F(OUTPUT), 1, 0, S(LLAMA) },

    /* what Bedrock itself measured, in the last chunk of a stream */
    { 2, { K(METRICS), K(INPUT_TOKEN_COUNT) }, F(INPUT), 2, 0, S(METRICS) },
    { 2, { K(METRICS), K(OUTPUT_TOKEN_COUNT) }, F(OUTPUT), 2, 0,
      S(METRICS) },
    { 2, { K(METRICS), K(CACHE_READ_COUNT) }, F(CACHE_READ), 2, 0,
      S(METRICS) },
    { 2, { K(METRICS), K(CACHE_WRITE_COUNT) }, F(CACHE_WRITE), 2, 0,
      S(METRICS) },

    { 0, { 0 }, 0, 0, 0, 0 }
};

#undef K
#undef F
#undef S


int
ngx_bedrock_usage_body(const unsigned char *json, size_t len,
    ngx_bedrock_usage_t *u)
{
    ngx_bedrock_json_t  j;

    ngx_bedrock_json_init(&j, json, len, NGX_BEDROCK_JSON_USAGE);
    (void) ngx_bedrock_json_walk(&j);

    return ngx_bedrock_usage_merge(&j, u);
}


int
ngx_bedrock_usage_chunk(const unsigned char *json, size_t len,
    ngx_bedrock_usage_t *u)
{
    ngx_bedrock_json_t  j;

    ngx_bedrock_json_init(&j, json, len, NGX_BEDROCK_JSON_BYTES);

    if (ngx_bedrock_json_walk(&j) != 1) {
        return -1;
    }

    /* the model's JSON is walked as its base64 is decoded */

    ngx_bedrock_json_init(&j, j.str, j.str_end - j.str,
                          NGX_BEDROCK_JSON_USAGE);
    j.b64 = 1;

    (void) ngx_bedrock_json_walk(&j);

    return ngx_bedrock_usage_merge(&j, u);
}


int
ngx_bedrock_usage_event(const unsigned char *event_type,
    size_t event_type_len, const unsigned char *payload, size_t len,
    ngx_bedrock_usage_t *u)
{
    if (event_type_len == 5 && memcmp(event_type, "chunk", 5) == 0) {
        return ngx_bedrock_usage_chunk(payload, len, u);
    }

    if (event_type_len == 8 && memcmp(event_type, "metadata", 8) == 0) {
        return ngx_bedrock_usage_body(payload, len, u);
    }

    return -1;
}


int
ngx_bedrock_usage_message(const unsigned char *json, size_t len,
    char *buf, size_t size)
{
    size_t                n, k;
    unsigned              cp, lo;
    unsigned char         seq[4];
    unsigned char        *out;
    const unsigned char  *p, *end;
    ngx_bedrock_json_t    j;

    if (size == 0) {
        return -1;
    }

    ngx_bedrock_json_init(&j, json, len, NGX_BEDROCK_JSON_MESSAGE);

    if (ngx_bedrock_json_walk(&j) != 1) {
        return -1;
    }

    /* the walker checked the escapes; this only decodes them */

    out = (unsigned char *) buf;
    n = 0;
    p = j.str;
    end = j.str_end;

    while (p < end) {

        if (*p != '\\') {
            seq[0] = *p++;
            k = 1;

            if (seq[0] < 0x20 || seq[0] == 0x7f) {
                seq[0] = ' ';
            }

        } else {
            p++;

            switch (*p) {

            case 'u':
                cp = ngx_bedrock_hex4(p + 1);
                p += 5;

                if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6
                    && p[0] == '\\' && p[1] == 'u')
                {
                    lo = ngx_bedrock_hex4(p + 2);

                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                    }
                }

                if (cp >= 0xd800 && cp < 0xe000) {
                    cp = 0xfffd;

                } else if (cp < 0x20 || cp == 0x7f) {
                    cp = ' ';
                }

                k = ngx_bedrock_utf8_put(seq, cp);
                break;

            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                seq[0] = ' ';
                k = 1;
                p++;
                break;

            default:                    /* '"', '\\', '/' */
                seq[0] = *p++;
                k = 1;
                break;
            }
        }

        if (n + k > size - 1) {
            n = ngx_bedrock_utf8_trim(out, n);
            break;
        }

        memcpy(out + n, seq, k);
        n += k;
    }

    out[n] = '\0';

    return (int) n;
}


static void
ngx_bedrock_json_init(ngx_bedrock_json_t *j, const unsigned char *p,
    size_t len, unsigned what)
{
    memset(j, 0, sizeof(ngx_bedrock_json_t));

    j->p = p;
    j->end = len ? p + len : p;     /* p may be NULL when len is 0 */
    j->what = what;
}


/*
 * Walks one JSON value without recursion, keeping the keys of the first
 * levels of the path.  Returns 1 when it found what it looks for and
 * stopped, 0 at the end of a well-formed value, -1 where the input ends
 * early or stops being JSON; what it found before is kept all the same.
 */

static int
ngx_bedrock_json_walk(ngx_bedrock_json_t *j)
{
    int       c, rc;
    unsigned  id, state;

    enum {
        st_value = 0,
        st_key,
        st_after
    };

    state = st_value;

    for ( ;; ) {

        switch (state) {

        case st_value:

            c = ngx_bedrock_json_ws(j);

            switch (c) {

            case '{':
            case '[':
                ngx_bedrock_json_next(j);

                if (ngx_bedrock_json_push(j, c == '[') != 0) {
                    return -1;
                }

                c = ngx_bedrock_json_ws(j);

                if (c == (ngx_bedrock_json_in_array(j) ? ']' : '}')) {
                    ngx_bedrock_json_next(j);
                    ngx_bedrock_json_pop(j);
                    state = st_after;

                } else {
                    state = ngx_bedrock_json_in_array(j) ? st_value : st_key;
                }

                continue;

            case '"':
                ngx_bedrock_json_next(j);

                rc = ngx_bedrock_json_string(j, 0, NULL);
                if (rc != 0) {
                    return rc;
                }

                state = st_after;
                continue;

            case 't':
            case 'f':
            case 'n':
                if (ngx_bedrock_json_literal(j) != 0) {
                    return -1;
                }

                state = st_after;
                continue;

            default:
                if (c == '-' || (c >= '0' && c <= '9')) {

                    if (ngx_bedrock_json_number(j) != 0) {
                        return -1;
                    }

                    state = st_after;
                    continue;
                }

                return -1;
            }

        case st_key:

            if (ngx_bedrock_json_ws(j) != '"') {
                return -1;
            }

            ngx_bedrock_json_next(j);

            if (ngx_bedrock_json_string(j, 1, &id) != 0) {
                return -1;
            }

            if (ngx_bedrock_json_ws(j) != ':') {
                return -1;
            }

            ngx_bedrock_json_next(j);

            if (j->depth <= NGX_BEDROCK_JSON_PATH) {
                j->path[j->depth - 1] = (unsigned char) id;
            }

            state = st_value;
            continue;

        default: /* st_after */

            if (j->depth == 0) {
                return 0;
            }

            c = ngx_bedrock_json_ws(j);

            if (c == ',') {
                ngx_bedrock_json_next(j);
                state = ngx_bedrock_json_in_array(j) ? st_value : st_key;
                continue;
            }

            if (c == (ngx_bedrock_json_in_array(j) ? ']' : '}')) {
                ngx_bedrock_json_next(j);
                ngx_bedrock_json_pop(j);
                continue;
            }

            return -1;
        }
    }
}


static int
ngx_bedrock_json_push(ngx_bedrock_json_t *j, int array)
{
    unsigned  d;

    d = j->depth;

    if (d == NGX_BEDROCK_JSON_MAX_DEPTH) {
        return -1;
    }

    if (array) {
        j->arrays[d / 64] |= (uint64_t) 1 << (d % 64);

    } else {
        j->arrays[d / 64] &= ~((uint64_t) 1 << (d % 64));
    }

    if (d < NGX_BEDROCK_JSON_PATH) {
        j->path[d] = array ? NGX_BEDROCK_KEY_ITEM : NGX_BEDROCK_KEY_OTHER;
    }

    j->depth = d + 1;

    return 0;
}


/* whether the innermost open container is an array; depth > 0 */

static int
ngx_bedrock_json_in_array(ngx_bedrock_json_t *j)
{
    unsigned  d;

    d = j->depth - 1;

    return (j->arrays[d / 64] >> (d % 64)) & 1;
}


static int
ngx_bedrock_json_ws(ngx_bedrock_json_t *j)
{
    int  c;

    for ( ;; ) {
        c = ngx_bedrock_json_peek(j);

        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            return c;
        }

        ngx_bedrock_json_next(j);
    }
}


/* the next byte of the document, or -1 at its end */

static int
ngx_bedrock_json_peek(ngx_bedrock_json_t *j)
{
    if (j->b64) {
        if (j->win_pos == j->win_len && ngx_bedrock_json_refill(j) != 0) {
            return -1;
        }

        return j->win[j->win_pos];
    }

    return j->p < j->end ? *j->p : -1;
}


/* past the byte peek returned; only after a peek that was not -1 */

static void
ngx_bedrock_json_next(ngx_bedrock_json_t *j)
{
    if (j->b64) {
        j->win_pos++;

    } else {
        j->p++;
    }
}


/*
 * Decodes the next four base64 characters, or what is left of them at
 * the end.  The text is the inside of a JSON string, where an encoder may
 * have written '/' as "\/"; any other escape, '=' or a byte outside the
 * alphabet ends the document.
 */

static int
ngx_bedrock_json_refill(ngx_bedrock_json_t *j)
{
    int       v;
    unsigned  n;
    uint32_t  bits;

    if (j->b64_done) {
        return -1;
    }

    bits = 0;

    for (n = 0; n < 4 && j->p < j->end; n++) {

        if (*j->p == '\\') {
            if (j->end - j->p < 2 || j->p[1] != '/') {
                break;
            }

            j->p++;
        }

        v = ngx_bedrock_json_b64(*j->p);
        if (v < 0) {
            break;
        }

        j->p++;
        bits = (bits << 6) | (uint32_t) v;
    }

    if (n < 4) {
        j->b64_done = 1;
    }

    j->win_pos = 0;

    switch (n) {

    case 4:
        j->win[0] = (unsigned char) (bits >> 16);
        j->win[1] = (unsigned char) (bits >> 8);
        j->win[2] = (unsigned char) bits;
        j->win_len = 3;
        return 0;

    case 3:
        j->win[0] = (unsigned char) (bits >> 10);
        j->win[1] = (unsigned char) (bits >> 2);
        j->win_len = 2;
        return 0;

    case 2:
        j->win[0] = (unsigned char) (bits >> 4);
        j->win_len = 1;
        return 0;

    default:
        j->win_len = 0;
        return -1;
    }
}


static int
ngx_bedrock_json_b64(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


static int
ngx_bedrock_json_hex4(ngx_bedrock_json_t *j, unsigned *code)
{
    int       c;
    unsigned  i;

    *code = 0;

    for (i = 0; i < 4; i++) {
        c = ngx_bedrock_json_peek(j);

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        ngx_bedrock_json_next(j);
        *code = *code * 16 + (unsigned) c;
    }

    return 0;
}


/*
 * A string, after its opening quote.  A key is decoded to be matched
 * against the known ones; a value is only passed over, unless it is the
 * one the walk looks for, whose raw span is kept (raw input only).
 * Returns 0, 1 when the walk found what it looks for, -1 on an error.
 */

static int
ngx_bedrock_json_string(ngx_bedrock_json_t *j, int is_key, unsigned *id)
{
    int                   c;
    size_t                n;
    unsigned              code, fits;
    const unsigned char  *start;
    unsigned char         key[NGX_BEDROCK_JSON_KEY_LEN];

    start = j->p;
    n = 0;
    fits = 1;

    for ( ;; ) {

        /* the long texts of an answer: pass plain bytes in a tight loop */

        if (!is_key && !j->b64) {
            while (j->p < j->end && *j->p != '"' && *j->p != '\\') {
                j->p++;
            }
        }

        c = ngx_bedrock_json_peek(j);

        if (c < 0) {
            return -1;
        }

        ngx_bedrock_json_next(j);

        if (c == '"') {
            break;
        }

        if (c == '\\') {
            c = ngx_bedrock_json_peek(j);

            if (c < 0) {
                return -1;
            }

            ngx_bedrock_json_next(j);

            switch (c) {

            case '"':
            case '\\':
            case '/':
                break;

            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                /* no known key has a control character */
                fits = 0;
                break;

            case 'u':
                if (ngx_bedrock_json_hex4(j, &code) != 0) {
                    return -1;
                }

                /* no known key has anything but ASCII */
                if (code > 0x7f) {
                    fits = 0;
                }

                c = (int) code;
                break;

            default:
                return -1;
            }
        }

        if (is_key && fits) {
            if (n == NGX_BEDROCK_JSON_KEY_LEN) {
                fits = 0;

            } else {
                key[n++] = (unsigned char) c;
            }
        }
    }

    if (is_key) {
        *id = fits ? ngx_bedrock_json_key_id(key, n) : NGX_BEDROCK_KEY_OTHER;
        return 0;
    }

    if (j->what != NGX_BEDROCK_JSON_USAGE && !j->b64 && j->depth == 1
        && j->path[0] == (j->what == NGX_BEDROCK_JSON_BYTES
                          ? NGX_BEDROCK_KEY_BYTES : NGX_BEDROCK_KEY_MESSAGE)
        && !ngx_bedrock_json_in_array(j))
    {
        j->str = start;
        j->str_end = j->p - 1;
        return 1;
    }

    return 0;
}


/*
 * A number.  It counts when it is a non-negative integer that fits and is
 * followed by what may follow a value: at the very end of the input it
 * may have been cut short.
 */

static int
ngx_bedrock_json_number(ngx_bedrock_json_t *j)
{
    int       c, usable, digits;
    uint64_t  v;

    usable = 1;
    digits = 0;
    v = 0;

    c = ngx_bedrock_json_peek(j);

    if (c == '-') {
        usable = 0;
        ngx_bedrock_json_next(j);
    }

    for ( ;; ) {
        c = ngx_bedrock_json_peek(j);

        if (c < '0' || c > '9') {
            break;
        }

        if (v > UINT64_MAX / 10
            || (v == UINT64_MAX / 10
                && (uint64_t) (c - '0') > UINT64_MAX % 10))
        {
            usable = 0;

        } else {
            v = v * 10 + (uint64_t) (c - '0');
        }

        digits++;
        ngx_bedrock_json_next(j);
    }

    if (digits == 0) {
        return -1;
    }

    /* a fraction or an exponent: valid JSON, not a count */

    while (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
           || (c >= '0' && c <= '9'))
    {
        usable = 0;
        ngx_bedrock_json_next(j);
        c = ngx_bedrock_json_peek(j);
    }

    if (c != ',' && c != '}' && c != ']'
        && c != ' ' && c != '\n' && c != '\r' && c != '\t')
    {
        return -1;
    }

    if (usable && j->what == NGX_BEDROCK_JSON_USAGE) {
        ngx_bedrock_json_count(j, v);
    }

    return 0;
}


static int
ngx_bedrock_json_literal(ngx_bedrock_json_t *j)
{
    const char  *lit;

    switch (ngx_bedrock_json_peek(j)) {
    case 't':
        lit = "true";
        break;
    case 'f':
        lit = "false";
        break;
    default:
        lit = "null";
        break;
    }

    for ( ; *lit; lit++) {
        if (ngx_bedrock_json_peek(j) != *lit) {
            return -1;
        }

        ngx_bedrock_json_next(j);
    }

    return 0;
}


static unsigned
ngx_bedrock_json_key_id(const unsigned char *key, size_t len)
{
    const ngx_bedrock_json_key_t  *k;

    for (k = ngx_bedrock_json_keys; k->name; k++) {
        if (k->len == len && memcmp(k->name, key, len) == 0) {
            return k->id;
        }
    }

    return NGX_BEDROCK_KEY_OTHER;
}


/* A count at j's path: take it if a rule names that path. */

static void
ngx_bedrock_json_count(ngx_bedrock_json_t *j, uint64_t v)
{
    unsigned                        i;
    const ngx_bedrock_json_rule_t  *r;

    if (j->depth == 0 || j->depth > 3) {
        return;
    }

    for (r = ngx_bedrock_json_rules; r->depth; r++) {

        if (r->depth != j->depth) {
            continue;
        }

        for (i = 0; i < r->depth; i++) {
            if (r->path[i] != j->path[i]) {
                break;
            }
        }

        if (i < r->depth) {
            continue;
        }

        if (r->sum) {

            /* taken when the array closes: a part of it is no count */

            if (j->sum > UINT64_MAX - v) {
                return;
            }

            j->sum += v;
            j->sum_rule = r;
            return;
        }

        ngx_bedrock_json_take(j, r, v);
        return;
    }
}


static void
ngx_bedrock_json_take(ngx_bedrock_json_t *j,
    const ngx_bedrock_json_rule_t *r, uint64_t v)
{
    if (r->rank < j->rank[r->field]) {
        return;
    }

    j->value[r->field] = v;
    j->rank[r->field] = r->rank;
    j->sources |= r->source;
}


/* A container closes; if it was the array a sum runs over, take it. */

static void
ngx_bedrock_json_pop(ngx_bedrock_json_t *j)
{
    j->depth--;

    if (j->sum_rule && j->depth + 2 == j->sum_rule->depth) {
        ngx_bedrock_json_take(j, j->sum_rule, j->sum);
        j->sum_rule = NULL;
        j->sum = 0;
    }
}


static int
ngx_bedrock_usage_merge(ngx_bedrock_json_t *j, ngx_bedrock_usage_t *u)
{
    unsigned   f, found;
    uint64_t  *to[NGX_BEDROCK_FIELD_LAST];

    static const unsigned  bits[NGX_BEDROCK_FIELD_LAST] = {
        NGX_BEDROCK_USAGE_INPUT, NGX_BEDROCK_USAGE_OUTPUT,
        NGX_BEDROCK_USAGE_CACHE_READ, NGX_BEDROCK_USAGE_CACHE_WRITE
    };

    to[NGX_BEDROCK_FIELD_INPUT] = &u->input_tokens;
    to[NGX_BEDROCK_FIELD_OUTPUT] = &u->output_tokens;
    to[NGX_BEDROCK_FIELD_CACHE_READ] = &u->cache_read_input_tokens;
    to[NGX_BEDROCK_FIELD_CACHE_WRITE] = &u->cache_write_input_tokens;

    found = 0;

    for (f = 0; f < NGX_BEDROCK_FIELD_LAST; f++) {
        if (j->rank[f]) {
            *to[f] = j->value[f];
            found |= bits[f];
        }
    }

    if (found == 0) {
        return -1;
    }

    u->found |= found;
    u->sources |= j->sources;

    return 0;
}


/* four hex digits that the walker has checked */

static unsigned
ngx_bedrock_hex4(const unsigned char *p)
{
    unsigned  i, v;

    v = 0;

    for (i = 0; i < 4; i++) {
        v = v * 16 + (p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
    }

    return v;
}


static size_t
ngx_bedrock_utf8_put(unsigned char *p, unsigned cp)
{
    if (cp < 0x80) {
        p[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        p[0] = (unsigned char) (0xc0 | (cp >> 6));
        p[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        p[0] = (unsigned char) (0xe0 | (cp >> 12));
        p[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        p[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    p[0] = (unsigned char) (0xf0 | (cp >> 18));
    p[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    p[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    p[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}


/*
 * The length of buf[0..n) without a UTF-8 sequence that the cut left
 * incomplete at its end (raw bytes of the message pass one at a time).
 */

static size_t
ngx_bedrock_utf8_trim(const unsigned char *buf, size_t n)
{
    size_t  i, need;

    i = n;

    while (i > 0 && n - i < 4 && (buf[i - 1] & 0xc0) == 0x80) {
        i--;
    }

    if (i == 0 || buf[i - 1] < 0xc0) {
        return n;
    }

    /* buf[i - 1] leads a sequence */

    need = buf[i - 1] >= 0xf0 ? 4 : buf[i - 1] >= 0xe0 ? 3 : 2;

    return (n - (i - 1) < need) ? i - 1 : n;
}
