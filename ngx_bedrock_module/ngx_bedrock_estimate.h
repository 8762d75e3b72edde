/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The token estimator: what a request will cost before it is sent.
 * Pure C, no nginx types.
 *
 * The text of a request is priced by a one-pass scan calibrated against
 * the public Claude tokenizer (bench/estimate/README.md has the method
 * and the measured error); images by their pixel size; documents, tools
 * and the framing of messages by the figures below.
 */


#ifndef _NGX_BEDROCK_ESTIMATE_H_INCLUDED_
#define _NGX_BEDROCK_ESTIMATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_bedrock_model.h"


#define NGX_BEDROCK_ERROR_LEN  256

/* deeper JSON is refused as malformed: the parser keeps no recursion */
#define NGX_BEDROCK_JSON_MAX_DEPTH  256

/*
 * Framing, in tokens, added to what the parts of a request cost.  The
 * tool figure is the system prompt Anthropic documents for tool use
 * (346 tokens with tool_choice "auto" for Claude 3.5 and later); the
 * others are estimates of the role and turn markers, rounded up.
 */
#define NGX_BEDROCK_TOKENS_REQUEST   4      /* once per request */
#define NGX_BEDROCK_TOKENS_MESSAGE   4      /* per message, role marker */
#define NGX_BEDROCK_TOKENS_SYSTEM    4      /* when a system prompt is set */
#define NGX_BEDROCK_TOKENS_TOOLS     346    /* once, when tools are given */
#define NGX_BEDROCK_TOKENS_TOOL      12     /* per tool definition */

/* an image whose size cannot be read is priced as the largest one */
#define NGX_BEDROCK_IMAGE_TOKENS_MAX  1600


typedef struct {
    uint64_t    text_tokens;       /* system, messages, prompts */
    uint64_t    image_tokens;      /* images and video */
    uint64_t    document_tokens;   /* documents and audio */
    uint64_t    tool_tokens;       /* tool definitions, tool use/results */
    uint64_t    overhead_tokens;   /* framing: NGX_BEDROCK_TOKENS_* */
    uint64_t    input_tokens;      /* all of the above */
    uint64_t    max_tokens;        /* from the body, or the model default */
    uint64_t    cost;              /* input_tokens + max_tokens */
    uint32_t    messages;
    uint32_t    images;
    uint32_t    documents;
    uint32_t    tools;             /* tool definitions */
    unsigned    max_tokens_given:1;
    /* no known request shape: every string of the body was counted */
    unsigned    fallback:1;
} ngx_bedrock_estimate_t;


/*
 * Validates a request body as JSON (RFC 8259, nesting up to
 * NGX_BEDROCK_JSON_MAX_DEPTH) and estimates its tokens in one pass,
 * without building a tree, by the shape that the fields of the body use
 * (Converse, Claude Messages, Titan, Nova, Llama, Mistral, Cohere, AI21,
 * OpenAI-style chat; any other: every string).  Returns 0, or -1 with a
 * message for a 400 ValidationException in err (NGX_BEDROCK_ERROR_LEN
 * bytes, "Malformed input request: ... at byte N, please reformat your
 * input and try again.") when the body is not a JSON object.
 *
 * Invalid UTF-8 in a string is refused: RFC 8259 requires UTF-8 between
 * systems, and text that cannot be read cannot be priced or cut safely.
 * The same bytes always give the same estimate, so a body rewritten by
 * the compressor is priced by calling this again.
 */
int ngx_bedrock_estimate_body(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, ngx_bedrock_estimate_t *est, char *err);

/*
 * Tokens of a run of UTF-8 text (raw, not JSON-escaped).  A text of over
 * 8 KB is priced by sample: its first 8 KB in full, then 256 bytes of
 * every KB, scaled to the rest (bench/estimate/README.md has what that costs
 * in accuracy).  The same bytes always give the same count.
 */
uint64_t ngx_bedrock_estimate_text(const unsigned char *p, size_t len);

/*
 * Tokens of the content of a JSON string, as it stands between the
 * quotes, escapes and all.  This is how ngx_bedrock_estimate_body()
 * prices every text, string by string, each rounded up to a whole token,
 * long ones by sample as above (by the bytes as they stand: so the same
 * as ngx_bedrock_estimate_text() of the decoded text only for a string
 * too short to be sampled in either form).
 */
uint64_t ngx_bedrock_estimate_json_text(const unsigned char *p, size_t len);

/*
 * For the bench and the tests: the same as ngx_bedrock_estimate_text()
 * (json 0) or ngx_bedrock_estimate_json_text() (json 1) with every byte
 * priced, however long the text.
 */
uint64_t ngx_bedrock_estimate_text_whole(const unsigned char *p, size_t len,
    int json);

/*
 * Reads the pixel size of a PNG, JPEG, GIF or WebP image from the head of
 * its base64 form, decoding only what the header needs.  Returns 0, or -1
 * when the size cannot be read.
 */
int ngx_bedrock_image_size(const unsigned char *b64, size_t len,
    uint32_t *width, uint32_t *height);

/* Tokens of an image of that size, after the model's own resize. */
uint64_t ngx_bedrock_image_tokens(uint32_t width, uint32_t height);


/*
 * For the calibration bench: the counts that the text weights apply to
 * (letters, digits, punctuation, spaces and scripts, by kind of piece).
 * Fills counts[NGX_BEDROCK_TEXT_FEATURES] for a run of text.
 */
#define NGX_BEDROCK_TEXT_FEATURES  42

void ngx_bedrock_text_features(const unsigned char *p, size_t len,
    uint64_t *counts);
const char *ngx_bedrock_text_feature_name(size_t i);


#endif /* _NGX_BEDROCK_ESTIMATE_H_INCLUDED_ */
