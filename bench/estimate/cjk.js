#!/usr/bin/env node
/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Writes the CJK cost maps of ngx_bedrock_estimate.c from the public
 * Claude tokenizer.  The tokenizer encodes a CJK character alone in one
 * token (the few hundred most common), two (its first two UTF-8 bytes
 * merged) or three (no merge); which of two or three is decided almost
 * always by the 64-character page the character is in, that is by its
 * first two bytes.  So the maps are: a bit per page, set where the
 * characters cost three, and a bit per character, set where it costs one.
 *
 *   node cjk.js [ngx_bedrock_estimate.c]
 *
 * prints the tables, or replaces them in the file between the markers
 * BEGIN CJK and END CJK.
 */

'use strict';

const fs = require('fs');
const { getTokenizer } = require('@anthropic-ai/tokenizer');

const tok = getTokenizer();
const cost = (c) => tok.encode(String.fromCodePoint(c), 'all').length;

/* the ranges, as the scan knows them: first, last + 1 (64-aligned) */
const ranges = [
    ['han', 0x4e00, 0xa000],
    ['hangul', 0xac00, 0xd7c0],
    ['kana', 0x3040, 0x3100]
];

const words = (bits) => {
    const out = [];
    for (let i = 0; i < bits.length; i += 64) {
        let hi = 0n;
        for (let j = 0; j < 64; j++) {
            if (bits[i + j]) {
                hi |= 1n << BigInt(j);
            }
        }
        out.push('0x' + hi.toString(16).padStart(16, '0'));
    }
    return out;
};

const table = (name, list) => {
    const lines = [];
    for (let i = 0; i < list.length; i += 3) {
        lines.push('    ' + list.slice(i, i + 3).join(', ')
                   + (i + 3 < list.length ? ',' : ''));
    }
    return 'static const uint64_t  ngx_bedrock_' + name + '[] = {\n'
        + lines.join('\n') + '\n};\n';
};

let out = '/* BEGIN CJK (written by bench/estimate/cjk.js) */\n';
let stats = '';

for (const [name, lo, hi] of ranges) {
    const one = [], page = [];
    let n1 = 0, n3 = 0;

    for (let p = lo; p < hi; p += 64) {
        let threes = 0;
        for (let c = p; c < p + 64; c++) {
            const k = c < hi ? cost(c) : 3;
            one.push(k === 1 ? 1 : 0);
            n1 += k === 1;
            threes += k === 3;
        }
        page.push(threes > 32 ? 1 : 0);
        n3 += threes > 32;
    }

    stats += name + ': ' + n1 + ' characters of one token, ' + n3 + ' of '
        + page.length + ' pages of three\n';

    out += '\n/* ' + name + ', U+' + lo.toString(16).toUpperCase() + ' to U+'
        + (hi - 1).toString(16).toUpperCase() + ': characters of one token */\n'
        + table(name + '_one', words(one));

    if (name !== 'kana') {
        out += '/* ... and its pages of 64 whose characters cost three */\n'
            + table(name + '_three', words(page));
    }
}

out += '/* END CJK */';

tok.free();
process.stderr.write(stats);

const file = process.argv[2];

if (file) {
    const src = fs.readFileSync(file, 'utf8');
    const a = src.indexOf('/* BEGIN CJK');
    const z = src.indexOf('/* END CJK */') + '/* END CJK */'.length;
    if (a < 0 || z < a) {
        process.stderr.write('cjk.js: no BEGIN CJK ... END CJK in ' + file
                             + '\n');
        process.exit(1);
    }
    fs.writeFileSync(file, src.slice(0, a) + out + src.slice(z));
    process.stderr.write('cjk.js: tables written to ' + file + '\n');
} else {
    process.stdout.write(out + '\n');
}
