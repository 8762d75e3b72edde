/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * bedrock-tokens: what the gateway makes of a request body, with the
 * module's own code.  It prints the estimate the module prices the
 * request at, or, with --compress, the body the module would send under
 * that cap, or the error the module would answer.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"
#include "ngx_bedrock_compress.h"


static const char  *usage =
    "usage: bedrock-tokens --path /model/{modelId}/{operation} [options]"
    " < body.json\n"
    "\n"
    "Prints, as one JSON object, what the gateway estimates the request\n"
    "body costs: family, api, model, shape, input_tokens, text_tokens,\n"
    "image_tokens, document_tokens, tool_tokens, max_tokens and cost\n"
    "(input_tokens + max_tokens, as Bedrock reserves it).\n"
    "\n"
    "options:\n"
    "  --path PATH         the request path: /model/{modelId}/{invoke|\n"
    "                      invoke-with-response-stream|converse|"
    "converse-stream|\n"
    "                      count-tokens}\n"
    "  --compress N        print instead the body the gateway would send\n"
    "                      with a cap of N input tokens (the body itself\n"
    "                      when it fits)\n"
    "  --block-tokens N    first per-block threshold of the compressor\n"
    "                      (default 2048)\n"
    "  --keep-turns N      latest messages kept intact (default 4)\n"
    "  --verbose           with --compress, a summary on stderr\n"
    "  --help              this text\n"
    "\n"
    "Exit status: 0 done; 1 the gateway would refuse the request (the\n"
    "message it would answer is on stderr); 2 bad usage or I/O error.\n";


static int bedrock_tokens_number(const char *s, uint64_t *n);
static unsigned char *bedrock_tokens_read(FILE *f, size_t *len);
static void bedrock_tokens_string(const unsigned char *p, size_t len);
static int bedrock_tokens_estimate(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m);
static int bedrock_tokens_compress(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, const ngx_bedrock_compress_conf_t *conf,
    int verbose);


int
main(int argc, char **argv)
{
    int                          i, rc, verbose, compress;
    char                        *path, *q;
    size_t                       len, plen;
    uint64_t                     n;
    unsigned char               *body, *id;
    ngx_bedrock_model_t          m;
    ngx_bedrock_compress_conf_t  conf;

    path = NULL;
    verbose = 0;
    compress = 0;

    memset(&conf, 0, sizeof(ngx_bedrock_compress_conf_t));
    conf.block_tokens = NGX_BEDROCK_COMPRESS_BLOCK_TOKENS;
    conf.keep_turns = NGX_BEDROCK_COMPRESS_KEEP_TURNS;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }

        if (strcmp(argv[i], "--verbose") == 0) {
            verbose = 1;
            continue;
        }

        if (i + 1 >= argc) {
            fprintf(stderr, "bedrock-tokens: \"%s\" needs a value\n%s",
                    argv[i], usage);
            return 2;
        }

        if (strcmp(argv[i], "--path") == 0) {
            path = argv[++i];
            continue;
        }

        if (bedrock_tokens_number(argv[i + 1], &n) != 0) {
            fprintf(stderr, "bedrock-tokens: invalid value \"%s\" for "
                    "\"%s\"\n", argv[i + 1], argv[i]);
            return 2;
        }

        if (strcmp(argv[i], "--compress") == 0) {
            conf.max_input_tokens = n;
            compress = 1;

        } else if (strcmp(argv[i], "--block-tokens") == 0) {
            conf.block_tokens = n;

        } else if (strcmp(argv[i], "--keep-turns") == 0) {
            conf.keep_turns = n < UINT32_MAX ? (uint32_t) n : UINT32_MAX;

        } else {
            fprintf(stderr, "bedrock-tokens: unknown option \"%s\"\n%s",
                    argv[i], usage);
            return 2;
        }

        i++;
    }

    if (path == NULL) {
        fprintf(stderr, "bedrock-tokens: --path is required\n%s", usage);
        return 2;
    }

    /* as the module does: the query string is not part of the path */

    q = strchr(path, '?');
    plen = q ? (size_t) (q - path) : strlen(path);

    id = malloc(plen + 1);
    if (id == NULL) {
        fprintf(stderr, "bedrock-tokens: out of memory\n");
        return 2;
    }

    if (ngx_bedrock_model_parse_path((unsigned char *) path, plen, id, &m)
        != 0)
    {
        fprintf(stderr, "%s\n", NGX_BEDROCK_PATH_ERROR);
        free(id);
        return 1;
    }

    body = bedrock_tokens_read(stdin, &len);
    if (body == NULL) {
        fprintf(stderr, "bedrock-tokens: cannot read the body: %s\n",
                strerror(errno));
        free(id);
        return 2;
    }

    if (compress) {
        rc = bedrock_tokens_compress(body, len, &m, &conf, verbose);

    } else {
        rc = bedrock_tokens_estimate(body, len, &m);
    }

    free(body);
    free(id);

    return rc;
}


