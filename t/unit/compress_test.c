/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The compressor.  First what it promises, case by case: what it cuts
 * first, what it drops, what it never touches, what it answers when the
 * request cannot fit.  Then the same promises over many conversations
 * made up from a seeded generator (Claude Messages and Converse; text,
 * tool calls and their results, long tool results, images, reasoning,
 * escapes and characters of every width; compact and pretty-printed):
 * every output valid and the input with only the allowed changes
 * (compress_check.h), under the cap by the module's own estimate,
 * the same bytes when compressed again, the kept parts byte for byte
 * the input's, and a 413 only when even the kept parts cannot fit.
 *
 * COMPRESS_CASES and COMPRESS_SEED in the environment change how many
 * conversations and which.
 */


#define _GNU_SOURCE

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "compress_check.h"
#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"
#include "ngx_bedrock_compress.h"


#define CLAUDE    "/model/anthropic.claude-3-7-sonnet-20250219-v1:0/invoke"
#define CONVERSE                                                              \
    "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
#define MAX_MSGS  256


typedef struct {
    char                 *p;
    size_t                len;
    size_t                size;
} buf_t;


typedef struct {
    buf_t                 b;
    int                   shape;
    size_t                n;
    size_t                start[MAX_MSGS];
    size_t                end[MAX_MSGS];
    int                   role[MAX_MSGS];    /* 1 user, 2 assistant */
    size_t                sys_start;
    size_t                sys_end;
} conv_t;


static uint64_t  rng_state;


static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;

    return rng_state * 2685821657736338717ULL;
}


static size_t
rnd(size_t n)
{
    return n ? (size_t) (rng() % n) : 0;
}


static void
put(buf_t *b, const char *s, size_t len)
{
    if (b->len + len + 1 > b->size) {
        b->size = (b->len + len + 1) * 2;
        b->p = realloc(b->p, b->size);
        if (b->p == NULL) {
            abort();
        }
    }

    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}


static void
puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}


/* text as it is written inside a JSON string: words, escapes, UTF-8 */

static void
gen_text(buf_t *b, size_t chars)
{
    size_t              start;
    static const char  *pieces[] = {
        "the", "quick", "brown", "fox", "error:", "line", "42", "func()",
        "{", "}", "x = y + 1;", "return", "\xc3\xa9t\xc3\xa9",
        "\\u00e9", "\xe4\xb8\xad\xe6\x96\x87", "\xf0\x9f\x98\x80",
        "\\ud83d\\ude00", "\\\"quoted\\\"", "C:\\\\path\\\\file",
        "\\t", "->", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "a\\/b",
        "\\u4e2d", "Stack:", "at", "main.c:17", "NULL", "0x7ff3"
    };

    start = b->len;

    puts_(b, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);

    while (b->len - start < chars) {
        puts_(b, rnd(8) == 0 ? "\\n" : " ");
        puts_(b, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
    }
}


static size_t
gen_size(void)
{
    switch (rnd(20)) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7:
        return 20 + rnd(400);
    case 8: case 9: case 10: case 11: case 12: case 13: case 14: case 15:
        return 800 + rnd(4000);
    case 16: case 17: case 18:
        return 5000 + rnd(15000);
    default:
        return 20000 + rnd(40000);
    }
}


/* a PNG header with a size, then bytes, in base64 */

static void
gen_image(buf_t *b)
{
    size_t              i, n;
    static const char  *heads[] = {
        "iVBORw0KGgoAAAANSUhEUgAAAyAAAAJYCAIAAAD",      /* 800 x 600 */
        "iVBORw0KGgoAAAANSUhEUgAAAQAAAAEACAIAAAD",      /* 256 x 256 */
        "iVBORw0KGgoAAAANSUhEUgAAB4AAAAQ4CAIAAAD"       /* 1920 x 1080 */
    };
    static const char   b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    puts_(b, heads[rnd(3)]);

    n = 4 * (20 + rnd(rnd(4) ? 200 : 4000));

    for (i = 0; i < n; i++) {
        put(b, &b64[rnd(64)], 1);
    }
}


static const char *
gen_sep(void)
{
    static const char  *seps[] = { ",", ", ", ",\n  ", ",\n    " };

    return seps[rnd(4)];
}


