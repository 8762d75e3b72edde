/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Gateway-wide counters for the status page, in a small shared zone of
 * their own that every worker adds to.  They are fed once per request, by
 * a log-phase handler that reads what the request did from its context
 * (registered only where bedrock_pass is used), so that the request path
 * itself has no hooks.  They survive a reload, as the limiter's zones do.
 */


#ifndef _NGX_HTTP_BEDROCK_STATS_H_INCLUDED_
#define _NGX_HTTP_BEDROCK_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_bedrock_model.h"
#include "ngx_http_bedrock_limit.h"


/* the error types counted apart, as Bedrock and bedrock_retry_on name them */
typedef enum {
    NGX_HTTP_BEDROCK_ERR_THROTTLING = 0,
    NGX_HTTP_BEDROCK_ERR_NOT_READY,
    NGX_HTTP_BEDROCK_ERR_UNAVAILABLE,
    NGX_HTTP_BEDROCK_ERR_INTERNAL,
    NGX_HTTP_BEDROCK_ERR_MODEL_TIMEOUT,
    NGX_HTTP_BEDROCK_ERR_MODEL_ERROR,
    NGX_HTTP_BEDROCK_ERR_MODEL_STREAM_ERROR,
    NGX_HTTP_BEDROCK_ERR_VALIDATION,
    NGX_HTTP_BEDROCK_ERR_ACCESS_DENIED,
    NGX_HTTP_BEDROCK_ERR_NOT_FOUND,
    NGX_HTTP_BEDROCK_ERR_QUOTA_EXCEEDED,
    NGX_HTTP_BEDROCK_ERR_CONNECT,            /* "error": no answer */
    NGX_HTTP_BEDROCK_ERR_TIMEOUT,            /* "timeout" */
    NGX_HTTP_BEDROCK_ERR_OTHER,
    NGX_HTTP_BEDROCK_ERR_LAST
} ngx_http_bedrock_error_e;


/* answers by status class: 1xx ... 5xx, then anything else */
#define NGX_HTTP_BEDROCK_STATS_CLASSES  6

/* upper bounds of the wait histogram, ms; the last bucket is +Inf */
#define NGX_HTTP_BEDROCK_STATS_WAIT_BUCKETS                                   \
    { 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000 }
#define NGX_HTTP_BEDROCK_STATS_NWAIT    12


/* per model family */
typedef struct {
    ngx_atomic_t                 requests;
    ngx_atomic_t                 input_estimated;  /* of all priced */
    ngx_atomic_t                 usage;      /* answers with real usage */
    ngx_atomic_t                 usage_estimated;  /* their estimate */
    ngx_atomic_t                 input;      /* real, as Bedrock counted */
    ngx_atomic_t                 output;
} ngx_http_bedrock_stats_family_t;


/*
 * The shared counters.  Each field is only ever added to (max with a
 * compare-and-swap); readers see each one whole, not all of them at one
 * instant, as with stub_status.
 */
typedef struct {
    ngx_atomic_t                 layout;
    ngx_atomic_t                 started;    /* unix time, seconds */
    ngx_atomic_t                 generation; /* configurations loaded */

    ngx_atomic_t                 requests;
    ngx_atomic_t                 responses[NGX_HTTP_BEDROCK_STATS_CLASSES];
    ngx_atomic_t                 streams;    /* answered with a stream */

    ngx_atomic_t                 attempts;
    ngx_atomic_t                 retries;
    ngx_atomic_t                 failovers;
    ngx_atomic_t                 retry_wait;         /* ms */
    ngx_atomic_t                 errors[NGX_HTTP_BEDROCK_ERR_LAST];
    ngx_atomic_t                 exceptions[NGX_HTTP_BEDROCK_ERR_LAST];

    ngx_atomic_t                 compressed;         /* requests */
    ngx_atomic_t                 compressed_from;    /* input tokens */
    ngx_atomic_t                 compressed_to;

    ngx_atomic_t                 passed;     /* by every zone at once */
    ngx_atomic_t                 delayed;
    ngx_atomic_t                 rejected;
    ngx_atomic_t                 waits;      /* requests that waited */
    ngx_atomic_t                 wait_sum;   /* ms */
    ngx_atomic_t                 wait_max;   /* ms */
    ngx_atomic_t                 wait_buckets[NGX_HTTP_BEDROCK_STATS_NWAIT];

    ngx_http_bedrock_stats_family_t  family[NGX_BEDROCK_FAMILY_LAST];
} ngx_http_bedrock_stats_t;


extern ngx_str_t         ngx_http_bedrock_stats_error_names[];
extern const ngx_msec_t  ngx_http_bedrock_stats_wait_bounds[];


/*
 * Called from the module's postconfiguration: where bedrock_pass is used,
 * declares the counters' zone and registers the log-phase handler.
 */
ngx_int_t ngx_http_bedrock_stats_init(ngx_conf_t *cf);

/* Declares the counters' zone (bedrock_status needs it too). */
ngx_int_t ngx_http_bedrock_stats_add_zone(ngx_conf_t *cf);

/* The counters of the running configuration, or NULL if it has none. */
ngx_http_bedrock_stats_t *ngx_http_bedrock_stats_get(void);


#endif /* _NGX_HTTP_BEDROCK_STATS_H_INCLUDED_ */
