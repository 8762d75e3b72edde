/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Real usage from each place Bedrock reports it: Converse and InvokeModel
 * bodies of each family, ConverseStream's metadata event, the chunks of
 * InvokeModelWithResponseStream (base64 inside JSON), and the message of
 * an error; whole, cut short at every byte, and malformed.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "tap.h"
#include "ngx_bedrock_usage.h"
#include "ngx_bedrock_eventstream.h"


#define IN     NGX_BEDROCK_USAGE_INPUT
#define OUT    NGX_BEDROCK_USAGE_OUTPUT
#define CR     NGX_BEDROCK_USAGE_CACHE_READ
#define CW     NGX_BEDROCK_USAGE_CACHE_WRITE
#define ALL    (IN | OUT | CR | CW)


static int
body(const char *json, ngx_bedrock_usage_t *u)
{
    memset(u, 0, sizeof(ngx_bedrock_usage_t));

    return ngx_bedrock_usage_body((const unsigned char *) json, strlen(json),
                                  u);
}


static int
is(const ngx_bedrock_usage_t *u, unsigned found, uint64_t in, uint64_t out,
    uint64_t cr, uint64_t cw)
{
    int  good;

    good = u->found == found
           && (!(found & IN) || u->input_tokens == in)
           && (!(found & OUT) || u->output_tokens == out)
           && (!(found & CR) || u->cache_read_input_tokens == cr)
           && (!(found & CW) || u->cache_write_input_tokens == cw);

    if (!good) {
        diag("found %x in %llu out %llu cache read %llu cache write %llu",
             u->found, (unsigned long long) u->input_tokens,
             (unsigned long long) u->output_tokens,
             (unsigned long long) u->cache_read_input_tokens,
             (unsigned long long) u->cache_write_input_tokens);
    }

    return good;
}


/*
 * Reads every prefix of json: none may crash, and every count a prefix
 * finds must be the count the whole gives, never a part of it.  Returns
 * how many prefixes broke that; *first_all is the shortest prefix that
 * found everything the whole did.
 */

static int
prefixes(const char *json, int chunk, size_t *first_all)
{
    int                  bad;
    size_t               n, len;
    unsigned char       *copy;
    ngx_bedrock_usage_t  whole, u;

    len = strlen(json);
    memset(&whole, 0, sizeof(whole));

    if (chunk) {
        ngx_bedrock_usage_chunk((const unsigned char *) json, len, &whole);

    } else {
        ngx_bedrock_usage_body((const unsigned char *) json, len, &whole);
    }

    bad = 0;
    *first_all = 0;

    for (n = 0; n <= len; n++) {

        /* a copy of exactly n bytes, so that ASan sees any overread */

        copy = malloc(n ? n : 1);
        memcpy(copy, json, n);
        memset(&u, 0, sizeof(u));

        if (chunk) {
            ngx_bedrock_usage_chunk(copy, n, &u);

        } else {
            ngx_bedrock_usage_body(copy, n, &u);
        }

        free(copy);

        if ((u.found & ~whole.found)
            || ((u.found & IN) && u.input_tokens != whole.input_tokens)
            || ((u.found & OUT) && u.output_tokens != whole.output_tokens)
            || ((u.found & CR)
                && u.cache_read_input_tokens
                   != whole.cache_read_input_tokens)
            || ((u.found & CW)
                && u.cache_write_input_tokens
                   != whole.cache_write_input_tokens))
        {
            if (bad++ == 0) {
                diag("prefix of %zu bytes found %x: in %llu out %llu", n,
                     u.found, (unsigned long long) u.input_tokens,
                     (unsigned long long) u.output_tokens);
            }
        }

        if (*first_all == 0 && u.found == whole.found && u.found) {
            *first_all = n;
        }
    }

    return bad;
}


/* -- bodies ----------------------------------------------------------- */