static void
gen_claude_blocks(conv_t *c, int role, int calls, int results, int turn,
    int prefill)
{
    int         i, nb;
    char        id[64];
    const char  *sep;
    buf_t       *b;

    b = &c->b;
    sep = gen_sep();
    nb = 0;

    puts_(b, "[");

    if (role == 2 && rnd(3) == 0) {
        puts_(b, "{\"type\":\"thinking\",\"thinking\":\"");
        gen_text(b, gen_size());
        puts_(b, "\",\"signature\":\"EqQBCkYIBxgCKkBz\"}");
        nb++;
    }

    for (i = 0; i < results; i++) {
        if (nb++) {
            puts_(b, sep);
        }

        snprintf(id, sizeof(id), "toolu_%d_%d", turn - 1, i);
        puts_(b, "{\"type\":\"tool_result\",\"tool_use_id\":\"");
        puts_(b, id);

        if (rnd(2)) {
            puts_(b, "\",\"content\":\"");
            gen_text(b, gen_size());
            puts_(b, "\"}");

        } else {
            puts_(b, "\",\"content\":[{\"type\":\"text\",\"text\":\"");
            gen_text(b, gen_size());
            puts_(b, "\"}");

            if (rnd(4) == 0) {
                puts_(b, ",{\"type\":\"image\",\"source\":{\"type\":"
                      "\"base64\",\"media_type\":\"image/png\",\"data\":\"");
                gen_image(b);
                puts_(b, "\"}}");
            }

            puts_(b, "]");
            puts_(b, rnd(5) == 0 ? ",\"is_error\":true}" : "}");
        }
    }

    if (results == 0 || rnd(3) == 0) {
        if (nb++) {
            puts_(b, sep);
        }

        puts_(b, "{\"type\":\"text\",\"text\":\"");
        gen_text(b, prefill ? 30 : gen_size());
        puts_(b, "\"}");
    }

    if (role == 1 && rnd(5) == 0) {
        puts_(b, sep);
        puts_(b, "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
              "\"media_type\":\"image/png\",\"data\":\"");
        gen_image(b);
        puts_(b, "\"}}");
    }

    for (i = 0; i < calls; i++) {
        snprintf(id, sizeof(id), "toolu_%d_%d", turn, i);
        puts_(b, sep);
        puts_(b, "{\"type\":\"tool_use\",\"id\":\"");
        puts_(b, id);
        puts_(b, "\",\"name\":\"read_file\",\"input\":{\"path\":\"/src/");
        puts_(b, id);
        puts_(b, ".c\"}}");
    }

    puts_(b, "]");
}


