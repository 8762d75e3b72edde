/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * AWS Signature Version 4: see ngx_bedrock_sigv4.h for the contract.
 *
 * Every text is built in the caller's buffer through a bump allocator
 * (ngx_bedrock_sigv4_buf_t): a stage reserves its upper bound, writes,
 * and gives back what it did not use, so the *_size() functions are
 * simple sums of the same bounds.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_bedrock_sigv4.h"


/* path, query and headers larger than this are refused, not signed */
#define NGX_BEDROCK_SIGV4_MAX_TEXT   ((size_t) 256 * 1024 * 1024)

/* slack for one aligned allocation */
#define NGX_BEDROCK_SIGV4_ALIGN      16

#define NGX_BEDROCK_SIGV4_SHA256_BLOCK  64

#define ngx_bedrock_sigv4_lower(c)                                          \
    (unsigned char) (((c) >= 'A' && (c) <= 'Z') ? ((c) | 0x20) : (c))

#define ngx_bedrock_sigv4_space(c)                                          \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n'                \
     || (c) == '\v' || (c) == '\f')

#define ngx_bedrock_sigv4_ows(c)  ((c) == ' ' || (c) == '\t')

#define ngx_bedrock_sigv4_literal(s)                                        \
    { (const unsigned char *) (s), sizeof(s) - 1 }


/* a query parameter, encoded "name=value" in scratch memory */
typedef struct {
    const unsigned char  *data;
    size_t                name_len;
    size_t                len;
} ngx_bedrock_sigv4_param_t;


/* a header in sorting order: the list position keeps repeats in order */
typedef struct {
    const ngx_bedrock_sigv4_header_t  *header;
    size_t                             index;
} ngx_bedrock_sigv4_entry_t;


static unsigned char *ngx_bedrock_sigv4_alloc(ngx_bedrock_sigv4_buf_t *b,
    size_t size);
static void *ngx_bedrock_sigv4_alloc_aligned(ngx_bedrock_sigv4_buf_t *b,
    size_t size);
static size_t ngx_bedrock_sigv4_add(size_t a, size_t b);
static size_t ngx_bedrock_sigv4_text_len(
    const ngx_bedrock_sigv4_request_t *r, size_t extra);
static size_t ngx_bedrock_sigv4_headers_bound(size_t n, size_t text);
static size_t ngx_bedrock_sigv4_request_bound(
    const ngx_bedrock_sigv4_request_t *r, size_t n, size_t text);
static int ngx_bedrock_sigv4_unreserved(unsigned char c);
static int ngx_bedrock_sigv4_token_char(unsigned char c);
static int ngx_bedrock_sigv4_hex_value(unsigned char c);
static unsigned char *ngx_bedrock_sigv4_encode_byte(unsigned char *p,
    unsigned char c);
static unsigned char *ngx_bedrock_sigv4_encode_segment(unsigned char *p,
    const unsigned char *s, size_t len);
static unsigned char *ngx_bedrock_sigv4_reencode(unsigned char *p,
    const unsigned char *s, size_t len);
static int ngx_bedrock_sigv4_param_cmp(const void *one, const void *two);
static int ngx_bedrock_sigv4_entry_cmp(const void *one, const void *two);
static int ngx_bedrock_sigv4_same_name(const ngx_bedrock_sigv4_str_t *one,
    const ngx_bedrock_sigv4_str_t *two);
static int ngx_bedrock_sigv4_name_is(const ngx_bedrock_sigv4_str_t *name,
    const char *lower, size_t len);
static void ngx_bedrock_sigv4_trim(ngx_bedrock_sigv4_str_t *s);
static unsigned char *ngx_bedrock_sigv4_trimall(unsigned char *p,
    const unsigned char *s, size_t len);
static int ngx_bedrock_sigv4_mem_eq(const unsigned char *p, size_t len,
    const ngx_bedrock_sigv4_str_t *s);
static int ngx_bedrock_sigv4_str_eq(const ngx_bedrock_sigv4_str_t *one,
    const ngx_bedrock_sigv4_str_t *two);
static void ngx_bedrock_sigv4_hex(char *dst, const unsigned char *src,
    size_t len);
static const EVP_MD *ngx_bedrock_sigv4_md(void);
static int ngx_bedrock_sigv4_digest(EVP_MD_CTX *ctx, const void *one,
    size_t one_len, const void *two, size_t two_len, unsigned char *out);
static int ngx_bedrock_sigv4_hmac(EVP_MD_CTX *ctx, const unsigned char *key,
    size_t key_len, const void *data, size_t len, unsigned char *out);
static int ngx_bedrock_sigv4_sts(EVP_MD_CTX *ctx, ngx_bedrock_sigv4_buf_t *b,
    const char *amz_date, const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service,
    const ngx_bedrock_sigv4_str_t *canonical_request,
    ngx_bedrock_sigv4_str_t *out);
static int ngx_bedrock_sigv4_derive(EVP_MD_CTX *ctx, unsigned char *key,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service);
static int ngx_bedrock_sigv4_cached_key(EVP_MD_CTX *ctx,
    ngx_bedrock_sigv4_key_cache_t *cache,
    const ngx_bedrock_sigv4_str_t *key_id,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service, unsigned char *key);
static int ngx_bedrock_sigv4_signature_raw(EVP_MD_CTX *ctx,
    const unsigned char *key, const ngx_bedrock_sigv4_str_t *sts,
    unsigned char *out);
static int ngx_bedrock_sigv4_get_key(EVP_MD_CTX *ctx,
    ngx_bedrock_sigv4_key_cache_t *cache,
    const ngx_bedrock_sigv4_str_t *key_id,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service, unsigned char *key);
static long long ngx_bedrock_sigv4_days_from_civil(long long y,
    unsigned m, unsigned d);
static int ngx_bedrock_sigv4_list_has(const ngx_bedrock_sigv4_str_t *list,
    const ngx_bedrock_sigv4_str_t *name);
static ngx_bedrock_sigv4_verdict_e ngx_bedrock_sigv4_parse_credential(
    const ngx_bedrock_sigv4_str_t *v, ngx_bedrock_sigv4_auth_t *a,
    const char **reason);
static ngx_bedrock_sigv4_verdict_e ngx_bedrock_sigv4_parse_signed_headers(
    const ngx_bedrock_sigv4_str_t *v, const char **reason);


static const char  ngx_bedrock_sigv4_hex_lower[] = "0123456789abcdef";
static const char  ngx_bedrock_sigv4_hex_upper[] = "0123456789ABCDEF";


/* -- scratch memory --------------------------------------------------- */

static unsigned char *
ngx_bedrock_sigv4_alloc(ngx_bedrock_sigv4_buf_t *b, size_t size)
{
    unsigned char  *p;

    if (b->pos == NULL || b->end < b->pos
        || size > (size_t) (b->end - b->pos))
    {
        return NULL;
    }

    p = b->pos;
    b->pos += size;

    return p;
}


static void *
ngx_bedrock_sigv4_alloc_aligned(ngx_bedrock_sigv4_buf_t *b, size_t size)
{
    size_t  pad;

    if (b->pos == NULL || b->end < b->pos) {
        return NULL;
    }

    pad = (NGX_BEDROCK_SIGV4_ALIGN
           - ((uintptr_t) b->pos & (NGX_BEDROCK_SIGV4_ALIGN - 1)))
          & (NGX_BEDROCK_SIGV4_ALIGN - 1);

    if (ngx_bedrock_sigv4_alloc(b, pad) == NULL) {
        return NULL;
    }

    return ngx_bedrock_sigv4_alloc(b, size);
}


/* saturating: a sum that overflows stays above any limit */

static size_t
ngx_bedrock_sigv4_add(size_t a, size_t b)
{
    return (a > SIZE_MAX - b) ? SIZE_MAX : a + b;
}


/*
 * The bytes of text a request carries into its canonical form, plus
 * extra; SIZE_MAX when over the limit, which keeps every bound below
 * from overflowing.
 */

static size_t
ngx_bedrock_sigv4_text_len(const ngx_bedrock_sigv4_request_t *r,
    size_t extra)
{
    size_t                          i, n;
    const ngx_bedrock_sigv4_str_t  *s[8];

    s[0] = &r->method;
    s[1] = &r->path;
    s[2] = &r->query;
    s[3] = &r->host;
    s[4] = &r->payload_hash;
    s[5] = &r->region;
    s[6] = &r->service;
    s[7] = &r->body;

    for (i = 0; i < 8; i++) {
        if (s[i]->len && s[i]->data == NULL) {
            return SIZE_MAX;
        }
    }

    n = extra;
    n = ngx_bedrock_sigv4_add(n, r->method.len);
    n = ngx_bedrock_sigv4_add(n, r->path.len);
    n = ngx_bedrock_sigv4_add(n, r->query.len);
    n = ngx_bedrock_sigv4_add(n, r->host.len);
    n = ngx_bedrock_sigv4_add(n, r->payload_hash.len);
    n = ngx_bedrock_sigv4_add(n, r->region.len);
    n = ngx_bedrock_sigv4_add(n, r->service.len);

    if (r->nheaders > NGX_BEDROCK_SIGV4_MAX_TEXT
        || (r->nheaders && r->headers == NULL))
    {
        return SIZE_MAX;
    }

    for (i = 0; i < r->nheaders; i++) {

        if ((r->headers[i].name.len && r->headers[i].name.data == NULL)
            || (r->headers[i].value.len && r->headers[i].value.data == NULL))
        {
            return SIZE_MAX;
        }

        n = ngx_bedrock_sigv4_add(n, r->headers[i].name.len);
        n = ngx_bedrock_sigv4_add(n, r->headers[i].value.len);
    }

    return (n > NGX_BEDROCK_SIGV4_MAX_TEXT) ? SIZE_MAX : n;
}


