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


typedef struct ngx_http_bedrock_ctx_s        ngx_http_bedrock_ctx_t;
typedef struct ngx_http_bedrock_limit_ctx_s  ngx_http_bedrock_limit_ctx_t;


/* embedded in ngx_http_bedrock_loc_conf_t */
typedef struct {
    ngx_array_t                 *limits;     /* bedrock_limit zones */
} ngx_http_bedrock_limit_conf_t;


/* configuration, called from ngx_http_bedrock_module.c */
ngx_int_t ngx_http_bedrock_limit_add_variables(ngx_conf_t *cf);
void ngx_http_bedrock_limit_create_conf(ngx_http_bedrock_limit_conf_t *conf);
char *ngx_http_bedrock_limit_merge_conf(ngx_conf_t *cf,
    ngx_http_bedrock_limit_conf_t *prev, ngx_http_bedrock_limit_conf_t *conf);

/*
 * Reserves the request's cost in every zone of the location.  Returns
 * NGX_OK when admitted now; NGX_AGAIN when it waits on a timer, after
 * which ngx_http_bedrock_admitted() is called; or an HTTP status when it
 * was answered (429, 413...) and the request is to be finalized with it.
 */
ngx_int_t ngx_http_bedrock_limit_acquire(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);

/* Gives the reservation back: the attempt was throttled or failed. */
void ngx_http_bedrock_limit_release(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);

/* Replaces the reservation with the real usage. */
void ngx_http_bedrock_limit_settle(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, uint64_t input, uint64_t output);

/* Bedrock throttled this key despite the zone: others wait for ms. */
void ngx_http_bedrock_limit_cooldown(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_msec_t ms);


#endif /* _NGX_HTTP_BEDROCK_LIMIT_H_INCLUDED_ */
