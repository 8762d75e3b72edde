/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Unit tests of the SigV4 signer and verifier: the public AWS SigV4 test
 * suite, stage by stage (read from where it lives, never copied here),
 * then what Bedrock needs: its paths, session tokens, the signing-key
 * cache, Authorization parsing and verification verdicts.
 */


#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "tap.h"
#include "ngx_bedrock_sigv4.h"


#define MAX_HEADERS  64

#define EXAMPLE_KEY     "AKIDEXAMPLE"
#define EXAMPLE_SECRET  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* 2015-08-30T12:36:00Z, the suite's date */
#define EXAMPLE_TIME    1440938160


typedef ngx_bedrock_sigv4_str_t     str_t;
typedef ngx_bedrock_sigv4_header_t  header_t;


typedef struct {
    char       *text;          /* the file, and storage for joined values */
    str_t       method;
    str_t       path;
    str_t       query;
    header_t    headers[MAX_HEADERS];
    size_t      nheaders;
    str_t       body;
} http_request_t;


/* one signing, its memory freed by signed_free() */
typedef struct {
    int                          rc;
    unsigned char               *mem;
    ngx_bedrock_sigv4_result_t   res;
} signed_t;


static str_t
S(const char *s)
{
    str_t  v;

    v.data = (const unsigned char *) s;
    v.len = strlen(s);

    return v;
}


static int
str_is(str_t v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.data, s, v.len) == 0;
}


static int
str_eq(str_t a, str_t b)
{
    return a.len == b.len
           && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}