static const char  converse[] =
    "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
    "[{\"text\":\"Hello! How can I help?\"}]}},\"stopReason\":\"end_turn\","
    "\"usage\":{\"inputTokens\":18,\"outputTokens\":386,\"totalTokens\":7906,"
    "\"cacheReadInputTokens\":0,\"cacheWriteInputTokens\":7502,"
    "\"cacheDetails\":[{\"ttl\":\"5m\",\"inputTokens\":7502}]},"
    "\"metrics\":{\"latencyMs\":5321}}";

static const char  claude[] =
    "{\"id\":\"msg_bdrk_01ABC\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-3-7-sonnet-20250219\",\"content\":[{\"type\":\"text\","
    "\"text\":\"Sure: \\\"usage\\\":{\\\"input_tokens\\\":999}\"},"
    "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"report\","
    "\"input\":{\"usage\":{\"input_tokens\":555,\"output_tokens\":666}}}],"
    "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":1200,\"cache_creation_input_tokens\":300,"
    "\"cache_read_input_tokens\":4000,\"output_tokens\":95,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":300}}}";

static const char  titan[] =
    "{\"inputTextTokenCount\":5,\"results\":[{\"tokenCount\":10,"
    "\"outputText\":\"\\nHello there\",\"completionReason\":\"FINISH\"},"
    "{\"tokenCount\":7,\"outputText\":\"Again\","
    "\"completionReason\":\"LENGTH\"}]}";

static const char  llama[] =
    "{\"generation\":\" Paris is the capital of France.\","
    "\"prompt_token_count\":20,\"generation_token_count\":9,"
    "\"stop_reason\":\"stop\"}";

static const char  nova[] =
    "{\"output\":{\"message\":{\"content\":[{\"text\":\"Hi\"}],"
    "\"role\":\"assistant\"}},\"stopReason\":\"end_turn\","
    "\"usage\":{\"inputTokens\":10,\"outputTokens\":3,\"totalTokens\":13,"
    "\"cacheReadInputTokenCount\":2048,\"cacheWriteInputTokenCount\":0}}";

