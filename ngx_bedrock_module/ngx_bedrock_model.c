/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#include <string.h>

#include "ngx_bedrock_model.h"


typedef struct {
    const char            *name;
    size_t                 len;
    ngx_bedrock_api_e      api;
} ngx_bedrock_operation_t;


static int ngx_bedrock_hex(unsigned char c);


static const ngx_bedrock_operation_t  ngx_bedrock_operations[] = {
    { "invoke", 6, NGX_BEDROCK_API_INVOKE },
    { "invoke-with-response-stream", 27, NGX_BEDROCK_API_INVOKE_STREAM },
    { "converse", 8, NGX_BEDROCK_API_CONVERSE },
    { "converse-stream", 15, NGX_BEDROCK_API_CONVERSE_STREAM },
    { NULL, 0, NGX_BEDROCK_API_UNKNOWN }
};


int
ngx_bedrock_model_parse_path(const unsigned char *path, size_t len,
    unsigned char *buf, ngx_bedrock_model_t *m)
{
    int                             hi, lo;
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

    /* the modelId is one segment: a literal '/' is not part of it */

    n = 0;

    for (i = sizeof("/model/") - 1; i < id_end - 1; i++) {

        if (path[i] == '/') {
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

            buf[n++] = (unsigned char) (hi * 16 + lo);
            i += 2;
            continue;
        }

        buf[n++] = path[i];
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
    size_t  i;

    /* a first cut: the estimator's issue refines families and defaults */

    m->family = NGX_BEDROCK_FAMILY_OTHER;
    m->default_max_tokens = 4096;
    m->burndown = 1;

    for (i = 0; i + 9 <= len; i++) {
        if (memcmp(id + i, "anthropic", 9) == 0) {
            m->family = NGX_BEDROCK_FAMILY_ANTHROPIC;
            break;
        }
    }
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
