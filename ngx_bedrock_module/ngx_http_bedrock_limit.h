/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * TPM and RPM limits in a shared zone: the request side (what the
 * handler calls) and the configuration.  The zone itself is in
 * ngx_http_bedrock_zone.c.
 */


#ifndef _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_bedrock_zone.h"


typedef struct ngx_http_bedrock_ctx_s        ngx_http_bedrock_ctx_t;
typedef struct ngx_http_bedrock_limit_ctx_s  ngx_http_bedrock_limit_ctx_t;


/* embedded in ngx_http_bedrock_loc_conf_t */
typedef struct {
    ngx_array_t                 *limits;     /* ngx_http_bedrock_limit_t */
    ngx_array_t                 *burndowns;  /* bedrock_limit_burndown */
    ngx_uint_t                   status;     /* bedrock_limit_status */
    ngx_uint_t                   log_level;  /* bedrock_limit_log_level */
    ngx_uint_t                   delay_log_level;
} ngx_http_bedrock_limit_conf_t;


/* directives: the ngx_command_t entries are in ngx_http_bedrock_module.c */
char *ngx_http_bedrock_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_bedrock_limit_burndown(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

extern ngx_conf_num_bounds_t  ngx_http_bedrock_limit_status_bounds;
extern ngx_conf_enum_t        ngx_http_bedrock_limit_log_levels[];


/* configuration, called from ngx_http_bedrock_module.c */
ngx_int_t ngx_http_bedrock_limit_add_variables(ngx_conf_t *cf);
void ngx_http_bedrock_limit_create_conf(ngx_http_bedrock_limit_conf_t *conf);
char *ngx_http_bedrock_limit_merge_conf(ngx_conf_t *cf,
    ngx_http_bedrock_limit_conf_t *prev, ngx_http_bedrock_limit_conf_t *conf);

/*
 * Reserves the request's cost (input tokens, corrected by what the zone
 * learnt of the model family, plus max_tokens) and one request in every
 * zone of the location.  Returns
 *   NGX_OK     admitted now;
 *   NGX_AGAIN  admitted, it waits on a timer, after which
 *              ngx_http_bedrock_admitted() is called;
 *   NGX_DONE   refused: the limiter answered (429 with Retry-After, or
 *              413 for a cost that can never fit) and finalized the
 *              request; the caller must not touch it again;
 *   an HTTP status (500) to finalize the request with, nothing sent.
 */
ngx_int_t ngx_http_bedrock_limit_acquire(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);

/*
 * Gives the reservation back: the attempt was throttled or failed.  Safe
 * to call when nothing is reserved; acquire may be called again after.
 * A request that ends holding a reservation gives it back by itself when
 * it was still waiting or had sent nothing; when an attempt had gone to
 * Bedrock and was never settled, the reservation is kept as its cost.
 */
void ngx_http_bedrock_limit_release(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);

/*
 * Replaces the reservation with the real usage: input + output times the
 * model's burndown rate.  Without usage (ctx->usage_known unset) an answer
 * under 400 keeps its reservation as its cost and an error gives it back.
 * Also teaches the zones the ratio of real to estimated input.  Only the
 * first call after an acquire counts.
 */
void ngx_http_bedrock_limit_settle(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, uint64_t input, uint64_t output);

/*
 * Bedrock throttled this key despite the zone: no request under it is
 * admitted, in any worker, for ms; requests waiting in the limiter wait
 * the cooldown out too, within their delay.
 */
void ngx_http_bedrock_limit_cooldown(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_msec_t ms);


#endif /* _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_ */
