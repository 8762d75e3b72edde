/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * An independent judge of what the compressor writes, on cJSON alone
 * (it shares no code with the view or the compressor):
 *
 *   check_request()     is a Claude Messages or Converse body a request
 *                       Bedrock takes: messages alternate and start with
 *                       the user's, every tool call is answered in the
 *                       next message and every answer has its call, no
 *                       message, block or text is empty, text is UTF-8;
 *   check_compressed()  is the output the input with only what the
 *                       compressor may change changed: every member but
 *                       "messages" equal; the messages a subsequence of
 *                       the input's; each kept message equal but for
 *                       texts cut as head + marker + tail (the marker's
 *                       count right) and Converse {"json"} tool results
 *                       turned into such texts; the first message and the
 *                       latest ones equal; and valid when the input was.
 *
 * Used by t/unit/compress_test.c and t/fuzz/fuzz_compress.c.
 */


#ifndef _COMPRESS_CHECK_H_INCLUDED_
#define _COMPRESS_CHECK_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>


#define CHECK_CLAUDE    1
#define CHECK_CONVERSE  2

#define CHECK_WHY_LEN   512


static int
check_fail(char *why, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(why, CHECK_WHY_LEN, fmt, args);
    va_end(args);

    return -1;
}


static int
check_utf8(const char *s)
{
    int                   n, i;
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p; p += n) {

        if (*p < 0x80) {
            n = 1;
            continue;
        }

        if ((*p & 0xe0) == 0xc0 && *p >= 0xc2) {
            n = 2;

        } else if ((*p & 0xf0) == 0xe0) {
            n = 3;

        } else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4) {
            n = 4;

        } else {
            return 0;
        }

        for (i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }
        }
    }

    return 1;
}


static size_t
check_chars(const char *s, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/* every string under node is UTF-8 */

static int
check_all_utf8(const cJSON *node)
{
    const cJSON  *c;

    if (cJSON_IsString(node) && !check_utf8(node->valuestring)) {
        return 0;
    }

    if (node->string != NULL && !check_utf8(node->string)) {
        return 0;
    }

    for (c = node->child; c; c = c->next) {
        if (!check_all_utf8(c)) {
            return 0;
        }
    }

    return 1;
}


static const char *
check_role(const cJSON *msg)
{
    const char  *role;

    role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "role"));

    return role ? role : "";
}


/* the tool call ids in a message (use = 1) or the ids it answers */

static int
check_ids(const cJSON *msg, int shape, int use, const char **ids, int max)
{
    int           n;
    const char   *type, *id;
    const cJSON  *content, *b, *x;

    n = 0;
    content = cJSON_GetObjectItemCaseSensitive(msg, "content");

    if (!cJSON_IsArray(content)) {
        return 0;
    }

    cJSON_ArrayForEach(b, content) {
        id = NULL;

        if (shape == CHECK_CLAUDE) {
            type = cJSON_GetStringValue(
                       cJSON_GetObjectItemCaseSensitive(b, "type"));

            if (type && use && strcmp(type, "tool_use") == 0) {
                id = cJSON_GetStringValue(
                         cJSON_GetObjectItemCaseSensitive(b, "id"));

            } else if (type && !use && strcmp(type, "tool_result") == 0) {
                id = cJSON_GetStringValue(
                         cJSON_GetObjectItemCaseSensitive(b, "tool_use_id"));
            }

        } else {
            x = cJSON_GetObjectItemCaseSensitive(b, use ? "toolUse"
                                                        : "toolResult");
            if (x) {
                id = cJSON_GetStringValue(
                         cJSON_GetObjectItemCaseSensitive(x, "toolUseId"));
            }
        }

        if (id != NULL && n < max) {
            ids[n++] = id;
        }
    }

    return n;
}


static int
check_has(const char **ids, int n, const char *id)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (strcmp(ids[i], id) == 0) {
            return 1;
        }
    }

    return 0;
}


/* no empty text anywhere in a message's content */

static int
check_no_empty(const cJSON *node)
{
    const cJSON  *c;

    if (node->string != NULL && strcmp(node->string, "text") == 0
        && cJSON_IsString(node) && node->valuestring[0] == '\0')
    {
        return 0;
    }

    for (c = node->child; c; c = c->next) {
        if (!check_no_empty(c)) {
            return 0;
        }
    }

    return 1;
}


