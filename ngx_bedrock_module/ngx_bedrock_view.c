/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * cJSON says what the body means; a walk over the same bytes in step
 * with cJSON's tree says where each value lies.  cJSON keeps an object's
 * members and an array's elements in the order of the text, so the n-th
 * child is the n-th value met, and a value is skipped by matching
 * brackets and quotes alone, which is safe once cJSON accepted the text.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ngx_bedrock_estimate.h"
#include "ngx_bedrock_view.h"


#define NGX_BEDROCK_VIEW_BAD     ((size_t) -1)

/* how far a cut moves to land on a space or a line break */
#define NGX_BEDROCK_VIEW_SNAP    64


typedef struct {
    const unsigned char         *p;
    size_t                       len;
    size_t                       pos;
    cJSON                       *next;
    cJSON                       *item;
    size_t                       start;
    size_t                       end;
    unsigned                     object:1;
    unsigned                     first:1;
} ngx_bedrock_view_iter_t;


static int ngx_bedrock_view_strings_ok(const unsigned char *p, size_t len);
static size_t ngx_bedrock_view_ws(const unsigned char *p, size_t pos,
    size_t len);
static size_t ngx_bedrock_view_skip_string(const unsigned char *p,
    size_t pos, size_t len);
static size_t ngx_bedrock_view_skip_value(const unsigned char *p,
    size_t pos, size_t len);
static int ngx_bedrock_view_iter_init(ngx_bedrock_view_iter_t *it,
    const ngx_bedrock_view_t *v, cJSON *node, size_t start);
static int ngx_bedrock_view_iter_next(ngx_bedrock_view_iter_t *it);
static int ngx_bedrock_view_key(cJSON *item, const char *name);
static int ngx_bedrock_view_root(ngx_bedrock_view_t *v, cJSON *root,
    size_t start, const ngx_bedrock_model_t *m);
static void ngx_bedrock_view_max_tokens(ngx_bedrock_view_t *v,
    cJSON *item);
static int ngx_bedrock_view_messages(ngx_bedrock_view_t *v, cJSON *array,
    size_t start);
static int ngx_bedrock_view_message(ngx_bedrock_view_t *v, cJSON *msg,
    size_t start);
static ngx_bedrock_role_e ngx_bedrock_view_role(ngx_bedrock_view_t *v,
    cJSON *msg);
static int ngx_bedrock_view_claude_blocks(ngx_bedrock_view_t *v,
    cJSON *array, size_t start, ngx_bedrock_role_e role);
static int ngx_bedrock_view_tool_content(ngx_bedrock_view_t *v,
    cJSON *content, size_t start, size_t end);
static int ngx_bedrock_view_converse_blocks(ngx_bedrock_view_t *v,
    cJSON *array, size_t start, ngx_bedrock_role_e role);
static int ngx_bedrock_view_converse_result(ngx_bedrock_view_t *v,
    cJSON *result, size_t start);
static int ngx_bedrock_view_chat_parts(ngx_bedrock_view_t *v, cJSON *array,
    size_t start, ngx_bedrock_role_e role);
static int ngx_bedrock_view_chat_calls(ngx_bedrock_view_t *v, cJSON *array);
static int ngx_bedrock_view_add_text(ngx_bedrock_view_t *v,
    ngx_bedrock_text_e kind, size_t start, size_t end, unsigned json);
static int ngx_bedrock_view_add_role_text(ngx_bedrock_view_t *v,
    ngx_bedrock_role_e role, cJSON *item, size_t start, size_t end);
static int ngx_bedrock_view_add_ref(ngx_bedrock_view_t *v, cJSON *id,
    unsigned use);
static ngx_bedrock_view_message_t *ngx_bedrock_view_last(
    ngx_bedrock_view_t *v);
static int ngx_bedrock_view_escape_start(const unsigned char *p, size_t b);
static int ngx_bedrock_view_hex4(const unsigned char *p, unsigned *value);
static int ngx_bedrock_view_cut_ok(const ngx_bedrock_view_text_t *t,
    const unsigned char *p, size_t q);
static int ngx_bedrock_view_space_before(const ngx_bedrock_view_text_t *t,
    const unsigned char *p, size_t q);
static size_t ngx_bedrock_view_render(const ngx_bedrock_view_t *v,
    const ngx_bedrock_view_text_t *t, unsigned char *out);
static size_t ngx_bedrock_view_escape(unsigned char *out,
    const unsigned char *p, size_t len);
static int ngx_bedrock_view_edit_cmp(const void *a, const void *b);


typedef struct {
    size_t                       start;
    size_t                       end;
    size_t                       text;    /* NGX_BEDROCK_VIEW_NONE: delete */
} ngx_bedrock_view_edit_t;


static const char  *ngx_bedrock_shape_names[] = {
    "unknown", "claude-messages", "converse", "nova-messages", "chat",
    "cohere-chat", "prompt"
};


int
ngx_bedrock_view_parse(ngx_bedrock_view_t *v, const unsigned char *body,
    size_t len, const ngx_bedrock_model_t *m, char *err)
{
    size_t       start, i;
    cJSON       *root;
    const char  *end;

    memset(v, 0, sizeof(ngx_bedrock_view_t));

    v->body = body;
    v->len = len;

    root = NULL;
    end = NULL;

    if (len > 0) {
        root = cJSON_ParseWithLengthOpts((const char *) body, len, &end, 0);
    }

    /* cJSON stops after the first value: what follows must be blank */

    if (root != NULL) {
        for (i = (const unsigned char *) end - body; i < len; i++) {
            if (body[i] > ' ') {
                cJSON_Delete(root);
                root = NULL;
                break;
            }
        }
    }

    if (root != NULL && !ngx_bedrock_view_strings_ok(body, len)) {
        cJSON_Delete(root);
        root = NULL;
    }

    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, NGX_BEDROCK_ERROR_LEN,
                 "Malformed input request: the body is not a JSON object, "
                 "please reformat your input and try again.");
        return -1;
    }

    v->tree = root;

    /* where cJSON began: after a byte order mark and blanks */

    start = 0;

    if (len > 4 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
        start = 3;
    }

    start = ngx_bedrock_view_ws(body, start, len);

    if (ngx_bedrock_view_root(v, root, start, m) != 0) {
        snprintf(err, NGX_BEDROCK_ERROR_LEN,
                 "the gateway ran out of memory reading the request");
        return -1;
    }

    return 0;
}


