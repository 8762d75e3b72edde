/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * TPM and RPM limits, the request side: what a request reserves, how it
 * waits, and what it finally costs.
 *
 * A request reserves, in every zone of its location, its cost (input
 * tokens + max_tokens, as Bedrock reserves it) and one request.  When a
 * bucket cannot cover it, it still takes the reservation, into debt, and
 * waits on a timer exactly as long as the debt takes to be repaid: later
 * requests find a deeper debt and wait longer, so they are served in the
 * order they came.  A wait longer than the location's delay is refused
 * with 429, and nothing is reserved.  When the answer is known the
 * reservation is settled to input + output x burndown: a refund, or an
 * extra charge.  Whatever is still reserved when the request ends (the
 * client left, the attempt failed) is given back by a cleanup.
 */


#include "ngx_http_bedrock_module.h"


#define NGX_HTTP_BEDROCK_LIMIT_PASSED    1
#define NGX_HTTP_BEDROCK_LIMIT_DELAYED   2
#define NGX_HTTP_BEDROCK_LIMIT_REJECTED  3

/* the longest wait when bedrock_limit gives neither delay= nor nodelay */
#define NGX_HTTP_BEDROCK_LIMIT_DELAY     10000

/* how often a waiting request looks whether it is covered sooner */
#define NGX_HTTP_BEDROCK_LIMIT_POLL      200


typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_msec_t                   delay;      /* the longest wait */
} ngx_http_bedrock_limit_t;


typedef struct {
    ngx_str_t                    pattern;    /* '*' matches any run */
    ngx_uint_t                   rate;       /* thousandths */
} ngx_http_bedrock_burndown_t;


/* a request's standing in one zone */
typedef struct {
    ngx_shm_zone_t              *shm_zone;
    ngx_str_t                    key;
    uint32_t                     hash;
    ngx_msec_t                   delay;
    ngx_msec_t                   wait;       /* of its reservation */
    ngx_http_bedrock_zone_ticket_t  ticket;
    unsigned                     active:1;   /* the zone limits it */
    unsigned                     reserved:1;
    unsigned                     overdue:1;  /* not covered in its delay */
} ngx_http_bedrock_limit_hold_t;


struct ngx_http_bedrock_limit_ctx_s {
    ngx_http_request_t          *request;
    ngx_http_bedrock_limit_hold_t  *holds;
    ngx_uint_t                   nholds;

    ngx_event_t                  event;      /* the end of a wait */
    ngx_msec_t                   wait_start; /* of this timer */
    ngx_msec_t                   reserved_at;
    ngx_http_event_handler_pt    write_event_handler;

    uint64_t                     cost;       /* held now, tokens */
    uint64_t                     reserved;   /* $bedrock_cost_reserved */
    uint64_t                     settled;    /* $bedrock_cost_settled */
    ngx_msec_t                   waited;     /* $bedrock_wait_ms */
    ngx_uint_t                   status;     /* $bedrock_limit_status */

    unsigned                     holding:1;
    unsigned                     waiting:1;
    unsigned                     ended:1;    /* settled or given back */
};


static ngx_http_bedrock_limit_ctx_t *ngx_http_bedrock_limit_ctx(
    ngx_http_request_t *r, ngx_http_bedrock_limit_conf_t *lcf);
static ngx_int_t ngx_http_bedrock_limit_reject(ngx_http_request_t *r,
    ngx_http_bedrock_limit_ctx_t *lctx, ngx_msec_t retry, ngx_uint_t rpm);
static ngx_int_t ngx_http_bedrock_limit_wait(ngx_http_request_t *r,
    ngx_http_bedrock_limit_ctx_t *lctx, ngx_msec_t wait);
static void ngx_http_bedrock_limit_wait_handler(ngx_event_t *ev);
static void ngx_http_bedrock_limit_give_back(
    ngx_http_bedrock_limit_ctx_t *lctx, ngx_uint_t op);
static void ngx_http_bedrock_limit_cleanup(void *data);
static ngx_uint_t ngx_http_bedrock_limit_burndown_rate(
    ngx_http_bedrock_limit_conf_t *lcf, ngx_http_bedrock_ctx_t *ctx);