/*
 * n headers and a host, with text bytes of names and values in all:
 * the aligned entries and host header, "name:value\n" (or ",value") and
 * "name;" for each.
 */

static size_t
ngx_bedrock_sigv4_headers_bound(size_t n, size_t text)
{
    n += 1;

    return 2 * NGX_BEDROCK_SIGV4_ALIGN + sizeof(ngx_bedrock_sigv4_header_t)
           + n * sizeof(ngx_bedrock_sigv4_entry_t) + 2 * text + 3 * n;
}


/*
 * What ngx_bedrock_sigv4_canonical_request() needs for r with n headers
 * and text bytes of text in all (see ngx_bedrock_sigv4_text_len()).
 */

static size_t
ngx_bedrock_sigv4_request_bound(const ngx_bedrock_sigv4_request_t *r,
    size_t n, size_t text)
{
    size_t  parts;

    /* each part is built once, then copied into the canonical request */

    parts = ngx_bedrock_sigv4_canonical_uri_size(r->path.len)
            + NGX_BEDROCK_SIGV4_ALIGN + (r->query.len + 1)
              * sizeof(ngx_bedrock_sigv4_param_t)
            + 2 * (3 * r->query.len + 2 * (r->query.len + 1))
            + ngx_bedrock_sigv4_headers_bound(n, text + 4);

    return 2 * parts + text + NGX_BEDROCK_SIGV4_HEX_LEN + 8;
}


/* -- encoding --------------------------------------------------------- */

static int
ngx_bedrock_sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


/* RFC 9110 tchar: what a header name may be made of */

static int
ngx_bedrock_sigv4_token_char(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static int
ngx_bedrock_sigv4_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c = ngx_bedrock_sigv4_lower(c);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static unsigned char *
ngx_bedrock_sigv4_encode_byte(unsigned char *p, unsigned char c)
{
    if (ngx_bedrock_sigv4_unreserved(c)) {
        *p++ = c;
        return p;
    }

    *p++ = '%';
    *p++ = ngx_bedrock_sigv4_hex_upper[c >> 4];
    *p++ = ngx_bedrock_sigv4_hex_upper[c & 0x0f];

    return p;
}


static unsigned char *
ngx_bedrock_sigv4_encode_segment(unsigned char *p, const unsigned char *s,
    size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        p = ngx_bedrock_sigv4_encode_byte(p, s[i]);
    }

    return p;
}


/* decodes %XX escapes (others stay literal) and encodes the result */

static unsigned char *
ngx_bedrock_sigv4_reencode(unsigned char *p, const unsigned char *s,
    size_t len)
{
    int     hi, lo;
    size_t  i;

    i = 0;

    while (i < len) {

        if (s[i] == '%' && len - i >= 3) {
            hi = ngx_bedrock_sigv4_hex_value(s[i + 1]);
            lo = ngx_bedrock_sigv4_hex_value(s[i + 2]);

            if (hi >= 0 && lo >= 0) {
                p = ngx_bedrock_sigv4_encode_byte(p,
                                          (unsigned char) (hi << 4 | lo));
                i += 3;
                continue;
            }
        }

        p = ngx_bedrock_sigv4_encode_byte(p, s[i]);
        i++;
    }

    return p;
}


static void
ngx_bedrock_sigv4_hex(char *dst, const unsigned char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        *dst++ = ngx_bedrock_sigv4_hex_lower[src[i] >> 4];
        *dst++ = ngx_bedrock_sigv4_hex_lower[src[i] & 0x0f];
    }

    *dst = '\0';
}


/* -- canonical URI ---------------------------------------------------- */

size_t
ngx_bedrock_sigv4_canonical_uri_size(size_t len)
{
    if (len > NGX_BEDROCK_SIGV4_MAX_TEXT) {
        return 0;
    }

    /* every byte encoded, plus a leading and a trailing '/' */
    return 3 * len + 2;
}


int
ngx_bedrock_sigv4_canonical_uri(ngx_bedrock_sigv4_buf_t *b,
    const unsigned char *path, size_t len, int normalize,
    ngx_bedrock_sigv4_str_t *out)
{
    size_t          i, seg, nseg, size;
    unsigned char  *start, *p, *base;

    size = ngx_bedrock_sigv4_canonical_uri_size(len);

    if (size == 0 || (len && path == NULL)) {
        return -1;
    }

    start = ngx_bedrock_sigv4_alloc(b, size);
    if (start == NULL) {
        return -1;
    }

    p = start;

    if (!normalize) {
        for (i = 0; i < len; i++) {
            if (path[i] == '/') {
                *p++ = '/';

            } else {
                p = ngx_bedrock_sigv4_encode_byte(p, path[i]);
            }
        }

    } else if (len) {

        /*
         * As RFC 3986 "remove dot segments", and empty segments go too
         * (AWS collapses "//"): the output is base, then the kept
         * segments separated by '/'; ".." takes the last one back.
         * Encoded segments hold no '/', so the last '/' written is
         * where the last segment starts.
         */

        if (path[0] == '/') {
            *p++ = '/';
        }

        base = p;
        nseg = 0;
        i = 0;

        while (i < len) {
            seg = i;

            while (i < len && path[i] != '/') {
                i++;
            }

            if (i == seg || (i - seg == 1 && path[seg] == '.')) {
                i++;
                continue;
            }

            if (i - seg == 2 && path[seg] == '.' && path[seg + 1] == '.') {

                if (nseg == 1) {
                    p = base;
                    nseg = 0;

                } else if (nseg > 1) {
                    do {
                        p--;
                    } while (*p != '/');

                    nseg--;
                }

                i++;
                continue;
            }

            if (nseg) {
                *p++ = '/';
            }

            p = ngx_bedrock_sigv4_encode_segment(p, path + seg, i - seg);
            nseg++;
            i++;
        }

        if (nseg && path[len - 1] == '/') {
            *p++ = '/';
        }
    }

    if (p == start) {
        *p++ = '/';
    }

    /* give back what the bound reserved and the text did not use */
    b->pos = p;

    out->data = start;
    out->len = p - start;

    return 0;
}


/* -- canonical query string ------------------------------------------- */

size_t
ngx_bedrock_sigv4_canonical_query_size(const unsigned char *query,
    size_t len)
{
    if (len > NGX_BEDROCK_SIGV4_MAX_TEXT) {
        return 0;
    }

    /*
     * At most len + 1 parameters; each encoded "name=value" takes at
     * most three bytes a byte plus an '=', and the joined string one '&'
     * more each; both are kept.
     */
    return NGX_BEDROCK_SIGV4_ALIGN
           + (len + 1) * sizeof(ngx_bedrock_sigv4_param_t)
           + 2 * (3 * len + 2 * (len + 1));
}


static int
ngx_bedrock_sigv4_param_cmp(const void *one, const void *two)
{
    int                               rc;
    size_t                            n, l1, l2;
    const unsigned char              *v1, *v2;
    const ngx_bedrock_sigv4_param_t  *p1, *p2;

    p1 = one;
    p2 = two;

    /* by name, then by value */

    n = p1->name_len < p2->name_len ? p1->name_len : p2->name_len;
    rc = memcmp(p1->data, p2->data, n);

    if (rc != 0) {
        return rc;
    }

    if (p1->name_len != p2->name_len) {
        return p1->name_len < p2->name_len ? -1 : 1;
    }

    v1 = p1->data + p1->name_len + 1;
    v2 = p2->data + p2->name_len + 1;
    l1 = p1->len - p1->name_len - 1;
    l2 = p2->len - p2->name_len - 1;

    n = l1 < l2 ? l1 : l2;
    rc = memcmp(v1, v2, n);

    if (rc != 0) {
        return rc;
    }

    return (l1 == l2) ? 0 : (l1 < l2 ? -1 : 1);
}


int
ngx_bedrock_sigv4_canonical_query(ngx_bedrock_sigv4_buf_t *b,
    const unsigned char *query, size_t len, ngx_bedrock_sigv4_str_t *out)
{
    size_t                      i, k, start, eq, n, max;
    unsigned char              *area, *p, *dst;
    ngx_bedrock_sigv4_param_t  *params;

    if (len > NGX_BEDROCK_SIGV4_MAX_TEXT || (len && query == NULL)) {
        return -1;
    }

    max = 1;

    for (i = 0; i < len; i++) {
        if (query[i] == '&') {
            max++;
        }
    }

    params = ngx_bedrock_sigv4_alloc_aligned(b,
                                  max * sizeof(ngx_bedrock_sigv4_param_t));
    area = ngx_bedrock_sigv4_alloc(b, 3 * len + max);

    if (params == NULL || area == NULL) {
        return -1;
    }

    p = area;
    n = 0;
    i = 0;

    while (i <= len) {
        start = i;

        while (i < len && query[i] != '&') {
            i++;
        }

        if (i > start) {
            eq = start;

            while (eq < i && query[eq] != '=') {
                eq++;
            }

            params[n].data = p;
            p = ngx_bedrock_sigv4_reencode(p, query + start, eq - start);
            params[n].name_len = p - params[n].data;
            *p++ = '=';

            if (eq < i) {
                p = ngx_bedrock_sigv4_reencode(p, query + eq + 1,
                                               i - eq - 1);
            }

            params[n].len = p - params[n].data;
            n++;
        }

        i++;
    }

    if (n > 1) {
        qsort(params, n, sizeof(ngx_bedrock_sigv4_param_t),
              ngx_bedrock_sigv4_param_cmp);
    }

    dst = ngx_bedrock_sigv4_alloc(b, (p - area) + n);
    if (dst == NULL) {
        return -1;
    }

    p = dst;

    for (k = 0; k < n; k++) {
        if (k) {
            *p++ = '&';
        }

        memcpy(p, params[k].data, params[k].len);
        p += params[k].len;
    }

    b->pos = p;

    out->data = dst;
    out->len = p - dst;

    return 0;
}


