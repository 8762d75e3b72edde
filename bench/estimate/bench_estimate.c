/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The estimator's bench: accuracy against the tokenizer's counts, speed
 * of the text scan, and parse + estimate of a realistic 1 MB body.
 *
 *   bench_estimate report LIST      the figures bench/estimate/run prints
 *   bench_estimate features LIST    the scan's counts per sample, for
 *                                   fit.js
 *
 * LIST has one sample a line: id, category, tokenizer count, file
 * (tab-separated).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_bedrock_estimate.h"


typedef struct {
    char            id[16];
    char            category[16];
    uint64_t        tokens;
    uint64_t        estimate;
    uint64_t        whole;          /* every byte priced, no sample */
    double          error;          /* (estimate - tokens) / tokens */
    unsigned char  *text;
    size_t          len;
} sample_t;


typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          cap;
} buf_t;


static sample_t  *samples;
static size_t     nsamples;


/*
 * Time is the thread's CPU time: on a shared machine the wall clock
 * also counts the time other processes had the CPU.
 */
static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);

        if (b->data == NULL) {
            perror("realloc");
            exit(1);
        }
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
}


static void
buf_str(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}


/* at most n bytes of text, not cutting a UTF-8 character */
static size_t
utf8_cut(const unsigned char *p, size_t len, size_t n)
{
    if (len <= n) {
        return len;
    }

    while (n > 0 && (p[n] & 0xc0) == 0x80) {
        n--;
    }

    return n;
}


/* text as the content of a JSON string */
static void
buf_json(buf_t *b, const unsigned char *p, size_t n)
{
    size_t  i;
    char    esc[8];

    for (i = 0; i < n; i++) {
        switch (p[i]) {
        case '"':
            buf_str(b, "\\\"");
            break;
        case '\\':
            buf_str(b, "\\\\");
            break;
        case '\n':
            buf_str(b, "\\n");
            break;
        case '\t':
            buf_str(b, "\\t");
            break;
        case '\r':
            buf_str(b, "\\r");
            break;
        default:
            if (p[i] < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
                buf_str(b, esc);

            } else {
                buf_add(b, p + i, 1);
            }
        }
    }
}


static void
load(const char *list)
{
    FILE    *f, *t;
    char     line[4096], *id, *cat, *tok, *path, *save;
    long     n;
    size_t   cap;

    f = fopen(list, "r");
    if (f == NULL) {
        perror(list);
        exit(1);
    }

    cap = 0;

    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';

        id = strtok_r(line, "\t", &save);
        cat = strtok_r(NULL, "\t", &save);
        tok = strtok_r(NULL, "\t", &save);
        path = strtok_r(NULL, "\t", &save);

        if (path == NULL || tok[0] == '\0') {
            continue;
        }

        t = fopen(path, "rb");
        if (t == NULL) {
            continue;
        }

        if (nsamples == cap) {
            cap = cap ? cap * 2 : 256;
            samples = realloc(samples, cap * sizeof(sample_t));
        }

        fseek(t, 0, SEEK_END);
        n = ftell(t);
        fseek(t, 0, SEEK_SET);

        samples[nsamples].text = malloc(n + 1);
        samples[nsamples].len = fread(samples[nsamples].text, 1, n, t);
        fclose(t);

        snprintf(samples[nsamples].id, 16, "%s", id);
        snprintf(samples[nsamples].category, 16, "%s", cat);
        samples[nsamples].tokens = strtoull(tok, NULL, 10);
        nsamples++;
    }

    fclose(f);

    if (nsamples == 0) {
        fprintf(stderr, "no samples in %s\n", list);
        exit(1);
    }
}


static int
by_error(const void *a, const void *b)
{
    double  x, y;

    x = (*(const sample_t *const *) a)->error;
    y = (*(const sample_t *const *) b)->error;

    return x < y ? -1 : x > y;
}