static ngx_uint_t ngx_http_bedrock_limit_match(u_char *p, u_char *pe,
    u_char *s, u_char *se);
static void ngx_http_bedrock_limit_set_status(
    ngx_http_bedrock_limit_ctx_t *lctx, ngx_uint_t status);

static ngx_int_t ngx_http_bedrock_limit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_limit_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


ngx_conf_num_bounds_t  ngx_http_bedrock_limit_status_bounds = {
    ngx_conf_check_num_bounds, 400, 599
};


ngx_conf_enum_t  ngx_http_bedrock_limit_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_str_t  ngx_http_bedrock_limit_statuses[] = {
    ngx_string("PASSED"),
    ngx_string("DELAYED"),
    ngx_string("REJECTED")
};


#define NGX_HTTP_BEDROCK_LIMIT_VAR_WAIT      0
#define NGX_HTTP_BEDROCK_LIMIT_VAR_RESERVED  1
#define NGX_HTTP_BEDROCK_LIMIT_VAR_SETTLED   2


static ngx_http_variable_t  ngx_http_bedrock_limit_vars[] = {

    { ngx_string("bedrock_limit_status"), NULL,
      ngx_http_bedrock_limit_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_wait_ms"), NULL,
      ngx_http_bedrock_limit_number_variable,
      NGX_HTTP_BEDROCK_LIMIT_VAR_WAIT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_cost_reserved"), NULL,
      ngx_http_bedrock_limit_number_variable,
      NGX_HTTP_BEDROCK_LIMIT_VAR_RESERVED,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_cost_settled"), NULL,
      ngx_http_bedrock_limit_number_variable,
      NGX_HTTP_BEDROCK_LIMIT_VAR_SETTLED,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* bedrock_limit zone=NAME [delay=TIME | nodelay]; */

char *
ngx_http_bedrock_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                 *value, s;
    ngx_uint_t                 i, delay_set;
    ngx_msec_t                 delay;
    ngx_shm_zone_t            *shm_zone;
    ngx_http_bedrock_limit_t  *limit, *limits;

    value = cf->args->elts;

    shm_zone = NULL;
    delay = NGX_HTTP_BEDROCK_LIMIT_DELAY;
    delay_set = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            if (s.len == 0) {
                goto invalid;
            }

            shm_zone = ngx_http_bedrock_zone_get(cf, &s);
            if (shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "delay=", 6) == 0 && !delay_set) {

            s.len = value[i].len - 6;
            s.data = value[i].data + 6;

            delay = ngx_parse_time(&s, 0);
            if (delay == (ngx_msec_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid delay value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            delay_set = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "nodelay") == 0 && !delay_set) {
            delay = 0;
            delay_set = 1;
            continue;
        }

        goto invalid;
    }

    if (shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (blcf->limit.limits == NGX_CONF_UNSET_PTR) {
        blcf->limit.limits = ngx_array_create(cf->pool, 2,
                                            sizeof(ngx_http_bedrock_limit_t));
        if (blcf->limit.limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = blcf->limit.limits->elts;

    for (i = 0; i < blcf->limit.limits->nelts; i++) {
        if (shm_zone == limits[i].shm_zone) {
            return "is duplicate";
        }
    }

    limit = ngx_array_push(blcf->limit.limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->shm_zone = shm_zone;
    limit->delay = delay;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* bedrock_limit_burndown MODEL_PATTERN RATE; */

char *
ngx_http_bedrock_limit_burndown(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_int_t                     rate;
    ngx_str_t                    *value;
    ngx_http_bedrock_burndown_t  *b;

    value = cf->args->elts;

    rate = ngx_atofp(value[2].data, value[2].len, 3);

    if (rate <= 0 || rate > 100000 || value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive",
                           value[1].len ? &value[2] : &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (blcf->limit.burndowns == NGX_CONF_UNSET_PTR) {
        blcf->limit.burndowns = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_bedrock_burndown_t));
        if (blcf->limit.burndowns == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    b = ngx_array_push(blcf->limit.burndowns);
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    b->pattern = value[1];
    b->rate = rate;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_bedrock_limit_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_bedrock_limit_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


void
ngx_http_bedrock_limit_create_conf(ngx_http_bedrock_limit_conf_t *conf)
{
    conf->limits = NGX_CONF_UNSET_PTR;
    conf->burndowns = NGX_CONF_UNSET_PTR;
    conf->status = NGX_CONF_UNSET_UINT;
    conf->log_level = NGX_CONF_UNSET_UINT;
}


char *
ngx_http_bedrock_limit_merge_conf(ngx_conf_t *cf,
    ngx_http_bedrock_limit_conf_t *prev, ngx_http_bedrock_limit_conf_t *conf)
{
    ngx_uint_t                 i;
    ngx_http_bedrock_limit_t  *limits;

    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_ptr_value(conf->burndowns, prev->burndowns, NULL);
    ngx_conf_merge_uint_value(conf->status, prev->status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);

    conf->delay_log_level = (conf->log_level == NGX_LOG_INFO)
                            ? NGX_LOG_INFO : conf->log_level + 1;

    if (conf->limits == NULL) {
        return NGX_CONF_OK;
    }

    limits = conf->limits->elts;

    for (i = 0; i < conf->limits->nelts; i++) {
        if (ngx_http_bedrock_zone_declared(limits[i].shm_zone) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "bedrock_limit uses zone \"%V\", which no "
                               "bedrock_limit_zone declares",
                               &limits[i].shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_bedrock_limit_acquire(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    uint64_t                        input, ratio, tpm, cost;
    ngx_int_t                       rc;
    ngx_uint_t                      i, rpm, refused, first;
    ngx_msec_t                      wait, retry;
    ngx_http_bedrock_limit_t       *limits;
    ngx_http_bedrock_loc_conf_t    *blcf;
    ngx_http_bedrock_limit_ctx_t   *lctx;
    ngx_http_bedrock_limit_hold_t  *h, *longest;
    ngx_http_bedrock_zone_result_t  res;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    if (blcf->limit.limits == NULL) {
        return NGX_OK;
    }

    lctx = ctx->limit;

    if (lctx == NULL) {
        lctx = ngx_http_bedrock_limit_ctx(r, &blcf->limit);
        if (lctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->limit = lctx;
    }

    /* a caller that did not release first: what was held goes back */

    if (lctx->event.timer_set) {
        ngx_del_timer(&lctx->event);
    }

    if (lctx->holding) {
        ngx_http_bedrock_limit_give_back(lctx, lctx->waiting
                                         ? NGX_HTTP_BEDROCK_ZONE_WITHDRAW
                                         : NGX_HTTP_BEDROCK_ZONE_REFUND);
    }

    if (lctx->waiting) {
        lctx->waiting = 0;
        r->write_event_handler = lctx->write_event_handler;
    }

    lctx->ended = 0;
    limits = blcf->limit.limits->elts;

    /* the estimate, corrected by what the first zone learnt of the family */

    input = ctx->estimate.input_tokens;
    first = 1;

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (!h->active) {
            continue;
        }

        if (first) {
            ratio = ngx_http_bedrock_zone_ratio(h->shm_zone,
                                                ctx->model.family);
            input = (input * ratio + NGX_HTTP_BEDROCK_RATIO_ONE - 1)
                    / NGX_HTTP_BEDROCK_RATIO_ONE;
            first = 0;
        }

        /* a bucket never holds more than a minute's worth */

        tpm = ngx_http_bedrock_zone_tpm(h->shm_zone);

        if (input + ctx->estimate.max_tokens > tpm) {
            ngx_http_bedrock_limit_set_status(lctx,
                                              NGX_HTTP_BEDROCK_LIMIT_REJECTED);

            ngx_log_error(blcf->limit.log_level, r->connection->log, 0,
                          "bedrock: cost %uL is more than the %uL tokens "
                          "per minute of zone \"%V\"",
                          input + ctx->estimate.max_tokens, tpm,
                          &h->shm_zone->shm.name);

            rc = ngx_http_bedrock_send_error(r,
                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                       NGX_HTTP_BEDROCK_VALIDATION,
                       "This request costs %uL tokens (input %uL + "
                       "max_tokens %uL), more than the quota of %uL tokens "
                       "per minute (zone \"%V\"): it can never be admitted. "
                       "Lower max_tokens or shorten the input.",
                       input + ctx->estimate.max_tokens, input,
                       ctx->estimate.max_tokens, tpm,
                       &h->shm_zone->shm.name);

            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }
    }

    if (first) {
        /* no zone has a key for it: not limited */
        return NGX_OK;
    }

    cost = input + ctx->estimate.max_tokens;
    lctx->cost = cost;

    /* all or nothing: a refusal anywhere rolls the others back */

    wait = 0;
    retry = 0;
    rpm = 0;
    refused = 0;
    longest = NULL;

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (!h->active) {
            continue;
        }

        rc = ngx_http_bedrock_zone_reserve(h->shm_zone, &h->key, h->hash,
                                           cost, 1, limits[i].delay, refused,
                                           &res);

        if (res.evicted) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "bedrock: zone \"%V\" is full: evicted %ui least "
                          "recently used keys", &h->shm_zone->shm.name,
                          res.evicted);
        }

        ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "bedrock: limit zone \"%V\" key \"%V\": %i, "
                       "cost %uL, wait %M", &h->shm_zone->shm.name, &h->key,
                       rc, cost, res.wait);

        if (rc == NGX_OK) {
            h->reserved = 1;
            h->wait = res.wait;
            h->ticket = res.ticket;

            if (res.wait >= wait) {
                wait = res.wait;
                longest = h;
            }

            continue;
        }

        if (rc == NGX_ERROR) {
            /* no memory even after evictions: served, not limited here */
            continue;
        }

        /* NGX_BUSY, or NGX_DECLINED for a probe after a refusal */

        if (res.wait > h->delay && res.wait - h->delay > retry) {
            retry = res.wait - h->delay;
            rpm = res.requests;

            if (!refused) {
                longest = h;
            }
        }

        if (rc == NGX_BUSY) {
            refused = 1;
        }
    }

    if (refused) {
        ngx_http_bedrock_limit_give_back(lctx,
                                         NGX_HTTP_BEDROCK_ZONE_ROLLBACK);

        ngx_log_error(blcf->limit.log_level, r->connection->log, 0,
                      "bedrock: limiting %s, cost %uL, by zone \"%V\", "
                      "retry in %M ms", rpm ? "requests" : "tokens", cost,
                      &longest->shm_zone->shm.name, retry);

        return ngx_http_bedrock_limit_reject(r, lctx, retry, rpm);
    }

    lctx->holding = 1;
    lctx->reserved = cost;

    if (wait == 0) {
        ngx_http_bedrock_limit_set_status(lctx, NGX_HTTP_BEDROCK_LIMIT_PASSED);
        return NGX_OK;
    }

    ngx_http_bedrock_limit_set_status(lctx, NGX_HTTP_BEDROCK_LIMIT_DELAYED);

    ngx_log_error(blcf->limit.delay_log_level, r->connection->log, 0,
                  "bedrock: delaying request %M ms, cost %uL, by zone \"%V\"",
                  wait, cost, &longest->shm_zone->shm.name);

    if (ngx_http_bedrock_limit_wait(r, lctx, wait) != NGX_OK) {
        ngx_http_bedrock_limit_give_back(lctx,
                                         NGX_HTTP_BEDROCK_ZONE_WITHDRAW);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * The request's state in the limiter, made on its first acquire: one
 * hold per zone of the location, with its key, and a cleanup that gives
 * back whatever is still reserved when the request ends.
 */

static ngx_http_bedrock_limit_ctx_t *
ngx_http_bedrock_limit_ctx(ngx_http_request_t *r,
    ngx_http_bedrock_limit_conf_t *lcf)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_http_cleanup_t             *cln;
    ngx_http_bedrock_limit_t       *limits;
    ngx_http_bedrock_limit_ctx_t   *lctx;
    ngx_http_bedrock_limit_hold_t  *h;

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_bedrock_limit_ctx_t));
    if (lctx == NULL) {
        return NULL;
    }

    lctx->nholds = lcf->limits->nelts;
    lctx->holds = ngx_pcalloc(r->pool,
                      lctx->nholds * sizeof(ngx_http_bedrock_limit_hold_t));
    if (lctx->holds == NULL) {
        return NULL;
    }

    limits = lcf->limits->elts;

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        h->shm_zone = limits[i].shm_zone;
        h->delay = limits[i].delay;

        rc = ngx_http_bedrock_zone_key(r, h->shm_zone, &h->key, &h->hash);

        if (rc == NGX_ERROR) {
            return NULL;
        }

        h->active = (rc == NGX_OK && h->key.len > 0);
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_bedrock_limit_cleanup;
    cln->data = lctx;

    lctx->request = r;

    lctx->event.handler = ngx_http_bedrock_limit_wait_handler;
    lctx->event.data = r;
    lctx->event.log = r->connection->log;

    return lctx;
}


/* 429 (bedrock_limit_status) in Bedrock's shape, with Retry-After */

static ngx_int_t
ngx_http_bedrock_limit_reject(ngx_http_request_t *r,
    ngx_http_bedrock_limit_ctx_t *lctx, ngx_msec_t retry, ngx_uint_t rpm)
{
    ngx_int_t                     rc;
    ngx_table_elt_t              *h;
    ngx_http_bedrock_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    ngx_http_bedrock_limit_set_status(lctx, NGX_HTTP_BEDROCK_LIMIT_REJECTED);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");

    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* whole seconds, rounded up: a retry then is within the delay */

    h->value.len = ngx_sprintf(h->value.data, "%M",
                               ngx_max((retry + 999) / 1000, 1))
                   - h->value.data;

    rc = ngx_http_bedrock_send_error(r, blcf->limit.status,
                                     NGX_HTTP_BEDROCK_THROTTLING,
                                     rpm ? "Too many requests, please wait "
                                           "before trying again."
                                         : "Too many tokens, please wait "
                                           "before trying again.");

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * The wait is a timer of the request's own, which looks every 200 ms
 * whether settlements before it have covered it sooner.  Meanwhile a
 * client that closes its connection is noticed as limit_req notices it,
 * and the request's end withdraws the reservation.
 */

static ngx_int_t
ngx_http_bedrock_limit_wait(ngx_http_request_t *r,
    ngx_http_bedrock_limit_ctx_t *lctx, ngx_msec_t wait)
{
    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);

    } else {
        if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    r->read_event_handler = ngx_http_test_reading;

    if (!lctx->waiting) {
        lctx->write_event_handler = r->write_event_handler;
        r->write_event_handler = ngx_http_request_empty_handler;
    }

    r->connection->log->action = "waiting for the bedrock limit";

    lctx->waiting = 1;
    lctx->wait_start = ngx_current_msec;
    lctx->reserved_at = ngx_current_msec;

    ngx_add_timer(&lctx->event, ngx_min(wait, NGX_HTTP_BEDROCK_LIMIT_POLL));

    return NGX_OK;
}


static void
ngx_http_bedrock_limit_wait_handler(ngx_event_t *ev)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i, rpm, overdue;
    ngx_msec_t                      now, pending, elapsed;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_bedrock_ctx_t         *ctx;
    ngx_http_bedrock_loc_conf_t    *blcf;
    ngx_http_bedrock_limit_ctx_t   *lctx;
    ngx_http_bedrock_limit_hold_t  *h;
    ngx_http_bedrock_zone_result_t  res;

    r = ev->data;
    c = r->connection;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    lctx = ctx->limit;

    ngx_http_set_log_request(c->log, r);

    now = ngx_current_msec;
    lctx->waited += now - lctx->wait_start;
    lctx->wait_start = now;

    elapsed = now - lctx->reserved_at;

    /*
     * Covered in every zone?  A settlement below its reservation may
     * have covered it before its time; an extra charge or a cooldown
     * (Bedrock throttled the key) may make it wait longer: as long as
     * each zone's delay allows, counted from the reservation.
     */

    pending = 0;
    overdue = 0;
    rpm = 0;

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (!h->reserved) {
            continue;
        }

        rc = ngx_http_bedrock_zone_check(h->shm_zone, &h->key, h->hash,
                                         &h->ticket, &res);

        if (rc == NGX_DECLINED) {

            /* the key was evicted with its debt: the first estimate holds */

            if (h->wait <= elapsed) {
                continue;
            }

            ngx_memzero(&res, sizeof(ngx_http_bedrock_zone_result_t));
            res.wait = h->wait - elapsed;

        } else if (rc == NGX_OK) {
            continue;
        }

        if (elapsed + res.wait > h->delay) {
            h->overdue = 1;
            overdue = 1;
        }

        if (res.wait > pending) {
            pending = res.wait;
            rpm = res.requests;
        }
    }

    if (pending && !overdue) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "bedrock: limit wait, %M ms more", pending);

        ngx_add_timer(&lctx->event,
                      ngx_min(pending, NGX_HTTP_BEDROCK_LIMIT_POLL));
        return;
    }

    lctx->waiting = 0;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = lctx->write_event_handler;
    c->log->action = NULL;

    if (pending) {
        ngx_http_bedrock_limit_give_back(lctx,
                                         NGX_HTTP_BEDROCK_ZONE_REJECT);

        blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

        ngx_log_error(blcf->limit.log_level, c->log, 0,
                      "bedrock: limiting %s after a wait of %M ms, "
                      "retry in %M ms", rpm ? "requests" : "tokens",
                      elapsed, pending);

        rc = ngx_http_bedrock_limit_reject(r, lctx, pending, rpm);

        if (rc != NGX_DONE) {
            ngx_http_finalize_request(r, rc);
        }

        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "bedrock: limit wait over after %M ms", elapsed);

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (h->reserved && h->wait) {
            ngx_http_bedrock_zone_waited(h->shm_zone, &h->key, h->hash,
                                         elapsed);
        }
    }

    ngx_http_bedrock_admitted(r, ctx);
}


