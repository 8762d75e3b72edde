/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The compressor: turns a request whose estimated input is over a cap
 * into one under it that Bedrock still accepts.
 *
 *   1 shorten texts of the older messages, the largest first: tool
 *     results, then the user's text, then the assistant's; each keeps its
 *     head and its tail around a marker that says how much was cut;
 *     a round cuts the texts above a per-block threshold, the next round
 *     halves it, down to NGX_BEDROCK_COMPRESS_FLOOR tokens;
 *   2 only when that is not enough, drop whole middle turns, the oldest
 *     first, each tool call with its result, so that messages still
 *     alternate and the first is the user's.
 *
 * The system prompt, tool definitions, the first user message and the
 * latest messages are never touched, nor are images, documents, tool
 * calls and signed reasoning anywhere but in a dropped turn.  It cuts no
 * more than the cap asks: the result is judged by the estimate of its
 * own body by ngx_bedrock_estimate_body(), the same the module prices
 * requests with.  The same body, model and conf give the same bytes.
 *
 * Pure C, no nginx types.
 */


#ifndef _NGX_BEDROCK_COMPRESS_H_INCLUDED_
#define _NGX_BEDROCK_COMPRESS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"


/* defaults, shared by the module's directives and bin/bedrock-tokens */
#define NGX_BEDROCK_COMPRESS_BLOCK_TOKENS  2048
#define NGX_BEDROCK_COMPRESS_KEEP_TURNS    4

/* the smallest a shortened text gets, in tokens, marker included */
#define NGX_BEDROCK_COMPRESS_FLOOR         64


typedef struct {
    /* the cap: the estimated input tokens of the result are at most this */
    uint64_t    max_input_tokens;
    /* the first round cuts texts above this many tokens (0: the default) */
    uint64_t    block_tokens;
    /* the latest messages (user or assistant, one each) kept intact;
     * 0 is taken as 1 */
    uint32_t    keep_turns;
} ngx_bedrock_compress_conf_t;


typedef enum {
    NGX_BEDROCK_COMPRESS_OK = 0,
    NGX_BEDROCK_COMPRESS_MALFORMED,    /* not a valid body: answer 400 */
    NGX_BEDROCK_COMPRESS_TOO_LARGE,    /* cannot fit the cap: answer 413 */
    NGX_BEDROCK_COMPRESS_FAILED        /* out of memory: answer 500 */
} ngx_bedrock_compress_error_e;


typedef struct {
    /* the body to send, from malloc(): NULL when the body fits as it is */
    unsigned char                 *body;
    size_t                         len;

    uint64_t                       tokens_before;  /* estimated input */
    uint64_t                       tokens_after;   /* of the body sent */
    uint32_t                       blocks_shrunk;
    uint32_t                       turns_dropped;  /* messages dropped */
    uint32_t                       passes;         /* bodies estimated */
    ngx_bedrock_compress_error_e   error;
} ngx_bedrock_compress_result_t;


/*
 * Compresses a body for a model so that its estimated input tokens are at
 * most conf->max_input_tokens.  Returns 0 and fills res: res->body is the
 * new body, or NULL when the body already fits; the caller copies it
 * where it needs it and calls ngx_bedrock_compress_free().  Returns -1
 * with res->error and a message for the client in err
 * (NGX_BEDROCK_ERROR_LEN bytes): for NGX_BEDROCK_COMPRESS_TOO_LARGE it
 * states the estimated tokens and the cap.  Never keeps a pointer into
 * body, never allocates anything the caller must free after -1.
 */
int ngx_bedrock_compress_body(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, const ngx_bedrock_compress_conf_t *conf,
    ngx_bedrock_compress_result_t *res, char *err);

/* Frees res->body; res may be freed twice. */
void ngx_bedrock_compress_free(ngx_bedrock_compress_result_t *res);


#endif /* _NGX_BEDROCK_COMPRESS_H_INCLUDED_ */
