/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Gateway-wide counters (see ngx_http_bedrock_stats.h).  One fixed struct
 * of atomics in a zone of its own: adding to it takes no lock, so every
 * worker counts every request it ends without waiting for the others.
 */


#include "ngx_http_bedrock_module.h"
#include "ngx_http_bedrock_stats.h"


/*
 * Changes with the layout: a zone made by another build is not taken
 * over (its size differs as well, as long as the struct grows by pages).
 */
#define NGX_HTTP_BEDROCK_STATS_LAYOUT                                         \
    (0x42530000 + sizeof(ngx_http_bedrock_stats_t))


static ngx_int_t ngx_http_bedrock_stats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_bedrock_stats_log_handler(ngx_http_request_t *r);
static void ngx_http_bedrock_stats_account(ngx_http_bedrock_stats_t *st,
    ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_stats_limit(ngx_http_bedrock_stats_t *st,
    ngx_http_request_t *r);
static void ngx_http_bedrock_stats_errors(ngx_http_bedrock_stats_t *st,
    ngx_str_t *errors);
static ngx_http_bedrock_error_e ngx_http_bedrock_stats_error_type(
    u_char *name, size_t len);
static void ngx_http_bedrock_stats_max(ngx_atomic_t *a, ngx_atomic_uint_t v);


static ngx_str_t  ngx_http_bedrock_stats_zone_name =
    ngx_string("ngx_http_bedrock_stats");


ngx_str_t  ngx_http_bedrock_stats_error_names[] = {
    ngx_string("ThrottlingException"),
    ngx_string("ModelNotReadyException"),
    ngx_string("ServiceUnavailableException"),
    ngx_string("InternalServerException"),
    ngx_string("ModelTimeoutException"),
    ngx_string("ModelErrorException"),
    ngx_string("ModelStreamErrorException"),
    ngx_string("ValidationException"),
    ngx_string("AccessDeniedException"),
    ngx_string("ResourceNotFoundException"),
    ngx_string("ServiceQuotaExceededException"),
    ngx_string("error"),
    ngx_string("timeout"),
    ngx_string("other"),
    ngx_null_string
};


const ngx_msec_t  ngx_http_bedrock_stats_wait_bounds[] =
    NGX_HTTP_BEDROCK_STATS_WAIT_BUCKETS;


static ngx_str_t  ngx_http_bedrock_stats_limit_status =
    ngx_string("bedrock_limit_status");
static ngx_str_t  ngx_http_bedrock_stats_wait_ms =
    ngx_string("bedrock_wait_ms");


ngx_int_t
ngx_http_bedrock_stats_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);

    /* nothing to count where no request goes to Bedrock */

    if (!bmcf->filters) {
        return NGX_OK;
    }

    if (ngx_http_bedrock_stats_add_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_bedrock_stats_log_handler;

    return NGX_OK;
}


ngx_int_t
ngx_http_bedrock_stats_add_zone(ngx_conf_t *cf)
{
    size_t           size;
    ngx_shm_zone_t  *shm_zone;

    /* the struct, and room for the slab pool's own pages */

    size = ngx_align(sizeof(ngx_http_bedrock_stats_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_bedrock_stats_zone_name,
                                     size, &ngx_http_bedrock_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->init != NULL
        && shm_zone->init != ngx_http_bedrock_stats_init_zone)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the zone name \"%V\" is reserved for the "
                           "bedrock status counters",
                           &ngx_http_bedrock_stats_zone_name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_bedrock_stats_init_zone;

    return NGX_OK;
}


/*
 * On reload the zone, of an unchanged size, comes back with its memory:
 * the counters go on, and the generation says one more configuration was
 * loaded over them.
 */

static ngx_int_t
ngx_http_bedrock_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t           *shpool;
    ngx_http_bedrock_stats_t  *st;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        st = data ? data : shpool->data;

        if (st == NULL || st->layout != NGX_HTTP_BEDROCK_STATS_LAYOUT) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "the bedrock status counters were made by another "
                          "version of the module: restart nginx");
            return NGX_ERROR;
        }

        if (data) {
            (void) ngx_atomic_fetch_add(&st->generation, 1);
        }

        shm_zone->data = st;

        return NGX_OK;
    }

    st = ngx_slab_calloc(shpool, sizeof(ngx_http_bedrock_stats_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->layout = NGX_HTTP_BEDROCK_STATS_LAYOUT;
    st->started = (ngx_atomic_uint_t) ngx_time();
    st->generation = 1;

    shpool->data = st;
    shm_zone->data = st;

    return NGX_OK;
}


ngx_http_bedrock_stats_t *
ngx_http_bedrock_stats_get(void)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_bedrock_module
            && shm_zone[i].init == ngx_http_bedrock_stats_init_zone)
        {
            return shm_zone[i].data;
        }
    }

    return NULL;
}