static int
check_request(const cJSON *root, int shape, char *why)
{
    int           i, n, nu, nr, np, j;
    const char   *uses[64], *results[64], *prev[64];
    const cJSON  *messages, *msg, *content, *last;

    messages = cJSON_GetObjectItemCaseSensitive(root, "messages");

    if (!cJSON_IsArray(messages) || cJSON_GetArraySize(messages) == 0) {
        return check_fail(why, "no messages");
    }

    n = cJSON_GetArraySize(messages);
    last = NULL;
    np = 0;
    i = 0;

    cJSON_ArrayForEach(msg, messages) {

        if (strcmp(check_role(msg), "user") != 0
            && strcmp(check_role(msg), "assistant") != 0)
        {
            return check_fail(why, "message %d: role \"%s\"", i,
                              check_role(msg));
        }

        if (i == 0 && strcmp(check_role(msg), "user") != 0) {
            return check_fail(why, "the first message is not the user's");
        }

        if (last && strcmp(check_role(msg), check_role(last)) == 0) {
            return check_fail(why, "messages %d and %d: both %s", i - 1, i,
                              check_role(msg));
        }

        content = cJSON_GetObjectItemCaseSensitive(msg, "content");

        if (cJSON_IsString(content)) {
            if (content->valuestring[0] == '\0') {
                return check_fail(why, "message %d: empty content", i);
            }

        } else if (!cJSON_IsArray(content)
                   || cJSON_GetArraySize(content) == 0)
        {
            return check_fail(why, "message %d: no content", i);
        }

        if (!check_no_empty(msg)) {
            return check_fail(why, "message %d: an empty text", i);
        }

        if (!check_all_utf8(msg)) {
            return check_fail(why, "message %d: not UTF-8", i);
        }

        /* answers are to the calls of the message before, all of them */

        nr = check_ids(msg, shape, 0, results, 64);

        for (j = 0; j < nr; j++) {
            if (!check_has(prev, np, results[j])) {
                return check_fail(why, "message %d: a result for \"%s\" "
                                  "with no call before it", i, results[j]);
            }
        }

        for (j = 0; j < np; j++) {
            if (!check_has(results, nr, prev[j])) {
                return check_fail(why, "message %d: the call \"%s\" has no "
                                  "result after it", i, prev[j]);
            }
        }

        nu = check_ids(msg, shape, 1, uses, 64);

        memcpy(prev, uses, nu * sizeof(const char *));
        np = nu;

        last = msg;
        i++;
    }

    /* calls in the last message wait for the client to answer them */

    (void) n;

    return 0;
}


/*
 * out is in, or in cut: head + marker + tail, head a prefix of in, tail a
 * suffix, and the marker counting the characters between them.
 */

static int
check_cut(const char *in, const char *out)
{
    char        *end;
    size_t       ilen, olen, hlen, tlen, tstart, count, k;
    const char  *m, *p, *q;
    char         digits[32];

    if (strcmp(in, out) == 0) {
        return 1;
    }

    ilen = strlen(in);
    olen = strlen(out);

    for (m = strstr(out, "\n[... "); m; m = strstr(m + 1, "\n[... ")) {
        p = m + 6;
        k = 0;

        while ((*p >= '0' && *p <= '9') || *p == ',') {
            if (*p != ',' && k < sizeof(digits) - 1) {
                digits[k++] = *p;
            }

            p++;
        }

        digits[k] = '\0';

        if (k == 0) {
            continue;
        }

        count = strtoul(digits, &end, 10);

        if (strncmp(p, " characters cut by the gateway ...]\n", 36) == 0) {
            q = p + 36;

        } else if (strncmp(p, " character cut by the gateway ...]\n", 35)
                   == 0)
        {
            q = p + 35;

        } else {
            continue;
        }

        hlen = m - out;
        tstart = q - out;
        tlen = olen - tstart;

        if (hlen + tlen > ilen
            || strncmp(in, out, hlen) != 0
            || strcmp(in + ilen - tlen, out + tstart) != 0)
        {
            continue;
        }

        if (check_chars(in, ilen) - check_chars(out, hlen)
            - check_chars(out + tstart, tlen) == count)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Equal, member by member in order; cJSON_Compare() looks members up by
 * name, so an object with a name twice would not even equal itself, and
 * finds two infinities unequal.
 */

static int
check_equal(const cJSON *a, const cJSON *b)
{
    const cJSON  *x, *y;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if ((a->type & 0xff) != (b->type & 0xff)) {
        return 0;
    }

    if (cJSON_IsString(a)) {
        return strcmp(a->valuestring, b->valuestring) == 0;
    }

    if (cJSON_IsNumber(a)) {
        /* bit for bit: an overflow is inf, and inf - inf is no zero */
        return memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) == 0;
    }

    if (!cJSON_IsObject(a) && !cJSON_IsArray(a)) {
        return cJSON_Compare(a, b, 1);
    }

    for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {
        if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) {
            return 0;
        }

        if (!check_equal(x, y)) {
            return 0;
        }
    }

    return x == NULL && y == NULL;
}


/* keys under which nothing may be cut */