static void
gen_converse_blocks(conv_t *c, int role, int calls, int results, int turn,
    int prefill)
{
    int         i, nb;
    char        id[64];
    const char  *sep;
    buf_t       *b;

    b = &c->b;
    sep = gen_sep();
    nb = 0;

    puts_(b, "[");

    if (role == 2 && rnd(3) == 0) {
        puts_(b, "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"");
        gen_text(b, gen_size());
        puts_(b, "\",\"signature\":\"EqQBCkYIBxgC\"}}}");
        nb++;
    }

    for (i = 0; i < results; i++) {
        if (nb++) {
            puts_(b, sep);
        }

        snprintf(id, sizeof(id), "tooluse_%d_%d", turn - 1, i);
        puts_(b, "{\"toolResult\":{\"toolUseId\":\"");
        puts_(b, id);
        puts_(b, "\",\"content\":[");

        if (rnd(3) == 0) {
            puts_(b, "{\"json\":{\"lines\":[\"");
            gen_text(b, gen_size() / 2);
            puts_(b, "\",\"");
            gen_text(b, gen_size() / 2);
            puts_(b, "\"],\"n\":3}}");

        } else {
            puts_(b, "{\"text\":\"");
            gen_text(b, gen_size());
            puts_(b, "\"}");
        }

        if (rnd(5) == 0) {
            puts_(b, ",{\"image\":{\"format\":\"png\",\"source\":"
                  "{\"bytes\":\"");
            gen_image(b);
            puts_(b, "\"}}}");
        }

        puts_(b, "],\"status\":\"success\"}}");
    }

    if (results == 0 || rnd(3) == 0) {
        if (nb++) {
            puts_(b, sep);
        }

        puts_(b, "{\"text\":\"");
        gen_text(b, prefill ? 30 : gen_size());
        puts_(b, "\"}");
    }

    if (role == 1 && rnd(5) == 0) {
        puts_(b, sep);
        puts_(b, "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"");
        gen_image(b);
        puts_(b, "\"}}}");
    }

    for (i = 0; i < calls; i++) {
        snprintf(id, sizeof(id), "tooluse_%d_%d", turn, i);
        puts_(b, sep);
        puts_(b, "{\"toolUse\":{\"toolUseId\":\"");
        puts_(b, id);
        puts_(b, "\",\"name\":\"read_file\",\"input\":{\"path\":\"x\"}}}");
    }

    if (rnd(6) == 0) {
        puts_(b, sep);
        puts_(b, "{\"cachePoint\":{\"type\":\"default\"}}");
    }

    puts_(b, "]");
}


static void
gen_message(conv_t *c, int role, int calls, int results, int turn,
    int prefill)
{
    buf_t  *b;

    b = &c->b;
    c->start[c->n] = b->len;
    c->role[c->n] = role;

    puts_(b, role == 1 ? "{\"role\":\"user\",\"content\":"
                       : "{\"role\":\"assistant\",\"content\":");

    if (c->shape == CHECK_CLAUDE && calls == 0 && results == 0
        && rnd(3) == 0)
    {
        puts_(b, "\"");
        gen_text(b, prefill ? 20 : gen_size());
        puts_(b, "\"");

    } else if (c->shape == CHECK_CLAUDE) {
        gen_claude_blocks(c, role, calls, results, turn, prefill);

    } else {
        gen_converse_blocks(c, role, calls, results, turn, prefill);
    }

    puts_(b, "}");

    c->end[c->n] = b->len;
    c->n++;
}


static void
gen_conversation(conv_t *c, int shape, size_t turns)
{
    int         calls, results;
    size_t      t;
    const char  *sep;
    buf_t       *b;

    memset(c, 0, sizeof(conv_t));
    c->shape = shape;
    b = &c->b;

    sep = gen_sep();

    if (shape == CHECK_CLAUDE) {
        puts_(b, "{\"anthropic_version\":\"bedrock-2023-05-31\",");
        puts_(b, "\"max_tokens\":4096,\"system\":");
        c->sys_start = b->len;

        if (rnd(2)) {
            puts_(b, "\"");
            gen_text(b, 50 + rnd(3000));
            puts_(b, "\"");

        } else {
            puts_(b, "[{\"type\":\"text\",\"text\":\"");
            gen_text(b, 50 + rnd(3000));
            puts_(b, "\",\"cache_control\":{\"type\":\"ephemeral\"}}]");
        }

    } else {
        puts_(b, "{\"system\":");
        c->sys_start = b->len;
        puts_(b, "[{\"text\":\"");
        gen_text(b, 50 + rnd(3000));
        puts_(b, "\"},{\"cachePoint\":{\"type\":\"default\"}}]");
    }

    c->sys_end = b->len;
    puts_(b, ",\"messages\":[");
    puts_(b, sep + 1);

    gen_message(c, 1, 0, 0, 0, 0);
    results = 0;

    for (t = 1; t <= turns && c->n + 3 < MAX_MSGS; t++) {
        calls = rnd(3) ? (int) rnd(4) : 0;

        puts_(b, sep);
        gen_message(c, 2, calls, 0, (int) t, 0);

        /* the last turn may leave its calls for the client to answer */
        if (t == turns && calls && rnd(3) == 0) {
            results = -1;
            break;
        }

        puts_(b, sep);
        gen_message(c, 1, 0, calls, (int) t + 1, 0);
    }

    if (results == 0 && rnd(4) == 0) {
        /* a prefill: the answer's first words */
        puts_(b, sep);
        gen_message(c, 2, 0, 0, (int) t + 2, 1);
    }

    puts_(b, "]");

    if (shape == CHECK_CLAUDE) {
        puts_(b, ",\"tools\":[{\"name\":\"read_file\",\"description\":"
              "\"Reads a file.\",\"input_schema\":{\"type\":\"object\","
              "\"properties\":{\"path\":{\"type\":\"string\"}}}}],"
              "\"temperature\":0.2}");

    } else {
        puts_(b, ",\"inferenceConfig\":{\"maxTokens\":2048},\"toolConfig\":"
              "{\"tools\":[{\"toolSpec\":{\"name\":\"read_file\","
              "\"inputSchema\":{\"json\":{\"type\":\"object\"}}}}]}}");
    }
}


static uint64_t
estimate(const ngx_bedrock_model_t *m, const char *body, size_t len)
{
    char                    err[NGX_BEDROCK_ERROR_LEN];
    ngx_bedrock_estimate_t  est;

    if (ngx_bedrock_estimate_body((const unsigned char *) body, len, m, &est,
                                  err)
        != 0)
    {
        return (uint64_t) -1;
    }

    return est.input_tokens;
}


static int
contains(const unsigned char *hay, size_t hlen, const char *needle,
    size_t nlen)
{
    return memmem(hay, hlen, needle, nlen) != NULL;
}


static int
model_for(int shape, ngx_bedrock_model_t *m, unsigned char *id)
{
    const char  *path;

    path = (shape == CHECK_CLAUDE) ? CLAUDE : CONVERSE;

    return ngx_bedrock_model_parse_path((const unsigned char *) path,
                                        strlen(path), id, m);
}


/* -- the promises, one by one ------------------------------------------ */


typedef struct {
    ngx_bedrock_model_t            m;
    unsigned char                  id[128];
    ngx_bedrock_compress_conf_t    conf;
    ngx_bedrock_compress_result_t  res;
    char                           err[NGX_BEDROCK_ERROR_LEN];
    cJSON                         *out;
    int                            rc;
} run_t;


static int
run(run_t *r, const char *path, const char *body, uint64_t cap,
    uint32_t keep, uint64_t block)
{
    memset(r, 0, sizeof(run_t));

    ngx_bedrock_model_parse_path((const unsigned char *) path, strlen(path),
                                 r->id, &r->m);

    r->conf.max_input_tokens = cap;
    r->conf.keep_turns = keep;
    r->conf.block_tokens = block;

    r->rc = ngx_bedrock_compress_body((const unsigned char *) body,
                                      strlen(body), &r->m, &r->conf,
                                      &r->res, r->err);

    if (r->rc == 0 && r->res.body) {
        r->out = cJSON_ParseWithLength((const char *) r->res.body,
                                       r->res.len);
    }

    return r->rc;
}


static void
done(run_t *r)
{
    cJSON_Delete(r->out);
    ngx_bedrock_compress_free(&r->res);
}


static const char *
text_at(cJSON *root, int msg, int block, const char *key)
{
    cJSON  *m, *c;

    m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "messages"),
                           msg);
    c = cJSON_GetObjectItemCaseSensitive(m, "content");

    if (block < 0) {
        return cJSON_GetStringValue(c);
    }

    return cJSON_GetStringValue(
               cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(c, block),
                                                key));
}


