/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Gateway-issued client keys.  An unmodified AWS SDK whose endpoint is the
 * gateway signs its requests with SigV4 for the gateway's host; with
 * bedrock_client_keys, the module checks that signature exactly as AWS
 * would (same verdicts, same 403 answers) and names the client in
 * $bedrock_client.  Over HTTP/2 nginx lists the client's :authority as a
 * "host" header; the AWS SDK for JavaScript v3 signs it under the name
 * ":authority", which the verifier takes as host.
 */


#include "ngx_http_bedrock_module.h"


static char *ngx_http_bedrock_client_keys_parse(ngx_conf_t *cf,
    ngx_array_t *keys, ngx_str_t *text, ngx_str_t *file);
static ngx_http_bedrock_client_key_t *ngx_http_bedrock_client_find(
    ngx_array_t *keys, const unsigned char *id, size_t len);
static ngx_int_t ngx_http_bedrock_client_reject(ngx_http_request_t *r,
    ngx_bedrock_sigv4_verdict_e verdict, const char *reason,
    ngx_bedrock_sigv4_auth_t *auth);
static ngx_int_t ngx_http_bedrock_client_stale(ngx_http_request_t *r,
    ngx_bedrock_sigv4_verdict_e verdict);
static ngx_int_t ngx_http_bedrock_client_headers(ngx_http_request_t *r,
    ngx_array_t *headers, ngx_str_t *authorization);


/* bedrock_client_keys FILE | off; lines of "KEY_ID SECRET [NAME]" */

char *
ngx_http_bedrock_client_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, file, text;
    ngx_file_info_t   fi;

    if (blcf->client_keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        blcf->client_keys = NULL;
        return NGX_CONF_OK;
    }

    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 16 * 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "client keys file \"%V\" cannot be read "
                           "or is larger than 16m", &file);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    text.len = ngx_file_size(&fi);
    text.data = ngx_pnalloc(cf->pool, text.len);
    if (text.data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, text.data, text.len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) text.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "reading client keys file \"%V\" failed", &file);
        return NGX_CONF_ERROR;
    }

    blcf->client_keys = ngx_array_create(cf->pool, 16,
                                    sizeof(ngx_http_bedrock_client_key_t));
    if (blcf->client_keys == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_bedrock_client_keys_parse(cf, blcf->client_keys, &text,
                                              &file);
}


static char *
ngx_http_bedrock_client_keys_parse(ngx_conf_t *cf, ngx_array_t *keys,
    ngx_str_t *text, ngx_str_t *file)
{
    u_char                         *p, *last, *eol;
    ngx_str_t                       field[3];
    ngx_uint_t                      line, n;
    ngx_http_bedrock_client_key_t  *key;

    p = text->data;
    last = text->data + text->len;

    for (line = 1; p < last; line++, p = eol + 1) {

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        /* up to three fields separated by white space */

        for (n = 0; n < 4; n++) {
            while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r')) {
                p++;
            }

            if (p == eol || *p == '#') {
                break;
            }

            if (n == 3) {
                goto invalid;
            }

            field[n].data = p;

            while (p < eol && *p != ' ' && *p != '\t' && *p != '\r') {
                p++;
            }

            field[n].len = p - field[n].data;
        }

        if (n == 0) {
            continue;
        }

        if (n == 1) {
            goto invalid;
        }

        if (ngx_http_bedrock_client_find(keys, field[0].data, field[0].len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate key id \"%V\" in \"%V\", line %ui",
                               &field[0], file, line);
            return NGX_CONF_ERROR;
        }

        key = ngx_array_push(keys);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(key, sizeof(ngx_http_bedrock_client_key_t));

        key->id = field[0];
        key->secret = field[1];
        key->name = (n == 3) ? field[2] : field[0];
    }

    if (keys->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no keys in \"%V\"", file);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    /* the line holds a secret: its number is enough */

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid line %ui in \"%V\": expected "
                       "\"KEY_ID SECRET [NAME]\"", line, file);

    return NGX_CONF_ERROR;
}


