/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Model ids in every form a client sends: the path, percent-decoding,
 * geography prefixes, ARNs; the family, output maximum and burndown that
 * the limiter reserves by.
 */


#include <string.h>

#include "tap.h"
#include "ngx_bedrock_model.h"


static int
parse(const char *path, ngx_bedrock_model_t *m, unsigned char *buf)
{
    return ngx_bedrock_model_parse_path((const unsigned char *) path,
                                        strlen(path), buf, m);
}


static void
lookup(const char *id, ngx_bedrock_family_e family, uint32_t max,
    uint32_t burndown)
{
    ngx_bedrock_model_t  m;

    memset(&m, 0, sizeof(m));
    ngx_bedrock_model_lookup((const unsigned char *) id, strlen(id), &m);

    ok(m.family == family && m.default_max_tokens == max
       && m.burndown == burndown,
       "%s: %s, max %u, burndown %u (got %s, %u, %u)", id,
       ngx_bedrock_family_name(family), max, burndown,
       ngx_bedrock_family_name(m.family), m.default_max_tokens, m.burndown);
}


int
main(void)
{
    unsigned char        buf[512];
    ngx_bedrock_model_t  m;

    diag("paths");

    ok(parse("/model/anthropic.claude-3-7-sonnet-20250219-v1:0/invoke", &m,
             buf) == 0
       && m.api == NGX_BEDROCK_API_INVOKE
       && m.id_len == strlen("anthropic.claude-3-7-sonnet-20250219-v1:0")
       && memcmp(m.id, "anthropic.claude-3-7-sonnet-20250219-v1:0",
                 m.id_len) == 0
       && m.family == NGX_BEDROCK_FAMILY_ANTHROPIC && m.version == 307
       && m.default_max_tokens == 64000 && m.burndown == 5,
       "a base id with a literal ':' on /invoke");

    ok(parse("/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/"
             "converse-stream", &m, buf) == 0
       && m.api == NGX_BEDROCK_API_CONVERSE_STREAM
       && memcmp(m.id, "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                 m.id_len) == 0
       && m.profile && m.version == 305 && m.default_max_tokens == 8192
       && m.burndown == 1,
       "a cross-Region profile, %%3A decoded, on /converse-stream");

    ok(parse("/model/anthropic.claude-3-haiku-20240307-v1%3a0/"
             "invoke-with-response-stream", &m, buf) == 0
       && m.api == NGX_BEDROCK_API_INVOKE_STREAM
       && memcmp(m.id, "anthropic.claude-3-haiku-20240307-v1:0",
                 m.id_len) == 0,
       "lowercase percent escapes, /invoke-with-response-stream");

    ok(parse("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
             "inference-profile%2Fus.anthropic.claude-sonnet-4-20250514-v1"
             "%3A0/converse", &m, buf) == 0
       && m.api == NGX_BEDROCK_API_CONVERSE
       && m.family == NGX_BEDROCK_FAMILY_ANTHROPIC && m.profile
       && m.version == 400 && m.default_max_tokens == 64000
       && m.burndown == 5,
       "an inference-profile ARN, fully encoded as the AWS SDKs send it");

    ok(parse("/model/arn:aws:bedrock:us-east-1::foundation-model/"
             "anthropic.claude-3-haiku-20240307-v1:0/invoke", &m, buf) == 0
       && m.family == NGX_BEDROCK_FAMILY_ANTHROPIC
       && m.default_max_tokens == 4096 && !m.profile && !m.opaque,
       "a foundation-model ARN with a literal '/'");

    ok(parse("/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3A"
             "application-inference-profile%2Fa1b2c3d4e5f6/converse", &m,
             buf) == 0
       && m.family == NGX_BEDROCK_FAMILY_OTHER && m.opaque
       && m.default_max_tokens == NGX_BEDROCK_DEFAULT_MAX_TOKENS
       && m.burndown == 1,
       "an application inference profile: the model cannot be known");

    ok(parse("/model/arn:aws:bedrock:us-east-1:123456789012:"
             "provisioned-model/abcdefghijkl/invoke", &m, buf) == 0
       && m.opaque && m.family == NGX_BEDROCK_FAMILY_OTHER,
       "a provisioned-model ARN is opaque too");

    ok(parse("/model/arn:aws:bedrock:us-east-1:123456789012:custom-model/"
             "amazon.titan-text-express-v1:0:8k/abcdef/invoke", &m, buf) == 0
       && m.family == NGX_BEDROCK_FAMILY_AMAZON
       && m.default_max_tokens == 8192,
       "a custom-model ARN is priced by its base model");

    ok(parse("/model//invoke", &m, buf) == -1, "an empty model id");
    ok(parse("/model/x/unknown", &m, buf) == -1, "an unknown operation");
    ok(parse("/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens",
             &m, buf) == 0
       && m.api == NGX_BEDROCK_API_COUNT_TOKENS
       && m.family == NGX_BEDROCK_FAMILY_ANTHROPIC
       && strcmp(ngx_bedrock_api_name(m.api), "count-tokens") == 0,
       "count-tokens: an operation of its own");
    ok(parse("/model/x/count_tokens", &m, buf) == -1,
       "count_tokens (underscore): unknown");
    ok(parse("/models/x/invoke", &m, buf) == -1, "not /model/");
    ok(parse("/model/x/invoke/", &m, buf) == -1, "a trailing slash");
    ok(parse("/model/x", &m, buf) == -1, "no operation");
    ok(parse("/model/a%zzb/invoke", &m, buf) == -1, "a bad percent escape");
    ok(parse("/model/ab%2/invoke", &m, buf) == -1, "a cut percent escape");
    ok(parse("/model/a%00b/invoke", &m, buf) == -1, "an encoded NUL");
    ok(parse("/model/a%20b/invoke", &m, buf) == -1, "an encoded space");
    ok(parse("/model/a/b/invoke", &m, buf) == -1,
       "a '/' in an id that is no ARN");
    ok(parse("/model/arn:aws:bedrock:x//y/invoke", &m, buf) == -1,
       "an empty segment in an ARN");

    diag("Claude, every generation");

    lookup("anthropic.claude-instant-v1", NGX_BEDROCK_FAMILY_ANTHROPIC,
           4096, 1);
    lookup("anthropic.claude-v2:1", NGX_BEDROCK_FAMILY_ANTHROPIC, 4096, 1);
    lookup("anthropic.claude-3-haiku-20240307-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 4096, 1);
    lookup("anthropic.claude-3-opus-20240229-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 4096, 1);
    lookup("anthropic.claude-3-5-sonnet-20240620-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 8192, 1);
    lookup("anthropic.claude-3-5-sonnet-20241022-v2:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 8192, 1);
    lookup("us.anthropic.claude-3-5-haiku-20241022-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 8192, 1);
    lookup("anthropic.claude-3-7-sonnet-20250219-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 64000, 5);
    lookup("eu.anthropic.claude-sonnet-4-20250514-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 64000, 5);
    lookup("apac.anthropic.claude-opus-4-20250514-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 32000, 5);
    lookup("us.anthropic.claude-opus-4-1-20250805-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 32000, 5);
    lookup("global.anthropic.claude-sonnet-4-5-20250929-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 64000, 5);
    lookup("jp.anthropic.claude-haiku-4-5-20251001-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 64000, 5);
    lookup("au.anthropic.claude-opus-4-5-20251101-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 64000, 5);
    lookup("us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 64000, 5);
    lookup("global.anthropic.claude-opus-4-6-v1",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 128000, 5);
    lookup("anthropic.claude-sonnet-4-6", NGX_BEDROCK_FAMILY_ANTHROPIC,
           128000, 5);
    lookup("anthropic.claude-opus-5-20270101-v1:0",
           NGX_BEDROCK_FAMILY_ANTHROPIC, 128000, 5);

    memset(&m, 0, sizeof(m));
    ngx_bedrock_model_lookup((const unsigned char *)
                             "anthropic.claude-opus-4-1-20250805-v1:0", 39,
                             &m);
    ok(m.version == 401 && !m.profile, "Opus 4.1 reads as version 401");

    diag("the other families");

    lookup("amazon.nova-micro-v1:0", NGX_BEDROCK_FAMILY_AMAZON, 10000, 1);
    lookup("us.amazon.nova-pro-v1:0", NGX_BEDROCK_FAMILY_AMAZON, 10000, 1);
    lookup("us.amazon.nova-premier-v1:0", NGX_BEDROCK_FAMILY_AMAZON,
           32000, 1);
    lookup("global.amazon.nova-2-lite-v1:0", NGX_BEDROCK_FAMILY_AMAZON,
           65536, 1);
    lookup("amazon.titan-text-express-v1", NGX_BEDROCK_FAMILY_AMAZON,
           8192, 1);
    lookup("amazon.titan-text-lite-v1", NGX_BEDROCK_FAMILY_AMAZON, 4096, 1);
    lookup("amazon.titan-text-premier-v1:0", NGX_BEDROCK_FAMILY_AMAZON,
           3072, 1);
    lookup("amazon.titan-embed-text-v2:0", NGX_BEDROCK_FAMILY_AMAZON, 0, 1);
    lookup("meta.llama3-70b-instruct-v1:0", NGX_BEDROCK_FAMILY_META,
           2048, 1);
    lookup("us.meta.llama3-3-70b-instruct-v1:0", NGX_BEDROCK_FAMILY_META,
           2048, 1);
    lookup("us.meta.llama4-maverick-17b-instruct-v1:0",
           NGX_BEDROCK_FAMILY_META, 8192, 1);
    lookup("mistral.mistral-large-2407-v1:0", NGX_BEDROCK_FAMILY_MISTRAL,
           8192, 1);
    lookup("mistral.mixtral-8x7b-instruct-v0:1", NGX_BEDROCK_FAMILY_MISTRAL,
           8192, 1);
    lookup("cohere.command-r-plus-v1:0", NGX_BEDROCK_FAMILY_COHERE, 4000, 1);
    lookup("cohere.embed-english-v3", NGX_BEDROCK_FAMILY_COHERE, 0, 1);
    lookup("ai21.jamba-1-5-large-v1:0", NGX_BEDROCK_FAMILY_AI21, 4096, 1);
    lookup("ai21.j2-ultra-v1", NGX_BEDROCK_FAMILY_AI21, 8191, 1);
    lookup("us.deepseek.r1-v1:0", NGX_BEDROCK_FAMILY_DEEPSEEK, 32768, 1);
    lookup("deepseek.v3-v1:0", NGX_BEDROCK_FAMILY_DEEPSEEK, 8192, 1);
    lookup("openai.gpt-oss-120b-1:0", NGX_BEDROCK_FAMILY_OTHER,
           NGX_BEDROCK_DEFAULT_MAX_TOKENS, 1);
    lookup("some-model-nobody-knows", NGX_BEDROCK_FAMILY_OTHER,
           NGX_BEDROCK_DEFAULT_MAX_TOKENS, 1);
    lookup("", NGX_BEDROCK_FAMILY_OTHER, NGX_BEDROCK_DEFAULT_MAX_TOKENS, 1);
    lookup("anthropic", NGX_BEDROCK_FAMILY_OTHER,
           NGX_BEDROCK_DEFAULT_MAX_TOKENS, 1);
    lookup("arn:aws:bedrock", NGX_BEDROCK_FAMILY_OTHER,
           NGX_BEDROCK_DEFAULT_MAX_TOKENS, 1);

    /* names */

    ok(strcmp(ngx_bedrock_family_name(NGX_BEDROCK_FAMILY_DEEPSEEK),
              "deepseek") == 0
       && strcmp(ngx_bedrock_family_name(NGX_BEDROCK_FAMILY_LAST),
                 "other") == 0,
       "family names");

    ok(strcmp(ngx_bedrock_api_name(NGX_BEDROCK_API_CONVERSE_STREAM),
              "converse-stream") == 0
       && strcmp(ngx_bedrock_api_name(NGX_BEDROCK_API_UNKNOWN),
                 "unknown") == 0,
       "operation names");

    return done_testing();
}
