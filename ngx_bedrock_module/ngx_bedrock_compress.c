/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * A plan is a function of one number, the tokens to take away ("need"):
 * drop the fewest middle turns with which cutting texts down to the floor
 * could still take that many, then cut the texts of what is left in
 * rounds, as the header says, each cut only as deep as still needed.
 * What a cut or a drop saves is predicted with the estimator's own
 * functions; the body written from a plan is then estimated whole, and
 * when the estimate is still over the cap the plan is made again for
 * the difference.  A plan that cuts and drops all it may, still over the
 * cap, is the answer 413.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"
#include "ngx_bedrock_compress.h"


/* bodies estimated before the plan that cuts all it may is tried */
#define NGX_BEDROCK_COMPRESS_PASSES  8


typedef struct {
    uint64_t                      tokens;     /* as it came */
    uint64_t                      now;        /* in the current plan */
    uint64_t                      floor;      /* cut to the floor */
    size_t                        floor_head;
    size_t                        floor_tail;
    size_t                        head;
    size_t                        tail;
    unsigned                      eligible:1;
    unsigned                      cut:1;
    unsigned                      floor_cut:1;
} ngx_bedrock_compress_text_t;


typedef struct {
    uint64_t                      tokens;
    size_t                        text;
} ngx_bedrock_compress_rank_t;


typedef struct {
    ngx_bedrock_view_t            view;
    const ngx_bedrock_model_t    *model;
    const ngx_bedrock_compress_conf_t  *conf;

    ngx_bedrock_compress_text_t  *texts;
    ngx_bedrock_compress_rank_t  *rank;

    /* per message; drops are the messages [first, k) */
    unsigned char                *intact;
    unsigned char                *can_end;   /* k may end a drop */
    uint64_t                     *drop_cost; /* of [first, k) */
    uint64_t                     *drop_floor; /* floor savings in it */
    size_t                        first;
    size_t                        last;      /* the largest k, or first */
    uint64_t                      floor_savings;

    /* the plan */
    size_t                        k;
    unsigned                      maximal:1;
    unsigned                      costed:1;
} ngx_bedrock_compress_ctx_t;


static int ngx_bedrock_compress_setup(ngx_bedrock_compress_ctx_t *ctx);
static int ngx_bedrock_compress_bounds(ngx_bedrock_compress_ctx_t *ctx,
    size_t *tail);
static int ngx_bedrock_compress_clean(ngx_bedrock_compress_ctx_t *ctx,
    unsigned char *clean);
static int ngx_bedrock_compress_ref_cmp(const void *a, const void *b);
static int ngx_bedrock_compress_costs(ngx_bedrock_compress_ctx_t *ctx);
static uint64_t ngx_bedrock_compress_tokens(
    const ngx_bedrock_view_text_t *vt, const unsigned char *p, size_t len);
static void ngx_bedrock_compress_cut(ngx_bedrock_compress_ctx_t *ctx,
    size_t i, uint64_t target, size_t *head, size_t *tail,
    uint64_t *tokens);
static void ngx_bedrock_compress_plan(ngx_bedrock_compress_ctx_t *ctx,
    uint64_t need);
static int ngx_bedrock_compress_rank_cmp(const void *a, const void *b);
static int ngx_bedrock_compress_write(ngx_bedrock_compress_ctx_t *ctx,
    ngx_bedrock_compress_result_t *res, uint64_t *tokens, char *err);
static void ngx_bedrock_compress_free_ctx(ngx_bedrock_compress_ctx_t *ctx);