static ngx_http_bedrock_client_key_t *
ngx_http_bedrock_client_find(ngx_array_t *keys, const unsigned char *id,
    size_t len)
{
    ngx_uint_t                      i;
    ngx_http_bedrock_client_key_t  *key;

    key = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        if (key[i].id.len == len && ngx_memcmp(key[i].id.data, id, len) == 0) {
            return &key[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_bedrock_client_verify(ngx_http_request_t *r,
    ngx_http_bedrock_ctx_t *ctx)
{
    u_char                         *buf;
    size_t                          size;
    ngx_str_t                       authorization;
    ngx_array_t                     headers;
    const char                     *reason;
    ngx_bedrock_sigv4_str_t         secret;
    ngx_bedrock_sigv4_auth_t        auth;
    ngx_bedrock_sigv4_request_t     req;
    ngx_bedrock_sigv4_verdict_e     verdict;
    ngx_http_bedrock_loc_conf_t    *blcf;
    ngx_http_bedrock_client_key_t  *key;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);

    if (blcf->client_keys == NULL) {
        return NGX_OK;
    }

    if (ngx_array_init(&headers, r->pool, 16,
                       sizeof(ngx_bedrock_sigv4_header_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_bedrock_client_headers(r, &headers, &authorization)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    reason = NULL;

    verdict = ngx_bedrock_sigv4_parse_authorization(authorization.data,
                                                    authorization.len,
                                                    &auth, &reason);
    if (verdict != NGX_BEDROCK_SIGV4_OK) {
        return ngx_http_bedrock_client_reject(r, verdict, reason, NULL);
    }

    key = ngx_http_bedrock_client_find(blcf->client_keys,
                                       auth.access_key_id.data,
                                       auth.access_key_id.len);
    if (key == NULL) {
        return ngx_http_bedrock_client_reject(r, NGX_BEDROCK_SIGV4_UNKNOWN_KEY,
                                              NULL, &auth);
    }

    ngx_memzero(&req, sizeof(ngx_bedrock_sigv4_request_t));

    req.method.data = r->method_name.data;
    req.method.len = r->method_name.len;
    req.path.data = ctx->path.data;
    req.path.len = ctx->path.len;
    req.query.data = ctx->args.data;
    req.query.len = ctx->args.len;
    req.headers = headers.elts;
    req.nheaders = headers.nelts;
    req.body.data = ctx->body.data;
    req.body.len = ctx->body.len;
    req.service.data = (u_char *) NGX_BEDROCK_SIGV4_SERVICE;
    req.service.len = sizeof(NGX_BEDROCK_SIGV4_SERVICE) - 1;
    req.time = ngx_time();

    /* over HTTP/2 this is the :authority, signed as host or :authority */
    if (r->headers_in.host) {
        req.host.data = r->headers_in.host->value.data;
        req.host.len = r->headers_in.host->value.len;
    }

    secret.data = key->secret.data;
    secret.len = key->secret.len;

    size = ngx_bedrock_sigv4_verify_size(&req, &auth);
    if (size == 0) {
        return NGX_HTTP_REQUEST_HEADER_TOO_LARGE;
    }

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    verdict = ngx_bedrock_sigv4_verify(&req, &auth, &secret,
                                       NGX_BEDROCK_SIGV4_MAX_SKEW,
                                       &key->key_cache, buf, size, &reason);

    if (verdict == NGX_BEDROCK_SIGV4_EXPIRED
        || verdict == NGX_BEDROCK_SIGV4_NOT_YET_VALID)
    {
        return ngx_http_bedrock_client_stale(r, verdict);
    }

    if (verdict != NGX_BEDROCK_SIGV4_OK) {
        return ngx_http_bedrock_client_reject(r, verdict, reason, &auth);
    }

    ctx->client = key->name;

    return NGX_OK;
}


/* every header received, and the Authorization among them */

static ngx_int_t
ngx_http_bedrock_client_headers(ngx_http_request_t *r, ngx_array_t *headers,
    ngx_str_t *authorization)
{
    ngx_uint_t                   i;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h;
    ngx_bedrock_sigv4_header_t  *sh;

    ngx_str_null(authorization);

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

        if (h[i].key.len == sizeof("authorization") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "authorization",
                               h[i].key.len) == 0)
        {
            *authorization = h[i].value;
            continue;
        }

        sh = ngx_array_push(headers);
        if (sh == NULL) {
            return NGX_ERROR;
        }

        sh->name.data = h[i].key.data;
        sh->name.len = h[i].key.len;
        sh->value.data = h[i].value.data;
        sh->value.len = h[i].value.len;
    }

    return NGX_OK;
}


/* 403 in AWS's shape, with the message AWS gives for the same verdict */

static ngx_int_t
ngx_http_bedrock_client_reject(ngx_http_request_t *r,
    ngx_bedrock_sigv4_verdict_e verdict, const char *reason,
    ngx_bedrock_sigv4_auth_t *auth)
{
    ngx_uint_t   status;
    const char  *type, *message;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "bedrock: client signature rejected: %s%s%s, key id \"%*s\"",
                  ngx_bedrock_sigv4_verdict_name(verdict),
                  reason ? ": " : "", reason ? reason : "",
                  auth ? auth->access_key_id.len : 1,
                  auth ? auth->access_key_id.data : (u_char *) "-");

    type = ngx_bedrock_sigv4_verdict_error_type(verdict);
    status = NGX_HTTP_FORBIDDEN;

    switch (verdict) {

    case NGX_BEDROCK_SIGV4_MISSING:
        message = "Missing Authentication Token";
        break;

    case NGX_BEDROCK_SIGV4_UNKNOWN_KEY:
        message = "The security token included in the request is invalid.";
        break;

    case NGX_BEDROCK_SIGV4_MISMATCH:
        message = "The request signature we calculated does not match the "
                  "signature you provided. Check your AWS Secret Access Key "
                  "and signing method. Consult the service documentation "
                  "for details.";
        break;

    case NGX_BEDROCK_SIGV4_ERROR:
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        message = "An internal error occurred while checking the signature.";
        break;

    default:
        message = reason ? reason : "The request signature is not valid.";
    }

    return ngx_http_bedrock_reject(r, status, type, "%s", message);
}


/*
 * AWS words a stale signature with the three times involved:
 * "Signature expired: 20250130T203827Z is now earlier than
 * 20250130T204131Z (20250130T204631Z - 5 min.)".
 */

static ngx_int_t
ngx_http_bedrock_client_stale(ngx_http_request_t *r,
    ngx_bedrock_sigv4_verdict_e verdict)
{
    time_t             now;
    ngx_str_t          date;
    ngx_table_elt_t   *h;
    char               bound[NGX_BEDROCK_SIGV4_DATE_LEN + 1];
    char               current[NGX_BEDROCK_SIGV4_DATE_LEN + 1];

    h = ngx_http_bedrock_header_in(r, "x-amz-date");

    if (h != NULL) {
        date = h->value;

    } else {
        ngx_str_set(&date, "-");
    }

    now = ngx_time();

    if (ngx_bedrock_sigv4_amz_date(now, current) != 0
        || ngx_bedrock_sigv4_amz_date(verdict == NGX_BEDROCK_SIGV4_EXPIRED
                                      ? now - NGX_BEDROCK_SIGV4_MAX_SKEW
                                      : now + NGX_BEDROCK_SIGV4_MAX_SKEW,
                                      bound)
           != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "bedrock: client signature rejected: X-Amz-Date \"%V\" "
                  "is more than 5 minutes off", &date);

    if (verdict == NGX_BEDROCK_SIGV4_EXPIRED) {
        return ngx_http_bedrock_reject(r, NGX_HTTP_FORBIDDEN,
                                       "InvalidSignatureException",
                                       "Signature expired: %V is now earlier "
                                       "than %s (%s - 5 min.)",
                                       &date, bound, current);
    }

    return ngx_http_bedrock_reject(r, NGX_HTTP_FORBIDDEN,
                                   "InvalidSignatureException",
                                   "Signature not yet current: %V is still "
                                   "later than %s (%s + 5 min.)",
                                   &date, bound, current);
}


/* for log lines: the client's name, or "-" */

ngx_str_t *
ngx_http_bedrock_client_name(ngx_http_bedrock_ctx_t *ctx)
{
    static ngx_str_t  none = ngx_string("-");

    return ctx->client.len ? &ctx->client : &none;
}
