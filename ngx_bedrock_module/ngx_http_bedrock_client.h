/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Clients of the gateway: gateway-issued keys, checked as AWS checks them.
 */


#ifndef _NGX_HTTP_BEDROCK_CLIENT_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CLIENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_bedrock_sigv4.h"


typedef struct {
    ngx_str_t                    id;         /* access key id */
    ngx_str_t                    secret;
    ngx_str_t                    name;       /* $bedrock_client */
    /* per worker: the signing key of the day, for this client */
    ngx_bedrock_sigv4_key_cache_t  key_cache;
} ngx_http_bedrock_client_key_t;


char *ngx_http_bedrock_client_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Checks the SigV4 signature an AWS SDK made for the gateway's host over
 * the request as received.  Returns NGX_OK (ctx->client is set), or
 * NGX_DONE: a 403 in AWS's own shape was sent and the request finalized.
 */
ngx_int_t ngx_http_bedrock_client_verify(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);

/* The client's name for log lines, "-" when unknown. */
ngx_str_t *ngx_http_bedrock_client_name(ngx_http_bedrock_ctx_t *ctx);


#endif /* _NGX_HTTP_BEDROCK_CLIENT_H_INCLUDED_ */