int
ngx_bedrock_compress_body(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, const ngx_bedrock_compress_conf_t *conf,
    ngx_bedrock_compress_result_t *res, char *err)
{
    int                          rc;
    uint64_t                     cap, need, tokens;
    unsigned                     pass;
    ngx_bedrock_estimate_t       est;
    ngx_bedrock_compress_ctx_t   ctx;

    memset(res, 0, sizeof(ngx_bedrock_compress_result_t));
    memset(&ctx, 0, sizeof(ngx_bedrock_compress_ctx_t));

    cap = conf->max_input_tokens;
    err[0] = '\0';

    if (ngx_bedrock_estimate_body(body, len, m, &est, err) != 0) {
        res->error = NGX_BEDROCK_COMPRESS_MALFORMED;

        if (err[0] == '\0') {
            /* the client is owed a reason whatever the estimator said */
            snprintf(err, NGX_BEDROCK_ERROR_LEN,
                     "Malformed input request: the body is not valid "
                     "JSON, please reformat your input and try again.");
        }

        return -1;
    }

    res->tokens_before = est.input_tokens;
    res->tokens_after = est.input_tokens;
    res->passes = 1;

    if (est.input_tokens <= cap) {
        return 0;
    }

    ctx.model = m;
    ctx.conf = conf;

    if (ngx_bedrock_view_parse(&ctx.view, body, len, m, err) != 0) {
        res->error = (ctx.view.tree == NULL)
                     ? NGX_BEDROCK_COMPRESS_MALFORMED
                     : NGX_BEDROCK_COMPRESS_FAILED;
        ngx_bedrock_view_free(&ctx.view);
        return -1;
    }

    if (ctx.view.shape == NGX_BEDROCK_SHAPE_UNKNOWN
        || ctx.view.ntexts + ctx.view.nmessages == 0)
    {
        ngx_bedrock_view_free(&ctx.view);
        res->error = NGX_BEDROCK_COMPRESS_TOO_LARGE;
        snprintf(err, NGX_BEDROCK_ERROR_LEN,
                 "Input is too long: estimated at %llu input tokens, over "
                 "the gateway's limit of %llu, and the gateway cannot "
                 "shorten a request of this shape.",
                 (unsigned long long) est.input_tokens,
                 (unsigned long long) cap);
        return -1;
    }

    if (ngx_bedrock_compress_setup(&ctx) != 0) {
        goto failed;
    }

    need = est.input_tokens - cap;

    for (pass = 0; pass <= NGX_BEDROCK_COMPRESS_PASSES; pass++) {

        if (pass == NGX_BEDROCK_COMPRESS_PASSES) {
            /* the plan that cuts and drops all it may */
            need = (uint64_t) -1 / 4;
        }

        /*
         * What dropping each run of turns would save is only asked of the
         * estimator when cutting cannot be enough: a pass over the body.
         */

        if (need > ctx.floor_savings && !ctx.costed
            && ctx.last > ctx.first)
        {
            if (ngx_bedrock_compress_costs(&ctx) != 0) {
                goto failed;
            }

            ctx.costed = 1;
        }

        ngx_bedrock_compress_plan(&ctx, need);

        rc = ngx_bedrock_compress_write(&ctx, res, &tokens, err);
        res->passes++;

        if (rc != 0) {
            goto failed;
        }

        if (tokens <= cap) {
            res->tokens_after = tokens;
            ngx_bedrock_compress_free_ctx(&ctx);
            return 0;
        }

        ngx_bedrock_compress_free(res);

        if (ctx.maximal) {
            break;
        }

        /*
         * The estimate of the whole body says how far the plan was off;
         * the step grows with the passes, for an estimate that moves
         * less than the parts predicted.
         */
        need += (tokens - cap) * (pass + 2) / 2
                + (uint64_t) (pass + 1) * (pass + 1);
    }

    ngx_bedrock_compress_free_ctx(&ctx);

    memset(res, 0, sizeof(ngx_bedrock_compress_result_t));
    res->tokens_before = est.input_tokens;
    res->tokens_after = est.input_tokens;
    res->error = NGX_BEDROCK_COMPRESS_TOO_LARGE;

    snprintf(err, NGX_BEDROCK_ERROR_LEN,
             "Input is too long: estimated at %llu input tokens, over the "
             "gateway's limit of %llu, and it cannot be shortened below "
             "%llu without touching the system prompt, the first user "
             "message or the latest %u messages.",
             (unsigned long long) est.input_tokens,
             (unsigned long long) cap, (unsigned long long) tokens,
             conf->keep_turns ? conf->keep_turns : 1);

    return -1;

failed:

    ngx_bedrock_compress_free_ctx(&ctx);
    ngx_bedrock_compress_free(res);

    res->error = NGX_BEDROCK_COMPRESS_FAILED;
    snprintf(err, NGX_BEDROCK_ERROR_LEN,
             "The gateway failed to shorten the request.");

    return -1;
}