void
ngx_bedrock_view_free(ngx_bedrock_view_t *v)
{
    cJSON_Delete(v->tree);
    free(v->messages);
    free(v->texts);
    free(v->refs);

    v->tree = NULL;
    v->messages = NULL;
    v->texts = NULL;
    v->refs = NULL;
    v->nmessages = 0;
    v->ntexts = 0;
    v->nrefs = 0;
}


const char *
ngx_bedrock_shape_name(ngx_bedrock_shape_e shape)
{
    if (shape >= NGX_BEDROCK_SHAPE_LAST) {
        return "unknown";
    }

    return ngx_bedrock_shape_names[shape];
}


/*
 * cJSON lets through what JSON forbids in strings: a raw control byte, an
 * unknown escape ("\&"), a "\u" without four hex digits (read as U+0000).
 * The view cuts texts by their escapes, so it refuses such bodies, as the
 * estimator does, instead of cutting through an escape it misread.
 */

static int
ngx_bedrock_view_strings_ok(const unsigned char *p, size_t len)
{
    size_t    i;
    unsigned  u, in;

    in = 0;

    for (i = 0; i < len; i++) {

        if (!in) {
            in = (p[i] == '"');
            continue;
        }

        if (p[i] < 0x20) {
            return 0;
        }

        if (p[i] == '"') {
            in = 0;
            continue;
        }

        if (p[i] != '\\') {
            continue;
        }

        if (++i == len) {
            return 0;
        }

        if (p[i] == 'u') {
            if (len - i < 5 || ngx_bedrock_view_hex4(p + i + 1, &u) != 0) {
                return 0;
            }

            i += 4;

        } else if (strchr("\"\\/bfnrt", p[i]) == NULL || p[i] == '\0') {
            return 0;
        }
    }

    return 1;
}


/* cJSON takes every byte up to the space as a blank */

static size_t
ngx_bedrock_view_ws(const unsigned char *p, size_t pos, size_t len)
{
    while (pos < len && p[pos] <= ' ') {
        pos++;
    }

    return pos;
}


/*
 * The end of the string at pos: the next quote that an even run of
 * backslashes precedes.  memchr() does the walking: strings are most of
 * a body's bytes, and a value is skipped once per level of its depth.
 */

static size_t
ngx_bedrock_view_skip_string(const unsigned char *p, size_t pos, size_t len)
{
    size_t                n, e;
    const unsigned char  *q;

    if (pos >= len || p[pos] != '"') {
        return NGX_BEDROCK_VIEW_BAD;
    }

    pos++;

    for ( ;; ) {
        q = memchr(p + pos, '"', len - pos);
        if (q == NULL) {
            return NGX_BEDROCK_VIEW_BAD;
        }

        e = q - p;

        for (n = 0; e - n > pos && p[e - n - 1] == '\\'; n++) {
            /* void */
        }

        if (n % 2 == 0) {
            return e + 1;
        }

        pos = e + 1;
    }
}


/* the end of the value that starts at pos; iterative, for any depth */

static size_t
ngx_bedrock_view_skip_value(const unsigned char *p, size_t pos, size_t len)
{
    size_t  depth, start;

    if (pos >= len) {
        return NGX_BEDROCK_VIEW_BAD;
    }

    if (p[pos] == '"') {
        return ngx_bedrock_view_skip_string(p, pos, len);
    }

    if (p[pos] == '{' || p[pos] == '[') {
        depth = 0;

        while (pos < len) {

            if (p[pos] == '"') {
                pos = ngx_bedrock_view_skip_string(p, pos, len);
                if (pos == NGX_BEDROCK_VIEW_BAD) {
                    return pos;
                }

                continue;
            }

            if (p[pos] == '{' || p[pos] == '[') {
                depth++;

            } else if (p[pos] == '}' || p[pos] == ']') {
                if (--depth == 0) {
                    return pos + 1;
                }
            }

            pos++;
        }

        return NGX_BEDROCK_VIEW_BAD;
    }

    /* a number or a literal */

    start = pos;

    while (pos < len && p[pos] > ' ' && p[pos] != ',' && p[pos] != ']'
           && p[pos] != '}')
    {
        pos++;
    }

    return pos > start ? pos : NGX_BEDROCK_VIEW_BAD;
}


/*
 * Walks the members of an object or the elements of an array whose text
 * begins at start, in step with the node's children.  Every step checks
 * the byte it expects: a text that does not match the tree stops the
 * walk with -1, never a read out of bounds.
 */

static int
ngx_bedrock_view_iter_init(ngx_bedrock_view_iter_t *it,
    const ngx_bedrock_view_t *v, cJSON *node, size_t start)
{
    memset(it, 0, sizeof(ngx_bedrock_view_iter_t));

    if (start >= v->len) {
        return -1;
    }

    if (cJSON_IsObject(node) && v->body[start] == '{') {
        it->object = 1;

    } else if (!cJSON_IsArray(node) || v->body[start] != '[') {
        return -1;
    }

    it->p = v->body;
    it->len = v->len;
    it->pos = start + 1;
    it->next = node->child;
    it->first = 1;

    return 0;
}


static int
ngx_bedrock_view_iter_next(ngx_bedrock_view_iter_t *it)
{
    size_t  pos;

    if (it->next == NULL) {
        return 0;
    }

    pos = ngx_bedrock_view_ws(it->p, it->pos, it->len);

    if (!it->first) {
        if (pos >= it->len || it->p[pos] != ',') {
            return -1;
        }

        pos = ngx_bedrock_view_ws(it->p, pos + 1, it->len);
    }

    if (it->object) {
        pos = ngx_bedrock_view_skip_string(it->p, pos, it->len);
        if (pos == NGX_BEDROCK_VIEW_BAD) {
            return -1;
        }

        pos = ngx_bedrock_view_ws(it->p, pos, it->len);

        if (pos >= it->len || it->p[pos] != ':') {
            return -1;
        }

        pos = ngx_bedrock_view_ws(it->p, pos + 1, it->len);
    }

    it->start = pos;
    it->end = ngx_bedrock_view_skip_value(it->p, pos, it->len);

    if (it->end == NGX_BEDROCK_VIEW_BAD) {
        return -1;
    }

    it->pos = it->end;
    it->item = it->next;
    it->next = it->next->next;
    it->first = 0;

    return 1;
}


