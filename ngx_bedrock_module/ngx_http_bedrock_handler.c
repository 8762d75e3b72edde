/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The content handler of bedrock_pass: one request, end to end.
 *
 *   1 read body     the whole client body, in memory or from its temp file
 *   2 classify      /model/{modelId}/{operation}: model, family, operation
 *                   and, with bedrock_client_keys, who the client is
 *   3 estimate      validate the JSON and price it: input + max_tokens;
 *                   over bedrock_max_input_tokens, compress it to fit
 *   4 limit         reserve the cost in the shared zones: admit now, wait
 *                   on a timer, or answer 429 (ngx_http_bedrock_limit.c);
 *                   CountTokens, free and outside the quota, skips 3's
 *                   compression and 4
 *   5 attempt       a subrequest to the internal upstream location,
 *                   relayed to the client (ngx_http_bedrock_upstream.c)
 */


#include "ngx_http_bedrock_module.h"


static void ngx_http_bedrock_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_bedrock_process(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_bedrock_classify(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static ngx_int_t ngx_http_bedrock_fit(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx);
static void ngx_http_bedrock_compress_cleanup(void *data);
static u_char *ngx_http_bedrock_request_id(ngx_http_request_t *r,
    u_char *p);
static void ngx_http_bedrock_cleanup(void *data);
static ngx_int_t ngx_http_bedrock_send_error_v(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, const char *fmt, va_list args);


ngx_int_t
ngx_http_bedrock_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_pool_cleanup_t      *cln;
    ngx_http_bedrock_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_bedrock_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_bedrock_cleanup;
    cln->data = ctx;

    ctx->start = ngx_current_msec;
    ctx->retry_event.handler = ngx_http_bedrock_retry_handler;
    ctx->retry_event.data = r;
    ctx->retry_event.log = r->connection->log;
    ctx->quiet_event.handler = ngx_http_bedrock_quiet_end;
    ctx->quiet_event.data = ctx;
    ctx->quiet_event.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_http_bedrock_module);

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_bedrock_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                           NGX_HTTP_BEDROCK_VALIDATION,
                                           "Bedrock Runtime operations "
                                           "take POST, not %V",
                                           &r->method_name);
    }

    rc = ngx_http_bedrock_classify(r, ctx);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_bedrock_send_error(r, NGX_HTTP_NOT_FOUND,
                                           "UnknownOperationException",
                                           "%s", NGX_BEDROCK_PATH_ERROR);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_bedrock_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_bedrock_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_bedrock_module);

    rc = ngx_http_bedrock_process(r, ctx);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Steps 1-5 once the body is read.  Returns NGX_DONE when the request is
 * taken care of (an attempt or a wait is under way, or it was answered
 * and finalized), else what to finalize it with.  A step that answers the
 * client finalizes the request and returns NGX_DONE.
 */