static const char  chat[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":"
    "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":11,"
    "\"completion_tokens\":22,\"total_tokens\":33}}";

static const char  mistral[] =
    "{\"outputs\":[{\"text\":\" Hello\",\"stop_reason\":\"stop\"}]}";


static void
test_bodies(void)
{
    ngx_bedrock_usage_t  u;

    ok(body(converse, &u) == 0 && is(&u, ALL, 18, 386, 0, 7502)
       && u.sources == NGX_BEDROCK_USAGE_CONVERSE,
       "Converse: usage.inputTokens, outputTokens, cacheRead/Write");

    ok(body(claude, &u) == 0 && is(&u, ALL, 1200, 95, 4000, 300)
       && u.sources == NGX_BEDROCK_USAGE_ANTHROPIC,
       "Claude Messages: usage.input_tokens, output_tokens, "
       "cache_creation/read_input_tokens");

    ok(u.input_tokens != 555 && u.input_tokens != 999,
       "a \"usage\" inside a tool's input or a text is not taken");

    ok(body(titan, &u) == 0 && is(&u, IN | OUT, 5, 17, 0, 0)
       && u.sources == NGX_BEDROCK_USAGE_TITAN,
       "Titan: inputTextTokenCount, results[].tokenCount added up");

    ok(body(llama, &u) == 0 && is(&u, IN | OUT, 20, 9, 0, 0)
       && u.sources == NGX_BEDROCK_USAGE_LLAMA,
       "Llama: prompt_token_count, generation_token_count");

    ok(body(nova, &u) == 0 && is(&u, ALL, 10, 3, 2048, 0),
       "Nova InvokeModel: usage with cacheReadInputTokenCount");

    ok(body(chat, &u) == 0 && is(&u, IN | OUT, 11, 22, 0, 0)
       && u.sources == NGX_BEDROCK_USAGE_CHAT,
       "chat completions shape: usage.prompt_tokens, completion_tokens");

    u.input_tokens = 77;
    u.found = IN;

    ok(ngx_bedrock_usage_body((const unsigned char *) mistral,
                              strlen(mistral), &u) == -1
       && u.found == IN && u.input_tokens == 77,
       "Mistral text completion has no counts: -1, and *u is untouched");

    ok(body("{\"usage\":{\"inputTokens\":1},\"usage\":{\"inputTokens\":2}}",
            &u) == 0 && u.input_tokens == 2,
       "a repeated key: the last one counts, as in most parsers");

    ok(body("{\"\\u0075sage\":{\"input\\u005ftokens\":3}}", &u) == 0
       && is(&u, IN, 3, 0, 0, 0), "keys written with \\u escapes match");

    ok(body("  \r\n\t{ \"usage\" : { \"outputTokens\" : 4 } }  ", &u) == 0
       && is(&u, OUT, 0, 4, 0, 0), "whitespace anywhere");

    ok(body("{\"usage\":{\"inputTokens\":5}} trailing garbage", &u) == 0
       && is(&u, IN, 5, 0, 0, 0),
       "what follows a complete document does not matter");

    ok(body("{\"a\":[1,2,{\"usage\":{\"inputTokens\":5}}],"
            "\"usage\":{\"outputTokens\":6}}", &u) == 0
       && is(&u, OUT, 0, 6, 0, 0),
       "only the top-level usage counts, not one in an array");
}


static void
test_malformed(void)
{
    size_t               i;
    char                *deep;
    ngx_bedrock_usage_t  u;

    static const char  *none[] = {
        "",
        "null",
        "[]",
        "{}",
        "\"usage\"",
        "{\"usage\":{\"inputTokens\":\"12\"}}",
        "{\"usage\":{\"inputTokens\":-12}}",
        "{\"usage\":{\"inputTokens\":12.5}}",
        "{\"usage\":{\"inputTokens\":1e3}}",
        "{\"usage\":{\"inputTokens\":99999999999999999999999}}",
        "{\"usage\":{\"inputTokens\":null}}",
        "{\"usage\":{\"inputTokens\":true}}",
        "{\"usage\":{\"inputTokens\":12x}}",
        "{\"usage\":{\"inputTokens\":-}}",
        "{\"usage\":[12]}",
        "{\"usage\":{\"inputTokens\":{\"value\":12}}}",
        "{\"usage\":{\"inputTokens\":[12]}}",
        "{\"results\":[{\"tokenCount\":[12]}]}",
        "{\"usage\":{\"inputTokens\" 12}}",
        "{usage:{inputTokens:12}}",
        "{\"usage\":{\"inputTokens\":tru}}",
        "{\"usage\":{\"in\\qputTokens\":12}}",
        "{\"usage\":{\"inputTokens\\u00\":12}}",
        "{\"\\u0175sage\":{\"inputTokens\":12}}",
        "\x01\x02\xff",
        "{\"usage\":{\"inputTokens\":12",
        "{\"inputTextTokenCount\":12",
    };

    for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        ok(body(none[i], &u) == -1 && u.found == 0,
           "no count in %s", none[i][0] == 0 ? "binary bytes" : none[i]);
    }

    ok(ngx_bedrock_usage_body(NULL, 0, &u) == -1
       && ngx_bedrock_usage_chunk(NULL, 0, &u) == -1
       && ngx_bedrock_usage_message(NULL, 0, (char *) &u, 8) == -1,
       "nothing at NULL: -1 from each");

    ok(body("{\"usage\":{\"inputTokens\":18446744073709551615}}", &u) == 0
       && u.input_tokens == UINT64_MAX, "the largest uint64 still fits");

    ok(body("{\"usage\":{\"inputTokens\":5,\"outputTokens\":}", &u) == 0
       && is(&u, IN, 5, 0, 0, 0),
       "a count read before the document breaks is kept");

    /* nesting far deeper than the walker tracks */

    deep = malloc(200010);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';

    ok(body(deep, &u) == -1, "100000 nested arrays: -1, no stack to blow");

    memcpy(deep, "{\"usage\":{\"outputTokens\":8},\"x\":", 33);
    ok(body(deep, &u) == 0 && is(&u, OUT, 0, 8, 0, 0),
       "a count before too deep a value is kept");

    free(deep);

    ok(body("{\"a\":[[[[[[[[[[{\"usage\":{\"inputTokens\":1}}]]]]]]]]]],"
            "\"usage\":{\"inputTokens\":9}}", &u) == 0
       && is(&u, IN, 9, 0, 0, 0), "deep values pass, the top one counts");
}