static int
contains(str_t hay, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    for (i = 0; i + n <= hay.len; i++) {
        if (memcmp(hay.data + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static char *
read_file(const char *path, size_t *len)
{
    long   n;
    char  *buf;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    /* twice the size: folded header values are rebuilt behind the text */
    buf = malloc(2 * (size_t) n + 1);

    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }

    fclose(f);
    buf[n] = '\0';

    if (len) {
        *len = n;
    }

    return buf;
}


/*
 * A raw request as the suite writes it: request line, headers (a line
 * starting with white space continues the previous value, joined with
 * one space), an empty line, the body.
 */

static int
parse_http(const char *file, http_request_t *hr)
{
    char    *p, *end, *line, *eol, *sp, *colon, *extra;
    size_t   len, n;

    memset(hr, 0, sizeof(http_request_t));

    hr->text = read_file(file, &len);
    if (hr->text == NULL) {
        return -1;
    }

    p = hr->text;
    end = p + len;
    extra = end + 1;

    eol = memchr(p, '\n', end - p);
    if (eol == NULL) {
        eol = end;
    }

    sp = memchr(p, ' ', eol - p);
    line = eol;

    while (line > p && line[-1] != ' ') {
        line--;
    }

    if (sp == NULL || line <= sp + 1) {
        return -1;
    }

    hr->method.data = (unsigned char *) p;
    hr->method.len = sp - p;

    /* the target may hold spaces: it ends at the last one */
    hr->path.data = (unsigned char *) sp + 1;
    hr->path.len = (line - 1) - (sp + 1);

    colon = memchr(hr->path.data, '?', hr->path.len);
    if (colon) {
        hr->query.data = (unsigned char *) colon + 1;
        hr->query.len = hr->path.len - (colon + 1 - (char *) hr->path.data);
        hr->path.len = colon - (char *) hr->path.data;
    }

    p = (eol < end) ? eol + 1 : end;

    while (p < end) {
        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        if (eol == p) {
            p++;
            break;
        }

        if ((*p == ' ' || *p == '\t') && hr->nheaders) {
            header_t  *h = &hr->headers[hr->nheaders - 1];

            while (p < eol && (*p == ' ' || *p == '\t')) {
                p++;
            }

            /* value + ' ' + continuation, rebuilt behind the text */
            n = h->value.len;
            memmove(extra, h->value.data, n);
            extra[n] = ' ';
            memcpy(extra + n + 1, p, eol - p);
            h->value.data = (unsigned char *) extra;
            h->value.len = n + 1 + (eol - p);
            extra += h->value.len;

        } else {
            colon = memchr(p, ':', eol - p);

            if (colon == NULL || hr->nheaders == MAX_HEADERS) {
                return -1;
            }

            hr->headers[hr->nheaders].name.data = (unsigned char *) p;
            hr->headers[hr->nheaders].name.len = colon - p;
            hr->headers[hr->nheaders].value.data = (unsigned char *) colon + 1;
            hr->headers[hr->nheaders].value.len = eol - colon - 1;
            hr->nheaders++;
        }

        p = (eol < end) ? eol + 1 : end;
    }

    hr->body.data = (unsigned char *) p;
    hr->body.len = end - p;

    return 0;
}


static str_t
find_header(http_request_t *hr, const char *name)
{
    size_t  i;
    str_t   none;

    for (i = 0; i < hr->nheaders; i++) {
        if (hr->headers[i].name.len == strlen(name)
            && strncasecmp((char *) hr->headers[i].name.data, name,
                           strlen(name)) == 0)
        {
            return hr->headers[i].value;
        }
    }

    none.data = NULL;
    none.len = 0;

    return none;
}


static signed_t
sign(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_credentials_t *c,
    ngx_bedrock_sigv4_key_cache_t *cache)
{
    size_t    size;
    signed_t  s;

    memset(&s, 0, sizeof(signed_t));

    size = ngx_bedrock_sigv4_sign_size(r, c);
    s.mem = malloc(size ? size : 1);
    s.rc = (s.mem == NULL) ? -1
           : ngx_bedrock_sigv4_sign(r, c, cache, s.mem, size, &s.res);

    return s;
}


static void
signed_free(signed_t *s)
{
    free(s->mem);
    s->mem = NULL;
}


static ngx_bedrock_sigv4_verdict_e
verify(const ngx_bedrock_sigv4_request_t *r, str_t authorization,
    const char *secret, ngx_bedrock_sigv4_key_cache_t *cache,
    const char **reason)
{
    size_t                       size;
    str_t                        sec;
    unsigned char               *mem;
    ngx_bedrock_sigv4_auth_t     a;
    ngx_bedrock_sigv4_verdict_e  v;

    v = ngx_bedrock_sigv4_parse_authorization(authorization.data,
                                              authorization.len, &a, reason);
    if (v != NGX_BEDROCK_SIGV4_OK) {
        return v;
    }

    sec = S(secret);
    size = ngx_bedrock_sigv4_verify_size(r, &a);
    mem = malloc(size ? size : 1);

    if (mem == NULL) {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    v = ngx_bedrock_sigv4_verify(r, &a, &sec, NGX_BEDROCK_SIGV4_MAX_SKEW,
                                 cache, mem, size, reason);
    free(mem);

    return v;
}


static void
diag_str(const char *what, str_t v)
{
    diag("%s (%zu bytes):\n%.*s", what, v.len, (int) v.len,
         (const char *) v.data);
}


/* -- the AWS suite ------------------------------------------------------ */

static int
json_bool(cJSON *ctx, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctx, name));
}


static const char *
json_string(cJSON *obj, const char *name)
{
    cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}


static void
run_vector(const char *dir, const char *name)
{
    int                              normalize, sign_body, omit;
    char                             path[1024], hash[65], ts[17], sig[65];
    char                            *ctx_text, *expect_cr, *expect_sts;
    char                            *expect_sig;
    size_t                           i, n, size;
    time_t                           t;
    cJSON                           *ctx, *cred;
    str_t                            expect_auth, region, service, secret;
    str_t                            sts, cr_file, sts_file;
    const char                      *token, *reason, *p;
    signed_t                         s;
    unsigned char                    key[32], *mem;
    http_request_t                   req, sreq;
    ngx_bedrock_sigv4_buf_t          b;
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_credentials_t  c;
    ngx_bedrock_sigv4_verdict_e      verdict;

    snprintf(path, sizeof(path), "%s/%s/context.json", dir, name);
    ctx_text = read_file(path, NULL);
    ctx = ctx_text ? cJSON_Parse(ctx_text) : NULL;

    snprintf(path, sizeof(path), "%s/%s/request.txt", dir, name);

    if (ctx == NULL || parse_http(path, &req) != 0) {
        ok(0, "%s: context.json and request.txt are readable", name);
        free(ctx_text);
        cJSON_Delete(ctx);
        return;
    }

    snprintf(path, sizeof(path), "%s/%s/header-canonical-request.txt",
             dir, name);
    expect_cr = read_file(path, NULL);
    snprintf(path, sizeof(path), "%s/%s/header-string-to-sign.txt", dir, name);
    expect_sts = read_file(path, NULL);
    snprintf(path, sizeof(path), "%s/%s/header-signature.txt", dir, name);
    expect_sig = read_file(path, NULL);
    snprintf(path, sizeof(path), "%s/%s/header-signed-request.txt", dir,
             name);

    if (expect_cr == NULL || expect_sts == NULL || expect_sig == NULL
        || parse_http(path, &sreq) != 0)
    {
        ok(0, "%s: the expected header-*.txt files are readable", name);
        goto done;
    }

    cred = cJSON_GetObjectItemCaseSensitive(ctx, "credentials");
    normalize = json_bool(ctx, "normalize");
    sign_body = json_bool(ctx, "sign_body");
    omit = json_bool(ctx, "omit_session_token");
    token = json_string(cred, "token");

    /* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
    p = json_string(ctx, "timestamp");
    n = 0;

    for (i = 0; p && p[i] && n < 16; i++) {
        if (p[i] != '-' && p[i] != ':') {
            ts[n++] = p[i];
        }
    }

    ts[n] = '\0';

    region = S(json_string(ctx, "region") ? json_string(ctx, "region") : "");
    service = S(json_string(ctx, "service")
                ? json_string(ctx, "service") : "");
    secret = S(json_string(cred, "secret_access_key")
               ? json_string(cred, "secret_access_key") : "");

    if (ngx_bedrock_sigv4_parse_amz_date((unsigned char *) ts, n, &t) != 0) {
        ok(0, "%s: timestamp is readable", name);
        goto done;
    }

    memset(&r, 0, sizeof(r));
    r.method = req.method;
    r.path = req.path;
    r.query = req.query;
    r.headers = req.headers;
    r.nheaders = req.nheaders;
    r.body = req.body;
    r.region = region;
    r.service = service;
    r.time = t;
    r.verbatim_path = !normalize;

    if (sign_body) {
        /* the signer of the suite adds X-Amz-Content-Sha256 itself */
        ngx_bedrock_sigv4_payload_hash(req.body.data, req.body.len, hash);
        req.headers[req.nheaders].name = S("X-Amz-Content-Sha256");
        req.headers[req.nheaders].value = S(hash);
        r.nheaders++;
    }

    memset(&c, 0, sizeof(c));
    c.access_key_id = S(json_string(cred, "access_key_id")
                        ? json_string(cred, "access_key_id") : "");
    c.secret_access_key = secret;

    if (token && !omit) {
        c.session_token = S(token);
    }

    /* stage 1: the canonical request, from the raw request */

    s = sign(&r, &c, NULL);
    cr_file = S(expect_cr);

    if (!ok(s.rc == 0 && str_eq(s.res.canonical_request, cr_file),
            "%s: canonical request", name))
    {
        diag_str("got", s.res.canonical_request);
        diag_str("expected", cr_file);
    }

    /* stage 2: the string to sign, from the expected canonical request */

    size = ngx_bedrock_sigv4_string_to_sign_size(region.len, service.len);
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;
    sts_file = S(expect_sts);

    if (!ok(ngx_bedrock_sigv4_string_to_sign(&b, ts, &region, &service,
                                             &cr_file, &sts) == 0
            && str_eq(sts, sts_file),
            "%s: string to sign", name))
    {
        diag_str("expected", sts_file);
    }

    free(mem);

    /* stage 3: the signature, from the expected string to sign */

    if (!ok(ngx_bedrock_sigv4_signing_key(key, &secret, ts, &region,
                                          &service) == 0
            && ngx_bedrock_sigv4_signature(key, &sts_file, sig) == 0
            && strcmp(sig, expect_sig) == 0,
            "%s: signature", name))
    {
        diag("got %s, expected %s", sig, expect_sig);
    }

    /* stage 4: the whole signing gives the signed request's Authorization */

    expect_auth = find_header(&sreq, "Authorization");

    if (!ok(s.rc == 0 && str_eq(s.res.authorization, expect_auth)
            && str_eq(s.res.string_to_sign, sts_file)
            && strcmp(s.res.signature, expect_sig) == 0
            && strcmp(s.res.amz_date, ts) == 0,
            "%s: signed request's Authorization", name))
    {
        diag_str("got", s.res.authorization);
        diag_str("expected", expect_auth);
    }

    signed_free(&s);

    /* and the verifier accepts the request AWS signed */

    r.method = sreq.method;
    r.path = sreq.path;
    r.query = sreq.query;
    r.headers = sreq.headers;
    r.nheaders = sreq.nheaders;
    r.body = sreq.body;

    verdict = verify(&r, expect_auth, secret.len ? (char *) secret.data : "",
                     NULL, &reason);

    if (!ok(verdict == NGX_BEDROCK_SIGV4_OK,
            "%s: the verifier accepts the signed request", name))
    {
        diag("verdict %s: %s", ngx_bedrock_sigv4_verdict_name(verdict),
             reason);
    }

done:

    free(sreq.text);
    free(req.text);
    free(expect_cr);
    free(expect_sts);
    free(expect_sig);
    free(ctx_text);
    cJSON_Delete(ctx);
}


static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static void
test_vectors(void)
{
    int             found;
    char            path[1024], *names[256], *env;
    size_t          i, n;
    DIR            *d;
    struct stat     st;
    struct dirent  *de;
    const char     *dir, *tried[3];

    env = getenv("SIGV4_VECTORS");

    tried[0] = env;
    tried[1] = "../shared/sigv4-vectors";
    tried[2] = "/work/shared/sigv4-vectors";

    dir = NULL;

    for (i = 0; i < 3; i++) {
        if (tried[i] && stat(tried[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            dir = tried[i];
            break;
        }

        if (env) {
            /* an explicit location is the only one */
            break;
        }
    }

    if (dir == NULL) {
        printf("# SKIP sigv4 vectors not found at %s\n",
               env ? env : "../shared/sigv4-vectors or "
                           "/work/shared/sigv4-vectors (set SIGV4_VECTORS)");
        return;
    }

    d = opendir(dir);
    if (d == NULL) {
        ok(0, "the sigv4 vectors at %s are readable", dir);
        return;
    }

    n = 0;

    while ((de = readdir(d)) != NULL && n < 256) {
        snprintf(path, sizeof(path), "%s/%s/context.json", dir, de->d_name);

        if (de->d_name[0] != '.' && stat(path, &st) == 0) {
            names[n++] = strdup(de->d_name);
        }
    }

    closedir(d);

    qsort(names, n, sizeof(char *), name_cmp);

    diag("AWS SigV4 test suite at %s: %zu cases", dir, n);

    found = (n == 38);
    ok(found, "the suite has its 38 cases (found %zu)", n);

    for (i = 0; i < n; i++) {
        run_vector(dir, names[i]);
        free(names[i]);
    }
}


/* -- known answers ------------------------------------------------------ */

static void
hexify(const unsigned char *key, char *hex)
{
    size_t  i;

    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    }
}


static void
test_known_answers(void)
{
    char                             hex[65];
    str_t                            secret, region, service;
    header_t                         h[3];
    signed_t                         s;
    unsigned char                    key[32];
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_credentials_t  c;

    static const char  body[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}]}";

    /* AWS's documented signing-key example */

    secret = S(EXAMPLE_SECRET);
    region = S("us-east-1");
    service = S("iam");

    ok(ngx_bedrock_sigv4_signing_key(key, &secret, "20150830", &region,
                                     &service) == 0,
       "signing key derivation succeeds");

    hexify(key, hex);

    ok(strcmp(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3"
                   "c154a4b9") == 0,
       "signing key for 20150830/us-east-1/iam is AWS's example");

    /* a secret of exactly a block, and one longer (hashed by HMAC) */

    secret = S("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    region = S("us-west-2");
    service = S("bedrock");
    ngx_bedrock_sigv4_signing_key(key, &secret, "20260101", &region,
                                  &service);
    hexify(key, hex);

    ok(strcmp(hex, "4ef562bf964d33f64636c3b9f0684812caebe8025d815f2f03c5c8f5"
                   "994fbb9b") == 0,
       "signing key with a 60-byte secret (64-byte HMAC key)");

    secret = S("LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
               "/+abcdefghijklmnopqrstuvwxyz0123456789");
    ngx_bedrock_sigv4_signing_key(key, &secret, "20260101", &region,
                                  &service);
    hexify(key, hex);

    ok(strcmp(hex, "f554735038a4e1d176a2148edf9620cd376d00d66847cffc4d77a7c4"
                   "21138a0a") == 0,
       "signing key with a 98-byte secret (longer than an HMAC block)");

    /* the Bedrock vector botocore, smithy and AWS::Signature4 agree on */

    h[0].name = S("Content-Type");
    h[0].value = S("application/json");
    h[1].name = S("Host");
    h[1].value = S("bedrock-runtime.us-east-1.amazonaws.com");
    h[2].name = S("X-Amz-Content-Sha256");
    h[2].value = S("45e583fed2564dc00e823303d7609f8587af7f685b993cb0f998afc0"
                   "d480b01d");

    memset(&r, 0, sizeof(r));
    r.method = S("POST");
    r.path = S("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    r.headers = h;
    r.nheaders = 3;
    r.body = S(body);
    r.region = S("us-east-1");
    r.service = S("bedrock");
    ngx_bedrock_sigv4_parse_amz_date((unsigned char *) "20260101T000000Z",
                                     16, &r.time);

    memset(&c, 0, sizeof(c));
    c.access_key_id = S(EXAMPLE_KEY);
    c.secret_access_key = S(EXAMPLE_SECRET);

    ngx_bedrock_sigv4_payload_hash(r.body.data, r.body.len, hex);
    ok(strcmp(hex, "45e583fed2564dc00e823303d7609f8587af7f685b993cb0f998afc0"
                   "d480b01d") == 0,
       "payload hash of the 56-byte Converse body");

    s = sign(&r, &c, NULL);

    ok(s.rc == 0
       && strcmp(s.res.signature, "bba8aeadd9544e50ce209912b876e537e2d33b40"
                                  "63abcc101325c29a66178632") == 0
       && str_is(s.res.signed_headers,
                 "content-type;host;x-amz-content-sha256;x-amz-date"),
       "the Bedrock Converse vector signs as botocore does (%s)",
       s.res.signature);

    ok(s.rc == 0 && contains(s.res.canonical_request,
                             "\n/model/anthropic.claude-3-haiku-20240307-v1"
                             "%253A0/converse\n"),
       "its canonical URI has the modelId encoded twice");

    signed_free(&s);

    /* the same with the hash passed in instead of the body */

    r.body = S("");
    r.payload_hash = S("45e583fed2564dc00e823303d7609f8587af7f685b993cb0f998"
                       "afc0d480b01d");
    s = sign(&r, &c, NULL);

    ok(s.rc == 0 && strcmp(s.res.signature, "bba8aeadd9544e50ce209912b876e5"
                           "37e2d33b4063abcc101325c29a66178632") == 0,
       "a precomputed payload hash gives the same signature");

    signed_free(&s);
}


/* -- canonical URI, query, headers -------------------------------------- */

static int
check_uri(const char *path, int normalize, const char *expect)
{
    int                      rc;
    size_t                   size;
    str_t                    out;
    unsigned char           *mem;
    ngx_bedrock_sigv4_buf_t  b;

    size = ngx_bedrock_sigv4_canonical_uri_size(strlen(path));
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;

    rc = ngx_bedrock_sigv4_canonical_uri(&b, (unsigned char *) path,
                                         strlen(path), normalize, &out) == 0
         && str_is(out, expect);

    if (!ok(rc, "canonical URI of \"%s\"%s is \"%s\"", path,
            normalize ? "" : " (verbatim)", expect))
    {
        diag_str("got", out);
    }

    free(mem);

    return rc;
}


static void
check_query(const char *query, const char *expect)
{
    size_t                   size;
    str_t                    out;
    unsigned char           *mem;
    ngx_bedrock_sigv4_buf_t  b;

    size = ngx_bedrock_sigv4_canonical_query_size((unsigned char *) query,
                                                  strlen(query));
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;
    out.len = 0;
    out.data = NULL;

    if (!ok(ngx_bedrock_sigv4_canonical_query(&b, (unsigned char *) query,
                                              strlen(query), &out) == 0
            && str_is(out, expect),
            "canonical query of \"%s\" is \"%s\"", query, expect))
    {
        diag_str("got", out);
    }

    free(mem);
}


static void
test_canonical_parts(void)
{
    size_t                   size;
    str_t                    canon, list, host;
    header_t                 h[6];
    unsigned char           *mem;
    ngx_bedrock_sigv4_buf_t  b;

    /* Bedrock modelIds in every form the SDKs send */

    check_uri("/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse",
              1, "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%253A0"
                 "/converse");
    check_uri("/model/us.anthropic.claude-3-7-sonnet-20250219-v1:0/converse",
              1, "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0"
                 "/converse");
    check_uri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke", 1,
              "/model/anthropic.claude-3-haiku-20240307-v1%253A0/invoke");
    check_uri("/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
              "/invoke-with-response-stream", 1,
              "/model/global.anthropic.claude-sonnet-4-5-20250929-v1%253A0"
              "/invoke-with-response-stream");
    check_uri("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
              "inference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-"
              "v1%3A0/converse-stream", 1,
              "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012"
              "%253Ainference-profile%252Fus.anthropic.claude-3-7-sonnet-"
              "20250219-v1%253A0/converse-stream");
    check_uri("/model/arn:aws:bedrock:eu-west-1:123456789012:"
              "application-inference-profile%2Fa1b2c3d4e5f6/converse", 1,
              "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3A"
              "application-inference-profile%252Fa1b2c3d4e5f6/converse");
    check_uri("/model/arn:aws:bedrock:us-east-1::foundation-model/"
              "amazon.nova-pro-v1:0/invoke", 1,
              "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model/"
              "amazon.nova-pro-v1%3A0/invoke");

    /* normalization, and what it must leave alone */

    check_uri("", 1, "/");
    check_uri("/", 1, "/");
    check_uri("//model//x//", 1, "/model/x/");
    check_uri("/a/./b/../c", 1, "/a/c");
    check_uri("/a/b/../../..", 1, "/");
    check_uri("/../a", 1, "/a");
    check_uri("/a/%2E%2E/b", 1, "/a/%252E%252E/b");
    check_uri("/a/b/..", 1, "/a");
    check_uri("/a/b/../", 1, "/a/");
    check_uri("/a/./", 1, "/a/");
    check_uri("/a/b/../", 0, "/a/b/../");
    check_uri("//a//", 0, "//a//");
    check_uri("", 0, "/");
    check_uri("/\xe1\x88\xb4 x+y=z!*'()", 1,
              "/%E1%88%B4%20x%2By%3Dz%21%2A%27%28%29");
    check_uri("/%zz%", 1, "/%25zz%25");

    /* query strings */

    check_query("", "");
    check_query("b=2&a=1", "a=1&b=2");
    check_query("a=2&a=10&a=1", "a=1&a=10&a=2");
    check_query("flag", "flag=");
    check_query("a=1&&b", "a=1&b=");
    check_query("a=b=c", "a=b%3Dc");
    check_query("x=%7e%41%2f", "x=~A%2F");
    check_query("x=a+b c", "x=a%2Bb%20c");
    check_query("%E1%88%B4=1&Z=2&a=3", "%E1%88%B4=1&Z=2&a=3");
    check_query("q=%zz%4", "q=%25zz%254");
    check_query("maxResults=10&sortOrder=Descending&nextToken=a%2Fb",
                "maxResults=10&nextToken=a%2Fb&sortOrder=Descending");

    /* headers */

    h[0].name = S("X-Amzn-Bedrock-Trace");
    h[0].value = S("  ENABLED ");
    h[1].name = S("content-type");
    h[1].value = S("application/json;\t  charset=utf-8");
    h[2].name = S("x-amzn-bedrock-trace");
    h[2].value = S("b");
    h[3].name = S("Host");
    h[3].value = S("gw.example:8443");
    h[4].name = S("X-Empty");
    h[4].value = S("   ");
    h[5].name = S("x-amzn-bedrock-trace");
    h[5].value = S("a");

    size = ngx_bedrock_sigv4_canonical_headers_size(h, 6, NULL);
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;

    ok(ngx_bedrock_sigv4_canonical_headers(&b, h, 6, NULL, &canon, &list)
       == 0
       && str_is(canon, "content-type:application/json; charset=utf-8\n"
                        "host:gw.example:8443\n"
                        "x-amzn-bedrock-trace:ENABLED,b,a\n"
                        "x-empty:\n")
       && str_is(list, "content-type;host;x-amzn-bedrock-trace;x-empty"),
       "canonical headers: lowercased, sorted, trimmed, repeats joined "
       "in order");

    /* host given apart (HTTP/2 :authority) replaces the one in the list */

    host = S("bedrock-runtime.us-west-2.amazonaws.com");
    b.pos = mem;

    ok(ngx_bedrock_sigv4_canonical_headers(&b, h, 4, &host, &canon, &list)
       == 0
       && str_is(canon, "content-type:application/json; charset=utf-8\n"
                        "host:bedrock-runtime.us-west-2.amazonaws.com\n"
                        "x-amzn-bedrock-trace:ENABLED,b\n")
       && str_is(list, "content-type;host;x-amzn-bedrock-trace"),
       "a host value given apart replaces the list's host");

    free(mem);

    h[0].name = S("Bad Name");
    size = ngx_bedrock_sigv4_canonical_headers_size(h, 2, NULL);
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;

    ok(ngx_bedrock_sigv4_canonical_headers(&b, h, 2, NULL, &canon, &list)
       == -1, "a header name with a space is refused");

    h[0].name = S("");
    b.pos = mem;

    ok(ngx_bedrock_sigv4_canonical_headers(&b, h, 2, NULL, &canon, &list)
       == -1, "an empty header name is refused");

    h[0].name = S("semi;colon");
    b.pos = mem;

    ok(ngx_bedrock_sigv4_canonical_headers(&b, h, 2, NULL, &canon, &list)
       == -1, "a header name with ';' is refused");

    free(mem);
}


/* -- signing for Bedrock ------------------------------------------------ */

static void
bedrock_request(ngx_bedrock_sigv4_request_t *r, header_t *h, const char *path,
    const char *body)
{
    h[0].name = S("Host");
    h[0].value = S("bedrock-runtime.us-west-2.amazonaws.com");
    h[1].name = S("Content-Type");
    h[1].value = S("application/json");
    h[2].name = S("X-Amzn-Bedrock-Trace");
    h[2].value = S("ENABLED");

    memset(r, 0, sizeof(ngx_bedrock_sigv4_request_t));
    r->method = S("POST");
    r->path = S(path);
    r->headers = h;
    r->nheaders = 3;
    r->body = S(body);
    r->region = S("us-west-2");
    r->service = S(NGX_BEDROCK_SIGV4_SERVICE);
    r->time = 1767225600;     /* 2026-01-01T00:00:00Z */
}


static void
test_sign_bedrock(void)
{
    char                             date[17];
    header_t                         h[8];
    signed_t                         s, s2;
    const char                      *expect;
    unsigned char                    small[64];
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_result_t       res;
    ngx_bedrock_sigv4_credentials_t  c;

    memset(&c, 0, sizeof(c));
    c.access_key_id = S("AKIAIOSFODNN7EXAMPLE");
    c.secret_access_key = S(EXAMPLE_SECRET);

    bedrock_request(&r, h, "/model/us.anthropic.claude-3-7-sonnet-20250219-"
                    "v1%3A0/converse", "{\"messages\":[]}");

    s = sign(&r, &c, NULL);

    ok(s.rc == 0 && strcmp(s.res.amz_date, "20260101T000000Z") == 0,
       "sign: X-Amz-Date is the signing time (%s)", s.res.amz_date);

    ok(s.rc == 0 && str_is(s.res.signed_headers,
                           "content-type;host;x-amz-date;"
                           "x-amzn-bedrock-trace"),
       "sign: signed headers are the list plus x-amz-date");

    expect = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/"
             "us-west-2/bedrock/aws4_request, SignedHeaders=content-type;"
             "host;x-amz-date;x-amzn-bedrock-trace, Signature=";

    ok(s.rc == 0 && s.res.authorization.len == strlen(expect) + 64
       && memcmp(s.res.authorization.data, expect, strlen(expect)) == 0
       && memcmp(s.res.authorization.data + strlen(expect), s.res.signature,
                 64) == 0,
       "sign: Authorization has the scope, signed headers and signature");

    /* x-amz-date already in the list: accepted when it is the same */

    h[3].name = S("X-Amz-Date");
    h[3].value = S("20260101T000000Z");
    r.nheaders = 4;
    s2 = sign(&r, &c, NULL);

    ok(s2.rc == 0 && str_eq(s2.res.authorization, s.res.authorization),
       "sign: x-amz-date given in the list signs the same");

    signed_free(&s2);

    h[3].value = S("20260101T000001Z");
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == -1, "sign: x-amz-date in the list that is not the time is "
       "refused");
    signed_free(&s2);

    /* no host at all */

    r.nheaders = 3;
    h[0].name = S("X-Not-Host");
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == -1, "sign: a request without host is refused");
    signed_free(&s2);

    r.host = S("bedrock-runtime.us-west-2.amazonaws.com");
    h[0].name = S("Host");
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == 0 && str_eq(s2.res.authorization, s.res.authorization),
       "sign: host given apart signs as the host header");
    signed_free(&s2);
    r.host = S("");

    /* a changed body changes the signature, the same body does not */

    r.body = S("{\"messages\":[ ]}");
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == 0 && strcmp(s2.res.signature, s.res.signature) != 0,
       "sign: a rewritten body changes the signature");
    signed_free(&s2);
    r.body = S("{\"messages\":[]}");

    /* a second later, another date and signature */

    r.time++;
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == 0 && strcmp(s2.res.amz_date, "20260101T000001Z") == 0
       && strcmp(s2.res.signature, s.res.signature) != 0,
       "sign: each attempt is signed afresh with its own X-Amz-Date");
    signed_free(&s2);
    r.time--;

    /* too small a buffer: -1, and nothing written past it (ASan) */

    ok(ngx_bedrock_sigv4_sign(&r, &c, NULL, small, sizeof(small), &res) == -1,
       "sign: too small a buffer is refused");

    /* times outside what X-Amz-Date can say */

    r.time = -1;
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == -1, "sign: a time before 1970 is refused");
    signed_free(&s2);

    signed_free(&s);

    ok(ngx_bedrock_sigv4_amz_date(0, date) == 0
       && strcmp(date, "19700101T000000Z") == 0, "amz_date(0)");
    ok(ngx_bedrock_sigv4_amz_date(EXAMPLE_TIME, date) == 0
       && strcmp(date, "20150830T123600Z") == 0, "amz_date(1440938160)");
    ok(ngx_bedrock_sigv4_amz_date(951782400, date) == 0
       && strcmp(date, "20000229T000000Z") == 0, "amz_date of a leap day");
    ok(ngx_bedrock_sigv4_amz_date(4107542399LL, date) == 0
       && strcmp(date, "21000228T235959Z") == 0,
       "amz_date before 2100-03-01 (not a leap year)");
    ok(ngx_bedrock_sigv4_amz_date(253402300799LL, date) == 0
       && strcmp(date, "99991231T235959Z") == 0, "amz_date of year 9999");
    ok(ngx_bedrock_sigv4_amz_date(253402300800LL, date) == -1,
       "amz_date of year 10000 is refused");
}