void
ngx_http_bedrock_limit_release(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_http_bedrock_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    if (lctx == NULL || !lctx->holding) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: limit gives back %uL tokens", lctx->cost);

    ngx_http_bedrock_limit_give_back(lctx, NGX_HTTP_BEDROCK_ZONE_REFUND);
}


void
ngx_http_bedrock_limit_settle(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, uint64_t input, uint64_t output)
{
    uint64_t                        real;
    ngx_uint_t                      i, burndown;
    ngx_http_bedrock_loc_conf_t    *blcf;
    ngx_http_bedrock_limit_ctx_t   *lctx;
    ngx_http_bedrock_zone_usage_t   usage;
    ngx_http_bedrock_limit_hold_t  *h;

    lctx = ctx->limit;

    if (lctx == NULL || !lctx->holding) {
        return;
    }

    if (!ctx->usage_known) {

        /* an error costs nothing; an answer without usage, what it held */

        if (ctx->status >= NGX_HTTP_BAD_REQUEST) {
            ngx_http_bedrock_limit_give_back(lctx,
                                             NGX_HTTP_BEDROCK_ZONE_REFUND);
            return;
        }

        input = lctx->cost;
        output = 0;
        burndown = NGX_HTTP_BEDROCK_RATIO_ONE;

    } else {
        blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
        burndown = ngx_http_bedrock_limit_burndown_rate(&blcf->limit, ctx);
    }

    /* quota tokens: the input, and each output token burndown times */

    if (output > NGX_HTTP_BEDROCK_ZONE_MAX_RATE * (uint64_t) 1000) {
        output = NGX_HTTP_BEDROCK_ZONE_MAX_RATE * (uint64_t) 1000;
    }

    real = input + (output * burndown + NGX_HTTP_BEDROCK_RATIO_ONE - 1)
                   / NGX_HTTP_BEDROCK_RATIO_ONE;

    usage.real = real;
    usage.input = input;
    usage.output = output;

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (!h->reserved) {
            continue;
        }

        ngx_http_bedrock_zone_update(h->shm_zone, &h->key, h->hash,
                                     NGX_HTTP_BEDROCK_ZONE_SETTLE,
                                     lctx->cost, 1, &usage, h->wait);

        if (ctx->usage_known) {
            ngx_http_bedrock_zone_learn(h->shm_zone, ctx->model.family,
                                        ctx->estimate.input_tokens, input);
        }

        h->reserved = 0;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: limit settled %uL tokens for %uL reserved "
                   "(input %uL, output %uL)", real, lctx->cost, input,
                   output);

    lctx->settled = real;
    lctx->holding = 0;
    lctx->ended = 1;
}