static int
ngx_bedrock_view_key(cJSON *item, const char *name)
{
    return item->string != NULL && strcmp(item->string, name) == 0;
}


/*
 * The root's members say the shape.  A member that the shape depends on
 * given twice leaves it unknown: which one Bedrock reads is not ours to
 * guess.
 */

static int
ngx_bedrock_view_root(ngx_bedrock_view_t *v, cJSON *root, size_t start,
    const ngx_bedrock_model_t *m)
{
    int                       rc, dup;
    cJSON                    *messages, *history, *prompt, *message;
    size_t                    mstart, hstart, pstart, pend;
    unsigned                  claude, nova, converse;
    ngx_bedrock_view_iter_t   it;

    messages = NULL;
    history = NULL;
    prompt = NULL;
    message = NULL;
    mstart = 0;
    hstart = 0;
    pstart = 0;
    pend = 0;
    claude = 0;
    nova = 0;
    dup = 0;

    if (ngx_bedrock_view_iter_init(&it, v, root, start) != 0) {
        return 0;
    }

    while ((rc = ngx_bedrock_view_iter_next(&it)) == 1) {

        if (ngx_bedrock_view_key(it.item, "messages")) {
            dup |= (messages != NULL);
            messages = it.item;
            mstart = it.start;

        } else if (ngx_bedrock_view_key(it.item, "chat_history")) {
            dup |= (history != NULL);
            history = it.item;
            hstart = it.start;

        } else if (ngx_bedrock_view_key(it.item, "prompt")
                   || ngx_bedrock_view_key(it.item, "inputText"))
        {
            dup |= (prompt != NULL);
            prompt = it.item;
            pstart = it.start;
            pend = it.end;

        } else if (ngx_bedrock_view_key(it.item, "message")) {
            dup |= (message != NULL);
            message = it.item;

        } else if (ngx_bedrock_view_key(it.item, "system")
                   || ngx_bedrock_view_key(it.item, "preamble"))
        {
            v->system = 1;

        } else if (ngx_bedrock_view_key(it.item, "anthropic_version")) {
            claude = 1;

        } else if (ngx_bedrock_view_key(it.item, "schemaVersion")) {
            nova = 1;
        }

        ngx_bedrock_view_max_tokens(v, it.item);
    }

    if (rc != 0 || dup) {
        return 0;
    }

    converse = (m != NULL && (m->api == NGX_BEDROCK_API_CONVERSE
                              || m->api == NGX_BEDROCK_API_CONVERSE_STREAM));

    if (m != NULL && m->family == NGX_BEDROCK_FAMILY_ANTHROPIC) {
        claude = 1;
    }

    if (m != NULL && m->family == NGX_BEDROCK_FAMILY_AMAZON) {
        nova = 1;
    }

    if (converse) {
        if (!cJSON_IsArray(messages)) {
            return 0;
        }

        v->shape = NGX_BEDROCK_SHAPE_CONVERSE;
        return ngx_bedrock_view_messages(v, messages, mstart);
    }

    if (messages != NULL) {
        if (!cJSON_IsArray(messages) || prompt != NULL) {
            return 0;
        }

        v->shape = claude ? NGX_BEDROCK_SHAPE_CLAUDE
                          : nova ? NGX_BEDROCK_SHAPE_NOVA
                                 : NGX_BEDROCK_SHAPE_CHAT;

        return ngx_bedrock_view_messages(v, messages, mstart);
    }

    if (prompt != NULL) {
        if (!cJSON_IsString(prompt) || message != NULL || history != NULL) {
            return 0;
        }

        v->shape = NGX_BEDROCK_SHAPE_PROMPT;
        return ngx_bedrock_view_add_text(v, NGX_BEDROCK_TEXT_USER, pstart,
                                         pend, 0);
    }

    if (cJSON_IsString(message)) {
        v->shape = NGX_BEDROCK_SHAPE_COHERE;

        if (history == NULL) {
            return 0;
        }

        if (!cJSON_IsArray(history)) {
            v->shape = NGX_BEDROCK_SHAPE_UNKNOWN;
            return 0;
        }

        return ngx_bedrock_view_messages(v, history, hstart);
    }

    return 0;
}


/* the output limit each family names its own way */

static void
ngx_bedrock_view_max_tokens(ngx_bedrock_view_t *v, cJSON *item)
{
    cJSON  *n;

    n = NULL;

    if (ngx_bedrock_view_key(item, "max_tokens")
        || ngx_bedrock_view_key(item, "max_gen_len")
        || ngx_bedrock_view_key(item, "max_tokens_to_sample"))
    {
        n = item;

    } else if (ngx_bedrock_view_key(item, "inferenceConfig")) {
        n = cJSON_GetObjectItemCaseSensitive(item, "maxTokens");
        if (n == NULL) {
            n = cJSON_GetObjectItemCaseSensitive(item, "max_new_tokens");
        }

    } else if (ngx_bedrock_view_key(item, "textGenerationConfig")) {
        n = cJSON_GetObjectItemCaseSensitive(item, "maxTokenCount");
    }

    if (cJSON_IsNumber(n) && n->valuedouble >= 0
        && n->valuedouble < 1e15)
    {
        v->max_tokens = (uint64_t) n->valuedouble;
        v->max_tokens_given = 1;
    }
}


static int
ngx_bedrock_view_messages(ngx_bedrock_view_t *v, cJSON *array, size_t start)
{
    int                       rc;
    ngx_bedrock_view_iter_t   it;

    if (ngx_bedrock_view_iter_init(&it, v, array, start) != 0) {
        v->shape = NGX_BEDROCK_SHAPE_UNKNOWN;
        return 0;
    }

    while ((rc = ngx_bedrock_view_iter_next(&it)) == 1) {
        if (ngx_bedrock_view_message(v, it.item, it.start) != 0) {
            return -1;
        }

        ngx_bedrock_view_last(v)->span.end = it.end;
    }

    if (rc != 0) {
        /* the text did not match the tree: nothing can be changed */
        v->shape = NGX_BEDROCK_SHAPE_UNKNOWN;
        v->nmessages = 0;
        v->ntexts = 0;
        v->nrefs = 0;
    }

    return 0;
}