static void
features(void)
{
    size_t    i, j;
    uint64_t  c[NGX_BEDROCK_TEXT_FEATURES];

    printf("id\tcategory\ttokens");

    for (j = 0; j < NGX_BEDROCK_TEXT_FEATURES; j++) {
        printf("\t%s", ngx_bedrock_text_feature_name(j));
    }

    printf("\n");

    for (i = 0; i < nsamples; i++) {
        ngx_bedrock_text_features(samples[i].text, samples[i].len, c);

        printf("%s\t%s\t%llu", samples[i].id, samples[i].category,
               (unsigned long long) samples[i].tokens);

        for (j = 0; j < NGX_BEDROCK_TEXT_FEATURES; j++) {
            printf("\t%llu", (unsigned long long) c[j]);
        }

        printf("\n");
    }
}


/*
 * A body as an agent sends it: a system prompt, then turns of user text,
 * assistant text, tool calls and tool results (code, JSON, logs), and a
 * small image, up to about 1 MB.
 */
static void
realistic_body(buf_t *b, size_t want)
{
    size_t          i, turn;
    sample_t       *s;
    static const char  png[] =
        "iVBORw0KGgoAAAANSUhEUgAAAyAAAAJYCAIAAAAVFBUnAAAADElEQVR4nGP4z8AA"
        "AAMBAQDJ/pLvAAAAAElFTkSuQmCC";

    buf_str(b, "{\"system\":[{\"text\":\"");
    buf_json(b, samples[0].text, utf8_cut(samples[0].text, samples[0].len,
                                          4000));
    buf_str(b, "\"}],\"messages\":[");

    for (i = 0, turn = 0; b->len < want; i = (i + 7) % nsamples, turn++) {
        s = &samples[i];

        if (turn) {
            buf_str(b, ",");
        }

        switch (turn % 4) {

        case 0:
            buf_str(b, "{\"role\":\"user\",\"content\":[{\"text\":\"");
            buf_json(b, s->text, s->len);
            buf_str(b, "\"}");

            if (turn == 8) {
                buf_str(b, ",{\"image\":{\"format\":\"png\",\"source\":"
                           "{\"bytes\":\"");
                buf_str(b, png);
                buf_str(b, "\"}}}");
            }

            buf_str(b, "]}");
            break;

        case 1:
            buf_str(b, "{\"role\":\"assistant\",\"content\":[{\"text\":\"");
            buf_json(b, s->text, utf8_cut(s->text, s->len, 2000));
            buf_str(b, "\"},{\"toolUse\":{\"toolUseId\":\"t");
            buf_add(b, s->id, strlen(s->id));
            buf_str(b, "\",\"name\":\"read_file\",\"input\":{\"path\":"
                       "\"/srv/app/main.py\",\"lines\":[1,200]}}}]}");
            break;

        case 2:
            buf_str(b, "{\"role\":\"user\",\"content\":[{\"toolResult\":"
                       "{\"toolUseId\":\"t");
            buf_add(b, samples[(i + nsamples - 7) % nsamples].id,
                    strlen(samples[(i + nsamples - 7) % nsamples].id));
            buf_str(b, "\",\"content\":[{\"text\":\"");
            buf_json(b, s->text, s->len);
            buf_str(b, "\"}],\"status\":\"success\"}}]}");
            break;

        default:
            buf_str(b, "{\"role\":\"assistant\",\"content\":[{\"text\":\"");
            buf_json(b, s->text, utf8_cut(s->text, s->len, 3000));
            buf_str(b, "\"}]}");
            break;
        }

        if (turn % 4 == 3 && b->len >= want) {
            break;
        }
    }

    if (turn % 4 != 3 && turn % 4 != 0) {
        buf_str(b, ",{\"role\":\"user\",\"content\":[{\"text\":\"go on\"}]}");
    }

    buf_str(b, "],\"inferenceConfig\":{\"maxTokens\":4096},"
               "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":"
               "\"read_file\",\"description\":\"Reads a file of the "
               "project.\",\"inputSchema\":{\"json\":{\"type\":\"object\","
               "\"properties\":{\"path\":{\"type\":\"string\"},\"lines\":"
               "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},"
               "\"required\":[\"path\"]}}}}]}}");
}


