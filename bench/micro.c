/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Micro-benchmarks of the pure-C parts, over the request bodies of the
 * benchmark (bench/bodies.py) and a ConverseStream answer built here:
 *
 *   estimate     ngx_bedrock_estimate_body(): validate and price a body,
 *                what the module does to every request
 *   parse        ngx_bedrock_view_parse() and _free(): the cJSON tree and
 *                the view, made only when a body is compressed
 *   compress     ngx_bedrock_compress_body() to half the body's estimate
 *   sign         SHA-256 of the body and one SigV4 signature with a warm
 *                key cache, what the module does to every attempt
 *   eventstream  ngx_bedrock_es_feed() in 16 KB pieces, every event's
 *                usage read as the module reads it
 *   usage        ngx_bedrock_usage_body() of a Converse answer
 *
 *   bench/micro BODIES_DIR [PART...]
 *
 * (only the parts named, when some are: estimate, parse, compress, sign,
 * eventstream, usage)
 *
 * Time is the thread's CPU time, so that other processes on the machine
 * do not count; each figure is the median of 5 trials of at least 0.1 s.
 * The last line is machine-readable:
 *   micro: estimate_mb_s=X parse_mb_s=X compress_mb_s=X sign_mb_s=X
 *          eventstream_mb_s=X
 * (estimate, parse and sign over the 64 KB and 1 MB bodies of both kinds
 * together, compress over the 1 MB ones.)
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"
#include "ngx_bedrock_compress.h"
#include "ngx_bedrock_sigv4.h"
#include "ngx_bedrock_eventstream.h"
#include "ngx_bedrock_usage.h"


#define MICRO_TRIALS     5
#define MICRO_MIN_TIME   0.1
#define MICRO_PIECE      16384

#define MICRO_CONVERSE   \
    "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
#define MICRO_INVOKE     \
    "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke"


typedef struct {
    const char           *name;
    const char           *path;
    unsigned char        *data;
    size_t                len;
    ngx_bedrock_model_t   model;
    unsigned char         id[256];
} micro_body_t;


typedef int (*micro_op_pt)(micro_body_t *b);


typedef struct {
    double   bytes;
    double   seconds;
} micro_sum_t;


static double micro_now(void);
static unsigned char *micro_read(const char *path, size_t *len);
static double micro_time(micro_op_pt op, micro_body_t *b);
static void micro_row(const char *part, micro_body_t *b, micro_op_pt op,
    micro_sum_t *sum);
static int micro_estimate(micro_body_t *b);
static int micro_parse(micro_body_t *b);
static int micro_compress(micro_body_t *b);
static int micro_sign(micro_body_t *b);
static int micro_eventstream(micro_body_t *b);
static int micro_stream_event(void *data, const ngx_bedrock_es_message_t *m);
static int micro_usage(micro_body_t *b);
static size_t micro_stream(unsigned char *buf, size_t size);


static volatile uint64_t   micro_sink;
static int                 micro_argc;
static char              **micro_argv;
static uint64_t            micro_cap;
static ngx_bedrock_sigv4_key_cache_t  micro_cache;


static double
micro_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static unsigned char *
micro_read(const char *path, size_t *len)
{
    long            n;
    FILE           *f;
    unsigned char  *p;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "micro: cannot open %s\n", path);
        exit(1);
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fprintf(stderr, "micro: cannot size %s\n", path);
        exit(1);
    }

    p = malloc(n ? n : 1);
    if (p == NULL || fread(p, 1, n, f) != (size_t) n) {
        fprintf(stderr, "micro: cannot read %s\n", path);
        exit(1);
    }

    fclose(f);
    *len = n;

    return p;
}


/* seconds per call: the median of the trials */

