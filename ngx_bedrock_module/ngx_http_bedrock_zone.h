/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The shared zone of bedrock_limit_zone: one token bucket and one request
 * bucket per key, in a slab pool that every worker maps.  Keys live in an
 * rbtree by hash with an LRU queue beside it, as limit_req keeps them.
 *
 * A bucket holds at most one minute's worth (tpm tokens, rpm requests)
 * and refills continuously at tpm/60 and rpm/60 per second.  A level may
 * go below zero: a request that has to wait takes its reservation at once
 * and waits until the debt is repaid, so requests are served first come,
 * first served, without any list of waiters in shared memory.
 *
 * A waiting request keeps a ticket: how much had been reserved, and
 * withdrawn, under the key when it reserved.  With the key's totals of
 * now, that tells what it still lacks once the reservations made after it
 * are set aside: it goes as soon as that is covered, sooner than its
 * first estimate when requests before it settled below what they had
 * reserved.  A withdrawal (a waiting request that leaves) is counted as
 * if it had been behind the ticket, which is never wrong and sometimes
 * late: the tokens it frees may belong to those before it.
 *
 * Levels are counted in 1/60000 of a token (of a request): a bucket of
 * tpm tokens per minute then refills by exactly tpm units a millisecond.
 *
 * A request is admitted when its token bucket covers it with 100 ms of
 * refill to spare (less when that would need more than a minute's worth):
 * the bucket of Bedrock starts to refill when the first request reaches
 * it, a little after this one, and each request takes a little time to
 * get there.  The headroom is an offset, not a rate: it costs nothing in
 * the long run.
 */


#ifndef _NGX_HTTP_BEDROCK_ZONE_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_bedrock_model.h"


#define NGX_HTTP_BEDROCK_ZONE_UNIT      60000

/* the largest tpm and rpm: keeps every level product inside int64_t */
#define NGX_HTTP_BEDROCK_ZONE_MAX_RATE  1000000000

/* how the learnt ratios are kept: real / estimated input, times 1000 */
#define NGX_HTTP_BEDROCK_RATIO_ONE      1000


/* what ngx_http_bedrock_zone_update() does with a reservation */
#define NGX_HTTP_BEDROCK_ZONE_REFUND    1  /* give back: it was used */
#define NGX_HTTP_BEDROCK_ZONE_WITHDRAW  2  /* give back: it waited */
#define NGX_HTTP_BEDROCK_ZONE_ROLLBACK  3  /* withdraw and uncount */
#define NGX_HTTP_BEDROCK_ZONE_REJECT    4  /* the same, count a rejection */
#define NGX_HTTP_BEDROCK_ZONE_SETTLE    5  /* replace it by the real cost */


/* where a reservation stands in its key's buckets */
typedef struct {
    uint64_t                     cost;       /* its own tokens */
    uint64_t                     tokens;     /* reserved, it included */
    uint64_t                     withdrawn;  /* tokens, before it */
    uint64_t                     requests;
    uint64_t                     requests_withdrawn;
} ngx_http_bedrock_zone_ticket_t;


/* the outcome of ngx_http_bedrock_zone_reserve() and _check() */
typedef struct {
    ngx_msec_t                   wait;       /* until it is covered */
    ngx_uint_t                   evicted;    /* keys to report evicted */
    ngx_http_bedrock_zone_ticket_t  ticket;
    unsigned                     requests:1; /* the wait is from rpm */
    unsigned                     cooling:1;  /* ... from a cooldown */
} ngx_http_bedrock_zone_result_t;


/* a snapshot of one key, for the status page */
typedef struct {
    ngx_str_t                    key;
    int64_t                      tokens;     /* available now; < 0: debt */
    int64_t                      requests;   /* the same, if rpm is set */
    ngx_msec_t                   cooldown;   /* still to run, ms */
    ngx_msec_t                   idle;       /* since it was last used */
    uint64_t                     passed;     /* admitted at once */
    uint64_t                     delayed;    /* admitted after a wait */
    uint64_t                     rejected;
    uint64_t                     reserved;   /* tokens, in all */
    uint64_t                     settled;    /* tokens, in all */
    uint64_t                     input;      /* of the settled answers */
    uint64_t                     output;
    uint64_t                     waits;      /* admitted after a wait */
    uint64_t                     wait_sum;   /* ms */
    ngx_msec_t                   wait_max;
} ngx_http_bedrock_zone_key_stats_t;


/*
 * What the zone learnt of one model family's real input: the ratio is
 * that of the recent sums, where each answer weighs as much as its tokens
 * and the sums lose an eighth of their weight at each answer.
 */
typedef struct {
    uint64_t                     ratio;      /* NGX_HTTP_BEDROCK_RATIO_ONE */
    uint64_t                     samples;
    uint64_t                     estimated;  /* input tokens, in all */
    uint64_t                     real;       /* input tokens, in all */
    uint64_t                     recent_estimated;
    uint64_t                     recent_real;
} ngx_http_bedrock_zone_family_stats_t;


/* a snapshot of one zone: counters, learnt ratios and its keys */
typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    key;        /* as configured */
    size_t                       size;
    size_t                       used;       /* bytes: the pages in use */
    uint64_t                     tpm;
    uint64_t                     rpm;        /* 0: not limited */

    uint64_t                     passed;
    uint64_t                     delayed;
    uint64_t                     rejected;
    uint64_t                     reserved;   /* tokens, in all */
    uint64_t                     settled;    /* tokens, in all */
    uint64_t                     input;      /* of the settled answers */
    uint64_t                     output;
    uint64_t                     waits;      /* admitted after a wait */
    uint64_t                     wait_sum;   /* ms */
    ngx_msec_t                   wait_max;
    uint64_t                     evicted;    /* keys, in all */

    ngx_uint_t                   nkeys;      /* in the zone */
    ngx_uint_t                   nshown;     /* in keys[] */
    ngx_http_bedrock_zone_key_stats_t     *keys;  /* most recent first */

    ngx_http_bedrock_zone_family_stats_t   family[NGX_BEDROCK_FAMILY_LAST];
} ngx_http_bedrock_zone_stats_t;


