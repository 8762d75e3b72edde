/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Models and operations.  The output maximum of a model matters because
 * Bedrock reserves input + max_tokens against the tokens-per-minute quota
 * when a request starts, and a body without a maximum reserves the
 * model's own (the Converse API documents maxTokens as "the maximum
 * allowed value for the model" by default).  The figures below are the
 * models' maximum output tokens as their makers and the Bedrock model
 * pages give them; where sources differ, the higher one is taken: a
 * reservation that is too high is refunded when the answer comes, one
 * that is too low gets throttled.
 */


#include <string.h>

#include "ngx_bedrock_model.h"


typedef struct {
    const char            *name;
    size_t                 len;
    ngx_bedrock_api_e      api;
} ngx_bedrock_operation_t;


typedef struct {
    const char            *name;       /* "anthropic." ... */
    size_t                 len;
    ngx_bedrock_family_e   family;
} ngx_bedrock_provider_t;


/* Claude generations, newest first: the first row that fits applies */
typedef struct {
    uint32_t               from;       /* version, major * 100 + minor */
    const char            *name;       /* or NULL: any */
    uint32_t               max_tokens;
    uint32_t               burndown;
} ngx_bedrock_claude_t;


/* the other families: the first row whose text the id contains */
typedef struct {
    ngx_bedrock_family_e   family;
    const char            *match;      /* "" matches any id */
    uint32_t               max_tokens;
} ngx_bedrock_model_info_t;


static int ngx_bedrock_hex(unsigned char c);
static const unsigned char *ngx_bedrock_find(const unsigned char *p,
    size_t len, const char *s);
static const ngx_bedrock_provider_t *ngx_bedrock_provider(
    const unsigned char *p, size_t len);
static void ngx_bedrock_claude(const unsigned char *p, size_t len,
    ngx_bedrock_model_t *m);


static const ngx_bedrock_operation_t  ngx_bedrock_operations[] = {
    { "invoke", 6, NGX_BEDROCK_API_INVOKE },
    { "invoke-with-response-stream", 27, NGX_BEDROCK_API_INVOKE_STREAM },
    { "converse", 8, NGX_BEDROCK_API_CONVERSE },
    { "converse-stream", 15, NGX_BEDROCK_API_CONVERSE_STREAM },
    { "count-tokens", 12, NGX_BEDROCK_API_COUNT_TOKENS },
    { NULL, 0, NGX_BEDROCK_API_UNKNOWN }
};


static const ngx_bedrock_provider_t  ngx_bedrock_providers[] = {
    { "anthropic.", 10, NGX_BEDROCK_FAMILY_ANTHROPIC },
    { "amazon.", 7, NGX_BEDROCK_FAMILY_AMAZON },
    { "meta.", 5, NGX_BEDROCK_FAMILY_META },
    { "mistral.", 8, NGX_BEDROCK_FAMILY_MISTRAL },
    { "cohere.", 7, NGX_BEDROCK_FAMILY_COHERE },
    { "ai21.", 5, NGX_BEDROCK_FAMILY_AI21 },
    { "deepseek.", 9, NGX_BEDROCK_FAMILY_DEEPSEEK },
    /* others Bedrock serves: known as providers, priced by default */
    { "openai.", 7, NGX_BEDROCK_FAMILY_OTHER },
    { "qwen.", 5, NGX_BEDROCK_FAMILY_OTHER },
    { "writer.", 7, NGX_BEDROCK_FAMILY_OTHER },
    { "stability.", 10, NGX_BEDROCK_FAMILY_OTHER },
    { "twelvelabs.", 11, NGX_BEDROCK_FAMILY_OTHER },
    { "luma.", 5, NGX_BEDROCK_FAMILY_OTHER },
    { "moonshot.", 9, NGX_BEDROCK_FAMILY_OTHER },
    { "minimax.", 8, NGX_BEDROCK_FAMILY_OTHER },
    { "google.", 7, NGX_BEDROCK_FAMILY_OTHER },
    { "nvidia.", 7, NGX_BEDROCK_FAMILY_OTHER },
    { NULL, 0, NGX_BEDROCK_FAMILY_OTHER }
};