/* NULL-safe: a missing text is a failed check, not a crash */

static int
same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}


static int
is_cut(const char *s)
{
    return s != NULL && strstr(s, " cut by the gateway ...]\n") != NULL;
}


static uint64_t
text_tokens(const char *s)
{
    return ngx_bedrock_estimate_text((const unsigned char *) s, strlen(s));
}


static char *
words(size_t n, const char *w)
{
    char    *s;
    size_t   i, len;

    len = strlen(w);
    s = malloc(n * (len + 1) + 1);

    for (i = 0; i < n; i++) {
        memcpy(s + i * (len + 1), w, len);
        s[i * (len + 1) + len] = ' ';
    }

    s[n * (len + 1)] = '\0';

    return s;
}


static char *
body_of(const char *fmt, ...)
{
    char     *s;
    va_list   args;

    va_start(args, fmt);
    if (vasprintf(&s, fmt, args) < 0) {
        s = NULL;
    }
    va_end(args);

    return s;
}


static void
test_fits(void)
{
    run_t        r;
    const char  *body;

    body = "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":9,"
           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    run(&r, CLAUDE, body, 100000, 4, 0);

    ok(r.rc == 0 && r.res.body == NULL
       && r.res.tokens_before == r.res.tokens_after
       && r.res.tokens_before > 0,
       "a body under the cap: left as it is (%llu tokens)",
       (unsigned long long) r.res.tokens_before);
    done(&r);

    ok(run(&r, CLAUDE, "{\"messages\": [", 10, 4, 0) == -1
       && r.res.error == NGX_BEDROCK_COMPRESS_MALFORMED
       && strstr(r.err, "Malformed") != NULL,
       "malformed JSON: the estimator's 400 message");
    done(&r);
}


/*
 * One call's long result, a long user text, a long assistant text, each
 * of x tokens, and a first round threshold of x / 4: how much is over
 * the cap decides how far down the order the cuts go.
 */

static void
test_order(void)
{
    run_t        r;
    char        *big, *body;
    uint64_t     before, x, block;
    const char  *s;

    big = words(3000, "lorem");
    x = text_tokens(big);
    block = x / 4;

    body = body_of(
        "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":9,"
        "\"messages\":["
        "{\"role\":\"user\",\"content\":\"start\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
          "\"text\":\"%s\"},{\"type\":\"tool_use\",\"id\":\"a\",\"name\":"
          "\"f\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
          "\"tool_use_id\":\"a\",\"content\":\"%s\"},{\"type\":\"text\","
          "\"text\":\"%s\"}]},"
        "{\"role\":\"assistant\",\"content\":\"ok\"},"
        "{\"role\":\"user\",\"content\":\"end\"}]}", big, big, big);

    run(&r, CLAUDE, body, (uint64_t) -1, 1, block);
    before = r.res.tokens_before;
    done(&r);

    /* what the rest relies on */

    ok(before >= 3 * x, "the estimate counts all three texts: %llu tokens, "
       "a text is %llu", (unsigned long long) before,
       (unsigned long long) x);

    /* a little over: the tool result alone is cut, only as deep as needed */

    run(&r, CLAUDE, body, before - x / 10, 1, block);
    s = text_at(r.out, 2, 0, "content");

    ok(r.rc == 0 && r.res.blocks_shrunk == 1 && r.res.turns_dropped == 0
       && is_cut(s) && same(text_at(r.out, 2, 1, "text"), big)
       && same(text_at(r.out, 1, 0, "text"), big),
       "a tenth of a text over: the tool result is cut, not the user's or "
       "the assistant's text");
    ok(r.rc == 0 && r.res.tokens_after <= before - x / 10
       && r.res.tokens_after + 50 > before - x / 10,
       "and only as deep as needed: %llu tokens for a cap of %llu",
       (unsigned long long) r.res.tokens_after,
       (unsigned long long) (before - x / 10));
    done(&r);

    /* more: then the user's text, the assistant's last */

    run(&r, CLAUDE, body, before - x - x / 10, 1, block);

    ok(r.rc == 0 && r.res.blocks_shrunk == 2
       && is_cut(text_at(r.out, 2, 0, "content"))
       && is_cut(text_at(r.out, 2, 1, "text"))
       && same(text_at(r.out, 1, 0, "text"), big),
       "a text and a tenth over: the user's text next, the assistant's "
       "whole");
    done(&r);

    run(&r, CLAUDE, body, before - x - x / 2 - x / 10, 1, block);

    ok(r.rc == 0 && r.res.blocks_shrunk == 3 && r.res.turns_dropped == 0
       && is_cut(text_at(r.out, 1, 0, "text")),
       "more still: the assistant's text too, no turn dropped");

    /* the first message and the latest are never cut */

    ok(r.rc == 0 && same(text_at(r.out, 0, -1, NULL), "start")
       && same(text_at(r.out, 4, -1, NULL), "end"),
       "the first and the latest message as they were");
    done(&r);

    free(body);
    free(big);
}


