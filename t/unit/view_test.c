/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The request view: each shape read as the API defines it, every body
 * written back byte for byte when nothing changed, cuts that never break
 * a character, an escape or a surrogate pair, and drops that leave the
 * rest of the body as it was.
 */


#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "tap.h"
#include "ngx_bedrock_model.h"
#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"


#define CLAUDE    "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"
#define CONVERSE  "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse"
#define NOVA      "/model/amazon.nova-pro-v1:0/invoke"
#define MISTRAL   "/model/mistral.mistral-large-2407-v1:0/invoke"
#define COHERE    "/model/cohere.command-r-plus-v1:0/invoke"
#define LLAMA     "/model/meta.llama3-70b-instruct-v1:0/invoke"
#define TITAN     "/model/amazon.titan-text-express-v1/invoke"


typedef struct {
    ngx_bedrock_view_t    v;
    ngx_bedrock_model_t   m;
    unsigned char         id[256];
    const char           *body;
    int                   rc;
    char                  err[NGX_BEDROCK_ERROR_LEN];
} view_case_t;


static const char  *claude_body =
    "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":512,"
    "\"system\":[{\"type\":\"text\",\"text\":\"Be brief.\"}],"
    "\"messages\":["
    "{\"role\":\"user\",\"content\":\"Hello, what is in /etc?\"},"
    "{\"role\":\"assistant\",\"content\":["
      "{\"type\":\"thinking\",\"thinking\":\"list it\",\"signature\":\"s\"},"
      "{\"type\":\"text\",\"text\":\"Let me look.\"},"
      "{\"type\":\"tool_use\",\"id\":\"tu_1\",\"name\":\"ls\","
       "\"input\":{\"path\":\"/etc\"}}]},"
    "{\"role\":\"user\",\"content\":["
      "{\"type\":\"tool_result\",\"tool_use_id\":\"tu_1\","
       "\"content\":\"passwd\\nhosts\\nfstab\"},"
      "{\"type\":\"tool_result\",\"tool_use_id\":\"tu_2\",\"content\":["
        "{\"type\":\"text\",\"text\":\"part one\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
         "\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}}]},"
      "{\"type\":\"image\",\"source\":{\"type\":\"base64\","
       "\"media_type\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}},"
      "{\"type\":\"document\",\"source\":{\"type\":\"text\","
       "\"media_type\":\"text/plain\",\"data\":\"a doc\"}},"
      "{\"type\":\"text\",\"text\":\"And this?\"}]}],"
    "\"tools\":[{\"name\":\"ls\",\"input_schema\":{\"type\":\"object\"}}]}";


static const char  *converse_body =
    "{\n  \"system\": [{\"text\": \"Be brief.\"}, {\"cachePoint\": "
    "{\"type\": \"default\"}}],\n"
    "  \"messages\": [\n"
    "    {\"role\": \"user\", \"content\": [{\"text\": \"Hi \\u00e9\"}, "
      "{\"image\": {\"format\": \"png\", \"source\": {\"bytes\": \"iVBO\"}}}"
      ", {\"document\": {\"format\": \"txt\", \"name\": \"d\", \"source\": "
      "{\"text\": \"doc\"}}}]},\n"
    "    {\"role\": \"assistant\", \"content\": [{\"reasoningContent\": "
      "{\"reasoningText\": {\"text\": \"hmm\", \"signature\": \"s\"}}}, "
      "{\"text\": \"Calling.\"}, {\"toolUse\": {\"toolUseId\": \"t1\", "
      "\"name\": \"f\", \"input\": {}}}]},\n"
    "    {\"role\": \"user\", \"content\": [{\"toolResult\": {\"toolUseId\": "
      "\"t1\", \"content\": [{\"text\": \"out\"}, {\"json\": {\"a\": [1, "
      "2]}}, {\"image\": {\"format\": \"png\", \"source\": {\"bytes\": "
      "\"iVBO\"}}}], \"status\": \"success\"}}, {\"cachePoint\": "
      "{\"type\": \"default\"}}]}\n"
    "  ],\n"
    "  \"inferenceConfig\": {\"maxTokens\": 300, \"temperature\": 0.5},\n"
    "  \"toolConfig\": {\"tools\": [{\"toolSpec\": {\"name\": \"f\", "
    "\"inputSchema\": {\"json\": {\"type\": \"object\"}}}}]}\n}\n";


