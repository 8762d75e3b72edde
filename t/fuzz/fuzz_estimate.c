/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * libFuzzer target for the model path parser and the estimator.
 *
 * Input: a first byte that picks a model path (or, when high, makes the
 * path out of the input's first line), then the body.  Never crash, never
 * read out of bounds; and the promises the callers rely on hold, or the
 * target aborts:
 *  - an accepted body's parts add up to its input, and input plus maximum
 *    to its cost; a refused one has a message in Bedrock's wording;
 *  - the same bytes give the same estimate;
 *  - the text scan counts a text the same whether it sees it whole (64
 *    bytes at a time) or as a JSON string escaped character by character
 *    (byte by byte), every byte priced;
 *  - texts over 8 KB are priced by sample, by their bytes as they stand:
 *    up to 8 KB a text costs what every byte priced costs; a text costs
 *    the same as raw text and as a JSON string where the two are the same
 *    bytes; and the input made a long JSON string (escaped, repeated past
 *    16 KB) costs the same in a body as alone.
 */


#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const char  *paths[] = {
    "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse",
    "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke",
    "/model/amazon.nova-pro-v1:0/invoke",
    "/model/amazon.titan-text-express-v1/invoke-with-response-stream",
    "/model/meta.llama3-70b-instruct-v1:0/invoke",
    "/model/cohere.command-r-plus-v1:0/invoke",
    ("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3A"
     "application-inference-profile%2Fx/converse-stream"),
    "/model/some.model/invoke"
};


/*
 * The input as the content of a JSON string, escaped where it must be and
 * repeated past 16 KB, so that it is priced by sample: in a body it costs
 * what it costs alone, or the body is refused (the input was not UTF-8).
 */

static void
long_string(const uint8_t *data, size_t size, ngx_bedrock_model_t *m)
{
    int                     rc;
    char                    err[NGX_BEDROCK_ERROR_LEN];
    size_t                  i, n, len;
    unsigned char          *b;
    ngx_bedrock_estimate_t  est;

    if (size == 0) {
        return;
    }

    len = 0;

    for (i = 0; i < size; i++) {
        len += (data[i] == '"' || data[i] == '\\') ? 2
               : (data[i] < 0x20) ? 6 : 1;
    }

    n = 16384 / len + 1;
    b = malloc(11 + n * len + 2);
    memcpy(b, "{\"prompt\":\"", 11);
    len = 11;

    while (n--) {
        for (i = 0; i < size; i++) {
            if (data[i] == '"' || data[i] == '\\') {
                b[len++] = '\\';
                b[len++] = data[i];

            } else if (data[i] < 0x20) {
                len += sprintf((char *) b + len, "\\u%04x", data[i]);

            } else {
                b[len++] = data[i];
            }
        }
    }

    memcpy(b + len, "\"}", 2);

    rc = ngx_bedrock_estimate_body(b, len + 2, m, &est, err);

    /* base64 (or what looks like it) is not text: not priced as text */

    for (i = 11; i < 11 + 128; i++) {
        if (!isalnum(b[i]) && b[i] != '+' && b[i] != '/' && b[i] != '='
            && b[i] != '-' && b[i] != '_' && b[i] != '\\')
        {
            break;
        }
    }

    if (rc == 0 && i < 11 + 128 && memcmp(b + 11, "data:", 5) != 0
        && est.text_tokens != ngx_bedrock_estimate_json_text(b + 11, len - 11))
    {
        abort();
    }

    free(b);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc;
    char                    err[NGX_BEDROCK_ERROR_LEN];
    size_t                  i, n, line;
    uint32_t                w, h;
    uint64_t                a, b;
    unsigned char          *buf, *esc, *e;
    const char             *path;
    ngx_bedrock_model_t     m;
    ngx_bedrock_estimate_t  est, again;

    if (size == 0) {
        return 0;
    }

    memset(&m, 0, sizeof(m));

    if (data[0] < 0x80) {
        path = paths[data[0] % (sizeof(paths) / sizeof(paths[0]))];
        n = strlen(path);
        buf = malloc(n);

        if (ngx_bedrock_model_parse_path((const unsigned char *) path, n,
                                         buf, &m) != 0)
        {
            abort();
        }

        data++;
        size--;

    } else {
        /* the path is the input's first line: any bytes at all */
        for (line = 1; line < size && data[line] != '\n'; line++) {
            /* void */
        }

        buf = malloc(line);
        rc = ngx_bedrock_model_parse_path(data + 1, line - 1, buf, &m);

        if (rc == 0 && (m.id_len == 0 || m.id_len > line)) {
            abort();
        }

        data += line;
        size -= line;
    }

    /* the body */

    rc = ngx_bedrock_estimate_body(data, size, &m, &est, err);

    if (rc == 0) {
        if (est.input_tokens != est.text_tokens + est.image_tokens
                                + est.document_tokens + est.tool_tokens
                                + est.overhead_tokens
            || est.cost != est.input_tokens + est.max_tokens)
        {
            abort();
        }

        if (ngx_bedrock_estimate_body(data, size, &m, &again, err) != 0
            || memcmp(&est, &again, sizeof(est)) != 0)
        {
            abort();
        }

    } else if (rc != -1 || strncmp(err, "Malformed input request: ", 25) != 0
               || memchr(err, '\0', NGX_BEDROCK_ERROR_LEN) == NULL)
    {
        abort();
    }

    /* the text, whole and escaped */

    a = ngx_bedrock_estimate_text(data, size);

    esc = malloc(size * 6 + 1);
    e = esc;

    for (i = 0; i < size; i++) {
        if (data[i] >= 0x80) {
            *e++ = data[i];
            continue;
        }

        *e++ = '\\';
        *e++ = 'u';
        *e++ = '0';
        *e++ = '0';
        *e++ = "0123456789abcdef"[data[i] >> 4];
        *e++ = "0123456789abcdef"[data[i] & 15];
    }

    b = ngx_bedrock_estimate_json_text(esc, e - esc);

    if (size <= 8192 / 6 && a != b) {
        abort();
    }

    if (ngx_bedrock_estimate_text_whole(data, size, 0)
        != ngx_bedrock_estimate_text_whole(esc, e - esc, 1))
    {
        abort();
    }

    if (size <= 8192 && a != ngx_bedrock_estimate_text_whole(data, size, 0)) {
        abort();
    }

    b = ngx_bedrock_estimate_json_text(data, size);

    for (i = 0; i < size; i++) {
        if (data[i] == '"' || data[i] == '\\' || data[i] < 0x20) {
            break;
        }
    }

    if (i == size && a != b) {
        abort();
    }

    long_string(data, size, &m);

    /* the input as an image's base64 */

    if (ngx_bedrock_image_size(data, size, &w, &h) == 0
        && (w == 0 || h == 0))
    {
        abort();
    }

    free(esc);
    free(buf);

    return 0;
}
