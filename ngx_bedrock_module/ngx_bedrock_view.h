/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The request view: what a Bedrock Runtime body says, read with cJSON,
 * as the spans of the original bytes that hold it.  The view knows the
 * conversation (messages, their roles, the texts that may be shortened,
 * the tool calls that bind messages together) and nothing else; every
 * other byte of the body is kept as it came.  A changed view is written
 * back by splicing: the body with the dropped messages left out and the
 * cut texts replaced, so an unchanged view gives the body back byte for
 * byte and the same edits always give the same bytes.
 *
 * Pure C, no nginx types.
 */


#ifndef _NGX_BEDROCK_VIEW_H_INCLUDED_
#define _NGX_BEDROCK_VIEW_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_bedrock_model.h"


#define NGX_BEDROCK_VIEW_NONE  ((size_t) -1)


typedef enum {
    NGX_BEDROCK_SHAPE_UNKNOWN = 0,  /* nothing known: cannot be shortened */
    NGX_BEDROCK_SHAPE_CLAUDE,       /* Anthropic Messages on InvokeModel */
    NGX_BEDROCK_SHAPE_CONVERSE,     /* Converse and ConverseStream */
    NGX_BEDROCK_SHAPE_NOVA,         /* Nova "messages-v1" on InvokeModel */
    NGX_BEDROCK_SHAPE_CHAT,         /* role/content chat: Mistral, AI21 ... */
    NGX_BEDROCK_SHAPE_COHERE,       /* Cohere: message and chat_history */
    NGX_BEDROCK_SHAPE_PROMPT,       /* one string: prompt or inputText */
    NGX_BEDROCK_SHAPE_LAST
} ngx_bedrock_shape_e;


typedef enum {
    NGX_BEDROCK_ROLE_OTHER = 0,
    NGX_BEDROCK_ROLE_USER,
    NGX_BEDROCK_ROLE_ASSISTANT,
    NGX_BEDROCK_ROLE_SYSTEM,        /* chat shapes: a system message */
    NGX_BEDROCK_ROLE_TOOL           /* chat shapes: a tool's answer */
} ngx_bedrock_role_e;


/* what a text is, in the order the compressor shortens them */
typedef enum {
    NGX_BEDROCK_TEXT_TOOL = 0,      /* the output of a tool */
    NGX_BEDROCK_TEXT_USER,
    NGX_BEDROCK_TEXT_ASSISTANT,
    NGX_BEDROCK_TEXT_LAST
} ngx_bedrock_text_e;


typedef struct {
    size_t                 start;   /* offset of the first byte */
    size_t                 end;     /* offset past the last byte */
} ngx_bedrock_span_t;


typedef struct {
    ngx_bedrock_span_t     span;    /* the element of the messages array */
    ngx_bedrock_role_e     role;
    size_t                 text;    /* its first text in view->texts */
    size_t                 ntexts;
    uint32_t               images;
    uint32_t               documents;
    /* must stay or go with the message before it (Cohere tool turns) */
    unsigned               bind_prev:1;
    /* set by the caller: left out when serialized */
    unsigned               dropped:1;
} ngx_bedrock_view_message_t;


/*
 * A text that may be cut: the content of a JSON string, or the raw JSON
 * value of a Converse {"json": ...} tool result, which becomes a
 * {"text": ...} block when cut.
 */

typedef struct {
    ngx_bedrock_span_t     span;    /* what a cut replaces */
    ngx_bedrock_span_t     inner;   /* the bytes that are cut */
    size_t                 message; /* or NGX_BEDROCK_VIEW_NONE */
    /* characters of inner, decoded: see ngx_bedrock_view_text_chars() */
    size_t                 chars;
    ngx_bedrock_text_e     kind;
    unsigned               json:1;

    /* set by ngx_bedrock_view_cut(): inner[0, head) and the last tail
     * bytes are kept, the cut_chars characters between them are not */
    unsigned               cut:1;
    size_t                 head;
    size_t                 tail;
    size_t                 cut_chars;
} ngx_bedrock_view_text_t;