/*
 * Runs for every request of the http{} block: counts those that went
 * through bedrock_pass (they have its context), once, at their end.
 */

static ngx_int_t
ngx_http_bedrock_stats_log_handler(ngx_http_request_t *r)
{
    ngx_http_bedrock_ctx_t    *ctx;
    ngx_http_bedrock_stats_t  *st;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);
    if (ctx == NULL) {
        return NGX_OK;
    }

    st = ngx_http_bedrock_stats_get();
    if (st == NULL) {
        return NGX_OK;
    }

    ngx_http_bedrock_stats_account(st, r, ctx);

    return NGX_OK;
}


static void
ngx_http_bedrock_stats_account(ngx_http_bedrock_stats_t *st,
    ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_uint_t                        status, family;
    ngx_http_bedrock_stats_family_t  *fs;

    status = r->err_status ? r->err_status : r->headers_out.status;

    (void) ngx_atomic_fetch_add(&st->requests, 1);
    (void) ngx_atomic_fetch_add(&st->responses[(status >= 100 && status < 600)
                                               ? status / 100 - 1 : 5], 1);

    if (ctx->stream) {
        (void) ngx_atomic_fetch_add(&st->streams, 1);
    }

    if (ctx->attempts) {
        (void) ngx_atomic_fetch_add(&st->attempts, ctx->attempts);
        (void) ngx_atomic_fetch_add(&st->retries, ctx->attempts - 1);
    }

    if (ctx->failovers) {
        (void) ngx_atomic_fetch_add(&st->failovers, ctx->failovers);
    }

    if (ctx->retry_wait) {
        (void) ngx_atomic_fetch_add(&st->retry_wait, ctx->retry_wait);
    }

    if (ctx->errors.len) {
        ngx_http_bedrock_stats_errors(st, &ctx->errors);
    }

    if (ctx->compressed_from) {
        (void) ngx_atomic_fetch_add(&st->compressed, 1);
        (void) ngx_atomic_fetch_add(&st->compressed_from,
                                    ctx->compressed_from);
        (void) ngx_atomic_fetch_add(&st->compressed_to, ctx->compressed_to);
    }

    if (ctx->limit) {
        ngx_http_bedrock_stats_limit(st, r);
    }

    if (ctx->model.id_len == 0) {
        return;
    }

    family = ctx->model.family;

    if (family >= NGX_BEDROCK_FAMILY_LAST) {
        family = NGX_BEDROCK_FAMILY_OTHER;
    }

    fs = &st->family[family];

    (void) ngx_atomic_fetch_add(&fs->requests, 1);
    (void) ngx_atomic_fetch_add(&fs->input_estimated,
                                ctx->estimate.input_tokens);

    if (ctx->usage_known) {
        (void) ngx_atomic_fetch_add(&fs->usage, 1);
        (void) ngx_atomic_fetch_add(&fs->usage_estimated,
                                    ctx->estimate.input_tokens);
        (void) ngx_atomic_fetch_add(&fs->input, ctx->input_tokens);
        (void) ngx_atomic_fetch_add(&fs->output, ctx->output_tokens);
    }
}


/*
 * The limiter's outcome, as its variables tell it: the worst status the
 * request met in its zones, and how long it waited in all.
 */

