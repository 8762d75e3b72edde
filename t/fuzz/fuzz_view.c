/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * libFuzzer target for the request view.
 *
 * Input: a byte that picks the path (the shape's operation and family),
 * then the body.  A body that parses must be written back byte for byte;
 * then texts are cut and messages dropped where the input's bytes say,
 * and the result must be a JSON object again, UTF-8 when the body was,
 * and the same bytes when written twice.  Any broken promise aborts.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const char  *paths[] = {
    "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/invoke",
    "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse",
    "/model/amazon.nova-pro-v1:0/invoke",
    "/model/mistral.mistral-large-2407-v1:0/invoke",
    "/model/cohere.command-r-v1:0/invoke",
    "/model/meta.llama3-70b-instruct-v1:0/invoke-with-response-stream",
    "/model/amazon.titan-text-express-v1/invoke",
    ("/model/arn:aws:bedrock:us-east-1:1:application-inference-profile"
     "%2Fx/invoke")
};


static int
utf8_ok(const unsigned char *p, size_t len)
{
    size_t  i, n, k;

    for (i = 0; i < len; i += n) {

        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4;

        } else {
            return 0;
        }

        if (i + n > len) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
    }

    return 1;
}


static uint32_t
mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x45d9f3b;
    x ^= x >> 16;

    return x;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                  err[NGX_BEDROCK_ERROR_LEN];
    size_t                len, n, i, h, t, olen, olen2;
    cJSON                *root;
    uint8_t               sel;
    uint32_t              r;
    const char           *path;
    unsigned char        *body, *out, *out2, id[256];
    ngx_bedrock_view_t    v;
    ngx_bedrock_model_t   m;

    if (size < 1) {
        return 0;
    }

    sel = data[0];
    path = paths[sel % (sizeof(paths) / sizeof(paths[0]))];

    /* a buffer of the body's size exactly: ASan sees a byte read past it */

    len = size - 1;
    body = malloc(len ? len : 1);
    memcpy(body, data + 1, len);

    if (ngx_bedrock_model_parse_path((const unsigned char *) path,
                                     strlen(path), id, &m)
        != 0)
    {
        abort();
    }

    if (ngx_bedrock_view_parse(&v, body, len, &m, err) != 0) {
        if (strlen(err) == 0 || strlen(err) >= NGX_BEDROCK_ERROR_LEN) {
            abort();
        }

        ngx_bedrock_view_free(&v);
        free(body);
        return 0;
    }

    /* unchanged: the same bytes */

    if (ngx_bedrock_view_serialize(&v, &out, &olen) != 0) {
        abort();
    }

    if (olen != len || memcmp(out, body, len) != 0) {
        abort();
    }

    free(out);

    /* cut and drop where the bytes say */

    r = mix(sel + (uint32_t) len);

    for (i = 0; i < v.ntexts; i++) {
        n = v.texts[i].inner.end - v.texts[i].inner.start;
        r = mix(r + (uint32_t) i);

        if ((r & 3) == 0 || n == 0) {
            continue;
        }

        h = (r >> 2) % n;
        t = (r >> 12) % n;

        if (ngx_bedrock_view_cut_points(&v, i, h, t, &h, &t) == 0) {
            if (h + t >= n) {
                abort();
            }

            ngx_bedrock_view_cut(&v, i, h, t);
        }
    }

    for (i = 0; i < v.nmessages; i++) {
        r = mix(r + (uint32_t) i);
        v.messages[i].dropped = (sel & 0x80) && (r & 1);
    }

    if (ngx_bedrock_view_serialize(&v, &out, &olen) != 0
        || ngx_bedrock_view_serialize(&v, &out2, &olen2) != 0)
    {
        abort();
    }

    if (olen != olen2 || memcmp(out, out2, olen) != 0) {
        abort();
    }

    root = cJSON_ParseWithLength((const char *) out, olen);

    if (!cJSON_IsObject(root)) {
        abort();
    }

    if (utf8_ok(body, len) && !utf8_ok(out, olen)) {
        abort();
    }

    cJSON_Delete(root);
    free(out);
    free(out2);

    ngx_bedrock_view_free(&v);
    free(body);

    return 0;
}
