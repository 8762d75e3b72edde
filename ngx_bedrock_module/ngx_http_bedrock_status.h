/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * bedrock_status: the gateway's counters and the limiter's zones, in
 * three views of the same data: JSON, Prometheus text, and a live HTML
 * dashboard that polls the JSON.
 */


#ifndef _NGX_HTTP_BEDROCK_STATUS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_bedrock_stats.h"


/* bedrock_status; (location): the ngx_command_t is in the module's file */
char *ngx_http_bedrock_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_BEDROCK_STATUS_H_INCLUDED_ */
