/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Credentials toward Bedrock, and signing what is sent with them.
 */


#ifndef _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_bedrock_sigv4.h"


#define NGX_HTTP_BEDROCK_SIGV4   1
#define NGX_HTTP_BEDROCK_BEARER  2


typedef struct {
    ngx_uint_t                   mode;       /* SIGV4 or BEARER */
    ngx_str_t                    access_key_id;
    ngx_str_t                    secret_access_key;
    ngx_str_t                    session_token;
    ngx_str_t                    api_key;
    ngx_str_t                    source;     /* where they came from */
} ngx_http_bedrock_credentials_t;


char *ngx_http_bedrock_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Adds to the attempt's headers what authenticates it toward the target:
 * X-Amz-Date, Authorization and X-Amz-Security-Token for SigV4, over the
 * exact path, headers and body sent; or Authorization: Bearer.
 */
ngx_int_t ngx_http_bedrock_sign(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_bedrock_ctx_t *ctx);

/* Pauses debug logging while an attempt carrying a secret is built. */
void ngx_http_bedrock_quiet(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
void ngx_http_bedrock_quiet_end(ngx_event_t *ev);


#endif /* _NGX_HTTP_BEDROCK_CREDENTIALS_H_INCLUDED_ */
