/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * libFuzzer target for the compressor.
 *
 * Input: a byte that picks the path, two bytes of cap, a byte of keep
 * and threshold, then the body.  Whatever comes in, the compressor must
 * not crash or leak; when it answers a body, that body must be under the
 * cap by the module's estimate, the same when compressed again, and, for
 * Claude Messages and Converse, judged valid by t/unit/compress_check.h
 * (a valid request when the input was one; the input with only cuts and
 * drops).  An error must be one of the documented ones, with a message.
 * Any broken promise aborts.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "../unit/compress_check.h"
#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_compress.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static int has_nul(const unsigned char *p, size_t len);


static const struct {
    const char  *path;
    int          check;
} paths[] = {
    { "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/invoke",
      CHECK_CLAUDE },
    { "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse",
      CHECK_CONVERSE },
    { "/model/amazon.nova-pro-v1:0/invoke", CHECK_CONVERSE },
    { "/model/mistral.mistral-large-2407-v1:0/invoke", 0 },
    { "/model/cohere.command-r-v1:0/invoke", 0 },
    { "/model/meta.llama3-70b-instruct-v1:0/invoke", 0 },
    { "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/"
      "invoke-with-response-stream", CHECK_CLAUDE },
    { "/model/us.amazon.nova-lite-v1:0/converse-stream", CHECK_CONVERSE }
};


/*
 * Does a string of the body decode to a NUL: a raw NUL, "\u0000", or a
 * "\u" escape without four hex digits, which cJSON reads as U+0000?
 */

static int
has_nul(const unsigned char *p, size_t len)
{
    size_t  i, k;

    if (memchr(p, '\0', len) != NULL) {
        return 1;
    }

    for (i = 0; i + 1 < len; i++) {

        if (p[i] != '\\') {
            continue;
        }

        if (p[i + 1] == 'u') {
            if (i + 6 > len || memcmp(p + i + 2, "0000", 4) == 0) {
                return 1;
            }

            for (k = 2; k < 6; k++) {
                if (!((p[i + k] >= '0' && p[i + k] <= '9')
                      || ((p[i + k] | 0x20) >= 'a'
                          && (p[i + k] | 0x20) <= 'f')))
                {
                    return 1;
                }
            }
        }

        i++;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                            rc, check;
    char                           err[NGX_BEDROCK_ERROR_LEN];
    char                           why[CHECK_WHY_LEN];
    cJSON                         *root;
    size_t                         len, p;
    const char                    *path;
    unsigned char                 *body, id[256];
    ngx_bedrock_model_t            m;
    ngx_bedrock_estimate_t         est;
    ngx_bedrock_compress_conf_t    conf;
    ngx_bedrock_compress_result_t  res, again;
    static const uint64_t          blocks[] = { 0, 64, 100, 1000 };

    if (size < 4) {
        return 0;
    }

    p = data[0] % (sizeof(paths) / sizeof(paths[0]));
    path = paths[p].path;

    memset(&conf, 0, sizeof(conf));

    /* caps from 0 to about 64k tokens, dense where bodies are small */
    conf.max_input_tokens = ((uint64_t) data[1] << 8 | data[2])
                            >> ((data[0] >> 5) & 7);
    conf.keep_turns = data[3] & 7;
    conf.block_tokens = blocks[(data[3] >> 3) & 3];

    len = size - 4;
    body = malloc(len ? len : 1);
    memcpy(body, data + 4, len);

    if (ngx_bedrock_model_parse_path((const unsigned char *) path,
                                     strlen(path), id, &m)
        != 0)
    {
        abort();
    }

    err[0] = '\0';
    rc = ngx_bedrock_compress_body(body, len, &m, &conf, &res, err);

    if (rc != 0) {
        if (res.body != NULL || err[0] == '\0'
            || (res.error != NGX_BEDROCK_COMPRESS_MALFORMED
                && res.error != NGX_BEDROCK_COMPRESS_TOO_LARGE))
        {
            abort();
        }

        free(body);
        return 0;
    }

    if (res.body == NULL) {
        if (res.tokens_before > conf.max_input_tokens) {
            abort();
        }

        free(body);
        return 0;
    }

    if (ngx_bedrock_estimate_body(res.body, res.len, &m, &est, err) != 0
        || est.input_tokens > conf.max_input_tokens
        || est.input_tokens != res.tokens_after)
    {
        abort();
    }

    /* the same bytes again */

    if (ngx_bedrock_compress_body(body, len, &m, &conf, &again, err) != 0
        || again.body == NULL || again.len != res.len
        || memcmp(again.body, res.body, res.len) != 0)
    {
        abort();
    }

    ngx_bedrock_compress_free(&again);

    root = cJSON_ParseWithLength((const char *) body, len);

    /* the judge reads strings as C strings: not with a NUL inside */

    check = paths[p].check;

    if (check && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root,
                                                                "messages"))
        && !has_nul(body, len))
    {
        if (check_compressed(body, len, res.body, res.len, check,
                             conf.keep_turns ? conf.keep_turns : 1, why)
            != 0)
        {
            fprintf(stderr, "fuzz_compress: %s\n", why);
            abort();
        }

    } else {
        cJSON_Delete(root);
        root = cJSON_ParseWithLength((const char *) res.body, res.len);

        if (!cJSON_IsObject(root)) {
            abort();
        }
    }

    cJSON_Delete(root);
    ngx_bedrock_compress_free(&res);
    free(body);

    return 0;
}