static void
test_truncated(void)
{
    size_t  first;

    ok(prefixes(converse, 0, &first) == 0,
       "Converse body cut at each of its %zu bytes: every count found is "
       "right", strlen(converse));

    ok(first == (size_t) (strstr(converse, "7502,") - converse + 5),
       "... and all four are found once the last is complete (at %zu)",
       first);

    ok(prefixes(claude, 0, &first) == 0,
       "Claude body cut at every byte: no false count from the tool's "
       "input or a cut number");

    ok(prefixes(titan, 0, &first) == 0
       && first == (size_t) (strstr(titan, "}]}") - titan + 2),
       "Titan body cut at every byte: right counts, results[] added up "
       "only once the array is whole (at %zu)",
       first);

    {
        ngx_bedrock_usage_t  u;

        memset(&u, 0, sizeof(u));

        ok(ngx_bedrock_usage_body((const unsigned char *) titan, 40, &u)
           == 0 && is(&u, IN, 5, 0, 0, 0),
           "the first 40 bytes of a Titan body already give its input "
           "count");

        memset(&u, 0, sizeof(u));

        ok(ngx_bedrock_usage_body((const unsigned char *) titan, 23, &u)
           == -1 && u.found == 0,
           "but not when the number itself may be cut (\"...Count\":5)");
    }

    ok(prefixes(llama, 0, &first) == 0, "Llama body cut at every byte");
    ok(prefixes(chat, 0, &first) == 0, "chat body cut at every byte");
}


/* -- streams ---------------------------------------------------------- */


static void
base64(const char *in, size_t len, char *out)
{
    size_t    i;
    uint32_t  v;

    static const char  abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) (unsigned char) in[i] << 16
            | (uint32_t) (unsigned char) in[i + 1] << 8
            | (unsigned char) in[i + 2];
        *out++ = abc[v >> 18];
        *out++ = abc[(v >> 12) & 63];
        *out++ = abc[(v >> 6) & 63];
        *out++ = abc[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) (unsigned char) in[i] << 16;
        *out++ = abc[v >> 18];
        *out++ = abc[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';

    } else if (len - i == 2) {
        v = (uint32_t) (unsigned char) in[i] << 16
            | (uint32_t) (unsigned char) in[i + 1] << 8;
        *out++ = abc[v >> 18];
        *out++ = abc[(v >> 12) & 63];
        *out++ = abc[(v >> 6) & 63];
        *out++ = '=';
    }

    *out = '\0';
}


/* {"bytes":"<base64 of json>","p":"..."}, as Bedrock wraps a chunk */

static char *
chunk(const char *json, int escape_slash)
{
    char    *b64, *out, *p;
    size_t   len;

    len = strlen(json);
    b64 = malloc(len * 4 / 3 + 8);
    base64(json, len, b64);

    out = malloc(strlen(b64) * 2 + 64);
    p = out + sprintf(out, "{\"bytes\":\"");

    for (len = 0; b64[len]; len++) {
        if (b64[len] == '/' && escape_slash) {
            *p++ = '\\';
        }

        *p++ = b64[len];
    }

    strcpy(p, "\",\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ\"}");
    free(b64);

    return out;
}


static int
pads(const char *s)
{
    int  n;

    for (n = 0; *s; s++) {
        n += (*s == '=');
    }

    return n;
}


static int
on_chunk(const char *json, ngx_bedrock_usage_t *u)
{
    int    rc;
    char  *c;

    c = chunk(json, 0);
    rc = ngx_bedrock_usage_event((const unsigned char *) "chunk", 5,
                                 (const unsigned char *) c, strlen(c), u);
    free(c);

    return rc;
}


static const char  claude_start[] =
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_1\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":"
    "\"claude-3-7-sonnet-20250219\",\"content\":[],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,"
    "\"cache_creation_input_tokens\":25037,\"cache_read_input_tokens\":0,"
    "\"output_tokens\":1}}}";