void
ngx_bedrock_compress_free(ngx_bedrock_compress_result_t *res)
{
    free(res->body);

    res->body = NULL;
    res->len = 0;
}


static void
ngx_bedrock_compress_free_ctx(ngx_bedrock_compress_ctx_t *ctx)
{
    ngx_bedrock_view_free(&ctx->view);

    free(ctx->texts);
    free(ctx->rank);
    free(ctx->intact);
    free(ctx->can_end);
    free(ctx->drop_cost);
    free(ctx->drop_floor);

    ctx->texts = NULL;
    ctx->rank = NULL;
    ctx->intact = NULL;
    ctx->can_end = NULL;
    ctx->drop_cost = NULL;
    ctx->drop_floor = NULL;
}


/*
 * What may change: which messages stay intact, where a drop may end, what
 * each text weighs as it is and cut to the floor, and what dropping each
 * run of messages would save.
 */

static int
ngx_bedrock_compress_setup(ngx_bedrock_compress_ctx_t *ctx)
{
    size_t                        i, n, tail, msg;
    uint64_t                      floor_in;
    ngx_bedrock_view_t           *v;
    ngx_bedrock_view_text_t      *vt;
    ngx_bedrock_compress_text_t  *t;

    v = &ctx->view;
    n = v->nmessages;

    ctx->texts = calloc(v->ntexts + 1, sizeof(ngx_bedrock_compress_text_t));
    ctx->rank = calloc(v->ntexts + 1, sizeof(ngx_bedrock_compress_rank_t));
    ctx->intact = calloc(n + 1, 1);
    ctx->can_end = calloc(n + 1, 1);
    ctx->drop_cost = calloc(n + 1, sizeof(uint64_t));
    ctx->drop_floor = calloc(n + 1, sizeof(uint64_t));

    if (ctx->texts == NULL || ctx->rank == NULL || ctx->intact == NULL
        || ctx->can_end == NULL || ctx->drop_cost == NULL
        || ctx->drop_floor == NULL)
    {
        return -1;
    }

    if (ngx_bedrock_compress_bounds(ctx, &tail) != 0) {
        return -1;
    }

    for (i = 0; i < v->ntexts; i++) {
        vt = &v->texts[i];
        t = &ctx->texts[i];

        t->tokens = ngx_bedrock_compress_tokens(vt,
                                                v->body + vt->inner.start,
                                                vt->inner.end
                                                - vt->inner.start);
        t->now = t->tokens;
        t->floor = t->tokens;

        if (vt->message != NGX_BEDROCK_VIEW_NONE && ctx->intact[vt->message])
        {
            continue;
        }

        t->eligible = 1;

        if (t->tokens > NGX_BEDROCK_COMPRESS_FLOOR) {
            ngx_bedrock_compress_cut(ctx, i, NGX_BEDROCK_COMPRESS_FLOOR,
                                     &t->floor_head, &t->floor_tail,
                                     &t->floor);
            t->floor_cut = (t->floor < t->tokens);

            if (!t->floor_cut) {
                t->floor = t->tokens;
            }
        }

        ctx->floor_savings += t->tokens - t->floor;
    }

    /* the floor savings of [first, k), for every k */

    if (ctx->last > ctx->first) {
        floor_in = 0;

        for (msg = ctx->first; msg < ctx->last; msg++) {
            for (i = v->messages[msg].text;
                 i < v->messages[msg].text + v->messages[msg].ntexts;
                 i++)
            {
                floor_in += ctx->texts[i].tokens - ctx->texts[i].floor;
            }

            ctx->drop_floor[msg + 1] = floor_in;
        }
    }

    return 0;
}


/*
 * Intact: the messages up to the first user message (chat shapes may
 * open with system messages), system messages anywhere, and the tail:
 * the latest keep_turns messages and all from the latest user message on.
 * A drop starts right after the first user message and ends before an
 * assistant message, at boundaries that no tool call and its result
 * straddle, so the messages that stay still alternate and pair.
 */

