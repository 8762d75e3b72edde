#!/usr/bin/env node
/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The corpus builder of the estimator's bench.  No sample text is kept in
 * the repository: every sample is assembled, at bench time, from files
 * that a Debian 12 machine of this project has (man pages, package docs,
 * Python, Perl, C and JavaScript sources, the .mo catalogues of the
 * locales) or from seeded generators (JSON, logs, mixed documents).
 * figures.tsv names each sample's source and byte range, its SHA-256 and
 * the tokenizer's count, so a run on another machine rebuilds the same
 * bytes, or says which ones differ.
 *
 *   node corpus.js select [SEED]     choose sources, print figures.tsv
 *                                    (without token counts) to stdout
 *   node corpus.js build FIGURES DIR write every sample to DIR/<id>.txt;
 *                                    print "id<TAB>ok|changed|missing"
 */

'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');
const cp = require('child_process');


/* a small seeded generator: the same seed, the same corpus */

function rng(seed) {
    let a = seed >>> 0;

    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };

    next.int = (n) => Math.floor(next() * n);
    next.pick = (arr) => arr[next.int(arr.length)];
    next.range = (lo, hi) => lo + next.int(hi - lo + 1);
    return next;
}


const utf8 = new TextDecoder('utf-8', { fatal: true });

function validUtf8(buf) {
    try {
        utf8.decode(buf);
        return true;
    } catch (e) {
        return false;
    }
}

function sha256(buf) {
    return crypto.createHash('sha256').update(buf).digest('hex');
}


/* -- text producers: (kind, source) -> Buffer, or null ------------------ */

function readFileText(file) {
    let buf;

    try {
        buf = fs.readFileSync(file);
    } catch (e) {
        return null;
    }

    if (file.endsWith('.gz')) {
        try {
            buf = zlib.gunzipSync(buf);
        } catch (e) {
            return null;
        }
    }

    return validUtf8(buf) ? buf : null;
}

/* a man page as a terminal shows it, 80 columns, without overstrikes */
function renderMan(file) {
    const r = cp.spawnSync('sh', ['-c',
        'man --no-hyphenation --no-justification -l "$1" 2>/dev/null'
        + ' | col -bx', 'sh', file], {
        env: Object.assign({}, process.env, {
            MANWIDTH: '80', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8',
            MAN_KEEP_FORMATTING: '', GROFF_NO_SGR: '1', MANPAGER: 'cat',
            PAGER: 'cat'
        }),
        maxBuffer: 64 << 20
    });

    if (r.status !== 0 || r.stdout.length === 0) {
        return null;
    }

    return validUtf8(r.stdout) ? r.stdout : null;
}

/*
 * Running prose from a rendered man page: indentation dropped, the lines
 * of a paragraph joined, blank lines kept between paragraphs.
 */
function reflow(buf) {
    const out = [];
    let para = [];

    for (const raw of buf.toString('utf8').split('\n')) {
        const line = raw.trim().replace(/\s+/g, ' ');

        if (line === '') {
            if (para.length) {
                out.push(para.join(' '));
                para = [];
            }
            continue;
        }

        para.push(line);
    }

    if (para.length) {
        out.push(para.join(' '));
    }

    return Buffer.from(out.join('\n\n') + '\n');
}

/* the translated strings of a GNU .mo catalogue, one per line */
function readMo(file) {
    let buf;

    try {
        buf = fs.readFileSync(file);
    } catch (e) {
        return null;
    }

    if (buf.length < 28) {
        return null;
    }

    let rd;
    if (buf.readUInt32LE(0) === 0x950412de) {
        rd = (o) => buf.readUInt32LE(o);
    } else if (buf.readUInt32BE(0) === 0x950412de) {
        rd = (o) => buf.readUInt32BE(o);
    } else {
        return null;
    }

    const n = rd(8), tr = rd(16);
    const parts = [];

    for (let i = 0; i < n; i++) {
        const len = rd(tr + 8 * i), off = rd(tr + 8 * i + 4);

        if (off + len > buf.length) {
            return null;
        }

        /* the header entry (empty msgid) is metadata, not text */
        const s = buf.subarray(off, off + len);
        if (i === 0 && s.includes('Content-Type:')) {
            continue;
        }

        /* plural forms are NUL-separated: one per line */
        for (const form of s.toString('utf8').split('\0')) {
            if (form.trim() !== '') {
                parts.push(form.replace(/\n+$/, ''));
            }
        }
    }

    const out = Buffer.from(parts.join('\n') + '\n');
    return validUtf8(out) ? out : null;
}