/* a tool call or its result, which must stay in the same request */
typedef struct {
    const char            *id;      /* decoded, NUL-terminated */
    size_t                 message;
    unsigned               use:1;   /* 1: the call, 0: its result */
} ngx_bedrock_view_ref_t;


typedef struct {
    const unsigned char          *body;
    size_t                        len;

    ngx_bedrock_shape_e           shape;

    ngx_bedrock_view_message_t   *messages;
    size_t                        nmessages;
    ngx_bedrock_view_text_t      *texts;
    size_t                        ntexts;
    ngx_bedrock_view_ref_t       *refs;
    size_t                        nrefs;

    uint64_t                      max_tokens;
    unsigned                      max_tokens_given:1;
    unsigned                      system:1;     /* a system prompt */

    /* private: the cJSON tree the strings above point into */
    void                         *tree;
    size_t                        nmessages_alloc;
    size_t                        ntexts_alloc;
    size_t                        nrefs_alloc;
} ngx_bedrock_view_t;


/*
 * Parses a body into a view by the shape that the operation and the
 * model's family use (m may be NULL: the body alone decides).  The view
 * points into body, which must outlive it.  A body whose shape is not
 * known is not an error: the view's shape is NGX_BEDROCK_SHAPE_UNKNOWN.
 * Returns 0, or -1 with a message for the client in err
 * (NGX_BEDROCK_ERROR_LEN bytes) when the body is not a JSON object or
 * memory ran out.  A view that was parsed, even after -1, is released
 * with ngx_bedrock_view_free().
 */
int ngx_bedrock_view_parse(ngx_bedrock_view_t *v, const unsigned char *body,
    size_t len, const ngx_bedrock_model_t *m, char *err);

void ngx_bedrock_view_free(ngx_bedrock_view_t *v);

/*
 * The byte offsets of a cut that keeps about head_want bytes at the start
 * of a text and about tail_want at its end: never inside a UTF-8
 * character, a JSON escape or a surrogate pair, and when a space or a
 * line break is near, at it.  Returns 0, or -1 when head and tail would
 * leave nothing to cut.
 */
int ngx_bedrock_view_cut_points(const ngx_bedrock_view_t *v, size_t text,
    size_t head_want, size_t tail_want, size_t *head, size_t *tail);

/* Marks a text cut at points from ngx_bedrock_view_cut_points(). */
void ngx_bedrock_view_cut(ngx_bedrock_view_t *v, size_t text, size_t head,
    size_t tail);

void ngx_bedrock_view_uncut(ngx_bedrock_view_t *v, size_t text);

/* Characters of the decoded text in inner[from, to) of a text. */
size_t ngx_bedrock_view_chars(const ngx_bedrock_view_t *v, size_t text,
    size_t from, size_t to);

/* Characters of a whole text, counted once, when first asked for. */
size_t ngx_bedrock_view_text_chars(ngx_bedrock_view_t *v, size_t text);

/*
 * Writes the marker that stands for cut characters, as it is written
 * inside a JSON string ("\\n[... 12,345 characters cut by the gateway
 * ...]\\n", a line of its own once decoded), into buf of at least
 * NGX_BEDROCK_VIEW_MARKER_LEN bytes; returns its length.
 */
#define NGX_BEDROCK_VIEW_MARKER_LEN  96
size_t ngx_bedrock_view_marker(unsigned char *buf, size_t chars);

/*
 * Writes the body of the view with its edits into a buffer from malloc()
 * that the caller frees.  Returns 0, or -1 when memory ran out.
 */
int ngx_bedrock_view_serialize(const ngx_bedrock_view_t *v,
    unsigned char **out, size_t *len);

const char *ngx_bedrock_shape_name(ngx_bedrock_shape_e shape);


#endif /* _NGX_BEDROCK_VIEW_H_INCLUDED_ */