static int
ngx_bedrock_compress_bounds(ngx_bedrock_compress_ctx_t *ctx, size_t *tail)
{
    size_t               i, n, f, last_user, keep;
    unsigned char       *clean;
    ngx_bedrock_view_t  *v;

    v = &ctx->view;
    n = v->nmessages;

    keep = ctx->conf->keep_turns ? ctx->conf->keep_turns : 1;

    f = NGX_BEDROCK_VIEW_NONE;
    last_user = NGX_BEDROCK_VIEW_NONE;

    for (i = 0; i < n; i++) {
        if (v->messages[i].role == NGX_BEDROCK_ROLE_USER) {
            if (f == NGX_BEDROCK_VIEW_NONE) {
                f = i;
            }

            last_user = i;
        }
    }

    *tail = n > keep ? n - keep : 0;

    if (last_user != NGX_BEDROCK_VIEW_NONE && last_user < *tail) {
        *tail = last_user;
    }

    for (i = 0; i < n; i++) {
        ctx->intact[i] = (f != NGX_BEDROCK_VIEW_NONE && i <= f)
                         || i >= *tail
                         || v->messages[i].role == NGX_BEDROCK_ROLE_SYSTEM;
    }

    ctx->first = (f == NGX_BEDROCK_VIEW_NONE) ? 0 : f + 1;
    ctx->last = ctx->first;

    if (f == NGX_BEDROCK_VIEW_NONE || ctx->first >= *tail) {
        return 0;
    }

    clean = calloc(n + 1, 1);
    if (clean == NULL) {
        return -1;
    }

    if (ngx_bedrock_compress_clean(ctx, clean) != 0) {
        free(clean);
        return -1;
    }

    if (clean[ctx->first]) {
        for (i = ctx->first + 1; i <= *tail; i++) {

            if (v->messages[i - 1].role == NGX_BEDROCK_ROLE_SYSTEM) {
                break;
            }

            if (clean[i] && i < n
                && v->messages[i].role == NGX_BEDROCK_ROLE_ASSISTANT)
            {
                ctx->can_end[i] = 1;
                ctx->last = i;
            }
        }
    }

    free(clean);

    return 0;
}


/* clean[b]: no tool call and its result lie on both sides of b */

static int
ngx_bedrock_compress_clean(ngx_bedrock_compress_ctx_t *ctx,
    unsigned char *clean)
{
    long                     *cover, depth;
    size_t                    i, j, n, lo, hi;
    ngx_bedrock_view_t       *v;
    ngx_bedrock_view_ref_t   *refs;

    v = &ctx->view;
    n = v->nmessages;

    cover = calloc(n + 2, sizeof(long));
    refs = malloc((v->nrefs + 1) * sizeof(ngx_bedrock_view_ref_t));

    if (cover == NULL || refs == NULL) {
        free(cover);
        free(refs);
        return -1;
    }

    if (v->nrefs) {
        memcpy(refs, v->refs, v->nrefs * sizeof(ngx_bedrock_view_ref_t));
    }

    qsort(refs, v->nrefs, sizeof(ngx_bedrock_view_ref_t),
          ngx_bedrock_compress_ref_cmp);

    for (i = 0; i < v->nrefs; i = j) {
        lo = refs[i].message;
        hi = refs[i].message;

        for (j = i + 1;
             j < v->nrefs && strcmp(refs[j].id, refs[i].id) == 0;
             j++)
        {
            hi = refs[j].message;
        }

        if (lo < hi) {
            cover[lo + 1]++;
            cover[hi + 1]--;
        }
    }

    for (i = 1; i < n; i++) {
        if (v->messages[i].bind_prev) {
            cover[i]++;
            cover[i + 1]--;
        }
    }

    depth = 0;

    for (i = 0; i <= n; i++) {
        depth += cover[i];
        clean[i] = (depth == 0);
    }

    free(cover);
    free(refs);

    return 0;
}