function produce(kind, source) {
    switch (kind) {
    case 'file':
        return readFileText(source);
    case 'man': {
        return renderMan(source);
    }
    case 'prose': {
        const b = renderMan(source);
        return b ? reflow(b) : null;
    }
    case 'mo':
        return readMo(source);
    default:
        return null;
    }
}


/* -- generators ---------------------------------------------------------- */

let vocabCache = null;

/* words to fill generated values with: those of the GPL-3 text */
function vocab() {
    if (vocabCache) {
        return vocabCache;
    }

    const t = readFileText('/usr/share/common-licenses/GPL-3');
    const seen = new Set();

    for (const w of (t ? t.toString() : 'alpha beta gamma delta')
             .toLowerCase().match(/[a-z]{2,}/g)) {
        seen.add(w);
    }

    vocabCache = [...seen].sort();
    return vocabCache;
}

function words(r, n) {
    const v = vocab(), out = [];

    for (let i = 0; i < n; i++) {
        out.push(r.pick(v));
    }

    return out.join(' ');
}

function sentence(r) {
    const s = words(r, r.range(5, 18));
    return s[0].toUpperCase() + s.slice(1) + r.pick(['.', '.', '.', '?', '!']);
}

function hex(r, n) {
    let s = '';
    for (let i = 0; i < n; i++) {
        s += '0123456789abcdef'[r.int(16)];
    }
    return s;
}

function uuid(r) {
    return hex(r, 8) + '-' + hex(r, 4) + '-4' + hex(r, 3) + '-'
        + '89ab'[r.int(4)] + hex(r, 3) + '-' + hex(r, 12);
}

function ident(r) {
    const v = vocab();
    const a = r.pick(v), b = r.pick(v);

    switch (r.int(4)) {
    case 0: return a;
    case 1: return a + '_' + b;
    case 2: return a + b[0].toUpperCase() + b.slice(1);
    default: return a + '-' + b;
    }
}

function isoTime(r, base) {
    return new Date(base).toISOString();
}

function ip(r) {
    return [10 + r.int(200), r.int(256), r.int(256), 1 + r.int(254)].join('.');
}

function jsonValue(r, depth) {
    const k = r.int(depth > 2 ? 6 : 9);

    switch (k) {
    case 0: return r.int(100000);
    case 1: return Math.round(r() * 1e6) / 100;
    case 2: return r() < 0.5;
    case 3: return r() < 0.2 ? null : uuid(r);
    case 4: return words(r, r.range(1, 4));
    case 5: return r() < 0.5 ? sentence(r) : isoTime(r, 1.7e12 + r.int(3e10));
    case 6: {
        const a = [], n = r.range(0, 5);
        for (let i = 0; i < n; i++) {
            a.push(jsonValue(r, depth + 1));
        }
        return a;
    }
    default:
        return jsonObject(r, depth + 1);
    }
}

function jsonObject(r, depth) {
    const o = {}, n = r.range(2, 8);

    o.id = r() < 0.5 ? r.int(1e7) : uuid(r);

    for (let i = 0; i < n; i++) {
        o[ident(r)] = jsonValue(r, depth);
    }

    return o;
}

function genJson(seed, bytes) {
    const r = rng(seed);
    const style = r.int(3);     /* 0 compact, 1 two-space, 2 four-space */
    const items = [];
    let size = 0;

    while (size < bytes) {
        const o = jsonObject(r, 0);
        items.push(o);
        size += JSON.stringify(o, null, style * 2).length + 2;
    }

    const doc = r() < 0.5 ? items : { data: items, next: uuid(r),
                                      count: items.length };
    return Buffer.from(JSON.stringify(doc, null, style * 2) + '\n');
}