static const char  *nova_body =
    "{\"schemaVersion\":\"messages-v1\",\"system\":[{\"text\":\"s\"}],"
    "\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]},"
    "{\"role\":\"assistant\",\"content\":[{\"text\":\"yo\"}]},"
    "{\"role\":\"user\",\"content\":[{\"text\":\"more\"}]}],"
    "\"inferenceConfig\":{\"max_new_tokens\":100}}";


static const char  *mistral_body =
    "{\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
    "{\"role\":\"user\",\"content\":\"weather?\"},"
    "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":"
    "\"c1\",\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"sunny\"},"
    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
    "\"text\":\"It is sunny.\"}]}],\"max_tokens\":64}";


static const char  *cohere_body =
    "{\"message\":\"and now?\",\"preamble\":\"p\",\"chat_history\":["
    "{\"role\":\"USER\",\"message\":\"first\"},"
    "{\"role\":\"CHATBOT\",\"message\":\"calling\",\"tool_calls\":[]},"
    "{\"role\":\"TOOL\",\"tool_results\":[]},"
    "{\"role\":\"CHATBOT\",\"message\":\"done\"}],\"max_tokens\":10}";


static int
view_open(view_case_t *c, const char *path, const char *body)
{
    memset(c, 0, sizeof(view_case_t));

    c->body = body;

    if (ngx_bedrock_model_parse_path((const unsigned char *) path,
                                     strlen(path), c->id, &c->m)
        != 0)
    {
        return -1;
    }

    c->rc = ngx_bedrock_view_parse(&c->v, (const unsigned char *) body,
                                   strlen(body), &c->m, c->err);
    return c->rc;
}


static int
view_round_trip(const ngx_bedrock_view_t *v)
{
    int             same;
    size_t          len;
    unsigned char  *out;

    if (ngx_bedrock_view_serialize(v, &out, &len) != 0) {
        return 0;
    }

    same = (len == v->len && memcmp(out, v->body, len) == 0);
    free(out);

    return same;
}


static int
view_text_is(const ngx_bedrock_view_t *v, size_t i, const char *s)
{
    size_t  len;

    len = v->texts[i].inner.end - v->texts[i].inner.start;

    return len == strlen(s)
           && memcmp(v->body + v->texts[i].inner.start, s, len) == 0;
}


static void
test_claude(void)
{
    view_case_t          c;
    ngx_bedrock_view_t  *v;

    ok(view_open(&c, CLAUDE, claude_body) == 0, "claude: parsed");
    v = &c.v;

    ok(v->shape == NGX_BEDROCK_SHAPE_CLAUDE, "claude: shape %s",
       ngx_bedrock_shape_name(v->shape));
    ok(v->nmessages == 3, "claude: 3 messages");
    ok(v->messages[0].role == NGX_BEDROCK_ROLE_USER
       && v->messages[1].role == NGX_BEDROCK_ROLE_ASSISTANT
       && v->messages[2].role == NGX_BEDROCK_ROLE_USER, "claude: roles");
    ok(v->max_tokens_given && v->max_tokens == 512, "claude: max_tokens");
    ok(v->system, "claude: system prompt seen");

    /* string content, assistant text (not thinking), two tool texts, and
     * the user's text; the document and thinking are not texts */

    ok(v->ntexts == 5, "claude: 5 texts (%zu)", v->ntexts);
    ok(v->ntexts == 5 && view_text_is(v, 0, "Hello, what is in /etc?")
       && v->texts[0].kind == NGX_BEDROCK_TEXT_USER
       && view_text_is(v, 1, "Let me look.")
       && v->texts[1].kind == NGX_BEDROCK_TEXT_ASSISTANT
       && view_text_is(v, 2, "passwd\\nhosts\\nfstab")
       && v->texts[2].kind == NGX_BEDROCK_TEXT_TOOL
       && view_text_is(v, 3, "part one")
       && v->texts[3].kind == NGX_BEDROCK_TEXT_TOOL
       && view_text_is(v, 4, "And this?")
       && v->texts[4].kind == NGX_BEDROCK_TEXT_USER,
       "claude: texts and their kinds");
    ok(v->ntexts == 5 && ngx_bedrock_view_text_chars(v, 2) == 18,
       "claude: an escape is one character");
    ok(v->messages[2].images == 2 && v->messages[2].documents == 1,
       "claude: images (one in a tool result) and documents counted");
    ok(v->nrefs == 3 && v->refs[0].use && strcmp(v->refs[0].id, "tu_1") == 0
       && v->refs[0].message == 1 && !v->refs[1].use
       && v->refs[1].message == 2 && strcmp(v->refs[2].id, "tu_2") == 0,
       "claude: tool_use and tool_result ids");
    ok(view_round_trip(v), "claude: written back byte for byte");

    ngx_bedrock_view_free(v);
}