/* -- canonical headers ------------------------------------------------ */

size_t
ngx_bedrock_sigv4_canonical_headers_size(const ngx_bedrock_sigv4_header_t *h,
    size_t n, const ngx_bedrock_sigv4_str_t *host)
{
    size_t  i, text;

    if (n > NGX_BEDROCK_SIGV4_MAX_TEXT || (n && h == NULL)) {
        return 0;
    }

    text = (host != NULL) ? host->len : 0;

    for (i = 0; i < n; i++) {
        text = ngx_bedrock_sigv4_add(text, h[i].name.len);
        text = ngx_bedrock_sigv4_add(text, h[i].value.len);
    }

    if (text > NGX_BEDROCK_SIGV4_MAX_TEXT) {
        return 0;
    }

    return ngx_bedrock_sigv4_headers_bound(n, text + 4);
}


static int
ngx_bedrock_sigv4_entry_cmp(const void *one, const void *two)
{
    size_t                            i, n;
    unsigned char                     c1, c2;
    const ngx_bedrock_sigv4_str_t    *n1, *n2;
    const ngx_bedrock_sigv4_entry_t  *e1, *e2;

    e1 = one;
    e2 = two;
    n1 = &e1->header->name;
    n2 = &e2->header->name;

    n = n1->len < n2->len ? n1->len : n2->len;

    for (i = 0; i < n; i++) {
        c1 = ngx_bedrock_sigv4_lower(n1->data[i]);
        c2 = ngx_bedrock_sigv4_lower(n2->data[i]);

        if (c1 != c2) {
            return c1 < c2 ? -1 : 1;
        }
    }

    if (n1->len != n2->len) {
        return n1->len < n2->len ? -1 : 1;
    }

    /* qsort() is not stable: repeated names keep their list order */

    return (e1->index == e2->index) ? 0 : (e1->index < e2->index ? -1 : 1);
}


static int
ngx_bedrock_sigv4_name_is(const ngx_bedrock_sigv4_str_t *name,
    const char *lower, size_t len)
{
    size_t  i;

    if (name->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (ngx_bedrock_sigv4_lower(name->data[i]) != (unsigned char) lower[i])
        {
            return 0;
        }
    }

    return 1;
}


static void
ngx_bedrock_sigv4_trim(ngx_bedrock_sigv4_str_t *s)
{
    while (s->len && ngx_bedrock_sigv4_space(s->data[0])) {
        s->data++;
        s->len--;
    }

    while (s->len && ngx_bedrock_sigv4_space(s->data[s->len - 1])) {
        s->len--;
    }
}


/* copies s trimmed, with each inner run of white space made one space */

static unsigned char *
ngx_bedrock_sigv4_trimall(unsigned char *p, const unsigned char *s,
    size_t len)
{
    int     pending, any;
    size_t  i;

    pending = 0;
    any = 0;

    for (i = 0; i < len; i++) {

        if (ngx_bedrock_sigv4_space(s[i])) {
            pending = any;
            continue;
        }

        if (pending) {
            *p++ = ' ';
            pending = 0;
        }

        *p++ = s[i];
        any = 1;
    }

    return p;
}



int
ngx_bedrock_sigv4_canonical_headers(ngx_bedrock_sigv4_buf_t *b,
    const ngx_bedrock_sigv4_header_t *h, size_t n,
    const ngx_bedrock_sigv4_str_t *host, ngx_bedrock_sigv4_str_t *canonical,
    ngx_bedrock_sigv4_str_t *signed_headers)
{
    size_t                           i, j, k, m, size;
    unsigned char                   *start, *p;
    ngx_bedrock_sigv4_header_t      *host_header;
    ngx_bedrock_sigv4_entry_t       *entries;
    const ngx_bedrock_sigv4_str_t   *name;

    if (ngx_bedrock_sigv4_canonical_headers_size(h, n, host) == 0) {
        return -1;
    }

    if (host != NULL && host->len == 0) {
        host = NULL;
    }

    entries = ngx_bedrock_sigv4_alloc_aligned(b,
                              (n + 1) * sizeof(ngx_bedrock_sigv4_entry_t));
    host_header = ngx_bedrock_sigv4_alloc_aligned(b,
                                        sizeof(ngx_bedrock_sigv4_header_t));

    if (entries == NULL || host_header == NULL
        || (host && host->data == NULL))
    {
        return -1;
    }

    m = 0;
    size = 0;

    for (i = 0; i < n; i++) {

        if (h[i].name.len == 0 || h[i].name.data == NULL
            || (h[i].value.len && h[i].value.data == NULL))
        {
            return -1;
        }

        /* a leading ':' is an HTTP/2 pseudo-header: ":authority" */

        for (k = 0; k < h[i].name.len; k++) {
            if (!ngx_bedrock_sigv4_token_char(h[i].name.data[k])
                && !(k == 0 && h[i].name.data[k] == ':'))
            {
                return -1;
            }
        }

        if (host && ngx_bedrock_sigv4_name_is(&h[i].name, "host", 4)) {
            continue;
        }

        entries[m].header = &h[i];
        entries[m].index = i;
        m++;

        /* "name:value\n" or ",value", and "name;" */
        size += 2 * h[i].name.len + h[i].value.len + 3;
    }

    if (host) {
        host_header->name.data = (const unsigned char *) "host";
        host_header->name.len = 4;
        host_header->value = *host;

        entries[m].header = host_header;
        entries[m].index = n;
        m++;

        size += 2 * 4 + host->len + 3;
    }

    if (m > 1) {
        qsort(entries, m, sizeof(ngx_bedrock_sigv4_entry_t),
              ngx_bedrock_sigv4_entry_cmp);
    }

    start = ngx_bedrock_sigv4_alloc(b, size);
    if (start == NULL) {
        return -1;
    }

    /* the canonical block, then the list of names behind it */

    p = start;

    for (i = 0; i < m; i = k) {
        name = &entries[i].header->name;

        for (j = 0; j < name->len; j++) {
            *p++ = ngx_bedrock_sigv4_lower(name->data[j]);
        }

        *p++ = ':';

        for (k = i;
             k < m && ngx_bedrock_sigv4_same_name(name,
                                                  &entries[k].header->name);
             k++)
        {
            if (k > i) {
                *p++ = ',';
            }

            p = ngx_bedrock_sigv4_trimall(p, entries[k].header->value.data,
                                          entries[k].header->value.len);
        }

        *p++ = '\n';
    }

    canonical->data = start;
    canonical->len = p - start;

    signed_headers->data = p;

    for (i = 0; i < m; i = k) {
        name = &entries[i].header->name;

        if (i) {
            *p++ = ';';
        }

        for (j = 0; j < name->len; j++) {
            *p++ = ngx_bedrock_sigv4_lower(name->data[j]);
        }

        for (k = i + 1;
             k < m && ngx_bedrock_sigv4_same_name(name,
                                                  &entries[k].header->name);
             k++)
        {
            /* void */
        }
    }

    signed_headers->len = p - signed_headers->data;

    b->pos = p;

    return 0;
}


static int
ngx_bedrock_sigv4_same_name(const ngx_bedrock_sigv4_str_t *one,
    const ngx_bedrock_sigv4_str_t *two)
{
    size_t  i;

    if (one->len != two->len) {
        return 0;
    }

    for (i = 0; i < one->len; i++) {
        if (ngx_bedrock_sigv4_lower(one->data[i])
            != ngx_bedrock_sigv4_lower(two->data[i]))
        {
            return 0;
        }
    }

    return 1;
}


/* -- payload, canonical request, string to sign ----------------------- */

/*
 * SHA-256, fetched once per process.  EVP_sha256() makes every digest
 * fetch the algorithm again (a lookup under a lock: 0.6 us, more than
 * hashing a canonical request), and the one-shot HMAC() fetches a MAC and
 * allocates three contexts (3 us).  So: fetched once, by whichever thread
 * comes first (CRYPTO_THREAD_run_once), and freed by
 * ngx_bedrock_sigv4_cleanup(), which the module calls when its process
 * exits.  Not by OPENSSL_atexit(): OpenSSL runs its exit handlers after
 * nginx has unloaded the module, and a handler in unmapped code crashes
 * the process.  Each call of this file's functions allocates one digest
 * context, reuses it for all its digests and HMACs, and frees it before
 * it returns.  Where the fetch fails, after the cleanup, or before
 * OpenSSL 3.0, EVP_sha256().
 */

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)

