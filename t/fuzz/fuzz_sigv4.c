/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * libFuzzer target for the SigV4 signer and verifier.
 *
 * Input: a flags byte, then lines: the path, the query, headers
 * ("name:value") up to an empty line, an Authorization value, and the
 * rest is the body.  Every stage runs in exactly the memory its *_size()
 * names (ASan catches a byte more), the Authorization parser runs on the
 * line and on the whole input, and a sign-then-verify round trip must
 * pass, while a changed body or secret must not.  Any broken promise
 * aborts.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_sigv4.h"


#define MAX_HEADERS  32


typedef ngx_bedrock_sigv4_str_t     str_t;
typedef ngx_bedrock_sigv4_header_t  header_t;


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static str_t
next_line(const uint8_t **p, const uint8_t *end)
{
    str_t           s;
    const uint8_t  *nl;

    nl = memchr(*p, '\n', end - *p);

    s.data = *p;
    s.len = (nl ? nl : end) - *p;
    *p = nl ? nl + 1 : end;

    return s;
}


static int
name_is(str_t name, const char *lower)
{
    size_t  i, n;

    n = strlen(lower);

    if (name.len != n) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        unsigned char  c = name.data[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) lower[i]) {
            return 0;
        }
    }

    return 1;
}


static int
token(str_t name)
{
    size_t  i;

    if (name.len == 0) {
        return 0;
    }

    for (i = 0; i < name.len; i++) {
        unsigned char  c = name.data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9')
              || (c && strchr("!#$%&'*+-.^_`|~", c))))
        {
            return 0;
        }
    }

    return 1;
}


static int
upper_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}


/* the canonical URI and query hold only unreserved bytes and %XX */

static void
check_encoded(str_t s, const char *also)
{
    size_t  i;

    for (i = 0; i < s.len; i++) {
        unsigned char  c = s.data[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || (c != '\0' && strchr(also, c) != NULL))
        {
            continue;
        }

        if (c != '%' || s.len - i < 3
            || !upper_hex(s.data[i + 1]) || !upper_hex(s.data[i + 2]))
        {
            abort();
        }

        i += 2;
    }
}


static void
stages(str_t path, str_t query, const header_t *h, size_t n, int names_ok)
{
    int                       rc;
    size_t                    size;
    str_t                     out, list;
    unsigned char            *mem;
    ngx_bedrock_sigv4_buf_t   b;

    for (rc = 0; rc < 2; rc++) {
        size = ngx_bedrock_sigv4_canonical_uri_size(path.len);
        mem = malloc(size);
        b.pos = mem;
        b.end = mem + size;

        if (ngx_bedrock_sigv4_canonical_uri(&b, path.data, path.len, rc,
                                            &out)
            != 0
            || out.len == 0)
        {
            abort();
        }

        check_encoded(out, "/");
        free(mem);
    }

    size = ngx_bedrock_sigv4_canonical_query_size(query.data, query.len);
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;

    if (ngx_bedrock_sigv4_canonical_query(&b, query.data, query.len, &out)
        != 0)
    {
        abort();
    }

    check_encoded(out, "=&");
    free(mem);

    size = ngx_bedrock_sigv4_canonical_headers_size(h, n, NULL);
    mem = malloc(size);
    b.pos = mem;
    b.end = mem + size;

    rc = ngx_bedrock_sigv4_canonical_headers(&b, h, n, NULL, &out, &list);

    if ((rc == 0) != names_ok) {
        abort();
    }

    free(mem);
}


static ngx_bedrock_sigv4_verdict_e
verify(const ngx_bedrock_sigv4_request_t *r, str_t authorization,
    const char *secret)
{
    size_t                       size;
    str_t                        s;
    unsigned char               *mem;
    ngx_bedrock_sigv4_auth_t     a;
    ngx_bedrock_sigv4_verdict_e  v;

    v = ngx_bedrock_sigv4_parse_authorization(authorization.data,
                                              authorization.len, &a, NULL);
    if (v != NGX_BEDROCK_SIGV4_OK) {
        return v;
    }

    s.data = (const unsigned char *) secret;
    s.len = strlen(secret);

    size = ngx_bedrock_sigv4_verify_size(r, &a);
    mem = malloc(size ? size : 1);
    v = ngx_bedrock_sigv4_verify(r, &a, &s, NGX_BEDROCK_SIGV4_MAX_SKEW, NULL,
                                 mem, size, NULL);
    free(mem);

    return v;
}