static void
test_amz_date_roundtrip(void)
{
    int        bad;
    char       date[17];
    time_t     t, back;
    uint64_t   x;
    unsigned   i;

    static const char  *invalid[] = {
        "20150230T000000Z", "20150229T000000Z", "21000229T000000Z",
        "20150830T240000Z", "20150830T126000Z", "20150830T123660Z",
        "20151301T000000Z", "20150001T000000Z", "20150800T000000Z",
        "19691231T235959Z", "2015-08-30T12:3", "20150830 123600Z",
        "20150830T123600z", "20150830T123600", "20150830T12360AZ",
        "+0150830T123600Z"
    };

    bad = 0;
    x = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t = (time_t) (x % 253402300800ULL);

        if (ngx_bedrock_sigv4_amz_date(t, date) != 0
            || ngx_bedrock_sigv4_parse_amz_date((unsigned char *) date, 16,
                                                &back) != 0
            || back != t)
        {
            bad++;
        }
    }

    ok(bad == 0, "20000 random times format and parse back (%d wrong)", bad);

    ok(ngx_bedrock_sigv4_parse_amz_date((unsigned char *) "20000229T000000Z",
                                        16, &back) == 0
       && back == 951782400, "2000-02-29 parses (divisible by 400)");

    for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        ok(ngx_bedrock_sigv4_parse_amz_date((unsigned char *) invalid[i],
                                            strlen(invalid[i]), &back) == -1,
           "X-Amz-Date \"%s\" is refused", invalid[i]);
    }
}


