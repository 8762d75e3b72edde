/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 */


#ifndef _NGX_HTTP_BEDROCK_MODULE_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_compress.h"
#include "ngx_bedrock_eventstream.h"
#include "ngx_bedrock_usage.h"
#include "ngx_http_bedrock_limit.h"
#include "ngx_http_bedrock_retry.h"
#include "ngx_http_bedrock_credentials.h"
#include "ngx_http_bedrock_client.h"


/* Bedrock's error types, as x-amzn-ErrorType names them */
#define NGX_HTTP_BEDROCK_VALIDATION   "ValidationException"
#define NGX_HTTP_BEDROCK_NOT_FOUND    "ResourceNotFoundException"
#define NGX_HTTP_BEDROCK_THROTTLING   "ThrottlingException"
#define NGX_HTTP_BEDROCK_UNAVAILABLE  "ServiceUnavailableException"
#define NGX_HTTP_BEDROCK_INTERNAL     "InternalServerException"
#define NGX_HTTP_BEDROCK_TIMEOUT      "ModelTimeoutException"


typedef struct {
    ngx_str_t                    url;        /* "https://host[:port]" */
    ngx_str_t                    host;       /* Host header, as sent */
    ngx_str_t                    region;
    /* per worker: the signing key of the day for this region */
    ngx_bedrock_sigv4_key_cache_t  key_cache;
} ngx_http_bedrock_target_t;


typedef struct {
    ngx_array_t                 *targets;    /* ngx_http_bedrock_target_t */
    ngx_str_t                    location;   /* bedrock_upstream_location */
    ngx_http_bedrock_credentials_t  *credentials;
    ngx_array_t                 *client_keys;  /* client_key_t */

    /* estimate and compress: ngx_http_bedrock_handler.c */
    ngx_int_t                    max_input_tokens;   /* 0: no cap */
    ngx_int_t                    warn_tokens;        /* 0: never */
    ngx_flag_t                   compress;
    ngx_int_t                    compress_block;     /* tokens */
    ngx_int_t                    compress_keep;      /* latest messages */
    ngx_http_bedrock_limit_conf_t  limit;
    ngx_http_bedrock_retry_conf_t  retry;
} ngx_http_bedrock_loc_conf_t;


typedef struct {
    ngx_uint_t                   filters;    /* bedrock_pass is used */
} ngx_http_bedrock_main_conf_t;


struct ngx_http_bedrock_ctx_s {
    ngx_str_t                    body;       /* the body sent to Bedrock */
    ngx_str_t                    path;       /* raw path, as received */
    ngx_str_t                    args;       /* raw query string */
    u_char                      *model_id;   /* decoded modelId buffer */
    ngx_bedrock_model_t          model;
    ngx_bedrock_estimate_t       estimate;
    ngx_str_t                    client;     /* $bedrock_client */
    uint64_t                     compressed_from;    /* input tokens */
    uint64_t                     compressed_to;

    ngx_msec_t                   start;      /* of the request */
    ngx_http_request_t          *sr;         /* the attempt under way */
    ngx_str_t                    upstream;   /* $bedrock_upstream */
    ngx_uint_t                   attempts;
    ngx_uint_t                   target;     /* index in targets */
    ngx_uint_t                   status;     /* of the last attempt */
    ngx_str_t                    error_type; /* of the last attempt */
    ngx_uint_t                   failure;    /* its retry class */
    ngx_str_t                    errors;     /* $bedrock_upstream_errors */

    /* signing: ngx_http_bedrock_credentials.c */
    char                         payload_hash[NGX_BEDROCK_SIGV4_HEX_LEN + 1];
    ngx_event_t                  quiet_event;
    ngx_log_t                   *quiet_log;
    ngx_uint_t                   quiet_level;

    /* real usage, as Bedrock reports it: ngx_http_bedrock_upstream.c */
    uint64_t                     input_tokens;
    uint64_t                     output_tokens;
    ngx_bedrock_usage_t          usage;      /* from the body or events */
    ngx_bedrock_es_t            *es;         /* a stream's decoder */
    u_char                      *answer;     /* a JSON answer's first bytes */
    size_t                       answer_len;
    size_t                       answer_size;

    /* retries: ngx_http_bedrock_retry.c */
    ngx_event_t                  retry_event;
    ngx_msec_t                   retry_after;    /* upstream's Retry-After */
    ngx_msec_t                   retry_delay;    /* before the next one */
    ngx_msec_t                   retry_wait;     /* in all */
    ngx_uint_t                   next_target;
    ngx_uint_t                   round;          /* targets tried */
    ngx_uint_t                   backoffs;
    ngx_uint_t                   failovers;      /* moves to another target */

    ngx_http_bedrock_limit_ctx_t  *limit;    /* owned by the limiter */

    unsigned                     usage_known:1;
    unsigned                     stream:1;   /* an eventstream answer */
    unsigned                     stream_broken:1;  /* undecodable */
    unsigned                     secret_headers:1;
    unsigned                     relayed:1;  /* client got the headers */
    unsigned                     complete:1; /* ... and the whole answer */
    unsigned                     swallow:1;  /* this attempt is dropped */
    unsigned                     done:1;     /* this attempt is over */
};


/* for the variables of every part */
void ngx_http_bedrock_variable_set(ngx_http_variable_value_t *v,
    u_char *data, size_t len);
ngx_int_t ngx_http_bedrock_variable_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uint64_t n);

/* the first request header of that name (any case), or NULL */
ngx_table_elt_t *ngx_http_bedrock_header_in(ngx_http_request_t *r,
    const char *name);

ngx_int_t ngx_http_bedrock_handler(ngx_http_request_t *r);
void ngx_http_bedrock_admitted(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
ngx_int_t ngx_http_bedrock_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, const char *fmt, ...);
ngx_int_t ngx_http_bedrock_reject(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, const char *fmt, ...);

ngx_int_t ngx_http_bedrock_attempt(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
ngx_int_t ngx_http_bedrock_filter_init(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_bedrock_module;


#endif /* _NGX_HTTP_BEDROCK_MODULE_H_INCLUDED_ */
