/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Cross-check of the SigV4 signer against botocore's SigV4Auth, byte for
 * byte: random Bedrock-like requests (modelIds in every form and every
 * encoding clients use, bodies with non-ASCII text or binary, session
 * tokens, x-amzn-bedrock-* headers with untidy values, random times) are
 * signed here and by t/unit/sigv4_botocore.py under Debian's
 * /usr/bin/python3, and the Authorization values must be identical.  The
 * verifier must accept every botocore signature, too.
 *
 * SIGV4_BOTOCORE_CASES (default 300) and SIGV4_BOTOCORE_SEED choose the
 * cases; SIGV4_PYTHON and SIGV4_BOTOCORE_SCRIPT where the checker is.
 * Without python3-botocore the comparison is skipped with a message and
 * only the signer's own round trip is checked.
 */


#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tap.h"
#include "ngx_bedrock_sigv4.h"


#define MAX_HEADERS   20
#define TEXT_SIZE     16384

#define DEFAULT_CASES  300
#define DEFAULT_SEED   20260101


typedef ngx_bedrock_sigv4_str_t     str_t;
typedef ngx_bedrock_sigv4_header_t  header_t;


typedef struct {
    char            what[160];
    char            method[8];
    char           *url;            /* scheme://host[:port] + path[?query] */
    char           *host;           /* the host value botocore derives */
    char           *path;
    char           *query;
    header_t        headers[MAX_HEADERS];
    size_t          nheaders;
    int             host_apart;     /* host given as r.host, not a header */
    int             host_in_python; /* botocore gets an explicit Host */
    unsigned char  *body;
    size_t          body_len;
    int             pass_hash;      /* the signer gets the hash, not body */
    char           *key;
    char           *secret;
    char           *token;          /* NULL: none */
    char           *region;
    char           *service;
    time_t          time;

    char            text[TEXT_SIZE];
    size_t          used;

    ngx_bedrock_sigv4_request_t  r;
    ngx_bedrock_sigv4_result_t   res;
    unsigned char               *mem;
    int                          rc;
} test_case_t;


static uint64_t  rng;


