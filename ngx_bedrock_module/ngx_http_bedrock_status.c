/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * bedrock_status: one snapshot of the gateway's counters (a zone of their
 * own, ngx_http_bedrock_stats.c) and of every bedrock_limit_zone (through
 * ngx_http_bedrock_zone_walk()), rendered as JSON or as Prometheus text;
 * or a dashboard page that polls the JSON.  The view is chosen by
 * ?format=json|prometheus|html, else by the Accept header, else JSON.
 *
 * A zone may hold many thousands of keys: each view shows the most active
 * ones (?keys=N, 10 by default), and adds up the rest, the evicted keys
 * included, as one "other" key.  That keeps Prometheus' label set bounded,
 * and the sum over the keys of a zone equal to the zone's own totals.
 */


#include "ngx_http_bedrock_module.h"
#include "ngx_http_bedrock_status.h"


#define NGX_HTTP_BEDROCK_STATUS_JSON        0
#define NGX_HTTP_BEDROCK_STATUS_PROMETHEUS  1
#define NGX_HTTP_BEDROCK_STATUS_HTML        2

#define NGX_HTTP_BEDROCK_STATUS_KEYS        10
#define NGX_HTTP_BEDROCK_STATUS_MAX_KEYS    1000

/* the most recently used keys of a zone that the ranking looks at */
#define NGX_HTTP_BEDROCK_STATUS_SCAN        4096

#define NGX_HTTP_BEDROCK_STATUS_CHUNK       8192

/* room for one line of numbers; strings are measured apart */
#define NGX_HTTP_BEDROCK_STATUS_LINE        1024


typedef struct {
    ngx_http_bedrock_zone_stats_t        zs;
    ngx_http_bedrock_zone_key_stats_t  **top;    /* most active first */
    ngx_uint_t                           ntop;

    /* the keys not shown, evicted ones included */
    ngx_uint_t                           other_keys;
    uint64_t                             other_passed;
    uint64_t                             other_delayed;
    uint64_t                             other_rejected;
    uint64_t                             other_reserved;
    uint64_t                             other_settled;
    uint64_t                             other_input;
    uint64_t                             other_output;
    uint64_t                             other_waits;
    uint64_t                             other_wait_sum;

} ngx_http_bedrock_status_zone_t;


typedef struct {
    ngx_pool_t                          *pool;
    ngx_uint_t                           max_keys;
    uint64_t                             now;    /* ms since the epoch */
    ngx_http_bedrock_stats_t             st;     /* a copy */
    ngx_array_t                          zones;  /* _status_zone_t */
    unsigned                             counted:1;  /* st is real */
} ngx_http_bedrock_status_snap_t;


typedef struct {
    ngx_pool_t                          *pool;
    ngx_chain_t                         *out;
    ngx_chain_t                        **last;
    ngx_buf_t                           *buf;
    off_t                                size;
    ngx_uint_t                           failed;
} ngx_http_bedrock_status_out_t;


typedef struct {
    ngx_str_t                            type;
    ngx_uint_t                           view;
} ngx_http_bedrock_status_type_t;


/* a per-key counter: its field in a key's snapshot and in "other" */
typedef struct {
    const char                          *name;
    const char                          *help;
    size_t                               field;
    size_t                               other;
    ngx_uint_t                           ms;     /* written in seconds */
} ngx_http_bedrock_status_counter_t;


static ngx_int_t ngx_http_bedrock_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_status_view(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_status_accept(ngx_str_t *accept);
static ngx_uint_t ngx_http_bedrock_status_max_keys(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_status_snapshot(ngx_http_request_t *r,
    ngx_http_bedrock_status_snap_t *snap);
static ngx_int_t ngx_http_bedrock_status_zone(
    ngx_http_bedrock_zone_stats_t *zs, void *data);
static int ngx_libc_cdecl ngx_http_bedrock_status_cmp_keys(const void *one,
    const void *two);
static void ngx_http_bedrock_status_json(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap);
static void ngx_http_bedrock_status_json_zone(
    ngx_http_bedrock_status_out_t *o, ngx_http_bedrock_status_snap_t *snap,
    ngx_http_bedrock_status_zone_t *z);
static void ngx_http_bedrock_status_prometheus(
    ngx_http_bedrock_status_out_t *o, ngx_http_bedrock_status_snap_t *snap);
static void ngx_http_bedrock_status_prometheus_zones(
    ngx_http_bedrock_status_out_t *o, ngx_http_bedrock_status_snap_t *snap);
static void ngx_http_bedrock_status_prometheus_keys(
    ngx_http_bedrock_status_out_t *o, ngx_http_bedrock_status_snap_t *snap);
static void ngx_http_bedrock_status_key_counter(
    ngx_http_bedrock_status_out_t *o, ngx_http_bedrock_status_snap_t *snap,
    ngx_http_bedrock_status_counter_t *c);
static void ngx_http_bedrock_status_metric(ngx_http_bedrock_status_out_t *o,
    const char *name, const char *type, const char *help);
static void ngx_http_bedrock_status_label(ngx_http_bedrock_status_out_t *o,
    const char *name, u_char *value, size_t len);
static void ngx_http_bedrock_status_key_labels(
    ngx_http_bedrock_status_out_t *o, const char *metric,
    ngx_http_bedrock_status_zone_t *z, ngx_str_t *key);
static void ngx_http_bedrock_status_string(ngx_http_bedrock_status_out_t *o,
    u_char *s, size_t len);
static size_t ngx_http_bedrock_status_utf8(u_char *p, u_char *last);
static void ngx_http_bedrock_status_printf(ngx_http_bedrock_status_out_t *o,
    const char *fmt, ...);
static u_char *ngx_http_bedrock_status_room(ngx_http_bedrock_status_out_t *o,
    size_t size);
static ngx_int_t ngx_http_bedrock_status_send(ngx_http_request_t *r,
    ngx_uint_t view, ngx_chain_t *out, off_t size);


static ngx_http_bedrock_status_type_t  ngx_http_bedrock_status_types[] = {
    { ngx_string("application/json"), NGX_HTTP_BEDROCK_STATUS_JSON },
    { ngx_string("application/openmetrics-text"),
      NGX_HTTP_BEDROCK_STATUS_PROMETHEUS },
    { ngx_string("text/plain"), NGX_HTTP_BEDROCK_STATUS_PROMETHEUS },
    { ngx_string("text/html"), NGX_HTTP_BEDROCK_STATUS_HTML },
    { ngx_string("application/xhtml+xml"), NGX_HTTP_BEDROCK_STATUS_HTML },
    { ngx_null_string, 0 }
};


static const char  *ngx_http_bedrock_status_classes[] = {
    "1xx", "2xx", "3xx", "4xx", "5xx", "other"
};


static ngx_http_bedrock_status_counter_t  ngx_http_bedrock_key_counters[] = {

    { "bedrock_key_reserved_tokens_total",
      "Tokens reserved by admitted requests (estimated input + max_tokens).",
      offsetof(ngx_http_bedrock_zone_key_stats_t, reserved),
      offsetof(ngx_http_bedrock_status_zone_t, other_reserved), 0 },

    { "bedrock_key_settled_tokens_total",
      "Quota tokens the answers cost (input + output x burndown).",
      offsetof(ngx_http_bedrock_zone_key_stats_t, settled),
      offsetof(ngx_http_bedrock_status_zone_t, other_settled), 0 },

    { "bedrock_key_input_tokens_total",
      "Input tokens of the answers settled under the key, as Bedrock "
      "counted them.",
      offsetof(ngx_http_bedrock_zone_key_stats_t, input),
      offsetof(ngx_http_bedrock_status_zone_t, other_input), 0 },

    { "bedrock_key_output_tokens_total",
      "Output tokens of the answers settled under the key, as Bedrock "
      "counted them (before burndown).",
      offsetof(ngx_http_bedrock_zone_key_stats_t, output),
      offsetof(ngx_http_bedrock_status_zone_t, other_output), 0 },

    { "bedrock_key_wait_seconds_total",
      "Time the requests admitted under the key after a wait waited.",
      offsetof(ngx_http_bedrock_zone_key_stats_t, wait_sum),
      offsetof(ngx_http_bedrock_status_zone_t, other_wait_sum), 1 },

    { "bedrock_key_waits_total",
      "Requests admitted under the key after a wait.",
      offsetof(ngx_http_bedrock_zone_key_stats_t, waits),
      offsetof(ngx_http_bedrock_status_zone_t, other_waits), 0 },

    { NULL, NULL, 0, 0, 0 }
};


static u_char *ngx_http_bedrock_status_page(size_t *len);


/* bedrock_status; */

char *
ngx_http_bedrock_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_bedrock_status_handler) {
        return "is duplicate";
    }

    clcf->handler = ngx_http_bedrock_status_handler;

    if (ngx_http_bedrock_stats_add_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_bedrock_status_handler(ngx_http_request_t *r)
{
    size_t                          len;
    ngx_int_t                       rc, view;
    ngx_buf_t                      *b;
    ngx_chain_t                     cl;
    ngx_http_bedrock_status_out_t   o;
    ngx_http_bedrock_status_snap_t  snap;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    view = ngx_http_bedrock_status_view(r);
    if (view == NGX_ERROR) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (view == NGX_HTTP_BEDROCK_STATUS_HTML) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = ngx_http_bedrock_status_page(&len);
        b->last = b->pos + len;
        b->memory = 1;

        cl.buf = b;
        cl.next = NULL;

        return ngx_http_bedrock_status_send(r, view, &cl, len);
    }

    if (ngx_http_bedrock_status_snapshot(r, &snap) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_http_bedrock_status_out_t));
    o.pool = r->pool;
    o.last = &o.out;

    if (view == NGX_HTTP_BEDROCK_STATUS_JSON) {
        ngx_http_bedrock_status_json(&o, &snap);

    } else {
        ngx_http_bedrock_status_prometheus(&o, &snap);
    }

    if (o.failed || o.out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_bedrock_status_send(r, view, o.out, o.size);
}


static ngx_int_t
ngx_http_bedrock_status_send(ngx_http_request_t *r, ngx_uint_t view,
    ngx_chain_t *out, off_t size)
{
    ngx_int_t         rc;
    ngx_chain_t      *cl;
    ngx_table_elt_t  *h;

    switch (view) {

    case NGX_HTTP_BEDROCK_STATUS_JSON:
        ngx_str_set(&r->headers_out.content_type, "application/json");
        break;

    case NGX_HTTP_BEDROCK_STATUS_PROMETHEUS:
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");
        break;

    default: /* NGX_HTTP_BEDROCK_STATUS_HTML */
        ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");

        /* the page loads nothing but the JSON of its own location */

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Content-Security-Policy");
        ngx_str_set(&h->value, "default-src 'none'; "
                               "script-src 'unsafe-inline'; "
                               "style-src 'unsafe-inline'; "
                               "connect-src 'self'; img-src data:; "
                               "base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'");
        break;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the same URL answers in three ways */

    h->hash = 1;
    ngx_str_set(&h->key, "Vary");
    ngx_str_set(&h->value, "Accept");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = size;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    for (cl = out; cl->next; cl = cl->next) {
        /* void */
    }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out);
}


/* ?format= first, then what the client accepts; NGX_ERROR: bad format */

static ngx_int_t
ngx_http_bedrock_status_view(ngx_http_request_t *r)
{
    ngx_str_t         format;
    ngx_table_elt_t  *h;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {

        if (format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0) {
            return NGX_HTTP_BEDROCK_STATUS_JSON;
        }

        if (format.len == 10
            && ngx_strncmp(format.data, "prometheus", 10) == 0)
        {
            return NGX_HTTP_BEDROCK_STATUS_PROMETHEUS;
        }

        if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
            return NGX_HTTP_BEDROCK_STATUS_HTML;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "bedrock: status format \"%V\" is not json, "
                      "prometheus or html", &format);

        return NGX_ERROR;
    }

    h = ngx_http_bedrock_header_in(r, "Accept");

    if (h != NULL) {
        return ngx_http_bedrock_status_accept(&h->value);
    }

    return NGX_HTTP_BEDROCK_STATUS_JSON;
}