static void
test_converse(void)
{
    view_case_t          c;
    ngx_bedrock_view_t  *v;

    ok(view_open(&c, CONVERSE, converse_body) == 0, "converse: parsed");
    v = &c.v;

    ok(v->shape == NGX_BEDROCK_SHAPE_CONVERSE, "converse: shape");
    ok(v->nmessages == 3, "converse: 3 messages");
    ok(v->max_tokens_given && v->max_tokens == 300,
       "converse: inferenceConfig.maxTokens");

    /* "Hi", "Calling.", "out", the json; not reasoning, not the document */

    ok(v->ntexts == 4, "converse: 4 texts (%zu)", v->ntexts);
    ok(v->ntexts == 4 && view_text_is(v, 0, "Hi \\u00e9")
       && ngx_bedrock_view_text_chars(v, 0) == 4
       && view_text_is(v, 1, "Calling.")
       && view_text_is(v, 2, "out")
       && v->texts[2].kind == NGX_BEDROCK_TEXT_TOOL
       && v->texts[3].json && view_text_is(v, 3, "{\"a\": [1, 2]}")
       && v->texts[3].kind == NGX_BEDROCK_TEXT_TOOL,
       "converse: texts, and a json tool result as a text to cut");
    ok(v->messages[0].images == 1 && v->messages[0].documents == 1
       && v->messages[2].images == 1, "converse: images and documents");
    ok(v->nrefs == 2 && v->refs[0].use && v->refs[0].message == 1
       && !v->refs[1].use && v->refs[1].message == 2,
       "converse: toolUse and toolResult ids");
    ok(view_round_trip(v), "converse: pretty-printed body written back as "
       "it came");

    ngx_bedrock_view_free(v);

    /* Converse is Converse whatever the family */

    ok(view_open(&c, "/model/meta.llama3-70b-instruct-v1:0/converse-stream",
                 converse_body) == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_CONVERSE,
       "converse-stream of another family: converse shape");
    ngx_bedrock_view_free(&c.v);
}


