/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The token estimator: what a request will cost before it is sent.
 * Pure C, no nginx types.
 */


#ifndef _NGX_BEDROCK_ESTIMATE_H_INCLUDED_
#define _NGX_BEDROCK_ESTIMATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_bedrock_model.h"


#define NGX_BEDROCK_ERROR_LEN  256


typedef struct {
    uint64_t    text_tokens;       /* system, messages, prompts */
    uint64_t    image_tokens;
    uint64_t    document_tokens;
    uint64_t    tool_tokens;       /* tool definitions, tool use/results */
    uint64_t    input_tokens;      /* all of the above, with overheads */
    uint64_t    max_tokens;        /* from the body, or the model default */
    uint64_t    cost;              /* input_tokens + max_tokens */
    uint32_t    messages;
    uint32_t    images;
    uint32_t    documents;
    unsigned    max_tokens_given:1;
} ngx_bedrock_estimate_t;


/*
 * Validates a request body as JSON and estimates its tokens in one pass,
 * without building a tree, by the shape that the model's family and the
 * operation use.  Returns 0, or -1 with a message for the client in err
 * (NGX_BEDROCK_ERROR_LEN bytes) when the body is not a valid request.
 */
int ngx_bedrock_estimate_body(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, ngx_bedrock_estimate_t *est, char *err);

/* Tokens of a run of UTF-8 text (raw, not JSON-escaped). */
uint64_t ngx_bedrock_estimate_text(const unsigned char *p, size_t len);

/*
 * Reads the pixel size of a PNG, JPEG, GIF or WebP image from the head of
 * its base64 form, decoding only what the header needs.  Returns 0, or -1
 * when the size cannot be read.
 */
int ngx_bedrock_image_size(const unsigned char *b64, size_t len,
    uint32_t *width, uint32_t *height);

/* Tokens of an image of that size, after the model's own resize. */
uint64_t ngx_bedrock_image_tokens(uint32_t width, uint32_t height);


#endif /* _NGX_BEDROCK_ESTIMATE_H_INCLUDED_ */