static const char  claude_block[] =
    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Hello???\"}}";

static const char  claude_delta[] =
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":13}}";

static const char  claude_stop[] =
    "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":"
    "{\"inputTokenCount\":3,\"outputTokenCount\":13,"
    "\"invocationLatency\":3037,\"firstByteLatency\":2635,"
    "\"cacheReadInputTokenCount\":0,\"cacheWriteInputTokenCount\":25037}}";


static void
test_invoke_stream(void)
{
    char                *c;
    ngx_bedrock_usage_t  u;

    memset(&u, 0, sizeof(u));

    ok(on_chunk(claude_start, &u) == 0 && is(&u, ALL, 3, 1, 0, 25037)
       && u.sources == NGX_BEDROCK_USAGE_ANTHROPIC,
       "Claude stream: message_start gives message.usage");

    ok(on_chunk(claude_block, &u) == -1 && is(&u, ALL, 3, 1, 0, 25037),
       "a content_block_delta has no count and changes nothing");

    ok(on_chunk(claude_delta, &u) == 0 && is(&u, ALL, 3, 13, 0, 25037),
       "message_delta's cumulative usage.output_tokens replaces the first");

    ok(on_chunk(claude_stop, &u) == 0 && is(&u, ALL, 3, 13, 0, 25037)
       && u.sources == (NGX_BEDROCK_USAGE_ANTHROPIC
                        | NGX_BEDROCK_USAGE_METRICS),
       "message_stop's amazon-bedrock-invocationMetrics: all four counts");

    memset(&u, 0, sizeof(u));

    ok(on_chunk("{\"amazon-bedrock-invocationMetrics\":{\"outputTokenCount\":"
                "41},\"usage\":{\"output_tokens\":40}}", &u) == 0
       && is(&u, OUT, 0, 41, 0, 0),
       "in one payload the invocation metrics win, wherever they are");

    memset(&u, 0, sizeof(u));

    ok(on_chunk("{\"outputText\":\"Hi there\",\"index\":0,"
                "\"totalOutputTextTokenCount\":13,\"completionReason\":"
                "\"FINISH\",\"inputTextTokenCount\":7,"
                "\"amazon-bedrock-invocationMetrics\":{\"inputTokenCount\":7,"
                "\"outputTokenCount\":13,\"invocationLatency\":900,"
                "\"firstByteLatency\":300}}", &u) == 0
       && is(&u, IN | OUT, 7, 13, 0, 0),
       "Titan stream chunk: its counts and the metrics");

    memset(&u, 0, sizeof(u));

    ok(on_chunk("{\"generation\":\" Par\",\"prompt_token_count\":20,"
                "\"generation_token_count\":1,\"stop_reason\":null}", &u) == 0
       && on_chunk("{\"generation\":\"is\",\"prompt_token_count\":null,"
                   "\"generation_token_count\":2,\"stop_reason\":\"stop\"}",
                   &u) == 0
       && is(&u, IN | OUT, 20, 2, 0, 0),
       "Llama stream chunks: a null prompt_token_count later keeps the "
       "first");

    /* a known vector: base64 made by Python's base64 module */

    memset(&u, 0, sizeof(u));
    c = "{\"bytes\":\"eyJpbnB1dFRleHRUb2tlbkNvdW50Ijo3fQ==\"}";

    ok(ngx_bedrock_usage_chunk((const unsigned char *) c, strlen(c), &u) == 0
       && is(&u, IN, 7, 0, 0, 0),
       "a chunk whose base64 Python made decodes to its count");

    /* each padding: the last bytes decoded decide the count */

    {
        int   k, good;
        char  json[64];

        good = 0;

        for (k = 0; k < 3; k++) {
            snprintf(json, sizeof(json), "{\"results\":[{\"tokenCount\":7}"
                     "%.*s]}", k, "  ");
            memset(&u, 0, sizeof(u));
            c = chunk(json, 0);

            if (ngx_bedrock_usage_chunk((const unsigned char *) c, strlen(c),
                                        &u) == 0
                && is(&u, OUT, 0, 7, 0, 0)
                && pads(c) == "\0\2\1"[k])
            {
                good++;
            }

            free(c);
        }

        ok(good == 3, "base64 ending in \"==\", \"=\" and no padding: the "
           "final bytes decode right");
    }

    /* base64 with '/' written as "\/" by a JSON encoder */

    memset(&u, 0, sizeof(u));
    c = chunk(claude_block, 1);

    ok(strstr(c, "\\/") != NULL, "the test chunk has an escaped slash");

    free(c);

    c = chunk("{\"x\":\"???\",\"usage\":{\"output_tokens\":6}}", 1);

    ok(strstr(c, "\\/") != NULL
       && ngx_bedrock_usage_chunk((const unsigned char *) c, strlen(c), &u)
          == 0 && is(&u, OUT, 0, 6, 0, 0),
       "base64 with \"\\/\" escapes decodes");

    free(c);

    memset(&u, 0, sizeof(u));
    c = "{\"bytes\":\"eyJpbnB1dFRleHRUb2tlbkNvdW50Ijo3\\n\"}";

    ok(ngx_bedrock_usage_chunk((const unsigned char *) c, strlen(c), &u)
       == -1 && u.found == 0,
       "a count cut by a bad base64 character is not taken");

    c = "{\"bytes\":\"eyJpbnB1dFRleHRUb2tlbkNvdW50Ijo3LC!!\"}";

    ok(ngx_bedrock_usage_chunk((const unsigned char *) c, strlen(c), &u)
       == 0 && is(&u, IN, 7, 0, 0, 0),
       "one that ends before the bad character is");

    ok(ngx_bedrock_usage_chunk((const unsigned char *) "{\"bytes\":12}", 12,
                               &u) == -1
       && ngx_bedrock_usage_chunk((const unsigned char *) "{\"p\":\"x\"}",
                                  9, &u) == -1
       && ngx_bedrock_usage_chunk((const unsigned char *) "{\"bytes\":\"",
                                  10, &u) == -1,
       "a chunk without a bytes string, or cut inside it: -1");

    ok(ngx_bedrock_usage_event((const unsigned char *) "messageStop", 11,
                               (const unsigned char *) "{\"usage\":{"
                               "\"inputTokens\":1}}", 25, &u) == -1
       && ngx_bedrock_usage_event((const unsigned char *) "chunks", 6,
                                  (const unsigned char *) "{}", 2, &u) == -1,
       "other event types are not read for usage");
}