/* by id, then by message, so that a run of one id spans lo..hi */

static int
ngx_bedrock_compress_ref_cmp(const void *a, const void *b)
{
    int                            rc;
    const ngx_bedrock_view_ref_t  *x = a, *y = b;

    rc = strcmp(x->id, y->id);
    if (rc != 0) {
        return rc;
    }

    return (x->message > y->message) - (x->message < y->message);
}


/*
 * What a message weighs is asked of the estimator itself: the tokens of a
 * small request that holds it alone, less those of the same request
 * empty.  Its images, documents and overheads are then priced the way
 * the body will be.
 */

static int
ngx_bedrock_compress_costs(ngx_bedrock_compress_ctx_t *ctx)
{
    char                     err[NGX_BEDROCK_ERROR_LEN];
    size_t                   i, size, plen, slen, mlen;
    uint64_t                 base, cost, sum;
    const char              *prefix, *suffix;
    unsigned char           *buf;
    ngx_bedrock_view_t      *v;
    ngx_bedrock_estimate_t   est;

    v = &ctx->view;
    suffix = "]}";

    switch (v->shape) {

    case NGX_BEDROCK_SHAPE_CLAUDE:
        prefix = "{\"anthropic_version\":\"bedrock-2023-05-31\","
                 "\"max_tokens\":1,\"messages\":[";
        break;

    case NGX_BEDROCK_SHAPE_NOVA:
        prefix = "{\"schemaVersion\":\"messages-v1\",\"messages\":[";
        break;

    case NGX_BEDROCK_SHAPE_COHERE:
        prefix = "{\"message\":\"\",\"chat_history\":[";
        break;

    default:
        prefix = "{\"messages\":[";
        break;
    }

    plen = strlen(prefix);
    slen = strlen(suffix);
    size = 0;

    for (i = ctx->first; i < ctx->last; i++) {
        mlen = v->messages[i].span.end - v->messages[i].span.start;
        size = mlen > size ? mlen : size;
    }

    buf = malloc(plen + size + slen);
    if (buf == NULL) {
        return -1;
    }

    memcpy(buf, prefix, plen);
    memcpy(buf + plen, suffix, slen);

    base = 0;

    if (ngx_bedrock_estimate_body(buf, plen + slen, ctx->model, &est, err)
        == 0)
    {
        base = est.input_tokens;
    }

    sum = 0;

    for (i = ctx->first; i < ctx->last; i++) {
        mlen = v->messages[i].span.end - v->messages[i].span.start;

        memcpy(buf + plen, v->body + v->messages[i].span.start, mlen);
        memcpy(buf + plen + mlen, suffix, slen);

        if (ngx_bedrock_estimate_body(buf, plen + mlen + slen, ctx->model,
                                      &est, err)
            == 0)
        {
            cost = est.input_tokens > base ? est.input_tokens - base : 0;

        } else {
            cost = ngx_bedrock_estimate_text(buf + plen, mlen);
        }

        sum += cost;
        ctx->drop_cost[i + 1] = sum;
    }

    free(buf);

    return 0;
}


/*
 * A text is priced as the estimator prices a string of a body: by its
 * decoded characters.  A Converse {"json": ...} is priced as the text it
 * becomes when cut.
 */

static uint64_t
ngx_bedrock_compress_tokens(const ngx_bedrock_view_text_t *vt,
    const unsigned char *p, size_t len)
{
    if (vt->json) {
        return ngx_bedrock_estimate_text(p, len);
    }

    return ngx_bedrock_estimate_json_text(p, len);
}


/*
 * A cut that leaves a text about target tokens, marker included: head
 * and tail of about equal weight, sized by the text's own bytes per
 * token.  Leaves *tokens as it was when no cut would save anything.
 */