/* among texts of one kind, the largest is cut first */

static void
test_largest_first(void)
{
    run_t        r;
    char        *small, *large, *body, *printed;
    uint64_t     before;

    small = words(1500, "ipsum");
    large = words(4000, "dolor");

    body = body_of(
        "{\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"text\":\"go\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":"
          "\"1\",\"name\":\"f\",\"input\":{}}},{\"toolUse\":{\"toolUseId\":"
          "\"2\",\"name\":\"f\",\"input\":{}}}]},"
        "{\"role\":\"user\",\"content\":["
          "{\"toolResult\":{\"toolUseId\":\"1\",\"content\":[{\"text\":"
          "\"%s\"}]}},"
          "{\"toolResult\":{\"toolUseId\":\"2\",\"content\":[{\"text\":"
          "\"%s\"}]}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"ok\"}]},"
        "{\"role\":\"user\",\"content\":[{\"text\":\"end\"}]}]}",
        small, large);

    run(&r, CONVERSE, body, (uint64_t) -1, 2, 0);
    before = r.res.tokens_before;
    done(&r);

    /* both above the threshold; cutting the larger is enough */

    run(&r, CONVERSE, body, before - text_tokens(small) / 2, 2,
        text_tokens(small) / 2);

    printed = r.out ? cJSON_PrintUnformatted(r.out) : NULL;

    ok(r.rc == 0 && r.res.blocks_shrunk == 1 && printed
       && strstr(printed, "dolor \\n[...")
       && !strstr(printed, "ipsum \\n[..."),
       "two tool results: the larger is cut");
    free(printed);
    done(&r);

    free(body);
    free(small);
    free(large);
}


/* when cutting is not enough: the oldest middle turns go, pairs whole */

static void
test_drop(void)
{
    int          i;
    run_t        r;
    char        *big, *body, *p;
    uint64_t     before;
    const char  *s;

    big = words(300, "sit");
    body = malloc(200000);
    p = body;

    p += sprintf(p, "{\"anthropic_version\":\"bedrock-2023-05-31\","
                 "\"max_tokens\":9,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"first\"}");

    for (i = 0; i < 30; i++) {
        p += sprintf(p, ",{\"role\":\"assistant\",\"content\":[{\"type\":"
                     "\"text\",\"text\":\"turn %d\"},{\"type\":\"tool_use\","
                     "\"id\":\"t%d\",\"name\":\"f\",\"input\":{}}]}"
                     ",{\"role\":\"user\",\"content\":[{\"type\":"
                     "\"tool_result\",\"tool_use_id\":\"t%d\",\"content\":"
                     "\"%s\"}]}", i, i, i, big);
    }

    p += sprintf(p, ",{\"role\":\"assistant\",\"content\":\"done\"},"
                 "{\"role\":\"user\",\"content\":\"last\"}]}");

    run(&r, CLAUDE, body, (uint64_t) -1, 2, 0);
    before = r.res.tokens_before;
    done(&r);

    run(&r, CLAUDE, body, before / 10, 2, 0);

    s = text_at(r.out, 1, 0, "text");

    ok(r.rc == 0 && r.res.turns_dropped > 0 && r.res.turns_dropped % 2 == 0
       && s != NULL && strncmp(s, "turn ", 5) == 0
       && atoi(s + 5) == (int) r.res.turns_dropped / 2,
       "a tenth of the size: %u messages dropped, the oldest (now \"%s\" "
       "follows the first)", r.res.turns_dropped, s ? s : "");

    ok(r.rc == 0 && r.res.body
       && check_compressed((const unsigned char *) body, strlen(body),
                           r.res.body, r.res.len, CHECK_CLAUDE, 2,
                           r.err) == 0,
       "and it is a valid request with every call answered (%s)",
       r.rc == 0 ? "checked" : r.err);

    /* the survivors of the middle keep their texts when drops suffice */
    ok(r.rc == 0 && r.res.tokens_after <= before / 10,
       "under the cap: %llu <= %llu",
       (unsigned long long) r.res.tokens_after,
       (unsigned long long) (before / 10));
    done(&r);

    free(body);
    free(big);
}


static void
test_too_large(void)
{
    run_t   r;
    char   *big, *body, want[64];

    big = words(5000, "amet");

    body = body_of(
        "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":9,"
        "\"system\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"hi\"}]}", big);

    run(&r, CLAUDE, body, 1000, 4, 0);

    snprintf(want, sizeof(want), "estimated at %llu input tokens",
             (unsigned long long) r.res.tokens_before);

    ok(r.rc == -1 && r.res.error == NGX_BEDROCK_COMPRESS_TOO_LARGE
       && r.res.body == NULL && strstr(r.err, want)
       && strstr(r.err, "limit of 1000"),
       "a system prompt over the cap: 413, \"%s\"", r.err);
    done(&r);
    free(body);

    run(&r, CLAUDE, "{\"anthropic_version\":\"bedrock-2023-05-31\","
        "\"foo\":\"a long enough body to be over a cap of one\"}", 1, 4, 0);

    ok(r.rc == -1 && r.res.error == NGX_BEDROCK_COMPRESS_TOO_LARGE
       && strstr(r.err, "cannot shorten a request of this shape"),
       "an unknown shape: 413, \"%s\"", r.err);
    done(&r);

    free(big);
}


