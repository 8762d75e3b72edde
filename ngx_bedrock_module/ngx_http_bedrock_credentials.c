/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Credentials toward Bedrock, read once at configuration time (so that
 * `nginx -t` reports a missing one, and `nginx -s reload` re-reads a
 * credentials file), and the signing of every attempt with them.
 *
 * Secrets are never logged: not here, and not by the proxy module either,
 * whose debug log would print the headers of an attempt that carries a
 * session token or an API key (see ngx_http_bedrock_quiet()).
 */


#include "ngx_http_bedrock_module.h"


static char *ngx_http_bedrock_credentials_env(ngx_conf_t *cf,
    ngx_http_bedrock_credentials_t *cred);
static char *ngx_http_bedrock_credentials_file(ngx_conf_t *cf,
    ngx_http_bedrock_credentials_t *cred, ngx_str_t *path,
    ngx_str_t *profile);
static ngx_int_t ngx_http_bedrock_ini_value(ngx_str_t *text,
    ngx_str_t *profile, const char *key, ngx_str_t *value);
static ngx_int_t ngx_http_bedrock_getenv(ngx_conf_t *cf, const char *name,
    ngx_str_t *value);
static ngx_int_t ngx_http_bedrock_push_header(ngx_http_request_t *sr,
    const char *name, u_char *value, size_t len);
static ngx_int_t ngx_http_bedrock_signed_headers(ngx_http_request_t *sr,
    ngx_array_t *headers);


/*
 * bedrock_credentials env;
 * bedrock_credentials file[=PATH] [profile=NAME];
 * bedrock_credentials key=ID secret=SECRET [token=TOKEN];
 * bedrock_credentials api_key=KEY;
 * bedrock_credentials off;
 */

char *
ngx_http_bedrock_credentials(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                       *value, path, profile;
    ngx_uint_t                       i, file;
    ngx_http_bedrock_credentials_t  *cred;

    if (blcf->credentials != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        blcf->credentials = NULL;
        return NGX_CONF_OK;
    }

    cred = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_credentials_t));
    if (cred == NULL) {
        return NGX_CONF_ERROR;
    }

    blcf->credentials = cred;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "env") == 0) {
        return ngx_http_bedrock_credentials_env(cf, cred);
    }

    file = 0;
    ngx_str_null(&path);
    ngx_str_null(&profile);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "file") == 0) {
            file = 1;

        } else if (ngx_strncmp(value[i].data, "file=", 5) == 0) {
            file = 1;
            path.data = value[i].data + 5;
            path.len = value[i].len - 5;

        } else if (ngx_strncmp(value[i].data, "profile=", 8) == 0) {
            profile.data = value[i].data + 8;
            profile.len = value[i].len - 8;

        } else if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            cred->access_key_id.data = value[i].data + 4;
            cred->access_key_id.len = value[i].len - 4;

        } else if (ngx_strncmp(value[i].data, "secret=", 7) == 0) {
            cred->secret_access_key.data = value[i].data + 7;
            cred->secret_access_key.len = value[i].len - 7;

        } else if (ngx_strncmp(value[i].data, "token=", 6) == 0) {
            cred->session_token.data = value[i].data + 6;
            cred->session_token.len = value[i].len - 6;

        } else if (ngx_strncmp(value[i].data, "api_key=", 8) == 0) {
            cred->api_key.data = value[i].data + 8;
            cred->api_key.len = value[i].len - 8;

        } else {
            /* the value may be a secret: name the parameter only */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter in \"bedrock_credentials\""
                               " (parameter %ui)", i);
            return NGX_CONF_ERROR;
        }
    }

    if (file) {
        return ngx_http_bedrock_credentials_file(cf, cred, &path, &profile);
    }

    if (cred->api_key.len) {
        cred->mode = NGX_HTTP_BEDROCK_BEARER;
        ngx_str_set(&cred->source, "the bedrock_credentials directive");
        return NGX_CONF_OK;
    }

    if (cred->access_key_id.len == 0 || cred->secret_access_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"bedrock_credentials\" needs key= and secret=, "
                           "api_key=, env or file");
        return NGX_CONF_ERROR;
    }

    cred->mode = NGX_HTTP_BEDROCK_SIGV4;
    ngx_str_set(&cred->source, "the bedrock_credentials directive");

    return NGX_CONF_OK;
}