static void
test_other_shapes(void)
{
    view_case_t          c;
    ngx_bedrock_view_t  *v;

    ok(view_open(&c, NOVA, nova_body) == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_NOVA && c.v.nmessages == 3
       && c.v.ntexts == 3 && c.v.max_tokens == 100 && c.v.system,
       "nova: messages-v1 read as converse blocks, max_new_tokens");
    ok(view_round_trip(&c.v), "nova: round trip");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, MISTRAL, mistral_body) == 0, "mistral chat: parsed");
    v = &c.v;
    ok(v->shape == NGX_BEDROCK_SHAPE_CHAT && v->nmessages == 5,
       "mistral chat: shape and messages");
    ok(v->messages[0].role == NGX_BEDROCK_ROLE_SYSTEM
       && v->messages[3].role == NGX_BEDROCK_ROLE_TOOL,
       "mistral chat: system and tool roles");
    ok(v->ntexts == 4 && v->texts[0].message == 1
       && v->texts[2].kind == NGX_BEDROCK_TEXT_TOOL
       && view_text_is(v, 3, "It is sunny."),
       "mistral chat: texts (not the system's), text parts");
    ok(v->nrefs == 2 && v->refs[0].use && v->refs[0].message == 2
       && !v->refs[1].use && v->refs[1].message == 3,
       "mistral chat: tool_calls and tool_call_id");
    ok(v->max_tokens == 64 && view_round_trip(v),
       "mistral chat: max_tokens, round trip");
    ngx_bedrock_view_free(v);

    ok(view_open(&c, COHERE, cohere_body) == 0, "cohere: parsed");
    v = &c.v;
    ok(v->shape == NGX_BEDROCK_SHAPE_COHERE && v->nmessages == 4
       && v->ntexts == 3 && v->messages[2].bind_prev
       && v->messages[1].role == NGX_BEDROCK_ROLE_ASSISTANT,
       "cohere: chat_history, a TOOL turn bound to its call");
    ok(v->system && view_round_trip(v), "cohere: preamble, round trip");
    ngx_bedrock_view_free(v);

    ok(view_open(&c, LLAMA, "{\"prompt\":\"<s>[INST] hi [/INST]\","
                 "\"max_gen_len\":77}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_PROMPT && c.v.ntexts == 1
       && c.v.texts[0].message == NGX_BEDROCK_VIEW_NONE
       && c.v.max_tokens == 77,
       "llama: prompt is one text, max_gen_len");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, TITAN, "{\"inputText\":\"hello\",\"textGeneration"
                 "Config\":{\"maxTokenCount\":9}}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_PROMPT && c.v.ntexts == 1
       && c.v.max_tokens == 9,
       "titan: inputText, textGenerationConfig.maxTokenCount");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"prompt\":\"\\n\\nHuman: hi\\n\\n"
                 "Assistant:\",\"max_tokens_to_sample\":5}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_PROMPT && c.v.max_tokens == 5,
       "claude text completions: prompt, max_tokens_to_sample");
    ngx_bedrock_view_free(&c.v);

    /* the body decides when the model id does not */

    ok(view_open(&c, "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3A"
                 "application-inference-profile%2Fabc/invoke",
                 claude_body) == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_CLAUDE,
       "an inference profile ARN: anthropic_version says claude");
    ngx_bedrock_view_free(&c.v);
}


static void
test_unknown_and_bad(void)
{
    view_case_t  c;

    ok(view_open(&c, CLAUDE, "{\"foo\":1,\"bar\":[1,2]}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_UNKNOWN && c.v.ntexts == 0,
       "unknown shape: parsed, nothing to cut");
    ok(view_round_trip(&c.v), "unknown shape: round trip");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"messages\":[],\"messages\":[{\"role\":"
                 "\"user\",\"content\":\"x\"}]}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_UNKNOWN,
       "\"messages\" twice: unknown, which one counts is Bedrock's call");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CONVERSE, "{\"messages\":\"no\"}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_UNKNOWN,
       "converse with messages not an array: unknown");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"messages\":[1,\"x\",null,{\"role\":"
                 "\"user\",\"content\":7}]}") == 0
       && c.v.shape == NGX_BEDROCK_SHAPE_CLAUDE && c.v.nmessages == 4
       && c.v.ntexts == 0 && c.v.messages[0].role == NGX_BEDROCK_ROLE_OTHER,
       "messages of the wrong types: read, nothing to cut");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"messages\": [") == -1
       && strstr(c.err, "Malformed input request") != NULL,
       "malformed JSON: an error for the client");
    ngx_bedrock_view_free(&c.v);

    /* what cJSON lets through and JSON forbids: the view refuses it too */

    ok(view_open(&c, CLAUDE, "{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"\\ud\\t\\\\\\&a\"}]}") == -1
       && strstr(c.err, "Malformed input request") != NULL,
       "a \\u without four hex digits: error");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"a\\&b\"}]}") == -1,
       "an unknown escape: error");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"a\tb\"}]}") == -1,
       "a raw control byte in a string: error");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00E9\"}]}")
       == 0,
       "every escape JSON has: parsed");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "[1,2]") == -1, "an array: error");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "{} {}") == -1, "two values: error");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "") == -1, "empty body: error");
    ngx_bedrock_view_free(&c.v);

    ok(view_open(&c, CLAUDE, "\xef\xbb\xbf {\"messages\":[{\"role\":"
                 "\"user\",\"content\":\"x\"}]} \n") == 0
       && c.v.nmessages == 1 && c.v.ntexts == 1
       && view_round_trip(&c.v),
       "a byte order mark and blanks around: read, round trip");
    ngx_bedrock_view_free(&c.v);
}