static uint64_t
next_random(void)
{
    uint64_t  z;

    /* splitmix64 */
    rng += 0x9e3779b97f4a7c15ULL;
    z = rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static size_t
pick(size_t n)
{
    return (size_t) (next_random() % n);
}


static int
chance(unsigned percent)
{
    return pick(100) < percent;
}


static const char *
one_of(const char *const *list, size_t n)
{
    return list[pick(n)];
}

#define ONE_OF(list)  one_of(list, sizeof(list) / sizeof(list[0]))


static str_t
S(const char *s)
{
    str_t  v;

    v.data = (const unsigned char *) s;
    v.len = strlen(s);

    return v;
}


/* strings of a case live in its text buffer */

static char *
keep(test_case_t *tc, const char *fmt, ...)
{
    int       n;
    char     *p;
    va_list   args;

    p = tc->text + tc->used;

    va_start(args, fmt);
    n = vsnprintf(p, TEXT_SIZE - tc->used, fmt, args);
    va_end(args);

    if (n < 0 || (size_t) n >= TEXT_SIZE - tc->used) {
        fprintf(stderr, "case text overflow\n");
        exit(2);
    }

    tc->used += n + 1;

    return p;
}


static char *
random_chars(test_case_t *tc, const char *alphabet, size_t len)
{
    char    *p;
    size_t   i, n;

    p = tc->text + tc->used;
    n = strlen(alphabet);

    if (len + 1 > TEXT_SIZE - tc->used) {
        fprintf(stderr, "case text overflow\n");
        exit(2);
    }

    for (i = 0; i < len; i++) {
        p[i] = alphabet[pick(n)];
    }

    p[len] = '\0';
    tc->used += len + 1;

    return p;
}


/* a name in random letter case */

static char *
random_case(test_case_t *tc, const char *name)
{
    char    *p;
    size_t   i;
    int      style;

    p = keep(tc, "%s", name);
    style = (int) pick(3);

    for (i = 0; p[i]; i++) {
        if (style == 1 || (style == 2 && (i == 0 || p[i - 1] == '-'))) {
            if (p[i] >= 'a' && p[i] <= 'z') {
                p[i] -= 32;
            }
        }
    }

    return p;
}


/* a value with the white space clients and proxies leave around */

static char *
untidy(test_case_t *tc, const char *value)
{
    static const char  *pads[] = { "", "", "", " ", "  ", "\t", " \t " };
    const char          *inner;
    const char          *sp;

    sp = strchr(value, ' ');
    inner = ONE_OF(pads);

    if (sp != NULL && chance(50)) {
        return keep(tc, "%s%.*s %s%s%s", ONE_OF(pads), (int) (sp - value),
                    value, inner, sp + 1, ONE_OF(pads));
    }

    return keep(tc, "%s%s%s", ONE_OF(pads), value, ONE_OF(pads));
}


static void
add_header(test_case_t *tc, const char *name, const char *value, int tidy)
{
    if (tc->nheaders == MAX_HEADERS) {
        return;
    }

    tc->headers[tc->nheaders].name = S(random_case(tc, name));
    tc->headers[tc->nheaders].value = S(tidy ? keep(tc, "%s", value)
                                             : untidy(tc, value));
    tc->nheaders++;
}


/* -- modelIds and their encodings --------------------------------------- */

static const char  *base_models[] = {
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "anthropic.claude-opus-4-1-20250805-v1:0",
    "anthropic.claude-v2:1",
    "amazon.nova-pro-v1:0",
    "amazon.titan-text-express-v1",
    "meta.llama3-1-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "cohere.command-r-plus-v1:0",
    "ai21.jamba-1-5-large-v1:0",
    "deepseek.r1-v1:0",
};


static const char *
random_model(test_case_t *tc, const char **form)
{
    const char  *base, *partition, *geo, *region;

    static const char  *geos[] = { "us", "eu", "apac", "global" };
    static const char  *partitions[] = { "aws", "aws", "aws-us-gov",
                                         "aws-cn" };

    base = ONE_OF(base_models);
    partition = ONE_OF(partitions);
    geo = ONE_OF(geos);
    region = tc->region;

    switch (pick(9)) {

    case 0:
        *form = "base id";
        return base;

    case 1:
        *form = "inference profile id";
        return keep(tc, "%s.%s", geo, base);

    case 2:
        *form = "foundation-model ARN";
        return keep(tc, "arn:%s:bedrock:%s::foundation-model/%s",
                    partition, region, base);

    case 3:
        *form = "inference-profile ARN";
        return keep(tc, "arn:%s:bedrock:%s:%s:inference-profile/%s.%s",
                    partition, region,
                    random_chars(tc, "0123456789", 12), geo, base);

    case 4:
        *form = "application-inference-profile ARN";
        return keep(tc, "arn:%s:bedrock:%s:%s:application-inference-profile"
                    "/%s", partition, region,
                    random_chars(tc, "0123456789", 12),
                    random_chars(tc, "abcdefghijklmnopqrstuvwxyz0123456789",
                                 12));

    case 5:
        *form = "provisioned-model ARN";
        return keep(tc, "arn:%s:bedrock:%s:%s:provisioned-model/%s",
                    partition, region,
                    random_chars(tc, "0123456789", 12),
                    random_chars(tc, "abcdefghijklmnopqrstuvwxyz0123456789",
                                 12));

    case 6:
        *form = "custom-model ARN";
        return keep(tc, "arn:%s:bedrock:%s:%s:custom-model/%s/%s",
                    partition, region,
                    random_chars(tc, "0123456789", 12), base,
                    random_chars(tc, "abcdefghijklmnopqrstuvwxyz0123456789",
                                 12));

    case 7:
        *form = "imported-model ARN";
        return keep(tc, "arn:%s:bedrock:%s:%s:imported-model/%s",
                    partition, region,
                    random_chars(tc, "0123456789", 12),
                    random_chars(tc, "abcdefghijklmnopqrstuvwxyz0123456789",
                                 12));

    default:
        *form = "random id";
        return random_chars(tc, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                            "OPQRSTUVWXYZ0123456789._:-~", 1 + pick(60));
    }
}


/*
 * The modelId as a path segment, the ways clients write it: every
 * reserved byte escaped (AWS SDKs), ':' kept (anthropic-sdk-python),
 * ':' and '/' kept (Vercel for ARNs), or escapes in lowercase hex.
 */

static const char *
encode_model(test_case_t *tc, const char *id, const char **style)
{
    int          how;
    char        *p, *start;
    size_t       i;
    unsigned     c;

    static const char  hex_upper[] = "0123456789ABCDEF";
    static const char  hex_lower[] = "0123456789abcdef";

    how = (int) pick(4);
    start = tc->text + tc->used;
    p = start;

    if (3 * strlen(id) + 1 > TEXT_SIZE - tc->used) {
        exit(2);
    }

    for (i = 0; id[i]; i++) {
        c = (unsigned char) id[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~'
            || (how == 1 && c == ':')
            || (how == 2 && (c == ':' || c == '/')))
        {
            *p++ = (char) c;
            continue;
        }

        *p++ = '%';
        *p++ = (how == 3 ? hex_lower : hex_upper)[c >> 4];
        *p++ = (how == 3 ? hex_lower : hex_upper)[c & 15];
    }

    *p++ = '\0';
    tc->used += p - start;

    *style = (how == 0) ? "all escaped"
             : (how == 1) ? "':' literal"
             : (how == 2) ? "':' and '/' literal" : "lowercase escapes";

    return start;
}


/* -- bodies ------------------------------------------------------------- */

static unsigned char *
random_body(test_case_t *tc, size_t *len, const char **kind)
{
    size_t          i, n, cap, max;
    unsigned char  *b;
    const char     *w;

    static const char  *words[] = {
        "Hello", "world", "\\\"quoted\\\"", "caf\xc3\xa9", "na\xc3\xafve",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80",
        "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", "\\n", "\\t",
        "tokens", "per", "minute", "\xe2\x80\x94", "x", "{}", "[]",
        "\xe2\x82\xac" "42"
    };

    if (chance(3)) {
        *kind = "empty body";
        *len = 0;
        return NULL;
    }

    if (chance(6)) {
        *kind = "binary body";
        n = pick(4096);
        b = malloc(n ? n : 1);

        for (i = 0; i < n; i++) {
            b[i] = (unsigned char) next_random();
        }

        *len = n;
        return b;
    }

    max = chance(5) ? 65536 + pick(65536) : pick(3000);
    cap = max + 256;
    b = malloc(cap);

    n = (size_t) snprintf((char *) b, cap,
                          "{\"messages\":[{\"role\":\"user\",\"content\":"
                          "[{\"text\":\"");

    while (n < max) {
        w = ONE_OF(words);

        if (n + strlen(w) + 1 >= max) {
            break;
        }

        memcpy(b + n, w, strlen(w));
        n += strlen(w);
        b[n++] = ' ';
    }

    n += (size_t) snprintf((char *) b + n, cap - n,
                           "\"}]}],\"inferenceConfig\":{\"maxTokens\":%u}}",
                           (unsigned) (1 + pick(8192)));

    *kind = (max > 65536) ? "large JSON body" : "JSON body";
    *len = n;

    return b;
}


/* -- one random request ------------------------------------------------- */

static void
generate(test_case_t *tc)
{
    char         *model, *authority, *token;
    const char   *id, *form, *style, *op, *kind, *scheme, *hostname;
    size_t        i;

    static const char  *regions[] = {
        "us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-3",
        "eu-central-1", "ap-northeast-1", "ap-southeast-2", "ap-south-1",
        "ca-central-1", "sa-east-1", "us-gov-west-1"
    };

    static const char  *operations[] = {
        "invoke", "invoke-with-response-stream", "converse",
        "converse-stream", "count-tokens"
    };

    static const char  *traces[] = { "ENABLED", "DISABLED", "ENABLED_FULL" };
    static const char  *latencies[] = { "standard", "optimized" };
    static const char  *tiers[] = { "priority", "default", "flex" };
    static const char  *accepts[] = {
        "application/json", "*/*", "application/vnd.amazon.eventstream"
    };
    static const char  *content_types[] = {
        "application/json", "application/json", "application/json",
        "application/json; charset=utf-8"
    };

    memset(tc, 0, sizeof(test_case_t));

    tc->region = keep(tc, "%s", ONE_OF(regions));
    tc->service = chance(95) ? keep(tc, "bedrock")
                             : keep(tc, "execute-api");
    tc->time = (time_t) (1420070400 + pick(662256000)); /* 2015-2035 */

    /* where it goes */

    switch (pick(10)) {

    case 0:
        scheme = "http";
        hostname = "127.0.0.1";
        authority = keep(tc, "127.0.0.1:%u", (unsigned) (1024 + pick(60000)));
        break;

    case 1:
        scheme = "https";
        hostname = "gateway.example.com";
        authority = keep(tc, "gateway.example.com:8443");
        break;

    case 2:
        scheme = "https";
        hostname = keep(tc, "bedrock-runtime-fips.%s.amazonaws.com",
                        tc->region);
        authority = (char *) hostname;
        break;

    default:
        scheme = "https";
        hostname = keep(tc, "bedrock-runtime.%s.amazonaws.com", tc->region);
        authority = (char *) hostname;
        break;
    }

    tc->host = authority;

    /* what it asks */

    id = random_model(tc, &form);
    model = (char *) encode_model(tc, id, &style);

    if (chance(8)) {
        /* ListAsyncInvokes, with a query */
        strcpy(tc->method, "GET");
        tc->path = keep(tc, "/async-invoke");
        tc->query = keep(tc, "%s%s%s",
                         chance(70) ? keep(tc, "maxResults=%u&",
                                           (unsigned) (1 + pick(1000)))
                                    : "",
                         chance(50) ? "sortOrder=Descending&" : "",
                         chance(50) ? keep(tc, "nextToken=%s%%2F%s%%3D%%3D",
                                           random_chars(tc, "ABCDEFabc012",
                                                        20),
                                           random_chars(tc, "xyz", 4))
                                    : "statusEquals=Completed");
        op = "async-invoke list";
        form = "no modelId";
        style = "query";

    } else if (chance(4)) {
        /* paths a normalizing signer must resolve the same way */
        strcpy(tc->method, "POST");
        tc->path = keep(tc, "/model/%s%s/./%s/../%s", chance(50) ? "/" : "",
                        model, random_chars(tc, "abc", 3),
                        ONE_OF(operations));
        op = "dot segments";

    } else {
        strcpy(tc->method, "POST");
        op = ONE_OF(operations);
        tc->path = keep(tc, "/model/%s/%s", model, op);

        if (chance(5)) {
            tc->query = keep(tc, "b=%s&a=1&a=0&flag&c=%%E2%%82%%AC",
                             random_chars(tc, "abc-_.~", 5));
        }
    }

    tc->url = keep(tc, "%s://%s%s%s%s", scheme, authority, tc->path,
                   tc->query ? "?" : "", tc->query ? tc->query : "");

    /* credentials: long-term, or temporary with a token */

    if (chance(40)) {
        tc->key = keep(tc, "ASIA%s",
                       random_chars(tc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                    16));
        token = random_chars(tc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
                             "pqrstuvwxyz0123456789+/", 200 + pick(700));
        tc->token = keep(tc, "%s==", token);

    } else {
        tc->key = keep(tc, "AKIA%s",
                       random_chars(tc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                    16));
    }

    tc->secret = random_chars(tc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmno"
                              "pqrstuvwxyz0123456789+/",
                              chance(8) ? 61 + pick(60) : 40);

    /* the body */

    tc->body = random_body(tc, &tc->body_len, &kind);

    if (strcmp(tc->method, "GET") == 0) {
        free(tc->body);
        tc->body = NULL;
        tc->body_len = 0;
        kind = "no body";
    }

    tc->pass_hash = chance(30);

    /* headers: host one way or another, then what Bedrock clients send */

    switch (pick(3)) {
    case 0:
        add_header(tc, "host", authority, 0);
        tc->host_in_python = chance(50);
        break;
    case 1:
        tc->host_apart = 1;
        break;
    default:
        tc->host_apart = 1;
        tc->host_in_python = 1;
        break;
    }

    if (tc->body_len || chance(50)) {
        add_header(tc, "content-type", ONE_OF(content_types), 0);
    }

    if (chance(50)) {
        add_header(tc, "accept", ONE_OF(accepts), 0);
    }

    if (chance(50)) {
        add_header(tc, "x-amzn-bedrock-trace", ONE_OF(traces), 0);
    }

    if (chance(30)) {
        add_header(tc, "x-amzn-bedrock-guardrailidentifier",
                   chance(50) ? random_chars(tc, "abcdefghijklmnop0123456789",
                                             12)
                              : keep(tc, "arn:aws:bedrock:%s:%s:guardrail/%s",
                                     tc->region,
                                     random_chars(tc, "0123456789", 12),
                                     random_chars(tc, "abcdef0123456789",
                                                  12)), 0);
        add_header(tc, "x-amzn-bedrock-guardrailversion",
                   chance(50) ? "DRAFT" : keep(tc, "%u",
                                               (unsigned) (1 + pick(20))), 0);
    }

    if (chance(30)) {
        add_header(tc, "x-amzn-bedrock-performanceconfig-latency",
                   ONE_OF(latencies), 0);
    }

    if (chance(30)) {
        add_header(tc, "x-amzn-bedrock-service-tier", ONE_OF(tiers), 0);
    }

    if (chance(20)) {
        add_header(tc, "x-amzn-bedrock-accept", ONE_OF(accepts), 0);
    }

    if (chance(10)) {
        add_header(tc, "x-amzn-bedrock-note",
                   "caf\xc3\xa9  \xe6\x97\xa5\xe6\x9c\xac  ok", 0);
    }

    if (chance(15) && tc->nheaders) {
        /* a repeated header: joined with ',' in order */
        i = pick(tc->nheaders);

        if (!(tc->headers[i].name.len == 4
              && strncasecmp((char *) tc->headers[i].name.data, "host", 4)
                 == 0))
        {
            add_header(tc, (const char *) tc->headers[i].name.data,
                       "second value", 0);
        }
    }

    if (chance(20)) {
        /* as the AWS SDK for JavaScript sends it */
        char  hex[NGX_BEDROCK_SIGV4_HEX_LEN + 1];

        ngx_bedrock_sigv4_payload_hash(tc->body, tc->body_len, hex);
        /* botocore takes this value verbatim as the payload hash */
        add_header(tc, "x-amz-content-sha256", hex, 1);
    }

    snprintf(tc->what, sizeof(tc->what), "%s %s, %s, %s, %s%s%s, %zu headers",
             tc->method, op, form, style, kind,
             tc->token ? ", session token" : "",
             strlen(tc->secret) > 40 ? ", long secret" : "", tc->nheaders);
}


static void
sign_case(test_case_t *tc)
{
    size_t                           size;
    ngx_bedrock_sigv4_credentials_t  c;

    memset(&tc->r, 0, sizeof(tc->r));
    tc->r.method = S(tc->method);
    tc->r.path = S(tc->path);
    tc->r.query = S(tc->query ? tc->query : "");
    tc->r.headers = tc->headers;
    tc->r.nheaders = tc->nheaders;
    tc->r.region = S(tc->region);
    tc->r.service = S(tc->service);
    tc->r.time = tc->time;

    if (tc->host_apart) {
        tc->r.host = S(tc->host);
    }

    if (tc->pass_hash) {
        char  *hex = keep(tc, "%064d", 0);

        ngx_bedrock_sigv4_payload_hash(tc->body, tc->body_len, hex);
        tc->r.payload_hash = S(hex);

    } else {
        tc->r.body.data = tc->body;
        tc->r.body.len = tc->body_len;
    }

    memset(&c, 0, sizeof(c));
    c.access_key_id = S(tc->key);
    c.secret_access_key = S(tc->secret);
    c.session_token = S(tc->token ? tc->token : "");

    size = ngx_bedrock_sigv4_sign_size(&tc->r, &c);
    tc->mem = malloc(size);
    tc->rc = ngx_bedrock_sigv4_sign(&tc->r, &c, NULL, tc->mem, size,
                                    &tc->res);
}


/*
 * The verifier over the request as the gateway would receive it: the
 * headers, X-Amz-Date, the token, and the host header.
 */

static ngx_bedrock_sigv4_verdict_e
verify_case(test_case_t *tc, str_t authorization, const char *amz_date,
    const char **reason)
{
    size_t                       n, size;
    str_t                        secret;
    header_t                     h[MAX_HEADERS + 3];
    unsigned char               *mem;
    ngx_bedrock_sigv4_auth_t     a;
    ngx_bedrock_sigv4_request_t  r;
    ngx_bedrock_sigv4_verdict_e  v;

    v = ngx_bedrock_sigv4_parse_authorization(authorization.data,
                                              authorization.len, &a, reason);
    if (v != NGX_BEDROCK_SIGV4_OK) {
        return v;
    }

    n = tc->nheaders;
    memcpy(h, tc->headers, n * sizeof(header_t));

    h[n].name = S("X-Amz-Date");
    h[n++].value = S(amz_date);

    if (tc->token) {
        h[n].name = S("X-Amz-Security-Token");
        h[n++].value = S(tc->token);
    }

    if (tc->host_apart) {
        h[n].name = S("Host");
        h[n++].value = S(tc->host);
    }

    r = tc->r;
    r.headers = h;
    r.nheaders = n;
    r.host.len = 0;
    r.body.data = tc->body;
    r.body.len = tc->body_len;
    r.payload_hash.len = 0;

    secret = S(tc->secret);
    size = ngx_bedrock_sigv4_verify_size(&r, &a);
    mem = malloc(size ? size : 1);

    v = ngx_bedrock_sigv4_verify(&r, &a, &secret, NGX_BEDROCK_SIGV4_MAX_SKEW,
                                 NULL, mem, size, reason);
    free(mem);

    return v;
}


/* -- the case file, for the Python half --------------------------------- */

static int
write_case(FILE *f, size_t id, test_case_t *tc)
{
    int      rc;
    char    *line, *hex;
    size_t   i;
    cJSON   *o, *headers, *pair;
    char     date[NGX_BEDROCK_SIGV4_DATE_LEN + 1];

    o = cJSON_CreateObject();
    headers = cJSON_CreateArray();

    hex = malloc(2 * tc->body_len + 1);

    for (i = 0; i < tc->body_len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", tc->body[i]);
    }

    hex[2 * tc->body_len] = '\0';

    for (i = 0; i < tc->nheaders; i++) {
        pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString(
                                 (const char *) tc->headers[i].name.data));
        cJSON_AddItemToArray(pair, cJSON_CreateString(
                                 (const char *) tc->headers[i].value.data));
        cJSON_AddItemToArray(headers, pair);
    }

    if (tc->host_apart && tc->host_in_python) {
        pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateString("Host"));
        cJSON_AddItemToArray(pair, cJSON_CreateString(tc->host));
        cJSON_AddItemToArray(headers, pair);
    }

    ngx_bedrock_sigv4_amz_date(tc->time, date);

    cJSON_AddNumberToObject(o, "id", (double) id);
    cJSON_AddStringToObject(o, "method", tc->method);
    cJSON_AddStringToObject(o, "url", tc->url);
    cJSON_AddItemToObject(o, "headers", headers);
    cJSON_AddStringToObject(o, "body", hex);
    cJSON_AddStringToObject(o, "key", tc->key);
    cJSON_AddStringToObject(o, "secret", tc->secret);

    if (tc->token) {
        cJSON_AddStringToObject(o, "token", tc->token);

    } else {
        cJSON_AddNullToObject(o, "token");
    }

    cJSON_AddStringToObject(o, "region", tc->region);
    cJSON_AddStringToObject(o, "service", tc->service);
    cJSON_AddStringToObject(o, "time", date);

    line = cJSON_PrintUnformatted(o);
    rc = (line != NULL && fprintf(f, "%s\n", line) > 0) ? 0 : -1;

    free(line);
    free(hex);
    cJSON_Delete(o);

    return rc;
}