static int
bedrock_tokens_number(const char *s, uint64_t *n)
{
    char                *end;
    unsigned long long   v;

    if (*s < '0' || *s > '9') {
        return -1;
    }

    errno = 0;
    v = strtoull(s, &end, 10);

    if (errno != 0 || *end != '\0') {
        return -1;
    }

    *n = v;

    return 0;
}


static unsigned char *
bedrock_tokens_read(FILE *f, size_t *len)
{
    size_t          size, n;
    unsigned char  *buf, *p;

    size = 65536;
    n = 0;

    buf = malloc(size);
    if (buf == NULL) {
        return NULL;
    }

    for ( ;; ) {
        n += fread(buf + n, 1, size - n, f);

        if (ferror(f)) {
            free(buf);
            return NULL;
        }

        if (n < size) {
            break;
        }

        p = realloc(buf, size * 2);
        if (p == NULL) {
            free(buf);
            return NULL;
        }

        buf = p;
        size *= 2;
    }

    *len = n;

    return buf;
}


/* a JSON string; bytes that are not text are escaped, never dropped */

static void
bedrock_tokens_string(const unsigned char *p, size_t len)
{
    size_t  i;

    putchar('"');

    for (i = 0; i < len; i++) {
        if (p[i] == '"' || p[i] == '\\') {
            printf("\\%c", p[i]);

        } else if (p[i] < 0x20 || p[i] >= 0x7f) {
            printf("\\u%04x", p[i]);

        } else {
            putchar(p[i]);
        }
    }

    putchar('"');
}


static int
bedrock_tokens_estimate(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m)
{
    char                    err[NGX_BEDROCK_ERROR_LEN];
    ngx_bedrock_view_t      view;
    ngx_bedrock_estimate_t  est;

    err[0] = '\0';

    if (ngx_bedrock_estimate_body(body, len, m, &est, err) != 0) {
        fprintf(stderr, "%s\n", err[0] ? err
                : "Malformed input request: the body is not valid JSON, "
                  "please reformat your input and try again.");
        return 1;
    }

    if (ngx_bedrock_view_parse(&view, body, len, m, err) != 0) {
        ngx_bedrock_view_free(&view);
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    printf("{\"family\":\"%s\",\"api\":\"%s\",\"model\":",
           ngx_bedrock_family_name(m->family), ngx_bedrock_api_name(m->api));
    bedrock_tokens_string(m->id, m->id_len);

    printf(",\"shape\":\"%s\",\"compressible\":%s,"
           "\"input_tokens\":%llu,\"text_tokens\":%llu,"
           "\"image_tokens\":%llu,\"document_tokens\":%llu,"
           "\"tool_tokens\":%llu,\"max_tokens\":%llu,"
           "\"max_tokens_given\":%s,\"cost\":%llu,\"burndown\":%u,"
           "\"messages\":%u,\"images\":%u,\"documents\":%u}\n",
           ngx_bedrock_shape_name(view.shape),
           view.shape != NGX_BEDROCK_SHAPE_UNKNOWN ? "true" : "false",
           (unsigned long long) est.input_tokens,
           (unsigned long long) est.text_tokens,
           (unsigned long long) est.image_tokens,
           (unsigned long long) est.document_tokens,
           (unsigned long long) est.tool_tokens,
           (unsigned long long) est.max_tokens,
           est.max_tokens_given ? "true" : "false",
           (unsigned long long) est.cost, m->burndown,
           est.messages, est.images, est.documents);

    ngx_bedrock_view_free(&view);

    return fflush(stdout) == 0 ? 0 : 2;
}


static int
bedrock_tokens_compress(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, const ngx_bedrock_compress_conf_t *conf,
    int verbose)
{
    char                           err[NGX_BEDROCK_ERROR_LEN];
    size_t                         n;
    const unsigned char           *out;
    ngx_bedrock_compress_result_t  res;

    if (ngx_bedrock_compress_body(body, len, m, conf, &res, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return res.error == NGX_BEDROCK_COMPRESS_FAILED ? 2 : 1;
    }

    out = res.body ? res.body : body;
    n = res.body ? res.len : len;

    if (fwrite(out, 1, n, stdout) != n || fflush(stdout) != 0) {
        ngx_bedrock_compress_free(&res);
        return 2;
    }

    if (verbose) {
        fprintf(stderr, "bedrock-tokens: %llu -> %llu input tokens (cap "
                "%llu), %u texts cut, %u messages dropped, %u bodies "
                "estimated\n",
                (unsigned long long) res.tokens_before,
                (unsigned long long) res.tokens_after,
                (unsigned long long) conf->max_input_tokens,
                res.blocks_shrunk, res.turns_dropped, res.passes);
    }

    ngx_bedrock_compress_free(&res);

    return 0;
}
