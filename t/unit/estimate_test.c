/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The estimator: text, every request shape, the output maximum from each
 * field that carries it, images of every format and size, documents, and
 * bodies that are not JSON, too deep, cut short or huge.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ngx_bedrock_estimate.h"


static char                  err[NGX_BEDROCK_ERROR_LEN];
static ngx_bedrock_model_t   claude, titan, llama, unknown;


static void
model(ngx_bedrock_model_t *m, const char *id)
{
    memset(m, 0, sizeof(ngx_bedrock_model_t));
    ngx_bedrock_model_lookup((const unsigned char *) id, strlen(id), m);
}


static int
body(const char *json, const ngx_bedrock_model_t *m,
    ngx_bedrock_estimate_t *est)
{
    err[0] = '\0';

    return ngx_bedrock_estimate_body((const unsigned char *) json,
                                     strlen(json), m, est, err);
}


static uint64_t
text(const char *s)
{
    return ngx_bedrock_estimate_text((const unsigned char *) s, strlen(s));
}


/* base64 of n bytes into out (NUL-terminated) */
static char *
b64(const unsigned char *p, size_t n, char *out)
{
    static const char  d[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t    i, o;
    uint32_t  v;

    for (i = 0, o = 0; i < n; i += 3) {
        v = (uint32_t) p[i] << 16;
        v |= (i + 1 < n) ? (uint32_t) p[i + 1] << 8 : 0;
        v |= (i + 2 < n) ? p[i + 2] : 0;

        out[o++] = d[v >> 18];
        out[o++] = d[(v >> 12) & 63];
        out[o++] = (i + 1 < n) ? d[(v >> 6) & 63] : '=';
        out[o++] = (i + 2 < n) ? d[v & 63] : '=';
    }

    out[o] = '\0';

    return out;
}


static size_t
png(unsigned char *p, uint32_t w, uint32_t h)
{
    static const unsigned char  head[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
        'I', 'H', 'D', 'R'
    };

    memcpy(p, head, 16);
    p[16] = w >> 24; p[17] = w >> 16; p[18] = w >> 8; p[19] = w;
    p[20] = h >> 24; p[21] = h >> 16; p[22] = h >> 8; p[23] = h;
    memset(p + 24, 0, 40);

    return 64;
}


/* a JPEG whose frame header comes after an EXIF segment of exif bytes */
static size_t
jpeg(unsigned char *p, uint32_t w, uint32_t h, size_t exif)
{
    size_t  n;

    n = 0;
    p[n++] = 0xff; p[n++] = 0xd8;

    /* APP1, then a table, then SOF2 (progressive) */
    p[n++] = 0xff; p[n++] = 0xe1;
    p[n++] = (exif + 2) >> 8; p[n++] = (exif + 2) & 0xff;
    memset(p + n, 'E', exif);
    n += exif;

    p[n++] = 0xff; p[n++] = 0xdb; p[n++] = 0; p[n++] = 4; p[n++] = 0;
    p[n++] = 0;

    p[n++] = 0xff; p[n++] = 0xc2; p[n++] = 0; p[n++] = 11; p[n++] = 8;
    p[n++] = h >> 8; p[n++] = h & 0xff; p[n++] = w >> 8; p[n++] = w & 0xff;
    memset(p + n, 0, 16);

    return n + 16;
}


static size_t
gif(unsigned char *p, uint32_t w, uint32_t h)
{
    memcpy(p, "GIF89a", 6);
    p[6] = w & 0xff; p[7] = w >> 8; p[8] = h & 0xff; p[9] = h >> 8;
    memset(p + 10, 0, 20);

    return 30;
}


/* WebP of each kind: 0 VP8, 1 VP8L, 2 VP8X */
static size_t
webp(unsigned char *p, int kind, uint32_t w, uint32_t h)
{
    memset(p, 0, 40);
    memcpy(p, "RIFF", 4);
    p[4] = 32;
    memcpy(p + 8, "WEBP", 4);

    if (kind == 0) {
        memcpy(p + 12, "VP8 ", 4);
        p[23] = 0x9d; p[24] = 0x01; p[25] = 0x2a;
        p[26] = w & 0xff; p[27] = (w >> 8) & 0x3f;
        p[28] = h & 0xff; p[29] = (h >> 8) & 0x3f;

    } else if (kind == 1) {
        memcpy(p + 12, "VP8L", 4);
        p[20] = 0x2f;
        w--; h--;
        p[21] = w & 0xff;
        p[22] = ((w >> 8) & 0x3f) | ((h & 0x03) << 6);
        p[23] = (h >> 2) & 0xff;
        p[24] = (h >> 10) & 0x0f;

    } else {
        memcpy(p + 12, "VP8X", 4);
        w--; h--;
        p[24] = w; p[25] = w >> 8; p[26] = w >> 16;
        p[27] = h; p[28] = h >> 8; p[29] = h >> 16;
    }

    return 40;
}


static int
size_of(const unsigned char *img, size_t n, uint32_t *w, uint32_t *h)
{
    char  out[200000];

    b64(img, n, out);

    return ngx_bedrock_image_size((const unsigned char *) out, strlen(out),
                                  w, h);
}


static void
test_text(void)
{
    int            i, j, same;
    char           raw[512], esc[4096], *e;
    uint64_t       a, b;
    unsigned char  big[300];
    static const char  *pieces[] = {
        "the", " quick", "Brown", " FOX", "getElementById", "42", " 1999",
        ".", ", ", "'s", "don't", " ", "  ", "\n", "\n\n", "\t", "\xc3\xa9",
        "\xe6\x9d\xb1", "\xe2\x80\x94", "\xc2\xa0", "\xf0\x9f\x98\x80",
        "\xd0\x9f\xd1\x80", "{\"a\":", "}", "x_y", "\\", "\""
    };

    ok(text("") == 0, "no text, no tokens");
    ok(text("hello") >= 1 && text("hello") <= 2, "one word, one token or "
       "two");

    a = text("The quick brown fox jumps over the lazy dog.");
    ok(a >= 9 && a <= 12, "a sentence of 10 tokens: %llu",
       (unsigned long long) a);

    a = text("    return self._connection.execute(query, params)\n");
    ok(a >= 9 && a <= 15, "a line of code of 12 tokens: %llu",
       (unsigned long long) a);

    a = text("\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe3\x81\xaf\xe6\x97\xa5"
             "\xe6\x9c\xac\xe3\x81\xae\xe9\xa6\x96\xe9\x83\xbd\xe3\x81\xa7"
             "\xe3\x81\x99\xe3\x80\x82");
    ok(a >= 8 && a <= 16, "a Japanese sentence of 12 tokens: %llu",
       (unsigned long long) a);

    ok(text("\xff\xfe\xc3") > 0, "invalid UTF-8 in text is priced, no "
       "crash");

    /*
     * The block path (64 bytes at once) and the byte-by-byte path must
     * count alike: the same text, raw, and JSON-escaped character by
     * character (so no run of 64 plain bytes is left).
     */

    srand(7);
    same = 1;

    for (i = 0; i < 400 && same; i++) {
        raw[0] = '\0';

        while (strlen(raw) < 300) {
            strcat(raw, pieces[rand() % (sizeof(pieces) / sizeof(char *))]);
        }

        e = esc;

        for (j = 0; raw[j]; j++) {
            if ((raw[j] & 0xc0) == 0x80 || (unsigned char) raw[j] >= 0xc0) {
                *e++ = raw[j];

            } else {
                e += sprintf(e, "\\u%04x", (unsigned char) raw[j]);
            }
        }

        *e = '\0';

        a = text(raw);
        b = ngx_bedrock_estimate_json_text((unsigned char *) esc, strlen(esc));

        if (a != b) {
            same = 0;
            diag("differs (%llu, %llu) on: %s", (unsigned long long) a,
                 (unsigned long long) b, raw);
        }
    }

    ok(same, "the block path and the byte path count alike, 400 texts");

    ok(ngx_bedrock_estimate_json_text((const unsigned char *)
                                      "line one\\nline \\\"two\\\"", 22)
       == text("line one\nline \"two\""),
       "a JSON string costs what its decoded text costs");

    ok(ngx_bedrock_estimate_json_text((const unsigned char *)
                                      "\\ud83d\\ude00 \\ud800 \\x", 21) > 0,
       "surrogate pairs, a lone surrogate and a bad escape: priced");

    for (i = 0; i < 300; i++) {
        big[i] = (unsigned char) (i * 7);
    }

    ok(ngx_bedrock_estimate_text(big, sizeof(big)) > 0,
       "arbitrary bytes: priced, no crash");

    {
        uint64_t  c[NGX_BEDROCK_TEXT_FEATURES];

        ngx_bedrock_text_features((const unsigned char *) "Hello world 42",
                                  14, c);
        ok(c[0] == 1 && strcmp(ngx_bedrock_text_feature_name(0),
                               "lower_sp") == 0
           && ngx_bedrock_text_feature_name(NGX_BEDROCK_TEXT_FEATURES)
              == NULL,
           "the counts the weights apply to");
    }
}


static void
test_images(void)
{
    uint32_t       w, h;
    size_t         n;
    unsigned char  img[40000];
    char           out[60000];

    n = png(img, 800, 600);
    ok(size_of(img, n, &w, &h) == 0 && w == 800 && h == 600, "PNG 800x600");

    n = jpeg(img, 2000, 1000, 30000);
    ok(size_of(img, n, &w, &h) == 0 && w == 2000 && h == 1000,
       "JPEG 2000x1000, frame header after a 30 KB EXIF segment");

    n = gif(img, 100, 50);
    ok(size_of(img, n, &w, &h) == 0 && w == 100 && h == 50, "GIF 100x50");

    n = webp(img, 0, 1024, 768);
    ok(size_of(img, n, &w, &h) == 0 && w == 1024 && h == 768,
       "WebP (VP8) 1024x768");

    n = webp(img, 1, 640, 480);
    ok(size_of(img, n, &w, &h) == 0 && w == 640 && h == 480,
       "WebP (VP8L) 640x480");

    n = webp(img, 2, 4000, 3000);
    ok(size_of(img, n, &w, &h) == 0 && w == 4000 && h == 3000,
       "WebP (VP8X) 4000x3000");

    n = png(img, 300, 200);
    b64(img, n, out);
    memmove(out + 22, out, strlen(out) + 1);
    memcpy(out, "data:image/png;base64,", 22);
    ok(ngx_bedrock_image_size((unsigned char *) out, strlen(out), &w, &h)
       == 0 && w == 300 && h == 200, "a data: URL");

    n = png(img, 0, 600);
    ok(size_of(img, n, &w, &h) == -1, "a PNG of no width is refused");

    n = jpeg(img, 100, 100, 10);
    img[n - 17 - 11 + 2] = 0;   /* a segment length of zero */
    ok(size_of(img, 30, &w, &h) == -1, "a JPEG cut short is refused");

    ok(ngx_bedrock_image_size((const unsigned char *) "iVBORw0K", 8, &w, &h)
       == -1, "eight characters of a PNG are not enough");

    ok(ngx_bedrock_image_size((const unsigned char *) "!!!!!!!!!!!!!!!!",
                              16, &w, &h) == -1, "not base64");

    ok(ngx_bedrock_image_size((const unsigned char *) "", 0, &w, &h) == -1,
       "nothing");

    ok(ngx_bedrock_image_tokens(100, 100) == 14, "100x100: 14 tokens");
    ok(ngx_bedrock_image_tokens(1000, 1000) == 1334, "1000x1000: 1,334");
    ok(ngx_bedrock_image_tokens(3000, 1000) == 1094,
       "3000x1000 is resized to 1568x523 first: 1,094");
    ok(ngx_bedrock_image_tokens(1568, 1568) == NGX_BEDROCK_IMAGE_TOKENS_MAX,
       "1568x1568: the 1,600 tokens Anthropic caps at");
    ok(ngx_bedrock_image_tokens(8000, 8000) == NGX_BEDROCK_IMAGE_TOKENS_MAX,
       "8000x8000: the same");
    ok(ngx_bedrock_image_tokens(20000, 1) == 3,
       "20000x1: 1568x1 after the resize");
    ok(ngx_bedrock_image_tokens(0, 0) == 0, "no pixels, no tokens");
}


static void
test_shapes(void)
{
    int                     rc;
    size_t                  n;
    char                    b[400000], img[2000], doc[4000];
    unsigned char           raw[3000];
    ngx_bedrock_estimate_t  e, e2;

    /* Converse */

    n = png(raw, 800, 600);
    b64(raw, n, img);

    snprintf(b, sizeof(b),
             "{\"system\":[{\"text\":\"You are terse.\"},"
             "{\"cachePoint\":{\"type\":\"default\"}}],"
             "\"messages\":[{\"role\":\"user\",\"content\":["
             "{\"text\":\"What is in this picture?\"},"
             "{\"image\":{\"format\":\"png\",\"source\":"
             "{\"bytes\":\"%s\"}}}]}],"
             "\"inferenceConfig\":{\"maxTokens\":512,\"temperature\":0.2}}",
             img);

    rc = body(b, &claude, &e);
    ok(rc == 0 && e.messages == 1 && e.images == 1
       && e.image_tokens == 640 && e.text_tokens >= 8
       && e.text_tokens <= 14 && e.max_tokens == 512 && e.max_tokens_given
       && !e.fallback
       && e.overhead_tokens == NGX_BEDROCK_TOKENS_REQUEST
                               + NGX_BEDROCK_TOKENS_MESSAGE
                               + NGX_BEDROCK_TOKENS_SYSTEM
       && e.input_tokens == e.text_tokens + e.image_tokens
                            + e.overhead_tokens
       && e.cost == e.input_tokens + 512,
       "Converse: system, text, a PNG of 800x600 (640 tokens), maxTokens "
       "(text %llu, input %llu)", (unsigned long long) e.text_tokens,
       (unsigned long long) e.input_tokens);

    ok(body("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
            "\"hi\"}]}]}", &claude, &e) == 0
       && !e.max_tokens_given && e.max_tokens == 64000
       && e.cost == e.input_tokens + 64000,
       "Converse without maxTokens reserves the model's maximum");

    rc = body("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
            "\"Run it.\"}]},{\"role\":\"assistant\",\"content\":["
            "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"The user "
            "wants the tool.\",\"signature\":\"c2lnbmF0dXJl\"}}},"
            "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"run\",\"input\":"
            "{\"cmd\":\"ls -l /tmp\",\"n\":[1,2,true,null]}}}]},"
            "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":"
            "\"t1\",\"content\":[{\"text\":\"total 0\"},{\"json\":{\"files\":"
            "[]}}],\"status\":\"success\"}},{\"guardContent\":{\"text\":"
            "{\"text\":\"check this\"}}}]}],"
            "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"run\","
            "\"description\":\"Runs a command.\",\"inputSchema\":{\"json\":"
            "{\"type\":\"object\",\"properties\":{\"cmd\":{\"type\":"
            "\"string\"}}}}}},{\"cachePoint\":{\"type\":\"default\"}}],"
            "\"toolChoice\":{\"auto\":{}}}}", &claude, &e);
    ok(rc == 0
       && e.messages == 3 && e.tools == 1 && e.tool_tokens > 30
       && e.text_tokens > 10
       && e.overhead_tokens == NGX_BEDROCK_TOKENS_REQUEST
                               + 3 * NGX_BEDROCK_TOKENS_MESSAGE
                               + NGX_BEDROCK_TOKENS_TOOLS
                               + NGX_BEDROCK_TOKENS_TOOL,
       "Converse: reasoning, toolUse, toolResult, guardContent, one tool "
       "(tools %llu, text %llu)", (unsigned long long) e.tool_tokens,
       (unsigned long long) e.text_tokens);

    /* a PDF of two pages, as bytes */
    n = snprintf((char *) raw, sizeof(raw),
                 "%%PDF-1.4\n1 0 obj <</Type /Pages /Count 2>>\n"
                 "2 0 obj <</Type /Page /Parent 1 0 R>>\n"
                 "3 0 obj <</Type/Page /Parent 1 0 R>>\n%%%%EOF\n");
    b64(raw, n, doc);

    snprintf(b, sizeof(b),
             "{\"messages\":[{\"role\":\"user\",\"content\":[{\"document\":"
             "{\"format\":\"pdf\",\"name\":\"report\",\"source\":{\"bytes\":"
             "\"%s\"}}},{\"text\":\"Sum it up.\"}]}]}", doc);

    rc = body(b, &claude, &e);
    ok(rc == 0 && e.documents == 1
       && e.document_tokens >= 2 * 2500 && e.document_tokens <= 2 * 2500 + 3,
       "Converse: a PDF of two pages (%llu tokens)",
       (unsigned long long) e.document_tokens);

    n = snprintf((char *) raw, sizeof(raw), "name,price\nwidget,10\n"
                 "gadget,20\nsprocket,30\n");
    b64(raw, n, doc);
    snprintf(b, sizeof(b),
             "{\"messages\":[{\"role\":\"user\",\"content\":[{\"document\":"
             "{\"format\":\"csv\",\"name\":\"prices\",\"source\":{\"bytes\":"
             "\"%s\"}}}]}]}", doc);

    rc = body(b, &claude, &e);
    ok(rc == 0 && e.documents == 1
       && e.document_tokens > 10 && e.document_tokens < 40,
       "Converse: a CSV document is read as text (%llu tokens)",
       (unsigned long long) e.document_tokens);

    ok(body("{\"messages\":[{\"role\":\"user\",\"content\":[{\"document\":"
            "{\"format\":\"pdf\",\"name\":\"a\",\"source\":{\"s3Location\":"
            "{\"uri\":\"s3://b/k.pdf\"}}}},{\"image\":{\"format\":\"png\","
            "\"source\":{\"s3Location\":{\"uri\":\"s3://b/i.png\"}}}}]}]}",
            &claude, &e) == 0
       && e.documents == 1 && e.images == 1
       && e.image_tokens == NGX_BEDROCK_IMAGE_TOKENS_MAX
       && e.document_tokens >= 2500,
       "Converse: S3 documents and images get the documented fallbacks");

    ok(body("{\"messages\":[{\"role\":\"user\",\"content\":[{\"image\":"
            "{\"format\":\"png\",\"source\":{\"bytes\":\"bm90IGFuIGltYWdl\"}}"
            "}]}]}", &claude, &e) == 0
       && e.images == 1 && e.image_tokens == NGX_BEDROCK_IMAGE_TOKENS_MAX,
       "an image that cannot be read is priced as the largest");

    /* Claude Messages on InvokeModel */

    n = jpeg(raw, 2000, 1000, 100);
    b64(raw, n, img);

    snprintf(b, sizeof(b),
             "{\"anthropic_version\":\"bedrock-2023-05-31\","
             "\"max_tokens\":1024,\"system\":\"Be brief.\","
             "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Gets the"
             " weather.\",\"input_schema\":{\"type\":\"object\"}}],"
             "\"messages\":[{\"role\":\"user\",\"content\":\"Hello there\"},"
             "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\","
             "\"thinking\":\"Let me see.\",\"signature\":\"abc\"},"
             "{\"type\":\"tool_use\",\"id\":\"tu1\",\"name\":\"get_weather\","
             "\"input\":{\"city\":\"Paris\"}}]},"
             "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
             "\"tool_use_id\":\"tu1\",\"content\":\"Sunny, 24 C\"},"
             "{\"source\":{\"data\":\"%s\",\"media_type\":\"image/jpeg\","
             "\"type\":\"base64\"},\"type\":\"image\"}]}]}", img);

    rc = body(b, &claude, &e);
    ok(rc == 0 && e.messages == 3 && e.images == 1
       && e.image_tokens == NGX_BEDROCK_IMAGE_TOKENS_MAX && e.tools == 1
       && e.tool_tokens > 15 && e.max_tokens == 1024 && !e.fallback,
       "Claude: system string, tools, thinking, tool_use, tool_result, a "
       "JPEG whose type comes after its source (tools %llu)",
       (unsigned long long) e.tool_tokens);

    snprintf(b, sizeof(b),
             "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":10,"
             "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
             "\"document\",\"source\":{\"type\":\"text\",\"media_type\":"
             "\"text/plain\",\"data\":\"The grass is green. The sky is "
             "blue.\"}}]}]}");

    rc = body(b, &claude, &e);
    ok(rc == 0 && e.documents == 1
       && e.document_tokens >= 8 && e.document_tokens <= 20,
       "Claude: a plain-text document is priced by its text (%llu)",
       (unsigned long long) e.document_tokens);

    ok(body("{\"anthropic_version\":\"bedrock-2023-05-31\",\"messages\":"
            "[{\"role\":\"user\",\"content\":\"hi\"}]}", &claude, &e) == 0
       && !e.max_tokens_given && e.max_tokens == 64000,
       "Claude without max_tokens: the model's maximum");

    ok(body("{\"prompt\":\"\\n\\nHuman: hi\\n\\nAssistant:\","
            "\"max_tokens_to_sample\":300}", &claude, &e) == 0
       && e.max_tokens == 300 && e.text_tokens > 3,
       "Claude Text Completions: prompt, max_tokens_to_sample");

    /* the other families */

    ok(body("{\"inputText\":\"Write a haiku about the sea.\","
            "\"textGenerationConfig\":{\"maxTokenCount\":256,"
            "\"temperature\":0.5}}", &titan, &e) == 0
       && e.max_tokens == 256 && e.text_tokens >= 6 && !e.fallback,
       "Titan: inputText, textGenerationConfig.maxTokenCount");

    ok(body("{\"inputText\":\"Hi\"}", &titan, &e) == 0
       && e.max_tokens == 8192 && !e.max_tokens_given,
       "Titan without maxTokenCount: the model's maximum");

    ok(body("{\"prompt\":\"<|begin_of_text|>Hello\",\"max_gen_len\":128,"
            "\"temperature\":0.1}", &llama, &e) == 0
       && e.max_tokens == 128 && e.text_tokens >= 5,
       "Llama: prompt, max_gen_len");

    ok(body("{\"prompt\":\"<s>[INST] Hello [/INST]\",\"max_tokens\":64}",
            &unknown, &e) == 0 && e.max_tokens == 64,
       "Mistral: prompt, max_tokens");

    ok(body("{\"schemaVersion\":\"messages-v1\",\"system\":[{\"text\":\"Be "
            "kind.\"}],\"messages\":[{\"role\":\"user\",\"content\":[{\"text\""
            ":\"Hello\"}]}],\"inferenceConfig\":{\"max_new_tokens\":300}}",
            &unknown, &e) == 0 && e.max_tokens == 300 && e.messages == 1,
       "Nova: messages, inferenceConfig.max_new_tokens");

    ok(body("{\"message\":\"And the capital of France?\",\"chat_history\":"
            "[{\"role\":\"USER\",\"message\":\"Hi\"},{\"role\":\"CHATBOT\","
            "\"message\":\"Hello!\"}],\"preamble\":\"You know geography.\","
            "\"documents\":[{\"title\":\"Paris\",\"snippet\":\"Paris is the "
            "capital.\"}],\"max_tokens\":100}", &unknown, &e) == 0
       && e.max_tokens == 100 && e.messages == 2 && e.document_tokens > 3
       && e.text_tokens > 10,
       "Cohere: message, chat_history, preamble, documents, max_tokens");

    ok(body("{\"prompt\":\"Hi\",\"maxTokens\":200}", &unknown, &e) == 0
       && e.max_tokens == 200, "AI21 Jurassic: maxTokens");

    ok(body("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
            "\"max_completion_tokens\":77}", &unknown, &e) == 0
       && e.max_tokens == 77, "OpenAI-style: max_completion_tokens");

    /* maxima */

    ok(body("{\"prompt\":\"x\",\"max_tokens\":1e3}", &llama, &e) == 0
       && e.max_tokens == 1000, "an exponent: 1e3 is 1000");
    ok(body("{\"prompt\":\"x\",\"max_tokens\":4096.9}", &llama, &e) == 0
       && e.max_tokens == 4096, "a fraction is cut");
    ok(body("{\"prompt\":\"x\",\"max_tokens\":-5}", &llama, &e) == 0
       && !e.max_tokens_given && e.max_tokens == 2048,
       "a negative maximum is not taken");
    ok(body("{\"prompt\":\"x\",\"max_tokens\":\"100\"}", &llama, &e) == 0
       && !e.max_tokens_given, "a maximum as a string is not taken");
    ok(body("{\"prompt\":\"x\",\"max_tokens\":1e400}", &llama, &e) == 0
       && e.max_tokens == 100000000, "a huge maximum is clamped");
    ok(body("{\"prompt\":\"x\",\"options\":{\"max_tokens\":5}}", &llama, &e)
       == 0 && !e.max_tokens_given,
       "max_tokens deeper than its place is not the maximum");

    ok(ngx_bedrock_estimate_body((const unsigned char *) "{\"prompt\":\"x\"}",
                                 14, NULL, &e, err) == 0
       && e.max_tokens == NGX_BEDROCK_DEFAULT_MAX_TOKENS,
       "no model: the default maximum");

    /* unknown shapes and blobs */

    rc = body("{\"input\":{\"question\":\"What is the tallest mountain on "
            "Earth?\",\"context\":[\"geography\",\"facts\"]},\"n\":1}",
            &unknown, &e);
    ok(rc == 0 && e.fallback && e.text_tokens >= 10,
       "an unknown shape: every string is counted (%llu)",
       (unsigned long long) e.text_tokens);

    memset(b, 0, sizeof(b));
    strcpy(b, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"");
    memset(b + strlen(b), 'A', 20000);
    strcat(b, "\"}]}]}");

    ok(body(b, &claude, &e) == 0 && e.text_tokens == 0,
       "a base64 blob in text is not priced as text");

    memset(b, 0, sizeof(b));
    strcpy(b, "{\"blob\":\"");
    memset(b + strlen(b), 'Q', 50000);
    strcat(b, "\",\"note\":\"a short note\"}");

    ok(body(b, &unknown, &e) == 0 && e.fallback && e.text_tokens < 10,
       "a base64 blob in an unknown shape is not priced either");

    n = png(raw, 1000, 1000);
    b64(raw, n, img);
    snprintf(b, sizeof(b), "{\"picture\":\"data:image/png;base64,%s\"}",
             img);
    ok(body(b, &unknown, &e) == 0 && e.images == 1
       && e.image_tokens == 1334,
       "an image as a data: URL anywhere is priced as an image");

    /* the same body gives the same estimate; order of keys does not
     * matter to the total */

    ok(body("{\"max_tokens\":9,\"messages\":[{\"content\":\"abc def\","
            "\"role\":\"user\"}]}", &claude, &e) == 0
       && body("{\"messages\":[{\"role\":\"user\",\"content\":\"abc def\"}],"
               "\"max_tokens\":9}", &claude, &e2) == 0
       && e.cost == e2.cost, "keys in any order, the same cost");
}


static void
malformed(const char *json, size_t len, const char *what)
{
    int                     rc;
    ngx_bedrock_estimate_t  e;

    err[0] = '\0';
    rc = ngx_bedrock_estimate_body((const unsigned char *) json, len,
                                   &claude, &e, err);

    ok(rc == -1 && strncmp(err, "Malformed input request: ", 25) == 0
       && strstr(err, "please reformat your input and try again.") != NULL,
       "%s: %s", what, err);
}


/* an object with arrays in it, levels deep in all */
static size_t
nest(char *p, size_t levels)
{
    size_t  i, n;

    n = 0;
    memcpy(p, "{\"a\":", 5);
    n = 5;

    for (i = 1; i < levels; i++) {
        p[n++] = '[';
    }

    for (i = 1; i < levels; i++) {
        p[n++] = ']';
    }

    p[n++] = '}';

    return n;
}


static void
test_malformed(void)
{
    int                     rc;
    size_t                  i, n, bad;
    char                   *deep;
    const char             *good;
    ngx_bedrock_estimate_t  e;

#define M(s, what)  malformed(s, sizeof(s) - 1, what)

    M("", "empty");
    M("  \n\t ", "only whitespace");
    M("[]", "an array");
    M("\"text\"", "a string");
    M("42", "a number");
    M("{", "an object not closed");
    M("{\"a\":}", "no value");
    M("{\"a\":1,}", "a trailing comma");
    M("{\"a\" 1}", "no colon");
    M("{a:1}", "a key without quotes");
    M("{\"a\":tru}", "a bad literal");
    M("{\"a\":nul", "a literal cut short");
    M("{\"a\":01}", "a leading zero");
    M("{\"a\":1.}", "a fraction without digits");
    M("{\"a\":-}", "a minus alone");
    M("{\"a\":1e}", "an exponent without digits");
    M("{\"a\":\"\\x\"}", "a bad escape");
    M("{\"a\":\"\\u12G4\"}", "a bad \\u escape");
    M("{\"messages\":[{\"role\":\"\\q\"}]}", "a bad escape in a string "
      "that is not priced");
    M("{\"\\q\":1}", "a bad escape in a key");
    M("{\"a\":\"tab\there\"}", "a raw control character");
    M("{\"a\":\"\xff\"}", "a byte that is never UTF-8");
    M("{\"a\":\"\xc0\xaf\"}", "an overlong encoding");
    M("{\"a\":\"\xed\xa0\x80\"}", "an encoded surrogate");
    M("{\"a\":\"\xe4\xb8\"}", "a character cut short");
    M("{\"a\":\"\xf4\x90\x80\x80\"}", "beyond U+10FFFF");
    M("{\"messages\":[{\"content\":\"\xe4\xb8\"}]}",
      "bad UTF-8 inside a priced text");
    M("{} x", "data after the object");
    M("{}{}", "two objects");
    M("\xef\xbb\xbf{}", "a byte order mark");
    M("{\"a\":[1,]}", "a trailing comma in an array");
    M("{\"a\":[,1]}", "a leading comma in an array");
    M("{\"a\":\"unterminated", "an unterminated string");
    M("{\"a\":1 \"b\":2}", "no comma");

    ok(body("{\"a\":\"\\ud800\",\"b\":[],\"c\":{},\"d\":-0.5e+3,\"e\":true,"
            "\"f\":false,\"g\":null}", &claude, &e) == 0,
       "every JSON value, a lone surrogate escape: valid");

    /* nesting: 256 levels in all are allowed, 257 and 10,000 are not */

    deep = malloc(100000);

    n = nest(deep, 256);
    ok(ngx_bedrock_estimate_body((unsigned char *) deep, n, &claude, &e, err)
       == 0, "256 levels of nesting");

    n = nest(deep, 257);
    malformed(deep, n, "257 levels of nesting");

    n = 0;
    deep[n++] = '{';
    memcpy(deep + n, "\"a\":", 4);
    n += 4;

    for (i = 0; i < 10000; i++) {
        deep[n++] = (i % 2) ? '{' : '[';

        if (i % 2) {
            memcpy(deep + n, "\"k\":", 4);
            n += 4;
        }
    }

    malformed(deep, n, "10,000 levels of nesting");
    ok(strstr(err, "nested deeper than 256") != NULL,
       "the message says why");

    free(deep);

    /* every prefix of a valid body is refused, cleanly */

    good = "{\"system\":[{\"text\":\"x\"}],\"messages\":[{\"role\":\"user\","
           "\"content\":[{\"text\":\"caf\xc3\xa9 \\u00e9\\n\"},{\"toolUse\":"
           "{\"toolUseId\":\"t\",\"name\":\"n\",\"input\":{\"a\":[1,2.5e3,"
           "true,null]}}}]}],\"inferenceConfig\":{\"maxTokens\":10}}";
    n = strlen(good);
    bad = 0;

    for (i = 0; i < n; i++) {
        rc = ngx_bedrock_estimate_body((const unsigned char *) good, i,
                                       &claude, &e, err);

        if (rc != -1 || strncmp(err, "Malformed input request: ", 25) != 0) {
            bad++;
        }
    }

    ok(bad == 0 && body(good, &claude, &e) == 0,
       "all %zu prefixes of a valid body are refused with a message", n);
}


static void
test_huge(void)
{
    int                     rc;
    size_t                  n;
    char                   *b;
    ngx_bedrock_estimate_t  e;
    static const char       words[] =
        "The gateway prices every request before it is sent, and queues "
        "the ones that do not fit. ";

    /* a 5 MB text in one message */

    b = malloc(6000000);
    n = 0;
    memcpy(b, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"",
           48);
    n = 48;

    while (n < 5000000) {
        memcpy(b + n, words, sizeof(words) - 1);
        n += sizeof(words) - 1;
    }

    memcpy(b + n, "\"}]}]}", 6);
    n += 6;

    rc = ngx_bedrock_estimate_body((unsigned char *) b, n, &claude, &e, err);
    ok(rc == 0 && e.text_tokens > 5000000 / 6 && e.text_tokens < 5000000 / 3,
       "a 5 MB text (%llu tokens)", (unsigned long long) e.text_tokens);

    free(b);
}


/*
 * Long texts, priced by sample past their first 8 KB: close to every
 * byte priced, the same bytes always the same count, a string in a body
 * the same as the same content alone, and every byte still checked.
 */

/* a long text of varied pieces: prose, code, JSON, CJK, escapes */
static size_t
long_text(char *out, size_t want, unsigned seed, int json)
{
    size_t       n, k;
    const char  *pc;
    static const char  *prose[] = {
        "The gateway prices every request before it is sent. ",
        "Quotas are kept per model in shared memory, ",
        "and a request that would not fit waits for its turn. ",
        "    if (rc == NGX_OK) {\n        return ctx->status;\n    }\n",
        "{\"id\": 4711, \"name\": \"read_file\", \"ok\": true}, ",
        "2026-11-29T04:47:59Z GET /v1/items 200 1834 0.004\n",
        "\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe3\x81\xaf\xe6\x97\xa5\xe6"
        "\x9c\xac\xe3\x81\xae\xe9\xa6\x96\xe9\x83\xbd\xe3\x81\xa7\xe3\x81"
        "\x99\xe3\x80\x82 ",
        "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8"
        "\xd1\x80! ",
        "Tab\tseparated\tvalues \"quoted\" and a back\\slash. "
    };

    n = 0;
    srand(seed);

    while (n < want) {
        pc = prose[rand() % (sizeof(prose) / sizeof(char *))];

        for (k = 0; pc[k] && n < want + 64; k++) {
            if (json && (pc[k] == '"' || pc[k] == '\\')) {
                out[n++] = '\\';
                out[n++] = pc[k];

            } else if (json && pc[k] == '\n') {
                out[n++] = '\\';
                out[n++] = 'n';

            } else if (json && pc[k] == '\t') {
                memcpy(out + n, "\\u0009", 6);
                n += 6;

            } else {
                out[n++] = pc[k];
            }
        }
    }

    out[n] = '\0';

    return n;
}


static void
test_sampling(void)
{
    int                     rc, close, same, equal;
    char                   *t, *b;
    size_t                  n, i, len, at;
    uint64_t                a, w, j;
    double                  d, worst;
    ngx_bedrock_estimate_t  e;
    static const char       img[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"image\":"
        "{\"format\":\"png\",\"source\":{\"bytes\":\"";

    t = malloc(300000);
    b = malloc(300100);

    /* up to 8 KB every byte is priced */

    equal = 1;

    for (len = 100; len <= 8192; len += 1009) {
        n = long_text(t, len, (unsigned) len, 0);
        equal &= (ngx_bedrock_estimate_text((unsigned char *) t, n)
                  == ngx_bedrock_estimate_text_whole((unsigned char *) t, n,
                                                     0));
    }

    n = long_text(t, 8100, 3, 1);
    equal &= (ngx_bedrock_estimate_json_text((unsigned char *) t, n)
              == ngx_bedrock_estimate_text_whole((unsigned char *) t, n, 1));

    ok(equal, "texts of up to 8 KB: every byte priced");

    /* longer ones by sample: close to the whole count */

    close = 1;
    worst = 0;

    for (i = 0; i < 40; i++) {
        n = long_text(t, 9000 + i * 7000, (unsigned) i + 100, i & 1);
        a = (i & 1) ? ngx_bedrock_estimate_json_text((unsigned char *) t, n)
                    : ngx_bedrock_estimate_text((unsigned char *) t, n);
        w = ngx_bedrock_estimate_text_whole((unsigned char *) t, n, i & 1);
        d = ((double) a - (double) w) / (double) w;
        worst = (d < 0 ? -d : d) > worst ? (d < 0 ? -d : d) : worst;
        close &= (d > -0.04 && d < 0.04);
    }

    ok(close, "40 texts of 9 to 280 KB by sample: within 4%% of every byte "
       "priced (worst %.2f%%)", 100 * worst);

    /* the same bytes, the same count; raw and JSON alike where the same */

    n = long_text(t, 200000, 7, 0);

    for (i = 0; i < n; i++) {
        if (t[i] == '"' || t[i] == '\\' || (unsigned char) t[i] < 0x20) {
            t[i] = '_';
        }
    }

    a = ngx_bedrock_estimate_text((unsigned char *) t, n);

    ok(a == ngx_bedrock_estimate_text((unsigned char *) t, n)
       && a == ngx_bedrock_estimate_json_text((unsigned char *) t, n),
       "200 KB: the same count twice, and as a JSON string (%llu)",
       (unsigned long long) a);

    /*
     * In a body, a long string costs what its content alone costs, the
     * head ending anywhere: on an escape, inside a character, right
     * after one.
     */

    same = 1;

    for (at = 0; at < 12; at++) {
        memcpy(b, "{\"prompt\":\"", 11);

        /* plain words, then something that spans byte 8192 */
        for (n = 0; n < 8190 - at / 3; n++) {
            b[11 + n] = "lorem ipsum dolor "[n % 18];
        }

        if (at % 3 == 0) {
            memcpy(b + 11 + n, "\\u00e9\\n\\\"", 10);
            n += 10;

        } else if (at % 3 == 1) {
            memcpy(b + 11 + n, "\xe6\x9d\xb1\xf0\x9f\x98\x80", 7);
            n += 7;
        }

        n += long_text(b + 11 + n, 30000 + at * 2711, (unsigned) at, 1);
        memcpy(b + 11 + n, "\"}", 3);

        rc = body(b, &titan, &e);
        j = ngx_bedrock_estimate_json_text((unsigned char *) b + 11, n);

        if (rc != 0 || e.text_tokens != j) {
            diag("at %zu: rc %d (%s), %llu in the body, %llu alone", at, rc,
                 err, (unsigned long long) e.text_tokens,
                 (unsigned long long) j);
            same = 0;
        }
    }

    ok(same, "12 long strings in a body cost what their content costs");

    /* every byte of the sampled part is still checked */

    memcpy(b, "{\"prompt\":\"", 11);
    n = long_text(b + 11, 100000, 9, 1);
    memcpy(b + 11 + n, "\"}", 3);

    ok(body(b, &titan, &e) == 0, "a 100 KB prompt is valid");

    b[11 + 60000] = '\xff';
    b[11 + 60001] = 'a';
    ok(body(b, &titan, &e) == -1
       && strstr(err, "invalid UTF-8 in a string at byte 60011") != NULL,
       "invalid UTF-8 at byte 60,011 of it: %s", err);

    b[11 + 60000] = '\\';
    b[11 + 60001] = 'x';
    ok(body(b, &titan, &e) == -1
       && strstr(err, "invalid escape at byte 60011") != NULL,
       "a bad escape there: %s", err);

    b[11 + 60000] = '\x01';
    ok(body(b, &titan, &e) == -1
       && strstr(err, "control character in a string at byte 60011")
          != NULL,
       "a control byte there: %s", err);

    b[11 + 60000] = 'a';
    b[11 + n] = 'a';
    b[11 + n + 1] = 'a';
    ok(body(b, &titan, &e) == -1
       && strstr(err, "unterminated string") != NULL,
       "a 100 KB string that does not end: %s", err);

    /*
     * Strings that are not priced (base64) are passed 16 bytes at a
     * step: a bad byte is found at any place of the 16.
     */

    same = 1;
    n = sizeof(img) - 1;

    for (at = 0; at < 40; at++) {
        memcpy(b, img, n);

        for (i = 0; i < 4000; i++) {
            b[n + i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789+/"[(i * 7) % 64];
        }

        memcpy(b + n + 4000, "\"}}}]}]}", 9);

        if (at < 39) {
            b[n + 2000 + at] = (at % 3 == 0) ? '\x1f'
                               : (at % 3 == 1) ? '\x80' : '\x7f';
        }

        rc = body(b, &claude, &e);

        if (at == 39 || at % 3 == 2) {
            same &= (rc == 0 && e.images == 1);

        } else {
            snprintf(t, 100, "at byte %zu,", n + 2000 + at);
            same &= (rc == -1 && strstr(err, t) != NULL);
        }
    }

    ok(same, "base64 with a control or non-ASCII byte at 39 places: "
       "refused at that byte; DEL and none: accepted");

    free(t);
    free(b);
}


int
main(void)
{
    model(&claude, "us.anthropic.claude-sonnet-4-20250514-v1:0");
    model(&titan, "amazon.titan-text-express-v1");
    model(&llama, "meta.llama3-70b-instruct-v1:0");
    model(&unknown, "some.model-v1");

    diag("text");
    test_text();
    diag("images");
    test_images();
    diag("request shapes");
    test_shapes();
    diag("bodies that are not valid");
    test_malformed();
    diag("huge bodies");
    test_huge();
    diag("long texts by sample");
    test_sampling();

    return done_testing();
}
