/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Directives, configuration and variables of ngx_http_bedrock_module.
 * The request path itself is in ngx_http_bedrock_handler.c (steps 1-7)
 * and ngx_http_bedrock_upstream.c (attempts and the relay of answers).
 */


#include "ngx_http_bedrock_module.h"
#include "ngx_http_bedrock_status.h"


static ngx_int_t ngx_http_bedrock_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_bedrock_init(ngx_conf_t *cf);
static void *ngx_http_bedrock_create_main_conf(ngx_conf_t *cf);
static void ngx_http_bedrock_exit(ngx_cycle_t *cycle);
static void *ngx_http_bedrock_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_bedrock_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_bedrock_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_tokens_slot(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_bedrock_compress(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_bedrock_parse_target(ngx_conf_t *cf,
    ngx_str_t *url, ngx_http_bedrock_target_t *target);
static ngx_int_t ngx_http_bedrock_region_from_host(ngx_str_t *host,
    ngx_str_t *region);

static ngx_int_t ngx_http_bedrock_upstream_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_client_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_uint_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_errors_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_bedrock_compressed_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_command_t  ngx_http_bedrock_commands[] = {

    { ngx_string("bedrock_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_upstream_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, location),
      NULL },

    { ngx_string("bedrock_max_input_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_bedrock_tokens_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, max_input_tokens),
      NULL },

    { ngx_string("bedrock_warn_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_bedrock_tokens_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, warn_tokens),
      NULL },

    { ngx_string("bedrock_compress"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_compress,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_credentials,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_client_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_bedrock_client_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_retry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_retry,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_retry_on"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_bedrock_retry_on,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /* status directives: ngx_http_bedrock_status.c */

    { ngx_string("bedrock_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_bedrock_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /* end of status directives */

    /* limit directives: ngx_http_bedrock_limit.c */

    { ngx_string("bedrock_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_bedrock_limit_zone,
      0,
      0,
      NULL },

    { ngx_string("bedrock_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_bedrock_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("bedrock_limit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, limit.status),
      &ngx_http_bedrock_limit_status_bounds },

    { ngx_string("bedrock_limit_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_bedrock_loc_conf_t, limit.log_level),
      &ngx_http_bedrock_limit_log_levels },

    { ngx_string("bedrock_limit_burndown"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_bedrock_limit_burndown,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /* end of limit directives */

      ngx_null_command
};


static ngx_http_module_t  ngx_http_bedrock_module_ctx = {
    ngx_http_bedrock_add_variables,        /* preconfiguration */
    ngx_http_bedrock_init,                 /* postconfiguration */

    ngx_http_bedrock_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_bedrock_create_loc_conf,      /* create location configuration */
    ngx_http_bedrock_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_bedrock_module = {
    NGX_MODULE_V1,
    &ngx_http_bedrock_module_ctx,          /* module context */
    ngx_http_bedrock_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_bedrock_exit,                 /* exit process */
    ngx_http_bedrock_exit,                 /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_bedrock_vars[] = {

    { ngx_string("bedrock_upstream"), NULL,
      ngx_http_bedrock_upstream_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("bedrock_model"), NULL,
      ngx_http_bedrock_model_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_client"), NULL,
      ngx_http_bedrock_client_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_input_tokens_estimate"), NULL,
      ngx_http_bedrock_number_variable,
      offsetof(ngx_http_bedrock_ctx_t, estimate.input_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_cost_estimate"), NULL,
      ngx_http_bedrock_number_variable,
      offsetof(ngx_http_bedrock_ctx_t, estimate.cost),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_compressed_from"), NULL,
      ngx_http_bedrock_compressed_variable,
      offsetof(ngx_http_bedrock_ctx_t, compressed_from),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_compressed_to"), NULL,
      ngx_http_bedrock_compressed_variable,
      offsetof(ngx_http_bedrock_ctx_t, compressed_to),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_attempts"), NULL,
      ngx_http_bedrock_uint_variable,
      offsetof(ngx_http_bedrock_ctx_t, attempts),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_retry_wait_ms"), NULL,
      ngx_http_bedrock_uint_variable,
      offsetof(ngx_http_bedrock_ctx_t, retry_wait),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_upstream_errors"), NULL,
      ngx_http_bedrock_errors_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_input_tokens"), NULL,
      ngx_http_bedrock_usage_variable,
      offsetof(ngx_http_bedrock_ctx_t, input_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("bedrock_output_tokens"), NULL,
      ngx_http_bedrock_usage_variable,
      offsetof(ngx_http_bedrock_ctx_t, output_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_bedrock_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    if (ngx_http_bedrock_limit_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    for (v = ngx_http_bedrock_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_init(ngx_conf_t *cf)
{
    ngx_http_bedrock_main_conf_t  *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);

    if (ngx_http_bedrock_stats_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the relay filters are only needed where bedrock_pass is used */

    if (bmcf->filters) {
        return ngx_http_bedrock_filter_init(cf);
    }

    return NGX_OK;
}


static void *
ngx_http_bedrock_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_main_conf_t));
}


static void *
ngx_http_bedrock_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_bedrock_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_bedrock_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->targets = NULL;
     *     conf->location = { 0, NULL };
     */

    conf->credentials = NGX_CONF_UNSET_PTR;
    conf->client_keys = NGX_CONF_UNSET_PTR;
    conf->max_input_tokens = NGX_CONF_UNSET;
    conf->warn_tokens = NGX_CONF_UNSET;
    conf->compress = NGX_CONF_UNSET;
    conf->compress_block = NGX_CONF_UNSET;
    conf->compress_keep = NGX_CONF_UNSET;

    ngx_http_bedrock_limit_create_conf(&conf->limit);
    ngx_http_bedrock_retry_create_conf(&conf->retry);

    return conf;
}


static char *
ngx_http_bedrock_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_bedrock_loc_conf_t *prev = parent;
    ngx_http_bedrock_loc_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->location, prev->location, "/_bedrock");
    ngx_conf_merge_ptr_value(conf->credentials, prev->credentials, NULL);
    ngx_conf_merge_ptr_value(conf->client_keys, prev->client_keys, NULL);
    ngx_conf_merge_value(conf->max_input_tokens, prev->max_input_tokens, 0);
    ngx_conf_merge_value(conf->warn_tokens, prev->warn_tokens, 0);
    ngx_conf_merge_value(conf->compress, prev->compress, 1);
    ngx_conf_merge_value(conf->compress_block, prev->compress_block,
                         NGX_BEDROCK_COMPRESS_BLOCK_TOKENS);
    ngx_conf_merge_value(conf->compress_keep, prev->compress_keep,
                         NGX_BEDROCK_COMPRESS_KEEP_TURNS);

    ngx_http_bedrock_retry_merge_conf(&prev->retry, &conf->retry);

    return ngx_http_bedrock_limit_merge_conf(cf, &prev->limit, &conf->limit);
}


/* a number of tokens, or "off" (0) */

static char *
ngx_http_bedrock_tokens_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *value;
    ngx_int_t  *np;

    np = (ngx_int_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *np = 0;
        return NGX_CONF_OK;
    }

    *np = ngx_atoi(value[1].data, value[1].len);

    if (*np <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* bedrock_compress on|off [block=TOKENS] [keep=MESSAGES]; */

static char *
ngx_http_bedrock_compress(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t   *value;
    ngx_int_t    n;
    ngx_uint_t   i;

    if (blcf->compress != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    i = 1;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        blcf->compress = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        blcf->compress = 0;

    } else {
        goto invalid;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "block=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n < NGX_BEDROCK_COMPRESS_FLOOR) {
                goto invalid;
            }

            blcf->compress_block = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "keep=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n < 1) {
                goto invalid;
            }

            blcf->compress_keep = n;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * bedrock_pass URL [region=REGION] [URL [region=REGION] ...];
 *
 * The targets are tried in order; each one's region is given after it, or
 * read from an AWS host name (bedrock-runtime.REGION.amazonaws.com).
 */

static char *
ngx_http_bedrock_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_bedrock_loc_conf_t *blcf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_bedrock_target_t     *target;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_bedrock_main_conf_t  *bmcf;

    if (blcf->targets) {
        return "is duplicate";
    }

    blcf->targets = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_http_bedrock_target_t));
    if (blcf->targets == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    target = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "region=", 7) == 0) {

            if (target == NULL || value[i].len == 7) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            target->region.data = value[i].data + 7;
            target->region.len = value[i].len - 7;
            continue;
        }

        if (target && target->region.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no region for \"%V\": add region=",
                               &target->url);
            return NGX_CONF_ERROR;
        }

        target = ngx_array_push(blcf->targets);
        if (target == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_bedrock_parse_target(cf, &value[i], target)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (target->region.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no region for \"%V\": add region=", &target->url);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_bedrock_handler;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_bedrock_module);
    bmcf->filters = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_bedrock_parse_target(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_bedrock_target_t *target)
{
    size_t     skip;
    ngx_url_t  u;

    ngx_memzero(target, sizeof(ngx_http_bedrock_target_t));
    ngx_memzero(&u, sizeof(ngx_url_t));

    if (ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0) {
        skip = 8;
        u.default_port = 443;

    } else if (ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0) {
        skip = 7;
        u.default_port = 80;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\" in \"bedrock_pass\": "
                           "it must start with http:// or https://", url);
        return NGX_CONF_ERROR;
    }

    u.url.data = url->data + skip;
    u.url.len = url->len - skip;
    u.no_resolve = 1;
    u.uri_part = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\" in \"bedrock_pass\"%s%s",
                           url, u.err ? ": " : "", u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    if (u.uri.len > 1 || (u.uri.len == 1 && u.uri.data[0] != '/')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "URL \"%V\" in \"bedrock_pass\" must have no path",
                           url);
        return NGX_CONF_ERROR;
    }

    /* the Host header is what the proxy module sends as $proxy_host */

    target->host.data = u.host.data;
    target->host.len = u.host.len;

    if (!u.no_port && u.port != u.default_port) {
        target->host.len = u.host.len + 1 + u.port_text.len;
    }

    target->url.data = url->data;
    target->url.len = skip + target->host.len;

    (void) ngx_http_bedrock_region_from_host(&u.host, &target->region);

    return NGX_CONF_OK;
}


/*
 * AWS endpoints name their region: bedrock-runtime.us-east-1.amazonaws.com,
 * bedrock-runtime-fips.us-east-1.amazonaws.com, and VPC endpoints such as
 * vpce-0a1b.bedrock-runtime.us-east-1.vpce.amazonaws.com.
 */

static ngx_int_t
ngx_http_bedrock_region_from_host(ngx_str_t *host, ngx_str_t *region)
{
    u_char  *p, *last, *start;

    last = host->data + host->len;

    p = ngx_strlcasestrn(host->data, last, (u_char *) "bedrock-runtime",
                         sizeof("bedrock-runtime") - 2);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_strlchr(p, last, '.');
    if (p == NULL) {
        return NGX_DECLINED;
    }

    start = ++p;

    while (p < last && *p != '.') {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '-'))
        {
            return NGX_DECLINED;
        }

        p++;
    }

    if (p == start || p == last) {
        return NGX_DECLINED;
    }

    region->data = start;
    region->len = p - start;

    return NGX_OK;
}


/*
 * The variables read the main request's state: they are also evaluated in
 * the attempt's subrequest ($bedrock_upstream in proxy_pass).  Those not
 * known yet are not found, or "-" where a log line wants a field.
 */

static ngx_int_t
ngx_http_bedrock_upstream_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->upstream.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_bedrock_variable_set(v, ctx->upstream.data, ctx->upstream.len);
    v->no_cacheable = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->model.id_len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_bedrock_variable_set(v, (u_char *) ctx->model.id,
                                  ctx->model.id_len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_bedrock_client_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->client.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_bedrock_variable_set(v, ctx->client.data, ctx->client.len);

    return NGX_OK;
}


/* a uint64_t field of the context */

static ngx_int_t
ngx_http_bedrock_number_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    uint64_t                *n;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->model.id_len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    n = (uint64_t *) ((char *) ctx + data);

    return ngx_http_bedrock_variable_number(r, v, *n);
}


/* an ngx_uint_t field of the context */

static ngx_int_t
ngx_http_bedrock_uint_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t              *n;
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->model.id_len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    n = (ngx_uint_t *) ((char *) ctx + data);

    return ngx_http_bedrock_variable_number(r, v, *n);
}


static ngx_int_t
ngx_http_bedrock_errors_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->errors.len == 0) {
        ngx_http_bedrock_variable_set(v, (u_char *) "-", 1);

    } else {
        ngx_http_bedrock_variable_set(v, ctx->errors.data, ctx->errors.len);
    }

    return NGX_OK;
}


/* real usage: "-" until Bedrock has reported it */

static ngx_int_t
ngx_http_bedrock_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || !ctx->usage_known) {
        ngx_http_bedrock_variable_set(v, (u_char *) "-", 1);
        return NGX_OK;
    }

    return ngx_http_bedrock_number_variable(r, v, data);
}


/* tokens before and after compression: "-" when it was not compressed */

static ngx_int_t
ngx_http_bedrock_compressed_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_bedrock_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_bedrock_module);

    if (ctx == NULL || ctx->compressed_from == 0) {
        ngx_http_bedrock_variable_set(v, (u_char *) "-", 1);
        return NGX_OK;
    }

    return ngx_http_bedrock_number_variable(r, v, data);
}


void
ngx_http_bedrock_variable_set(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = data;
}


ngx_int_t
ngx_http_bedrock_variable_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uint64_t n)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_bedrock_variable_set(v, p, ngx_sprintf(p, "%uL", n) - p);

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_bedrock_header_in(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * What the signer keeps for the life of the process is freed here, while
 * the module's code is still loaded: nginx unloads it before exit().
 */

static void
ngx_http_bedrock_exit(ngx_cycle_t *cycle)
{
    ngx_bedrock_sigv4_cleanup();
}