/* thinking is signed, images stay, the latest turns stay */

static void
test_untouchables(void)
{
    run_t        r;
    char        *big, *body, *printed;
    uint64_t     before;

    big = words(4000, "consectetur");

    body = body_of(
        "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":9,"
        "\"messages\":["
        "{\"role\":\"user\",\"content\":\"%s\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\","
          "\"thinking\":\"%s\",\"signature\":\"sig\"},{\"type\":\"text\","
          "\"text\":\"%s\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
          "{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":"
          "\"iVBORw0KGgo%s\"}},{\"type\":\"text\",\"text\":\"%s\"}]},"
        "{\"role\":\"assistant\",\"content\":\"%s\"},"
        "{\"role\":\"user\",\"content\":\"%s\"}]}",
        big, big, big, "AAAA", big, big, big);

    run(&r, CLAUDE, body, (uint64_t) -1, 2, 0);
    before = r.res.tokens_before;
    done(&r);

    run(&r, CLAUDE, body, before - text_tokens(big) * 3 / 2, 2, 0);

    ok(r.rc == 0 && same(text_at(r.out, 1, 0, "thinking"), big)
       && is_cut(text_at(r.out, 1, 1, "text")),
       "thinking is never cut, the text beside it is");
    printed = r.out ? cJSON_PrintUnformatted(r.out) : NULL;
    ok(r.rc == 0 && text_at(r.out, 2, 0, "type") && printed
       && strstr(printed, "iVBORw0KGgoAAAA"),
       "the image stays");
    free(printed);
    ok(r.rc == 0 && same(text_at(r.out, 0, -1, NULL), big)
       && same(text_at(r.out, 3, -1, NULL), big)
       && same(text_at(r.out, 4, -1, NULL), big),
       "the first and the latest 2 messages are whole");
    done(&r);

    free(body);
    free(big);
}


/* the other shapes */

static void
test_shapes(void)
{
    run_t        r;
    char        *big, *body;
    const char  *s;
    cJSON       *h;

    big = words(8000, "elit");

    body = body_of("{\"prompt\":\"<s>[INST] %s [/INST]\",\"max_gen_len\":"
                   "512}", big);

    run(&r, "/model/meta.llama3-70b-instruct-v1:0/invoke", body, 2000, 4,
        0);
    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r.out,
                                                               "prompt"));

    ok(r.rc == 0 && s && strncmp(s, "<s>[INST] elit", 14) == 0
       && strstr(s, "elit  [/INST]") && strstr(s, "cut by the gateway")
       && r.res.tokens_after <= 2000,
       "llama prompt: the middle cut, head and tail kept (%llu tokens)",
       (unsigned long long) r.res.tokens_after);
    done(&r);
    free(body);

    body = body_of(
        "{\"message\":\"now?\",\"chat_history\":["
        "{\"role\":\"USER\",\"message\":\"first\"},"
        "{\"role\":\"CHATBOT\",\"message\":\"%s\"},"
        "{\"role\":\"USER\",\"message\":\"%s\"},"
        "{\"role\":\"CHATBOT\",\"message\":\"%s\"},"
        "{\"role\":\"USER\",\"message\":\"late\"},"
        "{\"role\":\"CHATBOT\",\"message\":\"last\"}],\"max_tokens\":9}",
        big, big, big);

    run(&r, "/model/cohere.command-r-v1:0/invoke", body, 3000, 2, 0);
    h = cJSON_GetObjectItemCaseSensitive(r.out, "chat_history");

    ok(r.rc == 0 && r.res.tokens_after <= 3000
       && same(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   cJSON_GetArrayItem(h, 0), "message")), "first")
       && same(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   r.out, "message")), "now?"),
       "cohere: chat_history shortened (%d entries), the message kept",
       cJSON_GetArraySize(h));
    done(&r);
    free(body);

    body = body_of(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
        "{\"role\":\"user\",\"content\":\"first\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
          "\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
          "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"%s\"},"
        "{\"role\":\"assistant\",\"content\":\"%s\"},"
        "{\"role\":\"user\",\"content\":\"%s\"},"
        "{\"role\":\"assistant\",\"content\":\"fine\"},"
        "{\"role\":\"user\",\"content\":\"last\"}],\"max_tokens\":9}",
        big, big, big);

    run(&r, "/model/mistral.mistral-large-2407-v1:0/invoke", body, 600, 2,
        0);
    h = cJSON_GetObjectItemCaseSensitive(r.out, "messages");
    s = cJSON_PrintUnformatted(h);

    ok(r.rc == 0 && r.res.tokens_after <= 600 && s
       && strncmp(s, "[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":"
                  "\"user\",\"content\":\"first\"},{\"role\":\"assistant\"",
                  88) == 0
       && (strstr(s, "\"c1\"") == NULL
           || strstr(s, "\"tool_call_id\":\"c1\"") != NULL),
       "mistral chat: system and first kept, the call and its answer go "
       "or stay together (%u dropped)", r.res.turns_dropped);
    free((void *) s);
    done(&r);
    free(body);

    free(big);
}