static int
ngx_bedrock_view_message(ngx_bedrock_view_t *v, cJSON *msg, size_t start)
{
    int                          rc;
    size_t                       n;
    ngx_bedrock_role_e           role;
    ngx_bedrock_view_iter_t      it;
    ngx_bedrock_view_message_t  *vm;

    if (v->nmessages == v->nmessages_alloc) {
        n = v->nmessages_alloc ? v->nmessages_alloc * 2 : 16;

        vm = realloc(v->messages, n * sizeof(ngx_bedrock_view_message_t));
        if (vm == NULL) {
            return -1;
        }

        v->messages = vm;
        v->nmessages_alloc = n;
    }

    vm = &v->messages[v->nmessages++];
    memset(vm, 0, sizeof(ngx_bedrock_view_message_t));

    vm->span.start = start;
    vm->text = v->ntexts;

    if (!cJSON_IsObject(msg)) {
        return 0;
    }

    role = ngx_bedrock_view_role(v, msg);
    vm->role = role;

    if (v->shape == NGX_BEDROCK_SHAPE_COHERE && role == NGX_BEDROCK_ROLE_TOOL)
    {
        /* a tool's answer has no id to pair it by: it keeps its call */
        vm->bind_prev = 1;
    }

    if (ngx_bedrock_view_iter_init(&it, v, msg, start) != 0) {
        return 0;
    }

    while (ngx_bedrock_view_iter_next(&it) == 1) {
        rc = 0;

        switch (v->shape) {

        case NGX_BEDROCK_SHAPE_CLAUDE:
            if (!ngx_bedrock_view_key(it.item, "content")) {
                break;
            }

            if (cJSON_IsArray(it.item)) {
                rc = ngx_bedrock_view_claude_blocks(v, it.item, it.start,
                                                    role);
            } else {
                rc = ngx_bedrock_view_add_role_text(v, role, it.item,
                                                    it.start, it.end);
            }

            break;

        case NGX_BEDROCK_SHAPE_CONVERSE:
        case NGX_BEDROCK_SHAPE_NOVA:
            if (ngx_bedrock_view_key(it.item, "content")
                && cJSON_IsArray(it.item))
            {
                rc = ngx_bedrock_view_converse_blocks(v, it.item, it.start,
                                                      role);
            }

            break;

        case NGX_BEDROCK_SHAPE_CHAT:
            if (ngx_bedrock_view_key(it.item, "content")) {
                if (cJSON_IsArray(it.item)) {
                    rc = ngx_bedrock_view_chat_parts(v, it.item, it.start,
                                                     role);
                } else {
                    rc = ngx_bedrock_view_add_role_text(v, role, it.item,
                                                        it.start, it.end);
                }

            } else if (ngx_bedrock_view_key(it.item, "tool_calls")) {
                rc = ngx_bedrock_view_chat_calls(v, it.item);

            } else if (ngx_bedrock_view_key(it.item, "tool_call_id")) {
                rc = ngx_bedrock_view_add_ref(v, it.item, 0);
            }

            break;

        default: /* NGX_BEDROCK_SHAPE_COHERE */
            if (ngx_bedrock_view_key(it.item, "message")) {
                rc = ngx_bedrock_view_add_role_text(v, role, it.item,
                                                    it.start, it.end);
            }

            break;
        }

        if (rc != 0) {
            return -1;
        }
    }

    vm->ntexts = v->ntexts - vm->text;

    return 0;
}


static ngx_bedrock_role_e
ngx_bedrock_view_role(ngx_bedrock_view_t *v, cJSON *msg)
{
    const char  *s;

    s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "role"));

    if (s == NULL) {
        return NGX_BEDROCK_ROLE_OTHER;
    }

    /* each API spells its roles one way: another spelling is no role */

    if (v->shape == NGX_BEDROCK_SHAPE_COHERE) {
        return strcmp(s, "USER") == 0 ? NGX_BEDROCK_ROLE_USER
               : strcmp(s, "CHATBOT") == 0 ? NGX_BEDROCK_ROLE_ASSISTANT
               : strcmp(s, "SYSTEM") == 0 ? NGX_BEDROCK_ROLE_SYSTEM
               : strcmp(s, "TOOL") == 0 ? NGX_BEDROCK_ROLE_TOOL
               : NGX_BEDROCK_ROLE_OTHER;
    }

    if (strcmp(s, "user") == 0) {
        return NGX_BEDROCK_ROLE_USER;
    }

    if (strcmp(s, "assistant") == 0) {
        return NGX_BEDROCK_ROLE_ASSISTANT;
    }

    if (v->shape == NGX_BEDROCK_SHAPE_CHAT) {
        if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0) {
            return NGX_BEDROCK_ROLE_SYSTEM;
        }

        if (strcmp(s, "tool") == 0) {
            return NGX_BEDROCK_ROLE_TOOL;
        }
    }

    return NGX_BEDROCK_ROLE_OTHER;
}


/*
 * Claude's blocks: text, image, document, tool_use, tool_result,
 * thinking ...  Thinking blocks are signed and never cut; a tool_result's
 * text is the tool's.  Server tools pair by the same ids.
 */