static CRYPTO_ONCE   ngx_bedrock_sigv4_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD       *ngx_bedrock_sigv4_sha256;


static void
ngx_bedrock_sigv4_md_fetch(void)
{
    ngx_bedrock_sigv4_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

#endif


void
ngx_bedrock_sigv4_cleanup(void)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    EVP_MD_free(ngx_bedrock_sigv4_sha256);
    ngx_bedrock_sigv4_sha256 = NULL;
#endif
}


static const EVP_MD *
ngx_bedrock_sigv4_md(void)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)

    if (CRYPTO_THREAD_run_once(&ngx_bedrock_sigv4_once,
                               ngx_bedrock_sigv4_md_fetch)
        && ngx_bedrock_sigv4_sha256 != NULL)
    {
        return ngx_bedrock_sigv4_sha256;
    }

#endif

    return EVP_sha256();
}


/* SHA-256 of one and two, one after the other, in ctx */

static int
ngx_bedrock_sigv4_digest(EVP_MD_CTX *ctx, const void *one, size_t one_len,
    const void *two, size_t two_len, unsigned char *out)
{
    unsigned int  n;

    n = 0;

    if (EVP_DigestInit_ex(ctx, ngx_bedrock_sigv4_md(), NULL) != 1
        || (one_len && EVP_DigestUpdate(ctx, one, one_len) != 1)
        || (two_len && EVP_DigestUpdate(ctx, two, two_len) != 1)
        || EVP_DigestFinal_ex(ctx, out, &n) != 1
        || n != 32)
    {
        return -1;
    }

    return 0;
}


int
ngx_bedrock_sigv4_payload_hash(const unsigned char *p, size_t len,
    char *hex)
{
    int             rc;
    EVP_MD_CTX     *ctx;
    unsigned char   md[32];

    if (len && p == NULL) {
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_digest(ctx, p, len, NULL, 0, md);

    EVP_MD_CTX_free(ctx);

    if (rc != 0) {
        return -1;
    }

    ngx_bedrock_sigv4_hex(hex, md, sizeof(md));

    return 0;
}


size_t
ngx_bedrock_sigv4_canonical_request_size(const ngx_bedrock_sigv4_request_t *r)
{
    size_t  text;

    text = ngx_bedrock_sigv4_text_len(r, 0);

    if (text == SIZE_MAX) {
        return 0;
    }

    return ngx_bedrock_sigv4_request_bound(r, r->nheaders, text);
}


int
ngx_bedrock_sigv4_canonical_request(ngx_bedrock_sigv4_buf_t *b,
    const ngx_bedrock_sigv4_request_t *r, ngx_bedrock_sigv4_str_t *out,
    ngx_bedrock_sigv4_str_t *signed_headers)
{
    char                      hash[NGX_BEDROCK_SIGV4_HEX_LEN + 1];
    size_t                    i, size;
    unsigned char            *p;
    ngx_bedrock_sigv4_str_t   uri, query, headers, payload;

    if (ngx_bedrock_sigv4_text_len(r, 0) == SIZE_MAX
        || (r->method.len && r->method.data == NULL)
        || (r->payload_hash.len && r->payload_hash.data == NULL))
    {
        return -1;
    }

    if (ngx_bedrock_sigv4_canonical_uri(b, r->path.data, r->path.len,
                                        !r->verbatim_path, &uri)
        != 0
        || ngx_bedrock_sigv4_canonical_query(b, r->query.data, r->query.len,
                                             &query)
           != 0
        || ngx_bedrock_sigv4_canonical_headers(b, r->headers, r->nheaders,
                                               &r->host, &headers,
                                               signed_headers)
           != 0)
    {
        return -1;
    }

    if (r->payload_hash.len) {
        payload = r->payload_hash;

    } else {
        if (ngx_bedrock_sigv4_payload_hash(r->body.data, r->body.len, hash)
            != 0)
        {
            return -1;
        }

        payload.data = (const unsigned char *) hash;
        payload.len = NGX_BEDROCK_SIGV4_HEX_LEN;
    }

    size = r->method.len + uri.len + query.len + headers.len
           + signed_headers->len + payload.len + 5;

    p = ngx_bedrock_sigv4_alloc(b, size);
    if (p == NULL) {
        return -1;
    }

    out->data = p;
    out->len = size;

    for (i = 0; i < r->method.len; i++) {
        *p++ = (r->method.data[i] >= 'a' && r->method.data[i] <= 'z')
               ? (unsigned char) (r->method.data[i] & ~0x20)
               : r->method.data[i];
    }

    *p++ = '\n';
    memcpy(p, uri.data, uri.len);
    p += uri.len;
    *p++ = '\n';
    memcpy(p, query.data, query.len);
    p += query.len;
    *p++ = '\n';
    memcpy(p, headers.data, headers.len);
    p += headers.len;
    *p++ = '\n';
    memcpy(p, signed_headers->data, signed_headers->len);
    p += signed_headers->len;
    *p++ = '\n';
    memcpy(p, payload.data, payload.len);

    return 0;
}


size_t
ngx_bedrock_sigv4_string_to_sign_size(size_t region_len, size_t service_len)
{
    if (region_len > NGX_BEDROCK_SIGV4_MAX_TEXT
        || service_len > NGX_BEDROCK_SIGV4_MAX_TEXT)
    {
        return 0;
    }

    return sizeof(NGX_BEDROCK_SIGV4_ALGORITHM "\n") - 1
           + NGX_BEDROCK_SIGV4_DATE_LEN + 1
           + 8 + 1 + region_len + 1 + service_len
           + sizeof("/aws4_request\n") - 1
           + NGX_BEDROCK_SIGV4_HEX_LEN;
}


int
ngx_bedrock_sigv4_string_to_sign(ngx_bedrock_sigv4_buf_t *b,
    const char *amz_date, const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service,
    const ngx_bedrock_sigv4_str_t *canonical_request,
    ngx_bedrock_sigv4_str_t *out)
{
    int          rc;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_sts(ctx, b, amz_date, region, service,
                               canonical_request, out);

    EVP_MD_CTX_free(ctx);

    return rc;
}


static int
ngx_bedrock_sigv4_sts(EVP_MD_CTX *ctx, ngx_bedrock_sigv4_buf_t *b,
    const char *amz_date, const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service,
    const ngx_bedrock_sigv4_str_t *canonical_request,
    ngx_bedrock_sigv4_str_t *out)
{
    char            hex[NGX_BEDROCK_SIGV4_HEX_LEN + 1];
    size_t          size;
    unsigned char   md[32], *p;

    size = ngx_bedrock_sigv4_string_to_sign_size(region->len, service->len);

    if (size == 0
        || (region->len && region->data == NULL)
        || (service->len && service->data == NULL)
        || (canonical_request->len && canonical_request->data == NULL)
        || ngx_bedrock_sigv4_digest(ctx, canonical_request->data,
                                    canonical_request->len, NULL, 0, md)
           != 0)
    {
        return -1;
    }

    p = ngx_bedrock_sigv4_alloc(b, size);
    if (p == NULL) {
        return -1;
    }

    out->data = p;
    out->len = size;

    ngx_bedrock_sigv4_hex(hex, md, sizeof(md));

    memcpy(p, NGX_BEDROCK_SIGV4_ALGORITHM "\n",
           sizeof(NGX_BEDROCK_SIGV4_ALGORITHM "\n") - 1);
    p += sizeof(NGX_BEDROCK_SIGV4_ALGORITHM "\n") - 1;
    memcpy(p, amz_date, NGX_BEDROCK_SIGV4_DATE_LEN);
    p += NGX_BEDROCK_SIGV4_DATE_LEN;
    *p++ = '\n';
    memcpy(p, amz_date, 8);
    p += 8;
    *p++ = '/';
    if (region->len) {
        memcpy(p, region->data, region->len);
        p += region->len;
    }
    *p++ = '/';
    if (service->len) {
        memcpy(p, service->data, service->len);
        p += service->len;
    }
    memcpy(p, "/aws4_request\n", sizeof("/aws4_request\n") - 1);
    p += sizeof("/aws4_request\n") - 1;
    memcpy(p, hex, NGX_BEDROCK_SIGV4_HEX_LEN);

    return 0;
}


/* -- keys and signatures ---------------------------------------------- */

/*
 * HMAC-SHA256 (RFC 2104) over the digest context: the key, padded to the
 * block, XORed with 0x36 and hashed before the data; that digest hashed
 * after the key XORed with 0x5c.
 */

static int
ngx_bedrock_sigv4_hmac(EVP_MD_CTX *ctx, const unsigned char *key,
    size_t key_len, const void *data, size_t len, unsigned char *out)
{
    int            rc;
    size_t         i;
    unsigned char  k[NGX_BEDROCK_SIGV4_SHA256_BLOCK];
    unsigned char  pad[NGX_BEDROCK_SIGV4_SHA256_BLOCK], inner[32];

    if (len && data == NULL) {
        return -1;
    }

    memset(k, 0, sizeof(k));

    if (key_len > sizeof(k)) {
        /* a key longer than the block is replaced by its digest */
        if (ngx_bedrock_sigv4_digest(ctx, key, key_len, NULL, 0, k) != 0) {
            return -1;
        }

    } else if (key_len) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < sizeof(k); i++) {
        pad[i] = k[i] ^ 0x36;
    }

    rc = ngx_bedrock_sigv4_digest(ctx, pad, sizeof(pad), data, len, inner);

    if (rc == 0) {
        for (i = 0; i < sizeof(k); i++) {
            pad[i] = k[i] ^ 0x5c;
        }

        rc = ngx_bedrock_sigv4_digest(ctx, pad, sizeof(pad), inner,
                                      sizeof(inner), out);
    }

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));

    return rc;
}