/*
 * Claude: maximum output tokens and quota burndown.  The burndown of
 * output tokens is 5 from Claude 3.7 on (AWS: "5x for output tokens" for
 * the Claude 4 models; 3.7 as the quota issue of this project has it).
 */
static const ngx_bedrock_claude_t  ngx_bedrock_claude_models[] = {
    /* from  name        max out  burndown */
    { 406,   NULL,       128000,  5 },  /* Opus 4.6, Sonnet 4.6 and later */
    { 405,   NULL,        64000,  5 },  /* Sonnet, Haiku and Opus 4.5 */
    { 400,   "opus",      32000,  5 },  /* Opus 4, Opus 4.1 */
    { 400,   NULL,        64000,  5 },  /* Sonnet 4 */
    { 307,   NULL,        64000,  5 },  /* Sonnet 3.7 */
    { 305,   NULL,         8192,  1 },  /* Sonnet 3.5 (v1 and v2), Haiku */
    { 300,   NULL,         4096,  1 },  /* Haiku, Sonnet, Opus 3 */
    { 0,     NULL,         4096,  1 }   /* Claude 2, 2.1, Instant */
};


static const ngx_bedrock_model_info_t  ngx_bedrock_models[] = {
    /* family                          id contains      max out */
    { NGX_BEDROCK_FAMILY_AMAZON,       "nova-premier",   32000 },
    { NGX_BEDROCK_FAMILY_AMAZON,       "nova-2-",        65536 },
    { NGX_BEDROCK_FAMILY_AMAZON,       "nova",           10000 },
    { NGX_BEDROCK_FAMILY_AMAZON,       "titan-embed",        0 },
    { NGX_BEDROCK_FAMILY_AMAZON,       "titan-text-premier", 3072 },
    { NGX_BEDROCK_FAMILY_AMAZON,       "titan-text-lite", 4096 },
    { NGX_BEDROCK_FAMILY_AMAZON,       "",                8192 },
    { NGX_BEDROCK_FAMILY_META,         "llama4",          8192 },
    { NGX_BEDROCK_FAMILY_META,         "",                2048 },
    { NGX_BEDROCK_FAMILY_MISTRAL,      "",                8192 },
    { NGX_BEDROCK_FAMILY_COHERE,       "embed",              0 },
    { NGX_BEDROCK_FAMILY_COHERE,       "",                4000 },
    { NGX_BEDROCK_FAMILY_AI21,         "j2-",             8191 },
    { NGX_BEDROCK_FAMILY_AI21,         "",                4096 },
    { NGX_BEDROCK_FAMILY_DEEPSEEK,     "r1",             32768 },
    { NGX_BEDROCK_FAMILY_DEEPSEEK,     "",                8192 },
    { NGX_BEDROCK_FAMILY_OTHER,        "",   NGX_BEDROCK_DEFAULT_MAX_TOKENS }
};