void
ngx_http_bedrock_limit_cooldown(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_msec_t ms)
{
    ngx_uint_t                      i;
    ngx_http_bedrock_limit_ctx_t   *lctx;
    ngx_http_bedrock_limit_hold_t  *h;

    lctx = ctx->limit;

    if (lctx == NULL || ms == 0) {
        return;
    }

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (!h->active) {
            continue;
        }

        ngx_http_bedrock_zone_cooldown(h->shm_zone, &h->key, h->hash, ms);

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "bedrock: Bedrock throttled key \"%V\" of zone \"%V\": "
                      "it cools down for %M ms", &h->key,
                      &h->shm_zone->shm.name, ms);
    }
}


/* ends every reservation held, as op says; settled then counts as 0 */

static void
ngx_http_bedrock_limit_give_back(ngx_http_bedrock_limit_ctx_t *lctx,
    ngx_uint_t op)
{
    ngx_uint_t                      i;
    ngx_http_bedrock_limit_hold_t  *h;

    for (i = 0; i < lctx->nholds; i++) {
        h = &lctx->holds[i];

        if (!h->reserved) {
            continue;
        }

        /* a rejection after a wait is the overdue zones' doing */

        ngx_http_bedrock_zone_update(h->shm_zone, &h->key, h->hash,
                                     (op == NGX_HTTP_BEDROCK_ZONE_REJECT
                                      && !h->overdue)
                                     ? NGX_HTTP_BEDROCK_ZONE_ROLLBACK : op,
                                     lctx->cost, 1, NULL, h->wait);

        h->reserved = 0;
        h->overdue = 0;
    }

    if (op != NGX_HTTP_BEDROCK_ZONE_ROLLBACK) {
        lctx->settled = 0;
        lctx->ended = 1;
    }

    lctx->holding = 0;
}