static void
test_chunk_prefixes(void)
{
    char    *c;
    size_t   first;

    c = chunk(claude_stop, 0);

    ok(prefixes(c, 1, &first) == 0 && first > 0,
       "message_stop chunk cut at each of its %zu bytes: every count "
       "found is right (all from %zu)", strlen(c), first);

    free(c);

    c = chunk(claude_start, 1);

    ok(prefixes(c, 1, &first) == 0 && first > 0,
       "message_start chunk with escaped slashes, cut at every byte");

    free(c);
}


static void
test_converse_stream(void)
{
    ngx_bedrock_usage_t  u;
    const char          *meta;

    meta = "{\"metrics\":{\"latencyMs\":1208},\"usage\":{\"inputTokens\":25,"
           "\"outputTokens\":40,\"totalTokens\":65,"
           "\"cacheReadInputTokens\":7,\"cacheWriteInputTokens\":0},"
           "\"p\":\"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL\"}";

    memset(&u, 0, sizeof(u));

    ok(ngx_bedrock_usage_event((const unsigned char *) "metadata", 8,
                               (const unsigned char *) meta, strlen(meta),
                               &u) == 0
       && is(&u, ALL, 25, 40, 7, 0) && u.sources == NGX_BEDROCK_USAGE_CONVERSE,
       "ConverseStream metadata event: usage with its padding field");
}


/*
 * The whole path a body filter takes: eventstream frames, cut at every
 * byte, decoded, each event read for usage.
 */

typedef struct {
    ngx_bedrock_usage_t  usage;
    int                  exceptions;
    char                 message[128];
} stream_t;