int
ngx_bedrock_model_parse_path(const unsigned char *path, size_t len,
    unsigned char *buf, ngx_bedrock_model_t *m)
{
    int                             hi, lo, arn;
    size_t                          i, id_end, n;
    const ngx_bedrock_operation_t  *op;

    memset(m, 0, sizeof(ngx_bedrock_model_t));

    if (len < sizeof("/model/x/invoke") - 1
        || memcmp(path, "/model/", sizeof("/model/") - 1) != 0)
    {
        return -1;
    }

    id_end = len;

    while (id_end > 0 && path[id_end - 1] != '/') {
        id_end--;
    }

    if (id_end <= sizeof("/model/")) {
        return -1;
    }

    for (op = ngx_bedrock_operations; op->name; op++) {
        if (op->len == len - id_end
            && memcmp(path + id_end, op->name, op->len) == 0)
        {
            break;
        }
    }

    if (op->name == NULL) {
        return -1;
    }

    /*
     * The modelId is one segment.  A literal '/' is allowed in an ARN
     * only ("arn:aws:bedrock:...:inference-profile/us.anthropic..."):
     * some clients send it so, and nothing else could contain one.
     */

    i = sizeof("/model/") - 1;
    arn = (id_end - 1 - i > 4 && memcmp(path + i, "arn:", 4) == 0)
          || (id_end - 1 - i > 6 && memcmp(path + i, "arn%3", 5) == 0
              && (path[i + 5] == 'A' || path[i + 5] == 'a'));

    n = 0;

    for ( /* void */ ; i < id_end - 1; i++) {

        if (path[i] == '/' && (!arn || path[i - 1] == '/')) {
            return -1;
        }

        if (path[i] == '%') {

            if (i + 2 >= id_end - 1) {
                return -1;
            }

            hi = ngx_bedrock_hex(path[i + 1]);
            lo = ngx_bedrock_hex(path[i + 2]);

            if (hi < 0 || lo < 0) {
                return -1;
            }

            buf[n] = (unsigned char) (hi * 16 + lo);
            i += 2;

        } else {
            buf[n] = path[i];
        }

        /* no model id has a control character, a space or a '%' left */
        if (buf[n] <= ' ' || buf[n] == 0x7f) {
            return -1;
        }

        n++;
    }

    if (n == 0) {
        return -1;
    }

    m->api = op->api;
    m->id = buf;
    m->id_len = n;

    ngx_bedrock_model_lookup(buf, n, m);

    return 0;
}


void
ngx_bedrock_model_lookup(const unsigned char *id, size_t len,
    ngx_bedrock_model_t *m)
{
    size_t                           i, colons;
    const unsigned char             *p, *last, *res;
    const ngx_bedrock_provider_t    *pv;
    const ngx_bedrock_model_info_t  *info;

    m->family = NGX_BEDROCK_FAMILY_OTHER;
    m->default_max_tokens = NGX_BEDROCK_DEFAULT_MAX_TOKENS;
    m->burndown = 1;
    m->version = 0;
    m->profile = 0;
    m->opaque = 0;

    p = id;
    last = id + len;

    /* arn:PARTITION:bedrock:REGION:ACCOUNT:TYPE/RESOURCE */

    if (len > 4 && memcmp(p, "arn:", 4) == 0) {

        for (colons = 0, res = p; res < last && colons < 5; res++) {
            if (*res == ':') {
                colons++;
            }
        }

        if (colons < 5) {
            m->opaque = 1;
            return;
        }

#define ngx_bedrock_arn(t)                                                  \
        ((size_t) (last - res) > sizeof(t) - 1                              \
         && memcmp(res, t, sizeof(t) - 1) == 0)

        if (ngx_bedrock_arn("foundation-model/")) {
            p = res + sizeof("foundation-model/") - 1;

        } else if (ngx_bedrock_arn("inference-profile/")) {
            p = res + sizeof("inference-profile/") - 1;
            m->profile = 1;

        } else if (ngx_bedrock_arn("custom-model/")) {
            /* custom-model/BASE-MODEL-ID/NAME: the base model prices it */
            p = res + sizeof("custom-model/") - 1;

        } else {
            /* application-inference-profile/ID, provisioned-model/ID,
             * imported-model/ID: the id does not say what model it is */
            m->opaque = 1;
            return;
        }

#undef ngx_bedrock_arn
    }

    pv = ngx_bedrock_provider(p, last - p);

    if (pv == NULL) {
        /* a geography first: us., eu., apac., global., us-gov., jp. ... */
        for (i = 0; p + i < last && i < 16 && p[i] != '.'; i++) {
            /* void */
        }

        if (p + i < last && p[i] == '.') {
            pv = ngx_bedrock_provider(p + i + 1, last - p - i - 1);

            if (pv != NULL) {
                p += i + 1;
                m->profile = 1;
            }
        }
    }

    if (pv == NULL) {
        return;
    }

    m->family = pv->family;
    p += pv->len;

    if (m->family == NGX_BEDROCK_FAMILY_ANTHROPIC) {
        ngx_bedrock_claude(p, last - p, m);
        return;
    }

    for (info = ngx_bedrock_models; /* void */; info++) {
        if ((info->family == m->family
             || info->family == NGX_BEDROCK_FAMILY_OTHER)
            && (info->match[0] == '\0'
                || ngx_bedrock_find(p, last - p, info->match) != NULL))
        {
            m->default_max_tokens = info->max_tokens;
            return;
        }
    }
}