/*
 * The request ends.  A reservation still waiting is withdrawn; one whose
 * attempt went to Bedrock and was never settled (the client left in the
 * middle of the answer) is kept as its cost: Bedrock counted something,
 * and giving it all back could let the next requests overrun the quota.
 */

static void
ngx_http_bedrock_limit_cleanup(void *data)
{
    ngx_http_bedrock_limit_ctx_t *lctx = data;

    ngx_uint_t                      i;
    ngx_http_request_t             *r;
    ngx_http_bedrock_ctx_t         *ctx;
    ngx_http_bedrock_zone_usage_t   usage;

    r = lctx->request;

    if (lctx->event.timer_set) {
        ngx_del_timer(&lctx->event);
    }

    if (lctx->waiting) {
        lctx->waited += ngx_current_msec - lctx->wait_start;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "bedrock: the request ended after %M ms of waiting "
                      "for the limit: %uL tokens given back",
                      lctx->waited, lctx->holding ? lctx->cost : 0);
    }

    if (!lctx->holding) {
        lctx->waiting = 0;
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (lctx->waiting || ctx == NULL || ctx->attempts == 0) {
        ngx_http_bedrock_limit_give_back(lctx, lctx->waiting
                                         ? NGX_HTTP_BEDROCK_ZONE_WITHDRAW
                                         : NGX_HTTP_BEDROCK_ZONE_REFUND);
        lctx->waiting = 0;
        return;
    }

    /* what Bedrock counted is unknown: as if all of it were input */

    usage.real = lctx->cost;
    usage.input = lctx->cost;
    usage.output = 0;

    for (i = 0; i < lctx->nholds; i++) {
        if (lctx->holds[i].reserved) {
            ngx_http_bedrock_zone_update(lctx->holds[i].shm_zone,
                                         &lctx->holds[i].key,
                                         lctx->holds[i].hash,
                                         NGX_HTTP_BEDROCK_ZONE_SETTLE,
                                         lctx->cost, 1, &usage,
                                         lctx->holds[i].wait);
            lctx->holds[i].reserved = 0;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: limit keeps %uL tokens of an unsettled answer",
                   lctx->cost);

    lctx->settled = lctx->cost;
    lctx->holding = 0;
    lctx->ended = 1;
}


/* thousandths of a quota token per output token */

static ngx_uint_t
ngx_http_bedrock_limit_burndown_rate(ngx_http_bedrock_limit_conf_t *lcf,
    ngx_http_bedrock_ctx_t *ctx)
{
    u_char                       *id;
    ngx_uint_t                    i;
    ngx_http_bedrock_burndown_t  *b;

    if (lcf->burndowns) {
        b = lcf->burndowns->elts;
        id = (u_char *) ctx->model.id;

        for (i = 0; i < lcf->burndowns->nelts; i++) {
            if (ngx_http_bedrock_limit_match(b[i].pattern.data,
                                             b[i].pattern.data
                                             + b[i].pattern.len,
                                             id, id + ctx->model.id_len))
            {
                return b[i].rate;
            }
        }
    }

    return (ctx->model.burndown ? ctx->model.burndown : 1)
           * NGX_HTTP_BEDROCK_RATIO_ONE;
}


/*
 * Whether the whole of s matches the pattern, where '*' stands for any
 * run of bytes: on a mismatch, the last '*' takes one byte more.
 */

static ngx_uint_t
ngx_http_bedrock_limit_match(u_char *p, u_char *pe, u_char *s, u_char *se)
{
    u_char  *star, *mark;

    star = NULL;
    mark = s;

    while (s < se) {

        if (p < pe && *p == '*') {
            star = ++p;
            mark = s;
            continue;
        }

        if (p < pe && *p == *s) {
            p++;
            s++;
            continue;
        }

        if (star == NULL) {
            return 0;
        }

        p = star;
        s = ++mark;
    }

    while (p < pe && *p == '*') {
        p++;
    }

    return p == pe;
}


/* the status a request shows is the worst it met */

static void
ngx_http_bedrock_limit_set_status(ngx_http_bedrock_limit_ctx_t *lctx,
    ngx_uint_t status)
{
    if (status > lctx->status) {
        lctx->status = status;
    }
}


static ngx_int_t
ngx_http_bedrock_limit_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t        *ctx;
    ngx_http_bedrock_limit_ctx_t  *lctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);
    lctx = ctx ? ctx->limit : NULL;

    if (lctx == NULL || lctx->status == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_bedrock_limit_statuses[lctx->status - 1].len;
    v->data = ngx_http_bedrock_limit_statuses[lctx->status - 1].data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_limit_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                        *p;
    uint64_t                       n;
    ngx_http_bedrock_ctx_t        *ctx;
    ngx_http_bedrock_limit_ctx_t  *lctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);
    lctx = ctx ? ctx->limit : NULL;

    if (lctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_BEDROCK_LIMIT_VAR_WAIT:
        n = lctx->waited;

        if (lctx->waiting) {
            n += ngx_current_msec - lctx->wait_start;
        }

        break;

    case NGX_HTTP_BEDROCK_LIMIT_VAR_RESERVED:
        n = lctx->reserved;
        break;

    default: /* NGX_HTTP_BEDROCK_LIMIT_VAR_SETTLED */

        if (!lctx->ended) {
            v->not_found = 1;
            return NGX_OK;
        }

        n = lctx->settled;
        break;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%uL", n) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}