int
ngx_bedrock_sigv4_signing_key(unsigned char *key,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service)
{
    int          rc;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_derive(ctx, key, secret, date, region, service);

    EVP_MD_CTX_free(ctx);

    return rc;
}


static int
ngx_bedrock_sigv4_derive(EVP_MD_CTX *ctx, unsigned char *key,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service)
{
    int             rc;
    size_t          k_len;
    unsigned char   k[NGX_BEDROCK_SIGV4_SHA256_BLOCK], t[32];

    if ((secret->len && secret->data == NULL)
        || (region->len && region->data == NULL)
        || (service->len && service->data == NULL))
    {
        return -1;
    }

    /*
     * The first key is "AWS4" + secret.  HMAC replaces a key longer
     * than the hash's block by the key's digest; doing it here keeps a
     * secret of any length out of allocated memory.
     */

    if (4 + secret->len <= sizeof(k)) {
        memcpy(k, "AWS4", 4);
        if (secret->len) {
            memcpy(k + 4, secret->data, secret->len);
        }
        k_len = 4 + secret->len;

    } else {
        if (ngx_bedrock_sigv4_digest(ctx, "AWS4", 4, secret->data,
                                     secret->len, k)
            != 0)
        {
            OPENSSL_cleanse(k, sizeof(k));
            return -1;
        }

        k_len = 32;
    }

    rc = ngx_bedrock_sigv4_hmac(ctx, k, k_len, date, 8, t) == 0
         && ngx_bedrock_sigv4_hmac(ctx, t, 32, region->data, region->len, t)
            == 0
         && ngx_bedrock_sigv4_hmac(ctx, t, 32, service->data, service->len,
                                   t)
            == 0
         && ngx_bedrock_sigv4_hmac(ctx, t, 32, "aws4_request", 12, key) == 0;

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(t, sizeof(t));

    return rc ? 0 : -1;
}


static int
ngx_bedrock_sigv4_get_key(EVP_MD_CTX *ctx,
    ngx_bedrock_sigv4_key_cache_t *cache,
    const ngx_bedrock_sigv4_str_t *key_id,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service, unsigned char *key)
{
    if (cache == NULL) {
        return ngx_bedrock_sigv4_derive(ctx, key, secret, date, region,
                                        service);
    }

    return ngx_bedrock_sigv4_cached_key(ctx, cache, key_id, secret, date,
                                        region, service, key);
}


int
ngx_bedrock_sigv4_key_cache_get(ngx_bedrock_sigv4_key_cache_t *cache,
    const ngx_bedrock_sigv4_str_t *key_id,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service, unsigned char *key)
{
    int          rc;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_cached_key(ctx, cache, key_id, secret, date,
                                      region, service, key);

    EVP_MD_CTX_free(ctx);

    return rc;
}


/*
 * The secret is known by where it is and how long: a secret at the
 * address and length the cache saw is not hashed again.  Elsewhere its
 * digest tells the same secret from a rotated one.
 */

static int
ngx_bedrock_sigv4_cached_key(EVP_MD_CTX *ctx,
    ngx_bedrock_sigv4_key_cache_t *cache,
    const ngx_bedrock_sigv4_str_t *key_id,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service, unsigned char *key)
{
    int            same;
    unsigned char  digest[32];

    if ((key_id->len && key_id->data == NULL)
        || (secret->len && secret->data == NULL)
        || (region->len && region->data == NULL)
        || (service->len && service->data == NULL))
    {
        return -1;
    }

    same = cache->valid
           && memcmp(cache->date, date, 8) == 0
           && ngx_bedrock_sigv4_mem_eq(cache->key_id, cache->key_id_len,
                                       key_id)
           && ngx_bedrock_sigv4_mem_eq(cache->region, cache->region_len,
                                       region)
           && ngx_bedrock_sigv4_mem_eq(cache->service, cache->service_len,
                                       service);

    if (same && cache->secret_at == secret->data
        && cache->secret_len == secret->len)
    {
        memcpy(key, cache->key, 32);
        return 0;
    }

    if (ngx_bedrock_sigv4_digest(ctx, secret->data, secret->len, NULL, 0,
                                 digest)
        != 0)
    {
        return -1;
    }

    if (same && CRYPTO_memcmp(cache->secret_digest, digest, 32) == 0) {
        /* the same secret in other memory */
        cache->secret_at = secret->data;
        cache->secret_len = secret->len;
        memcpy(key, cache->key, 32);
        OPENSSL_cleanse(digest, sizeof(digest));
        return 0;
    }

    if (ngx_bedrock_sigv4_derive(ctx, key, secret, date, region, service)
        != 0)
    {
        OPENSSL_cleanse(digest, sizeof(digest));
        return -1;
    }

    cache->derived++;

    if (key_id->len > sizeof(cache->key_id)
        || region->len > sizeof(cache->region)
        || service->len > sizeof(cache->service))
    {
        /* names too long to remember: correct, just not cached */
        cache->valid = 0;
        OPENSSL_cleanse(digest, sizeof(digest));
        return 0;
    }

    memcpy(cache->key, key, 32);
    memcpy(cache->secret_digest, digest, 32);
    memcpy(cache->date, date, 8);

    if (key_id->len) {
        memcpy(cache->key_id, key_id->data, key_id->len);
    }

    if (region->len) {
        memcpy(cache->region, region->data, region->len);
    }

    if (service->len) {
        memcpy(cache->service, service->data, service->len);
    }

    cache->key_id_len = (unsigned char) key_id->len;
    cache->region_len = (unsigned char) region->len;
    cache->service_len = (unsigned char) service->len;
    cache->secret_at = secret->data;
    cache->secret_len = secret->len;
    cache->valid = 1;

    OPENSSL_cleanse(digest, sizeof(digest));

    return 0;
}


void
ngx_bedrock_sigv4_key_cache_clear(ngx_bedrock_sigv4_key_cache_t *cache)
{
    OPENSSL_cleanse(cache, sizeof(ngx_bedrock_sigv4_key_cache_t));
}


static int
ngx_bedrock_sigv4_signature_raw(EVP_MD_CTX *ctx, const unsigned char *key,
    const ngx_bedrock_sigv4_str_t *sts, unsigned char *out)
{
    if (sts->len && sts->data == NULL) {
        return -1;
    }

    return ngx_bedrock_sigv4_hmac(ctx, key, 32, sts->data, sts->len, out);
}


int
ngx_bedrock_sigv4_signature(const unsigned char *key,
    const ngx_bedrock_sigv4_str_t *sts, char *hex)
{
    int             rc;
    EVP_MD_CTX     *ctx;
    unsigned char   md[32];

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_signature_raw(ctx, key, sts, md);

    EVP_MD_CTX_free(ctx);

    if (rc != 0) {
        return -1;
    }

    ngx_bedrock_sigv4_hex(hex, md, sizeof(md));
    OPENSSL_cleanse(md, sizeof(md));

    return 0;
}


size_t
ngx_bedrock_sigv4_authorization_size(size_t key_id_len, size_t region_len,
    size_t service_len, size_t signed_headers_len)
{
    if (key_id_len > NGX_BEDROCK_SIGV4_MAX_TEXT
        || region_len > NGX_BEDROCK_SIGV4_MAX_TEXT
        || service_len > NGX_BEDROCK_SIGV4_MAX_TEXT
        || signed_headers_len > NGX_BEDROCK_SIGV4_MAX_TEXT)
    {
        return 0;
    }

    return sizeof(NGX_BEDROCK_SIGV4_ALGORITHM " Credential=") - 1
           + key_id_len + 1 + 8 + 1 + region_len + 1 + service_len
           + sizeof("/aws4_request, SignedHeaders=") - 1
           + signed_headers_len
           + sizeof(", Signature=") - 1 + NGX_BEDROCK_SIGV4_HEX_LEN;
}


