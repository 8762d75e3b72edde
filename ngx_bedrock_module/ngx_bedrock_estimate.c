/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * A first cut, behind the final interface: the body is validated with
 * cJSON and priced at one token per four bytes.  The estimator's issue
 * replaces it with a one-pass scan calibrated against Claude's tokenizer.
 */


#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ngx_bedrock_estimate.h"


int
ngx_bedrock_estimate_body(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, ngx_bedrock_estimate_t *est, char *err)
{
    cJSON  *root;

    memset(est, 0, sizeof(ngx_bedrock_estimate_t));

    root = cJSON_ParseWithLength((const char *) body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, NGX_BEDROCK_ERROR_LEN,
                 "Malformed input request: the body is not a JSON object, "
                 "please reformat your input and try again.");
        return -1;
    }

    cJSON_Delete(root);

    est->text_tokens = ngx_bedrock_estimate_text(body, len);
    est->input_tokens = est->text_tokens;
    est->max_tokens = m->default_max_tokens;
    est->cost = est->input_tokens + est->max_tokens;

    return 0;
}


uint64_t
ngx_bedrock_estimate_text(const unsigned char *p, size_t len)
{
    return (len + 3) / 4;
}


int
ngx_bedrock_image_size(const unsigned char *b64, size_t len,
    uint32_t *width, uint32_t *height)
{
    return -1;
}


uint64_t
ngx_bedrock_image_tokens(uint32_t width, uint32_t height)
{
    return ((uint64_t) width * height + 749) / 750;
}
