/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * A first cut behind the final interface: every request is admitted.
 * The zone issue replaces it.
 */


#include "ngx_http_bedrock_module.h"


ngx_int_t
ngx_http_bedrock_limit_add_variables(ngx_conf_t *cf)
{
    return NGX_OK;
}


void
ngx_http_bedrock_limit_create_conf(ngx_http_bedrock_limit_conf_t *conf)
{
    conf->limits = NGX_CONF_UNSET_PTR;
}


char *
ngx_http_bedrock_limit_merge_conf(ngx_conf_t *cf,
    ngx_http_bedrock_limit_conf_t *prev, ngx_http_bedrock_limit_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_bedrock_limit_acquire(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    return NGX_OK;
}


void
ngx_http_bedrock_limit_release(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
}


void
ngx_http_bedrock_limit_settle(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, uint64_t input, uint64_t output)
{
}


void
ngx_http_bedrock_limit_cooldown(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_msec_t ms)
{
}