/* -- the same promises over generated conversations --------------------- */


typedef struct {
    unsigned    cases;
    unsigned    unchanged;
    unsigned    cut_only;
    unsigned    dropped;
    unsigned    too_large;
    unsigned    invalid;
    unsigned    over_cap;
    unsigned    not_same;
    unsigned    kept_changed;
    unsigned    wrong_413;
    unsigned    bad_message;
    unsigned    bad_counts;
    uint64_t    bytes;
    unsigned    shapes[3];
} stats_t;


static void
fail_case(unsigned *count, unsigned n, const char *what, const char *why)
{
    if ((*count)++ < 5) {
        diag("case %u: %s%s%s", n, what, why ? ": " : "", why ? why : "");
    }
}


/*
 * Could the request fit at all?  A request that keeps the first message
 * and the latest ones whole, and the fewest messages before those that
 * keep it valid, is one the compressor could reach; when it fits, a 413
 * is wrong.
 */

static uint64_t
witness(const conv_t *c, const ngx_bedrock_model_t *m, unsigned keep)
{
    long     tail, last_user, j, i;
    buf_t    w;
    uint64_t  tokens;

    tail = (long) c->n - (long) keep;
    tail = tail < 0 ? 0 : tail;
    last_user = -1;

    for (i = 0; i < (long) c->n; i++) {
        if (c->role[i] == 1) {
            last_user = i;
        }
    }

    if (last_user >= 0 && last_user < tail) {
        tail = last_user;
    }

    for (j = tail; j >= 1 && c->role[j] != 2; j--) {
        /* void */
    }

    if (j < 1) {
        return estimate(m, c->b.p, c->b.len);
    }

    memset(&w, 0, sizeof(buf_t));
    put(&w, c->b.p, c->end[0]);
    put(&w, ",", 1);
    put(&w, c->b.p + c->start[j], c->b.len - c->start[j]);

    tokens = estimate(m, w.p, w.len);
    free(w.p);

    return tokens;
}