static void
parse_any(const uint8_t *p, size_t len)
{
    const char                  *reason;
    ngx_bedrock_sigv4_auth_t     a;
    ngx_bedrock_sigv4_verdict_e  v;

    reason = NULL;
    v = ngx_bedrock_sigv4_parse_authorization(p, len, &a, &reason);

    if (reason == NULL) {
        abort();
    }

    if (v == NGX_BEDROCK_SIGV4_OK
        && (a.access_key_id.len == 0 || a.date.len != 8
            || a.region.len == 0 || a.service.len == 0
            || a.signed_headers.len < 4))
    {
        abort();
    }

    if (v != NGX_BEDROCK_SIGV4_OK && v != NGX_BEDROCK_SIGV4_MISSING
        && v != NGX_BEDROCK_SIGV4_MALFORMED)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                              flags, names_ok, have_host, rc;
    size_t                           n, m, i, buf_size;
    str_t                            path, query, line, auth;
    header_t                         h[MAX_HEADERS], recv[MAX_HEADERS + 2];
    unsigned char                   *mem, *body;
    const uint8_t                   *p, *end, *colon;
    ngx_bedrock_sigv4_request_t      r;
    ngx_bedrock_sigv4_result_t       res;
    ngx_bedrock_sigv4_credentials_t  c;
    ngx_bedrock_sigv4_verdict_e      v;

    parse_any(data, size);

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    p = data + 1;
    end = data + size;

    path = next_line(&p, end);
    query = next_line(&p, end);

    n = 0;
    names_ok = 1;

    while (p < end) {
        line = next_line(&p, end);

        if (line.len == 0 || n == MAX_HEADERS) {
            break;
        }

        colon = memchr(line.data, ':', line.len);

        h[n].name.data = line.data;
        h[n].name.len = colon ? (size_t) (colon - line.data) : line.len;
        h[n].value.data = colon ? colon + 1 : line.data + line.len;
        h[n].value.len = colon ? line.len - h[n].name.len - 1 : 0;

        names_ok &= token(h[n].name);
        n++;
    }

    auth = next_line(&p, end);
    parse_any(auth.data, auth.len);

    stages(path, query, h, n, names_ok);

    /* sign, then verify what was signed */

    m = 0;
    have_host = 0;

    for (i = 0; i < n; i++) {
        if (name_is(h[i].name, "x-amz-date")
            || name_is(h[i].name, "x-amz-security-token"))
        {
            continue;
        }

        have_host |= name_is(h[i].name, "host");
        recv[m++] = h[i];
    }

    body = malloc(end - p + 1);
    memcpy(body, p, end - p);

    memset(&r, 0, sizeof(r));
    r.method.data = (const unsigned char *) ((flags & 1) ? "POST" : "get");
    r.method.len = (flags & 1) ? 4 : 3;
    r.path = path;
    r.query = query;
    r.headers = recv;
    r.nheaders = m;
    r.body.data = body;
    r.body.len = end - p;
    r.region.data = (const unsigned char *) "us-east-1";
    r.region.len = 9;
    r.service.data = (const unsigned char *) NGX_BEDROCK_SIGV4_SERVICE;
    r.service.len = sizeof(NGX_BEDROCK_SIGV4_SERVICE) - 1;
    r.time = 1420070400 + (time_t) flags * 7919 * 86;
    r.verbatim_path = (flags & 2) != 0;

    if (!have_host || (flags & 4)) {
        /* as for an HTTP/2 client: the host is given apart */
        r.host.data = (const unsigned char *) "gw.example:8443";
        r.host.len = 15;
    }

    memset(&c, 0, sizeof(c));
    c.access_key_id.data = (const unsigned char *) "AKIDEXAMPLE";
    c.access_key_id.len = 11;
    c.secret_access_key.data = (const unsigned char *) "fuzz-secret";
    c.secret_access_key.len = 11;

    if (flags & 8) {
        c.session_token.data = (const unsigned char *) "fuzz token/+=";
        c.session_token.len = 13;
    }

    buf_size = ngx_bedrock_sigv4_sign_size(&r, &c);
    mem = malloc(buf_size ? buf_size : 1);
    rc = ngx_bedrock_sigv4_sign(&r, &c, NULL, mem, buf_size, &res);

    if ((rc == 0) != names_ok) {
        abort();
    }

    if (rc == 0) {
        recv[m].name.data = (const unsigned char *) "X-Amz-Date";
        recv[m].name.len = 10;
        recv[m].value.data = (const unsigned char *) res.amz_date;
        recv[m].value.len = NGX_BEDROCK_SIGV4_DATE_LEN;
        m++;

        if (flags & 8) {
            recv[m].name.data = (const unsigned char *) "x-amz-security-token";
            recv[m].name.len = 20;
            recv[m].value = c.session_token;
            m++;
        }

        r.nheaders = m;

        v = verify(&r, res.authorization, "fuzz-secret");
        if (v != NGX_BEDROCK_SIGV4_OK) {
            abort();
        }

        if (verify(&r, res.authorization, "fuzz-secreT")
            != NGX_BEDROCK_SIGV4_MISMATCH)
        {
            abort();
        }

        if (r.body.len) {
            body[0] ^= 1;

            if (verify(&r, res.authorization, "fuzz-secret")
                != NGX_BEDROCK_SIGV4_MISMATCH)
            {
                abort();
            }
        }
    }

    free(mem);
    free(body);

    return 0;
}