static int
check_frozen_key(const char *key)
{
    static const char  *frozen[] = {
        "reasoningContent", "document", "image", "video", "guardContent",
        "toolUse", "input", "source", "citationsContent", NULL
    };

    int  i;

    for (i = 0; frozen[i]; i++) {
        if (strcmp(key, frozen[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
check_match(const cJSON *in, const cJSON *out, int frozen)
{
    const cJSON  *a, *b;
    const char   *type;

    if (!frozen && cJSON_IsObject(in) && cJSON_IsObject(out)
        && in->child && !in->child->next && out->child && !out->child->next
        && strcmp(in->child->string, "json") == 0
        && strcmp(out->child->string, "text") == 0
        && cJSON_IsString(out->child))
    {
        /* a Converse {"json": ...} tool result cut into a text */
        return strstr(out->child->valuestring, " cut by the gateway ...]\n")
               != NULL;
    }

    if ((in->type & 0xff) != (out->type & 0xff)) {
        return 0;
    }

    if (cJSON_IsString(in)) {
        if (!frozen && in->string != NULL
            && (strcmp(in->string, "text") == 0
                || strcmp(in->string, "content") == 0))
        {
            return check_cut(in->valuestring, out->valuestring);
        }

        return strcmp(in->valuestring, out->valuestring) == 0;
    }

    if (!cJSON_IsObject(in) && !cJSON_IsArray(in)) {
        return check_equal(in, out);
    }

    if (cJSON_IsObject(in)) {
        type = cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(in, "type"));

        if (type != NULL && strcmp(type, "text") != 0
            && strcmp(type, "tool_result") != 0)
        {
            /* thinking, images, documents, tool_use: as they came */
            frozen = 1;
        }
    }

    for (a = in->child, b = out->child; a && b; a = a->next, b = b->next) {

        if (cJSON_IsObject(in) && strcmp(a->string, b->string) != 0) {
            return 0;
        }

        if (!check_match(a, b,
                         frozen || (a->string && check_frozen_key(a->string))))
        {
            return 0;
        }
    }

    return a == NULL && b == NULL;
}


static int
check_compressed(const unsigned char *in_body, size_t in_len,
    const unsigned char *out_body, size_t out_len, int shape,
    unsigned keep, char *why)
{
    int           rc, n, m, i, j, last_user, tail;
    cJSON        *in, *out, *a, *b, *im, *om;
    const cJSON  *x, *y;

    rc = -1;
    in = cJSON_ParseWithLength((const char *) in_body, in_len);
    out = cJSON_ParseWithLength((const char *) out_body, out_len);

    if (in == NULL || out == NULL) {
        check_fail(why, "%s is not JSON", in ? "the output" : "the input");
        goto done;
    }

    /* every member as it was, in its place; "messages" aside */

    for (a = in->child, b = out->child; a && b; a = a->next, b = b->next) {
        if (strcmp(a->string, b->string) != 0) {
            check_fail(why, "member \"%s\" became \"%s\"", a->string,
                       b->string);
            goto done;
        }

        if (strcmp(a->string, "messages") != 0 && !check_equal(a, b)) {
            check_fail(why, "member \"%s\" changed", a->string);
            goto done;
        }
    }

    if (a || b) {
        check_fail(why, "members added or lost");
        goto done;
    }

    im = cJSON_GetObjectItemCaseSensitive(in, "messages");
    om = cJSON_GetObjectItemCaseSensitive(out, "messages");
    n = cJSON_GetArraySize(im);
    m = cJSON_GetArraySize(om);

    if (!cJSON_IsArray(im) || !cJSON_IsArray(om) || m == 0 || m > n) {
        check_fail(why, "%d messages out of %d", m, n);
        goto done;
    }

    /* the output's messages are the input's, in order, maybe cut */

    i = 0;

    for (j = 0; j < m; j++) {
        y = cJSON_GetArrayItem(om, j);

        while (i < n && !check_match(cJSON_GetArrayItem(im, i), y, 0)) {
            i++;
        }

        if (i == n) {
            check_fail(why, "output message %d is none of the input's", j);
            goto done;
        }

        i++;
    }

    /* intact: the first message, the latest ones, from the last user's */

    if (!check_equal(cJSON_GetArrayItem(im, 0), cJSON_GetArrayItem(om, 0))) {
        check_fail(why, "the first message changed");
        goto done;
    }

    last_user = -1;

    for (i = 0; i < n; i++) {
        if (strcmp(check_role(cJSON_GetArrayItem(im, i)), "user") == 0) {
            last_user = i;
        }
    }

    tail = n - (int) keep;

    if (tail < 0) {
        tail = 0;
    }

    if (last_user >= 0 && last_user < tail) {
        tail = last_user;
    }

    if (n - tail > m) {
        check_fail(why, "%d messages kept, the latest %d are due", m,
                   n - tail);
        goto done;
    }

    for (i = tail; i < n; i++) {
        x = cJSON_GetArrayItem(im, i);
        y = cJSON_GetArrayItem(om, m - (n - i));

        if (!check_equal(x, y)) {
            check_fail(why, "latest message %d changed", i);
            goto done;
        }
    }

    /* valid as a request when the input was */

    if (check_request(in, shape, why) == 0
        && check_request(out, shape, why) != 0)
    {
        goto done;
    }

    rc = 0;

done:

    cJSON_Delete(in);
    cJSON_Delete(out);

    return rc;
}


#endif /* _COMPRESS_CHECK_H_INCLUDED_ */
