/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The retry policy.  What is retried is decided by Bedrock's error type
 * (x-amzn-ErrorType up to its first ':'), not by the status alone: a 429
 * is a ThrottlingException or a ModelNotReadyException, and only the
 * types in bedrock_retry_on are tried again.  The delay grows as
 * min(max, base * 2^n) with jitter; a Retry-After from upstream is
 * honoured.  With several targets, a throttled or unreachable one is left
 * for the next at once; the backoff applies once every target was tried.
 */


#include "ngx_http_bedrock_module.h"


typedef struct {
    ngx_str_t                    name;
    ngx_uint_t                   mask;
} ngx_http_bedrock_retry_type_t;


static ngx_msec_t ngx_http_bedrock_retry_delay(
    ngx_http_bedrock_retry_conf_t *rcf, ngx_uint_t n);


/* the names bedrock_retry_on takes, and what Bedrock calls them */

static ngx_http_bedrock_retry_type_t  ngx_http_bedrock_retry_types[] = {
    { ngx_string("ThrottlingException"), NGX_HTTP_BEDROCK_RETRY_THROTTLING },
    { ngx_string("ModelNotReadyException"),
      NGX_HTTP_BEDROCK_RETRY_NOT_READY },
    { ngx_string("ServiceUnavailableException"),
      NGX_HTTP_BEDROCK_RETRY_UNAVAILABLE },
    { ngx_string("InternalServerException"),
      NGX_HTTP_BEDROCK_RETRY_INTERNAL },
    { ngx_string("ModelTimeoutException"),
      NGX_HTTP_BEDROCK_RETRY_MODEL_TIMEOUT },
    { ngx_string("ModelErrorException"),
      NGX_HTTP_BEDROCK_RETRY_MODEL_ERROR },
    { ngx_string("error"), NGX_HTTP_BEDROCK_RETRY_ERROR },
    { ngx_string("timeout"), NGX_HTTP_BEDROCK_RETRY_TIMEOUT },
    { ngx_null_string, 0 }
};


#define NGX_HTTP_BEDROCK_RETRY_DEFAULT                                        \
    (NGX_HTTP_BEDROCK_RETRY_THROTTLING|NGX_HTTP_BEDROCK_RETRY_NOT_READY       \
     |NGX_HTTP_BEDROCK_RETRY_UNAVAILABLE|NGX_HTTP_BEDROCK_RETRY_INTERNAL      \
     |NGX_HTTP_BEDROCK_RETRY_MODEL_TIMEOUT|NGX_HTTP_BEDROCK_RETRY_ERROR       \
     |NGX_HTTP_BEDROCK_RETRY_TIMEOUT)


/*
 * bedrock_retry attempts=N base=TIME max=TIME [jitter=full|equal|none]
 *               [deadline=TIME];
 * bedrock_retry off;
 */