static void
ngx_http_bedrock_stats_limit(ngx_http_bedrock_stats_t *st,
    ngx_http_request_t *r)
{
    ngx_int_t                   ms;
    ngx_uint_t                  i;
    ngx_http_variable_value_t  *v;

    v = ngx_http_get_variable(r, &ngx_http_bedrock_stats_limit_status,
                              ngx_hash_key(
                                  ngx_http_bedrock_stats_limit_status.data,
                                  ngx_http_bedrock_stats_limit_status.len));

    if (v == NULL || v->not_found || v->len == 0) {
        return;
    }

    switch (v->data[0]) {

    case 'P':
        (void) ngx_atomic_fetch_add(&st->passed, 1);
        break;

    case 'D':
        (void) ngx_atomic_fetch_add(&st->delayed, 1);
        break;

    default: /* REJECTED */
        (void) ngx_atomic_fetch_add(&st->rejected, 1);
        break;
    }

    v = ngx_http_get_variable(r, &ngx_http_bedrock_stats_wait_ms,
                              ngx_hash_key(ngx_http_bedrock_stats_wait_ms.data,
                                           ngx_http_bedrock_stats_wait_ms.len));

    if (v == NULL || v->not_found) {
        return;
    }

    ms = ngx_atoi(v->data, v->len);

    if (ms <= 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&st->waits, 1);
    (void) ngx_atomic_fetch_add(&st->wait_sum, ms);
    ngx_http_bedrock_stats_max(&st->wait_max, ms);

    for (i = 0; i < NGX_HTTP_BEDROCK_STATS_NWAIT - 1; i++) {
        if ((ngx_msec_t) ms <= ngx_http_bedrock_stats_wait_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&st->wait_buckets[i], 1);
}


/*
 * $bedrock_upstream_errors lists each failed attempt's error type (as
 * x-amzn-ErrorType names it, or "error", "timeout", a bare status), then
 * the exceptions inside a relayed stream, as :exception-type names them:
 * the same types with a lower-case first letter.
 */

static void
ngx_http_bedrock_stats_errors(ngx_http_bedrock_stats_t *st,
    ngx_str_t *errors)
{
    u_char                    *p, *last, *comma;
    ngx_uint_t                 stream;
    ngx_http_bedrock_error_e   type;

    p = errors->data;
    last = p + errors->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        type = ngx_http_bedrock_stats_error_type(p, comma - p);

        stream = (*p >= 'a' && *p <= 'z'
                  && type != NGX_HTTP_BEDROCK_ERR_CONNECT
                  && type != NGX_HTTP_BEDROCK_ERR_TIMEOUT);

        (void) ngx_atomic_fetch_add(stream ? &st->exceptions[type]
                                           : &st->errors[type], 1);

        p = comma + 1;
    }
}


/* the first letter in either case: "throttlingException" is throttling */

static ngx_http_bedrock_error_e
ngx_http_bedrock_stats_error_type(u_char *name, size_t len)
{
    ngx_uint_t  i;
    ngx_str_t  *t;

    if (len == 0) {
        return NGX_HTTP_BEDROCK_ERR_OTHER;
    }

    for (i = 0; i < NGX_HTTP_BEDROCK_ERR_OTHER; i++) {
        t = &ngx_http_bedrock_stats_error_names[i];

        if (t->len == len
            && ngx_tolower(t->data[0]) == ngx_tolower(name[0])
            && ngx_strncmp(t->data + 1, name + 1, len - 1) == 0)
        {
            return (ngx_http_bedrock_error_e) i;
        }
    }

    return NGX_HTTP_BEDROCK_ERR_OTHER;
}


static void
ngx_http_bedrock_stats_max(ngx_atomic_t *a, ngx_atomic_uint_t v)
{
    ngx_atomic_uint_t  old;

    for ( ;; ) {
        old = *a;

        if (v <= old || ngx_atomic_cmp_set(a, old, v)) {
            return;
        }
    }
}
