#!/usr/bin/env node
/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * Counts the tokens of every sample with the public Claude tokenizer
 * (npm @anthropic-ai/tokenizer, built once and reused: building it costs
 * far more than encoding a sample).  The count is the package's own
 * countTokens(): NFKC, then BPE.
 *
 *   node count.js FIGURES DIR [--all]
 *
 * prints FIGURES to stdout with the tokens column filled: samples whose
 * bytes match the recorded SHA-256 and that already have a count keep it
 * (unless --all), the others are counted afresh.
 */

'use strict';

const fs = require('fs');
const path = require('path');
const { getTokenizer } = require('@anthropic-ai/tokenizer');
const { readFigures, sha256, HEADER } = require('./corpus.js');

const [figures, dir] = process.argv.slice(2, 4);
const all = process.argv.includes('--all');

if (!figures || !dir) {
    process.stderr.write('usage: count.js FIGURES DIR [--all]\n');
    process.exit(2);
}

const tok = getTokenizer();
let counted = 0;

process.stdout.write(HEADER.join('\t') + '\n');

for (const row of readFigures(figures)) {
    let text;

    try {
        text = fs.readFileSync(path.join(dir, row.id + '.txt'));
    } catch (e) {
        text = null;
    }

    if (text !== null && (all || !row.tokens || sha256(text) !== row.sha256))
    {
        row.bytes = text.length;
        row.sha256 = sha256(text);
        row.tokens = tok.encode(text.toString('utf8').normalize('NFKC'),
                                'all').length;
        counted++;
    }

    process.stdout.write(HEADER.map((h) => row[h]).join('\t') + '\n');
}

tok.free();
process.stderr.write('count.js: ' + counted + ' samples counted\n');