char *
ngx_http_bedrock_retry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                      *value, s;
    ngx_int_t                       n;
    ngx_msec_t                      ms, *field;
    ngx_uint_t                      i;
    ngx_http_bedrock_retry_conf_t  *rcf;

    rcf = &blcf->retry;

    if (rcf->attempts != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        rcf->attempts = 1;
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "attempts=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n < 1 || n > 100) {
                goto invalid;
            }

            rcf->attempts = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "jitter=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (ngx_strcmp(s.data, "full") == 0) {
                rcf->jitter = NGX_HTTP_BEDROCK_JITTER_FULL;

            } else if (ngx_strcmp(s.data, "equal") == 0) {
                rcf->jitter = NGX_HTTP_BEDROCK_JITTER_EQUAL;

            } else if (ngx_strcmp(s.data, "none") == 0) {
                rcf->jitter = NGX_HTTP_BEDROCK_JITTER_NONE;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "base=", 5) == 0) {
            field = &rcf->base;
            s.data = value[i].data + 5;

        } else if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            field = &rcf->max;
            s.data = value[i].data + 4;

        } else if (ngx_strncmp(value[i].data, "deadline=", 9) == 0) {
            field = &rcf->deadline;
            s.data = value[i].data + 9;

        } else {
            goto invalid;
        }

        s.len = value[i].data + value[i].len - s.data;

        ms = ngx_parse_time(&s, 0);
        if (ms == (ngx_msec_t) NGX_ERROR) {
            goto invalid;
        }

        *field = ms;
    }

    if (rcf->attempts == NGX_CONF_UNSET_UINT) {
        rcf->attempts = 10;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* bedrock_retry_on TYPE ...; */

char *
ngx_http_bedrock_retry_on(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_bedrock_retry_type_t  *t;

    if (blcf->retry.on != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    blcf->retry.on = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (t = ngx_http_bedrock_retry_types; t->name.len; t++) {
            if (t->name.len == value[i].len
                && ngx_strncmp(t->name.data, value[i].data, t->name.len) == 0)
            {
                break;
            }
        }

        if (t->name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\" directive",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        blcf->retry.on |= t->mask;
    }

    return NGX_CONF_OK;
}


void
ngx_http_bedrock_retry_create_conf(ngx_http_bedrock_retry_conf_t *conf)
{
    conf->attempts = NGX_CONF_UNSET_UINT;
    conf->base = NGX_CONF_UNSET_MSEC;
    conf->max = NGX_CONF_UNSET_MSEC;
    conf->jitter = NGX_CONF_UNSET_UINT;
    conf->deadline = NGX_CONF_UNSET_MSEC;
    conf->on = NGX_CONF_UNSET_UINT;
}


void
ngx_http_bedrock_retry_merge_conf(ngx_http_bedrock_retry_conf_t *prev,
    ngx_http_bedrock_retry_conf_t *conf)
{
    ngx_conf_merge_uint_value(conf->attempts, prev->attempts, 10);
    ngx_conf_merge_msec_value(conf->base, prev->base, 2000);
    ngx_conf_merge_msec_value(conf->max, prev->max, 60000);
    ngx_conf_merge_uint_value(conf->jitter, prev->jitter,
                              NGX_HTTP_BEDROCK_JITTER_FULL);
    ngx_conf_merge_msec_value(conf->deadline, prev->deadline, 0);
    ngx_conf_merge_uint_value(conf->on, prev->on,
                              NGX_HTTP_BEDROCK_RETRY_DEFAULT);
}


ngx_uint_t
ngx_http_bedrock_retry_class(ngx_uint_t status, ngx_str_t *error_type)
{
    ngx_http_bedrock_retry_type_t  *t;

    if (error_type->len) {
        for (t = ngx_http_bedrock_retry_types; t->name.len; t++) {
            if (t->name.len == error_type->len
                && ngx_strncmp(t->name.data, error_type->data, t->name.len)
                   == 0)
            {
                return t->mask;
            }
        }

        return NGX_HTTP_BEDROCK_RETRY_OTHER;
    }

    /* no error type: the proxy's own failures, or a proxy in between */

    switch (status) {
    case NGX_HTTP_BAD_GATEWAY:
        return NGX_HTTP_BEDROCK_RETRY_ERROR;
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return NGX_HTTP_BEDROCK_RETRY_TIMEOUT;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return NGX_HTTP_BEDROCK_RETRY_UNAVAILABLE;
    case NGX_HTTP_TOO_MANY_REQUESTS:
        return NGX_HTTP_BEDROCK_RETRY_THROTTLING;
    default:
        return NGX_HTTP_BEDROCK_RETRY_OTHER;
    }
}


ngx_int_t
ngx_http_bedrock_retry_plan(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_msec_t                      delay, elapsed;
    ngx_uint_t                      failure, ntargets;
    ngx_http_bedrock_loc_conf_t    *blcf;
    ngx_http_bedrock_retry_conf_t  *rcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    rcf = &blcf->retry;

    failure = ngx_http_bedrock_retry_class(ctx->status, &ctx->error_type);
    ctx->failure = failure;

    if (!(failure & rcf->on) || ctx->attempts >= rcf->attempts) {
        return NGX_DECLINED;
    }

    /*
     * A throttled or unreachable target is left for the next one at once;
     * once all were tried in this round, the backoff applies.
     */

    ntargets = blcf->targets->nelts;
    ctx->next_target = ctx->target;
    delay = 0;

    if (failure & (NGX_HTTP_BEDROCK_RETRY_THROTTLING
                   |NGX_HTTP_BEDROCK_RETRY_UNAVAILABLE
                   |NGX_HTTP_BEDROCK_RETRY_ERROR
                   |NGX_HTTP_BEDROCK_RETRY_TIMEOUT))
    {
        ctx->next_target = (ctx->target + 1) % ntargets;
    }

    if (ctx->next_target == ctx->target || ++ctx->round >= ntargets) {
        ctx->round = 0;
        delay = ngx_http_bedrock_retry_delay(rcf, ctx->backoffs++);

        if (ctx->retry_after > delay) {
            delay = ngx_min(ctx->retry_after, rcf->max);
        }
    }

    if (rcf->deadline) {
        elapsed = ngx_current_msec - ctx->start;

        if (elapsed + delay >= rcf->deadline) {
            return NGX_DECLINED;
        }
    }

    ctx->retry_delay = delay;

    return NGX_OK;
}


static ngx_msec_t
ngx_http_bedrock_retry_delay(ngx_http_bedrock_retry_conf_t *rcf,
    ngx_uint_t n)
{
    ngx_msec_t  delay;

    delay = rcf->base;

    while (n-- && delay < rcf->max) {
        delay *= 2;
    }

    delay = ngx_min(delay, rcf->max);

    switch (rcf->jitter) {

    case NGX_HTTP_BEDROCK_JITTER_FULL:
        return (ngx_msec_t) ((uint64_t) delay * (ngx_random() % 1001) / 1000);

    case NGX_HTTP_BEDROCK_JITTER_EQUAL:
        return delay / 2
               + (ngx_msec_t) ((uint64_t) (delay / 2) * (ngx_random() % 1001)
                               / 1000);

    default: /* NGX_HTTP_BEDROCK_JITTER_NONE */
        return delay;
    }
}


ngx_int_t
ngx_http_bedrock_retry_schedule(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    if (ctx->next_target != ctx->target) {
        ctx->failovers++;
    }

    ctx->target = ctx->next_target;
    ctx->retry_wait += ctx->retry_delay;

    /* the client may go away while it waits: that ends the request */
    r->read_event_handler = ngx_http_test_reading;

    ngx_add_timer(&ctx->retry_event, ctx->retry_delay);

    return NGX_OK;
}


void
ngx_http_bedrock_retry_handler(ngx_event_t *ev)
{
    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_bedrock_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;

    rc = ngx_http_bedrock_limit_acquire(r, ctx);

    if (rc == NGX_OK) {
        if (ngx_http_bedrock_attempt(r, ctx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

    } else if (rc != NGX_AGAIN && rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}