function genLog(seed, bytes) {
    const r = rng(seed);
    const style = r.int(5);
    const lines = [];
    let t = 1.7e12 + r.int(3e10), size = 0;
    const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
    const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
    const hosts = ['web-1', 'web-2', 'api-a', 'worker-3', 'db-main'];

    while (size < bytes) {
        let line;
        t += r.int(5000);
        const d = new Date(t);

        switch (style) {
        case 0:
            line = ip(r) + ' - - [' + d.toUTCString() + '] "'
                + r.pick(methods) + ' /' + ident(r) + '/' + r.int(99999)
                + '?q=' + ident(r) + ' HTTP/1.1" '
                + r.pick([200, 200, 200, 201, 304, 404, 429, 500, 503])
                + ' ' + r.int(90000) + ' "-" "client/' + r.range(1, 9)
                + '.' + r.int(20) + '"';
            break;
        case 1:
            line = d.toISOString() + ' ' + r.pick(hosts) + ' '
                + ident(r) + '[' + r.range(100, 65000) + ']: '
                + sentence(r);
            break;
        case 2:
            line = JSON.stringify({
                ts: d.toISOString(), level: r.pick(levels).toLowerCase(),
                msg: words(r, r.range(3, 9)), request_id: uuid(r),
                latency_ms: r.int(3000), path: '/' + ident(r)
            });
            break;
        case 3:
            line = d.toISOString().replace('T', ' ').slice(0, 23) + ' '
                + r.pick(levels) + ' [' + ident(r) + '] '
                + sentence(r);
            if (r() < 0.1) {
                line += '\nTraceback (most recent call last):';
                for (let i = r.range(2, 6); i > 0; i--) {
                    line += '\n  File "/srv/app/' + ident(r) + '.py", line '
                        + r.range(1, 900) + ', in ' + ident(r)
                        + '\n    ' + ident(r) + '(' + ident(r) + ')';
                }
                line += '\nValueError: ' + words(r, 5);
            }
            break;
        default:
            line = '[' + d.toISOString() + '] ' + r.pick(levels) + ' '
                + r.pick(hosts) + ' pid=' + r.range(100, 65000) + ' '
                + ident(r) + '=' + r.int(1e6) + ' ' + ident(r) + '='
                + hex(r, 16) + ' dur=' + (r() * 10).toFixed(3) + 's '
                + words(r, r.range(2, 6));
        }

        lines.push(line);
        size += line.length + 1;
    }

    return Buffer.from(lines.join('\n') + '\n');
}

/* pieces of other samples put together as a chat or a markdown document */
function genMixed(seed, bytes, pool) {
    const r = rng(seed);
    const parts = [];
    let size = 0;
    const chat = r() < 0.5;
    let turn = 0;

    const excerpt = (cat, n) => {
        const c = pool.filter((s) => s.category === cat);
        if (c.length === 0) {
            return '';
        }
        const b = r.pick(c).text;
        let s = Math.min(r.int(Math.max(1, b.length - n)), b.length);
        /* start and end on line boundaries, as a person would paste */
        while (s > 0 && b[s - 1] !== 0x0a) {
            s--;
        }
        let e = Math.min(b.length, s + n);
        while (e < b.length && b[e - 1] !== 0x0a) {
            e++;
        }
        return b.subarray(s, e).toString('utf8');
    };

    while (size < bytes) {
        let p;
        const n = r.range(200, 3000);

        switch (r.int(7)) {
        case 0:
            p = '```' + r.pick(['python', 'c', 'perl', 'js', '']) + '\n'
                + excerpt('code', n) + '```\n';
            break;
        case 1:
            p = '```json\n' + excerpt('json', n) + '```\n';
            break;
        case 2:
            p = excerpt('logs', n);
            break;
        case 3:
            p = excerpt(r() < 0.5 ? 'cjk' : 'intl', n);
            break;
        case 4:
            p = excerpt('docs', n);
            break;
        default:
            p = excerpt('prose', n);
        }

        if (chat) {
            p = (turn++ % 2 ? 'Assistant: ' : 'User: ') + p;
        } else if (r() < 0.4) {
            p = '## ' + sentence(r).slice(0, -1) + '\n\n' + p;
        }

        parts.push(p);
        size += Buffer.byteLength(p) + 2;
    }

    return Buffer.from(parts.join('\n\n'));
}