static int
ngx_bedrock_view_claude_blocks(ngx_bedrock_view_t *v, cJSON *array,
    size_t start, ngx_bedrock_role_e role)
{
    int                       rc;
    cJSON                    *block, *id;
    unsigned                  text;
    const char               *type;
    ngx_bedrock_view_iter_t   it, bit;

    if (ngx_bedrock_view_iter_init(&it, v, array, start) != 0) {
        return 0;
    }

    while (ngx_bedrock_view_iter_next(&it) == 1) {
        block = it.item;

        type = cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(block, "type"));

        if (type == NULL) {
            continue;
        }

        if (strcmp(type, "image") == 0) {
            ngx_bedrock_view_last(v)->images++;
            continue;
        }

        if (strcmp(type, "document") == 0) {
            ngx_bedrock_view_last(v)->documents++;
            continue;
        }

        if (strcmp(type, "tool_use") == 0
            || strcmp(type, "server_tool_use") == 0
            || strcmp(type, "mcp_tool_use") == 0)
        {
            id = cJSON_GetObjectItemCaseSensitive(block, "id");

            if (ngx_bedrock_view_add_ref(v, id, 1) != 0) {
                return -1;
            }

            continue;
        }

        id = cJSON_GetObjectItemCaseSensitive(block, "tool_use_id");

        if (id != NULL && ngx_bedrock_view_add_ref(v, id, 0) != 0) {
            return -1;
        }

        text = (strcmp(type, "text") == 0);

        if (!text && strcmp(type, "tool_result") != 0) {
            continue;
        }

        if (ngx_bedrock_view_iter_init(&bit, v, block, it.start) != 0) {
            continue;
        }

        while (ngx_bedrock_view_iter_next(&bit) == 1) {

            if (text && ngx_bedrock_view_key(bit.item, "text")) {
                rc = ngx_bedrock_view_add_role_text(v, role, bit.item,
                                                    bit.start, bit.end);

            } else if (!text && ngx_bedrock_view_key(bit.item, "content")) {
                rc = ngx_bedrock_view_tool_content(v, bit.item, bit.start,
                                                   bit.end);

            } else {
                continue;
            }

            if (rc != 0) {
                return -1;
            }
        }
    }

    return 0;
}


/* a Claude tool_result's content: a string, or text and image blocks */

static int
ngx_bedrock_view_tool_content(ngx_bedrock_view_t *v, cJSON *content,
    size_t start, size_t end)
{
    const char               *type;
    ngx_bedrock_view_iter_t   it, bit;

    if (cJSON_IsString(content)) {
        return ngx_bedrock_view_add_text(v, NGX_BEDROCK_TEXT_TOOL, start,
                                         end, 0);
    }

    if (ngx_bedrock_view_iter_init(&it, v, content, start) != 0) {
        return 0;
    }

    while (ngx_bedrock_view_iter_next(&it) == 1) {
        type = cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(it.item, "type"));

        if (type == NULL) {
            continue;
        }

        if (strcmp(type, "image") == 0) {
            ngx_bedrock_view_last(v)->images++;
            continue;
        }

        if (strcmp(type, "document") == 0) {
            ngx_bedrock_view_last(v)->documents++;
            continue;
        }

        if (strcmp(type, "text") != 0
            || ngx_bedrock_view_iter_init(&bit, v, it.item, it.start) != 0)
        {
            continue;
        }

        while (ngx_bedrock_view_iter_next(&bit) == 1) {
            if (ngx_bedrock_view_key(bit.item, "text")
                && cJSON_IsString(bit.item)
                && ngx_bedrock_view_add_text(v, NGX_BEDROCK_TEXT_TOOL,
                                             bit.start, bit.end, 0)
                   != 0)
            {
                return -1;
            }
        }
    }

    return 0;
}


/*
 * Converse (and Nova) blocks are unions: the member's name is the kind.
 * Reasoning is signed and never cut.
 */

static int
ngx_bedrock_view_converse_blocks(ngx_bedrock_view_t *v, cJSON *array,
    size_t start, ngx_bedrock_role_e role)
{
    int                       rc;
    cJSON                    *id;
    ngx_bedrock_view_iter_t   it, bit;

    if (ngx_bedrock_view_iter_init(&it, v, array, start) != 0) {
        return 0;
    }

    while (ngx_bedrock_view_iter_next(&it) == 1) {

        if (ngx_bedrock_view_iter_init(&bit, v, it.item, it.start) != 0) {
            continue;
        }

        while (ngx_bedrock_view_iter_next(&bit) == 1) {
            rc = 0;

            /* a block is a union of one member: else it is not ours to cut */

            if (ngx_bedrock_view_key(bit.item, "text")) {
                if (it.item->child == bit.item && bit.item->next == NULL) {
                    rc = ngx_bedrock_view_add_role_text(v, role, bit.item,
                                                        bit.start, bit.end);
                }

            } else if (ngx_bedrock_view_key(bit.item, "image")
                       || ngx_bedrock_view_key(bit.item, "video"))
            {
                ngx_bedrock_view_last(v)->images++;

            } else if (ngx_bedrock_view_key(bit.item, "document")) {
                ngx_bedrock_view_last(v)->documents++;

            } else if (ngx_bedrock_view_key(bit.item, "toolUse")) {
                id = cJSON_GetObjectItemCaseSensitive(bit.item, "toolUseId");
                rc = ngx_bedrock_view_add_ref(v, id, 1);

            } else if (ngx_bedrock_view_key(bit.item, "toolResult")) {
                rc = ngx_bedrock_view_converse_result(v, bit.item,
                                                      bit.start);
            }

            if (rc != 0) {
                return -1;
            }
        }
    }

    return 0;
}


static int
ngx_bedrock_view_converse_result(ngx_bedrock_view_t *v, cJSON *result,
    size_t start)
{
    int                       rc;
    cJSON                    *id;
    ngx_bedrock_view_iter_t   it, cit, bit;

    id = cJSON_GetObjectItemCaseSensitive(result, "toolUseId");

    if (ngx_bedrock_view_add_ref(v, id, 0) != 0) {
        return -1;
    }

    if (ngx_bedrock_view_iter_init(&it, v, result, start) != 0) {
        return 0;
    }

    while (ngx_bedrock_view_iter_next(&it) == 1) {

        if (!ngx_bedrock_view_key(it.item, "content")
            || ngx_bedrock_view_iter_init(&cit, v, it.item, it.start) != 0)
        {
            continue;
        }

        while (ngx_bedrock_view_iter_next(&cit) == 1) {

            if (ngx_bedrock_view_iter_init(&bit, v, cit.item, cit.start)
                != 0)
            {
                continue;
            }

            while (ngx_bedrock_view_iter_next(&bit) == 1) {
                rc = 0;

                if (ngx_bedrock_view_key(bit.item, "text")
                    && cJSON_IsString(bit.item)
                    && cit.item->child == bit.item && bit.item->next == NULL)
                {
                    rc = ngx_bedrock_view_add_text(v, NGX_BEDROCK_TEXT_TOOL,
                                                   bit.start, bit.end, 0);

                } else if (ngx_bedrock_view_key(bit.item, "json")
                           && cit.item->child == bit.item
                           && bit.item->next == NULL)
                {
                    /* {"json": ...} alone: cut, it becomes {"text": ...} */
                    rc = ngx_bedrock_view_add_text(v, NGX_BEDROCK_TEXT_TOOL,
                                                   bit.start, bit.end, 1);
                    if (rc == 0) {
                        v->texts[v->ntexts - 1].span.start = cit.start;
                        v->texts[v->ntexts - 1].span.end = cit.end;
                    }

                } else if (ngx_bedrock_view_key(bit.item, "image")) {
                    ngx_bedrock_view_last(v)->images++;

                } else if (ngx_bedrock_view_key(bit.item, "document")) {
                    ngx_bedrock_view_last(v)->documents++;
                }

                if (rc != 0) {
                    return -1;
                }
            }
        }
    }

    return 0;
}