static void
ngx_bedrock_compress_cut(ngx_bedrock_compress_ctx_t *ctx, size_t i,
    uint64_t target, size_t *head, size_t *tail, uint64_t *tokens)
{
    size_t                        len, h, t, m;
    double                        keep;
    uint64_t                      mt, n;
    unsigned char                 marker[NGX_BEDROCK_VIEW_MARKER_LEN];
    const unsigned char          *p;
    ngx_bedrock_view_text_t      *vt;
    ngx_bedrock_compress_text_t  *ct;

    vt = &ctx->view.texts[i];
    ct = &ctx->texts[i];

    p = ctx->view.body + vt->inner.start;
    len = vt->inner.end - vt->inner.start;

    /* the marker's weight, taken as large as it can be for this text */
    m = ngx_bedrock_view_marker(marker, len);
    mt = ngx_bedrock_estimate_json_text(marker, m);

    if (ct->tokens == 0 || target <= mt + 2) {
        return;
    }

    keep = (double) (target - mt) / (double) ct->tokens * (double) len;

    if (keep >= (double) len) {
        return;
    }

    h = (size_t) (keep / 2);
    t = (size_t) keep - h;

    if (ngx_bedrock_view_cut_points(&ctx->view, i, h, t, &h, &t) != 0) {
        return;
    }

    /*
     * The marker's count is not known before the cut is written (it is
     * counted then, once); its bytes are an upper bound of it, which
     * weighs a token at most more.
     */

    m = ngx_bedrock_view_marker(marker, len - h - t);

    /* in three pieces, each rounded up: never under the whole */

    n = ngx_bedrock_compress_tokens(vt, p, h)
        + ngx_bedrock_estimate_json_text(marker, m)
        + ngx_bedrock_compress_tokens(vt, p + len - t, t);

    if (n >= *tokens) {
        return;
    }

    *head = h;
    *tail = t;
    *tokens = n;
}


static void
ngx_bedrock_compress_plan(ngx_bedrock_compress_ctx_t *ctx, uint64_t need)
{
    size_t                        i, k, n, msg, head, tail;
    size_t                        best_head, best_tail;
    int64_t                       left;
    unsigned                      tries;
    uint64_t                      threshold, goal, target, tokens, saved;
    uint64_t                      best;
    unsigned                      kind;
    ngx_bedrock_view_t           *v;
    ngx_bedrock_compress_text_t  *t;

    v = &ctx->view;

    /* the fewest dropped turns with which cutting can do the rest */

    k = ctx->first;

    if (ctx->floor_savings < need) {
        k = ctx->last;

        for (i = ctx->first + 1; i <= ctx->last; i++) {
            if (ctx->can_end[i]
                && ctx->drop_cost[i] + ctx->floor_savings
                   - ctx->drop_floor[i] >= need)
            {
                k = i;
                break;
            }
        }
    }

    ctx->k = k;

    for (msg = 0; msg < v->nmessages; msg++) {
        v->messages[msg].dropped = (msg >= ctx->first && msg < k);
    }

    for (i = 0; i < v->ntexts; i++) {
        t = &ctx->texts[i];
        t->now = t->tokens;
        t->cut = 0;
    }

    saved = (k > ctx->first) ? ctx->drop_cost[k] : 0;
    left = (saved >= need) ? 0 : (int64_t) (need - saved);

    /* rounds: tool results, the user's, the assistant's; largest first */

    threshold = ctx->conf->block_tokens ? ctx->conf->block_tokens
                                        : NGX_BEDROCK_COMPRESS_BLOCK_TOKENS;

    if (threshold < NGX_BEDROCK_COMPRESS_FLOOR) {
        threshold = NGX_BEDROCK_COMPRESS_FLOOR;
    }

    while (left > 0) {

        for (kind = 0; kind < NGX_BEDROCK_TEXT_LAST && left > 0; kind++) {
            n = 0;

            for (i = 0; i < v->ntexts; i++) {
                t = &ctx->texts[i];

                if (t->eligible && t->now > threshold
                    && v->texts[i].kind == kind
                    && (v->texts[i].message == NGX_BEDROCK_VIEW_NONE
                        || !v->messages[v->texts[i].message].dropped))
                {
                    ctx->rank[n].tokens = t->now;
                    ctx->rank[n].text = i;
                    n++;
                }
            }

            qsort(ctx->rank, n, sizeof(ngx_bedrock_compress_rank_t),
                  ngx_bedrock_compress_rank_cmp);

            for (i = 0; i < n && left > 0; i++) {
                t = &ctx->texts[ctx->rank[i].text];

                if (t->now <= threshold) {
                    continue;
                }

                /*
                 * Only as deep as still needed, never below the round's
                 * threshold; a cut that fell short of its goal (it lands
                 * on a character or a space) is made again deeper, so the
                 * rest does not spill onto the next text.
                 */

                goal = threshold;

                if ((uint64_t) left < t->now - threshold) {
                    goal = t->now - (uint64_t) left;
                }

                target = goal;
                best = t->now;
                best_head = 0;
                best_tail = 0;

                for (tries = 0; tries < 4; tries++) {

                    if (target == NGX_BEDROCK_COMPRESS_FLOOR
                        && t->floor_cut)
                    {
                        tokens = t->floor;
                        head = t->floor_head;
                        tail = t->floor_tail;

                    } else {
                        tokens = t->now;
                        ngx_bedrock_compress_cut(ctx, ctx->rank[i].text,
                                                 target, &head, &tail,
                                                 &tokens);
                    }

                    if (tokens < best) {
                        best = tokens;
                        best_head = head;
                        best_tail = tail;
                    }

                    if (tokens <= goal || target == threshold) {
                        break;
                    }

                    target = (target - threshold > tokens - goal)
                             ? target - (tokens - goal) : threshold;
                }

                if (best < t->now) {
                    left -= (int64_t) (t->now - best);
                    t->now = best;
                    t->head = best_head;
                    t->tail = best_tail;
                    t->cut = 1;
                }
            }
        }

        if (threshold == NGX_BEDROCK_COMPRESS_FLOOR) {
            break;
        }

        threshold /= 2;

        if (threshold < NGX_BEDROCK_COMPRESS_FLOOR) {
            threshold = NGX_BEDROCK_COMPRESS_FLOOR;
        }
    }

    /* all it may: every turn it can drop, every text it can cut down */

    ctx->maximal = (left > 0 && k == ctx->last);

    for (i = 0; i < v->ntexts; i++) {
        t = &ctx->texts[i];

        if (t->eligible && t->now > t->floor
            && (v->texts[i].message == NGX_BEDROCK_VIEW_NONE
                || !v->messages[v->texts[i].message].dropped))
        {
            ctx->maximal = 0;
        }

        if (t->cut) {
            ngx_bedrock_view_cut(v, i, t->head, t->tail);

        } else {
            ngx_bedrock_view_uncut(v, i);
        }
    }
}