/* -- selection --------------------------------------------------------- */

function walk(dir, test, out) {
    let ents;

    try {
        ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
        return out;
    }

    for (const e of ents) {
        const p = path.join(dir, e.name);

        if (e.isDirectory()) {
            walk(p, test, out);
        } else if (e.isFile() && test(p)) {
            out.push(p);
        }
    }

    return out;
}

function files(dirs, test) {
    const out = [];

    for (const d of dirs) {
        walk(d, test, out);
    }

    return out.sort();
}

/* thousands of near-identical generated pages would crowd out the rest */
function manPage(p) {
    return p.endsWith('.gz') && !path.basename(p).startsWith('gcloud');
}

const CATEGORIES = {
    prose: () => [
        ['prose', files(['/usr/share/man/man7'], manPage)],
        ['prose', files(['/usr/share/man/man1', '/usr/share/man/man5'],
                        manPage)]
    ],
    docs: () => [
        ['file', files(['/usr/share/doc/nodejs/api'],
                       (p) => p.endsWith('.md'))],
        ['file', files(['/usr/share/doc'], (p) =>
            /\/(README|NEWS|FAQ|TODO)[^/]*$|\.(md|txt)(\.gz)?$/i.test(p)
            && !p.includes('/nodejs/'))],
        ['man', files(['/usr/share/man/man1', '/usr/share/man/man3',
                       '/usr/share/man/man8'], manPage)]
    ],
    code: () => [
        ['file', files(['/usr/lib/python3.11'], (p) => p.endsWith('.py')
                       && !p.includes('/test/'))],
        ['file', files(['/usr/share/perl/5.36'], (p) => p.endsWith('.pm'))],
        ['file', files(['/usr/include'], (p) => p.endsWith('.h'))],
        ['file', files(['/usr/lib/node_modules/npm/lib'],
                       (p) => p.endsWith('.js'))]
    ],
    json: () => [
        ['gen:json', null],
        ['gen:json', null],
        ['file', files(['/usr/share/doc/nodejs/api'],
                       (p) => p.endsWith('.json.gz'))]
    ],
    logs: () => [
        ['gen:log', null]
    ],
    cjk: () => [
        ['mo', files(['/usr/share/locale/zh_CN/LC_MESSAGES',
                      '/usr/share/locale/zh_TW/LC_MESSAGES',
                      '/usr/share/locale/ja/LC_MESSAGES',
                      '/usr/share/locale/ko/LC_MESSAGES'],
                     (p) => p.endsWith('.mo'))]
    ],
    intl: () => [
        ['mo', files(['ru', 'uk', 'el', 'ar', 'he', 'hi', 'th', 'vi', 'de',
                      'fr', 'es', 'pl', 'tr', 'pt_BR', 'cs']
                     .map((l) => '/usr/share/locale/' + l + '/LC_MESSAGES'),
                     (p) => p.endsWith('.mo'))]
    ]
};

/*
 * Sample sizes: log-uniform from 400 bytes (about 100 tokens) to 80 KB.
 * Below that the error of any estimate is a few tokens, which is no
 * matter to a limiter, but many percent.
 */
function sizeOf(r) {
    return Math.round(Math.exp(Math.log(400)
                               + r() * (Math.log(80000) - Math.log(400))));
}

/* a line-aligned byte range of about want bytes of buf */
function slice(r, buf, want) {
    if (buf.length <= want) {
        return [0, buf.length];
    }

    let s = r.int(buf.length - want);
    while (s > 0 && buf[s - 1] !== 0x0a) {
        s--;
    }

    let e = Math.min(buf.length, s + want);
    while (e < buf.length && buf[e - 1] !== 0x0a) {
        e++;
    }

    return [s, e - s];
}