static void
report(void)
{
    int                     rc;
    char                    err[NGX_BEDROCK_ERROR_LEN];
    size_t                  i, j, k, within, over1k, under1k, rounds;
    size_t                  sampled;
    double                  t0, t, secs, best, sum, abs_sum, min_err, d;
    double                  d_sum, d_abs, d_min, d_max;
    uint64_t                bytes, sink;
    buf_t                   body;
    sample_t              **order;
    ngx_bedrock_model_t     m;
    ngx_bedrock_estimate_t  est;
    static const char      *cats[] = {
        "prose", "docs", "code", "json", "logs", "cjk", "intl", "mixed"
    };

    within = 0;
    over1k = 0;
    under1k = 0;
    bytes = 0;

    order = malloc(nsamples * sizeof(sample_t *));

    for (i = 0; i < nsamples; i++) {
        samples[i].estimate = ngx_bedrock_estimate_text(samples[i].text,
                                                        samples[i].len);
        samples[i].whole = ngx_bedrock_estimate_text_whole(samples[i].text,
                                                           samples[i].len,
                                                           0);
        samples[i].error = ((double) samples[i].estimate
                            - (double) samples[i].tokens)
                           / (double) (samples[i].tokens ? samples[i].tokens
                                                         : 1);
        within += (samples[i].error >= -0.1 && samples[i].error <= 0.1);

        if (samples[i].tokens > 1000) {
            over1k++;
            under1k += (samples[i].error < -0.1);
        }

        bytes += samples[i].len;
        order[i] = &samples[i];
    }

    qsort(order, nsamples, sizeof(sample_t *), by_error);

    printf("samples:            %zu (%zu over 1,000 tokens), %.1f MB\n",
           nsamples, over1k, bytes / 1e6);
    printf("within 10%%:         %.1f%% of samples (target: 90%%)\n",
           100.0 * within / nsamples);
    printf("under by over 10%%, samples over 1,000 tokens: %zu"
           " (target: 0)\n", under1k);

    printf("worst under-estimates over 1,000 tokens:\n");

    for (i = 0, k = 0; i < nsamples && k < 5; i++) {
        if (order[i]->tokens <= 1000) {
            continue;
        }

        printf("  %-6s %-6s %8llu tokens, estimate %8llu, %+6.1f%%\n",
               order[i]->id, order[i]->category,
               (unsigned long long) order[i]->tokens,
               (unsigned long long) order[i]->estimate,
               100 * order[i]->error);
        k++;
    }

    printf("worst over-estimates:\n");

    for (i = nsamples, k = 0; i > 0 && k < 3; i--, k++) {
        printf("  %-6s %-6s %8llu tokens, estimate %8llu, %+6.1f%%\n",
               order[i - 1]->id, order[i - 1]->category,
               (unsigned long long) order[i - 1]->tokens,
               (unsigned long long) order[i - 1]->estimate,
               100 * order[i - 1]->error);
    }

    /*
     * What pricing long texts by sample moved: the samples whose estimate
     * differs from the one with every byte priced, or that are long
     * enough to be sampled at all (over 8 KB).
     */

    sampled = 0;
    d_sum = 0;
    d_abs = 0;
    d_min = 0;
    d_max = 0;

    for (i = 0; i < nsamples; i++) {
        if (samples[i].len <= 8192 && samples[i].estimate == samples[i].whole)
        {
            continue;
        }

        d = ((double) samples[i].estimate - (double) samples[i].whole)
            / (double) (samples[i].whole ? samples[i].whole : 1);
        sampled++;
        d_sum += d;
        d_abs += d < 0 ? -d : d;
        d_min = d < d_min ? d : d_min;
        d_max = d > d_max ? d : d_max;
    }

    if (sampled) {
        printf("sampled:            %zu samples over 8 KB priced by sample;"
               " against every byte\n                    priced: mean"
               " %+.2f%%, mean absolute %.2f%%, from %+.2f%% to %+.2f%%\n",
               sampled, 100 * d_sum / sampled, 100 * d_abs / sampled,
               100 * d_min, 100 * d_max);
    }

    printf("per category:        n   mean    |mean|  min     within 10%%\n");

    for (j = 0; j < sizeof(cats) / sizeof(cats[0]); j++) {
        sum = 0;
        abs_sum = 0;
        min_err = 1e9;
        k = 0;
        rc = 0;

        for (i = 0; i < nsamples; i++) {
            if (strcmp(samples[i].category, cats[j]) != 0) {
                continue;
            }

            sum += samples[i].error;
            abs_sum += samples[i].error < 0 ? -samples[i].error
                                            : samples[i].error;
            min_err = samples[i].error < min_err ? samples[i].error
                                                 : min_err;
            rc += (samples[i].error >= -0.1 && samples[i].error <= 0.1);
            k++;
        }

        if (k) {
            printf("  %-16s %4zu  %+5.1f%%  %5.1f%%  %+5.1f%%  %5.1f%%\n",
                   cats[j], k, 100 * sum / k, 100 * abs_sum / k,
                   100 * min_err, 100.0 * rc / k);
        }
    }

    /*
     * The scan: every sample, over and over, in five windows of a quarter
     * of a second at least; the best window counts, as the least
     * disturbed by whatever else the machine runs.
     */

    sink = 0;
    secs = 1e9;
    rounds = 0;

    for (j = 0; j < 5; j++) {
        k = 0;
        t0 = now();

        do {
            for (i = 0; i < nsamples; i++) {
                sink += ngx_bedrock_estimate_text(samples[i].text,
                                                  samples[i].len);
            }

            k++;
            t = now();

        } while (t - t0 < 0.25);

        if ((t - t0) / k < secs) {
            secs = (t - t0) / k;
        }

        rounds += k;
    }

    /* parse + estimate of a 1 MB body: the best of many runs */

    memset(&body, 0, sizeof(buf_t));
    realistic_body(&body, 1000000);

    memset(&m, 0, sizeof(m));
    ngx_bedrock_model_lookup((const unsigned char *)
                             "us.anthropic.claude-sonnet-4-20250514-v1:0",
                             42, &m);

    rc = ngx_bedrock_estimate_body(body.data, body.len, &m, &est, err);

    if (rc != 0) {
        fprintf(stderr, "the 1 MB body was refused: %s\n", err);
        exit(1);
    }

    best = 1e9;
    t0 = now();

    for (i = 0; i < 2000 && (i < 20 || now() - t0 < 2.0); i++) {
        t = now();
        (void) ngx_bedrock_estimate_body(body.data, body.len, &m, &est, err);
        t = now() - t;
        best = t < best ? t : best;
    }

    printf("scan:               %.0f MB/s of CPU time (best of 5 windows,"
           " %zu rounds of %.1f MB)%s\n",
           bytes / secs / 1e6, rounds, bytes / 1e6, sink ? "" : " ");
    printf("1 MB body:          %.2f ms of CPU time, parse + estimate"
           " (%.2f MB,"
           " %u messages, %llu input tokens, cost %llu)\n",
           best * 1e3, body.len / 1e6, est.messages,
           (unsigned long long) est.input_tokens,
           (unsigned long long) est.cost);

    printf("estimate: within10=%.1f under10_over1k=%zu scan_mb_s=%.0f"
           " parse1m_ms=%.2f\n",
           100.0 * within / nsamples, under1k, bytes / secs / 1e6,
           best * 1e3);

    free(order);
    free(body.data);
}


int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s report|features LIST\n", argv[0]);
        return 2;
    }

    load(argv[2]);

    if (strcmp(argv[1], "features") == 0) {
        features();

    } else {
        report();
    }

    return 0;
}