static void
test_session_token(void)
{
    header_t                         h[8];
    signed_t                         s, s2;
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_credentials_t  c;

    static const char  token[] =
        "IQoJb3JpZ2luX2VjEXAMPLEtokenWithPlus+AndSlash/AndEquals==";

    memset(&c, 0, sizeof(c));
    c.access_key_id = S("ASIAIOSFODNN7EXAMPLE");
    c.secret_access_key = S(EXAMPLE_SECRET);
    c.session_token = S(token);

    bedrock_request(&r, h, "/model/anthropic.claude-3-haiku-20240307-v1%3A0"
                    "/invoke", "{}");

    s = sign(&r, &c, NULL);

    ok(s.rc == 0 && str_is(s.res.signed_headers,
                           "content-type;host;x-amz-date;"
                           "x-amz-security-token;x-amzn-bedrock-trace"),
       "token: x-amz-security-token is signed");

    ok(s.rc == 0 && contains(s.res.canonical_request,
                             "\nx-amz-security-token:IQoJb3JpZ2luX2VjEXAMPLE"
                             "tokenWithPlus+AndSlash/AndEquals==\n"),
       "token: its value is in the canonical request, unencoded");

    h[3].name = S("x-amz-security-token");
    h[3].value = S(token);
    r.nheaders = 4;
    s2 = sign(&r, &c, NULL);

    ok(s2.rc == 0 && str_eq(s2.res.authorization, s.res.authorization),
       "token: given in the list too, it signs the same");
    signed_free(&s2);

    h[3].value = S("another-token");
    s2 = sign(&r, &c, NULL);
    ok(s2.rc == -1, "token: another token in the list is refused");
    signed_free(&s2);

    r.nheaders = 3;
    c.session_token = S("");
    s2 = sign(&r, &c, NULL);

    ok(s2.rc == 0 && str_is(s2.res.signed_headers,
                            "content-type;host;x-amz-date;"
                            "x-amzn-bedrock-trace")
       && strcmp(s2.res.signature, s.res.signature) != 0,
       "token: without one, nothing about it is signed");
    signed_free(&s2);

    signed_free(&s);
}