static int
on_message(void *data, const ngx_bedrock_es_message_t *m)
{
    stream_t  *s = data;

    if (m->type == NGX_BEDROCK_ES_EXCEPTION && m->payload) {
        s->exceptions++;
        ngx_bedrock_usage_message(m->payload, m->payload_len, s->message,
                                  sizeof(s->message));
        return 0;
    }

    if (m->type == NGX_BEDROCK_ES_EVENT && m->payload) {
        ngx_bedrock_usage_event(m->name, m->name_len, m->payload,
                                m->payload_len, &s->usage);
    }

    return 0;
}


static size_t
frame(unsigned char *out, const char *mtype, const char *name_header,
    const char *name, const char *payload)
{
    ngx_bedrock_es_header_t  h[3];

    memset(h, 0, sizeof(h));

    h[0].name = (const unsigned char *) name_header;
    h[0].name_len = strlen(name_header);
    h[0].type = NGX_BEDROCK_ES_STRING;
    h[0].data = (const unsigned char *) name;
    h[0].len = strlen(name);

    h[1].name = (const unsigned char *) ":content-type";
    h[1].name_len = 13;
    h[1].type = NGX_BEDROCK_ES_STRING;
    h[1].data = (const unsigned char *) "application/json";
    h[1].len = 16;

    h[2].name = (const unsigned char *) ":message-type";
    h[2].name_len = 13;
    h[2].type = NGX_BEDROCK_ES_STRING;
    h[2].data = (const unsigned char *) mtype;
    h[2].len = strlen(mtype);

    return ngx_bedrock_es_encode(out, 65536, h, 3,
                                 (const unsigned char *) payload,
                                 strlen(payload));
}


static void
test_full_stream(void)
{
    int               bad;
    char             *c;
    size_t            n, k, i;
    unsigned char    *buf;
    stream_t          s;
    ngx_bedrock_es_t  es;

    static const char  *events[] = {
        claude_start, claude_block, claude_block, claude_delta, claude_stop
    };

    buf = malloc(65536);
    n = 0;

    for (i = 0; i < 5; i++) {
        c = chunk(events[i], 0);
        n += frame(buf + n, "event", ":event-type", "chunk", c);
        free(c);
    }

    bad = 0;

    for (k = 0; k <= n; k++) {
        memset(&s, 0, sizeof(s));
        ngx_bedrock_es_init(&es, 0, on_message, &s, NULL, NULL, NULL);

        if (ngx_bedrock_es_feed(&es, buf, k) != 0
            || ngx_bedrock_es_feed(&es, buf + k, n - k) != 0
            || ngx_bedrock_es_finish(&es) != 0
            || !is(&s.usage, ALL, 3, 13, 0, 25037))
        {
            bad++;
        }

        ngx_bedrock_es_free(&es);
    }

    ok(bad == 0, "an InvokeModelWithResponseStream answer of %zu bytes cut "
       "at every byte settles to input 3, output 13, cache write 25037",
       n);

    /* ConverseStream that ends in a throttling exception */

    n = frame(buf, "event", ":event-type", "messageStart",
              "{\"p\":\"abc\",\"role\":\"assistant\"}");
    n += frame(buf + n, "event", ":event-type", "contentBlockDelta",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"},"
               "\"p\":\"abcd\"}");
    n += frame(buf + n, "exception", ":exception-type", "throttlingException",
               "{\"message\":\"Too many tokens, please wait before trying "
               "again.\"}");

    bad = 0;

    for (k = 0; k <= n; k++) {
        memset(&s, 0, sizeof(s));
        ngx_bedrock_es_init(&es, 0, on_message, &s, NULL, NULL, NULL);

        if (ngx_bedrock_es_feed(&es, buf, k) != 0
            || ngx_bedrock_es_feed(&es, buf + k, n - k) != 0
            || s.exceptions != 1 || s.usage.found != 0
            || strcmp(s.message, "Too many tokens, please wait before "
                      "trying again.") != 0)
        {
            bad++;
        }

        ngx_bedrock_es_free(&es);
    }

    ok(bad == 0, "a ConverseStream ending in throttlingException, cut at "
       "every byte: no usage, the exception's message read");

    free(buf);
}


