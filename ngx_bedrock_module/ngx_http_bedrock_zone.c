/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The shared zone of bedrock_limit_zone (see ngx_http_bedrock_zone.h).
 * Shaped after ngx_http_limit_req_module: the key is hashed before the
 * lock, the lock is held only around tree, queue and bucket work, and
 * nothing inside it logs, allocates from a pool or blocks.
 *
 * No reservation is remembered in shared memory apart from the level it
 * took from a bucket, so a worker that dies leaves nothing behind: what
 * it had reserved is repaid by the refill within one minute at most, and
 * nginx's master releases the slab mutex of a dead worker itself.
 */


#include "ngx_http_bedrock_module.h"
#include "ngx_http_bedrock_zone.h"


/*
 * Changes with the layout of the shared structures: a reload that brings
 * a module with another layout must not reuse the old zone.
 */
#define NGX_HTTP_BEDROCK_ZONE_LAYOUT                                          \
    (0x42440000 + sizeof(ngx_http_bedrock_zone_sh_t)                          \
     + (sizeof(ngx_http_bedrock_zone_node_t) << 12))

/*
 * A learnt ratio is that of sums which lose an eighth of their weight at
 * each answer; they start as if 4000 tokens had been estimated right.
 */
#define NGX_HTTP_BEDROCK_RATIO_DECAY    8
#define NGX_HTTP_BEDROCK_RATIO_PRIOR    4000
#define NGX_HTTP_BEDROCK_RATIO_MIN      100
#define NGX_HTTP_BEDROCK_RATIO_MAX      10000

/* the most one answer may be charged, in tokens: keeps levels in int64 */
#define NGX_HTTP_BEDROCK_ZONE_MAX_COST  1000000000000LL

/* at most one eviction warning a second per zone */
#define NGX_HTTP_BEDROCK_EVICT_WARN     1000

/* the refill, in ms, a bucket keeps to spare when it admits a request */
#define NGX_HTTP_BEDROCK_ZONE_HEADROOM  100


typedef struct {
    u_char                       color;
    u_char                       dummy;
    u_short                      len;
    ngx_queue_t                  queue;
    ngx_msec_t                   last;       /* the levels are as of then */
    ngx_msec_t                   cooldown;   /* closed until then */
    int64_t                      tokens;     /* 1/60000 of a token */
    int64_t                      requests;   /* 1/60000 of a request */
    uint64_t                     booked;     /* tokens ever reserved */
    uint64_t                     withdrawn;  /* of them, by waiters */
    uint64_t                     booked_requests;
    uint64_t                     withdrawn_requests;
    uint64_t                     passed;
    uint64_t                     delayed;
    uint64_t                     rejected;
    uint64_t                     reserved;   /* tokens */
    uint64_t                     settled;    /* tokens */
    uint64_t                     input;      /* of the settled answers */
    uint64_t                     output;
    uint64_t                     waits;      /* admitted after a wait */
    uint64_t                     wait_sum;   /* ms */
    ngx_msec_t                   wait_max;
    u_char                       data[1];
} ngx_http_bedrock_zone_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;      /* most recent first */
    ngx_uint_t                   layout;
    uint32_t                     key_hash;   /* of the key's expression */
    ngx_uint_t                   nodes;
    size_t                       key_bytes;

    uint64_t                     passed;
    uint64_t                     delayed;
    uint64_t                     rejected;
    uint64_t                     reserved;
    uint64_t                     settled;
    uint64_t                     input;
    uint64_t                     output;
    uint64_t                     waits;
    uint64_t                     wait_sum;
    ngx_msec_t                   wait_max;
    uint64_t                     evicted;
    uint64_t                     unwarned;   /* evicted, not yet logged */
    ngx_msec_t                   warned;

    ngx_http_bedrock_zone_family_stats_t   family[NGX_BEDROCK_FAMILY_LAST];
} ngx_http_bedrock_zone_sh_t;


/* process-local: shm_zone->data */
typedef struct {
    ngx_http_bedrock_zone_sh_t  *sh;
    ngx_slab_pool_t             *shpool;
    ngx_http_complex_value_t     key;
    uint64_t                     tpm;
    uint64_t                     rpm;        /* 0: no request bucket */
} ngx_http_bedrock_zone_t;