int
ngx_bedrock_sigv4_authorization(ngx_bedrock_sigv4_buf_t *b,
    const ngx_bedrock_sigv4_str_t *key_id, const char *amz_date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service,
    const ngx_bedrock_sigv4_str_t *signed_headers, const char *signature,
    ngx_bedrock_sigv4_str_t *out)
{
    size_t                          size, i;
    unsigned char                  *p;
    const ngx_bedrock_sigv4_str_t  *parts[3];

    size = ngx_bedrock_sigv4_authorization_size(key_id->len, region->len,
                                                service->len,
                                                signed_headers->len);
    if (size == 0) {
        return -1;
    }

    parts[0] = key_id;
    parts[1] = region;
    parts[2] = service;

    for (i = 0; i < 3; i++) {
        if (parts[i]->len && parts[i]->data == NULL) {
            return -1;
        }
    }

    if (signed_headers->len && signed_headers->data == NULL) {
        return -1;
    }

    p = ngx_bedrock_sigv4_alloc(b, size);
    if (p == NULL) {
        return -1;
    }

    out->data = p;
    out->len = size;

    memcpy(p, NGX_BEDROCK_SIGV4_ALGORITHM " Credential=",
           sizeof(NGX_BEDROCK_SIGV4_ALGORITHM " Credential=") - 1);
    p += sizeof(NGX_BEDROCK_SIGV4_ALGORITHM " Credential=") - 1;

    if (key_id->len) {
        memcpy(p, key_id->data, key_id->len);
        p += key_id->len;
    }

    *p++ = '/';
    memcpy(p, amz_date, 8);
    p += 8;

    for (i = 1; i < 3; i++) {
        *p++ = '/';

        if (parts[i]->len) {
            memcpy(p, parts[i]->data, parts[i]->len);
            p += parts[i]->len;
        }
    }

    memcpy(p, "/aws4_request, SignedHeaders=",
           sizeof("/aws4_request, SignedHeaders=") - 1);
    p += sizeof("/aws4_request, SignedHeaders=") - 1;

    if (signed_headers->len) {
        memcpy(p, signed_headers->data, signed_headers->len);
        p += signed_headers->len;
    }

    memcpy(p, ", Signature=", sizeof(", Signature=") - 1);
    p += sizeof(", Signature=") - 1;
    memcpy(p, signature, NGX_BEDROCK_SIGV4_HEX_LEN);

    return 0;
}


/* -- dates ------------------------------------------------------------ */

/* days since 1970-01-01 of a proleptic Gregorian date */

static long long
ngx_bedrock_sigv4_days_from_civil(long long y, unsigned m, unsigned d)
{
    long long  era, yoe, doy;

    /* a year that starts in March puts the leap day last */

    if (m <= 2) {
        y--;
    }

    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;

    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}


int
ngx_bedrock_sigv4_amz_date(time_t t, char *out)
{
    int        i;
    long long  days, secs, z, era, doe, yoe, y, doy, mp, d, m;
    long long  fields[6];

    /* years 1970 to 9999: what "YYYY" holds */

    if (t < 0 || (long long) t >= 253402300800LL) {
        return -1;
    }

    days = (long long) t / 86400;
    secs = (long long) t % 86400;

    z = days + 719468;
    era = z / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;

    if (m <= 2) {
        y++;
    }

    fields[0] = y;
    fields[1] = m;
    fields[2] = d;
    fields[3] = secs / 3600;
    fields[4] = secs / 60 % 60;
    fields[5] = secs % 60;

    out[0] = (char) ('0' + y / 1000);
    out[1] = (char) ('0' + y / 100 % 10);
    out[2] = (char) ('0' + y / 10 % 10);
    out[3] = (char) ('0' + y % 10);

    for (i = 1; i < 6; i++) {
        out[2 * i + 2 + (i >= 3)] = (char) ('0' + fields[i] / 10);
        out[2 * i + 3 + (i >= 3)] = (char) ('0' + fields[i] % 10);
    }

    out[8] = 'T';
    out[15] = 'Z';
    out[16] = '\0';

    return 0;
}


int
ngx_bedrock_sigv4_parse_amz_date(const unsigned char *p, size_t len,
    time_t *t)
{
    int       i;
    unsigned  v[6], mdays;
    static const unsigned char  width[6] = { 4, 2, 2, 2, 2, 2 };
    static const unsigned char  at[6] = { 0, 4, 6, 9, 11, 13 };
    static const unsigned char  days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (len != NGX_BEDROCK_SIGV4_DATE_LEN || p == NULL
        || p[8] != 'T' || p[15] != 'Z')
    {
        return -1;
    }

    for (i = 0; i < 6; i++) {
        unsigned  k;

        v[i] = 0;

        for (k = 0; k < width[i]; k++) {
            unsigned char  c = p[at[i] + k];

            if (c < '0' || c > '9') {
                return -1;
            }

            v[i] = v[i] * 10 + (c - '0');
        }
    }

    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1
        || v[3] > 23 || v[4] > 59 || v[5] > 59)
    {
        return -1;
    }

    mdays = days[v[1] - 1];

    if (v[1] == 2
        && ((v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0))
    {
        mdays = 29;
    }

    if (v[2] > mdays) {
        return -1;
    }

    *t = (time_t) (ngx_bedrock_sigv4_days_from_civil(v[0], v[1], v[2])
                   * 86400 + v[3] * 3600 + v[4] * 60 + v[5]);

    return 0;
}


/* -- signing ---------------------------------------------------------- */

size_t
ngx_bedrock_sigv4_sign_size(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_credentials_t *c)
{
    size_t  text, extra;

    /* x-amz-date and x-amz-security-token, which the signer adds */

    extra = sizeof("x-amz-date") - 1 + NGX_BEDROCK_SIGV4_DATE_LEN
            + sizeof("x-amz-security-token") - 1;
    extra = ngx_bedrock_sigv4_add(extra, c->session_token.len);
    extra = ngx_bedrock_sigv4_add(extra, c->access_key_id.len);

    text = ngx_bedrock_sigv4_text_len(r, extra);

    if (text == SIZE_MAX) {
        return 0;
    }

    return NGX_BEDROCK_SIGV4_ALIGN
           + (r->nheaders + 2) * sizeof(ngx_bedrock_sigv4_header_t)
           + ngx_bedrock_sigv4_request_bound(r, r->nheaders + 2, text)
           + ngx_bedrock_sigv4_string_to_sign_size(r->region.len,
                                                   r->service.len)
           + ngx_bedrock_sigv4_authorization_size(c->access_key_id.len,
                                                  r->region.len,
                                                  r->service.len, text);
}


int
ngx_bedrock_sigv4_sign(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_credentials_t *c,
    ngx_bedrock_sigv4_key_cache_t *cache, unsigned char *buf, size_t size,
    ngx_bedrock_sigv4_result_t *res)
{
    int                          rc, have_date, have_token, have_host;
    size_t                       i, n;
    EVP_MD_CTX                  *ctx;
    unsigned char                key[32], md[32];
    ngx_bedrock_sigv4_buf_t      b;
    ngx_bedrock_sigv4_str_t      value;
    ngx_bedrock_sigv4_request_t  rr;
    ngx_bedrock_sigv4_header_t  *h;

    memset(res, 0, sizeof(ngx_bedrock_sigv4_result_t));

    if (buf == NULL || ngx_bedrock_sigv4_sign_size(r, c) == 0
        || (c->session_token.len && c->session_token.data == NULL)
        || ngx_bedrock_sigv4_amz_date(r->time, res->amz_date) != 0)
    {
        return -1;
    }

    b.pos = buf;
    b.end = buf + size;

    have_date = 0;
    have_token = 0;
    have_host = (r->host.len > 0);

    for (i = 0; i < r->nheaders; i++) {
        value = r->headers[i].value;

        if (value.len && value.data == NULL) {
            return -1;
        }

        ngx_bedrock_sigv4_trim(&value);

        if (ngx_bedrock_sigv4_name_is(&r->headers[i].name, "host", 4)) {
            have_host = 1;

        } else if (ngx_bedrock_sigv4_name_is(&r->headers[i].name,
                                             "x-amz-date", 10))
        {
            /* the date signed must be the date sent, and only one */

            if (have_date || value.len != NGX_BEDROCK_SIGV4_DATE_LEN
                || memcmp(value.data, res->amz_date, value.len) != 0)
            {
                return -1;
            }

            have_date = 1;

        } else if (c->session_token.len
                   && ngx_bedrock_sigv4_name_is(&r->headers[i].name,
                                                "x-amz-security-token", 20))
        {
            if (have_token
                || !ngx_bedrock_sigv4_str_eq(&value, &c->session_token))
            {
                return -1;
            }

            have_token = 1;
        }
    }

    if (!have_host) {
        return -1;
    }

    h = ngx_bedrock_sigv4_alloc_aligned(&b,
                      (r->nheaders + 2) * sizeof(ngx_bedrock_sigv4_header_t));
    if (h == NULL) {
        return -1;
    }

    n = r->nheaders;

    if (n) {
        memcpy(h, r->headers, n * sizeof(ngx_bedrock_sigv4_header_t));
    }

    if (!have_date) {
        h[n].name.data = (const unsigned char *) "x-amz-date";
        h[n].name.len = sizeof("x-amz-date") - 1;
        h[n].value.data = (const unsigned char *) res->amz_date;
        h[n].value.len = NGX_BEDROCK_SIGV4_DATE_LEN;
        n++;
    }

    if (c->session_token.len && !have_token) {
        h[n].name.data = (const unsigned char *) "x-amz-security-token";
        h[n].name.len = sizeof("x-amz-security-token") - 1;
        h[n].value = c->session_token;
        n++;
    }

    rr = *r;
    rr.headers = h;
    rr.nheaders = n;

    if (ngx_bedrock_sigv4_canonical_request(&b, &rr, &res->canonical_request,
                                            &res->signed_headers)
        != 0)
    {
        return -1;
    }

    /* one digest context for the string to sign, the key and the HMAC */

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    rc = ngx_bedrock_sigv4_sts(ctx, &b, res->amz_date, &r->region,
                               &r->service, &res->canonical_request,
                               &res->string_to_sign) == 0
         && ngx_bedrock_sigv4_get_key(ctx, cache, &c->access_key_id,
                                      &c->secret_access_key, res->amz_date,
                                      &r->region, &r->service, key) == 0
         && ngx_bedrock_sigv4_signature_raw(ctx, key, &res->string_to_sign,
                                            md) == 0;

    EVP_MD_CTX_free(ctx);

    if (rc) {
        ngx_bedrock_sigv4_hex(res->signature, md, sizeof(md));
    }

    rc = rc
         && ngx_bedrock_sigv4_authorization(&b, &c->access_key_id,
                                            res->amz_date, &r->region,
                                            &r->service,
                                            &res->signed_headers,
                                            res->signature,
                                            &res->authorization) == 0;

    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(md, sizeof(md));

    return rc ? 0 : -1;
}


