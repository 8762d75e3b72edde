/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Real usage, read from what Bedrock answers: the JSON body of InvokeModel
 * and Converse, and the payloads of the stream events (ConverseStream's
 * metadata, InvokeModelWithResponseStream's chunks), plus the message of
 * an error or exception.
 *
 * All of it is read by one small JSON walker, not a tree: a gateway may
 * hold only the first part of a large answer, and a walker that keeps the
 * path to the value it stands on finds what that part has (Titan puts its
 * input count first) where a tree parser would refuse the whole.  It
 * allocates nothing, so a chunk's base64 is decoded as it is walked, and
 * it never reads past len.  A value counts only when it is complete:
 * a number cut by the end of the input is not taken.  Only the documented
 * places count (usage at the top, Claude's message.usage, the invocation
 * metrics), so a "usage" key inside a tool's input is not mistaken for it.
 *
 * Pure C, no nginx types.
 */


#ifndef _NGX_BEDROCK_USAGE_H_INCLUDED_
#define _NGX_BEDROCK_USAGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* ngx_bedrock_usage_t.found: which counts were seen */
#define NGX_BEDROCK_USAGE_INPUT        0x01
#define NGX_BEDROCK_USAGE_OUTPUT       0x02
#define NGX_BEDROCK_USAGE_CACHE_READ   0x04
#define NGX_BEDROCK_USAGE_CACHE_WRITE  0x08

/* ngx_bedrock_usage_t.sources: in which shape */
#define NGX_BEDROCK_USAGE_CONVERSE     0x01  /* usage.inputTokens: Converse,
                                                its metadata event, Nova */
#define NGX_BEDROCK_USAGE_ANTHROPIC    0x02  /* usage.input_tokens: Claude
                                                body, message_start/delta */
#define NGX_BEDROCK_USAGE_TITAN        0x04  /* inputTextTokenCount,
                                                results[].tokenCount */
#define NGX_BEDROCK_USAGE_LLAMA        0x08  /* prompt_token_count ... */
#define NGX_BEDROCK_USAGE_CHAT         0x10  /* usage.prompt_tokens: chat
                                                completions shape */
#define NGX_BEDROCK_USAGE_METRICS      0x20  /* the invocation metrics
                                                of a stream's last chunk */


typedef struct {
    uint64_t    input_tokens;
    uint64_t    output_tokens;
    uint64_t    cache_read_input_tokens;
    uint64_t    cache_write_input_tokens;
    unsigned    found;          /* NGX_BEDROCK_USAGE_INPUT ... */
    unsigned    sources;        /* NGX_BEDROCK_USAGE_CONVERSE ... */
} ngx_bedrock_usage_t;


/*
 * Each function below reads one answer or one event and updates *u with
 * what it finds: a count found replaces the one before and sets its bit
 * in found, a count not found is left alone.  So one struct, zeroed once,
 * follows a whole stream: Bedrock's counts are cumulative and the
 * invocation metrics, which win over other counts in the same payload,
 * come last.  Each returns 0 when it found a count, -1 when it found
 * none (absent, truncated before it, or not JSON).
 */

/*
 * A non-stream answer, whole or its first len bytes: Converse, and
 * InvokeModel of Claude, Nova, Titan, Llama and the chat completions
 * shape (Mistral, AI21, OpenAI models).  Also a ConverseStream metadata
 * event's payload, which has Converse's usage.
 */
int ngx_bedrock_usage_body(const unsigned char *json, size_t len,
    ngx_bedrock_usage_t *u);

/*
 * An InvokeModelWithResponseStream chunk event's payload,
 * {"bytes":"<base64>"}: the model's own JSON inside is read as a body,
 * plus Claude's message_start and message_delta events and the
 * amazon-bedrock-invocationMetrics of the last chunk.
 */
int ngx_bedrock_usage_chunk(const unsigned char *json, size_t len,
    ngx_bedrock_usage_t *u);

/* By the event's :event-type: "chunk" or "metadata"; else -1. */
int ngx_bedrock_usage_event(const unsigned char *event_type,
    size_t event_type_len, const unsigned char *payload, size_t len,
    ngx_bedrock_usage_t *u);

/*
 * The "message" (or "Message") of an error body or an exception event,
 * {"message":"..."}, unescaped into buf as a C string fit for a log line:
 * control characters become spaces, and a message longer than size - 1
 * bytes is cut on a UTF-8 character boundary.  Returns its length, or -1
 * when there is none (or size is 0).
 */
int ngx_bedrock_usage_message(const unsigned char *json, size_t len,
    char *buf, size_t size);


#endif /* _NGX_BEDROCK_USAGE_H_INCLUDED_ */