static ngx_int_t
ngx_http_bedrock_process(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_int_t  rc;
    char       err[NGX_BEDROCK_ERROR_LEN];

    if (r->connection->error) {
        return NGX_HTTP_CLIENT_CLOSED_REQUEST;
    }

    if (ngx_http_bedrock_read_body(r, &ctx->body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_bedrock_client_verify(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_bedrock_estimate_body(ctx->body.data, ctx->body.len,
                                  &ctx->model, &ctx->estimate, err)
        != 0)
    {
        return ngx_http_bedrock_reject(r, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_BEDROCK_VALIDATION, "%s", err);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: model \"%V\" %s, input %uL, cost %uL",
                   &ctx->path, ngx_bedrock_api_name(ctx->model.api),
                   ctx->estimate.input_tokens, ctx->estimate.cost);

    if (ctx->model.api == NGX_BEDROCK_API_COUNT_TOKENS) {

        /* counting is free and outside the token quota: passed as it is */

        ctx->estimate.cost = 0;

    } else {
        rc = ngx_http_bedrock_fit(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_bedrock_limit_acquire(r, ctx);

        if (rc == NGX_AGAIN) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ngx_http_bedrock_attempt(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/*
 * The limiter let a waiting request in: it goes on from a timer, so the
 * posted subrequest is run here.
 */

void
ngx_http_bedrock_admitted(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_connection_t  *c;

    c = r->connection;

    if (ngx_http_bedrock_attempt(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * A request over bedrock_max_input_tokens is compressed to fit, or
 * answered 413 when it cannot be.  The compressed body replaces the
 * client's for every attempt (and is what gets signed); the estimate is
 * made again over it.  Returns NGX_OK to go on, else NGX_DONE (answered).
 */

static ngx_int_t
ngx_http_bedrock_fit(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    uint64_t                        input, cap;
    ngx_pool_cleanup_t             *cln;
    ngx_bedrock_compress_conf_t     conf;
    ngx_bedrock_compress_result_t  *res;
    ngx_http_bedrock_loc_conf_t    *blcf;
    char                            err[NGX_BEDROCK_ERROR_LEN];

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    input = ctx->estimate.input_tokens;
    cap = blcf->max_input_tokens;

    if (blcf->warn_tokens && input > (uint64_t) blcf->warn_tokens) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "bedrock: large request: model \"%*s\", "
                      "%uL input tokens (estimated), cost %uL, client \"%V\"",
                      ctx->model.id_len, ctx->model.id, input,
                      ctx->estimate.cost, ngx_http_bedrock_client_name(ctx));
    }

    if (cap == 0 || input <= cap) {
        return NGX_OK;
    }

    if (!blcf->compress) {
        return ngx_http_bedrock_reject(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_BEDROCK_VALIDATION,
                                       "Input is too long: %uL tokens "
                                       "(estimated), over the gateway's "
                                       "limit of %uL.", input, cap);
    }

    res = ngx_pcalloc(r->pool, sizeof(ngx_bedrock_compress_result_t));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_bedrock_compress_cleanup;
    cln->data = res;

    conf.max_input_tokens = cap;
    conf.block_tokens = blcf->compress_block;
    conf.keep_turns = blcf->compress_keep;

    if (ngx_bedrock_compress_body(ctx->body.data, ctx->body.len, &ctx->model,
                                  &conf, res, err)
        != 0)
    {
        switch (res->error) {

        case NGX_BEDROCK_COMPRESS_TOO_LARGE:
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "bedrock: cannot compress model \"%*s\" from %uL "
                          "to %uL tokens: %s", ctx->model.id_len,
                          ctx->model.id, input, cap, err);

            return ngx_http_bedrock_reject(r,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           NGX_HTTP_BEDROCK_VALIDATION,
                                           "%s", err);

        case NGX_BEDROCK_COMPRESS_MALFORMED:
            return ngx_http_bedrock_reject(r, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_BEDROCK_VALIDATION,
                                           "%s", err);

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (res->body == NULL) {
        return NGX_OK;
    }

    ctx->body.data = res->body;
    ctx->body.len = res->len;
    ctx->compressed_from = input;

    if (ngx_bedrock_estimate_body(ctx->body.data, ctx->body.len, &ctx->model,
                                  &ctx->estimate, err)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "bedrock: the compressed body is not valid: %s", err);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->compressed_to = ctx->estimate.input_tokens;

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "bedrock: compressed model \"%*s\" from %uL to %uL input "
                  "tokens (limit %uL): %uD texts shortened, %uD messages "
                  "dropped, client \"%V\"", ctx->model.id_len, ctx->model.id,
                  input, ctx->compressed_to, cap, res->blocks_shrunk,
                  res->turns_dropped, ngx_http_bedrock_client_name(ctx));

    return NGX_OK;
}


static void
ngx_http_bedrock_compress_cleanup(void *data)
{
    ngx_bedrock_compress_free(data);
}


/*
 * The body in one piece of memory: the request body API leaves it in one
 * memory buffer (request_body_in_single_buf), or in a temp file when it
 * was larger than client_body_buffer_size, or in a memory buffer followed
 * by the file.
 */

static ngx_int_t
ngx_http_bedrock_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "bedrock: read %z of %O bytes of the request body "
                          "from \"%V\"", n, b->file_last - b->file_pos,
                          &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * The raw path names the model and the operation.  It is kept as the
 * client sent it: the same bytes go to Bedrock and into the signature.
 * Returns NGX_DECLINED when it names no Bedrock Runtime operation.
 */

static ngx_int_t
ngx_http_bedrock_classify(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    u_char  *q;

    ctx->path = r->unparsed_uri;

    q = ngx_strlchr(ctx->path.data, ctx->path.data + ctx->path.len, '?');
    if (q) {
        ctx->args.data = q + 1;
        ctx->args.len = ctx->path.data + ctx->path.len - (q + 1);
        ctx->path.len = q - ctx->path.data;
    }

    ctx->model_id = ngx_pnalloc(r->pool, ctx->path.len);
    if (ctx->model_id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_bedrock_model_parse_path(ctx->path.data, ctx->path.len,
                                     ctx->model_id, &ctx->model)
        != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Answers in Bedrock's own error shape: the type in x-amzn-ErrorType, a
 * request id, and {"message": "..."}.  Returns what to finalize with.
 */

ngx_int_t
ngx_http_bedrock_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_http_bedrock_send_error_v(r, status, type, fmt, args);
    va_end(args);

    return rc;
}


/*
 * The same, for a step of the request path: the answer ends the request,
 * which is finalized here.  Returns NGX_DONE.
 */

ngx_int_t
ngx_http_bedrock_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *fmt, ...)
{
    ngx_int_t  rc;
    va_list    args;

    va_start(args, fmt);
    rc = ngx_http_bedrock_send_error_v(r, status, type, fmt, args);
    va_end(args);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_bedrock_send_error_v(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *fmt, va_list args)
{
    u_char           *p, *last, *body;
    size_t            len;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;
    u_char            msg[NGX_BEDROCK_ERROR_LEN * 2];

    last = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);

    len = sizeof("{\"message\":\"\"}") - 1
          + (last - msg) + ngx_escape_json(NULL, msg, last - msg);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"message\":\"", sizeof("{\"message\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, msg, last - msg);
    p = ngx_cpymem(p, "\"}", 2);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-amzn-ErrorType");
    h->value.len = ngx_strlen(type)
                   + sizeof(":http://internal.amazon.com/coral/"
                            "com.amazon.bedrock/") - 1;
    h->value.data = ngx_pnalloc(r->pool, h->value.len);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(h->value.data,
                "%s:http://internal.amazon.com/coral/com.amazon.bedrock/",
                type);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-amzn-RequestId");
    h->value.data = ngx_pnalloc(r->pool, 36);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.len = ngx_http_bedrock_request_id(r, h->value.data)
                   - h->value.data;

    r->headers_out.status = status;
    r->headers_out.content_length_n = p - body;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "bedrock: answering %ui %s: %*s", status, type,
                   (size_t) (last - msg), msg);

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = p;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * A request id in the UUID form AWS uses, from nginx's $request_id, so
 * that the access log and the client see the same id.
 */

static u_char *
ngx_http_bedrock_request_id(ngx_http_request_t *r, u_char *p)
{
    u_char                     *s;
    ngx_uint_t                  i;
    ngx_http_variable_value_t  *v;
    static ngx_str_t            name = ngx_string("request_id");

    v = ngx_http_get_variable(r, &name, ngx_hash_key(name.data, name.len));

    if (v == NULL || v->not_found || v->len != 32) {
        return ngx_cpymem(p, "00000000-0000-0000-0000-000000000000", 36);
    }

    s = v->data;

    for (i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) {
            *p++ = '-';
        }

        *p++ = s[i];
    }

    return p;
}


/* Whatever way the request ends, a client abort included. */

static void
ngx_http_bedrock_cleanup(void *data)
{
    ngx_http_bedrock_ctx_t *ctx = data;

    if (ctx->retry_event.timer_set) {
        ngx_del_timer(&ctx->retry_event);
    }

    if (ctx->quiet_event.posted) {
        ngx_delete_posted_event(&ctx->quiet_event);
    }

    ngx_http_bedrock_quiet_end(&ctx->quiet_event);
}