/* -- the key cache ------------------------------------------------------ */

static void
test_key_cache(void)
{
    int                              same;
    unsigned                         i;
    header_t                         h[8];
    signed_t                         s, plain;
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_credentials_t  c;
    ngx_bedrock_sigv4_key_cache_t    cache;
    char                             copy[64];

    memset(&cache, 0, sizeof(cache));
    memset(&c, 0, sizeof(c));
    c.access_key_id = S("AKIAIOSFODNN7EXAMPLE");
    c.secret_access_key = S(EXAMPLE_SECRET);

    bedrock_request(&r, h, "/model/amazon.nova-pro-v1%3A0/converse", "{}");

    same = 1;

    for (i = 0; i < 1000; i++) {
        /* the whole day: 1000 times, 86 s apart */
        r.time = 1767225600 + i * 86;

        s = sign(&r, &c, &cache);
        plain = sign(&r, &c, NULL);

        if (s.rc != 0 || plain.rc != 0
            || !str_eq(s.res.authorization, plain.res.authorization))
        {
            same = 0;
        }

        signed_free(&s);
        signed_free(&plain);
    }

    ok(same, "cache: 1000 signatures over a day equal uncached ones");
    ok(cache.derived == 1, "cache: the key was derived once for the day "
       "(derived %lu times)", cache.derived);

    r.time = 1767225600 + 86400;
    s = sign(&r, &c, &cache);
    signed_free(&s);
    s = sign(&r, &c, &cache);
    signed_free(&s);
    ok(cache.derived == 2, "cache: a new day derives a new key, once");

    r.region = S("eu-central-1");
    s = sign(&r, &c, &cache);
    plain = sign(&r, &c, NULL);
    ok(cache.derived == 3 && s.rc == 0
       && str_eq(s.res.authorization, plain.res.authorization),
       "cache: a new region derives a new key, and signs right");
    signed_free(&s);
    signed_free(&plain);

    c.access_key_id = S("AKIAI44QH8DHBEXAMPLE");
    s = sign(&r, &c, &cache);
    signed_free(&s);
    ok(cache.derived == 4, "cache: a new key id derives a new key");

    c.secret_access_key = S("je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY");
    s = sign(&r, &c, &cache);
    plain = sign(&r, &c, NULL);
    ok(cache.derived == 5 && str_eq(s.res.authorization,
                                    plain.res.authorization),
       "cache: a rotated secret under the same key id derives a new key");

    /* the same secret elsewhere: hashed to tell, not derived again */
    strcpy(copy, "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY");
    c.secret_access_key.data = (const unsigned char *) copy;
    signed_free(&s);
    s = sign(&r, &c, &cache);
    ok(cache.derived == 5 && s.rc == 0
       && str_eq(s.res.authorization, plain.res.authorization)
       && cache.secret_at == (const unsigned char *) copy,
       "cache: the same secret in other memory is not derived again");

    /* a rotated secret in that memory, after a clear, as the header says */
    copy[0] = 'J';
    ngx_bedrock_sigv4_key_cache_clear(&cache);
    signed_free(&s);
    s = sign(&r, &c, &cache);
    ok(cache.derived == 1 && s.rc == 0
       && !str_eq(s.res.authorization, plain.res.authorization),
       "cache: a secret rewritten in place, the cache cleared: a new key");

    /* back to the state before, counts and all, for what follows */
    strcpy(copy, "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY");
    ngx_bedrock_sigv4_key_cache_clear(&cache);
    signed_free(&s);
    s = sign(&r, &c, &cache);
    cache.derived = 5;
    signed_free(&s);
    signed_free(&plain);

    r.service = S("bedrock-agent");
    s = sign(&r, &c, &cache);
    signed_free(&s);
    ok(cache.derived == 6, "cache: a new service derives a new key");

    s = sign(&r, &c, &cache);
    signed_free(&s);
    ok(cache.derived == 6, "cache: and is reused after");

    ngx_bedrock_sigv4_key_cache_clear(&cache);
    ok(!cache.valid && cache.derived == 0, "cache: clear wipes it");
}