/*
 * Each view gets the quality of the most specific media range that
 * matches one of its types (RFC 9110, 12.5.1); the best view wins, JSON
 * on a tie.  A browser asks for text/html first, Prometheus for
 * application/openmetrics-text or text/plain, curl for anything.
 */

static ngx_int_t
ngx_http_bedrock_status_accept(ngx_str_t *accept)
{
    u_char                          *p, *last, *end, *slash, *param, *v;
    size_t                           len;
    ngx_int_t                        q, spec, best, view;
    ngx_uint_t                       i;
    ngx_http_bedrock_status_type_t  *t;
    ngx_int_t                        quality[5], specific[5], vq[3];

    for (i = 0; i < 5; i++) {
        quality[i] = 0;
        specific[i] = -1;
    }

    p = accept->data;
    last = p + accept->len;

    while (p < last) {

        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        param = ngx_strlchr(p, end, ';');
        len = (param ? param : end) - p;

        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }

        q = 1000;

        while (param && param < end) {
            v = param + 1;

            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }

            param = ngx_strlchr(v, end, ';');

            if (end - v > 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                q = ngx_atofp(v + 2, (param ? param : end) - (v + 2), 3);

                if (q == NGX_ERROR || q > 1000) {
                    q = 0;
                }
            }
        }

        slash = ngx_strlchr(p, p + len, '/');

        for (t = ngx_http_bedrock_status_types, i = 0; t->type.len; t++, i++) {

            if (len == t->type.len
                && ngx_strncasecmp(p, t->type.data, len) == 0)
            {
                spec = 2;

            } else if (len == 3 && ngx_strncmp(p, "*/*", 3) == 0) {
                spec = 0;

            } else if (slash && p + len - slash == 2 && slash[1] == '*'
                       && ngx_strncasecmp(p, t->type.data, slash - p + 1)
                          == 0)
            {
                spec = 1;

            } else {
                continue;
            }

            if (spec > specific[i]) {
                specific[i] = spec;
                quality[i] = q;
            }
        }

        p = end + 1;
    }

    vq[0] = vq[1] = vq[2] = 0;

    for (t = ngx_http_bedrock_status_types, i = 0; t->type.len; t++, i++) {
        if (quality[i] > vq[t->view]) {
            vq[t->view] = quality[i];
        }
    }

    view = NGX_HTTP_BEDROCK_STATUS_JSON;
    best = vq[view];

    for (i = 1; i < 3; i++) {
        if (vq[i] > best) {
            best = vq[i];
            view = i;
        }
    }

    return view;
}


static ngx_uint_t
ngx_http_bedrock_status_max_keys(ngx_http_request_t *r)
{
    ngx_int_t  n;
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) "keys", 4, &value) != NGX_OK) {
        return NGX_HTTP_BEDROCK_STATUS_KEYS;
    }

    n = ngx_atoi(value.data, value.len);

    if (n == NGX_ERROR) {
        return NGX_HTTP_BEDROCK_STATUS_KEYS;
    }

    return ngx_min((ngx_uint_t) n, NGX_HTTP_BEDROCK_STATUS_MAX_KEYS);
}