/* cut a text, write the body, read the text back with cJSON */

static char *
view_cut_text(const char *body, size_t head, size_t tail, size_t *cut)
{
    char                *s;
    cJSON               *root, *msg;
    size_t               len, h, t;
    const char          *text;
    unsigned char       *out;
    view_case_t          c;

    s = NULL;

    if (view_open(&c, CLAUDE, body) != 0 || c.v.ntexts != 1) {
        ngx_bedrock_view_free(&c.v);
        return NULL;
    }

    if (ngx_bedrock_view_cut_points(&c.v, 0, head, tail, &h, &t) != 0) {
        ngx_bedrock_view_free(&c.v);
        return strdup("");
    }

    ngx_bedrock_view_cut(&c.v, 0, h, t);
    *cut = c.v.texts[0].cut_chars;

    if (ngx_bedrock_view_serialize(&c.v, &out, &len) == 0) {
        root = cJSON_ParseWithLength((const char *) out, len);
        msg = cJSON_GetArrayItem(
                  cJSON_GetObjectItemCaseSensitive(root, "messages"), 0);
        text = cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(msg, "content"));

        if (text) {
            s = strdup(text);
        }

        cJSON_Delete(root);
        free(out);
    }

    ngx_bedrock_view_free(&c.v);

    return s;
}


