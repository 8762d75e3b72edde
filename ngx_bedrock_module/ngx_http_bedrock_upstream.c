/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Attempts toward Bedrock and the relay of their answers.
 *
 * An attempt is a subrequest to the internal location named by
 * bedrock_upstream_location, whose proxy_pass uses $bedrock_upstream:
 * the target's URL and the exact raw path of the client's request.  The
 * subrequest gets its own body and header list (a fresh Content-Length,
 * no client credentials).
 *
 * Its answer passes through this module's header and body filters.  The
 * header filter decides, before anything reaches the client, whether the
 * answer is relayed (its status and headers are copied to the main request
 * and sent; its body then flows to the client as it arrives, through the
 * postpone filter) or dropped, for another attempt.
 *
 * The body filter watches what it relays, without changing a byte, for
 * the real usage: a stream's events through the eventstream decoder (and
 * its exceptions, logged), a JSON answer's first bytes.
 */


/* how much of a JSON answer is kept to read its usage from */
#define NGX_HTTP_BEDROCK_ANSWER_MAX  (1024 * 1024)


#include "ngx_http_bedrock_module.h"


static ngx_int_t ngx_http_bedrock_set_body(ngx_http_request_t *sr,
    ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_set_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr);
static ngx_uint_t ngx_http_bedrock_hop_header(ngx_str_t *name);
static ngx_int_t ngx_http_bedrock_attempt_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_bedrock_attempt_resume(ngx_http_request_t *r);
static void ngx_http_bedrock_retry_later(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_read_answer(ngx_http_request_t *sr,
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_note_error(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_add_error(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_str_t *name);
static ngx_int_t ngx_http_bedrock_relay_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_watch_init(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_watch(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_chain_t *in);
static int ngx_http_bedrock_stream_event(void *data,
    const ngx_bedrock_es_message_t *msg);
static void ngx_http_bedrock_stream_free(void *data);
static void ngx_http_bedrock_real_usage(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* client headers that never reach Bedrock */

static ngx_str_t  ngx_http_bedrock_dropped_headers[] = {
    ngx_string("host"),
    ngx_string("content-length"),
    ngx_string("transfer-encoding"),
    ngx_string("connection"),
    ngx_string("keep-alive"),
    ngx_string("upgrade"),
    ngx_string("te"),
    ngx_string("expect"),
    ngx_string("accept-encoding"),
    ngx_string("authorization"),
    ngx_null_string
};


ngx_int_t
ngx_http_bedrock_attempt(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    u_char                       *p;
    ngx_http_request_t           *sr;
    ngx_http_bedrock_target_t    *target;
    ngx_http_post_subrequest_t   *ps;
    ngx_http_bedrock_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    target = blcf->targets->elts;
    target = &target[ctx->target];

    /* $bedrock_upstream: the target and the path exactly as received */

    ctx->upstream.len = target->url.len + ctx->path.len
                        + (ctx->args.len ? 1 + ctx->args.len : 0);
    ctx->upstream.data = ngx_pnalloc(r->pool, ctx->upstream.len);
    if (ctx->upstream.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->upstream.data, target->url.data, target->url.len);
    p = ngx_cpymem(p, ctx->path.data, ctx->path.len);

    if (ctx->args.len) {
        *p++ = '?';
        ngx_memcpy(p, ctx->args.data, ctx->args.len);
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_bedrock_attempt_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &blcf->location, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    if (ngx_http_bedrock_set_body(sr, ctx) != NGX_OK
        || ngx_http_bedrock_set_headers(r, sr) != NGX_OK
        || ngx_http_bedrock_sign(r, sr, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->secret_headers) {
        ngx_http_bedrock_quiet(r, ctx);
    }

    /* the filters know the attempt by this */
    ngx_http_set_ctx(sr, ctx, ngx_http_bedrock_module);

    ctx->sr = sr;
    ctx->attempts++;
    ctx->status = 0;
    ctx->swallow = 0;
    ctx->complete = 0;
    ctx->done = 0;
    ngx_str_null(&ctx->error_type);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: attempt %ui to \"%V\", %uz bytes",
                   ctx->attempts, &ctx->upstream, ctx->body.len);

    return NGX_OK;
}


/*
 * Each attempt gets a request body of its own: the upstream module moves
 * the positions of the buffers it sends, so they are never shared.
 */

static ngx_int_t
ngx_http_bedrock_set_body(ngx_http_request_t *sr, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    rb = ngx_pcalloc(sr->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    sr->request_body = rb;
    sr->headers_in.content_length_n = ctx->body.len;
    sr->headers_in.chunked = 0;

    if (ctx->body.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(sr->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->body.data;
    b->last = ctx->body.data + ctx->body.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(sr->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;

    return NGX_OK;
}


/*
 * The subrequest's header list starts as the parent's (a shallow copy):
 * it gets a list of its own, with the client's credentials, its framing
 * headers and any x-amz-* signing headers left out.  The proxy module sends
 * Host and Content-Length itself.
 */

static ngx_int_t
ngx_http_bedrock_set_headers(ngx_http_request_t *r, ngx_http_request_t *sr)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 16,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.host = NULL;
    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.authorization = NULL;
    sr->headers_in.connection = NULL;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || ngx_http_bedrock_hop_header(&h[i].key)) {
            continue;
        }

        nh = ngx_list_push(&sr->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_bedrock_hop_header(ngx_str_t *name)
{
    ngx_str_t  *d;

    if (name->len > 6 && ngx_strncasecmp(name->data, (u_char *) "x-amz-", 6)
                         == 0)
    {
        return 1;
    }

    for (d = ngx_http_bedrock_dropped_headers; d->len; d++) {
        if (d->len == name->len
            && ngx_strncasecmp(d->data, name->data, d->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Runs when the attempt's subrequest is finalized (possibly more than
 * once, when its output was still buffered): it records the outcome and
 * has the parent resumed.  A failed attempt that sent nothing (no
 * connection, timeout) ends quietly: the parent answers for it.
 */

static ngx_int_t
ngx_http_bedrock_attempt_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_bedrock_ctx_t *ctx = data;

    if (ctx->done) {
        return rc;
    }

    ctx->done = 1;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "bedrock: attempt %ui done: rc %i, status %ui",
                   ctx->attempts, rc, ctx->status);

    sr->parent->write_event_handler = ngx_http_bedrock_attempt_resume;

    if (ctx->relayed
        || rc == NGX_ERROR
        || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || sr->connection->error)
    {
        return rc;
    }

    if (ctx->status == 0) {
        ctx->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                      ? (ngx_uint_t) rc : NGX_HTTP_BAD_GATEWAY;
    }

    return NGX_OK;
}


static void
ngx_http_bedrock_attempt_resume(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    r->write_event_handler = ngx_http_request_empty_handler;

    if (ctx->relayed && !ctx->complete) {

        /*
         * The answer broke off after it reached the client (Bedrock cut
         * it, reset it, or stalled past proxy_read_timeout): the upstream
         * module ends the attempt without its last buffer.  The client's
         * connection is closed without the end of the answer, as
         * proxy_pass would, so that the client sees it cut.
         */

        if (!r->connection->error) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "bedrock: the answer of attempt %ui broke off "
                          "after it reached the client, whose connection "
                          "is closed, model \"%*s\"", ctx->attempts,
                          ctx->model.id_len, ctx->model.id);
        }

        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (ctx->relayed) {
        ngx_http_bedrock_real_usage(r, ctx);

        /* without usage, an error relayed as it came costs nothing */
        ngx_http_bedrock_limit_settle(r, ctx, ctx->input_tokens,
                                      ctx->output_tokens);

        ngx_http_finalize_request(r, ngx_http_send_special(r, NGX_HTTP_LAST));
        return;
    }

    /*
     * Nothing reached the client.  The attempt was either dropped by the
     * header filter, which planned the next one, or it failed before any
     * answer: no connection, a timeout.
     */

    ngx_http_bedrock_limit_release(r, ctx);

    if (ctx->swallow) {
        ngx_http_bedrock_retry_later(r, ctx);
        return;
    }

    ngx_http_bedrock_note_error(r, ctx);

    if (ngx_http_bedrock_retry_plan(r, ctx) == NGX_OK) {
        ngx_http_bedrock_retry_later(r, ctx);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "bedrock: giving up after %ui attempts: %ui, model \"%*s\"",
                  ctx->attempts, ctx->status, ctx->model.id_len,
                  ctx->model.id);

    if (ctx->status == NGX_HTTP_GATEWAY_TIME_OUT) {
        rc = ngx_http_bedrock_send_error(r, NGX_HTTP_GATEWAY_TIME_OUT,
                                         NGX_HTTP_BEDROCK_TIMEOUT,
                                         "Bedrock did not answer in time.");

    } else {
        rc = ngx_http_bedrock_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                         NGX_HTTP_BEDROCK_UNAVAILABLE,
                                         "Bedrock could not be reached "
                                         "(status %ui).", ctx->status);
    }

    ngx_http_finalize_request(r, rc);
}


static void
ngx_http_bedrock_retry_later(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_http_bedrock_loc_conf_t  *blcf;
    ngx_http_bedrock_target_t    *targets;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    targets = blcf->targets->elts;

    if (ctx->failure & NGX_HTTP_BEDROCK_RETRY_THROTTLING) {
        ngx_http_bedrock_limit_cooldown(r, ctx, ctx->retry_delay);
    }

    r->connection->log->action = "waiting to retry";

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "bedrock: attempt %ui of %ui failed: %ui %V, "
                  "retrying in %M ms, model \"%*s\", target \"%V\", "
                  "client \"%V\"",
                  ctx->attempts, blcf->retry.attempts, ctx->status,
                  &ctx->error_type, ctx->retry_delay, ctx->model.id_len,
                  ctx->model.id, &targets[ctx->next_target].url,
                  ngx_http_bedrock_client_name(ctx));

    if (ngx_http_bedrock_retry_schedule(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/*
 * What the answer says beyond its status: Bedrock's error type (up to the
 * first ':' of x-amzn-ErrorType), a Retry-After from a proxy in between,
 * and the token counts InvokeModel reports in headers.
 */

static void
ngx_http_bedrock_read_answer(ngx_http_request_t *sr,
    ngx_http_bedrock_ctx_t *ctx)
{
    u_char           *colon;
    ngx_int_t         n;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_null(&ctx->error_type);
    ctx->retry_after = 0;

    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        if (h[i].key.len == sizeof("x-amzn-ErrorType") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "x-amzn-ErrorType",
                               h[i].key.len) == 0)
        {
            ctx->error_type = h[i].value;

            colon = ngx_strlchr(h[i].value.data,
                                h[i].value.data + h[i].value.len, ':');
            if (colon) {
                ctx->error_type.len = colon - h[i].value.data;
            }

        } else if (h[i].key.len == sizeof("Retry-After") - 1
                   && ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                                      h[i].key.len) == 0)
        {
            n = ngx_atoi(h[i].value.data, h[i].value.len);
            if (n > 0 && n < 3600) {
                ctx->retry_after = n * 1000;
            }

        } else if (h[i].key.len
                   == sizeof("X-Amzn-Bedrock-Input-Token-Count") - 1
                   && ngx_strncasecmp(h[i].key.data,
                                (u_char *) "X-Amzn-Bedrock-Input-Token-Count",
                                h[i].key.len) == 0)
        {
            n = ngx_atoi(h[i].value.data, h[i].value.len);
            if (n >= 0) {
                ctx->input_tokens = n;
                ctx->usage_known = 1;
            }

        } else if (h[i].key.len
                   == sizeof("X-Amzn-Bedrock-Output-Token-Count") - 1
                   && ngx_strncasecmp(h[i].key.data,
                               (u_char *) "X-Amzn-Bedrock-Output-Token-Count",
                               h[i].key.len) == 0)
        {
            n = ngx_atoi(h[i].value.data, h[i].value.len);
            if (n >= 0) {
                ctx->output_tokens = n;
                ctx->usage_known = 1;
            }
        }
    }
}


/* $bedrock_upstream_errors: each failed attempt's type, in order */

static void
ngx_http_bedrock_note_error(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_str_t  status;
    u_char     buf[NGX_INT_T_LEN];

    /* an attempt that got no answer is named as bedrock_retry_on names it */

    if (ctx->error_type.len == 0) {
        if (ctx->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            ngx_str_set(&ctx->error_type, "timeout");

        } else if (ctx->status == NGX_HTTP_BAD_GATEWAY) {
            ngx_str_set(&ctx->error_type, "error");
        }
    }

    if (ctx->error_type.len) {
        ngx_http_bedrock_add_error(r, ctx, &ctx->error_type);
        return;
    }

    status.data = buf;
    status.len = ngx_sprintf(buf, "%ui", ctx->status) - buf;

    ngx_http_bedrock_add_error(r, ctx, &status);
}


static void
ngx_http_bedrock_add_error(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx, ngx_str_t *name)
{
    u_char  *p;
    size_t   len;

    len = ctx->errors.len + (ctx->errors.len ? 1 : 0) + name->len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return;
    }

    if (ctx->errors.len) {
        ngx_memcpy(p, ctx->errors.data, ctx->errors.len);
        p[ctx->errors.len] = ',';
    }

    ngx_memcpy(p + len - name->len, name->data, name->len);

    ctx->errors.data = p;
    ctx->errors.len = len;
}


/*
 * The answer goes to the client as Bedrock gave it: status, the headers
 * the proxy module kept (Bedrock's x-amzn-* and token counts among them),
 * its type and length.
 */

static ngx_int_t
ngx_http_bedrock_relay_headers(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    r->headers_out.status = sr->headers_out.status;
    r->headers_out.content_type = sr->headers_out.content_type;
    r->headers_out.content_type_len = sr->headers_out.content_type_len;
    r->headers_out.content_length_n = sr->headers_out.content_length_n;

    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        nh = ngx_list_push(&r->headers_out.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    if (ctx->attempts > 1) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Bedrock-Attempts");
        h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%ui", ctx->attempts)
                       - h->value.data;
    }

    return ngx_http_send_header(r);
}


static ngx_int_t
ngx_http_bedrock_header_filter(ngx_http_request_t *r)
{
    ngx_http_bedrock_ctx_t  *ctx;

    if (r == r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->sr != r) {
        return ngx_http_next_header_filter(r);
    }

    ctx->status = r->headers_out.status;
    ngx_http_bedrock_read_answer(r, ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: attempt answered %ui %V",
                   ctx->status, &ctx->error_type);

    if (ctx->status >= NGX_HTTP_BAD_REQUEST) {
        ngx_http_bedrock_note_error(r->main, ctx);

        /* retried only while nothing of it has reached the client */

        if (ngx_http_bedrock_retry_plan(r->main, ctx) == NGX_OK) {
            ctx->swallow = 1;
            return NGX_OK;
        }

        if (ctx->failure != NGX_HTTP_BEDROCK_RETRY_OTHER
            && ctx->attempts > 1)
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "bedrock: giving up after %ui attempts: %ui %V, "
                          "model \"%*s\"", ctx->attempts, ctx->status,
                          &ctx->error_type, ctx->model.id_len,
                          ctx->model.id);
        }
    }

    ctx->relayed = 1;

    if (ctx->status < NGX_HTTP_SPECIAL_RESPONSE
        && ngx_http_bedrock_watch_init(r->main, r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_bedrock_relay_headers(r->main, r, ctx);
}


static ngx_int_t
ngx_http_bedrock_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t             *cl;
    ngx_http_bedrock_ctx_t  *ctx;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->sr != r) {
        return ngx_http_next_body_filter(r, in);
    }

    if (!ctx->swallow) {
        ngx_http_bedrock_watch(r, ctx, in);

        /* the upstream module ends a whole answer with its last buffer */

        for (cl = in; cl; cl = cl->next) {
            if (cl->buf->last_in_chain || cl->buf->last_buf) {
                ctx->complete = 1;
            }
        }

        return ngx_http_next_body_filter(r, in);
    }

    /* a dropped attempt: its body is consumed here */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


/*
 * A relayed answer is watched for its usage: a stream through a decoder
 * (messages up to the decoder's default frame size; Bedrock's chunks are
 * at most 1 MB), a JSON answer by keeping its first bytes.
 */

static ngx_int_t
ngx_http_bedrock_watch_init(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_bedrock_ctx_t *ctx)
{
    ngx_str_t           *type;
    ngx_pool_cleanup_t  *cln;

    type = &sr->headers_out.content_type;

    if (type->len >= sizeof("application/vnd.amazon.eventstream") - 1
        && ngx_strncasecmp(type->data,
                           (u_char *) "application/vnd.amazon.eventstream",
                           sizeof("application/vnd.amazon.eventstream") - 1)
           == 0)
    {
        ctx->stream = 1;

        ctx->es = ngx_pcalloc(r->pool, sizeof(ngx_bedrock_es_t));
        if (ctx->es == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        ngx_bedrock_es_init(ctx->es, 0, ngx_http_bedrock_stream_event, r,
                            NULL, NULL, NULL);

        cln->handler = ngx_http_bedrock_stream_free;
        cln->data = ctx->es;

        return NGX_OK;
    }

    ctx->answer_size = NGX_HTTP_BEDROCK_ANSWER_MAX;

    if (sr->headers_out.content_length_n >= 0
        && sr->headers_out.content_length_n < NGX_HTTP_BEDROCK_ANSWER_MAX)
    {
        ctx->answer_size = (size_t) sr->headers_out.content_length_n;
    }

    ctx->answer = ngx_pnalloc(r->pool, ctx->answer_size);
    if (ctx->answer == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_bedrock_watch(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx,
    ngx_chain_t *in)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        /* with proxy_buffering on, a large answer may come from a file */
        if (!ngx_buf_in_memory(b) || b->pos == b->last) {
            continue;
        }

        if (ctx->es) {
            if (ngx_bedrock_es_feed(ctx->es, b->pos, b->last - b->pos) != 0
                && !ctx->stream_broken)
            {
                ctx->stream_broken = 1;

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "bedrock: the stream cannot be decoded "
                              "from byte %uL: %s; relayed as it is",
                              ctx->es->error_offset,
                              ngx_bedrock_es_strerror(ctx->es->error));
            }

            continue;
        }

        n = ngx_min((size_t) (b->last - b->pos),
                    ctx->answer_size - ctx->answer_len);

        ngx_memcpy(ctx->answer + ctx->answer_len, b->pos, n);
        ctx->answer_len += n;
    }
}


/*
 * A stream's events carry its usage (ConverseStream's metadata, the last
 * chunk's invocation metrics); an exception after the first bytes cannot
 * be retried any more: it reaches the client as Bedrock sent it, and is
 * logged here.
 */

static int
ngx_http_bedrock_stream_event(void *data, const ngx_bedrock_es_message_t *msg)
{
    ngx_http_request_t *r = data;

    ngx_str_t                name;
    ngx_http_bedrock_ctx_t  *ctx;
    char                     message[NGX_BEDROCK_ERROR_LEN];

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    if (msg->type == NGX_BEDROCK_ES_EVENT && msg->payload) {
        (void) ngx_bedrock_usage_event(msg->name, msg->name_len,
                                       msg->payload, msg->payload_len,
                                       &ctx->usage);
        return 0;
    }

    if (msg->type != NGX_BEDROCK_ES_EXCEPTION
        && msg->type != NGX_BEDROCK_ES_ERROR)
    {
        return 0;
    }

    name.data = (u_char *) (msg->name ? msg->name : (u_char *) "error");
    name.len = msg->name ? msg->name_len : sizeof("error") - 1;

    message[0] = '\0';

    if (msg->payload) {
        (void) ngx_bedrock_usage_message(msg->payload, msg->payload_len,
                                         message, sizeof(message));
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "bedrock: stream exception %V after %uL bytes: \"%s\", "
                  "passed to the client, model \"%*s\"",
                  &name, msg->offset, message, ctx->model.id_len,
                  ctx->model.id);

    ngx_http_bedrock_add_error(r, ctx, &name);

    return 0;
}


static void
ngx_http_bedrock_stream_free(void *data)
{
    ngx_bedrock_es_free(data);
}


/*
 * The usage the reservation is settled to: what the body or the stream
 * reported, else the token-count headers of InvokeModel.  Cache writes
 * count as input, as Bedrock counts them.
 */

static void
ngx_http_bedrock_real_usage(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_bedrock_usage_t  *u;

    u = &ctx->usage;

    if (ctx->answer_len) {
        (void) ngx_bedrock_usage_body(ctx->answer, ctx->answer_len, u);
    }

    if (u->found & NGX_BEDROCK_USAGE_INPUT) {
        ctx->input_tokens = u->input_tokens + u->cache_write_input_tokens;
        ctx->usage_known = 1;
    }

    if (u->found & NGX_BEDROCK_USAGE_OUTPUT) {
        ctx->output_tokens = u->output_tokens;
        ctx->usage_known = 1;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: real usage: input %uL, output %uL, known %d",
                   ctx->input_tokens, ctx->output_tokens, ctx->usage_known);
}


ngx_int_t
ngx_http_bedrock_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_bedrock_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_bedrock_body_filter;

    return NGX_OK;
}