/* -- Authorization parsing ---------------------------------------------- */

#define GOOD_CREDENTIAL  "Credential=AKIDEXAMPLE/20150830/us-east-1/" \
                         "service/aws4_request"
#define GOOD_SIGNED      "SignedHeaders=host;x-amz-date"
#define GOOD_SIGNATURE   "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a" \
                         "2260956d9b8aae1d763fbf31"


static void
test_parse_authorization(void)
{
    unsigned                     i;
    const char                  *reason;
    ngx_bedrock_sigv4_auth_t     a;
    ngx_bedrock_sigv4_verdict_e  v;

    static const char  *good[] = {
        "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
            GOOD_SIGNATURE,
        "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL "," GOOD_SIGNED ","
            GOOD_SIGNATURE,
        "AWS4-HMAC-SHA256 " GOOD_SIGNATURE ", " GOOD_CREDENTIAL ", "
            GOOD_SIGNED,
        "  AWS4-HMAC-SHA256\t" GOOD_CREDENTIAL " ,\t" GOOD_SIGNED " , "
            GOOD_SIGNATURE "  ",
        "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
            "Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8"
            "AAE1D763FBF31",
    };

    static const struct {
        const char                   *value;
        ngx_bedrock_sigv4_verdict_e   verdict;
        const char                   *what;
    } bad[] = {
        { "", NGX_BEDROCK_SIGV4_MISSING, "empty" },
        { "   ", NGX_BEDROCK_SIGV4_MISSING, "blank" },
        { "Bearer bedrock-api-key-abc", NGX_BEDROCK_SIGV4_MALFORMED,
          "a bearer token" },
        { "AWS4-HMAC-SHA256", NGX_BEDROCK_SIGV4_MALFORMED,
          "the algorithm alone" },
        { "AWS4-HMAC-SHA256 ", NGX_BEDROCK_SIGV4_MALFORMED,
          "the algorithm and a space" },
        { "AWS4-HMAC-SHA256" GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "no space after the algorithm" },
        { "AWS4-ECDSA-P256-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED, "SigV4a" },
        { "aws4-hmac-sha256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "a lowercase algorithm" },
        { "AWS4-HMAC-SHA256 " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "no Credential" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "no SignedHeaders" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED,
          NGX_BEDROCK_SIGV4_MALFORMED, "no Signature" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_CREDENTIAL ", "
          GOOD_SIGNED ", " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "a repeated Credential" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          GOOD_SIGNATURE ", Extra=1", NGX_BEDROCK_SIGV4_MALFORMED,
          "an unknown parameter" },
        { "AWS4-HMAC-SHA256 credential=AKIDEXAMPLE/20150830/us-east-1/"
          "service/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a lowercase parameter name" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL " " GOOD_SIGNED " "
          GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "parameters without commas" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL "; " GOOD_SIGNED "; "
          GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "parameters separated by ';'" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          GOOD_SIGNATURE ",", NGX_BEDROCK_SIGV4_MALFORMED,
          "a trailing comma" },
        { "AWS4-HMAC-SHA256 Credential=, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "an empty Credential" },
        { "AWS4-HMAC-SHA256 Credential, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a Credential without '='" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
          "aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a Credential of four parts" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
          "service/aws4_request/x, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a Credential of six parts" },
        { "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/"
          "service/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "an empty access key id" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015-08-30/us-east-1/"
          "service/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a Credential date with dashes" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/"
          "service/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a 7-digit Credential date" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//"
          "service/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "an empty region" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
          "/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "an empty service" },
        { "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
          "service/aws4_reques, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a wrong terminator" },
        { "AWS4-HMAC-SHA256 Credential=AK\x01ID/20150830/us-east-1/"
          "service/aws4_request, " GOOD_SIGNED ", " GOOD_SIGNATURE,
          NGX_BEDROCK_SIGV4_MALFORMED, "a control byte in the key id" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=, "
          GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "empty SignedHeaders" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=Host;"
          "x-amz-date, " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "an uppercase signed header" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=x-amz-date;"
          "host, " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "unsorted SignedHeaders" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=host;host;"
          "x-amz-date, " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "a repeated signed header" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=host;;"
          "x-amz-date, " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "an empty signed header" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=content-type;"
          "x-amz-date, " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "SignedHeaders without host" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", SignedHeaders=host;"
          "x amz, " GOOD_SIGNATURE, NGX_BEDROCK_SIGV4_MALFORMED,
          "a space inside SignedHeaders" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aa"
          "e1d763fbf3", NGX_BEDROCK_SIGV4_MALFORMED,
          "a 63-digit Signature" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aa"
          "e1d763fbf311", NGX_BEDROCK_SIGV4_MALFORMED,
          "a 65-digit Signature" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aa"
          "e1d763fbf3g", NGX_BEDROCK_SIGV4_MALFORMED,
          "a Signature with a non-hex digit" },
        { "AWS4-HMAC-SHA256 " GOOD_CREDENTIAL ", " GOOD_SIGNED ", "
          "Signature==5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8a"
          "ae1d763fbf31", NGX_BEDROCK_SIGV4_MALFORMED, "'==' in a parameter" },
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = ngx_bedrock_sigv4_parse_authorization((unsigned char *) good[i],
                                                  strlen(good[i]), &a,
                                                  &reason);

        if (!ok(v == NGX_BEDROCK_SIGV4_OK
                && str_is(a.access_key_id, "AKIDEXAMPLE")
                && str_is(a.date, "20150830")
                && str_is(a.region, "us-east-1")
                && str_is(a.service, "service")
                && str_is(a.signed_headers, "host;x-amz-date")
                && a.signature[0] == 0x5f && a.signature[31] == 0x31,
                "parse: good form %u is read", i + 1))
        {
            diag("%s: %s", good[i], reason);
        }
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = ngx_bedrock_sigv4_parse_authorization(
                                        (unsigned char *) bad[i].value,
                                        strlen(bad[i].value), &a, &reason);

        ok(v == bad[i].verdict, "parse: %s is %s (%s)", bad[i].what,
           ngx_bedrock_sigv4_verdict_name(bad[i].verdict), reason);
    }

    ok(ngx_bedrock_sigv4_parse_authorization(NULL, 5, &a, NULL)
       == NGX_BEDROCK_SIGV4_MISSING, "parse: NULL is missing");
}


/* -- verification ------------------------------------------------------- */

typedef struct {
    header_t                     h[12];
    ngx_bedrock_sigv4_request_t  r;
    signed_t                     s;
    ngx_bedrock_sigv4_credentials_t  c;
} client_t;


/* what an AWS SDK sends to the gateway, signed with the client's key */

static void
client_request(client_t *cl, const char *body)
{
    memset(cl, 0, sizeof(client_t));

    cl->h[0].name = S("host");
    cl->h[0].value = S("gateway.internal:8080");
    cl->h[1].name = S("content-type");
    cl->h[1].value = S("application/json");
    cl->h[2].name = S("amz-sdk-request");
    cl->h[2].value = S("attempt=1; max=3");

    cl->r.method = S("POST");
    cl->r.path = S("/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0"
                   "/converse");
    cl->r.headers = cl->h;
    cl->r.nheaders = 3;
    cl->r.body = S(body);
    cl->r.region = S("us-east-1");
    cl->r.service = S("bedrock");
    cl->r.time = 1767225600;

    cl->c.access_key_id = S("GWKEYCLIENT0001");
    cl->c.secret_access_key = S("client-secret-0001/abcdefghijklmnopqrstuv");

    cl->s = sign(&cl->r, &cl->c, NULL);

    /* as received: the signed headers, the date, and unsigned extras */

    cl->h[3].name = S("X-Amz-Date");
    cl->h[3].value = S(cl->s.res.amz_date);
    cl->h[4].name = S("Authorization");
    cl->h[4].value = cl->s.res.authorization;
    cl->h[5].name = S("User-Agent");
    cl->h[5].value = S("aws-sdk-js/3.700.0");
    cl->r.nheaders = 6;
}


static ngx_bedrock_sigv4_verdict_e
verify_client(client_t *cl, const char *secret, const char **reason)
{
    return verify(&cl->r, cl->s.res.authorization, secret, NULL, reason);
}


static void
test_verify(void)
{
    size_t                         size;
    str_t                          sec;
    client_t                       cl;
    const char                    *reason, *secret;
    unsigned char                 *mem;
    ngx_bedrock_sigv4_auth_t       a;
    ngx_bedrock_sigv4_key_cache_t  cache;
    ngx_bedrock_sigv4_verdict_e    v;

    secret = "client-secret-0001/abcdefghijklmnopqrstuv";

#define VERDICT(expect, what)                                              \
    v = verify_client(&cl, secret, &reason);                               \
    ok(v == (expect), "verify: %s is %s (%s: %s)", what,                   \
       ngx_bedrock_sigv4_verdict_name(expect),                             \
       ngx_bedrock_sigv4_verdict_name(v), reason)

    client_request(&cl, "{\"messages\":[{\"role\":\"user\"}]}");
    ok(cl.s.rc == 0, "verify: the client request is signed");
    VERDICT(NGX_BEDROCK_SIGV4_OK, "a good request");

    cl.r.body = S("{\"messages\":[{\"role\":\"user\"}]} ");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "a tampered body");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.h[1].value = S("text/plain");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "a tampered signed header");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.h[1].value = S("  application/json ");
    VERDICT(NGX_BEDROCK_SIGV4_OK, "white space around a signed value");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.h[5].value = S("curl/8.0");
    VERDICT(NGX_BEDROCK_SIGV4_OK, "a changed unsigned header");
    signed_free(&cl.s);

    /*
     * A client's X-Amz-Content-Sha256 is signed like any header, but the
     * hash in the canonical request is always the body's: a claimed hash
     * (or UNSIGNED-PAYLOAD) that is not the body's does not verify.
     */

    memset(&cl, 0, sizeof(cl));
    cl.h[0].name = S("host");
    cl.h[0].value = S("gateway.internal:8080");
    cl.h[1].name = S("x-amz-content-sha256");
    cl.h[1].value = S("UNSIGNED-PAYLOAD");
    cl.r.method = S("POST");
    cl.r.path = S("/model/amazon.nova-pro-v1%3A0/converse");
    cl.r.headers = cl.h;
    cl.r.nheaders = 2;
    cl.r.payload_hash = S("UNSIGNED-PAYLOAD");
    cl.r.region = S("us-east-1");
    cl.r.service = S("bedrock");
    cl.r.time = 1767225600;
    cl.c.access_key_id = S("GWKEYCLIENT0001");
    cl.c.secret_access_key = S(secret);
    cl.s = sign(&cl.r, &cl.c, NULL);
    cl.h[2].name = S("x-amz-date");
    cl.h[2].value = S(cl.s.res.amz_date);
    cl.r.nheaders = 3;
    cl.r.payload_hash = S("");
    cl.r.body = S("{}");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "an UNSIGNED-PAYLOAD request");
    signed_free(&cl.s);

    cl.h[1].value = S("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c06"
                      "0f61caaff8a");
    cl.r.nheaders = 2;
    cl.r.payload_hash = cl.h[1].value;
    cl.s = sign(&cl.r, &cl.c, NULL);
    cl.h[2].value = S(cl.s.res.amz_date);
    cl.r.nheaders = 3;
    cl.r.payload_hash = S("");
    VERDICT(NGX_BEDROCK_SIGV4_OK, "a signed X-Amz-Content-Sha256 of the body");
    cl.r.body = S("{ }");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "a body that is not the claimed hash");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.r.path = S("/model/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
                  "/converse");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "the path with ':' for '%3A'");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.r.query = S("x=1");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "an added query");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.r.method = S("PUT");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "another method");
    signed_free(&cl.s);

    client_request(&cl, "{}");
    secret = "client-secret-0002/abcdefghijklmnopqrstuv";
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "a wrong secret");
    secret = "client-secret-0001/abcdefghijklmnopqrstuv";
    signed_free(&cl.s);

    client_request(&cl, "{}");
    cl.h[2].name = S("amz-sdk-invocation-id");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "a signed header that is absent");
    signed_free(&cl.s);

    /* skew: 5 minutes either way is fine, a second more is not */

    client_request(&cl, "{}");
    cl.r.time += 300;
    VERDICT(NGX_BEDROCK_SIGV4_OK, "a request 300 s old");
    cl.r.time += 1;
    VERDICT(NGX_BEDROCK_SIGV4_EXPIRED, "a request 301 s old");
    cl.r.time -= 601;
    VERDICT(NGX_BEDROCK_SIGV4_OK, "a request 300 s ahead");
    cl.r.time -= 1;
    VERDICT(NGX_BEDROCK_SIGV4_NOT_YET_VALID, "a request 301 s ahead");
    cl.r.time -= 86400;
    VERDICT(NGX_BEDROCK_SIGV4_NOT_YET_VALID, "a request a day ahead");
    signed_free(&cl.s);

    /* the scope */

    client_request(&cl, "{}");
    cl.r.region = S("us-west-2");
    VERDICT(NGX_BEDROCK_SIGV4_WRONG_SCOPE, "a request scoped to another "
            "region");
    cl.r.region = S("");
    VERDICT(NGX_BEDROCK_SIGV4_OK, "any region when none is expected");
    cl.r.service = S("s3");
    VERDICT(NGX_BEDROCK_SIGV4_WRONG_SCOPE, "a request for another service");
    signed_free(&cl.s);

    /* the date header */

    client_request(&cl, "{}");
    cl.h[3].value = S("20260101T000001Z");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "a changed X-Amz-Date");
    cl.h[3].value = S("20260102T000000Z");
    cl.r.time += 86400;
    VERDICT(NGX_BEDROCK_SIGV4_WRONG_SCOPE, "an X-Amz-Date of another day "
            "than the scope");
    cl.r.time -= 86400;
    cl.h[3].value = S("2026-01-01T00:00:00Z");
    VERDICT(NGX_BEDROCK_SIGV4_MALFORMED, "an X-Amz-Date in ISO form");
    cl.h[3].name = S("X-Amz-Dates");
    VERDICT(NGX_BEDROCK_SIGV4_MALFORMED, "no X-Amz-Date");
    cl.h[3].name = S("x-amz-date");
    cl.h[3].value = S(cl.s.res.amz_date);
    cl.h[6] = cl.h[3];
    cl.r.nheaders = 7;
    VERDICT(NGX_BEDROCK_SIGV4_MALFORMED, "a repeated X-Amz-Date");
    signed_free(&cl.s);

    /* X-Amz-Date present but not signed */

    client_request(&cl, "{}");
    sec = S(secret);
    ngx_bedrock_sigv4_parse_authorization(cl.s.res.authorization.data,
                                          cl.s.res.authorization.len, &a,
                                          NULL);
    a.signed_headers = S("amz-sdk-request;content-type;host");
    size = ngx_bedrock_sigv4_verify_size(&cl.r, &a);
    mem = malloc(size);
    v = ngx_bedrock_sigv4_verify(&cl.r, &a, &sec, 300, NULL, mem, size,
                                 &reason);
    ok(v == NGX_BEDROCK_SIGV4_MALFORMED,
       "verify: X-Amz-Date not among SignedHeaders is malformed (%s)",
       reason);

    ok(ngx_bedrock_sigv4_verify(&cl.r, &a, &sec, 300, NULL, mem, 16, &reason)
       != NGX_BEDROCK_SIGV4_OK, "verify: too small a buffer never passes");
    free(mem);
    signed_free(&cl.s);

    /* HTTP/2: the SDK signed its :authority as host */

    client_request(&cl, "{}");
    cl.h[0].name = S(":authority");
    cl.r.host = S("gateway.internal:8080");
    VERDICT(NGX_BEDROCK_SIGV4_OK, "an HTTP/2 request, host given apart");
    cl.r.host = S("gateway.internal");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "an HTTP/2 request, another host");
    cl.r.host = S("");
    VERDICT(NGX_BEDROCK_SIGV4_MISMATCH, "an HTTP/2 request without host");
    signed_free(&cl.s);

    /* the cache serves verification too */

    client_request(&cl, "{}");
    memset(&cache, 0, sizeof(cache));
    v = verify(&cl.r, cl.s.res.authorization, secret, &cache, &reason);
    v = (v == NGX_BEDROCK_SIGV4_OK)
        ? verify(&cl.r, cl.s.res.authorization, secret, &cache, &reason) : v;
    ok(v == NGX_BEDROCK_SIGV4_OK && cache.derived == 1,
       "verify: two checks with a cache derive the key once");
    v = verify(&cl.r, cl.s.res.authorization, "wrong", &cache, &reason);
    ok(v == NGX_BEDROCK_SIGV4_MISMATCH && cache.derived == 2,
       "verify: a cached key never passes another secret");
    signed_free(&cl.s);