static void
property_case(unsigned n, stats_t *st)
{
    int                            rc, shape;
    char                           err[NGX_BEDROCK_ERROR_LEN];
    char                           why[CHECK_WHY_LEN], num[32];
    conv_t                         c;
    size_t                         tail;
    uint64_t                       before, after, fit;
    unsigned                       keep, i;
    unsigned char                  id[128];
    ngx_bedrock_model_t            m;
    ngx_bedrock_compress_conf_t    conf;
    ngx_bedrock_compress_result_t  res, again;
    static const uint64_t          blocks[] = { 0, 64, 300, 2048, 20000 };

    shape = rnd(2) ? CHECK_CLAUDE : CHECK_CONVERSE;
    gen_conversation(&c, shape, rnd(4) == 0 ? rnd(60) : rnd(14));
    model_for(shape, &m, id);

    st->cases++;
    st->bytes += c.b.len;
    st->shapes[shape]++;

    before = estimate(&m, c.b.p, c.b.len);

    memset(&conf, 0, sizeof(conf));
    keep = 1 + rnd(6);
    conf.keep_turns = keep;
    conf.block_tokens = blocks[rnd(5)];

    switch (rnd(8)) {
    case 0:
        conf.max_input_tokens = rnd(before + 1);
        break;
    case 1:
        conf.max_input_tokens = before - rnd(before < 50 ? before : 50);
        break;
    case 2:
        conf.max_input_tokens = before + rnd(100);
        break;
    case 3: case 4:
        conf.max_input_tokens = before / 50 + rnd(before / 5 + 1);
        break;
    default:
        conf.max_input_tokens = before / 20 + rnd(before);
        break;
    }

    rc = ngx_bedrock_compress_body((unsigned char *) c.b.p, c.b.len, &m,
                                   &conf, &res, err);

    if (rc != 0) {
        st->too_large++;

        snprintf(num, sizeof(num), " %llu ",
                 (unsigned long long) conf.max_input_tokens);
        num[strlen(num) - 1] = '\0';

        if (res.error != NGX_BEDROCK_COMPRESS_TOO_LARGE
            || strstr(err, num) == NULL
            || res.tokens_before != before)
        {
            fail_case(&st->bad_message, n, "a 413 without the cap", err);
        }

        snprintf(num, sizeof(num), "estimated at %llu ",
                 (unsigned long long) before);

        if (strstr(err, num) == NULL) {
            fail_case(&st->bad_message, n, "a 413 without the estimate",
                      err);
        }

        fit = witness(&c, &m, keep);

        if (fit + 16 <= conf.max_input_tokens) {
            snprintf(why, sizeof(why), "cap %llu, the kept parts %llu",
                     (unsigned long long) conf.max_input_tokens,
                     (unsigned long long) fit);
            fail_case(&st->wrong_413, n, "413 though it could fit", why);
        }

        free(c.b.p);
        return;
    }

    if (res.body == NULL) {
        st->unchanged++;

        if (before > conf.max_input_tokens) {
            fail_case(&st->over_cap, n, "left as it was over the cap",
                      NULL);
        }

        free(c.b.p);
        return;
    }

    if (res.turns_dropped) {
        st->dropped++;

    } else {
        st->cut_only++;
    }

    after = estimate(&m, (char *) res.body, res.len);

    if (after > conf.max_input_tokens || after != res.tokens_after
        || res.tokens_before != before)
    {
        snprintf(why, sizeof(why), "%llu tokens, cap %llu, said %llu",
                 (unsigned long long) after,
                 (unsigned long long) conf.max_input_tokens,
                 (unsigned long long) res.tokens_after);
        fail_case(&st->over_cap, n, "over the cap", why);
    }

    if (check_compressed((unsigned char *) c.b.p, c.b.len, res.body,
                         res.len, shape, keep, why)
        != 0)
    {
        fail_case(&st->invalid, n, "invalid", why);
    }

    /* the kept parts, byte for byte */

    tail = c.n > keep ? c.n - keep : 0;

    /* and all from the latest user message on */

    for (i = (unsigned) c.n; i-- > 0; ) {
        if (c.role[i] == 1) {
            tail = i < tail ? i : tail;
            break;
        }
    }

    if (!contains(res.body, res.len, c.b.p + c.sys_start,
                  c.sys_end - c.sys_start)
        || !contains(res.body, res.len, c.b.p + c.start[0],
                     c.end[0] - c.start[0])
        || !contains(res.body, res.len, c.b.p + c.start[tail],
                     c.end[c.n - 1] - c.start[tail]))
    {
        fail_case(&st->kept_changed, n, "kept parts not byte for byte",
                  NULL);
    }

    if (res.turns_dropped >= c.n || res.blocks_shrunk + res.turns_dropped
                                    == 0)
    {
        fail_case(&st->bad_counts, n, "counts", NULL);
    }

    /* deterministic */

    rc = ngx_bedrock_compress_body((unsigned char *) c.b.p, c.b.len, &m,
                                   &conf, &again, err);

    if (rc != 0 || again.body == NULL || again.len != res.len
        || memcmp(again.body, res.body, res.len) != 0
        || again.blocks_shrunk != res.blocks_shrunk
        || again.turns_dropped != res.turns_dropped)
    {
        fail_case(&st->not_same, n, "not the same twice", NULL);
    }

    ngx_bedrock_compress_free(&again);
    ngx_bedrock_compress_free(&res);
    free(c.b.p);
}


static void
test_properties(void)
{
    char      *env;
    stats_t    st;
    unsigned   n, cases;
    uint64_t   seed;

    env = getenv("COMPRESS_CASES");
    cases = env ? (unsigned) strtoul(env, NULL, 10) : 400;

    env = getenv("COMPRESS_SEED");
    seed = env ? strtoull(env, NULL, 10) : 20260101;

    memset(&st, 0, sizeof(stats_t));

    for (n = 0; n < cases; n++) {
        rng_state = seed * 1000003 + n + 1;
        rng();
        property_case(n, &st);
    }

    diag("seed %llu: %u conversations (%u claude, %u converse), %llu MB: "
         "%u under the cap as they were, %u cut, %u with turns dropped, "
         "%u too large", (unsigned long long) seed, st.cases,
         st.shapes[CHECK_CLAUDE], st.shapes[CHECK_CONVERSE],
         (unsigned long long) (st.bytes >> 20), st.unchanged, st.cut_only,
         st.dropped, st.too_large);

    ok(st.invalid == 0, "%u conversations: every output a valid request, "
       "the input with only cuts and drops (%u not)", st.cases, st.invalid);
    ok(st.over_cap == 0, "every output under the cap by the module's "
       "estimate (%u not)", st.over_cap);
    ok(st.not_same == 0, "every output the same bytes twice (%u not)",
       st.not_same);
    ok(st.kept_changed == 0, "system, first message and latest messages "
       "byte for byte (%u not)", st.kept_changed);
    ok(st.wrong_413 == 0, "no 413 for a request that could fit (%u)",
       st.wrong_413);
    ok(st.bad_message == 0, "every 413 states the estimate and the cap "
       "(%u not)", st.bad_message);
    ok(st.bad_counts == 0, "counts of cut texts and dropped turns (%u "
       "wrong)", st.bad_counts);
    ok(st.cut_only > cases / 10 && st.dropped > cases / 10
       && st.too_large > cases / 20 && st.unchanged > cases / 20,
       "the cases cover cuts, drops, 413s and bodies that fit");
}


int
main(void)
{
    test_fits();
    test_order();
    test_largest_first();
    test_drop();
    test_too_large();
    test_untouchables();
    test_shapes();
    test_properties();

    return done_testing();
}