function select(seed, perCategory) {
    const r = rng(seed);
    const rows = [];
    let id = 0;

    for (const cat of Object.keys(CATEGORIES)) {
        const groups = CATEGORIES[cat]();

        for (let i = 0, tries = 0; i < perCategory && tries < 50 * perCategory;
             tries++)
        {
            const [kind, list] = groups[i % groups.length];
            const want = sizeOf(r);

            if (kind.startsWith('gen:')) {
                rows.push({ id: ++id, category: cat, kind, source:
                            String(r.int(1e9)), start: 0, len: want });
                i++;
                continue;
            }

            if (list.length === 0) {
                continue;
            }

            const src = r.pick(list);
            const buf = produce(kind, src);

            /* small files only make small samples: skip most of them */
            if (buf === null || buf.length < 400
                || (buf.length < want / 4 && r() < 0.8))
            {
                continue;
            }

            const [s, n] = slice(r, buf, want);
            rows.push({ id: ++id, category: cat, kind, source: src,
                        start: s, len: n });
            i++;
        }
    }

    for (let i = 0; i < perCategory; i++) {
        rows.push({ id: ++id, category: 'mixed', kind: 'gen:mixed',
                    source: String(r.int(1e9)), start: 0, len: sizeOf(r) });
    }

    return rows;
}


/* -- materialize --------------------------------------------------------- */

function materialize(row, pool, cache) {
    switch (row.kind) {
    case 'gen:json':
        return genJson(Number(row.source), row.len);
    case 'gen:log':
        return genLog(Number(row.source), row.len);
    case 'gen:mixed':
        return genMixed(Number(row.source), row.len, pool);
    }

    const key = row.kind + ':' + row.source;
    if (!cache.has(key)) {
        cache.clear();
        cache.set(key, produce(row.kind, row.source));
    }

    const buf = cache.get(key);
    if (buf === null || row.start + row.len > buf.length) {
        return null;
    }

    return buf.subarray(row.start, row.start + row.len);
}

const HEADER = ['id', 'category', 'kind', 'source', 'start', 'len',
                'bytes', 'sha256', 'tokens'];

function readFigures(file) {
    const rows = [];

    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (line === '' || line.startsWith('#') || line.startsWith('id\t')) {
            continue;
        }

        const f = line.split('\t');
        const row = {};
        HEADER.forEach((h, i) => { row[h] = f[i]; });
        row.start = Number(row.start);
        row.len = Number(row.len);
        rows.push(row);
    }

    return rows;
}

/* every sample in order; the mixed ones draw on those built before them */
function buildAll(rows, onSample) {
    const pool = [];
    const cache = new Map();

    for (const row of rows) {
        const text = materialize(row, pool, cache);

        if (text !== null && row.category !== 'mixed') {
            pool.push({ category: row.category, text });
        }

        onSample(row, text);
    }
}

module.exports = { readFigures, buildAll, sha256, HEADER };


if (require.main === module) {
    const cmd = process.argv[2];

    if (cmd === 'select') {
        const seed = Number(process.argv[3] || 20260101);
        const per = Number(process.argv[4] || 70);
        const rows = select(seed, per);

        process.stdout.write(HEADER.join('\t') + '\n');

        buildAll(rows, (row, text) => {
            if (text === null) {
                return;
            }
            process.stdout.write([row.id, row.category, row.kind, row.source,
                                  row.start, row.len, text.length,
                                  sha256(text), ''].join('\t') + '\n');
        });

    } else if (cmd === 'build') {
        const rows = readFigures(process.argv[3]);
        const dir = process.argv[4];

        fs.mkdirSync(dir, { recursive: true });

        buildAll(rows, (row, text) => {
            const out = path.join(dir, row.id + '.txt');

            if (text === null) {
                fs.rmSync(out, { force: true });
                process.stdout.write(row.id + '\tmissing\n');
                return;
            }

            fs.writeFileSync(out, text);
            process.stdout.write(row.id + '\t'
                + (sha256(text) === row.sha256 ? 'ok' : 'changed') + '\n');
        });

    } else {
        process.stderr.write('usage: corpus.js select [SEED [PER]]'
                             + ' | build FIGURES DIR\n');
        process.exit(2);
    }
}