static ngx_int_t ngx_http_bedrock_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static int64_t ngx_http_bedrock_zone_parse_rate(u_char *p, size_t len);
static void ngx_http_bedrock_zone_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_bedrock_zone_node_t *ngx_http_bedrock_zone_find(
    ngx_http_bedrock_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_bedrock_zone_node_t *ngx_http_bedrock_zone_create(
    ngx_http_bedrock_zone_t *zone, ngx_str_t *key, uint32_t hash,
    ngx_msec_t now, ngx_uint_t *evicted);
static void ngx_http_bedrock_zone_expire(ngx_http_bedrock_zone_t *zone,
    ngx_msec_t now);
static void ngx_http_bedrock_zone_delete(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node);
static void ngx_http_bedrock_zone_refill(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node, ngx_msec_t now, int64_t *tokens,
    int64_t *requests);
static void ngx_http_bedrock_zone_add(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node, int64_t tokens, int64_t requests);
static ngx_msec_t ngx_http_bedrock_zone_lack(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node, int64_t t, int64_t q,
    uint64_t tokens, ngx_uint_t requests, ngx_msec_t now,
    ngx_http_bedrock_zone_result_t *res);
static ngx_msec_t ngx_http_bedrock_zone_wait(int64_t level, uint64_t rate,
    uint64_t cost, ngx_uint_t headroom);
static ngx_int_t ngx_http_bedrock_zone_snapshot(ngx_shm_zone_t *shm_zone,
    ngx_pool_t *pool, ngx_uint_t max_keys, ngx_http_bedrock_zone_stats_t *zs);


char *
ngx_http_bedrock_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                            *p;
    ssize_t                            size;
    int64_t                            tpm, rpm;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_bedrock_zone_t           *zone;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    size = 0;
    tpm = 0;
    rpm = 0;
    name.len = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL || p == name.data) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "tpm=", 4) == 0) {

            tpm = ngx_http_bedrock_zone_parse_rate(value[i].data + 4,
                                                   value[i].len - 4);
            if (tpm <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid tokens per minute \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rpm=", 4) == 0) {

            rpm = ngx_http_bedrock_zone_parse_rate(value[i].data + 4,
                                                   value[i].len - 4);
            if (rpm <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid requests per minute \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (tpm == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"tpm\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    zone->tpm = tpm;
    zone->rpm = rpm;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_bedrock_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        zone = shm_zone->data;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is already bound to key \"%V\"",
                           &cmd->name, &name, &zone->key.value);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_bedrock_zone_init;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


/* a count with an optional decimal k or m: 2000000, 2000k, 2m */

static int64_t
ngx_http_bedrock_zone_parse_rate(u_char *p, size_t len)
{
    int64_t  n, scale;

    scale = 1;

    if (len > 1) {
        switch (p[len - 1]) {
        case 'k':
        case 'K':
            scale = 1000;
            len--;
            break;
        case 'm':
        case 'M':
            scale = 1000000;
            len--;
            break;
        }
    }

    n = ngx_atoof(p, len);

    if (n <= 0 || n > NGX_HTTP_BEDROCK_ZONE_MAX_RATE / scale) {
        return -1;
    }

    return n * scale;
}


ngx_shm_zone_t *
ngx_http_bedrock_zone_get(ngx_conf_t *cf, ngx_str_t *name)
{
    return ngx_shared_memory_add(cf, name, 0, &ngx_http_bedrock_module);
}


ngx_int_t
ngx_http_bedrock_zone_declared(ngx_shm_zone_t *shm_zone)
{
    return (shm_zone->data != NULL) ? NGX_OK : NGX_DECLINED;
}


uint64_t
ngx_http_bedrock_zone_tpm(ngx_shm_zone_t *shm_zone)
{
    ngx_http_bedrock_zone_t  *zone = shm_zone->data;

    return zone->tpm;
}


uint64_t
ngx_http_bedrock_zone_rpm(ngx_shm_zone_t *shm_zone)
{
    ngx_http_bedrock_zone_t  *zone = shm_zone->data;

    return zone->rpm;
}


/*
 * On reload, a zone of the same name and size is handed over with its
 * memory: the keys, levels and learnt ratios go on as they were.  Its key
 * must not have changed meaning, as limit_req requires; tpm and rpm may
 * change, the levels being counted in units that do not depend on them.
 */

static ngx_int_t
ngx_http_bedrock_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                       len;
    uint32_t                     key_hash;
    ngx_uint_t                   i;
    ngx_http_bedrock_zone_t     *zone;
    ngx_http_bedrock_zone_sh_t  *sh;

    zone = shm_zone->data;

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    key_hash = ngx_crc32_short(zone->key.value.data, zone->key.value.len);

    if (data || shm_zone->shm.exists) {
        sh = zone->shpool->data;

        if (sh == NULL || sh->layout != NGX_HTTP_BEDROCK_ZONE_LAYOUT) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "bedrock_limit_zone \"%V\" was made by another "
                          "version of the module: change its size or "
                          "restart nginx", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        if (sh->key_hash != key_hash) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "bedrock_limit_zone \"%V\" now uses the \"%V\" key, "
                          "but its keys were made with another: rename the "
                          "zone or change its size", &shm_zone->shm.name,
                          &zone->key.value);
            return NGX_ERROR;
        }

        zone->sh = sh;

        return NGX_OK;
    }

    sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_bedrock_zone_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    zone->sh = sh;
    zone->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_bedrock_zone_rbtree_insert_value);

    ngx_queue_init(&sh->queue);

    sh->layout = NGX_HTTP_BEDROCK_ZONE_LAYOUT;
    sh->key_hash = key_hash;

    for (i = 0; i < NGX_BEDROCK_FAMILY_LAST; i++) {
        sh->family[i].ratio = NGX_HTTP_BEDROCK_RATIO_ONE;
        sh->family[i].recent_estimated = NGX_HTTP_BEDROCK_RATIO_PRIOR;
        sh->family[i].recent_real = NGX_HTTP_BEDROCK_RATIO_PRIOR;
    }

    len = sizeof(" in bedrock_limit_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in bedrock_limit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts keys: that is logged once, not per allocation */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_bedrock_zone_key(ngx_http_request_t *r, ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, uint32_t *hash)
{
    ngx_http_bedrock_zone_t  *zone = shm_zone->data;

    if (ngx_http_complex_value(r, &zone->key, key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key->len > 65535) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "bedrock: the value of the \"%V\" key of zone \"%V\" "
                      "is more than 65535 bytes: not limited",
                      &zone->key.value, &shm_zone->shm.name);
        return NGX_DECLINED;
    }

    *hash = ngx_crc32_short(key->data, key->len);

    return NGX_OK;
}