static int
ngx_bedrock_compress_rank_cmp(const void *a, const void *b)
{
    const ngx_bedrock_compress_rank_t  *x = a, *y = b;

    if (x->tokens != y->tokens) {
        return x->tokens > y->tokens ? -1 : 1;
    }

    return (x->text > y->text) - (x->text < y->text);
}


/* writes the plan's body into res and estimates it */

static int
ngx_bedrock_compress_write(ngx_bedrock_compress_ctx_t *ctx,
    ngx_bedrock_compress_result_t *res, uint64_t *tokens, char *err)
{
    size_t                   i, msg;
    ngx_bedrock_view_t      *v;
    ngx_bedrock_estimate_t   est;

    v = &ctx->view;

    if (ngx_bedrock_view_serialize(v, &res->body, &res->len) != 0) {
        return -1;
    }

    if (ngx_bedrock_estimate_body(res->body, res->len, ctx->model, &est, err)
        != 0)
    {
        /* the estimator took the body in and must take this one */
        return -1;
    }

    *tokens = est.input_tokens;

    res->blocks_shrunk = 0;
    res->turns_dropped = 0;

    for (i = 0; i < v->ntexts; i++) {
        msg = v->texts[i].message;

        if (v->texts[i].cut
            && (msg == NGX_BEDROCK_VIEW_NONE || !v->messages[msg].dropped))
        {
            res->blocks_shrunk++;
        }
    }

    for (msg = 0; msg < v->nmessages; msg++) {
        res->turns_dropped += v->messages[msg].dropped;
    }

    return 0;
}