typedef ngx_int_t (*ngx_http_bedrock_zone_walk_pt)(
    ngx_http_bedrock_zone_stats_t *zs, void *data);


/* bedrock_limit_zone KEY zone=NAME:SIZE tpm=N [rpm=N]; */
char *ngx_http_bedrock_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* The zone that bedrock_limit zone=NAME refers to, declared or not yet. */
ngx_shm_zone_t *ngx_http_bedrock_zone_get(ngx_conf_t *cf, ngx_str_t *name);

/* NGX_OK when the zone was declared with bedrock_limit_zone. */
ngx_int_t ngx_http_bedrock_zone_declared(ngx_shm_zone_t *shm_zone);

uint64_t ngx_http_bedrock_zone_tpm(ngx_shm_zone_t *shm_zone);
uint64_t ngx_http_bedrock_zone_rpm(ngx_shm_zone_t *shm_zone);

/*
 * The request's key in the zone.  An empty key means that the zone does
 * not limit the request.  Returns NGX_OK, NGX_DECLINED (the key is over
 * 65535 bytes: logged, not limited) or NGX_ERROR.
 */
ngx_int_t ngx_http_bedrock_zone_key(ngx_http_request_t *r,
    ngx_shm_zone_t *shm_zone, ngx_str_t *key, uint32_t *hash);

/*
 * Reserves tokens and requests (0 or 1) under the key, creating it if
 * need be (evicting the least recently used keys when the zone is full).
 * Returns NGX_OK when reserved, with res->wait the time until it is
 * covered if nothing else is given back meanwhile, and res->ticket;
 * NGX_BUSY when that time would be over max_wait, nothing then being
 * reserved; NGX_DECLINED when probe is set: only res->wait is filled;
 * NGX_ERROR when no memory could be found for the key (logged).
 */
ngx_int_t ngx_http_bedrock_zone_reserve(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, uint32_t hash, uint64_t tokens, ngx_uint_t requests,
    ngx_msec_t max_wait, ngx_uint_t probe,
    ngx_http_bedrock_zone_result_t *res);

/*
 * Whether the reservation of the ticket is covered now: NGX_OK, or
 * NGX_AGAIN with res->wait the time it still lacks (a cooldown of the
 * key included), or NGX_DECLINED when the key was evicted meanwhile: the
 * caller then keeps to the wait it was first told.
 */
ngx_int_t ngx_http_bedrock_zone_check(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, uint32_t hash, ngx_http_bedrock_zone_ticket_t *ticket,
    ngx_http_bedrock_zone_result_t *res);

/* what a request cost in the end, for ngx_http_bedrock_zone_update() */
typedef struct {
    uint64_t                     real;       /* quota tokens */
    uint64_t                     input;      /* as Bedrock counted them */
    uint64_t                     output;
} ngx_http_bedrock_zone_usage_t;

/*
 * Ends a reservation of tokens and requests (see NGX_HTTP_BEDROCK_ZONE_*):
 * with SETTLE, the bucket gets back reserved - usage->real tokens, or is
 * charged the difference (usage is NULL for the other operations).  wait
 * says whether the reservation had to wait.  A key that was evicted
 * meanwhile is left alone.
 */
void ngx_http_bedrock_zone_update(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_uint_t op, uint64_t reserved, ngx_uint_t requests,
    ngx_http_bedrock_zone_usage_t *usage, ngx_msec_t wait);

/*
 * A request admitted under this key after waiting ms for its reservation
 * to be covered: counted in the key's and the zone's wait statistics.
 */
void ngx_http_bedrock_zone_waited(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_msec_t ms);

/*
 * Bedrock throttled this key although the zone had room: nothing is
 * admitted under the key for ms.
 */
void ngx_http_bedrock_zone_cooldown(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    uint32_t hash, ngx_msec_t ms);

/* The family's ratio of real to estimated input, times 1000. */
uint64_t ngx_http_bedrock_zone_ratio(ngx_shm_zone_t *shm_zone,
    ngx_bedrock_family_e family);

/* Learns from one answer: the estimated and the real input tokens. */
void ngx_http_bedrock_zone_learn(ngx_shm_zone_t *shm_zone,
    ngx_bedrock_family_e family, uint64_t estimated, uint64_t real);

/*
 * For the status page: calls handler once for every bedrock_limit_zone
 * of the running cycle, with a snapshot of its counters, its learnt
 * ratios and its keys, the most recently used first, at most max_keys of
 * them.  The snapshot is allocated from pool and taken under the zone's
 * lock, which is not held while handler runs; handler may allocate and
 * may stop the walk by returning anything but NGX_OK, which the walk then
 * returns.  The levels are as of now, with the refill up to now counted.
 */
ngx_int_t ngx_http_bedrock_zone_walk(ngx_pool_t *pool, ngx_uint_t max_keys,
    ngx_http_bedrock_zone_walk_pt handler, void *data);


#endif /* _NGX_HTTP_BEDROCK_ZONE_H_INCLUDED_ */
