/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * AWS Signature Version 4 (AWS4-HMAC-SHA256, Authorization header form):
 * signing the requests the gateway sends to Bedrock, and verifying the
 * requests AWS SDKs send to the gateway.  Pure C on OpenSSL's libcrypto,
 * no nginx types.
 *
 * Memory.  Nothing here allocates except OpenSSL's own short-lived
 * contexts (one digest context per call), freed before each function
 * returns.  Text is built in memory
 * the caller provides: every building function has a *_size() companion
 * that returns how many bytes it needs (an upper bound; 0 when the input
 * is too large to sign), the caller allocates that much (for instance
 * from the request's pool) and passes it in.  Results are slices of that
 * memory and live as long as it does.  A building function never writes
 * past the memory it is given: when it does not fit, it returns -1.
 *
 * State.  There is none besides what the caller owns (the signing-key
 * cache is the caller's structure), and OpenSSL's SHA-256, fetched once
 * per process by the first call from any thread and freed by
 * OPENSSL_cleanup(), which OpenSSL runs at exit.  Every function is safe
 * to call from any thread on distinct data, and never crashes on any
 * input.
 *
 * Secrets.  The secret key is used only to derive the signing key and
 * is not copied anywhere.  The canonical request contains the value of
 * every signed header, the session token included: never log it.
 *
 * Per attempt, the module calls ngx_bedrock_sigv4_sign() with the
 * request as it will be sent and the current time, and adds the
 * X-Amz-Date and Authorization values it returns (and X-Amz-Security-Token
 * when the credentials carry one) to the headers it sends.
 */


#ifndef _NGX_BEDROCK_SIGV4_H_INCLUDED_
#define _NGX_BEDROCK_SIGV4_H_INCLUDED_


#include <stddef.h>
#include <time.h>


/* "20150830T123600Z" */
#define NGX_BEDROCK_SIGV4_DATE_LEN     16
/* hex of a SHA-256 digest or of a signature */
#define NGX_BEDROCK_SIGV4_HEX_LEN      64
/* the clock skew AWS tolerates: 5 minutes either way */
#define NGX_BEDROCK_SIGV4_MAX_SKEW     300

#define NGX_BEDROCK_SIGV4_ALGORITHM    "AWS4-HMAC-SHA256"
#define NGX_BEDROCK_SIGV4_SERVICE      "bedrock"

/* what the key cache remembers; longer names are signed, but not cached */
#define NGX_BEDROCK_SIGV4_CACHE_ID     128
#define NGX_BEDROCK_SIGV4_CACHE_NAME   64


typedef struct {
    const unsigned char               *data;
    size_t                             len;
} ngx_bedrock_sigv4_str_t;


typedef struct {
    ngx_bedrock_sigv4_str_t            name;
    ngx_bedrock_sigv4_str_t            value;
} ngx_bedrock_sigv4_header_t;


typedef struct {
    ngx_bedrock_sigv4_str_t            access_key_id;
    ngx_bedrock_sigv4_str_t            secret_access_key;
    /* len 0: long-term credentials, no X-Amz-Security-Token */
    ngx_bedrock_sigv4_str_t            session_token;
} ngx_bedrock_sigv4_credentials_t;


/*
 * A request to sign or to verify.
 *
 * path and query are the exact bytes on the request line (the query
 * without its '?'): the signer encodes them itself, so a wire path with
 * "%3A" signs as "%253A", as AWS wants for every service but S3.
 *
 * headers are the headers to sign (for signing) or all headers received
 * (for verifying; the client's SignedHeaders pick among them).  Names
 * are matched without regard to case; repeated names are joined in list
 * order.  host, when set, is the value of the "host" header and any
 * "host" in the list is ignored.  For verifying, a client over HTTP/2
 * may have signed that value as ":authority" (the AWS SDK for
 * JavaScript v3 does): a ":authority" in SignedHeaders is host.
 *
 * payload_hash, when set, is used as is instead of hashing body: hash
 * a body once with ngx_bedrock_sigv4_payload_hash() and pass the hex on
 * every attempt that sends the same bytes.
 *
 * region and service name the credential scope (service "bedrock" for
 * Bedrock Runtime); for verifying they are the expected scope, and an
 * empty region accepts any region.  time is the signing time (for
 * verifying: now).  verbatim_path turns off the path normalization
 * (removal of "." and ".." segments and of empty segments) that AWS does
 * for every service but S3.
 */
typedef struct {
    ngx_bedrock_sigv4_str_t            method;
    ngx_bedrock_sigv4_str_t            path;
    ngx_bedrock_sigv4_str_t            query;
    const ngx_bedrock_sigv4_header_t  *headers;
    size_t                             nheaders;
    ngx_bedrock_sigv4_str_t            host;
    ngx_bedrock_sigv4_str_t            body;
    ngx_bedrock_sigv4_str_t            payload_hash;
    ngx_bedrock_sigv4_str_t            region;
    ngx_bedrock_sigv4_str_t            service;
    time_t                             time;
    unsigned                           verbatim_path:1;
} ngx_bedrock_sigv4_request_t;


typedef struct {
    /* "YYYYMMDDTHHMMSSZ", NUL-terminated: send it as X-Amz-Date */
    char                     amz_date[NGX_BEDROCK_SIGV4_DATE_LEN + 1];
    /* lowercase hex, NUL-terminated */
    char                     signature[NGX_BEDROCK_SIGV4_HEX_LEN + 1];
    /* in the caller's buffer: send as Authorization */
    ngx_bedrock_sigv4_str_t  authorization;
    /* in the caller's buffer, for tests and debugging; never log them */
    ngx_bedrock_sigv4_str_t  canonical_request;
    ngx_bedrock_sigv4_str_t  string_to_sign;
    ngx_bedrock_sigv4_str_t  signed_headers;
} ngx_bedrock_sigv4_result_t;


/*
 * The signing key cache, owned by the caller (one per worker and
 * credential; it is not locked).  Deriving the signing key takes four
 * HMACs over the secret; the key only changes with the day, the region,
 * the service, the key id or the secret, so it is derived once per change
 * and reused by every request until then.  Zeroed memory is an empty
 * cache.  The secret is not stored: the cache notes where it is and how
 * long, and hashes it only when it is somewhere else, where a SHA-256
 * digest of it tells a rotated secret under the same key id.  So a
 * secret that is rewritten in place, same address and length, must be
 * followed by ngx_bedrock_sigv4_key_cache_clear().  derived counts
 * derivations.
 */
typedef struct {
    unsigned char                      key[32];
    unsigned char                      secret_digest[32];
    char                               date[8];
    unsigned char                      key_id[NGX_BEDROCK_SIGV4_CACHE_ID];
    unsigned char                      region[NGX_BEDROCK_SIGV4_CACHE_NAME];
    unsigned char                      service[NGX_BEDROCK_SIGV4_CACHE_NAME];
    const unsigned char               *secret_at;
    size_t                             secret_len;
    unsigned char                      key_id_len;
    unsigned char                      region_len;
    unsigned char                      service_len;
    unsigned                           valid:1;
    unsigned long                      derived;
} ngx_bedrock_sigv4_key_cache_t;


/* Scratch memory for the stage functions: a bump allocator. */
typedef struct {
    unsigned char                     *pos;
    unsigned char                     *end;
} ngx_bedrock_sigv4_buf_t;


/* -- signing, one call per attempt ------------------------------------ */

/*
 * The bytes ngx_bedrock_sigv4_sign() needs for r signed with c, or 0
 * when the request is too large to sign (more than 256 MB of path, query
 * and headers).
 */
size_t ngx_bedrock_sigv4_sign_size(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_credentials_t *c);

/*
 * Signs r with c at r->time.  The signed headers are r's headers plus
 * x-amz-date and, with a session token, x-amz-security-token; when the
 * list already has them their values must be the ones the signer uses.
 * A host header (or r->host) is required.  cache may be NULL (the key is
 * then derived every time).  Returns 0 and fills res, or -1: a header
 * name that is not an HTTP token, a missing host, a conflicting
 * x-amz-date or x-amz-security-token, too small a buffer, a time outside
 * years 1970-9999, or an OpenSSL failure.
 */
int ngx_bedrock_sigv4_sign(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_credentials_t *c,
    ngx_bedrock_sigv4_key_cache_t *cache, unsigned char *buf, size_t size,
    ngx_bedrock_sigv4_result_t *res);

/* Formats t as X-Amz-Date; out gets 16 bytes and a NUL.  0 or -1. */
int ngx_bedrock_sigv4_amz_date(time_t t, char *out);

/* Parses a 16-byte X-Amz-Date value into *t.  0 or -1. */
int ngx_bedrock_sigv4_parse_amz_date(const unsigned char *p, size_t len,
    time_t *t);

/* Lowercase hex SHA-256 of a body into hex (64 bytes and a NUL).  0/-1. */
int ngx_bedrock_sigv4_payload_hash(const unsigned char *p, size_t len,
    char *hex);

/*
 * Frees the SHA-256 the signer fetched once for the process; later calls
 * take OpenSSL's built-in one.  For the end of a process, before the code
 * of this file may be unloaded (nginx unloads its dynamic modules before
 * it exits).
 */
void ngx_bedrock_sigv4_cleanup(void);


/* -- the stages, one function each ------------------------------------ */

/*
 * Canonical URI: each byte of the raw path other than an unreserved
 * character (A-Z a-z 0-9 - . _ ~) or '/' becomes %XX, so an already
 * encoded path is encoded a second time; with normalize, empty, "." and
 * ".." segments are resolved first (a trailing '/' is kept).  An empty
 * path is "/".
 */
size_t ngx_bedrock_sigv4_canonical_uri_size(size_t len);
int ngx_bedrock_sigv4_canonical_uri(ngx_bedrock_sigv4_buf_t *b,
    const unsigned char *path, size_t len, int normalize,
    ngx_bedrock_sigv4_str_t *out);

/*
 * Canonical query string: parameters split on '&' (empty ones dropped)
 * and on the first '=', percent-escapes decoded and everything encoded
 * again as above, sorted by name then value, joined with '&'.
 */
size_t ngx_bedrock_sigv4_canonical_query_size(const unsigned char *query,
    size_t len);
int ngx_bedrock_sigv4_canonical_query(ngx_bedrock_sigv4_buf_t *b,
    const unsigned char *query, size_t len, ngx_bedrock_sigv4_str_t *out);

/*
 * Canonical headers ("name:value\n" each) and the signed headers list
 * ("a;b;c"): names lowercased and sorted, values trimmed with inner runs
 * of white space (SP, HT, CR, LF, VT, FF) made one space, repeated names
 * joined with ',' in list order.  host as in ngx_bedrock_sigv4_request_t
 * (NULL or empty: none).  -1 on a name that is not an HTTP token.
 */
size_t ngx_bedrock_sigv4_canonical_headers_size(
    const ngx_bedrock_sigv4_header_t *h, size_t n,
    const ngx_bedrock_sigv4_str_t *host);
int ngx_bedrock_sigv4_canonical_headers(ngx_bedrock_sigv4_buf_t *b,
    const ngx_bedrock_sigv4_header_t *h, size_t n,
    const ngx_bedrock_sigv4_str_t *host, ngx_bedrock_sigv4_str_t *canonical,
    ngx_bedrock_sigv4_str_t *signed_headers);

/*
 * Canonical request: method (uppercased), URI, query, headers, signed
 * headers and payload hash, over r's headers exactly as given.
 */
size_t ngx_bedrock_sigv4_canonical_request_size(
    const ngx_bedrock_sigv4_request_t *r);
int ngx_bedrock_sigv4_canonical_request(ngx_bedrock_sigv4_buf_t *b,
    const ngx_bedrock_sigv4_request_t *r, ngx_bedrock_sigv4_str_t *out,
    ngx_bedrock_sigv4_str_t *signed_headers);

/*
 * String to sign: the algorithm, the 16-byte amz_date, the scope
 * "date/region/service/aws4_request" and the hex SHA-256 of the
 * canonical request, one per line.
 */
size_t ngx_bedrock_sigv4_string_to_sign_size(size_t region_len,
    size_t service_len);
int ngx_bedrock_sigv4_string_to_sign(ngx_bedrock_sigv4_buf_t *b,
    const char *amz_date, const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service,
    const ngx_bedrock_sigv4_str_t *canonical_request,
    ngx_bedrock_sigv4_str_t *out);

/*
 * Signing key: HMAC-SHA256 chain over "AWS4" + secret, date (8 bytes),
 * region, service, "aws4_request".  0 or -1.
 */
int ngx_bedrock_sigv4_signing_key(unsigned char *key,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service);

/*
 * The signing key from the cache, derived (and cached) when the cache
 * holds none for this key id, secret, date, region and service.  0/-1.
 */
int ngx_bedrock_sigv4_key_cache_get(ngx_bedrock_sigv4_key_cache_t *cache,
    const ngx_bedrock_sigv4_str_t *key_id,
    const ngx_bedrock_sigv4_str_t *secret, const char *date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service, unsigned char *key);

/* Wipes the cache (on reload, on free). */
void ngx_bedrock_sigv4_key_cache_clear(ngx_bedrock_sigv4_key_cache_t *cache);

/* Signature: lowercase hex HMAC-SHA256 of sts under key, and a NUL. */
int ngx_bedrock_sigv4_signature(const unsigned char *key,
    const ngx_bedrock_sigv4_str_t *sts, char *hex);

/*
 * Authorization value: "AWS4-HMAC-SHA256 Credential=id/date/region/
 * service/aws4_request, SignedHeaders=..., Signature=...".
 */
size_t ngx_bedrock_sigv4_authorization_size(size_t key_id_len,
    size_t region_len, size_t service_len, size_t signed_headers_len);
int ngx_bedrock_sigv4_authorization(ngx_bedrock_sigv4_buf_t *b,
    const ngx_bedrock_sigv4_str_t *key_id, const char *amz_date,
    const ngx_bedrock_sigv4_str_t *region,
    const ngx_bedrock_sigv4_str_t *service,
    const ngx_bedrock_sigv4_str_t *signed_headers, const char *signature,
    ngx_bedrock_sigv4_str_t *out);


/* -- verifying what clients send -------------------------------------- */

typedef enum {
    NGX_BEDROCK_SIGV4_OK = 0,
    /* no Authorization at all */
    NGX_BEDROCK_SIGV4_MISSING,
    /* not a well-formed AWS4-HMAC-SHA256 Authorization, or no X-Amz-Date */
    NGX_BEDROCK_SIGV4_MALFORMED,
    /* the key id is not known (decided by the caller, never returned) */
    NGX_BEDROCK_SIGV4_UNKNOWN_KEY,
    /* the signature is not the one the secret gives for this request */
    NGX_BEDROCK_SIGV4_MISMATCH,
    /* X-Amz-Date more than the allowed skew in the past */
    NGX_BEDROCK_SIGV4_EXPIRED,
    /* X-Amz-Date more than the allowed skew in the future */
    NGX_BEDROCK_SIGV4_NOT_YET_VALID,
    /* the credential scope names another date, region or service */
    NGX_BEDROCK_SIGV4_WRONG_SCOPE,
    /* out of memory in the caller's buffer, or an OpenSSL failure */
    NGX_BEDROCK_SIGV4_ERROR
} ngx_bedrock_sigv4_verdict_e;


/* A parsed Authorization header; slices point into the header value. */
typedef struct {
    ngx_bedrock_sigv4_str_t            access_key_id;
    ngx_bedrock_sigv4_str_t            date;
    ngx_bedrock_sigv4_str_t            region;
    ngx_bedrock_sigv4_str_t            service;
    ngx_bedrock_sigv4_str_t            signed_headers;
    unsigned char                      signature[32];
} ngx_bedrock_sigv4_auth_t;


/*
 * Parses an Authorization value as AWS SDKs write it:
 * "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/
 * aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>", the
 * three parameters in any order, separated by ',' and optional white
 * space.  SignedHeaders must be lowercase HTTP tokens, sorted, unique,
 * and include host.  Returns NGX_BEDROCK_SIGV4_OK, _MISSING (empty) or
 * _MALFORMED, with a reason (a static string) when reason is not NULL.
 */
ngx_bedrock_sigv4_verdict_e ngx_bedrock_sigv4_parse_authorization(
    const unsigned char *p, size_t len, ngx_bedrock_sigv4_auth_t *a,
    const char **reason);

/* The bytes ngx_bedrock_sigv4_verify() needs; 0: too large. */
size_t ngx_bedrock_sigv4_verify_size(const ngx_bedrock_sigv4_request_t *r,
    const ngx_bedrock_sigv4_auth_t *a);

/*
 * Verifies the request r (as received, r->time = now) against its parsed
 * Authorization a, given the secret of a->access_key_id (the caller looks
 * it up; an unknown key id is the caller's NGX_BEDROCK_SIGV4_UNKNOWN_KEY).
 * In this order: X-Amz-Date must be present once, well-formed and signed
 * (else _MALFORMED); the scope must name its date, r->service and
 * r->region when set (else _WRONG_SCOPE); X-Amz-Date must be within
 * max_skew seconds of r->time (else _EXPIRED or _NOT_YET_VALID); then
 * the signature, recomputed over the headers the client signed and the
 * body received, must match, compared in constant time (else _MISMATCH,
 * also when a signed header is absent).  The payload hash is always the
 * received body's (or r->payload_hash, computed by the caller from it):
 * a client's X-Amz-Content-Sha256 is signed as a header, never trusted,
 * so UNSIGNED-PAYLOAD does not verify.  cache may be NULL.
 */
ngx_bedrock_sigv4_verdict_e ngx_bedrock_sigv4_verify(
    const ngx_bedrock_sigv4_request_t *r, const ngx_bedrock_sigv4_auth_t *a,
    const ngx_bedrock_sigv4_str_t *secret, time_t max_skew,
    ngx_bedrock_sigv4_key_cache_t *cache, unsigned char *buf, size_t size,
    const char **reason);

/* "signature mismatch", ... for logs */
const char *ngx_bedrock_sigv4_verdict_name(ngx_bedrock_sigv4_verdict_e v);

/*
 * The x-amzn-ErrorType AWS answers with, all with status 403 except
 * NGX_BEDROCK_SIGV4_ERROR (500, "InternalServerException"):
 * MissingAuthenticationTokenException, IncompleteSignatureException,
 * UnrecognizedClientException, InvalidSignatureException.
 */
const char *ngx_bedrock_sigv4_verdict_error_type(
    ngx_bedrock_sigv4_verdict_e v);


#endif /* _NGX_BEDROCK_SIGV4_H_INCLUDED_ */
