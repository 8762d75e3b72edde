/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Models and operations: what a Bedrock Runtime path names.
 * Pure C, no nginx types.
 */


#ifndef _NGX_BEDROCK_MODEL_H_INCLUDED_
#define _NGX_BEDROCK_MODEL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


typedef enum {
    NGX_BEDROCK_API_UNKNOWN = 0,
    NGX_BEDROCK_API_INVOKE,            /* /invoke */
    NGX_BEDROCK_API_INVOKE_STREAM,     /* /invoke-with-response-stream */
    NGX_BEDROCK_API_CONVERSE,          /* /converse */
    NGX_BEDROCK_API_CONVERSE_STREAM,   /* /converse-stream */
    NGX_BEDROCK_API_COUNT_TOKENS       /* /count-tokens */
} ngx_bedrock_api_e;


typedef enum {
    NGX_BEDROCK_FAMILY_OTHER = 0,
    NGX_BEDROCK_FAMILY_ANTHROPIC,
    NGX_BEDROCK_FAMILY_AMAZON,         /* Titan and Nova */
    NGX_BEDROCK_FAMILY_META,
    NGX_BEDROCK_FAMILY_MISTRAL,
    NGX_BEDROCK_FAMILY_COHERE,
    NGX_BEDROCK_FAMILY_AI21,
    NGX_BEDROCK_FAMILY_DEEPSEEK,
    NGX_BEDROCK_FAMILY_LAST
} ngx_bedrock_family_e;


/* reserved for a model that is not in the table, or cannot be known */
#define NGX_BEDROCK_DEFAULT_MAX_TOKENS  8192


typedef struct {
    ngx_bedrock_api_e      api;
    ngx_bedrock_family_e   family;

    /* the modelId, percent-decoded, in the caller's buffer */
    const unsigned char   *id;
    size_t                 id_len;

    /* output tokens reserved when the body gives no maximum */
    uint32_t               default_max_tokens;
    /* quota tokens one output token costs (5 for Claude 3.7 and later) */
    uint32_t               burndown;

    /* Claude's version, major * 100 + minor (307 for 3.7), or 0 */
    uint32_t               version;
    /* an inference profile: a geography prefix or a profile ARN */
    unsigned               profile:1;
    /* an id that does not name its model (an application inference
     * profile, a provisioned or imported model): defaults apply */
    unsigned               opaque:1;
} ngx_bedrock_model_t;


/* the answer to a path that names no operation (404) */
#define NGX_BEDROCK_PATH_ERROR                                                \
    "Unknown operation: the path must be /model/{modelId}/{invoke|"           \
    "invoke-with-response-stream|converse|converse-stream|count-tokens}"


/*
 * Parses a raw request path (no query string) of the form
 * "/model/{modelId}/{operation}", percent-decoding the modelId into buf,
 * which must hold at least len bytes.  The modelId is one path segment;
 * an ARN may also come with its '/' unencoded, as some clients send it.
 * Fills m and returns 0, or returns -1 when the path names no Bedrock
 * Runtime model operation.
 */
int ngx_bedrock_model_parse_path(const unsigned char *path, size_t len,
    unsigned char *buf, ngx_bedrock_model_t *m);

/*
 * Fills family, default_max_tokens, burndown, version, profile and opaque
 * from a decoded modelId in any of its forms: a base id
 * ("anthropic.claude-3-7-sonnet-20250219-v1:0"), a cross-Region profile
 * ("us.", "eu.", "apac.", "global." ... before it), or an ARN of a
 * foundation model, inference profile or custom model.
 */
void ngx_bedrock_model_lookup(const unsigned char *id, size_t len,
    ngx_bedrock_model_t *m);

const char *ngx_bedrock_family_name(ngx_bedrock_family_e family);
const char *ngx_bedrock_api_name(ngx_bedrock_api_e api);


#endif /* _NGX_BEDROCK_MODEL_H_INCLUDED_ */