static double
micro_time(micro_op_pt op, micro_body_t *b)
{
    int     i, j;
    long    k, calls;
    double  t0, t, trial[MICRO_TRIALS], x;

    if (op(b) != 0) {
        fprintf(stderr, "micro: the operation failed on %s\n", b->name);
        exit(1);
    }

    /* calls per trial: enough for MICRO_MIN_TIME */

    calls = 1;

    for ( ;; ) {
        t0 = micro_now();

        for (k = 0; k < calls; k++) {
            (void) op(b);
        }

        t = micro_now() - t0;

        if (t >= MICRO_MIN_TIME / 4) {
            calls = (long) (calls * MICRO_MIN_TIME / t) + 1;
            break;
        }

        calls *= 4;
    }

    for (i = 0; i < MICRO_TRIALS; i++) {
        t0 = micro_now();

        for (k = 0; k < calls; k++) {
            (void) op(b);
        }

        trial[i] = (micro_now() - t0) / calls;
    }

    for (i = 1; i < MICRO_TRIALS; i++) {
        x = trial[i];

        for (j = i - 1; j >= 0 && trial[j] > x; j--) {
            trial[j + 1] = trial[j];
        }

        trial[j + 1] = x;
    }

    return trial[MICRO_TRIALS / 2];
}


static void
micro_row(const char *part, micro_body_t *b, micro_op_pt op,
    micro_sum_t *sum)
{
    int     i;
    double  t;

    if (micro_argc > 2) {
        for (i = 2; i < micro_argc; i++) {
            if (strncmp(part, micro_argv[i], strlen(micro_argv[i])) == 0) {
                break;
            }
        }

        if (i == micro_argc) {
            return;
        }
    }

    t = micro_time(op, b);

    printf("| %-11s | %-13s | %9zu | %8.0f | %10.1f |\n", part, b->name,
           b->len, b->len / t / 1e6, t * 1e6);

    if (sum) {
        sum->bytes += b->len;
        sum->seconds += t;
    }
}


static int
micro_estimate(micro_body_t *b)
{
    ngx_bedrock_estimate_t  est;
    char                    err[NGX_BEDROCK_ERROR_LEN];

    if (ngx_bedrock_estimate_body(b->data, b->len, &b->model, &est, err)
        != 0)
    {
        return -1;
    }

    micro_sink += est.input_tokens;

    return 0;
}


static int
micro_parse(micro_body_t *b)
{
    int                 rc;
    ngx_bedrock_view_t  v;
    char                err[NGX_BEDROCK_ERROR_LEN];

    rc = ngx_bedrock_view_parse(&v, b->data, b->len, &b->model, err);

    micro_sink += v.ntexts;
    ngx_bedrock_view_free(&v);

    return rc;
}


static int
micro_compress(micro_body_t *b)
{
    ngx_bedrock_compress_conf_t    conf;
    ngx_bedrock_compress_result_t  res;
    char                           err[NGX_BEDROCK_ERROR_LEN];

    memset(&conf, 0, sizeof(conf));
    memset(&res, 0, sizeof(res));

    conf.max_input_tokens = micro_cap;
    conf.block_tokens = NGX_BEDROCK_COMPRESS_BLOCK_TOKENS;
    conf.keep_turns = NGX_BEDROCK_COMPRESS_KEEP_TURNS;

    if (ngx_bedrock_compress_body(b->data, b->len, &b->model, &conf, &res,
                                  err)
        != 0)
    {
        fprintf(stderr, "micro: compress: %s\n", err);
        return -1;
    }

    if (res.body == NULL) {
        return -1;
    }

    micro_sink += res.len;
    ngx_bedrock_compress_free(&res);

    return 0;
}


/* as ngx_http_bedrock_sign(): the body's hash, then the signature */