#undef VERDICT

    ok(strcmp(ngx_bedrock_sigv4_verdict_error_type(
                                      NGX_BEDROCK_SIGV4_MISMATCH),
              "InvalidSignatureException") == 0
       && strcmp(ngx_bedrock_sigv4_verdict_error_type(
                                      NGX_BEDROCK_SIGV4_EXPIRED),
                 "InvalidSignatureException") == 0
       && strcmp(ngx_bedrock_sigv4_verdict_error_type(
                                      NGX_BEDROCK_SIGV4_MISSING),
                 "MissingAuthenticationTokenException") == 0
       && strcmp(ngx_bedrock_sigv4_verdict_error_type(
                                      NGX_BEDROCK_SIGV4_MALFORMED),
                 "IncompleteSignatureException") == 0
       && strcmp(ngx_bedrock_sigv4_verdict_error_type(
                                      NGX_BEDROCK_SIGV4_UNKNOWN_KEY),
                 "UnrecognizedClientException") == 0,
       "verdicts map to AWS's error types");
}


/*
 * Over HTTP/2 the AWS SDK for JavaScript v3 signs the host as the
 * ":authority" pseudo-header; nginx hands the value over as "host".
 * The signature is botocore's SigV4Auth with that one name changed.
 */

static void
test_verify_authority(void)
{
    header_t                     h[5];
    const char                  *reason, *secret;
    ngx_bedrock_sigv4_request_t  r;
    ngx_bedrock_sigv4_verdict_e  v;

    static const char  authorization[] =
        "AWS4-HMAC-SHA256 Credential=GWKEYCLIENT0001/20260101/us-east-1/"
        "bedrock/aws4_request, SignedHeaders=:authority;amz-sdk-request;"
        "content-type;x-amz-date, Signature=6e8cf3f1ae8c7ac441981967934f97"
        "858ae38800c47911af7c7a0f99613411c4";

    secret = "client-secret-0001/abcdefghijklmnopqrstuv";

    memset(&r, 0, sizeof(r));

    h[0].name = S("host");
    h[0].value = S("gateway.internal:8080");
    h[1].name = S("content-type");
    h[1].value = S("application/json");
    h[2].name = S("amz-sdk-request");
    h[2].value = S("attempt=1; max=3");
    h[3].name = S("x-amz-date");
    h[3].value = S("20260101T000000Z");
    h[4].name = S("authorization");
    h[4].value = S(authorization);

    r.method = S("POST");
    r.path = S("/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0"
               "/converse");
    r.headers = h;
    r.nheaders = 5;
    r.host = S("gateway.internal:8080");
    r.body = S("{\"messages\":[{\"role\":\"user\"}]}");
    r.service = S("bedrock");
    r.time = 1767225600;

    v = verify(&r, S(authorization), secret, NULL, &reason);
    ok(v == NGX_BEDROCK_SIGV4_OK, "verify: a signature over :authority "
       "(HTTP/2) signs the host (%s: %s)",
       ngx_bedrock_sigv4_verdict_name(v), reason);

    v = verify(&r, S(authorization), "another-secret", NULL, &reason);
    ok(v == NGX_BEDROCK_SIGV4_MISMATCH, "verify: over :authority, the "
       "wrong secret is a mismatch (%s)", ngx_bedrock_sigv4_verdict_name(v));

    h[0].value = S("gateway.other:8080");
    r.host = S("gateway.other:8080");

    v = verify(&r, S(authorization), secret, NULL, &reason);
    ok(v == NGX_BEDROCK_SIGV4_MISMATCH, "verify: over :authority, another "
       "host is a mismatch (%s)", ngx_bedrock_sigv4_verdict_name(v));
}