static int
ngx_bedrock_sigv4_mem_eq(const unsigned char *p, size_t len,
    const ngx_bedrock_sigv4_str_t *s)
{
    return len == s->len && (len == 0 || memcmp(p, s->data, len) == 0);
}


static int
ngx_bedrock_sigv4_str_eq(const ngx_bedrock_sigv4_str_t *one,
    const ngx_bedrock_sigv4_str_t *two)
{
    return one->len == two->len
           && (one->len == 0 || memcmp(one->data, two->data, one->len) == 0);
}


/* -- verifying -------------------------------------------------------- */

ngx_bedrock_sigv4_verdict_e
ngx_bedrock_sigv4_parse_authorization(const unsigned char *p, size_t len,
    ngx_bedrock_sigv4_auth_t *a, const char **reason)
{
    int                          seen[3];
    size_t                       i, k, start, name_len;
    const char                  *why;
    ngx_bedrock_sigv4_str_t      value;
    ngx_bedrock_sigv4_verdict_e  rc;

    static const char  *names[3] = {
        "Credential", "SignedHeaders", "Signature"
    };

    memset(a, 0, sizeof(ngx_bedrock_sigv4_auth_t));

    if (reason == NULL) {
        reason = &why;
    }

    if (p == NULL) {
        len = 0;
    }

    while (len && ngx_bedrock_sigv4_ows(p[0])) {
        p++;
        len--;
    }

    while (len && ngx_bedrock_sigv4_ows(p[len - 1])) {
        len--;
    }

    if (len == 0) {
        *reason = "no Authorization header";
        return NGX_BEDROCK_SIGV4_MISSING;
    }

    k = sizeof(NGX_BEDROCK_SIGV4_ALGORITHM) - 1;

    if (len == k && memcmp(p, NGX_BEDROCK_SIGV4_ALGORITHM, k) == 0) {
        *reason = "the Authorization has no parameters";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (len <= k || memcmp(p, NGX_BEDROCK_SIGV4_ALGORITHM, k) != 0
        || !ngx_bedrock_sigv4_ows(p[k]))
    {
        *reason = "the Authorization is not AWS4-HMAC-SHA256";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    seen[0] = seen[1] = seen[2] = 0;
    i = k;

    for ( ;; ) {

        while (i < len && ngx_bedrock_sigv4_ows(p[i])) {
            i++;
        }

        start = i;

        while (i < len && p[i] != '=' && p[i] != ','
               && !ngx_bedrock_sigv4_ows(p[i]))
        {
            i++;
        }

        if (i == len || p[i] != '=') {
            *reason = "an Authorization parameter is not name=value";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        name_len = i - start;
        i++;

        value.data = p + i;

        while (i < len && p[i] != ',' && !ngx_bedrock_sigv4_ows(p[i])) {
            i++;
        }

        value.len = (p + i) - value.data;

        for (k = 0; k < 3; k++) {
            if (name_len == strlen(names[k])
                && memcmp(p + start, names[k], name_len) == 0)
            {
                break;
            }
        }

        if (k == 3) {
            *reason = "unknown parameter in the Authorization";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        if (seen[k]) {
            *reason = "repeated parameter in the Authorization";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        seen[k] = 1;

        if (value.len == 0) {
            *reason = "empty parameter in the Authorization";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        if (k == 0) {
            rc = ngx_bedrock_sigv4_parse_credential(&value, a, reason);
            if (rc != NGX_BEDROCK_SIGV4_OK) {
                return rc;
            }

        } else if (k == 1) {
            rc = ngx_bedrock_sigv4_parse_signed_headers(&value, reason);
            if (rc != NGX_BEDROCK_SIGV4_OK) {
                return rc;
            }

            a->signed_headers = value;

        } else {
            if (value.len != 2 * sizeof(a->signature)) {
                *reason = "the Signature is not 64 hex digits";
                return NGX_BEDROCK_SIGV4_MALFORMED;
            }

            for (k = 0; k < sizeof(a->signature); k++) {
                int  hi = ngx_bedrock_sigv4_hex_value(value.data[2 * k]);
                int  lo = ngx_bedrock_sigv4_hex_value(value.data[2 * k + 1]);

                if (hi < 0 || lo < 0) {
                    *reason = "the Signature is not 64 hex digits";
                    return NGX_BEDROCK_SIGV4_MALFORMED;
                }

                a->signature[k] = (unsigned char) (hi << 4 | lo);
            }
        }

        while (i < len && ngx_bedrock_sigv4_ows(p[i])) {
            i++;
        }

        if (i == len) {
            break;
        }

        if (p[i] != ',') {
            *reason = "Authorization parameters are not separated by ','";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        i++;
    }

    if (!seen[0]) {
        *reason = "the Authorization has no Credential";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (!seen[1]) {
        *reason = "the Authorization has no SignedHeaders";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (!seen[2]) {
        *reason = "the Authorization has no Signature";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    *reason = "well-formed";

    return NGX_BEDROCK_SIGV4_OK;
}


/* "AKID/YYYYMMDD/region/service/aws4_request" */

static ngx_bedrock_sigv4_verdict_e
ngx_bedrock_sigv4_parse_credential(const ngx_bedrock_sigv4_str_t *v,
    ngx_bedrock_sigv4_auth_t *a, const char **reason)
{
    size_t                    i, k, start;
    ngx_bedrock_sigv4_str_t   part[5];

    k = 0;
    start = 0;

    for (i = 0; i <= v->len; i++) {

        if (i < v->len && v->data[i] != '/') {

            if (v->data[i] < 0x21 || v->data[i] > 0x7e) {
                *reason = "the Credential has a character not allowed";
                return NGX_BEDROCK_SIGV4_MALFORMED;
            }

            continue;
        }

        if (k == 5) {
            *reason = "the Credential is not "
                      "key/date/region/service/aws4_request";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        part[k].data = v->data + start;
        part[k].len = i - start;
        k++;
        start = i + 1;
    }

    if (k != 5 || part[0].len == 0 || part[2].len == 0 || part[3].len == 0)
    {
        *reason = "the Credential is not "
                  "key/date/region/service/aws4_request";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (part[1].len != 8) {
        *reason = "the Credential date is not YYYYMMDD";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    for (i = 0; i < 8; i++) {
        if (part[1].data[i] < '0' || part[1].data[i] > '9') {
            *reason = "the Credential date is not YYYYMMDD";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }
    }

    if (part[4].len != sizeof("aws4_request") - 1
        || memcmp(part[4].data, "aws4_request", part[4].len) != 0)
    {
        *reason = "the Credential does not end in aws4_request";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    a->access_key_id = part[0];
    a->date = part[1];
    a->region = part[2];
    a->service = part[3];

    return NGX_BEDROCK_SIGV4_OK;
}


/* lowercase tokens, sorted, unique, host (or :authority) among them */

static ngx_bedrock_sigv4_verdict_e
ngx_bedrock_sigv4_parse_signed_headers(const ngx_bedrock_sigv4_str_t *v,
    const char **reason)
{
    int                       rc, host;
    size_t                    i, start, n;
    unsigned char             c;
    ngx_bedrock_sigv4_str_t   prev, cur;

    host = 0;
    prev.data = NULL;
    prev.len = 0;
    start = 0;

    for (i = 0; i <= v->len; i++) {

        if (i < v->len && v->data[i] != ';') {
            c = v->data[i];

            if (c == ':' && i == start) {
                continue;
            }

            if (!ngx_bedrock_sigv4_token_char(c) || (c >= 'A' && c <= 'Z'))
            {
                *reason = "SignedHeaders has a name that is not "
                          "a lowercase token";
                return NGX_BEDROCK_SIGV4_MALFORMED;
            }

            continue;
        }

        cur.data = v->data + start;
        cur.len = i - start;
        start = i + 1;

        if (cur.len == 0) {
            *reason = "SignedHeaders has an empty name";
            return NGX_BEDROCK_SIGV4_MALFORMED;
        }

        if (prev.data) {
            n = prev.len < cur.len ? prev.len : cur.len;
            rc = memcmp(prev.data, cur.data, n);

            if (rc > 0 || (rc == 0 && prev.len >= cur.len)) {
                *reason = "SignedHeaders is not sorted and unique";
                return NGX_BEDROCK_SIGV4_MALFORMED;
            }
        }

        if ((cur.len == 4 && memcmp(cur.data, "host", 4) == 0)
            || (cur.len == 10 && memcmp(cur.data, ":authority", 10) == 0))
        {
            host = 1;
        }

        prev = cur;
    }

    if (!host) {
        *reason = "SignedHeaders does not include host";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    return NGX_BEDROCK_SIGV4_OK;
}


/* is name (any case) in the lowercase list "a;b;c"? */

static int
ngx_bedrock_sigv4_list_has(const ngx_bedrock_sigv4_str_t *list,
    const ngx_bedrock_sigv4_str_t *name)
{
    size_t                   i, start;
    ngx_bedrock_sigv4_str_t  item;

    start = 0;

    for (i = 0; i <= list->len; i++) {

        if (i < list->len && list->data[i] != ';') {
            continue;
        }

        item.data = list->data + start;
        item.len = i - start;
        start = i + 1;

        if (ngx_bedrock_sigv4_same_name(&item, name)) {
            return 1;
        }
    }

    return 0;
}


size_t
ngx_bedrock_sigv4_verify_size(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_auth_t *a)
{
    size_t  text, sts;

    text = ngx_bedrock_sigv4_text_len(r, 0);
    sts = ngx_bedrock_sigv4_string_to_sign_size(a->region.len,
                                                a->service.len);

    if (text == SIZE_MAX || sts == 0) {
        return 0;
    }

    /* text + 16: the host may be signed as ":authority", a longer name */

    return NGX_BEDROCK_SIGV4_ALIGN
           + (r->nheaders + 1) * sizeof(ngx_bedrock_sigv4_header_t)
           + ngx_bedrock_sigv4_request_bound(r, r->nheaders, text + 16)
           + sts;
}


ngx_bedrock_sigv4_verdict_e
ngx_bedrock_sigv4_verify(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_auth_t *a, const ngx_bedrock_sigv4_str_t *secret,
    time_t max_skew, ngx_bedrock_sigv4_key_cache_t *cache,
    unsigned char *buf, size_t size, const char **reason)
{
    int                          rc;
    time_t                       t;
    size_t                       i, n, dates;
    long long                    skew;
    const char                  *why;
    EVP_MD_CTX                  *ctx;
    unsigned char                key[32], md[32];
    ngx_bedrock_sigv4_buf_t      b;
    ngx_bedrock_sigv4_str_t      date, cr, sh, sts;
    ngx_bedrock_sigv4_request_t  rr;
    ngx_bedrock_sigv4_header_t  *h;

    static const ngx_bedrock_sigv4_str_t  x_amz_date =
        ngx_bedrock_sigv4_literal("x-amz-date");
    static const ngx_bedrock_sigv4_str_t  host =
        ngx_bedrock_sigv4_literal("host");
    static const ngx_bedrock_sigv4_str_t  authority =
        ngx_bedrock_sigv4_literal(":authority");

    if (reason == NULL) {
        reason = &why;
    }

    *reason = "internal error";

    if (buf == NULL || ngx_bedrock_sigv4_verify_size(r, a) == 0
        || a->date.len != 8 || a->date.data == NULL
        || a->signed_headers.data == NULL || a->signed_headers.len == 0
        || (a->access_key_id.len && a->access_key_id.data == NULL)
        || (a->region.len && a->region.data == NULL)
        || (a->service.len && a->service.data == NULL)
        || (secret->len && secret->data == NULL))
    {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    /* the date: present once, well-formed, signed */

    dates = 0;
    date.data = NULL;
    date.len = 0;

    for (i = 0; i < r->nheaders; i++) {
        if (ngx_bedrock_sigv4_name_is(&r->headers[i].name, "x-amz-date", 10))
        {
            date = r->headers[i].value;
            dates++;
        }
    }

    if (dates == 0) {
        *reason = "X-Amz-Date is missing";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (dates > 1) {
        *reason = "X-Amz-Date is repeated";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (date.len && date.data == NULL) {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    ngx_bedrock_sigv4_trim(&date);

    if (ngx_bedrock_sigv4_parse_amz_date(date.data, date.len, &t) != 0) {
        *reason = "X-Amz-Date is not YYYYMMDDTHHMMSSZ";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    if (!ngx_bedrock_sigv4_list_has(&a->signed_headers, &x_amz_date)) {
        *reason = "X-Amz-Date is not among SignedHeaders";
        return NGX_BEDROCK_SIGV4_MALFORMED;
    }

    /* the scope */

    if (memcmp(a->date.data, date.data, 8) != 0) {
        *reason = "the Credential date is not the date of X-Amz-Date";
        return NGX_BEDROCK_SIGV4_WRONG_SCOPE;
    }

    if (!ngx_bedrock_sigv4_str_eq(&a->service, &r->service)) {
        *reason = "the Credential names another service";
        return NGX_BEDROCK_SIGV4_WRONG_SCOPE;
    }

    if (r->region.len && !ngx_bedrock_sigv4_str_eq(&a->region, &r->region)) {
        *reason = "the Credential names another region";
        return NGX_BEDROCK_SIGV4_WRONG_SCOPE;
    }

    /* the time */

    skew = (long long) t - (long long) r->time;

    if (skew < -(long long) max_skew) {
        *reason = "X-Amz-Date is too far in the past: signature expired";
        return NGX_BEDROCK_SIGV4_EXPIRED;
    }

    if (skew > (long long) max_skew) {
        *reason = "X-Amz-Date is too far in the future: "
                  "signature not yet current";
        return NGX_BEDROCK_SIGV4_NOT_YET_VALID;
    }

    /* the signature, over the headers the client signed */

    b.pos = buf;
    b.end = buf + size;

    h = ngx_bedrock_sigv4_alloc_aligned(&b,
                      (r->nheaders + 1) * sizeof(ngx_bedrock_sigv4_header_t));
    if (h == NULL) {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    n = 0;

    for (i = 0; i < r->nheaders; i++) {
        if (ngx_bedrock_sigv4_list_has(&a->signed_headers,
                                       &r->headers[i].name))
        {
            h[n++] = r->headers[i];
        }
    }

    /*
     * Over HTTP/2 the AWS SDK for JavaScript v3 signs the host under its
     * pseudo-header name, as AWS accepts: "host" is the value it had.
     */

    if (r->host.len && ngx_bedrock_sigv4_list_has(&a->signed_headers,
                                                  &authority))
    {
        h[n].name = authority;
        h[n].value = r->host;
        n++;
    }

    rr = *r;
    rr.headers = h;
    rr.nheaders = n;

    if (r->host.len && !ngx_bedrock_sigv4_list_has(&a->signed_headers,
                                                   &host))
    {
        rr.host.len = 0;
    }

    if (ngx_bedrock_sigv4_canonical_request(&b, &rr, &cr, &sh) != 0) {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    if (!ngx_bedrock_sigv4_str_eq(&sh, &a->signed_headers)) {
        *reason = "a header named in SignedHeaders is not in the request";
        return NGX_BEDROCK_SIGV4_MISMATCH;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    rc = ngx_bedrock_sigv4_sts(ctx, &b, (const char *) date.data,
                               &a->region, &a->service, &cr, &sts) == 0
         && ngx_bedrock_sigv4_get_key(ctx, cache, &a->access_key_id, secret,
                                      (const char *) date.data, &a->region,
                                      &a->service, key) == 0
         && ngx_bedrock_sigv4_signature_raw(ctx, key, &sts, md) == 0;

    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof(key));

    if (!rc) {
        return NGX_BEDROCK_SIGV4_ERROR;
    }

    if (CRYPTO_memcmp(md, a->signature, sizeof(md)) != 0) {
        *reason = "the signature does not match";
        return NGX_BEDROCK_SIGV4_MISMATCH;
    }

    *reason = "the signature matches";

    return NGX_BEDROCK_SIGV4_OK;
}


const char *
ngx_bedrock_sigv4_verdict_name(ngx_bedrock_sigv4_verdict_e v)
{
    switch (v) {
    case NGX_BEDROCK_SIGV4_OK:
        return "ok";
    case NGX_BEDROCK_SIGV4_MISSING:
        return "missing";
    case NGX_BEDROCK_SIGV4_MALFORMED:
        return "malformed";
    case NGX_BEDROCK_SIGV4_UNKNOWN_KEY:
        return "unknown key";
    case NGX_BEDROCK_SIGV4_MISMATCH:
        return "signature mismatch";
    case NGX_BEDROCK_SIGV4_EXPIRED:
        return "expired";
    case NGX_BEDROCK_SIGV4_NOT_YET_VALID:
        return "not yet valid";
    case NGX_BEDROCK_SIGV4_WRONG_SCOPE:
        return "wrong scope";
    default:
        return "error";
    }
}


const char *
ngx_bedrock_sigv4_verdict_error_type(ngx_bedrock_sigv4_verdict_e v)
{
    switch (v) {
    case NGX_BEDROCK_SIGV4_OK:
        return NULL;
    case NGX_BEDROCK_SIGV4_MISSING:
        return "MissingAuthenticationTokenException";
    case NGX_BEDROCK_SIGV4_MALFORMED:
        return "IncompleteSignatureException";
    case NGX_BEDROCK_SIGV4_UNKNOWN_KEY:
        return "UnrecognizedClientException";
    case NGX_BEDROCK_SIGV4_MISMATCH:
    case NGX_BEDROCK_SIGV4_EXPIRED:
    case NGX_BEDROCK_SIGV4_NOT_YET_VALID:
    case NGX_BEDROCK_SIGV4_WRONG_SCOPE:
        return "InvalidSignatureException";
    default:
        return "InternalServerException";
    }
}