static int
micro_sign(micro_body_t *b)
{
    int                              rc;
    size_t                           size;
    unsigned char                   *buf;
    ngx_bedrock_sigv4_header_t       h[2];
    ngx_bedrock_sigv4_request_t      req;
    ngx_bedrock_sigv4_result_t       res;
    ngx_bedrock_sigv4_credentials_t  c;
    char                             hash[NGX_BEDROCK_SIGV4_HEX_LEN + 1];

    if (ngx_bedrock_sigv4_payload_hash(b->data, b->len, hash) != 0) {
        return -1;
    }

    h[0].name.data = (const unsigned char *) "Content-Type";
    h[0].name.len = sizeof("Content-Type") - 1;
    h[0].value.data = (const unsigned char *) "application/json";
    h[0].value.len = sizeof("application/json") - 1;
    h[1].name.data = (const unsigned char *) "Accept";
    h[1].name.len = sizeof("Accept") - 1;
    h[1].value.data = (const unsigned char *) "application/json";
    h[1].value.len = sizeof("application/json") - 1;

    memset(&req, 0, sizeof(req));

    req.method.data = (const unsigned char *) "POST";
    req.method.len = 4;
    req.path.data = (const unsigned char *) b->path;
    req.path.len = strlen(b->path);
    req.headers = h;
    req.nheaders = 2;
    req.host.data = (const unsigned char *)
                    "bedrock-runtime.us-east-1.amazonaws.com";
    req.host.len = sizeof("bedrock-runtime.us-east-1.amazonaws.com") - 1;
    req.payload_hash.data = (const unsigned char *) hash;
    req.payload_hash.len = NGX_BEDROCK_SIGV4_HEX_LEN;
    req.region.data = (const unsigned char *) "us-east-1";
    req.region.len = sizeof("us-east-1") - 1;
    req.service.data = (const unsigned char *) NGX_BEDROCK_SIGV4_SERVICE;
    req.service.len = sizeof(NGX_BEDROCK_SIGV4_SERVICE) - 1;
    req.time = 1741943553;

    c.access_key_id.data = (const unsigned char *) "AKIDBENCHEXAMPLE";
    c.access_key_id.len = sizeof("AKIDBENCHEXAMPLE") - 1;
    c.secret_access_key.data = (const unsigned char *)
                               "bench/K7MDENG+bPxRfiCYEXAMPLEKEY";
    c.secret_access_key.len = sizeof("bench/K7MDENG+bPxRfiCYEXAMPLEKEY") - 1;
    c.session_token.data = NULL;
    c.session_token.len = 0;

    size = ngx_bedrock_sigv4_sign_size(&req, &c);
    if (size == 0) {
        return -1;
    }

    buf = malloc(size);
    if (buf == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_sign(&req, &c, &micro_cache, buf, size, &res);

    micro_sink += res.signature[0];
    free(buf);

    return rc;
}


typedef struct {
    ngx_bedrock_usage_t   usage;
    uint64_t              events;
} micro_stream_t;


static int
micro_stream_event(void *data, const ngx_bedrock_es_message_t *m)
{
    micro_stream_t *s = data;

    s->events++;

    if (m->type == NGX_BEDROCK_ES_EVENT && m->payload) {
        (void) ngx_bedrock_usage_event(m->name, m->name_len, m->payload,
                                       m->payload_len, &s->usage);
    }

    return 0;
}


/* b holds a whole stream; it is fed as nginx buffers would bring it */

static int
micro_eventstream(micro_body_t *b)
{
    size_t            off, n;
    micro_stream_t    s;
    ngx_bedrock_es_t  es;

    memset(&s, 0, sizeof(s));
    ngx_bedrock_es_init(&es, 0, micro_stream_event, &s, NULL, NULL, NULL);

    for (off = 0; off < b->len; off += n) {
        n = b->len - off < MICRO_PIECE ? b->len - off : MICRO_PIECE;

        if (ngx_bedrock_es_feed(&es, b->data + off, n) != 0) {
            ngx_bedrock_es_free(&es);
            return -1;
        }
    }

    if (ngx_bedrock_es_finish(&es) != 0) {
        ngx_bedrock_es_free(&es);
        return -1;
    }

    ngx_bedrock_es_free(&es);

    if (!(s.usage.found & NGX_BEDROCK_USAGE_INPUT)) {
        return -1;
    }

    micro_sink += s.events + s.usage.input_tokens;

    return 0;
}


static int
micro_usage(micro_body_t *b)
{
    ngx_bedrock_usage_t  u;

    memset(&u, 0, sizeof(u));

    if (ngx_bedrock_usage_body(b->data, b->len, &u) != 0) {
        return -1;
    }

    micro_sink += u.input_tokens;

    return 0;
}


/*
 * A ConverseStream answer as Bedrock frames it: messageStart, a
 * contentBlockDelta per few words of text, contentBlockStop, messageStop
 * and the metadata event with the usage.  Returns its length.
 */

static size_t
micro_stream(unsigned char *buf, size_t size)
{
    size_t                   len, n, i;
    ngx_bedrock_es_header_t  h[3];
    char                     payload[512];
    static const char       *words[] = {
        "The ", "gateway ", "keeps ", "the ", "fleet ", "under ", "its ",
        "quota, ", "so ", "agents ", "see ", "answers ", "instead ", "of ",
        "throttles. "
    };

    memset(h, 0, sizeof(h));

    h[0].name = (const unsigned char *) ":event-type";
    h[0].name_len = sizeof(":event-type") - 1;
    h[0].type = NGX_BEDROCK_ES_STRING;
    h[1].name = (const unsigned char *) ":content-type";
    h[1].name_len = sizeof(":content-type") - 1;
    h[1].type = NGX_BEDROCK_ES_STRING;
    h[1].data = (const unsigned char *) "application/json";
    h[1].len = sizeof("application/json") - 1;
    h[2].name = (const unsigned char *) ":message-type";
    h[2].name_len = sizeof(":message-type") - 1;
    h[2].type = NGX_BEDROCK_ES_STRING;
    h[2].data = (const unsigned char *) "event";
    h[2].len = sizeof("event") - 1;

    len = 0;

#define MICRO_EVENT(type, ...)                                                \
    do {                                                                      \
        h[0].data = (const unsigned char *) (type);                           \
        h[0].len = strlen(type);                                              \
        n = snprintf(payload, sizeof(payload), __VA_ARGS__);                  \
        n = ngx_bedrock_es_encode(buf + len, size - len, h, 3,                \
                                  (const unsigned char *) payload, n);        \
        if (n == 0) {                                                         \
            return 0;                                                         \
        }                                                                     \
        len += n;                                                             \
    } while (0)

    MICRO_EVENT("messageStart", "{\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEF\","
                "\"role\":\"assistant\"}");

    for (i = 0; i < 2000; i++) {
        MICRO_EVENT("contentBlockDelta", "{\"contentBlockIndex\":0,"
                    "\"delta\":{\"text\":\"%s%s%s\"},\"p\":\"abcdefghijklm\"}",
                    words[i % 15], words[(i + 5) % 15], words[(i + 9) % 15]);
    }

    MICRO_EVENT("contentBlockStop", "{\"contentBlockIndex\":0,"
                "\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGH\"}");
    MICRO_EVENT("messageStop", "{\"p\":\"abcdefghijklmnopqrs\","
                "\"stopReason\":\"end_turn\"}");
    MICRO_EVENT("metadata", "{\"metrics\":{\"latencyMs\":8433},\"p\":\"abc\","
                "\"usage\":{\"inputTokens\":15945,\"outputTokens\":6000,"
                "\"totalTokens\":21945}}");

#undef MICRO_EVENT

    return len;
}


int
main(int argc, char **argv)
{
    size_t                  i;
    char                    file[4096];
    micro_sum_t             est, parse, sign, comp, es;
    micro_body_t            bodies[6], stream, answer;
    ngx_bedrock_estimate_t  e;
    char                    err[NGX_BEDROCK_ERROR_LEN];
    static const char      *names[] = {
        "converse 2k", "claude 2k", "converse 64k", "claude 64k",
        "converse 1m", "claude 1m"
    };
    static const char      *files[] = {
        "converse-2k", "claude-2k", "converse-64k", "claude-64k",
        "converse-1m", "claude-1m"
    };

    if (argc < 2) {
        fprintf(stderr, "usage: micro BODIES_DIR [PART...]\n");
        return 2;
    }

    micro_argc = argc;
    micro_argv = argv;

    for (i = 0; i < 6; i++) {
        bodies[i].name = names[i];
        bodies[i].path = (i % 2 == 0) ? MICRO_CONVERSE : MICRO_INVOKE;
        snprintf(file, sizeof(file), "%s/%s.json", argv[1], files[i]);
        bodies[i].data = micro_read(file, &bodies[i].len);

        if (ngx_bedrock_model_parse_path((const unsigned char *)
                                         bodies[i].path,
                                         strlen(bodies[i].path),
                                         bodies[i].id, &bodies[i].model)
            != 0)
        {
            fprintf(stderr, "micro: path not understood\n");
            return 1;
        }
    }

    memset(&stream, 0, sizeof(stream));
    stream.name = "stream";
    stream.data = malloc(1 << 20);
    if (stream.data == NULL) {
        return 1;
    }

    stream.len = micro_stream(stream.data, 1 << 20);
    if (stream.len == 0) {
        fprintf(stderr, "micro: the stream does not fit\n");
        return 1;
    }

    memset(&answer, 0, sizeof(answer));
    answer.name = "answer";
    answer.data = (unsigned char *)
        "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
        "[{\"text\":\"The gateway keeps the fleet under its quota, so that "
        "agents see answers instead of throttles; a request that would not "
        "fit waits for the quota on a timer, and the throttles that still "
        "happen are retried with backoff before anything reaches the "
        "client.\"}]}},\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens"
        "\":15945,\"outputTokens\":187,\"totalTokens\":16132},\"metrics\":"
        "{\"latencyMs\":1843}}";
    answer.len = strlen((char *) answer.data);

    memset(&est, 0, sizeof(est));
    memset(&parse, 0, sizeof(parse));
    memset(&sign, 0, sizeof(sign));
    memset(&comp, 0, sizeof(comp));
    memset(&es, 0, sizeof(es));

    printf("pure-C parts, MB/s of CPU time (median of %d trials of at "
           "least %.1f s):\n\n", MICRO_TRIALS, MICRO_MIN_TIME);
    printf("| part        | input         |     bytes |     MB/s |"
           "   us/call |\n");
    printf("| ---         | ---           |      ---: |     ---: |"
           "      ---: |\n");

    for (i = 0; i < 6; i++) {
        micro_row("estimate", &bodies[i], micro_estimate,
                  i >= 2 ? &est : NULL);
    }

    for (i = 0; i < 6; i++) {
        micro_row("parse", &bodies[i], micro_parse, i >= 2 ? &parse : NULL);
    }

    for (i = 2; i < 6; i++) {
        if (ngx_bedrock_estimate_body(bodies[i].data, bodies[i].len,
                                      &bodies[i].model, &e, err)
            != 0)
        {
            fprintf(stderr, "micro: %s: %s\n", bodies[i].name, err);
            return 1;
        }

        micro_cap = e.input_tokens / 2;
        micro_row("compress/2", &bodies[i], micro_compress,
                  i >= 4 ? &comp : NULL);
    }

    for (i = 0; i < 6; i++) {
        micro_row("sign", &bodies[i], micro_sign, i >= 2 ? &sign : NULL);
    }

    micro_row("eventstream", &stream, micro_eventstream, &es);
    micro_row("usage", &answer, micro_usage, NULL);

    printf("\nmicro: estimate_mb_s=%.0f parse_mb_s=%.0f compress_mb_s=%.0f "
           "sign_mb_s=%.0f eventstream_mb_s=%.0f\n",
           est.bytes / est.seconds / 1e6, parse.bytes / parse.seconds / 1e6,
           comp.bytes / comp.seconds / 1e6, sign.bytes / sign.seconds / 1e6,
           es.bytes / es.seconds / 1e6);

    for (i = 0; i < 6; i++) {
        free(bodies[i].data);
    }

    free(stream.data);

    return micro_sink == 42 ? 1 : 0;
}