/*
 * The variables AWS SDKs read.  They are read by the master when it reads
 * the configuration, so workers need no "env" directive for them.
 */

static char *
ngx_http_bedrock_credentials_env(ngx_conf_t *cf,
    ngx_http_bedrock_credentials_t *cred)
{
    ngx_str_set(&cred->source, "the environment");

    if (ngx_http_bedrock_getenv(cf, "AWS_ACCESS_KEY_ID",
                                &cred->access_key_id) == NGX_OK
        && ngx_http_bedrock_getenv(cf, "AWS_SECRET_ACCESS_KEY",
                                   &cred->secret_access_key) == NGX_OK)
    {
        (void) ngx_http_bedrock_getenv(cf, "AWS_SESSION_TOKEN",
                                       &cred->session_token);
        cred->mode = NGX_HTTP_BEDROCK_SIGV4;
        return NGX_CONF_OK;
    }

    if (ngx_http_bedrock_getenv(cf, "AWS_BEARER_TOKEN_BEDROCK",
                                &cred->api_key) == NGX_OK)
    {
        cred->mode = NGX_HTTP_BEDROCK_BEARER;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"bedrock_credentials env\": neither "
                       "AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY nor "
                       "AWS_BEARER_TOKEN_BEDROCK is set in nginx's "
                       "environment");

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_bedrock_getenv(ngx_conf_t *cf, const char *name, ngx_str_t *value)
{
    char  *v;

    v = getenv(name);

    if (v == NULL || *v == '\0') {
        return NGX_DECLINED;
    }

    value->len = ngx_strlen(v);
    value->data = ngx_pnalloc(cf->pool, value->len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, v, value->len);

    return NGX_OK;
}


/*
 * A shared credentials file, as the AWS SDKs read it: "[profile]"
 * sections of "key = value" lines.  The path defaults to
 * $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials (a relative path
 * is relative to the configuration's directory); the profile to
 * $AWS_PROFILE, else "default".
 */

static char *
ngx_http_bedrock_credentials_file(ngx_conf_t *cf,
    ngx_http_bedrock_credentials_t *cred, ngx_str_t *path, ngx_str_t *profile)
{
    u_char           *p;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         home, text;
    ngx_file_info_t   fi;

    if (path->len == 0
        && ngx_http_bedrock_getenv(cf, "AWS_SHARED_CREDENTIALS_FILE", path)
           != NGX_OK)
    {
        ngx_str_set(path, "~/.aws/credentials");
    }

    if (path->len > 1 && path->data[0] == '~' && path->data[1] == '/') {
        if (ngx_http_bedrock_getenv(cf, "HOME", &home) != NGX_OK) {
            ngx_str_set(&home, "/root");
        }

        p = ngx_pnalloc(cf->pool, home.len + path->len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        path->len = ngx_sprintf(p, "%V%*s", &home, path->len - 1,
                                path->data + 1) - p;
        path->data = p;
    }

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (profile->len == 0
        && ngx_http_bedrock_getenv(cf, "AWS_PROFILE", profile) != NGX_OK)
    {
        ngx_str_set(profile, "default");
    }

    p = ngx_pnalloc(cf->pool, path->len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(p, path->data, path->len + 1);

    fd = ngx_open_file(p, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", p);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "credentials file \"%s\" cannot be read "
                           "or is larger than 1m", p);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    text.len = ngx_file_size(&fi);
    text.data = ngx_pnalloc(cf->pool, text.len + 1);
    if (text.data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, text.data, text.len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) text.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "reading credentials file \"%s\" failed", p);
        return NGX_CONF_ERROR;
    }

    cred->source.len = ngx_strlen(p);
    cred->source.data = p;

    if (ngx_http_bedrock_ini_value(&text, profile, "aws_access_key_id",
                                   &cred->access_key_id) != NGX_OK
        || ngx_http_bedrock_ini_value(&text, profile, "aws_secret_access_key",
                                      &cred->secret_access_key) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no aws_access_key_id and aws_secret_access_key "
                           "for profile \"%V\" in \"%s\"", profile, p);
        return NGX_CONF_ERROR;
    }

    (void) ngx_http_bedrock_ini_value(&text, profile, "aws_session_token",
                                      &cred->session_token);

    cred->mode = NGX_HTTP_BEDROCK_SIGV4;

    return NGX_CONF_OK;
}