ngx_int_t
ngx_http_bedrock_zone_reserve(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, uint64_t tokens, ngx_uint_t requests, ngx_msec_t max_wait,
    ngx_uint_t probe, ngx_http_bedrock_zone_result_t *res)
{
    int64_t                        t, q;
    ngx_msec_t                     now, wait;
    ngx_uint_t                     evicted;
    ngx_http_bedrock_zone_t       *zone;
    ngx_http_bedrock_zone_sh_t    *sh;
    ngx_http_bedrock_zone_node_t  *node;

    zone = shm_zone->data;
    sh = zone->sh;

    ngx_memzero(res, sizeof(ngx_http_bedrock_zone_result_t));

    now = ngx_current_msec;
    evicted = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_bedrock_zone_find(zone, key, hash);

    if (node == NULL) {

        if (probe) {
            /* an unknown key has a full bucket */
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }

        node = ngx_http_bedrock_zone_create(zone, key, hash, now, &evicted);

        if (evicted) {
            sh->evicted += evicted;
            sh->unwarned += evicted;

            if (now - sh->warned >= NGX_HTTP_BEDROCK_EVICT_WARN) {
                res->evicted = sh->unwarned;
                sh->unwarned = 0;
                sh->warned = now;
            }
        }

        if (node == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "bedrock: could not allocate a key%s",
                          zone->shpool->log_ctx);
            return NGX_ERROR;
        }

    } else {
        ngx_queue_remove(&node->queue);
        ngx_queue_insert_head(&sh->queue, &node->queue);
    }

    ngx_http_bedrock_zone_refill(zone, node, now, &node->tokens,
                                 &node->requests);

    t = node->tokens - (int64_t) tokens * NGX_HTTP_BEDROCK_ZONE_UNIT;
    q = node->requests - (int64_t) requests * NGX_HTTP_BEDROCK_ZONE_UNIT;

    wait = ngx_http_bedrock_zone_lack(zone, node, t, q, tokens, requests,
                                      now, res);
    res->wait = wait;

    if (probe) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (wait > max_wait) {
        node->rejected++;
        sh->rejected++;

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    node->tokens = t;

    if (zone->rpm) {
        node->requests = q;
    }

    if (wait) {
        node->delayed++;
        sh->delayed++;

    } else {
        node->passed++;
        sh->passed++;
    }

    node->reserved += tokens;
    sh->reserved += tokens;

    node->booked += tokens;
    node->booked_requests += requests;

    res->ticket.cost = tokens;
    res->ticket.tokens = node->booked;
    res->ticket.withdrawn = node->withdrawn;
    res->ticket.requests = node->booked_requests;
    res->ticket.requests_withdrawn = node->withdrawn_requests;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_bedrock_zone_check(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_http_bedrock_zone_ticket_t *ticket,
    ngx_http_bedrock_zone_result_t *res)
{
    int64_t                        t, q, behind;
    ngx_msec_t                     now, wait;
    ngx_http_bedrock_zone_t       *zone;
    ngx_http_bedrock_zone_node_t  *node;

    zone = shm_zone->data;

    ngx_memzero(res, sizeof(ngx_http_bedrock_zone_result_t));

    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_bedrock_zone_find(zone, key, hash);

    if (node == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_http_bedrock_zone_refill(zone, node, now, &node->tokens,
                                 &node->requests);

    /*
     * The level as if the reservations made after the ticket were not
     * there; every withdrawal since is set aside too, wherever it was.
     * The totals only grow: their differences survive a wrap of uint64_t.
     */

    behind = (int64_t) (node->booked - ticket->tokens)
             - (int64_t) (node->withdrawn - ticket->withdrawn);
    t = node->tokens + behind * NGX_HTTP_BEDROCK_ZONE_UNIT;

    behind = (int64_t) (node->booked_requests - ticket->requests)
             - (int64_t) (node->withdrawn_requests
                          - ticket->requests_withdrawn);
    q = node->requests + behind * NGX_HTTP_BEDROCK_ZONE_UNIT;

    wait = ngx_http_bedrock_zone_lack(zone, node, t, q, ticket->cost, 1, now,
                                      res);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    res->wait = wait;

    return wait ? NGX_AGAIN : NGX_OK;
}


void
ngx_http_bedrock_zone_update(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_uint_t op, uint64_t reserved, ngx_uint_t requests,
    ngx_http_bedrock_zone_usage_t *usage, ngx_msec_t wait)
{
    int64_t                        tokens;
    uint64_t                       real;
    ngx_http_bedrock_zone_t       *zone;
    ngx_http_bedrock_zone_sh_t    *sh;
    ngx_http_bedrock_zone_node_t  *node;

    zone = shm_zone->data;
    sh = zone->sh;

    real = usage ? usage->real : 0;

    if (real > NGX_HTTP_BEDROCK_ZONE_MAX_COST) {
        real = NGX_HTTP_BEDROCK_ZONE_MAX_COST;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_bedrock_zone_find(zone, key, hash);

    if (node == NULL) {
        /* evicted while it was reserved: the refund has nowhere to go */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    switch (op) {

    case NGX_HTTP_BEDROCK_ZONE_SETTLE:
        tokens = (int64_t) reserved - (int64_t) real;

        ngx_http_bedrock_zone_add(zone, node, tokens, 0);

        node->settled += real;
        sh->settled += real;

        node->input += usage->input;
        sh->input += usage->input;
        node->output += usage->output;
        sh->output += usage->output;
        break;

    case NGX_HTTP_BEDROCK_ZONE_REJECT:

        /* it could not be covered within the delay after all */

        node->rejected++;
        sh->rejected++;

        /* fall through */

    case NGX_HTTP_BEDROCK_ZONE_ROLLBACK:

        /* another zone refused the request: this one never admitted it */

        if (wait) {
            node->delayed -= (node->delayed > 0);
            sh->delayed -= (sh->delayed > 0);

        } else {
            node->passed -= (node->passed > 0);
            sh->passed -= (sh->passed > 0);
        }

        node->reserved -= ngx_min(node->reserved, reserved);
        sh->reserved -= ngx_min(sh->reserved, reserved);

        /* fall through */

    case NGX_HTTP_BEDROCK_ZONE_WITHDRAW:

        /* never used: those still waiting must not count it as supply */

        node->withdrawn += reserved;
        node->withdrawn_requests += requests;

        /* fall through */

    default: /* NGX_HTTP_BEDROCK_ZONE_REFUND */
        ngx_http_bedrock_zone_add(zone, node, (int64_t) reserved,
                                  (int64_t) requests);
        break;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_http_bedrock_zone_waited(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_msec_t ms)
{
    ngx_http_bedrock_zone_t       *zone;
    ngx_http_bedrock_zone_sh_t    *sh;
    ngx_http_bedrock_zone_node_t  *node;

    zone = shm_zone->data;
    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_bedrock_zone_find(zone, key, hash);

    if (node != NULL) {
        node->waits++;
        node->wait_sum += ms;
        node->wait_max = ngx_max(node->wait_max, ms);
    }

    sh->waits++;
    sh->wait_sum += ms;
    sh->wait_max = ngx_max(sh->wait_max, ms);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_http_bedrock_zone_cooldown(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_msec_t ms)
{
    ngx_msec_t                     now, until;
    ngx_uint_t                     evicted;
    ngx_http_bedrock_zone_t       *zone;
    ngx_http_bedrock_zone_node_t  *node;

    zone = shm_zone->data;

    now = ngx_current_msec;
    until = now + ms;
    evicted = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_bedrock_zone_find(zone, key, hash);

    if (node == NULL) {
        node = ngx_http_bedrock_zone_create(zone, key, hash, now, &evicted);

        if (node == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }
    }

    zone->sh->evicted += evicted;
    zone->sh->unwarned += evicted;

    /*
     * Bedrock found the quota spent, whatever the bucket says: the key
     * waits as long as the throttled request backs off.  The bucket is
     * left as it is; the requests that queue meanwhile are in it.
     */

    if ((ngx_msec_int_t) (until - node->cooldown) > 0) {
        node->cooldown = until;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


uint64_t
ngx_http_bedrock_zone_ratio(ngx_shm_zone_t *shm_zone,
    ngx_bedrock_family_e family)
{
    uint64_t                  ratio;
    ngx_http_bedrock_zone_t  *zone;

    zone = shm_zone->data;

    if ((ngx_uint_t) family >= NGX_BEDROCK_FAMILY_LAST) {
        return NGX_HTTP_BEDROCK_RATIO_ONE;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    ratio = zone->sh->family[family].ratio;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    return ratio;
}


/*
 * The ratio of recent sums rather than a mean of ratios: a request of
 * 100000 tokens tells more about the quota than one of 10, whose count
 * is mostly the fixed overhead of its shape.  An odd answer moves it by
 * its weight; a steady bias is learnt within a few dozen answers.
 */

void
ngx_http_bedrock_zone_learn(ngx_shm_zone_t *shm_zone,
    ngx_bedrock_family_e family, uint64_t estimated, uint64_t real)
{
    uint64_t                               ratio;
    ngx_http_bedrock_zone_t               *zone;
    ngx_http_bedrock_zone_family_stats_t  *fs;

    zone = shm_zone->data;

    if ((ngx_uint_t) family >= NGX_BEDROCK_FAMILY_LAST
        || estimated == 0
        || estimated > NGX_HTTP_BEDROCK_ZONE_MAX_COST
        || real > NGX_HTTP_BEDROCK_ZONE_MAX_COST)
    {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    fs = &zone->sh->family[family];

    fs->recent_estimated -= fs->recent_estimated
                            / NGX_HTTP_BEDROCK_RATIO_DECAY;
    fs->recent_estimated += estimated;

    fs->recent_real -= fs->recent_real / NGX_HTTP_BEDROCK_RATIO_DECAY;
    fs->recent_real += real;

    ratio = fs->recent_real * NGX_HTTP_BEDROCK_RATIO_ONE
            / ngx_max(fs->recent_estimated, 1);
    ratio = ngx_max(ratio, NGX_HTTP_BEDROCK_RATIO_MIN);
    ratio = ngx_min(ratio, NGX_HTTP_BEDROCK_RATIO_MAX);

    fs->ratio = ratio;
    fs->samples++;
    fs->estimated += estimated;
    fs->real += real;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static void
ngx_http_bedrock_zone_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_http_bedrock_zone_node_t   *bn, *bnt;

    for ( ;; ) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            bn = (ngx_http_bedrock_zone_node_t *) &node->color;
            bnt = (ngx_http_bedrock_zone_node_t *) &temp->color;

            p = (ngx_memn2cmp(bn->data, bnt->data, bn->len, bnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* called with the lock held */

static ngx_http_bedrock_zone_node_t *
ngx_http_bedrock_zone_find(ngx_http_bedrock_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                      rc;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_bedrock_zone_node_t  *bn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        bn = (ngx_http_bedrock_zone_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, bn->data, key->len, (size_t) bn->len);

        if (rc == 0) {
            return bn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A new key, with full buckets.  Called with the lock held.  Idle keys
 * whose buckets have refilled are dropped first, losing nothing; when the
 * slab is still full, the least recently used keys are evicted, whatever
 * they hold, until the new one fits.
 */

static ngx_http_bedrock_zone_node_t *
ngx_http_bedrock_zone_create(ngx_http_bedrock_zone_t *zone, ngx_str_t *key,
    uint32_t hash, ngx_msec_t now, ngx_uint_t *evicted)
{
    size_t                         size;
    ngx_queue_t                   *q;
    ngx_rbtree_node_t             *node;
    ngx_http_bedrock_zone_sh_t    *sh;
    ngx_http_bedrock_zone_node_t  *bn;

    sh = zone->sh;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_bedrock_zone_node_t, data)
           + key->len;

    ngx_http_bedrock_zone_expire(zone, now);

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);

        if (node != NULL) {
            break;
        }

        if (ngx_queue_empty(&sh->queue)) {
            return NULL;
        }

        q = ngx_queue_last(&sh->queue);
        bn = ngx_queue_data(q, ngx_http_bedrock_zone_node_t, queue);

        ngx_http_bedrock_zone_delete(zone, bn);

        (*evicted)++;
    }

    node->key = hash;

    bn = (ngx_http_bedrock_zone_node_t *) &node->color;

    ngx_memzero(&bn->queue,
                offsetof(ngx_http_bedrock_zone_node_t, data)
                - offsetof(ngx_http_bedrock_zone_node_t, queue));

    bn->len = (u_short) key->len;
    bn->last = now;
    bn->cooldown = now;
    bn->tokens = (int64_t) zone->tpm * NGX_HTTP_BEDROCK_ZONE_UNIT;
    bn->requests = (int64_t) zone->rpm * NGX_HTTP_BEDROCK_ZONE_UNIT;

    ngx_memcpy(bn->data, key->data, key->len);

    ngx_rbtree_insert(&sh->rbtree, node);
    ngx_queue_insert_head(&sh->queue, &bn->queue);

    sh->nodes++;
    sh->key_bytes += key->len;

    return bn;
}


/* drops one or two idle keys whose buckets are full again */

static void
ngx_http_bedrock_zone_expire(ngx_http_bedrock_zone_t *zone, ngx_msec_t now)
{
    int64_t                        tokens, requests;
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_bedrock_zone_node_t  *bn;

    for (n = 0; n < 2; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);
        bn = ngx_queue_data(q, ngx_http_bedrock_zone_node_t, queue);

        if ((ngx_msec_int_t) (bn->cooldown - now) > 0) {
            return;
        }

        tokens = bn->tokens;
        requests = bn->requests;

        ngx_http_bedrock_zone_refill(zone, bn, now, &tokens, &requests);

        if (tokens < (int64_t) zone->tpm * NGX_HTTP_BEDROCK_ZONE_UNIT
            || requests < (int64_t) zone->rpm * NGX_HTTP_BEDROCK_ZONE_UNIT)
        {
            return;
        }

        ngx_http_bedrock_zone_delete(zone, bn);
    }
}


static void
ngx_http_bedrock_zone_delete(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *bn)
{
    ngx_rbtree_node_t  *node;

    ngx_queue_remove(&bn->queue);

    node = (ngx_rbtree_node_t *)
               ((u_char *) bn - offsetof(ngx_rbtree_node_t, color));

    ngx_rbtree_delete(&zone->sh->rbtree, node);

    zone->sh->nodes--;
    zone->sh->key_bytes -= bn->len;

    ngx_slab_free_locked(zone->shpool, node);
}


/*
 * The levels of a key as of now, into *tokens and *requests: the node's
 * own levels to bring them up to date, or copies to look at them.  Clock
 * differences are clamped as limit_req clamps them.
 */

static void
ngx_http_bedrock_zone_refill(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node, ngx_msec_t now, int64_t *tokens,
    int64_t *requests)
{
    int64_t         max;
    ngx_msec_int_t  ms;

    ms = (ngx_msec_int_t) (now - node->last);

    if (ms < -60000) {
        ms = 1;

    } else if (ms < 0) {
        ms = 0;
    }

    /* a day refills any bucket; the products stay inside int64_t */

    if (ms > 86400000) {
        ms = 86400000;
    }

    max = (int64_t) zone->tpm * NGX_HTTP_BEDROCK_ZONE_UNIT;

    if (*tokens < max) {
        *tokens += (int64_t) zone->tpm * ms;
    }

    if (*tokens > max) {
        *tokens = max;
    }

    max = (int64_t) zone->rpm * NGX_HTTP_BEDROCK_ZONE_UNIT;

    if (*requests < max) {
        *requests += (int64_t) zone->rpm * ms;
    }

    if (*requests > max) {
        *requests = max;
    }

    if (tokens == &node->tokens && ms) {
        node->last = now;
    }
}


/* gives back (or charges, when negative) tokens and requests */

static void
ngx_http_bedrock_zone_add(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node, int64_t tokens, int64_t requests)
{
    int64_t  max;

    ngx_http_bedrock_zone_refill(zone, node, ngx_current_msec, &node->tokens,
                                 &node->requests);

    max = (int64_t) zone->tpm * NGX_HTTP_BEDROCK_ZONE_UNIT;

    node->tokens += tokens * NGX_HTTP_BEDROCK_ZONE_UNIT;

    if (node->tokens > max) {
        node->tokens = max;
    }

    max = (int64_t) zone->rpm * NGX_HTTP_BEDROCK_ZONE_UNIT;

    node->requests += requests * NGX_HTTP_BEDROCK_ZONE_UNIT;

    if (node->requests > max) {
        node->requests = max;
    }
}


/*
 * How long until a reservation of tokens and requests is covered, the
 * buckets' levels being t and q with it taken, or until the key's
 * cooldown ends if that is later; res says which one sets the time.
 */

static ngx_msec_t
ngx_http_bedrock_zone_lack(ngx_http_bedrock_zone_t *zone,
    ngx_http_bedrock_zone_node_t *node, int64_t t, int64_t q,
    uint64_t tokens, ngx_uint_t requests, ngx_msec_t now,
    ngx_http_bedrock_zone_result_t *res)
{
    ngx_msec_t      wait, w;
    ngx_msec_int_t  cool;

    wait = ngx_http_bedrock_zone_wait(t, zone->tpm, tokens, 1);

    if (zone->rpm) {
        w = ngx_http_bedrock_zone_wait(q, zone->rpm, requests, 0);

        if (w > wait) {
            wait = w;
            res->requests = 1;
        }
    }

    cool = (ngx_msec_int_t) (node->cooldown - now);

    if (cool > 0 && (ngx_msec_t) cool >= wait) {
        wait = cool;
        res->requests = 0;
        res->cooling = 1;
    }

    return wait;
}


/*
 * How long a bucket at level (after the reservation of cost) takes to
 * cover it, with the headroom to spare if asked: a debt is repaid at rate
 * units a millisecond.  The headroom never makes the bucket need more
 * than its capacity, which it could never hold.  Request buckets go
 * without: their counts are small whole numbers that a client expects
 * to fit exactly.
 */

static ngx_msec_t
ngx_http_bedrock_zone_wait(int64_t level, uint64_t rate, uint64_t cost,
    ngx_uint_t headroom)
{
    int64_t  spare, room;

    if (headroom) {
        spare = (int64_t) rate * NGX_HTTP_BEDROCK_ZONE_HEADROOM;
        room = ((int64_t) rate - (int64_t) cost) * NGX_HTTP_BEDROCK_ZONE_UNIT;

        level -= ngx_min(spare, ngx_max(room, 0));
    }

    if (level >= 0) {
        return 0;
    }

    return (ngx_msec_t) ((-level + (int64_t) rate - 1) / (int64_t) rate);
}


ngx_int_t
ngx_http_bedrock_zone_walk(ngx_pool_t *pool, ngx_uint_t max_keys,
    ngx_http_bedrock_zone_walk_pt handler, void *data)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_bedrock_zone_stats_t   zs;

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

        if (shm_zone[i].tag != &ngx_http_bedrock_module
            || shm_zone[i].init != ngx_http_bedrock_zone_init)
        {
            continue;
        }

        if (ngx_http_bedrock_zone_snapshot(&shm_zone[i], pool, max_keys, &zs)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        rc = handler(&zs, data);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/*
 * Sized under the lock, allocated outside it, filled under it again: keys
 * that arrived in between are left out when they do not fit.
 */

static ngx_int_t
ngx_http_bedrock_zone_snapshot(ngx_shm_zone_t *shm_zone, ngx_pool_t *pool,
    ngx_uint_t max_keys, ngx_http_bedrock_zone_stats_t *zs)
{
    u_char                             *p, *last;
    size_t                              bytes;
    ngx_uint_t                          n, pages;
    ngx_msec_t                          now;
    ngx_queue_t                        *q;
    ngx_msec_int_t                      ms;
    ngx_http_bedrock_zone_t            *zone;
    ngx_http_bedrock_zone_sh_t         *sh;
    ngx_http_bedrock_zone_node_t       *bn;
    ngx_http_bedrock_zone_key_stats_t  *ks;

    zone = shm_zone->data;
    sh = zone->sh;

    ngx_memzero(zs, sizeof(ngx_http_bedrock_zone_stats_t));

    zs->name = shm_zone->shm.name;
    zs->key = zone->key.value;
    zs->size = shm_zone->shm.size;
    zs->tpm = zone->tpm;
    zs->rpm = zone->rpm;

    ngx_shmtx_lock(&zone->shpool->mutex);
    n = ngx_min(sh->nodes, max_keys);
    bytes = sh->key_bytes;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (n) {
        zs->keys = ngx_pcalloc(pool,
                         n * sizeof(ngx_http_bedrock_zone_key_stats_t));
        p = ngx_pnalloc(pool, bytes + 1);

        if (zs->keys == NULL || p == NULL) {
            return NGX_ERROR;
        }

    } else {
        p = NULL;
    }

    last = p ? p + bytes : NULL;
    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    pages = (zone->shpool->end - zone->shpool->start) / ngx_pagesize;
    zs->used = (pages - ngx_min(pages, zone->shpool->pfree)) * ngx_pagesize;

    zs->passed = sh->passed;
    zs->delayed = sh->delayed;
    zs->rejected = sh->rejected;
    zs->reserved = sh->reserved;
    zs->settled = sh->settled;
    zs->input = sh->input;
    zs->output = sh->output;
    zs->waits = sh->waits;
    zs->wait_sum = sh->wait_sum;
    zs->wait_max = sh->wait_max;
    zs->evicted = sh->evicted;
    zs->nkeys = sh->nodes;

    ngx_memcpy(zs->family, sh->family, sizeof(zs->family));

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue) && zs->nshown < n;
         q = ngx_queue_next(q))
    {
        bn = ngx_queue_data(q, ngx_http_bedrock_zone_node_t, queue);

        if ((size_t) (last - p) < bn->len) {
            break;
        }

        ks = &zs->keys[zs->nshown++];

        ks->key.data = p;
        ks->key.len = bn->len;
        p = ngx_cpymem(p, bn->data, bn->len);

        ks->tokens = bn->tokens;
        ks->requests = bn->requests;
        ngx_http_bedrock_zone_refill(zone, bn, now, &ks->tokens,
                                     &ks->requests);

        ks->tokens /= NGX_HTTP_BEDROCK_ZONE_UNIT;
        ks->requests /= NGX_HTTP_BEDROCK_ZONE_UNIT;

        ms = (ngx_msec_int_t) (bn->cooldown - now);
        ks->cooldown = (ms > 0) ? (ngx_msec_t) ms : 0;

        ms = (ngx_msec_int_t) (now - bn->last);
        ks->idle = (ms > 0) ? (ngx_msec_t) ms : 0;

        ks->passed = bn->passed;
        ks->delayed = bn->delayed;
        ks->rejected = bn->rejected;
        ks->reserved = bn->reserved;
        ks->settled = bn->settled;
        ks->input = bn->input;
        ks->output = bn->output;
        ks->waits = bn->waits;
        ks->wait_sum = bn->wait_sum;
        ks->wait_max = bn->wait_max;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}