/* -- sizes -------------------------------------------------------------- */

static void
test_sizes(void)
{
    int                              bad;
    size_t                           i, k, n, size;
    uint64_t                         x;
    header_t                         h[16];
    str_t                            canon, list;
    unsigned char                    text[16][64], path[200], query[200];
    unsigned char                   *mem;
    ngx_bedrock_sigv4_buf_t          b;
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_result_t       res;
    ngx_bedrock_sigv4_credentials_t  c;

    /* random requests in exactly the memory sign_size() asks for */

    bad = 0;
    x = 12345;

    memset(&c, 0, sizeof(c));
    c.access_key_id = S("AKIDEXAMPLE");
    c.secret_access_key = S(EXAMPLE_SECRET);

#define RAND()  (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)

    for (i = 0; i < 2000; i++) {
        memset(&r, 0, sizeof(r));

        n = RAND() % sizeof(path);
        for (k = 0; k < n; k++) {
            path[k] = "/%.a:~ \xff"[RAND() % 8];
        }
        r.path.data = path;
        r.path.len = n;

        n = RAND() % sizeof(query);
        for (k = 0; k < n; k++) {
            query[k] = "&=%aZ+\x80"[RAND() % 7];
        }
        r.query.data = query;
        r.query.len = n;

        n = 1 + RAND() % 15;
        for (k = 0; k < n; k++) {
            size_t  j, len = 1 + RAND() % 60;

            for (j = 0; j < len; j++) {
                text[k][j] = " \tAb-"[RAND() % 5];
            }

            h[k].name = (k == 0) ? S("host") : S((RAND() & 1) ? "X-A" : "b");
            h[k].value.data = text[k];
            h[k].value.len = len;
        }

        r.headers = h;
        r.nheaders = n;
        r.method = S("POST");
        r.region = S("us-east-1");
        r.service = S("bedrock");
        r.time = EXAMPLE_TIME;
        c.session_token = (RAND() & 1) ? S("tok en") : S("");

        /* at any alignment: the bound counts the padding */
        size = ngx_bedrock_sigv4_sign_size(&r, &c);
        mem = malloc(size + 15);

        if (ngx_bedrock_sigv4_sign(&r, &c, NULL, mem + i % 16, size, &res)
            != 0)
        {
            bad++;
        }

        free(mem);

        size = ngx_bedrock_sigv4_canonical_headers_size(h, n, NULL);
        mem = malloc(size + 15);
        b.pos = mem + i % 16;
        b.end = b.pos + size;

        if (ngx_bedrock_sigv4_canonical_headers(&b, h, n, NULL, &canon,
                                                &list)
            != 0)
        {
            bad++;
        }

        free(mem);
    }

#undef RAND

    ok(bad == 0, "2000 random requests sign in the memory sign_size() "
       "names (%d failed)", bad);
}


int
main(void)
{
    test_vectors();
    test_known_answers();
    test_canonical_parts();
    test_sign_bedrock();
    test_amz_date_roundtrip();
    test_session_token();
    test_key_cache();
    test_parse_authorization();
    test_verify();
    test_verify_authority();
    test_sizes();

    ngx_bedrock_sigv4_cleanup();

    return done_testing();
}
