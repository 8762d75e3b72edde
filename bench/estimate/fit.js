#!/usr/bin/env node
/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Fits the weights of the text scan to the tokenizer's counts.
 *
 *   node fit.js FEATURES [ngx_bedrock_estimate.c]
 *
 * FEATURES is what "bench_estimate features" prints: per sample, the
 * tokenizer's count and the scan's counts.  The fit minimises the sum of
 * squared relative errors, (estimate - tokens) / tokens, over all samples
 * (so a short sample weighs as much as a long one), with every weight
 * kept at zero or above (Lawson and Hanson's NNLS) and pulled lightly
 * toward its current value (so a count that the corpus rarely shows keeps
 * a sensible weight).  A hinge penalty then holds every sample of over
 * 1,000 tokens at most 7% under its count: a limiter had better err high.
 * Whatever that leaves is closed by raising all weights by one factor.
 * It prints the new table for ngx_bedrock_estimate.c, or writes it there
 * when the file is named.
 */

'use strict';

const fs = require('fs');

const [featFile, srcFile] = process.argv.slice(2);

if (!featFile) {
    process.stderr.write('usage: fit.js FEATURES [ngx_bedrock_estimate.c]\n');
    process.exit(2);
}

const lines = fs.readFileSync(featFile, 'utf8').trim().split('\n');
const names = lines[0].split('\t').slice(3);
const rows = lines.slice(1).map((l) => {
    const f = l.split('\t');
    return { id: f[0], cat: f[1], y: Number(f[2]), x: f.slice(3).map(Number) };
}).filter((r) => r.y > 0);

const n = names.length;

/* the current weights, from the source, as the prior */
const src = fs.readFileSync(srcFile || __dirname
    + '/../../ngx_bedrock_module/ngx_bedrock_estimate.c', 'utf8');
const block = src.slice(src.indexOf('BEGIN WEIGHTS'), src.indexOf('END WEIGHTS'));
const prior = (block.replace(/\/\*[^]*?\*\//g, '').match(/\d+/g) || [])
    .map((v) => Number(v) / 1000);

if (prior.length !== n) {
    process.stderr.write('fit.js: ' + prior.length + ' weights in the source, '
                         + n + ' features\n');
    process.exit(1);
}

/*
 * The normal equations of
 *   sum over samples ((x.w - y) / y)^2
 *   + penalty * sum over samples of over 1,000 tokens that come out more
 *     than 8% low ((x.w - 0.92 y) / y)^2
 *   + ridge * sum (w - prior)^2,
 * solved by coordinate descent with w >= 0.  Samples that come out too
 * low join the penalty and stay in it, until none does.
 */

const ridge = 1e-3 * rows.length;
const penalty = 100;
const low = new Map();

const solve = (w) => {
    const A = [...Array(n)].map(() => new Float64Array(n));
    const b = new Float64Array(n);

    const add = (r, weight, target) => {
        const z = r.x.map((v) => v / r.y);
        for (let i = 0; i < n; i++) {
            if (z[i] === 0) {
                continue;
            }
            b[i] += weight * target * z[i];
            for (let j = 0; j < n; j++) {
                A[i][j] += weight * z[i] * z[j];
            }
        }
    };

    for (const r of rows) {
        add(r, r.weight, 1);
        if (low.has(r)) {
            add(r, low.get(r), 0.94);
        }
    }

    for (let i = 0; i < n; i++) {
        A[i][i] += ridge;
        b[i] += ridge * prior[i];
    }

    /* Lawson and Hanson's non-negative least squares, on the normal
     * equations: minimise w'Aw/2 - b'w with w >= 0 */

    const gauss = (idx) => {
        const m = idx.length;
        const M = idx.map((i) => [...idx.map((j) => A[i][j]), b[i]]);

        for (let c = 0; c < m; c++) {
            let piv = c;
            for (let r = c + 1; r < m; r++) {
                if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) {
                    piv = r;
                }
            }
            [M[c], M[piv]] = [M[piv], M[c]];
            for (let r = 0; r < m; r++) {
                if (r !== c) {
                    const f = M[r][c] / M[c][c];
                    for (let k = c; k <= m; k++) {
                        M[r][k] -= f * M[c][k];
                    }
                }
            }
        }

        return idx.map((i, c) => M[c][m] / M[c][c]);
    };

    const pos = new Set();
    w.fill(0);

    for (let outer = 0; outer < 10 * n; outer++) {
        let t = -1, best = 1e-12;

        for (let j = 0; j < n; j++) {
            if (pos.has(j)) {
                continue;
            }
            let g = b[j];
            for (let k = 0; k < n; k++) {
                g -= A[j][k] * w[k];
            }
            if (g > best) {
                best = g;
                t = j;
            }
        }

        if (t < 0) {
            break;
        }

        pos.add(t);

        for (let inner = 0; inner < 10 * n; inner++) {
            const idx = [...pos];
            const z = gauss(idx);

            if (z.every((v) => v > 0)) {
                idx.forEach((i, c) => { w[i] = z[c]; });
                break;
            }

            let alpha = 1;
            idx.forEach((i, c) => {
                if (z[c] <= 0) {
                    alpha = Math.min(alpha, w[i] / (w[i] - z[c]));
                }
            });

            idx.forEach((i, c) => {
                w[i] += alpha * (z[c] - w[i]);
                if (w[i] <= 1e-12) {
                    w[i] = 0;
                    pos.delete(i);
                }
            });
        }
    }
};

const w = Float64Array.from(prior);

for (const r of rows) {
    r.weight = 1;
}

/*
 * The penalty is a hinge: only the samples that come out too low at the
 * current weights are in it, so it is solved again until that set stays
 * the same.
 */
let prev = '';

for (let round = 0; round < 100; round++) {
    solve(w);

    /* in when 7% low, out when 6% high; a sample still 9% low after a
     * round weighs four times more */
    for (const r of rows) {
        let s = 0;
        for (let i = 0; i < n; i++) {
            s += r.x[i] * w[i];
        }
        if (r.y > 1000 && s < 0.93 * r.y) {
            low.set(r, low.has(r) && s < 0.91 * r.y ? 4 * low.get(r)
                                                    : low.get(r) || penalty);
        } else if (s > 0.95 * r.y) {
            low.delete(r);
        }
    }

    const key = [...low].map(([r, v]) => r.id + ':' + v).sort().join(',');
    if (key === prev) {
        break;
    }
    prev = key;
}

const predict = (r, wt) => {
    let s = 0;
    for (let i = 0; i < n; i++) {
        s += r.x[i] * wt[i];
    }
    return s;
};

/* what the penalty left: raise until no sample over 1,000 tokens is
 * under by more than 9% */
let scale = 1;
for (const r of rows) {
    if (r.y > 1000) {
        scale = Math.max(scale, 0.91 * r.y / predict(r, w));
    }
}

const fitted = [...w].map((v) => Math.round(v * scale * 1000));

const evaluate = (wt) => {
    let within = 0, under = 0;
    for (const r of rows) {
        const e = (Math.ceil(predict(r, wt) / 1000) - r.y) / r.y;
        within += Math.abs(e) <= 0.1;
        under += r.y > 1000 && e < -0.1;
    }
    return (100 * within / rows.length).toFixed(1) + '% within 10%, '
        + under + ' under by 10% over 1,000 tokens';
};

process.stderr.write('fit.js: ' + rows.length + ' samples, '
    + low.size + ' held up by the penalty (' + [...low.keys()].map((r) => r.cat).sort().join(' ') + '), scale ' + scale.toFixed(3) + '\n'
    + '  before: ' + evaluate(prior.map((v) => v * 1000)) + '\n'
    + '  after:  ' + evaluate(fitted) + '\n');

/* the table, laid out as in the source: a label, then its weights */
const layout = [
    ['                       piece  past 5  past 10', 0],
    ['" word"         ', 3], ['"word"          ', 3],
    ['" Word"         ', 3], ['"Word"          ', 3],
    ['"WORD", " WORD" ', 3], ['"miXed"         ', 3],
    ['                       piece  past 3', 0],
    ['digits          ', 2], ['punctuation     ', 2], ['whitespace      ', 1],
    ['                       piece  ASCII letter', 0],
    ['word beyond ASCII', 2],
    ['per character', 0],
    ['Latin-1         ', 1], ['Latin Extended  ', 1], ['Greek           ', 1],
    ['Cyrillic        ', 1], ['RTL             ', 1], ['Thai            ', 1],
    ['other scripts   ', 1], ['kana of 1, 2    ', 2],
    ['Han of 1, 2, 3  ', 3], ['Hangul of 1, 2, 3', 3],
    ['symbols         ', 1], ['beyond U+FFFF   ', 1]
];

const table_lines = ['    /* BEGIN WEIGHTS (written by bench/estimate/fit.js) */'];
let at = 0;

for (const [label, count] of layout) {
    if (count === 0) {
        table_lines.push('    /* ' + label + ' */');
        continue;
    }

    const vals = fitted.slice(at, at + count).map((v) => String(v).padStart(5));
    at += count;
    table_lines.push('    /* ' + label + ' */    ' + vals.join(',   ')
               + (at < fitted.length ? ',' : ''));
}

table_lines.push('    /* END WEIGHTS */');

if (at !== n) {
    process.stderr.write('fit.js: the layout has ' + at + ' weights, the scan '
                         + n + '\n');
    process.exit(1);
}

const out = table_lines.join('\n');

if (srcFile) {
    const a = src.indexOf('    /* BEGIN WEIGHTS');
    const z = src.indexOf('/* END WEIGHTS */') + '/* END WEIGHTS */'.length;
    fs.writeFileSync(srcFile, src.slice(0, a) + out + src.slice(z));
    process.stderr.write('fit.js: weights written to ' + srcFile + '\n');
} else {
    process.stdout.write(out + '\n');
}