/* The value of key in the [profile] section; spaces around '=' trimmed. */

static ngx_int_t
ngx_http_bedrock_ini_value(ngx_str_t *text, ngx_str_t *profile,
    const char *key, ngx_str_t *value)
{
    u_char      *p, *last, *eol, *eq, *s, *e;
    size_t       klen;
    ngx_uint_t   in_profile;

    klen = ngx_strlen(key);
    in_profile = 0;

    p = text->data;
    last = text->data + text->len;

    for ( /* void */ ; p < last; p = eol + 1) {

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        s = p;
        e = eol;

        while (s < e && (*s == ' ' || *s == '\t')) {
            s++;
        }

        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
            e--;
        }

        if (s == e || *s == '#' || *s == ';') {
            continue;
        }

        if (*s == '[') {
            in_profile = (e[-1] == ']'
                          && (size_t) (e - s - 2) == profile->len
                          && ngx_strncmp(s + 1, profile->data, profile->len)
                             == 0);
            continue;
        }

        if (!in_profile) {
            continue;
        }

        eq = ngx_strlchr(s, e, '=');
        if (eq == NULL) {
            continue;
        }

        p = eq;

        while (p > s && (p[-1] == ' ' || p[-1] == '\t')) {
            p--;
        }

        if ((size_t) (p - s) != klen || ngx_strncasecmp(s, (u_char *) key,
                                                        klen) != 0)
        {
            continue;
        }

        s = eq + 1;

        while (s < e && (*s == ' ' || *s == '\t')) {
            s++;
        }

        if (s == e) {
            return NGX_DECLINED;
        }

        value->data = s;
        value->len = e - s;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * Signs the attempt toward its target, afresh each time (a new
 * X-Amz-Date), over what the proxy module will send: the client's exact
 * path and query, the Host of the target, the headers listed by
 * ngx_http_bedrock_signed_headers() and the body's hash, computed once.
 */

ngx_int_t
ngx_http_bedrock_sign(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_bedrock_ctx_t *ctx)
{
    u_char                          *buf, *p;
    size_t                           size;
    ngx_array_t                      headers;
    ngx_http_bedrock_target_t       *target;
    ngx_bedrock_sigv4_request_t      req;
    ngx_bedrock_sigv4_result_t       res;
    ngx_bedrock_sigv4_credentials_t  c;
    ngx_http_bedrock_loc_conf_t     *blcf;
    ngx_http_bedrock_credentials_t  *cred;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_bedrock_module);
    cred = blcf->credentials;

    if (cred == NULL) {
        return NGX_OK;
    }

    if (cred->mode == NGX_HTTP_BEDROCK_BEARER) {
        size = sizeof("Bearer ") - 1 + cred->api_key.len;

        p = ngx_pnalloc(r->pool, size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "Bearer %V", &cred->api_key);
        ctx->secret_headers = 1;

        return ngx_http_bedrock_push_header(sr, "Authorization", p, size);
    }

    if (ctx->payload_hash[0] == '\0'
        && ngx_bedrock_sigv4_payload_hash(ctx->body.data, ctx->body.len,
                                          ctx->payload_hash)
           != 0)
    {
        return NGX_ERROR;
    }

    if (ngx_array_init(&headers, r->pool, 8,
                       sizeof(ngx_bedrock_sigv4_header_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_bedrock_signed_headers(sr, &headers) != NGX_OK) {
        return NGX_ERROR;
    }

    target = blcf->targets->elts;
    target = &target[ctx->target];

    ngx_memzero(&req, sizeof(ngx_bedrock_sigv4_request_t));

    req.method.data = (u_char *) "POST";
    req.method.len = 4;
    req.path.data = ctx->path.data;
    req.path.len = ctx->path.len;
    req.query.data = ctx->args.data;
    req.query.len = ctx->args.len;
    req.headers = headers.elts;
    req.nheaders = headers.nelts;
    req.host.data = target->host.data;
    req.host.len = target->host.len;
    req.payload_hash.data = (u_char *) ctx->payload_hash;
    req.payload_hash.len = NGX_BEDROCK_SIGV4_HEX_LEN;
    req.region.data = target->region.data;
    req.region.len = target->region.len;
    req.service.data = (u_char *) NGX_BEDROCK_SIGV4_SERVICE;
    req.service.len = sizeof(NGX_BEDROCK_SIGV4_SERVICE) - 1;
    req.time = ngx_time();

    c.access_key_id.data = cred->access_key_id.data;
    c.access_key_id.len = cred->access_key_id.len;
    c.secret_access_key.data = cred->secret_access_key.data;
    c.secret_access_key.len = cred->secret_access_key.len;
    c.session_token.data = cred->session_token.data;
    c.session_token.len = cred->session_token.len;

    size = ngx_bedrock_sigv4_sign_size(&req, &c);
    if (size == 0) {
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (ngx_bedrock_sigv4_sign(&req, &c, &target->key_cache, buf, size, &res)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "bedrock: signing the request failed");
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_BEDROCK_SIGV4_DATE_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, res.amz_date, NGX_BEDROCK_SIGV4_DATE_LEN);

    if (ngx_http_bedrock_push_header(sr, "X-Amz-Date", p,
                                     NGX_BEDROCK_SIGV4_DATE_LEN)
        != NGX_OK
        || ngx_http_bedrock_push_header(sr, "Authorization",
                                        (u_char *) res.authorization.data,
                                        res.authorization.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cred->session_token.len) {
        ctx->secret_headers = 1;

        return ngx_http_bedrock_push_header(sr, "X-Amz-Security-Token",
                                            cred->session_token.data,
                                            cred->session_token.len);
    }

    return NGX_OK;
}


/*
 * The forwarded headers that are signed: Content-Type and Bedrock's own
 * X-Amzn-Bedrock-* ones.  The others the proxy module may change or
 * proxies may strip (Connection, User-Agent...), so they are not.
 */

static ngx_int_t
ngx_http_bedrock_signed_headers(ngx_http_request_t *sr, ngx_array_t *headers)
{
    ngx_uint_t                   i;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h;
    ngx_bedrock_sigv4_header_t  *sh;

    part = &sr->headers_in.headers.part;
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

        if (!((h[i].key.len == sizeof("content-type") - 1
               && ngx_strncasecmp(h[i].key.data, (u_char *) "content-type",
                                  h[i].key.len) == 0)
              || (h[i].key.len > sizeof("x-amzn-bedrock-") - 1
                  && ngx_strncasecmp(h[i].key.data,
                                     (u_char *) "x-amzn-bedrock-",
                                     sizeof("x-amzn-bedrock-") - 1) == 0)))
        {
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


static ngx_int_t
ngx_http_bedrock_push_header(ngx_http_request_t *sr, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    h->lowcase_key = ngx_pnalloc(sr->pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(h->lowcase_key, h->key.data, h->key.len);

    return NGX_OK;
}


/*
 * At debug level the proxy module logs every header it sends, which would
 * put a session token or an API key in the error log.  Where an attempt
 * carries one, the connection's debug logging is paused from the moment
 * the attempt is created until its subrequest has built and sent its
 * request: that runs before the posted events of this cycle, where the
 * level is restored.
 */

void
ngx_http_bedrock_quiet(ngx_http_request_t *r, ngx_http_bedrock_ctx_t *ctx)
{
    ngx_log_t  *log;

    log = r->connection->log;

    if (!(log->log_level & NGX_LOG_DEBUG_ALL) || ctx->quiet_event.posted) {
        return;
    }

    /* what is not debug still goes to the log */
    ctx->quiet_level = log->log_level;
    log->log_level = NGX_LOG_INFO;

    ctx->quiet_log = log;

    ngx_post_event(&ctx->quiet_event, &ngx_posted_events);
}


void
ngx_http_bedrock_quiet_end(ngx_event_t *ev)
{
    ngx_http_bedrock_ctx_t *ctx = ev->data;

    if (ctx->quiet_log) {
        ctx->quiet_log->log_level = ctx->quiet_level;
        ctx->quiet_log = NULL;
    }
}