/* chat content parts: {"type": "text", "text": ...}, or {"text": ...} */

static int
ngx_bedrock_view_chat_parts(ngx_bedrock_view_t *v, cJSON *array,
    size_t start, ngx_bedrock_role_e role)
{
    const char               *type;
    ngx_bedrock_view_iter_t   it, bit;

    if (ngx_bedrock_view_iter_init(&it, v, array, start) != 0) {
        return 0;
    }

    while (ngx_bedrock_view_iter_next(&it) == 1) {
        type = cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(it.item, "type"));

        if (type != NULL && strcmp(type, "text") != 0) {
            if (strncmp(type, "image", 5) == 0) {
                ngx_bedrock_view_last(v)->images++;
            }

            continue;
        }

        if (ngx_bedrock_view_iter_init(&bit, v, it.item, it.start) != 0) {
            continue;
        }

        while (ngx_bedrock_view_iter_next(&bit) == 1) {
            if (ngx_bedrock_view_key(bit.item, "text")
                && ngx_bedrock_view_add_role_text(v, role, bit.item,
                                                  bit.start, bit.end)
                   != 0)
            {
                return -1;
            }
        }
    }

    return 0;
}


static int
ngx_bedrock_view_chat_calls(ngx_bedrock_view_t *v, cJSON *array)
{
    cJSON  *call;

    if (!cJSON_IsArray(array)) {
        return 0;
    }

    cJSON_ArrayForEach(call, array) {
        if (ngx_bedrock_view_add_ref(v,
                cJSON_GetObjectItemCaseSensitive(call, "id"), 1)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
ngx_bedrock_view_add_role_text(ngx_bedrock_view_t *v,
    ngx_bedrock_role_e role, cJSON *item, size_t start, size_t end)
{
    ngx_bedrock_text_e  kind;

    if (!cJSON_IsString(item)) {
        return 0;
    }

    switch (role) {

    case NGX_BEDROCK_ROLE_USER:
        kind = NGX_BEDROCK_TEXT_USER;
        break;

    case NGX_BEDROCK_ROLE_ASSISTANT:
        kind = NGX_BEDROCK_TEXT_ASSISTANT;
        break;

    case NGX_BEDROCK_ROLE_TOOL:
        kind = NGX_BEDROCK_TEXT_TOOL;
        break;

    default:
        /* system messages and unknown roles are never cut */
        return 0;
    }

    return ngx_bedrock_view_add_text(v, kind, start, end, 0);
}


static int
ngx_bedrock_view_add_text(ngx_bedrock_view_t *v, ngx_bedrock_text_e kind,
    size_t start, size_t end, unsigned json)
{
    size_t                    n;
    ngx_bedrock_view_text_t  *t;

    if (end == NGX_BEDROCK_VIEW_BAD || end > v->len || start >= end) {
        return 0;
    }

    if (!json && (end - start < 2 || v->body[start] != '"')) {
        return 0;
    }

    if (v->ntexts == v->ntexts_alloc) {
        n = v->ntexts_alloc ? v->ntexts_alloc * 2 : 16;

        t = realloc(v->texts, n * sizeof(ngx_bedrock_view_text_t));
        if (t == NULL) {
            return -1;
        }

        v->texts = t;
        v->ntexts_alloc = n;
    }

    t = &v->texts[v->ntexts++];
    memset(t, 0, sizeof(ngx_bedrock_view_text_t));

    t->span.start = start;
    t->span.end = end;
    t->inner.start = json ? start : start + 1;
    t->inner.end = json ? end : end - 1;
    t->kind = kind;
    t->json = json;
    t->message = v->nmessages ? v->nmessages - 1 : NGX_BEDROCK_VIEW_NONE;

    t->chars = NGX_BEDROCK_VIEW_NONE;

    return 0;
}


static int
ngx_bedrock_view_add_ref(ngx_bedrock_view_t *v, cJSON *id, unsigned use)
{
    size_t                   n;
    ngx_bedrock_view_ref_t  *r;

    if (!cJSON_IsString(id) || v->nmessages == 0) {
        return 0;
    }

    if (v->nrefs == v->nrefs_alloc) {
        n = v->nrefs_alloc ? v->nrefs_alloc * 2 : 16;

        r = realloc(v->refs, n * sizeof(ngx_bedrock_view_ref_t));
        if (r == NULL) {
            return -1;
        }

        v->refs = r;
        v->nrefs_alloc = n;
    }

    r = &v->refs[v->nrefs++];

    r->id = id->valuestring;
    r->message = v->nmessages - 1;
    r->use = use;

    return 0;
}


static ngx_bedrock_view_message_t *
ngx_bedrock_view_last(ngx_bedrock_view_t *v)
{
    return &v->messages[v->nmessages - 1];
}


/* -- cutting a text ---------------------------------------------------- */


/* a backslash at b begins an escape when an even run of them precedes it */

static int
ngx_bedrock_view_escape_start(const unsigned char *p, size_t b)
{
    size_t  n;

    if (p[b] != '\\') {
        return 0;
    }

    for (n = 0; n < b && p[b - n - 1] == '\\'; n++) {
        /* void */
    }

    return (n % 2) == 0;
}


static int
ngx_bedrock_view_hex4(const unsigned char *p, unsigned *value)
{
    int            i;
    unsigned char  c;

    *value = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            *value = *value * 16 + (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            *value = *value * 16 + ((c | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    return 0;
}


/*
 * May a text be cut before its q-th byte (0 <= q <= its length)?  Not
 * inside a UTF-8 character, nor inside an escape of a JSON string, nor
 * between the two halves of a surrogate pair.
 */

static int
ngx_bedrock_view_cut_ok(const ngx_bedrock_view_text_t *t,
    const unsigned char *p, size_t q)
{
    size_t    d, b, len;
    unsigned  u;

    len = t->inner.end - t->inner.start;

    if (q == 0 || q >= len) {
        return 1;
    }

    if ((p[q] & 0xc0) == 0x80) {
        return 0;
    }

    if (t->json) {
        return 1;
    }

    for (d = 1; d <= 5 && d <= q; d++) {
        b = q - d;

        if (ngx_bedrock_view_escape_start(p, b)
            && b + 1 < len
            && b + (p[b + 1] == 'u' ? 6 : 2) > q)
        {
            return 0;
        }
    }

    if (q >= 6 && ngx_bedrock_view_escape_start(p, q - 6)
        && p[q - 5] == 'u'
        && ngx_bedrock_view_hex4(p + q - 4, &u) == 0
        && u >= 0xd800 && u <= 0xdbff)
    {
        return 0;
    }

    return 1;
}


/* does the character before q end a word: a space, a tab, a line break */

static int
ngx_bedrock_view_space_before(const ngx_bedrock_view_text_t *t,
    const unsigned char *p, size_t q)
{
    if (q == 0) {
        return 0;
    }

    if (p[q - 1] == ' ' || p[q - 1] == '\n' || p[q - 1] == '\t') {
        return 1;
    }

    if (t->json) {
        return p[q - 1] == ',';
    }

    return q >= 2 && (p[q - 1] == 'n' || p[q - 1] == 't')
           && ngx_bedrock_view_escape_start(p, q - 2);
}


int
ngx_bedrock_view_cut_points(const ngx_bedrock_view_t *v, size_t text,
    size_t head_want, size_t tail_want, size_t *head, size_t *tail)
{
    size_t                          len, h, s, q;
    const unsigned char            *p;
    const ngx_bedrock_view_text_t  *t;

    t = &v->texts[text];
    p = v->body + t->inner.start;
    len = t->inner.end - t->inner.start;

    if (head_want >= len || tail_want >= len - head_want) {
        return -1;
    }

    h = head_want;

    while (h > 0 && !ngx_bedrock_view_cut_ok(t, p, h)) {
        h--;
    }

    for (q = h; q > 0 && q + NGX_BEDROCK_VIEW_SNAP > h; q--) {
        if (ngx_bedrock_view_space_before(t, p, q)
            && ngx_bedrock_view_cut_ok(t, p, q))
        {
            h = q;
            break;
        }
    }

    s = len - tail_want;

    while (s < len && !ngx_bedrock_view_cut_ok(t, p, s)) {
        s++;
    }

    for (q = s; q < len && q < s + NGX_BEDROCK_VIEW_SNAP; q++) {
        if (ngx_bedrock_view_space_before(t, p, q)
            && ngx_bedrock_view_cut_ok(t, p, q))
        {
            s = q;
            break;
        }
    }

    if (h >= s) {
        return -1;
    }

    *head = h;
    *tail = len - s;

    return 0;
}


void
ngx_bedrock_view_cut(ngx_bedrock_view_t *v, size_t text, size_t head,
    size_t tail)
{
    size_t                    len;
    ngx_bedrock_view_text_t  *t;

    t = &v->texts[text];
    len = t->inner.end - t->inner.start;

    if (head + tail >= len) {
        t->cut = 0;
        return;
    }

    t->cut = 1;
    t->head = head;
    t->tail = tail;
    t->cut_chars = ngx_bedrock_view_chars(v, text, head, len - tail);
}


size_t
ngx_bedrock_view_text_chars(ngx_bedrock_view_t *v, size_t text)
{
    ngx_bedrock_view_text_t  *t;

    t = &v->texts[text];

    if (t->chars == NGX_BEDROCK_VIEW_NONE) {
        t->chars = ngx_bedrock_view_chars(v, text, 0,
                                          t->inner.end - t->inner.start);
    }

    return t->chars;
}


void
ngx_bedrock_view_uncut(ngx_bedrock_view_t *v, size_t text)
{
    v->texts[text].cut = 0;
}


/*
 * Every byte but a UTF-8 continuation byte starts a character; an escape
 * is one character however many bytes it takes (a surrogate pair, two
 * escapes, is one).  from must be where a character starts.
 */

size_t
ngx_bedrock_view_chars(const ngx_bedrock_view_t *v, size_t text,
    size_t from, size_t to)
{
    size_t                          i, n, e, k;
    uint64_t                        w;
    unsigned                        u;
    const unsigned char            *p, *b;
    const ngx_bedrock_view_text_t  *t;

    t = &v->texts[text];
    p = v->body + t->inner.start;
    n = 0;

    /* eight bytes at a time: a continuation byte has bit 7 and not 6 */

    for (i = from; i + 8 <= to; i += 8) {
        memcpy(&w, p + i, 8);
        n += 8 - __builtin_popcountll(w & ~(w << 1)
                                      & 0x8080808080808080ULL);
    }

    for ( /* void */ ; i < to; i++) {
        n += ((p[i] & 0xc0) != 0x80);
    }

    if (t->json) {
        return n;
    }

    for (i = from; i < to; i = e) {
        b = memchr(p + i, '\\', to - i);
        if (b == NULL) {
            break;
        }

        i = b - p;

        if (i + 1 >= to) {
            break;
        }

        if (p[i + 1] != 'u') {
            e = i + 2;

        } else if (i + 12 <= to
                   && ngx_bedrock_view_hex4(p + i + 2, &u) == 0
                   && u >= 0xd800 && u <= 0xdbff
                   && p[i + 6] == '\\' && p[i + 7] == 'u')
        {
            e = i + 12;

        } else {
            e = i + 6;
        }

        e = e < to ? e : to;

        /*
         * Its bytes were counted one by one above: count it once.  cJSON
         * takes any four bytes after "\\u", continuation bytes too.
         */

        for (k = i + 1; k < e; k++) {
            n -= ((p[k] & 0xc0) != 0x80);
        }
    }

    return n;
}


size_t
ngx_bedrock_view_marker(unsigned char *buf, size_t chars)
{
    int     n, i, len;
    char    digits[32], grouped[48];
    size_t  k;

    n = snprintf(digits, sizeof(digits), "%zu", chars);

    k = 0;

    for (i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            grouped[k++] = ',';
        }

        grouped[k++] = digits[i];
    }

    grouped[k] = '\0';

    len = snprintf((char *) buf, NGX_BEDROCK_VIEW_MARKER_LEN,
                   "\\n[... %s character%s cut by the gateway ...]\\n",
                   grouped, chars == 1 ? "" : "s");

    /* the longest count of a size_t fits; never more than was written */
    return len < NGX_BEDROCK_VIEW_MARKER_LEN
           ? (size_t) len : NGX_BEDROCK_VIEW_MARKER_LEN - 1;
}


/* -- writing the body back --------------------------------------------- */


static size_t
ngx_bedrock_view_escape(unsigned char *out, const unsigned char *p,
    size_t len)
{
    size_t          i, n;
    unsigned char   c;
    static const char  hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (c == '"' || c == '\\' || c == '\n' || c == '\t' || c == '\r') {
            if (out) {
                out[n] = '\\';
                out[n + 1] = c == '\n' ? 'n' : c == '\t' ? 't'
                             : c == '\r' ? 'r' : c;
            }

            n += 2;

        } else if (c < 0x20) {
            if (out) {
                memcpy(out + n, "\\u00", 4);
                out[n + 4] = hex[c >> 4];
                out[n + 5] = hex[c & 0xf];
            }

            n += 6;

        } else {
            if (out) {
                out[n] = c;
            }

            n++;
        }
    }

    return n;
}


/* a cut text as JSON; with out NULL, only its length */

static size_t
ngx_bedrock_view_render(const ngx_bedrock_view_t *v,
    const ngx_bedrock_view_text_t *t, unsigned char *out)
{
    size_t                len, n, m;
    unsigned char         marker[NGX_BEDROCK_VIEW_MARKER_LEN];
    const unsigned char  *p;

    p = v->body + t->inner.start;
    len = t->inner.end - t->inner.start;
    m = ngx_bedrock_view_marker(marker, t->cut_chars);

    if (!t->json) {
        if (out) {
            out[0] = '"';
            memcpy(out + 1, p, t->head);
            memcpy(out + 1 + t->head, marker, m);
            memcpy(out + 1 + t->head + m, p + len - t->tail, t->tail);
            out[1 + t->head + m + t->tail] = '"';
        }

        return t->head + m + t->tail + 2;
    }

    n = sizeof("{\"text\":\"") - 1;

    if (out) {
        memcpy(out, "{\"text\":\"", n);
    }

    n += ngx_bedrock_view_escape(out ? out + n : NULL, p, t->head);

    if (out) {
        memcpy(out + n, marker, m);
    }

    n += m;
    n += ngx_bedrock_view_escape(out ? out + n : NULL, p + len - t->tail,
                                 t->tail);

    if (out) {
        memcpy(out + n, "\"}", 2);
    }

    return n + 2;
}


static int
ngx_bedrock_view_edit_cmp(const void *a, const void *b)
{
    const ngx_bedrock_view_edit_t  *x = a, *y = b;

    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }

    return (x->end > y->end) - (x->end < y->end);
}


/*
 * The body with its edits: a dropped run of messages goes with the comma
 * before it (or, at the head of the array, the one after it), so the
 * blanks of the kept ones stay as they were; a cut text is written anew.
 */

int
ngx_bedrock_view_serialize(const ngx_bedrock_view_t *v, unsigned char **out,
    size_t *len)
{
    size_t                       i, j, n, ne, size, pos, w;
    unsigned char               *buf;
    ngx_bedrock_view_edit_t     *edits, *e;
    ngx_bedrock_view_message_t  *msg;

    n = 0;

    for (i = 0; i < v->ntexts; i++) {
        n += v->texts[i].cut;
    }

    for (i = 0; i < v->nmessages; i++) {
        n += v->messages[i].dropped;
    }

    edits = malloc((n ? n : 1) * sizeof(ngx_bedrock_view_edit_t));
    if (edits == NULL) {
        return -1;
    }

    ne = 0;
    msg = v->messages;

    for (i = 0; i < v->nmessages; i = j) {

        if (!msg[i].dropped) {
            j = i + 1;
            continue;
        }

        for (j = i; j < v->nmessages && msg[j].dropped; j++) {
            /* void */
        }

        e = &edits[ne++];
        e->text = NGX_BEDROCK_VIEW_NONE;

        if (i > 0) {
            e->start = msg[i - 1].span.end;
            e->end = msg[j - 1].span.end;

        } else if (j < v->nmessages) {
            e->start = msg[0].span.start;
            e->end = msg[j].span.start;

        } else {
            e->start = msg[0].span.start;
            e->end = msg[j - 1].span.end;
        }
    }

    for (i = 0; i < v->ntexts; i++) {
        if (!v->texts[i].cut
            || (v->texts[i].message != NGX_BEDROCK_VIEW_NONE
                && msg[v->texts[i].message].dropped))
        {
            continue;
        }

        e = &edits[ne++];
        e->start = v->texts[i].span.start;
        e->end = v->texts[i].span.end;
        e->text = i;
    }

    qsort(edits, ne, sizeof(ngx_bedrock_view_edit_t),
          ngx_bedrock_view_edit_cmp);

    size = v->len;

    for (i = 0; i < ne; i++) {
        size -= edits[i].end - edits[i].start;

        if (edits[i].text != NGX_BEDROCK_VIEW_NONE) {
            size += ngx_bedrock_view_render(v, &v->texts[edits[i].text],
                                             NULL);
        }
    }

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        free(edits);
        return -1;
    }

    pos = 0;
    w = 0;

    for (i = 0; i < ne; i++) {
        memcpy(buf + w, v->body + pos, edits[i].start - pos);
        w += edits[i].start - pos;

        if (edits[i].text != NGX_BEDROCK_VIEW_NONE) {
            w += ngx_bedrock_view_render(v, &v->texts[edits[i].text],
                                         buf + w);
        }

        pos = edits[i].end;
    }

    memcpy(buf + w, v->body + pos, v->len - pos);
    w += v->len - pos;

    free(edits);

    if (w != size) {
        /* cannot happen: the sizes above are those written */
        free(buf);
        return -1;
    }

    *out = buf;
    *len = size;

    return 0;
}
