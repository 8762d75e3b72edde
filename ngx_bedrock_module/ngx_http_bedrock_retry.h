/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The retry policy: which answers are retried, after how long, toward
 * which target.
 */


#ifndef _NGX_HTTP_BEDROCK_RETRY_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_RETRY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* what went wrong with an attempt, as bedrock_retry_on names it */
#define NGX_HTTP_BEDROCK_RETRY_THROTTLING      0x0001
#define NGX_HTTP_BEDROCK_RETRY_NOT_READY       0x0002
#define NGX_HTTP_BEDROCK_RETRY_UNAVAILABLE     0x0004
#define NGX_HTTP_BEDROCK_RETRY_INTERNAL        0x0008
#define NGX_HTTP_BEDROCK_RETRY_MODEL_TIMEOUT   0x0010
#define NGX_HTTP_BEDROCK_RETRY_MODEL_ERROR     0x0020
#define NGX_HTTP_BEDROCK_RETRY_ERROR           0x0040
#define NGX_HTTP_BEDROCK_RETRY_TIMEOUT         0x0080
#define NGX_HTTP_BEDROCK_RETRY_OTHER           0x8000

#define NGX_HTTP_BEDROCK_JITTER_FULL   0
#define NGX_HTTP_BEDROCK_JITTER_EQUAL  1
#define NGX_HTTP_BEDROCK_JITTER_NONE   2


/* embedded in ngx_http_bedrock_loc_conf_t */
typedef struct {
    ngx_uint_t                   attempts;   /* 1 means no retry */
    ngx_msec_t                   base;
    ngx_msec_t                   max;
    ngx_uint_t                   jitter;
    ngx_msec_t                   deadline;   /* 0: none */
    ngx_uint_t                   on;         /* NGX_HTTP_BEDROCK_RETRY_* */
} ngx_http_bedrock_retry_conf_t;


char *ngx_http_bedrock_retry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_bedrock_retry_on(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_bedrock_retry_create_conf(ngx_http_bedrock_retry_conf_t *conf);
void ngx_http_bedrock_retry_merge_conf(ngx_http_bedrock_retry_conf_t *prev,
    ngx_http_bedrock_retry_conf_t *conf);

/* The class of an attempt's outcome, from its error type and status. */
ngx_uint_t ngx_http_bedrock_retry_class(ngx_uint_t status,
    ngx_str_t *error_type);

/*
 * Decides whether the attempt that just failed is retried: when it is,
 * sets the delay and the target of the next attempt in ctx and returns
 * NGX_OK; else NGX_DECLINED.  Called before anything of the attempt has
 * reached the client.
 */
ngx_int_t ngx_http_bedrock_retry_plan(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);

/* Waits the planned delay on a timer, then starts the next attempt. */
ngx_int_t ngx_http_bedrock_retry_schedule(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
void ngx_http_bedrock_retry_handler(ngx_event_t *ev);


#endif /* _NGX_HTTP_BEDROCK_RETRY_H_INCLUDED_ */