static int
view_utf8(const char *s)
{
    const unsigned char  *p;
    int                   n, i;

    for (p = (const unsigned char *) s; *p; p += n) {
        n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2
            : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;

        if (n == 0) {
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
view_chars(const char *s, size_t len)
{
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++) {
        n += ((unsigned char) s[i] & 0xc0) != 0x80;
    }

    return n;
}


/*
 * Every cut of a text full of traps: multi-byte characters, escapes of
 * every kind, surrogate pairs; the result must decode, be UTF-8, keep a
 * prefix and a suffix of the original and count what it cut.
 */

static void
test_cuts(void)
{
    int          bad;
    char        *s, *m, *end;
    size_t       len, head, tail, cut, n, hl, tl, full, checked;
    const char  *orig, *body;

    body = "{\"messages\":[{\"role\":\"user\",\"content\":\""
           "a\xc3\xa9\\u00e9\\ud83d\\ude00\xf0\x9f\x98\x80\\\"\\\\\\n"
           "\xe4\xb8\xad\\t\\/b c\\u4e2d\\\\\\\\\\ud83d\\ude00z \xe2\x82\xac"
           "end\"}]}";

    /* the same text decoded */
    orig = "a\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"\\\n"
           "\xe4\xb8\xad\t/b c\xe4\xb8\xad\\\\\xf0\x9f\x98\x80z "
           "\xe2\x82\xac" "end";

    full = view_chars(orig, strlen(orig));
    len = strchr(strstr(body, "content\":\"") + 10, '}') - 1
          - (strstr(body, "content\":\"") + 10);

    bad = 0;
    checked = 0;

    for (head = 0; head < len; head++) {
        for (tail = 0; head + tail < len; tail++) {
            s = view_cut_text(body, head, tail, &cut);

            if (s == NULL) {
                bad++;
                diag("cut %zu/%zu: not JSON or not read", head, tail);
                continue;
            }

            if (s[0] == '\0') {
                free(s);
                continue;
            }

            checked++;
            m = strstr(s, "\n[... ");
            end = m ? strstr(m, " cut by the gateway ...]\n") : NULL;

            if (m == NULL || end == NULL || !view_utf8(s)) {
                bad++;
                diag("cut %zu/%zu: \"%s\"", head, tail, s);
                free(s);
                continue;
            }

            hl = m - s;
            end += sizeof(" cut by the gateway ...]\n") - 1;
            tl = strlen(end);
            n = strtoul(m + 6, NULL, 10);

            if (strncmp(orig, s, hl) != 0
                || strcmp(orig + strlen(orig) - tl, end) != 0
                || n != cut
                || n != full - view_chars(s, hl) - view_chars(end, tl))
            {
                bad++;
                diag("cut %zu/%zu: \"%s\" (%zu cut)", head, tail, s, n);
            }

            free(s);
        }
    }

    ok(bad == 0 && checked > 100,
       "%zu cuts of a text of escapes, surrogates and UTF-8: all decode, "
       "keep a prefix and a suffix, count right", checked);
}


/* a cut prefers a word's end when one is near */

static void
test_cut_at_space(void)
{
    size_t       h, t;
    view_case_t  c;

    if (view_open(&c, CLAUDE, "{\"messages\":[{\"role\":\"user\",\"content\":"
                  "\"alpha beta gamma delta epsilon zeta eta theta iota "
                  "kappa lambda mu\"}]}")
        != 0)
    {
        ok(0, "cut at a space: parsed");
        return;
    }

    ok(ngx_bedrock_view_cut_points(&c.v, 0, 14, 12, &h, &t) == 0
       && h == 11 && t == 9,
       "cut at a space: head ends after \"gamma \", tail is \"lambda mu\" "
       "(%zu, %zu)", h, t);

    ok(ngx_bedrock_view_cut_points(&c.v, 0, 40, 40, &h, &t) == -1,
       "a cut that would leave nothing out is refused");

    ngx_bedrock_view_free(&c.v);
}


/* drops take their comma, the blanks of what stays stay */

static void
test_drops(void)
{
    size_t          len;
    const char     *body, *want;
    unsigned char  *out;
    view_case_t     c;

    body = "{\n \"messages\": [\n  {\"role\":\"user\",\"content\":\"a\"},\n"
           "  {\"role\":\"assistant\",\"content\":\"b\"},\n"
           "  {\"role\":\"user\",\"content\":\"c\"},\n"
           "  {\"role\":\"assistant\",\"content\":\"d\"},\n"
           "  {\"role\":\"user\",\"content\":\"e\"}\n ],\n"
           " \"max_tokens\": 5\n}";

    if (view_open(&c, CLAUDE, body) != 0 || c.v.nmessages != 5) {
        ok(0, "drops: parsed");
        return;
    }

    c.v.messages[1].dropped = 1;
    c.v.messages[2].dropped = 1;

    want = "{\n \"messages\": [\n  {\"role\":\"user\",\"content\":\"a\"},\n"
           "  {\"role\":\"assistant\",\"content\":\"d\"},\n"
           "  {\"role\":\"user\",\"content\":\"e\"}\n ],\n"
           " \"max_tokens\": 5\n}";

    ok(ngx_bedrock_view_serialize(&c.v, &out, &len) == 0
       && len == strlen(want) && memcmp(out, want, len) == 0,
       "drop a middle run: the rest as it was, line for line");
    free(out);

    c.v.messages[1].dropped = 0;
    c.v.messages[2].dropped = 0;
    c.v.messages[3].dropped = 1;
    c.v.messages[4].dropped = 1;

    want = "{\n \"messages\": [\n  {\"role\":\"user\",\"content\":\"a\"},\n"
           "  {\"role\":\"assistant\",\"content\":\"b\"},\n"
           "  {\"role\":\"user\",\"content\":\"c\"}\n ],\n"
           " \"max_tokens\": 5\n}";

    ok(ngx_bedrock_view_serialize(&c.v, &out, &len) == 0
       && len == strlen(want) && memcmp(out, want, len) == 0,
       "drop the last run");
    free(out);

    c.v.messages[0].dropped = 1;
    c.v.messages[3].dropped = 0;
    c.v.messages[4].dropped = 0;

    want = "{\n \"messages\": [\n  {\"role\":\"assistant\",\"content\":\"b\"}"
           ",\n  {\"role\":\"user\",\"content\":\"c\"},\n"
           "  {\"role\":\"assistant\",\"content\":\"d\"},\n"
           "  {\"role\":\"user\",\"content\":\"e\"}\n ],\n"
           " \"max_tokens\": 5\n}";

    ok(ngx_bedrock_view_serialize(&c.v, &out, &len) == 0
       && len == strlen(want) && memcmp(out, want, len) == 0,
       "drop the first: the blanks after \"[\" stay");
    free(out);

    c.v.messages[0].dropped = 0;
    c.v.messages[1].dropped = 1;
    c.v.messages[2].dropped = 1;
    c.v.messages[3].dropped = 1;
    c.v.messages[4].dropped = 1;

    want = "{\n \"messages\": [\n  {\"role\":\"user\",\"content\":\"a\"}\n"
           " ],\n \"max_tokens\": 5\n}";

    ok(ngx_bedrock_view_serialize(&c.v, &out, &len) == 0
       && len == strlen(want) && memcmp(out, want, len) == 0,
       "drop all but the first");
    free(out);

    c.v.messages[0].dropped = 1;

    want = "{\n \"messages\": [\n  \n ],\n \"max_tokens\": 5\n}";

    ok(ngx_bedrock_view_serialize(&c.v, &out, &len) == 0
       && len == strlen(want) && memcmp(out, want, len) == 0,
       "drop them all: an empty array, still JSON");
    free(out);

    ngx_bedrock_view_free(&c.v);
}


/* a Converse json tool result cut becomes a text block */

static void
test_json_cut(void)
{
    size_t          len, h, t, i;
    cJSON          *root, *block;
    const char     *s;
    unsigned char  *out;
    view_case_t     c;

    if (view_open(&c, CONVERSE, converse_body) != 0 || c.v.ntexts != 4) {
        ok(0, "json cut: parsed");
        return;
    }

    ok(ngx_bedrock_view_cut_points(&c.v, 3, 4, 4, &h, &t) == 0,
       "json cut: points");
    ngx_bedrock_view_cut(&c.v, 3, h, t);

    root = NULL;

    if (ngx_bedrock_view_serialize(&c.v, &out, &len) == 0) {
        root = cJSON_ParseWithLength((const char *) out, len);
        free(out);
    }

    block = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(
                    cJSON_GetObjectItemCaseSensitive(
                        cJSON_GetArrayItem(
                            cJSON_GetObjectItemCaseSensitive(root,
                                                             "messages"), 2),
                        "content"), 0),
                "toolResult"), "content"), 1);

    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(block,
                                                               "text"));

    ok(s != NULL && cJSON_GetArraySize(block) == 1
       && strncmp(s, "{\"a\"", 4) == 0 && strstr(s, "cut by the gateway"),
       "json cut: {\"json\": ...} became {\"text\": ...} with a marker");

    cJSON_Delete(root);

    /* and the serialization is a function of the edits */

    for (i = 0; i < 2; i++) {
        ngx_bedrock_view_serialize(&c.v, &out, &len);
        free(out);
    }

    ngx_bedrock_view_uncut(&c.v, 3);
    ok(view_round_trip(&c.v), "json cut undone: the body again");

    ngx_bedrock_view_free(&c.v);
}


static void
test_marker(void)
{
    unsigned char  buf[NGX_BEDROCK_VIEW_MARKER_LEN];
    size_t         n;

    n = ngx_bedrock_view_marker(buf, 12345);
    ok(n == strlen("\\n[... 12,345 characters cut by the gateway ...]\\n")
       && memcmp(buf, "\\n[... 12,345 characters cut by the gateway ...]"
                 "\\n", n) == 0,
       "marker: \"%.*s\"", (int) n, buf);

    n = ngx_bedrock_view_marker(buf, 1);
    ok(memcmp(buf, "\\n[... 1 character cut", 22) == 0, "marker: singular");

    n = ngx_bedrock_view_marker(buf, 1234567890123ULL);
    ok(n < NGX_BEDROCK_VIEW_MARKER_LEN
       && strstr((char *) buf, "1,234,567,890,123 characters"),
       "marker: large counts fit");
}


int
main(void)
{
    test_claude();
    test_converse();
    test_other_shapes();
    test_unknown_and_bad();
    test_cuts();
    test_cut_at_space();
    test_drops();
    test_json_cut();
    test_marker();

    return done_testing();
}