static ngx_int_t
ngx_http_bedrock_status_snapshot(ngx_http_request_t *r,
    ngx_http_bedrock_status_snap_t *snap)
{
    ngx_uint_t                 i, n;
    ngx_time_t                *tp;
    ngx_atomic_t              *src, *dst;
    ngx_http_bedrock_stats_t  *st;

    ngx_memzero(snap, sizeof(ngx_http_bedrock_status_snap_t));

    snap->pool = r->pool;
    snap->max_keys = ngx_http_bedrock_status_max_keys(r);

    tp = ngx_timeofday();
    snap->now = (uint64_t) tp->sec * 1000 + tp->msec;

    st = ngx_http_bedrock_stats_get();

    if (st) {
        /* made of ngx_atomic_t only: each is read whole */

        src = (ngx_atomic_t *) st;
        dst = (ngx_atomic_t *) &snap->st;
        n = sizeof(ngx_http_bedrock_stats_t) / sizeof(ngx_atomic_t);

        for (i = 0; i < n; i++) {
            dst[i] = src[i];
        }

        snap->counted = 1;

    } else {
        snap->st.started = tp->sec;
        snap->st.generation = 1;
    }

    if (ngx_array_init(&snap->zones, r->pool, 4,
                       sizeof(ngx_http_bedrock_status_zone_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_bedrock_zone_walk(r->pool, NGX_HTTP_BEDROCK_STATUS_SCAN,
                                      ngx_http_bedrock_status_zone, snap);
}


/* called by the zone walk with each zone's snapshot */

static ngx_int_t
ngx_http_bedrock_status_zone(ngx_http_bedrock_zone_stats_t *zs, void *data)
{
    ngx_http_bedrock_status_snap_t *snap = data;

    ngx_uint_t                           i, n;
    ngx_http_bedrock_status_zone_t      *z;
    ngx_http_bedrock_zone_key_stats_t   *ks;

    z = ngx_array_push(&snap->zones);
    if (z == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(z, sizeof(ngx_http_bedrock_status_zone_t));

    z->zs = *zs;

    if (zs->nshown) {
        z->top = ngx_palloc(snap->pool, zs->nshown
                            * sizeof(ngx_http_bedrock_zone_key_stats_t *));
        if (z->top == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * A key named "other" would clash with the aggregate: it is counted
     * in the aggregate instead.
     */

    n = 0;

    for (i = 0; i < zs->nshown; i++) {
        ks = &zs->keys[i];

        if (ks->key.len == 5 && ngx_strncmp(ks->key.data, "other", 5) == 0) {
            continue;
        }

        z->top[n++] = ks;
    }

    if (n > 1) {
        ngx_qsort(z->top, n, sizeof(ngx_http_bedrock_zone_key_stats_t *),
                  ngx_http_bedrock_status_cmp_keys);
    }

    z->ntop = ngx_min(n, snap->max_keys);

    z->other_keys = zs->nkeys - ngx_min(zs->nkeys, z->ntop);
    z->other_passed = zs->passed;
    z->other_delayed = zs->delayed;
    z->other_rejected = zs->rejected;
    z->other_reserved = zs->reserved;
    z->other_settled = zs->settled;
    z->other_input = zs->input;
    z->other_output = zs->output;
    z->other_waits = zs->waits;
    z->other_wait_sum = zs->wait_sum;

    for (i = 0; i < z->ntop; i++) {
        ks = z->top[i];

        z->other_passed -= ngx_min(z->other_passed, ks->passed);
        z->other_delayed -= ngx_min(z->other_delayed, ks->delayed);
        z->other_rejected -= ngx_min(z->other_rejected, ks->rejected);
        z->other_reserved -= ngx_min(z->other_reserved, ks->reserved);
        z->other_settled -= ngx_min(z->other_settled, ks->settled);
        z->other_input -= ngx_min(z->other_input, ks->input);
        z->other_output -= ngx_min(z->other_output, ks->output);
        z->other_waits -= ngx_min(z->other_waits, ks->waits);
        z->other_wait_sum -= ngx_min(z->other_wait_sum, ks->wait_sum);
    }


    return NGX_OK;
}


/*
 * The most requests first; among equals, the most recently used (the
 * walk gives the keys in that order, in one array).
 */

static int ngx_libc_cdecl
ngx_http_bedrock_status_cmp_keys(const void *one, const void *two)
{
    uint64_t                            a, b;
    ngx_http_bedrock_zone_key_stats_t  *k1, *k2;

    k1 = *(ngx_http_bedrock_zone_key_stats_t **) one;
    k2 = *(ngx_http_bedrock_zone_key_stats_t **) two;

    a = k1->passed + k1->delayed + k1->rejected;
    b = k2->passed + k2->delayed + k2->rejected;

    if (a != b) {
        return (a > b) ? -1 : 1;
    }

    return (k1 < k2) ? -1 : (k1 > k2);
}


static void
ngx_http_bedrock_status_json(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap)
{
    uint64_t                          n, uptime;
    ngx_uint_t                        i;
    ngx_http_bedrock_stats_t         *st;
    ngx_http_bedrock_status_zone_t   *z;
    ngx_http_bedrock_stats_family_t  *fs;

    st = &snap->st;

    uptime = snap->now / 1000 - ngx_min(snap->now / 1000, st->started);

    ngx_http_bedrock_status_printf(o,
        "{\"nginx_version\":\"" NGINX_VERSION "\","
        "\"pid\":%P,\"timestamp\":%uL,\"started\":%uA,\"uptime\":%uL,"
        "\"generation\":%uA,\"counted\":%s,",
        ngx_pid, snap->now, st->started, uptime, st->generation,
        snap->counted ? "true" : "false");

    ngx_http_bedrock_status_printf(o,
        "\"requests\":{\"total\":%uA", st->requests);

    for (i = 0; i < NGX_HTTP_BEDROCK_STATS_CLASSES; i++) {
        ngx_http_bedrock_status_printf(o, ",\"%s\":%uA",
                                       ngx_http_bedrock_status_classes[i],
                                       st->responses[i]);
    }

    ngx_http_bedrock_status_printf(o,
        ",\"streams\":%uA},"
        "\"upstream\":{\"attempts\":%uA,\"retries\":%uA,\"failovers\":%uA,"
        "\"retry_wait_ms\":%uA,\"errors\":{",
        st->streams, st->attempts, st->retries, st->failovers,
        st->retry_wait);

    for (i = 0; i < NGX_HTTP_BEDROCK_ERR_LAST; i++) {
        ngx_http_bedrock_status_printf(o, "%s\"%V\":%uA", i ? "," : "",
                                       &ngx_http_bedrock_stats_error_names[i],
                                       st->errors[i]);
    }

    ngx_http_bedrock_status_printf(o, "},\"stream_exceptions\":{");

    for (i = 0; i < NGX_HTTP_BEDROCK_ERR_LAST; i++) {
        ngx_http_bedrock_status_printf(o, "%s\"%V\":%uA", i ? "," : "",
                                       &ngx_http_bedrock_stats_error_names[i],
                                       st->exceptions[i]);
    }

    ngx_http_bedrock_status_printf(o,
        "}},\"compression\":{\"requests\":%uA,\"tokens_before\":%uA,"
        "\"tokens_after\":%uA,\"tokens_saved\":%uA},",
        st->compressed, st->compressed_from, st->compressed_to,
        st->compressed_from - ngx_min(st->compressed_from,
                                      st->compressed_to));

    ngx_http_bedrock_status_printf(o,
        "\"limit\":{\"passed\":%uA,\"delayed\":%uA,\"rejected\":%uA,"
        "\"wait\":{\"count\":%uA,\"sum_ms\":%uA,\"max_ms\":%uA,"
        "\"buckets_ms\":{",
        st->passed, st->delayed, st->rejected, st->waits, st->wait_sum,
        st->wait_max);

    /* cumulative, as Prometheus' le buckets */

    n = 0;

    for (i = 0; i < NGX_HTTP_BEDROCK_STATS_NWAIT; i++) {
        n += st->wait_buckets[i];

        if (i < NGX_HTTP_BEDROCK_STATS_NWAIT - 1) {
            ngx_http_bedrock_status_printf(o, "\"%M\":%uL,",
                                        ngx_http_bedrock_stats_wait_bounds[i],
                                        n);
        } else {
            ngx_http_bedrock_status_printf(o, "\"+Inf\":%uL", n);
        }
    }

    ngx_http_bedrock_status_printf(o, "}}},\"families\":{");

    n = 0;

    for (i = 0; i < NGX_BEDROCK_FAMILY_LAST; i++) {
        fs = &st->family[i];

        if (fs->requests == 0) {
            continue;
        }

        ngx_http_bedrock_status_printf(o,
            "%s\"%s\":{\"requests\":%uA,\"input_tokens_estimated\":%uA,"
            "\"usage_reports\":%uA,\"usage_input_tokens_estimated\":%uA,"
            "\"input_tokens\":%uA,\"output_tokens\":%uA}",
            n++ ? "," : "", ngx_bedrock_family_name(i), fs->requests,
            fs->input_estimated, fs->usage, fs->usage_estimated, fs->input,
            fs->output);
    }

    ngx_http_bedrock_status_printf(o, "},\"zones\":{");

    z = snap->zones.elts;

    for (i = 0; i < snap->zones.nelts; i++) {
        if (i) {
            ngx_http_bedrock_status_printf(o, ",");
        }

        ngx_http_bedrock_status_json_zone(o, snap, &z[i]);
    }

    ngx_http_bedrock_status_printf(o, "}}\n");
}


static void
ngx_http_bedrock_status_json_zone(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap, ngx_http_bedrock_status_zone_t *z)
{
    ngx_uint_t                             i, n;
    ngx_http_bedrock_zone_stats_t         *zs;
    ngx_http_bedrock_zone_key_stats_t     *ks;
    ngx_http_bedrock_zone_family_stats_t  *fs;

    zs = &z->zs;

    ngx_http_bedrock_status_string(o, zs->name.data, zs->name.len);
    ngx_http_bedrock_status_printf(o, ":{\"key\":");
    ngx_http_bedrock_status_string(o, zs->key.data, zs->key.len);

    ngx_http_bedrock_status_printf(o,
        ",\"tpm\":%uL,\"rpm\":%uL,\"memory\":{\"size\":%uz,\"used\":%uz},"
        "\"keys_total\":%ui,\"evicted\":%uL,\"passed\":%uL,\"delayed\":%uL,"
        "\"rejected\":%uL,\"wait\":{\"count\":%uL,\"sum_ms\":%uL,"
        "\"max_ms\":%M},\"tokens_reserved\":%uL,\"tokens_settled\":%uL,"
        "\"input_tokens_settled\":%uL,\"output_tokens_settled\":%uL,"
        "\"estimate_ratios\":{",
        zs->tpm, zs->rpm, zs->size, zs->used, zs->nkeys, zs->evicted,
        zs->passed, zs->delayed, zs->rejected, zs->waits, zs->wait_sum,
        zs->wait_max, zs->reserved, zs->settled, zs->input, zs->output);

    n = 0;

    for (i = 0; i < NGX_BEDROCK_FAMILY_LAST; i++) {
        fs = &zs->family[i];

        if (fs->samples == 0) {
            continue;
        }

        ngx_http_bedrock_status_printf(o,
            "%s\"%s\":{\"ratio\":%uL.%03uL,\"samples\":%uL,"
            "\"estimated\":%uL,\"real\":%uL}",
            n++ ? "," : "", ngx_bedrock_family_name(i),
            fs->ratio / NGX_HTTP_BEDROCK_RATIO_ONE,
            fs->ratio % NGX_HTTP_BEDROCK_RATIO_ONE, fs->samples,
            fs->estimated, fs->real);
    }

    ngx_http_bedrock_status_printf(o, "},\"keys\":[");

    for (i = 0; i < z->ntop; i++) {
        ks = z->top[i];

        ngx_http_bedrock_status_printf(o, "%s{\"key\":", i ? "," : "");
        ngx_http_bedrock_status_string(o, ks->key.data, ks->key.len);

        ngx_http_bedrock_status_printf(o,
            ",\"tokens_available\":%L,\"tokens_capacity\":%uL",
            ks->tokens, zs->tpm);

        if (zs->rpm) {
            ngx_http_bedrock_status_printf(o,
                ",\"requests_available\":%L,\"requests_capacity\":%uL",
                ks->requests, zs->rpm);

        } else {
            ngx_http_bedrock_status_printf(o,
                ",\"requests_available\":null,\"requests_capacity\":null");
        }

        ngx_http_bedrock_status_printf(o,
            ",\"cooldown_ms\":%M,\"idle_ms\":%M,\"passed\":%uL,"
            "\"delayed\":%uL,\"rejected\":%uL,\"wait\":{\"count\":%uL,"
            "\"sum_ms\":%uL,\"max_ms\":%M},\"tokens_reserved\":%uL,"
            "\"tokens_settled\":%uL,\"input_tokens_settled\":%uL,"
            "\"output_tokens_settled\":%uL}",
            ks->cooldown, ks->idle, ks->passed, ks->delayed, ks->rejected,
            ks->waits, ks->wait_sum, ks->wait_max, ks->reserved,
            ks->settled, ks->input, ks->output);
    }

    /* the longest wait of the keys not shown is not known apart */

    ngx_http_bedrock_status_printf(o,
        "],\"other\":{\"keys\":%ui,\"passed\":%uL,\"delayed\":%uL,"
        "\"rejected\":%uL,\"wait\":{\"count\":%uL,\"sum_ms\":%uL},"
        "\"tokens_reserved\":%uL,\"tokens_settled\":%uL,"
        "\"input_tokens_settled\":%uL,\"output_tokens_settled\":%uL}}",
        z->other_keys, z->other_passed, z->other_delayed, z->other_rejected,
        z->other_waits, z->other_wait_sum, z->other_reserved,
        z->other_settled, z->other_input, z->other_output);
}


/*
 * The Prometheus text format (version 0.0.4): every metric once, with
 * HELP and TYPE, its samples together; counters end in _total; times in
 * seconds; labels zone, key, family, error_type, code and status only.
 */

static void
ngx_http_bedrock_status_prometheus(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap)
{
    uint64_t                          n;
    ngx_uint_t                        i;
    ngx_msec_t                        ms;
    ngx_http_bedrock_stats_t         *st;
    ngx_http_bedrock_stats_family_t  *fs;

    st = &snap->st;

    ngx_http_bedrock_status_metric(o, "bedrock_start_time_seconds", "gauge",
        "When the gateway's counters started, in seconds since the epoch.");
    ngx_http_bedrock_status_printf(o, "bedrock_start_time_seconds %uA\n",
                                   st->started);

    ngx_http_bedrock_status_metric(o, "bedrock_config_generation", "gauge",
        "Configurations loaded since the counters started (1 + reloads).");
    ngx_http_bedrock_status_printf(o, "bedrock_config_generation %uA\n",
                                   st->generation);

    ngx_http_bedrock_status_metric(o, "bedrock_requests_total", "counter",
        "Requests through bedrock_pass, by the class of the status "
        "answered.");

    for (i = 0; i < NGX_HTTP_BEDROCK_STATS_CLASSES; i++) {
        ngx_http_bedrock_status_printf(o,
            "bedrock_requests_total{code=\"%s\"} %uA\n",
            ngx_http_bedrock_status_classes[i], st->responses[i]);
    }

    ngx_http_bedrock_status_metric(o, "bedrock_stream_responses_total",
        "counter", "Requests answered with an event stream.");
    ngx_http_bedrock_status_printf(o, "bedrock_stream_responses_total %uA\n",
                                   st->streams);

    ngx_http_bedrock_status_metric(o, "bedrock_upstream_attempts_total",
        "counter", "Attempts sent to Bedrock.");
    ngx_http_bedrock_status_printf(o, "bedrock_upstream_attempts_total %uA\n",
                                   st->attempts);

    ngx_http_bedrock_status_metric(o, "bedrock_upstream_retries_total",
        "counter", "Attempts after the first one of a request.");
    ngx_http_bedrock_status_printf(o, "bedrock_upstream_retries_total %uA\n",
                                   st->retries);

    ngx_http_bedrock_status_metric(o, "bedrock_upstream_failovers_total",
        "counter", "Retries sent to another bedrock_pass target.");
    ngx_http_bedrock_status_printf(o,
                                   "bedrock_upstream_failovers_total %uA\n",
                                   st->failovers);

    ngx_http_bedrock_status_metric(o,
        "bedrock_upstream_retry_wait_seconds_total", "counter",
        "Time spent backing off before retries.");
    ngx_http_bedrock_status_printf(o,
        "bedrock_upstream_retry_wait_seconds_total %uA.%03uA\n",
        st->retry_wait / 1000, st->retry_wait % 1000);

    ngx_http_bedrock_status_metric(o, "bedrock_upstream_errors_total",
        "counter", "Failed attempts, by the error type Bedrock answered "
        "(error: no answer, timeout: none in time).");

    for (i = 0; i < NGX_HTTP_BEDROCK_ERR_LAST; i++) {
        ngx_http_bedrock_status_printf(o,
            "bedrock_upstream_errors_total{error_type=\"%V\"} %uA\n",
            &ngx_http_bedrock_stats_error_names[i], st->errors[i]);
    }

    ngx_http_bedrock_status_metric(o, "bedrock_stream_exceptions_total",
        "counter", "Exceptions inside streams already relayed to clients.");

    for (i = 0; i < NGX_HTTP_BEDROCK_ERR_LAST; i++) {
        ngx_http_bedrock_status_printf(o,
            "bedrock_stream_exceptions_total{error_type=\"%V\"} %uA\n",
            &ngx_http_bedrock_stats_error_names[i], st->exceptions[i]);
    }

    ngx_http_bedrock_status_metric(o, "bedrock_compressed_requests_total",
        "counter", "Requests compressed to fit bedrock_max_input_tokens.");
    ngx_http_bedrock_status_printf(o,
                                   "bedrock_compressed_requests_total %uA\n",
                                   st->compressed);

    ngx_http_bedrock_status_metric(o, "bedrock_compression_saved_tokens_total",
        "counter", "Input tokens that compression removed, as estimated.");
    ngx_http_bedrock_status_printf(o,
        "bedrock_compression_saved_tokens_total %uA\n",
        st->compressed_from - ngx_min(st->compressed_from,
                                      st->compressed_to));

    ngx_http_bedrock_status_metric(o, "bedrock_limit_requests_total",
        "counter", "Requests through the limiter, by the worst outcome "
        "in their zones ($bedrock_limit_status).");
    ngx_http_bedrock_status_printf(o,
        "bedrock_limit_requests_total{status=\"passed\"} %uA\n"
        "bedrock_limit_requests_total{status=\"delayed\"} %uA\n"
        "bedrock_limit_requests_total{status=\"rejected\"} %uA\n",
        st->passed, st->delayed, st->rejected);

    ngx_http_bedrock_status_metric(o, "bedrock_limit_wait_seconds",
        "histogram", "Time the requests that waited for the limiter "
        "waited.");

    n = 0;

    for (i = 0; i < NGX_HTTP_BEDROCK_STATS_NWAIT; i++) {
        n += st->wait_buckets[i];

        if (i < NGX_HTTP_BEDROCK_STATS_NWAIT - 1) {
            ms = ngx_http_bedrock_stats_wait_bounds[i];
            ngx_http_bedrock_status_printf(o,
                "bedrock_limit_wait_seconds_bucket{le=\"%M.%03M\"} %uL\n",
                ms / 1000, ms % 1000, n);

        } else {
            ngx_http_bedrock_status_printf(o,
                "bedrock_limit_wait_seconds_bucket{le=\"+Inf\"} %uL\n", n);
        }
    }

    ngx_http_bedrock_status_printf(o,
        "bedrock_limit_wait_seconds_sum %uA.%03uA\n"
        "bedrock_limit_wait_seconds_count %uA\n",
        st->wait_sum / 1000, st->wait_sum % 1000, st->waits);

    ngx_http_bedrock_status_metric(o, "bedrock_limit_wait_max_seconds",
        "gauge", "The longest wait for the limiter since the counters "
        "started.");
    ngx_http_bedrock_status_printf(o,
        "bedrock_limit_wait_max_seconds %uA.%03uA\n",
        st->wait_max / 1000, st->wait_max % 1000);

    /* per model family: one block per metric, a sample per family seen */

#define ngx_http_bedrock_status_family_metric(name, help, field)              \
    ngx_http_bedrock_status_metric(o, name, "counter", help);                 \
    for (i = 0; i < NGX_BEDROCK_FAMILY_LAST; i++) {                           \
        fs = &st->family[i];                                                  \
        if (fs->requests) {                                                   \
            ngx_http_bedrock_status_printf(o, name "{family=\"%s\"} %uA\n",   \
                                           ngx_bedrock_family_name(i),        \
                                           fs->field);                        \
        }                                                                     \
    }

    ngx_http_bedrock_status_family_metric("bedrock_model_requests_total",
        "Requests, by model family.", requests);

    ngx_http_bedrock_status_family_metric(
        "bedrock_estimated_input_tokens_total",
        "Input tokens estimated before sending, by model family.",
        input_estimated);

    ngx_http_bedrock_status_family_metric("bedrock_usage_reports_total",
        "Answers that reported their real usage, by model family.", usage);

    ngx_http_bedrock_status_family_metric(
        "bedrock_usage_estimated_input_tokens_total",
        "Input tokens estimated for the answers that reported their usage.",
        usage_estimated);

    ngx_http_bedrock_status_family_metric("bedrock_usage_input_tokens_total",
        "Input tokens Bedrock reported, by model family.", input);

    ngx_http_bedrock_status_family_metric(
        "bedrock_usage_output_tokens_total",
        "Output tokens Bedrock reported, by model family.", output);

#undef ngx_http_bedrock_status_family_metric

    ngx_http_bedrock_status_prometheus_zones(o, snap);
    ngx_http_bedrock_status_prometheus_keys(o, snap);
}


static void
ngx_http_bedrock_status_prometheus_zones(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap)
{
    ngx_uint_t                             i, f, rpm;
    ngx_http_bedrock_zone_stats_t         *zs;
    ngx_http_bedrock_status_zone_t        *z;
    ngx_http_bedrock_zone_family_stats_t  *fs;

    z = snap->zones.elts;

    if (snap->zones.nelts == 0) {
        return;
    }

#define ngx_http_bedrock_status_zone_metric(metric, type, help, fmt, value)   \
    ngx_http_bedrock_status_metric(o, metric, type, help);                    \
    for (i = 0; i < snap->zones.nelts; i++) {                                 \
        zs = &z[i].zs;                                                        \
        ngx_http_bedrock_status_printf(o, metric);                            \
        ngx_http_bedrock_status_label(o, "{zone", zs->name.data,              \
                                      zs->name.len);                          \
        ngx_http_bedrock_status_printf(o, "} " fmt "\n", value);              \
    }

    ngx_http_bedrock_status_zone_metric("bedrock_zone_tokens_per_minute",
        "gauge", "The zone's quota: tokens per minute of each key.",
        "%uL", zs->tpm);

    ngx_http_bedrock_status_zone_metric("bedrock_zone_memory_bytes",
        "gauge", "The size of the zone's shared memory.", "%uz", zs->size);

    ngx_http_bedrock_status_zone_metric("bedrock_zone_memory_used_bytes",
        "gauge", "The zone's shared memory in use (whole pages).",
        "%uz", z[i].zs.used);

    ngx_http_bedrock_status_zone_metric("bedrock_zone_keys", "gauge",
        "Keys in the zone.", "%ui", zs->nkeys);

    ngx_http_bedrock_status_zone_metric("bedrock_zone_evictions_total",
        "counter", "Keys evicted to make room for new ones.",
        "%uL", zs->evicted);

#undef ngx_http_bedrock_status_zone_metric

    rpm = 0;

    for (i = 0; i < snap->zones.nelts; i++) {
        rpm |= (z[i].zs.rpm != 0);
    }

    if (rpm) {
        ngx_http_bedrock_status_metric(o, "bedrock_zone_requests_per_minute",
            "gauge", "The zone's quota: requests per minute of each key.");

        for (i = 0; i < snap->zones.nelts; i++) {
            zs = &z[i].zs;

            if (zs->rpm) {
                ngx_http_bedrock_status_printf(o,
                                           "bedrock_zone_requests_per_minute");
                ngx_http_bedrock_status_label(o, "{zone", zs->name.data,
                                              zs->name.len);
                ngx_http_bedrock_status_printf(o, "} %uL\n", zs->rpm);
            }
        }
    }

    ngx_http_bedrock_status_metric(o, "bedrock_zone_estimate_ratio", "gauge",
        "Real input tokens over estimated ones, as the zone learnt them, "
        "by model family.");

    for (i = 0; i < snap->zones.nelts; i++) {
        zs = &z[i].zs;

        for (f = 0; f < NGX_BEDROCK_FAMILY_LAST; f++) {
            fs = &zs->family[f];

            if (fs->samples == 0) {
                continue;
            }

            ngx_http_bedrock_status_printf(o, "bedrock_zone_estimate_ratio");
            ngx_http_bedrock_status_label(o, "{zone", zs->name.data,
                                          zs->name.len);
            ngx_http_bedrock_status_printf(o, ",family=\"%s\"} %uL.%03uL\n",
                                      ngx_bedrock_family_name(f),
                                      fs->ratio / NGX_HTTP_BEDROCK_RATIO_ONE,
                                      fs->ratio % NGX_HTTP_BEDROCK_RATIO_ONE);
        }
    }

    ngx_http_bedrock_status_metric(o, "bedrock_zone_estimate_samples_total",
        "counter", "Answers the zone learnt the ratio from, by model "
        "family.");

    for (i = 0; i < snap->zones.nelts; i++) {
        zs = &z[i].zs;

        for (f = 0; f < NGX_BEDROCK_FAMILY_LAST; f++) {
            fs = &zs->family[f];

            if (fs->samples == 0) {
                continue;
            }

            ngx_http_bedrock_status_printf(o,
                "bedrock_zone_estimate_samples_total");
            ngx_http_bedrock_status_label(o, "{zone", zs->name.data,
                                          zs->name.len);
            ngx_http_bedrock_status_printf(o, ",family=\"%s\"} %uL\n",
                                           ngx_bedrock_family_name(f),
                                           fs->samples);
        }
    }
}


/*
 * Per key: the levels of the keys shown, and counters of the keys shown
 * plus key="other" for the rest of each zone.
 */

static void
ngx_http_bedrock_status_prometheus_keys(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap)
{
    ngx_uint_t                          i, k, s, rpm;
    ngx_str_t                           other;
    ngx_http_bedrock_status_zone_t     *z;
    ngx_http_bedrock_status_counter_t  *c;
    ngx_http_bedrock_zone_key_stats_t  *ks;
    uint64_t                            v;

    static const char  *statuses[] = { "passed", "delayed", "rejected" };

    if (snap->zones.nelts == 0) {
        return;
    }

    z = snap->zones.elts;
    ngx_str_set(&other, "other");

    ngx_http_bedrock_status_metric(o, "bedrock_key_tokens_available",
        "gauge", "Tokens in the key's bucket now (below 0: a debt that "
        "waiting requests repay).");

    for (i = 0; i < snap->zones.nelts; i++) {
        for (k = 0; k < z[i].ntop; k++) {
            ks = z[i].top[k];
            ngx_http_bedrock_status_key_labels(o,
                                               "bedrock_key_tokens_available",
                                               &z[i], &ks->key);
            ngx_http_bedrock_status_printf(o, "} %L\n", ks->tokens);
        }
    }

    rpm = 0;

    for (i = 0; i < snap->zones.nelts; i++) {
        rpm |= (z[i].zs.rpm != 0);
    }

    if (rpm) {
        ngx_http_bedrock_status_metric(o, "bedrock_key_requests_available",
            "gauge", "Requests in the key's request bucket now.");

        for (i = 0; i < snap->zones.nelts; i++) {
            if (z[i].zs.rpm == 0) {
                continue;
            }

            for (k = 0; k < z[i].ntop; k++) {
                ks = z[i].top[k];
                ngx_http_bedrock_status_key_labels(o,
                                             "bedrock_key_requests_available",
                                             &z[i], &ks->key);
                ngx_http_bedrock_status_printf(o, "} %L\n", ks->requests);
            }
        }
    }

    ngx_http_bedrock_status_metric(o, "bedrock_key_cooldown_seconds", "gauge",
        "Time left of the key's cooldown after Bedrock throttled it.");

    for (i = 0; i < snap->zones.nelts; i++) {
        for (k = 0; k < z[i].ntop; k++) {
            ks = z[i].top[k];
            ngx_http_bedrock_status_key_labels(o,
                                               "bedrock_key_cooldown_seconds",
                                               &z[i], &ks->key);
            ngx_http_bedrock_status_printf(o, "} %M.%03M\n",
                                           ks->cooldown / 1000,
                                           ks->cooldown % 1000);
        }
    }

    ngx_http_bedrock_status_metric(o, "bedrock_key_requests_total",
        "counter", "Requests the key's zone admitted at once (passed), "
        "after a wait (delayed) or refused (rejected).");

    for (i = 0; i < snap->zones.nelts; i++) {
        for (k = 0; k <= z[i].ntop; k++) {
            ks = (k < z[i].ntop) ? z[i].top[k] : NULL;

            for (s = 0; s < 3; s++) {
                if (ks) {
                    v = (s == 0) ? ks->passed
                        : (s == 1) ? ks->delayed : ks->rejected;

                } else {
                    v = (s == 0) ? z[i].other_passed
                        : (s == 1) ? z[i].other_delayed
                                   : z[i].other_rejected;
                }

                ngx_http_bedrock_status_key_labels(o,
                                                 "bedrock_key_requests_total",
                                                 &z[i],
                                                 ks ? &ks->key : &other);
                ngx_http_bedrock_status_printf(o, ",status=\"%s\"} %uL\n",
                                               statuses[s], v);
            }
        }
    }

    for (c = ngx_http_bedrock_key_counters; c->name; c++) {
        ngx_http_bedrock_status_key_counter(o, snap, c);
    }

    ngx_http_bedrock_status_metric(o, "bedrock_key_wait_max_seconds",
        "gauge", "The longest wait of a request admitted under the key.");

    for (i = 0; i < snap->zones.nelts; i++) {
        for (k = 0; k < z[i].ntop; k++) {
            ks = z[i].top[k];
            ngx_http_bedrock_status_key_labels(o,
                                               "bedrock_key_wait_max_seconds",
                                               &z[i], &ks->key);
            ngx_http_bedrock_status_printf(o, "} %M.%03M\n",
                                           ks->wait_max / 1000,
                                           ks->wait_max % 1000);
        }
    }
}


/*
 * A counter of every shown key and of "other": the fields at these
 * offsets of the key's snapshot and of the zone's aggregate; ms: a time
 * in milliseconds, written in seconds.
 */

static void
ngx_http_bedrock_status_key_counter(ngx_http_bedrock_status_out_t *o,
    ngx_http_bedrock_status_snap_t *snap, ngx_http_bedrock_status_counter_t *c)
{
    uint64_t                            v;
    ngx_str_t                           key;
    ngx_uint_t                          i, k;
    ngx_http_bedrock_status_zone_t     *z;
    ngx_http_bedrock_zone_key_stats_t  *ks;

    ngx_http_bedrock_status_metric(o, c->name, "counter", c->help);

    z = snap->zones.elts;

    for (i = 0; i < snap->zones.nelts; i++) {
        for (k = 0; k <= z[i].ntop; k++) {

            if (k < z[i].ntop) {
                ks = z[i].top[k];
                key = ks->key;
                v = *(uint64_t *) ((u_char *) ks + c->field);

            } else {
                ngx_str_set(&key, "other");
                v = *(uint64_t *) ((u_char *) &z[i] + c->other);
            }

            ngx_http_bedrock_status_key_labels(o, c->name, &z[i], &key);

            if (c->ms) {
                ngx_http_bedrock_status_printf(o, "} %uL.%03uL\n",
                                               v / 1000, v % 1000);

            } else {
                ngx_http_bedrock_status_printf(o, "} %uL\n", v);
            }
        }
    }
}


static void
ngx_http_bedrock_status_metric(ngx_http_bedrock_status_out_t *o,
    const char *name, const char *type, const char *help)
{
    ngx_http_bedrock_status_printf(o, "# HELP %s %s\n# TYPE %s %s\n",
                                   name, help, name, type);
}


/* metric{zone="...",key="..." (the caller closes the braces) */

static void
ngx_http_bedrock_status_key_labels(ngx_http_bedrock_status_out_t *o,
    const char *metric, ngx_http_bedrock_status_zone_t *z, ngx_str_t *key)
{
    ngx_http_bedrock_status_printf(o, "%s", metric);
    ngx_http_bedrock_status_label(o, "{zone", z->zs.name.data,
                                  z->zs.name.len);
    ngx_http_bedrock_status_label(o, ",key", key->data, key->len);
}


/*
 * name="value" as Prometheus escapes it: backslash, double quote and
 * newline; a byte that is not UTF-8 becomes U+FFFD.
 */

static void
ngx_http_bedrock_status_label(ngx_http_bedrock_status_out_t *o,
    const char *name, u_char *value, size_t len)
{
    u_char  *p, *s, *last;
    size_t   n;

    p = ngx_http_bedrock_status_room(o, ngx_strlen(name) + 3 * len + 3);
    if (p == NULL) {
        return;
    }

    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '=';
    *p++ = '"';

    s = value;
    last = value + len;

    while (s < last) {

        if (*s == '\\' || *s == '"' || *s == '\n') {
            *p++ = '\\';
            *p++ = (*s == '\n') ? 'n' : *s;
            s++;
            continue;
        }

        n = ngx_http_bedrock_status_utf8(s, last);

        if (n == 0) {
            p = ngx_cpymem(p, "\xef\xbf\xbd", 3);
            s++;
            continue;
        }

        p = ngx_cpymem(p, s, n);
        s += n;
    }

    *p++ = '"';

    o->size += p - o->buf->last;
    o->buf->last = p;
}


/* a JSON string: escaped as JSON wants, a byte not UTF-8 as U+FFFD */

static void
ngx_http_bedrock_status_string(ngx_http_bedrock_status_out_t *o, u_char *s,
    size_t len)
{
    u_char  *p, *last;
    size_t   n;

    static u_char  hex[] = "0123456789abcdef";

    p = ngx_http_bedrock_status_room(o, 6 * len + 2);
    if (p == NULL) {
        return;
    }

    *p++ = '"';
    last = s + len;

    while (s < last) {

        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s++;
            continue;
        }

        if (*s < 0x20 || *s == 0x7f) {
            p = ngx_cpymem(p, "\\u00", 4);
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 0xf];
            s++;
            continue;
        }

        n = ngx_http_bedrock_status_utf8(s, last);

        if (n == 0) {
            p = ngx_cpymem(p, "\xef\xbf\xbd", 3);
            s++;
            continue;
        }

        p = ngx_cpymem(p, s, n);
        s += n;
    }

    *p++ = '"';

    o->size += p - o->buf->last;
    o->buf->last = p;
}


/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0.
 */

static size_t
ngx_http_bedrock_status_utf8(u_char *p, u_char *last)
{
    u_char  c, lo, hi;
    size_t  n, i;

    c = *p;

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


static void
ngx_http_bedrock_status_printf(ngx_http_bedrock_status_out_t *o,
    const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    p = ngx_http_bedrock_status_room(o, NGX_HTTP_BEDROCK_STATUS_LINE);
    if (p == NULL) {
        return;
    }

    va_start(args, fmt);
    last = ngx_vslprintf(p, o->buf->end, fmt, args);
    va_end(args);

    if (last == o->buf->end) {
        /* a line longer than the room kept for it: a bug, not data */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "bedrock: status line too long: \"%s\"", fmt);
        o->failed = 1;
        return;
    }

    o->size += last - p;
    o->buf->last = last;
}


/* at least size bytes at the end of the output, in a new buffer if need be */

static u_char *
ngx_http_bedrock_status_room(ngx_http_bedrock_status_out_t *o, size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (o->failed) {
        return NULL;
    }

    if (o->buf && (size_t) (o->buf->end - o->buf->last) > size) {
        return o->buf->last;
    }

    b = ngx_create_temp_buf(o->pool,
                            ngx_max(size + 1, NGX_HTTP_BEDROCK_STATUS_CHUNK));
    cl = ngx_alloc_chain_link(o->pool);

    if (b == NULL || cl == NULL) {
        o->failed = 1;
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *o->last = cl;
    o->last = &cl->next;
    o->buf = b;

    return b->last;
}


/*
 * The dashboard: one page with its CSS and JS inline, and nothing loaded
 * from anywhere else (the Content-Security-Policy it is sent with forbids
 * it).  It polls the JSON of the same location and keeps the last minutes
 * of it itself; every number it draws carries the JSON path it came from
 * in data-path, for the tests.
 */

static u_char *
ngx_http_bedrock_status_page(size_t *len)
{
    static u_char  page[] =
        "<!DOCTYPE html>\n"
        "<html lang=\"en\">\n"
        "<head>\n"
        "<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1"
        "\">\n"
        "<title>ngx_bedrock status</title>\n"
        "<style>\n"
        ":root { --fg: #1d2330; --dim: #677084; --line: #dfe3ea; --bg: #f4f6f9"
        ";\n"
        "  --card: #fff; --ok: #2f9e5b; --wait: #e0a100; --bad: #d64545;\n"
        "  --blue: #3b6fd8; --purple: #8a4fd1; }\n"
        "* { box-sizing: border-box; }\n"
        "body { margin: 0; background: var(--bg); color: var(--fg);\n"
        "  font: 13px/1.4 system-ui, -apple-system, \"Segoe UI\", Roboto, Helv"
        "etica,\n"
        "  Arial, sans-serif; font-variant-numeric: tabular-nums; }\n"
        "header { display: flex; align-items: baseline; gap: 18px; padding: 10"
        "px 20px;\n"
        "  background: #1d2330; color: #fff; }\n"
        "header h1 { font-size: 16px; margin: 0; font-weight: 600; }\n"
        "header .meta { color: #b8c0cf; font-size: 12px; }\n"
        "header .state { margin-left: auto; font-size: 12px; }\n"
        "header .state.ok::before { content: \"\\25cf  \"; color: #5fd38d; }\n"
        "header .state.err::before { content: \"\\25cf  \"; color: #ff7070; }"
        "\n"
        "main { padding: 14px 20px 20px; }\n"
        ".cards { display: grid; grid-template-columns: repeat(6, 1fr); gap: 1"
        "0px; }\n"
        ".card { background: var(--card); border: 1px solid var(--line);\n"
        "  border-radius: 6px; padding: 9px 12px; min-width: 0; }\n"
        ".card h2 { margin: 0 0 4px; font-size: 11px; font-weight: 600;\n"
        "  color: var(--dim); text-transform: uppercase; letter-spacing: .04em"
        "; }\n"
        ".big { font-size: 22px; font-weight: 600; line-height: 1.2; }\n"
        ".kv { display: flex; justify-content: space-between; gap: 8px;\n"
        "  color: var(--dim); font-size: 12px; }\n"
        ".kv span:last-child { color: var(--fg); }\n"
        ".panel { background: var(--card); border: 1px solid var(--line);\n"
        "  border-radius: 6px; margin-top: 12px; padding: 10px 12px; }\n"
        ".panel h2 { margin: 0 0 6px; font-size: 13px; font-weight: 600; }\n"
        ".panel h2 small { font-weight: 400; color: var(--dim); margin-left: 8"
        "px; }\n"
        ".legend { display: flex; gap: 14px; font-size: 11px; color: var(--dim"
        ");\n"
        "  margin-bottom: 4px; }\n"
        ".legend i { display: inline-block; width: 10px; height: 10px;\n"
        "  border-radius: 2px; margin-right: 4px; vertical-align: -1px; }\n"
        "svg { display: block; }\n"
        "table { width: 100%; border-collapse: collapse; }\n"
        "th { text-align: right; font-size: 11px; font-weight: 600; color: var"
        "(--dim);\n"
        "  padding: 4px 6px; border-bottom: 1px solid var(--line); white-space"
        ": nowrap; }\n"
        "td { text-align: right; padding: 5px 6px; border-bottom: 1px solid #e"
        "ef0f4;\n"
        "  white-space: nowrap; }\n"
        "th.l, td.l { text-align: left; }\n"
        "td.key { max-width: 220px; overflow: hidden; text-overflow: ellipsis;"
        "\n"
        "  font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospa"
        "ce;\n"
        "  font-size: 12px; }\n"
        ".bucket { width: 170px; }\n"
        ".bar { position: relative; height: 14px; background: #edf0f5;\n"
        "  border-radius: 3px; overflow: hidden; }\n"
        ".bar .fill { position: absolute; left: 0; top: 0; bottom: 0;\n"
        "  background: var(--ok); }\n"
        ".bar .fill.low { background: var(--wait); }\n"
        ".bar .fill.debt { background: var(--bad); }\n"
        ".bar.debt { background: #f6d2d2; }\n"
        ".bar + div { font-size: 11px; color: var(--dim); text-align: left; }"
        "\n"
        ".zero { color: #aab1be; }\n"
        ".split { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }"
        "\n"
        ".note { color: var(--dim); font-size: 12px; }\n"
        "</style>\n"
        "</head>\n"
        "<body data-polls=\"0\">\n"
        "<header>\n"
        "  <h1>ngx_bedrock</h1>\n"
        "  <span class=\"meta\" id=\"meta\">loading&hellip;</span>\n"
        "  <span class=\"state\" id=\"state\"></span>\n"
        "</header>\n"
        "<main>\n"
        "  <div class=\"cards\" id=\"cards\"></div>\n"
        "  <div class=\"panel\">\n"
        "    <h2>Gateway, per second<small id=\"span\"></small></h2>\n"
        "    <div class=\"legend\">\n"
        "      <span><i style=\"background:var(--blue)\"></i>requests</span>\n"
        "      <span><i style=\"background:var(--wait)\"></i>waited for the li"
        "mit</span>\n"
        "      <span><i style=\"background:var(--bad)\"></i>rejected by the li"
        "mit</span>\n"
        "      <span><i style=\"background:var(--purple)\"></i>throttled by Be"
        "drock</span>\n"
        "    </div>\n"
        "    <svg id=\"gateway\" width=\"100%\" height=\"90\"></svg>\n"
        "  </div>\n"
        "  <div id=\"zones\"></div>\n"
        "  <div class=\"split\">\n"
        "    <div class=\"panel\"><h2>Upstream errors</h2><table id=\"errors\""
        "></table></div>\n"
        "    <div class=\"panel\"><h2>Tokens by model family</h2>\n"
        "      <table id=\"families\"></table></div>\n"
        "  </div>\n"
        "</main>\n"
        "<script>\n"
        "'use strict';\n"
        "(function () {\n"
        "  var KEEP = 300;\n"
        "  var params = new URLSearchParams(location.search);\n"
        "  var interval = Math.max(0.5, Number(params.get('interval')) || 1) *"
        " 1000;\n"
        "  var src = location.pathname + '?format=json' +\n"
        "            (params.get('keys') ? '&keys=' + encodeURIComponent(param"
        "s.get('keys')) : '');\n"
        "  var history = [];\n"
        "  var polls = 0;\n"
        "  var SVG = 'http://www.w3.org/2000/svg';\n"
        "\n"
        "  function $(id) { return document.getElementById(id); }\n"
        "\n"
        "  function el(tag, attrs, text) {\n"
        "    var e = document.createElement(tag);\n"
        "    if (attrs) { for (var a in attrs) { e.setAttribute(a, attrs[a]); "
        "} }\n"
        "    if (text !== undefined) { e.textContent = text; }\n"
        "    return e;\n"
        "  }\n"
        "\n"
        "  function fmt(n) {\n"
        "    if (n === null || n === undefined) { return '\\u2013'; }\n"
        "    return Number(n).toLocaleString('en-US');\n"
        "  }\n"
        "\n"
        "  function secs(ms) {\n"
        "    if (ms < 1000) { return ms + ' ms'; }\n"
        "    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';\n"
        "  }\n"
        "\n"
        "  function duration(s) {\n"
        "    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),"
        "\n"
        "        m = Math.floor(s % 3600 / 60);\n"
        "    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' "
        "+\n"
        "           (s % 60) + 's';\n"
        "  }\n"
        "\n"
        "  /*\n"
        "   * A number as drawn: its text, and in data-path where it comes fro"
        "m in\n"
        "   * the JSON ('*' and an object stand for the sum of their members),"
        " so\n"
        "   * that what the page shows can be checked against the JSON.\n"
        "   */\n"
        "  function num(path, value, text) {\n"
        "    var e = el('span', { 'data-path': path,\n"
        "                         'data-value': value === null ? 'null' : Stri"
        "ng(value) },\n"
        "               text === undefined ? fmt(value) : text);\n"
        "    if (value === 0) { e.className = 'zero'; }\n"
        "    return e;\n"
        "  }\n"
        "\n"
        "  function kv(label, node) {\n"
        "    var d = el('div', { 'class': 'kv' });\n"
        "    d.appendChild(el('span', null, label));\n"
        "    var v = el('span');\n"
        "    v.appendChild(node);\n"
        "    d.appendChild(v);\n"
        "    return d;\n"
        "  }\n"
        "\n"
        "  function card(title, big, rows) {\n"
        "    var c = el('div', { 'class': 'card' });\n"
        "    c.appendChild(el('h2', null, title));\n"
        "    var b = el('div', { 'class': 'big' });\n"
        "    b.appendChild(big);\n"
        "    c.appendChild(b);\n"
        "    rows.forEach(function (r) { c.appendChild(kv(r[0], r[1])); });\n"
        "    return c;\n"
        "  }\n"
        "\n"
        "  function sum(o) {\n"
        "    var s = 0;\n"
        "    for (var k in o) { s += o[k]; }\n"
        "    return s;\n"
        "  }\n"
        "\n"
        "  /* per second over the last two snapshots */\n"
        "  function rate(f) {\n"
        "    if (history.length < 2) { return 0; }\n"
        "    var a = history[history.length - 2], b = history[history.length -"
        " 1];\n"
        "    var dt = (b.timestamp - a.timestamp) / 1000;\n"
        "    return dt > 0 ? Math.max(0, f(b) - f(a)) / dt : 0;\n"
        "  }\n"
        "\n"
        "  function drawCards(s) {\n"
        "    var c = $('cards'), r = s.requests, u = s.upstream, l = s.limit,"
        "\n"
        "        w = l.wait, cp = s.compression;\n"
        "    var fin = 0, fout = 0, fest = 0, freal = 0;\n"
        "    for (var f in s.families) {\n"
        "      fin += s.families[f].input_tokens;\n"
        "      fout += s.families[f].output_tokens;\n"
        "      fest += s.families[f].usage_input_tokens_estimated;\n"
        "      freal += s.families[f].input_tokens;\n"
        "    }\n"
        "    c.textContent = '';\n"
        "    c.appendChild(card('Requests', num('requests/total', r.total), ["
        "\n"
        "      ['per second', el('span', null, rate(function (x) {\n"
        "        return x.requests.total; }).toFixed(1))],\n"
        "      ['2xx', num('requests/2xx', r['2xx'])],\n"
        "      ['4xx', num('requests/4xx', r['4xx'])],\n"
        "      ['5xx', num('requests/5xx', r['5xx'])]]));\n"
        "    c.appendChild(card('Upstream', num('upstream/attempts', u.attempt"
        "s), [\n"
        "      ['retries', num('upstream/retries', u.retries)],\n"
        "      ['failovers', num('upstream/failovers', u.failovers)],\n"
        "      ['errors', num('upstream/errors', sum(u.errors))],\n"
        "      ['backoff', num('upstream/retry_wait_ms', u.retry_wait_ms,\n"
        "                      secs(u.retry_wait_ms))]]));\n"
        "    c.appendChild(card('Limiter', num('limit/passed', l.passed), [\n"
        "      ['delayed', num('limit/delayed', l.delayed)],\n"
        "      ['rejected', num('limit/rejected', l.rejected)],\n"
        "      ['mean wait', el('span', null,\n"
        "                       w.count ? secs(Math.round(w.sum_ms / w.count))"
        " : '\\u2013')],\n"
        "      ['longest wait', num('limit/wait/max_ms', w.max_ms, secs(w.max_"
        "ms))]]));\n"
        "    c.appendChild(card('Tokens in', num('families/*/input_tokens', fi"
        "n), [\n"
        "      ['out', num('families/*/output_tokens', fout)],\n"
        "      ['estimated in', num('families/*/usage_input_tokens_estimated',"
        " fest)],\n"
        "      ['real / estimate', el('span', null,\n"
        "                             fest ? (freal / fest).toFixed(3) : '\\u2"
        "013')]]));\n"
        "    c.appendChild(card('Compression', num('compression/requests', cp."
        "requests), [\n"
        "      ['tokens before', num('compression/tokens_before', cp.tokens_be"
        "fore)],\n"
        "      ['tokens after', num('compression/tokens_after', cp.tokens_afte"
        "r)],\n"
        "      ['tokens saved', num('compression/tokens_saved', cp.tokens_save"
        "d)]]));\n"
        "    c.appendChild(card('Streams', num('requests/streams', r.streams),"
        " [\n"
        "      ['exceptions', num('upstream/stream_exceptions',\n"
        "                         sum(u.stream_exceptions))],\n"
        "      ['generation', num('generation', s.generation)],\n"
        "      ['nginx', el('span', null, s.nginx_version)]]));\n"
        "  }\n"
        "\n"
        "  function svgEl(tag, attrs) {\n"
        "    var e = document.createElementNS(SVG, tag);\n"
        "    for (var a in attrs) { e.setAttribute(a, attrs[a]); }\n"
        "    return e;\n"
        "  }\n"
        "\n"
        "  /* series: [{color, values (per sample), kind: 'bar'|'line'}] */\n"
        "  function chart(svg, series, height) {\n"
        "    while (svg.firstChild) { svg.removeChild(svg.firstChild); }\n"
        "    var width = svg.getBoundingClientRect().width || 600;\n"
        "    var n = KEEP, bw = width / n, max = 1;\n"
        "    series.forEach(function (s) {\n"
        "      s.values.forEach(function (v) { if (v > max) { max = v; } });\n"
        "    });\n"
        "    svg.appendChild(svgEl('line', { x1: 0, x2: width, y1: height - 0."
        "5,\n"
        "                                    y2: height - 0.5, stroke: '#dfe3e"
        "a' }));\n"
        "    var top = svgEl('text', { x: 2, y: 10, fill: '#677084',\n"
        "                              'font-size': 10 });\n"
        "    top.textContent = max.toFixed(max < 10 ? 1 : 0);\n"
        "    svg.appendChild(top);\n"
        "    series.forEach(function (s) {\n"
        "      var off = n - s.values.length;\n"
        "      if (s.kind === 'line') {\n"
        "        var pts = s.values.map(function (v, i) {\n"
        "          return ((off + i + 0.5) * bw).toFixed(1) + ',' +\n"
        "                 (height - 1 - v / max * (height - 14)).toFixed(1);\n"
        "        });\n"
        "        if (pts.length > 1) {\n"
        "          svg.appendChild(svgEl('polyline', { points: pts.join(' '),"
        "\n"
        "            fill: 'none', stroke: s.color, 'stroke-width': 1.5 }));\n"
        "        }\n"
        "        return;\n"
        "      }\n"
        "      s.values.forEach(function (v, i) {\n"
        "        if (v <= 0) { return; }\n"
        "        var h = Math.max(1, v / max * (height - 14));\n"
        "        svg.appendChild(svgEl('rect', { x: ((off + i) * bw).toFixed(1"
        "),\n"
        "          y: (height - 1 - h).toFixed(1), width: Math.max(1, bw - 0.5"
        "),\n"
        "          height: h.toFixed(1), fill: s.color, opacity: 0.85 }));\n"
        "      });\n"
        "    });\n"
        "  }\n"
        "\n"
        "  function perSecond(get) {\n"
        "    var out = [];\n"
        "    for (var i = 1; i < history.length; i++) {\n"
        "      var a = history[i - 1], b = history[i];\n"
        "      var dt = (b.timestamp - a.timestamp) / 1000;\n"
        "      var x = get(a), y = get(b);\n"
        "      out.push(dt > 0 && x !== undefined && y !== undefined ?\n"
        "               Math.max(0, y - x) / dt : 0);\n"
        "    }\n"
        "    return out;\n"
        "  }\n"
        "\n"
        "  function drawGateway() {\n"
        "    var svg = $('gateway');\n"
        "    chart(svg, [\n"
        "      { kind: 'bar', color: '#e0a100',\n"
        "        values: perSecond(function (s) { return s.limit.delayed; }) }"
        ",\n"
        "      { kind: 'bar', color: '#d64545',\n"
        "        values: perSecond(function (s) { return s.limit.rejected; }) "
        "},\n"
        "      { kind: 'bar', color: '#8a4fd1',\n"
        "        values: perSecond(function (s) {\n"
        "          return s.upstream.errors.ThrottlingException; }) },\n"
        "      { kind: 'line', color: '#3b6fd8',\n"
        "        values: perSecond(function (s) { return s.requests.total; }) "
        "}\n"
        "    ], 90);\n"
        "    var first = history[0], last = history[history.length - 1];\n"
        "    $('span').textContent = 'last ' +\n"
        "      duration(Math.round((last.timestamp - first.timestamp) / 1000))"
        " +\n"
        "      ', one sample every ' + interval / 1000 + ' s';\n"
        "  }\n"
        "\n"
        "  function keyOf(zone, key) {\n"
        "    return function (s) {\n"
        "      var z = s.zones[zone];\n"
        "      if (!z) { return undefined; }\n"
        "      for (var i = 0; i < z.keys.length; i++) {\n"
        "        if (z.keys[i].key === key) { return z.keys[i]; }\n"
        "      }\n"
        "      return undefined;\n"
        "    };\n"
        "  }\n"
        "\n"
        "  function keyHistory(zone, key) {\n"
        "    var find = keyOf(zone, key);\n"
        "    var level = [];\n"
        "    history.forEach(function (s) {\n"
        "      var k = find(s);\n"
        "      level.push(k ? k.tokens_available / k.tokens_capacity : null);"
        "\n"
        "    });\n"
        "    function count(f) {\n"
        "      return perSecond(function (s) { var k = find(s); return k && f("
        "k); });\n"
        "    }\n"
        "    return { level: level,\n"
        "             delayed: count(function (k) { return k.delayed; }),\n"
        "             rejected: count(function (k) { return k.rejected; }) };"
        "\n"
        "  }\n"
        "\n"
        "  /* the bucket level over time, with waits and refusals under it */"
        "\n"
        "  function spark(svg, h) {\n"
        "    var width = 240, height = 34, n = KEEP, bw = width / n;\n"
        "    var off = n - h.level.length, max = 1, pts = [];\n"
        "    h.level.forEach(function (v, i) {\n"
        "      if (v === null) { return; }\n"
        "      var y = height - 1 - Math.max(0, Math.min(1, v)) * (height - 2)"
        ";\n"
        "      pts.push(((off + i + 0.5) * bw).toFixed(1) + ',' + y.toFixed(1)"
        ");\n"
        "    });\n"
        "    svg.appendChild(svgEl('rect', { x: 0, y: 0, width: width, height:"
        " height,\n"
        "                                    fill: '#f7f8fb' }));\n"
        "    if (pts.length > 1) {\n"
        "      svg.appendChild(svgEl('polyline', { points: pts.join(' '),\n"
        "        fill: 'none', stroke: '#2f9e5b', 'stroke-width': 1.5 }));\n"
        "    }\n"
        "    h.delayed.concat(h.rejected).forEach(function (v) {\n"
        "      if (v > max) { max = v; }\n"
        "    });\n"
        "    [[h.delayed, '#e0a100'], [h.rejected, '#d64545']].forEach(functio"
        "n (s) {\n"
        "      var o = n - s[0].length;\n"
        "      s[0].forEach(function (v, i) {\n"
        "        if (v <= 0) { return; }\n"
        "        var bh = Math.max(2, v / max * 14);\n"
        "        svg.appendChild(svgEl('rect', { x: ((o + i) * bw).toFixed(1),"
        "\n"
        "          y: (height - bh).toFixed(1), width: Math.max(1, bw), height"
        ": bh,\n"
        "          fill: s[1] }));\n"
        "      });\n"
        "    });\n"
        "  }\n"
        "\n"
        "  function drawZones(s) {\n"
        "    var box = $('zones');\n"
        "    box.textContent = '';\n"
        "    Object.keys(s.zones).forEach(function (name) {\n"
        "      var z = s.zones[name], base = 'zones/' + encodeURIComponent(nam"
        "e);\n"
        "      var p = el('div', { 'class': 'panel', 'data-zone': name });\n"
        "      var h = el('h2', null, 'Zone ' + name);\n"
        "      var info = el('small');\n"
        "      info.appendChild(document.createTextNode('key ' + z.key + ' \\u"
        "00b7 '));\n"
        "      info.appendChild(num(base + '/tpm', z.tpm));\n"
        "      info.appendChild(document.createTextNode(' tokens/min' +\n"
        "        (z.rpm ? ', ' + fmt(z.rpm) + ' requests/min' : '') + ' \\u00b"
        "7 '));\n"
        "      info.appendChild(num(base + '/keys_total', z.keys_total));\n"
        "      info.appendChild(document.createTextNode(\n"
        "        (z.keys_total === 1 ? ' key' : ' keys') + ' \\u00b7 memory ')"
        ");\n"
        "      info.appendChild(num(base + '/memory/used', z.memory.used,\n"
        "        Math.round(z.memory.used / 1024) + ' of ' +\n"
        "        Math.round(z.memory.size / 1024) + ' KiB'));\n"
        "      info.appendChild(document.createTextNode(' \\u00b7 evicted '));"
        "\n"
        "      info.appendChild(num(base + '/evicted', z.evicted));\n"
        "      var ratios = Object.keys(z.estimate_ratios);\n"
        "      if (ratios.length) {\n"
        "        info.appendChild(document.createTextNode(' \\u00b7 real/estim"
        "ated input:'));\n"
        "        ratios.forEach(function (f) {\n"
        "          info.appendChild(document.createTextNode(' ' + f + ' '));\n"
        "          info.appendChild(num(base + '/estimate_ratios/' + f + '/rat"
        "io',\n"
        "                               z.estimate_ratios[f].ratio,\n"
        "                               z.estimate_ratios[f].ratio.toFixed(3))"
        ");\n"
        "        });\n"
        "      }\n"
        "      h.appendChild(info);\n"
        "      p.appendChild(h);\n"
        "\n"
        "      var t = el('table'), head = el('tr');\n"
        "      [['key', 'l'], ['tokens in the bucket', 'l bucket'],\n"
        "       ['last minutes: level, waits, refusals', 'l'], ['passed'],\n"
        "       ['delayed'], ['rejected'], ['tokens reserved'], ['tokens settl"
        "ed'],\n"
        "       ['cooldown'], ['longest wait']].forEach(function (c) {\n"
        "        head.appendChild(el('th', c[1] ? { 'class': c[1] } : null, c["
        "0]));\n"
        "      });\n"
        "      t.appendChild(head);\n"
        "\n"
        "      z.keys.forEach(function (k) {\n"
        "        var kb = base + '/keys/' + encodeURIComponent(k.key);\n"
        "        var tr = el('tr', { 'data-key': k.key });\n"
        "        tr.appendChild(el('td', { 'class': 'l key', title: k.key }, k"
        ".key));\n"
        "\n"
        "        var level = k.tokens_available / k.tokens_capacity;\n"
        "        var pct = Math.max(0, Math.min(100, level * 100));\n"
        "        var bar = el('div', { 'class': level < 0 ? 'bar debt' : 'bar'"
        " });\n"
        "        var fill = el('div', { 'class': 'fill' +\n"
        "          (level < 0 ? ' debt' : level < 0.2 ? ' low' : ''),\n"
        "          'data-path': kb + '/level', 'data-value': level.toFixed(4),"
        "\n"
        "          style: 'width:' + pct.toFixed(2) + '%' });\n"
        "        bar.appendChild(fill);\n"
        "        var td = el('td', { 'class': 'l bucket' });\n"
        "        td.appendChild(bar);\n"
        "        var txt = el('div');\n"
        "        txt.appendChild(num(kb + '/tokens_available', k.tokens_availa"
        "ble));\n"
        "        txt.appendChild(document.createTextNode(' / '));\n"
        "        txt.appendChild(num(kb + '/tokens_capacity', k.tokens_capacit"
        "y));\n"
        "        td.appendChild(txt);\n"
        "        tr.appendChild(td);\n"
        "\n"
        "        var sv = svgEl('svg', { width: 240, height: 34 });\n"
        "        spark(sv, keyHistory(name, k.key));\n"
        "        var ts = el('td', { 'class': 'l' });\n"
        "        ts.appendChild(sv);\n"
        "        tr.appendChild(ts);\n"
        "\n"
        "        ['passed', 'delayed', 'rejected', 'tokens_reserved',\n"
        "         'tokens_settled'].forEach(function (f) {\n"
        "          var c = el('td');\n"
        "          c.appendChild(num(kb + '/' + f, k[f]));\n"
        "          tr.appendChild(c);\n"
        "        });\n"
        "        var cd = el('td');\n"
        "        cd.appendChild(num(kb + '/cooldown_ms', k.cooldown_ms,\n"
        "                           k.cooldown_ms ? secs(k.cooldown_ms) : '\\u"
        "2013'));\n"
        "        tr.appendChild(cd);\n"
        "        var lw = el('td');\n"
        "        lw.appendChild(num(kb + '/wait/max_ms', k.wait.max_ms,\n"
        "                           k.wait.max_ms ? secs(k.wait.max_ms) : '\\u"
        "2013'));\n"
        "        tr.appendChild(lw);\n"
        "        t.appendChild(tr);\n"
        "      });\n"
        "\n"
        "      var o = z.other, ob = base + '/other';\n"
        "      var tr = el('tr', { 'data-key': '' });\n"
        "      tr.appendChild(el('td', { 'class': 'l key' },\n"
        "        'other: ' + fmt(o.keys) + (o.keys === 1 ? ' key' : ' keys') +"
        "\n"
        "        ' not shown, and keys gone'));\n"
        "      tr.appendChild(el('td'));\n"
        "      tr.appendChild(el('td'));\n"
        "      ['passed', 'delayed', 'rejected', 'tokens_reserved',\n"
        "       'tokens_settled'].forEach(function (f) {\n"
        "        var c = el('td');\n"
        "        c.appendChild(num(ob + '/' + f, o[f]));\n"
        "        tr.appendChild(c);\n"
        "      });\n"
        "      tr.appendChild(el('td'));\n"
        "      tr.appendChild(el('td'));\n"
        "      t.appendChild(tr);\n"
        "      p.appendChild(t);\n"
        "      box.appendChild(p);\n"
        "    });\n"
        "    if (!Object.keys(s.zones).length) {\n"
        "      var none = el('div', { 'class': 'panel note' },\n"
        "                    'No bedrock_limit_zone is configured.');\n"
        "      box.appendChild(none);\n"
        "    }\n"
        "  }\n"
        "\n"
        "  function drawErrors(s) {\n"
        "    var t = $('errors'), e = s.upstream.errors,\n"
        "        x = s.upstream.stream_exceptions, head = el('tr');\n"
        "    t.textContent = '';\n"
        "    ['type', 'failed attempts', 'in streams'].forEach(function (c, i)"
        " {\n"
        "      head.appendChild(el('th', i ? null : { 'class': 'l' }, c));\n"
        "    });\n"
        "    t.appendChild(head);\n"
        "    var shown = 0;\n"
        "    Object.keys(e).forEach(function (k) {\n"
        "      if (!e[k] && !x[k]) { return; }\n"
        "      var tr = el('tr');\n"
        "      tr.appendChild(el('td', { 'class': 'l' }, k));\n"
        "      var a = el('td'), b = el('td');\n"
        "      a.appendChild(num('upstream/errors/' + k, e[k]));\n"
        "      b.appendChild(num('upstream/stream_exceptions/' + k, x[k]));\n"
        "      tr.appendChild(a);\n"
        "      tr.appendChild(b);\n"
        "      t.appendChild(tr);\n"
        "      shown++;\n"
        "    });\n"
        "    if (!shown) {\n"
        "      var tr = el('tr');\n"
        "      tr.appendChild(el('td', { 'class': 'l note', colspan: 3 }, 'non"
        "e'));\n"
        "      t.appendChild(tr);\n"
        "    }\n"
        "  }\n"
        "\n"
        "  function drawFamilies(s) {\n"
        "    var t = $('families'), head = el('tr');\n"
        "    t.textContent = '';\n"
        "    ['family', 'requests', 'input estimated', 'input real', 'output r"
        "eal']\n"
        "      .forEach(function (c, i) {\n"
        "        head.appendChild(el('th', i ? null : { 'class': 'l' }, c));\n"
        "      });\n"
        "    t.appendChild(head);\n"
        "    Object.keys(s.families).forEach(function (f) {\n"
        "      var v = s.families[f], b = 'families/' + f, tr = el('tr');\n"
        "      tr.appendChild(el('td', { 'class': 'l' }, f));\n"
        "      [['requests', v.requests],\n"
        "       ['usage_input_tokens_estimated', v.usage_input_tokens_estimate"
        "d],\n"
        "       ['input_tokens', v.input_tokens],\n"
        "       ['output_tokens', v.output_tokens]].forEach(function (c) {\n"
        "        var td = el('td');\n"
        "        td.appendChild(num(b + '/' + c[0], c[1]));\n"
        "        tr.appendChild(td);\n"
        "      });\n"
        "      t.appendChild(tr);\n"
        "    });\n"
        "  }\n"
        "\n"
        "  function draw(s) {\n"
        "    var last = history[history.length - 1];\n"
        "    if (last && (last.started !== s.started || last.timestamp > s.tim"
        "estamp)) {\n"
        "      history = [];\n"
        "    }\n"
        "    history.push(s);\n"
        "    if (history.length > KEEP + 1) { history.shift(); }\n"
        "    $('meta').textContent = 'nginx ' + s.nginx_version + ' \\u00b7 up"
        " ' +\n"
        "      duration(s.uptime) + ' \\u00b7 configuration ' + s.generation;"
        "\n"
        "    drawCards(s);\n"
        "    drawGateway();\n"
        "    drawZones(s);\n"
        "    drawErrors(s);\n"
        "    drawFamilies(s);\n"
        "    polls++;\n"
        "    document.body.setAttribute('data-timestamp', String(s.timestamp))"
        ";\n"
        "    document.body.setAttribute('data-polls', String(polls));\n"
        "  }\n"
        "\n"
        "  function poll() {\n"
        "    fetch(src, { cache: 'no-store', headers: { Accept: 'application/j"
        "son' } })\n"
        "      .then(function (res) {\n"
        "        if (!res.ok) { throw new Error('HTTP ' + res.status); }\n"
        "        return res.json();\n"
        "      })\n"
        "      .then(function (s) {\n"
        "        draw(s);\n"
        "        var st = $('state');\n"
        "        st.className = 'state ok';\n"
        "        st.textContent = 'updated ' + new Date(s.timestamp)\n"
        "          .toLocaleTimeString('en-GB');\n"
        "      })\n"
        "      .catch(function (err) {\n"
        "        var st = $('state');\n"
        "        st.className = 'state err';\n"
        "        st.textContent = String(err.message || err);\n"
        "      })\n"
        "      .then(function () { setTimeout(poll, interval); });\n"
        "  }\n"
        "\n"
        "  poll();\n"
        "})();\n"
        "</script>\n"
        "</body>\n"
        "</html>\n";

    *len = sizeof(page) - 1;

    return page;
}