static const char *
find_script(const char *argv0, char *buf, size_t size)
{
    char        *copy;
    const char  *env;

    env = getenv("SIGV4_BOTOCORE_SCRIPT");
    if (env) {
        return env;
    }

    if (access("t/unit/sigv4_botocore.py", R_OK) == 0) {
        return "t/unit/sigv4_botocore.py";
    }

    /* build/unit/sigv4_botocore_test -> t/unit/sigv4_botocore.py */
    copy = strdup(argv0);
    snprintf(buf, size, "%s/../../t/unit/sigv4_botocore.py", dirname(copy));
    free(copy);

    return (access(buf, R_OK) == 0) ? buf : NULL;
}


static void
diag_text(const char *what, const char *p, size_t len)
{
    diag("%s:\n%.*s", what, (int) len, p);
}


int
main(int argc, char **argv)
{
    int                           fd, skip, roundtrip;
    char                          file[] = "/tmp/sigv4-botocore-XXXXXX";
    char                          cmd[4096], where[2048], *line, *env;
    size_t                        i, ncases, cap, answered, len;
    ssize_t                       got;
    FILE                         *f, *p;
    cJSON                        *o, *v;
    uint64_t                      seed;
    const char                   *script, *python, *reason;
    test_case_t                  *cases;
    ngx_bedrock_sigv4_verdict_e   verdict;

    (void) argc;

    env = getenv("SIGV4_BOTOCORE_CASES");
    ncases = env ? (size_t) strtoul(env, NULL, 10) : DEFAULT_CASES;
    env = getenv("SIGV4_BOTOCORE_SEED");
    seed = env ? (uint64_t) strtoull(env, NULL, 10) : DEFAULT_SEED;

    if (ncases == 0) {
        ncases = 1;
    }

    rng = seed;
    diag("%zu random Bedrock requests, seed %llu (SIGV4_BOTOCORE_SEED)",
         ncases, (unsigned long long) seed);

    cases = calloc(ncases, sizeof(test_case_t));
    if (cases == NULL) {
        return 2;
    }

    roundtrip = 0;

    for (i = 0; i < ncases; i++) {
        generate(&cases[i]);
        sign_case(&cases[i]);

        if (cases[i].rc != 0) {
            ok(0, "case %zu (%s) signs", i, cases[i].what);
            continue;
        }

        verdict = verify_case(&cases[i], cases[i].res.authorization,
                              cases[i].res.amz_date, &reason);

        if (verdict == NGX_BEDROCK_SIGV4_OK) {
            roundtrip++;

        } else {
            diag("case %zu: own signature refused: %s", i, reason);
        }
    }

    ok(roundtrip == (int) ncases, "the verifier accepts the signer's own "
       "signatures of %zu random requests (%d did)", ncases, roundtrip);

    /* the Python half */

    python = getenv("SIGV4_PYTHON") ? getenv("SIGV4_PYTHON")
                                     : "/usr/bin/python3";
    script = find_script(argv[0], where, sizeof(where));
    skip = 0;

    if (access(python, X_OK) != 0) {
        printf("# SKIP botocore cross-check: %s not found\n", python);
        skip = 1;

    } else if (script == NULL) {
        printf("# SKIP botocore cross-check: t/unit/sigv4_botocore.py not "
               "found (set SIGV4_BOTOCORE_SCRIPT)\n");
        skip = 1;
    }

    if (skip) {
        goto done;
    }

    fd = mkstemp(file);
    f = (fd >= 0) ? fdopen(fd, "w") : NULL;

    if (f == NULL) {
        ok(0, "a case file can be written in /tmp");
        goto done;
    }

    for (i = 0; i < ncases; i++) {
        if (write_case(f, i, &cases[i]) != 0) {
            break;
        }
    }

    if (fclose(f) != 0 || i != ncases) {
        ok(0, "the case file is written");
        unlink(file);
        goto done;
    }

    snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' 2>&1", python, script, file);
    p = popen(cmd, "r");

    if (p == NULL) {
        ok(0, "%s runs", cmd);
        unlink(file);
        goto done;
    }

    line = NULL;
    cap = 0;
    answered = 0;

    while ((got = getline(&line, &cap, p)) > 0) {
        len = (size_t) got;

        o = cJSON_Parse(line);

        if (o == NULL) {
            diag("checker: %.*s", (int) len, line);
            continue;
        }

        if ((v = cJSON_GetObjectItemCaseSensitive(o, "skip")) != NULL) {
            printf("# SKIP botocore cross-check: %s\n",
                   cJSON_IsString(v) ? v->valuestring : "skipped");
            skip = 1;
            cJSON_Delete(o);
            continue;
        }

        if ((v = cJSON_GetObjectItemCaseSensitive(o, "botocore")) != NULL) {
            diag("botocore %s via %s",
                 cJSON_IsString(v) ? v->valuestring : "?", python);
            cJSON_Delete(o);
            continue;
        }

        v = cJSON_GetObjectItemCaseSensitive(o, "id");
        i = cJSON_IsNumber(v) ? (size_t) v->valuedouble : ncases;

        if (i >= ncases) {
            diag("checker answered an unknown case: %.*s", (int) len, line);
            cJSON_Delete(o);
            continue;
        }

        answered++;

        {
            test_case_t  *tc = &cases[i];
            cJSON        *auth, *date, *cr, *err;
            str_t         theirs;

            auth = cJSON_GetObjectItemCaseSensitive(o, "authorization");
            date = cJSON_GetObjectItemCaseSensitive(o, "amz_date");
            cr = cJSON_GetObjectItemCaseSensitive(o, "canonical_request");
            err = cJSON_GetObjectItemCaseSensitive(o, "error");

            if (!cJSON_IsString(auth) || !cJSON_IsString(date)) {
                ok(0, "case %zu (%s): botocore signs it", i, tc->what);
                diag("botocore: %s", cJSON_IsString(err) ? err->valuestring
                                                         : "no answer");
                cJSON_Delete(o);
                continue;
            }

            theirs = S(auth->valuestring);

            if (!ok(tc->rc == 0
                    && strcmp(date->valuestring, tc->res.amz_date) == 0
                    && theirs.len == tc->res.authorization.len
                    && memcmp(theirs.data, tc->res.authorization.data,
                              theirs.len) == 0,
                    "case %zu (%s): Authorization identical to botocore's",
                    i, tc->what))
            {
                diag("url: %s", tc->url);
                diag("botocore: %s", auth->valuestring);
                diag_text("ours", (const char *) tc->res.authorization.data,
                          tc->res.authorization.len);

                if (cJSON_IsString(cr)) {
                    diag_text("botocore canonical request", cr->valuestring,
                              strlen(cr->valuestring));
                }

                diag_text("our canonical request",
                          (const char *) tc->res.canonical_request.data,
                          tc->res.canonical_request.len);
            }

            verdict = verify_case(tc, theirs, date->valuestring, &reason);

            ok(verdict == NGX_BEDROCK_SIGV4_OK,
               "case %zu: the verifier accepts botocore's signature (%s)",
               i, reason);
        }

        cJSON_Delete(o);
    }

    free(line);

    if (pclose(p) != 0 && !skip) {
        ok(0, "the checker %s exits 0", script);
    }

    unlink(file);

    if (!skip) {
        ok(answered == ncases, "botocore answered all %zu cases (%zu)",
           ncases, answered);
    }

done:

    for (i = 0; i < ncases; i++) {
        free(cases[i].body);
        free(cases[i].mem);
    }

    free(cases);

    ngx_bedrock_sigv4_cleanup();

    return done_testing();
}