/*
 * The version of a Claude id: "claude-3-7-sonnet-20250219-v1:0" (3.7),
 * "claude-sonnet-4-20250514-v1:0" (4.0), "claude-opus-4-1-..." (4.1),
 * "claude-opus-4-6-v1" (4.6), "claude-v2:1" (before 3).  The first
 * segment of one or two digits is the major, the next of one or two
 * the minor (a date has eight); the first of letters is the name.
 */

static void
ngx_bedrock_claude(const unsigned char *p, size_t len,
    ngx_bedrock_model_t *m)
{
    size_t                       n, seg, digits, letters, name_len;
    uint32_t                     major, minor, v;
    unsigned                     have_major;
    const unsigned char         *last, *name;
    const ngx_bedrock_claude_t  *c;

    last = p + len;
    major = 0;
    minor = 0;
    have_major = 0;
    name = NULL;
    name_len = 0;

    if (len < 7 || memcmp(p, "claude-", 7) != 0) {
        p = last;

    } else {
        p += 7;
    }

    for (seg = 0; p < last && seg < 8; seg++) {

        digits = 0;
        letters = 0;
        v = 0;

        for (n = 0; p + n < last && p[n] != '-'; n++) {
            if (p[n] >= '0' && p[n] <= '9') {
                digits++;
                v = v * 10 + (p[n] - '0');

            } else if (p[n] >= 'a' && p[n] <= 'z') {
                letters++;
            }
        }

        if (n > 0 && n <= 2 && digits == n) {

            if (have_major) {
                minor = v;
                break;
            }

            major = v;
            have_major = 1;

        } else if (n > 0 && letters == n) {

            if (name == NULL) {
                name = p;
                name_len = n;
            }

        } else if (have_major) {
            /* a date or "v1:0": the version is complete */
            break;
        }

        p += n;

        if (p < last) {
            p++;
        }
    }

    m->version = have_major ? major * 100 + minor : 0;

    for (c = ngx_bedrock_claude_models; /* void */; c++) {

        if (c->from > m->version) {
            continue;
        }

        if (c->name == NULL
            || (name != NULL && name_len == strlen(c->name)
                && memcmp(name, c->name, name_len) == 0))
        {
            break;
        }
    }

    m->default_max_tokens = c->max_tokens;
    m->burndown = c->burndown;
}


static const ngx_bedrock_provider_t *
ngx_bedrock_provider(const unsigned char *p, size_t len)
{
    const ngx_bedrock_provider_t  *pv;

    for (pv = ngx_bedrock_providers; pv->name; pv++) {
        if (len > pv->len && memcmp(p, pv->name, pv->len) == 0) {
            return pv;
        }
    }

    return NULL;
}


static const unsigned char *
ngx_bedrock_find(const unsigned char *p, size_t len, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(p + i, s, n) == 0) {
            return p + i;
        }
    }

    return NULL;
}


const char *
ngx_bedrock_family_name(ngx_bedrock_family_e family)
{
    static const char  *names[] = {
        "other", "anthropic", "amazon", "meta", "mistral", "cohere",
        "ai21", "deepseek"
    };

    if (family >= NGX_BEDROCK_FAMILY_LAST) {
        return "other";
    }

    return names[family];
}


const char *
ngx_bedrock_api_name(ngx_bedrock_api_e api)
{
    switch (api) {
    case NGX_BEDROCK_API_INVOKE:
        return "invoke";
    case NGX_BEDROCK_API_INVOKE_STREAM:
        return "invoke-with-response-stream";
    case NGX_BEDROCK_API_CONVERSE:
        return "converse";
    case NGX_BEDROCK_API_CONVERSE_STREAM:
        return "converse-stream";
    case NGX_BEDROCK_API_COUNT_TOKENS:
        return "count-tokens";
    default:
        return "unknown";
    }
}


static int
ngx_bedrock_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