/* -- messages --------------------------------------------------------- */


static int
message(const char *json, char *buf, size_t size)
{
    return ngx_bedrock_usage_message((const unsigned char *) json,
                                     strlen(json), buf, size);
}


static void
test_messages(void)
{
    int    n;
    char   buf[256];

    n = message("{\"message\":\"Too many tokens, please wait before trying "
                "again.\"}", buf, sizeof(buf));

    ok(n == 49 && strcmp(buf, "Too many tokens, please wait before trying "
                         "again.") == 0,
       "Bedrock's 63-byte 429 body gives its message");

    n = message("{\"message\":\"Model Stream Error\",\"originalStatusCode\":"
                "500,\"originalMessage\":\"The model stream failed.\"}",
                buf, sizeof(buf));

    ok(n == 18 && strcmp(buf, "Model Stream Error") == 0,
       "modelStreamErrorException's payload gives its message");

    n = message("{\"__type\":\"x\",\"Message\":\"capital M\"}", buf,
                sizeof(buf));

    ok(n == 9 && strcmp(buf, "capital M") == 0, "\"Message\" is read too");

    n = message("{\"message\":\"a\\\"b\\\\c\\/d\\n\\te\\u00e9\\ud83d\\ude00"
                "\\u0001\\u20ac\"}", buf, sizeof(buf));

    ok(n > 0 && strcmp(buf, "a\"b\\c/d  e\xc3\xa9\xf0\x9f\x98\x80 "
                       "\xe2\x82\xac") == 0,
       "escapes decoded: quotes, slashes, \\u to UTF-8, surrogate pairs; "
       "control characters become spaces");

    n = message("{\"message\":\"x\\ud800y\\udc00z\"}", buf, sizeof(buf));

    ok(n > 0 && strcmp(buf, "x\xef\xbf\xbdy\xef\xbf\xbdz") == 0,
       "lone surrogates become U+FFFD");

    n = message("{\"message\":\"a\x01" "b\x1b" "c\x7f\"}", buf, sizeof(buf));

    ok(n == 6 && strcmp(buf, "a b c ") == 0,
       "raw control bytes become spaces: the line is safe to log");

    n = message("{\"message\":\"h\xc3\xa9llo\"}", buf, 3);

    ok(n == 1 && strcmp(buf, "h") == 0,
       "cut to fit on a character boundary, not inside \"\xc3\xa9\"");

    n = message("{\"message\":\"h\\u00e9llo\"}", buf, 3);

    ok(n == 1 && strcmp(buf, "h") == 0, "... also for a \\u escape");

    n = message("{\"message\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}", buf, 7);

    ok(n == 4 && memcmp(buf, "\xf0\x9f\x98\x80", 5) == 0,
       "... and for a 4-byte character");

    n = message("{\"message\":\"\"}", buf, sizeof(buf));

    ok(n == 0 && buf[0] == '\0', "an empty message is found, empty");

    ok(message("{\"msg\":\"x\"}", buf, sizeof(buf)) == -1
       && message("{\"message\":{\"text\":\"x\"}}", buf, sizeof(buf)) == -1
       && message("{\"error\":{\"message\":\"x\"}}", buf, sizeof(buf)) == -1
       && message("[\"message\",\"x\"]", buf, sizeof(buf)) == -1
       && message("{\"message\":\"cut", buf, sizeof(buf)) == -1
       && message("{\"message\":\"bad \\x escape\"}", buf, sizeof(buf))
          == -1
       && message("{\"message\":\"x\"}", buf, 0) == -1
       && message("", buf, sizeof(buf)) == -1,
       "no message: other keys, not a string, nested, cut short, a bad "
       "escape, no room");

    n = message("{\"message\":\"x\"}", buf, 1);

    ok(n == 0 && buf[0] == '\0', "a 1-byte buffer holds the empty string");
}


int
main(void)
{
    test_bodies();
    test_malformed();
    test_truncated();
    test_invoke_stream();
    test_chunk_prefixes();
    test_converse_stream();
    test_full_stream();
    test_messages();

    return done_testing();
}
