/*
 * Copyright (C) 2026, the ngx_bedrock authors.
 *
 * The token estimator.  Three parts:
 *
 * - the text scan: the Claude tokenizer first splits text into pieces (a
 *   word with the space before it, a run of digits, a run of punctuation,
 *   a run of whitespace) and then encodes each piece into one or more
 *   tokens.  The scan finds the same pieces, byte by byte, and prices each
 *   by its kind and length with the weights below; letters beyond ASCII
 *   are priced per character by script.  No table of words is kept.
 *
 * - the body: one pass over the raw JSON with an explicit stack (no
 *   recursion, no tree), that validates it and knows, from the keys on
 *   the way down, what each string is: text, a tool, a base64 image or
 *   document, or nothing to price.
 *
 * - images and documents, priced from the head of their base64 data.
 */


#include <stdio.h>
#include <string.h>

#if (defined __SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_bedrock_estimate.h"


/*
 * The weights of the text scan, in thousandths of a token, one per count
 * that the scan makes.  They were fitted by bench/estimate/fit.js to the
 * public Claude tokenizer's counts over the bench corpus (prose, docs,
 * source code, JSON, logs, CJK and other scripts, mixed; 560 samples of
 * 100 to 20,000 tokens): least squares of the relative error, weights
 * kept non-negative, with a penalty that holds every sample of over 1,000
 * tokens at most 7% under its count, because a limiter had better err
 * high.  bench/estimate/README.md has the method and the measured error;
 * "bench/estimate/run --fit" refits them.
 *
 * A word is priced as: its piece, plus a little per letter past 5, plus
 * more per letter past 10, by case (lower, Capitalized, UPPER, miXed) and
 * by whether a space leads it (" the" is one token, "the" in code often
 * too, but less often).
 */

enum {
    NGX_BEDROCK_F_LOWER_SP = 0,     /* " word": pieces, past 5, past 10 */
    NGX_BEDROCK_F_LOWER_SP_5,
    NGX_BEDROCK_F_LOWER_SP_10,
    NGX_BEDROCK_F_LOWER,            /* "word" */
    NGX_BEDROCK_F_LOWER_5,
    NGX_BEDROCK_F_LOWER_10,
    NGX_BEDROCK_F_CAP_SP,           /* " Word" */
    NGX_BEDROCK_F_CAP_SP_5,
    NGX_BEDROCK_F_CAP_SP_10,
    NGX_BEDROCK_F_CAP,              /* "Word" */
    NGX_BEDROCK_F_CAP_5,
    NGX_BEDROCK_F_CAP_10,
    NGX_BEDROCK_F_UPPER,            /* "WORD", " WORD" */
    NGX_BEDROCK_F_UPPER_5,
    NGX_BEDROCK_F_UPPER_10,
    NGX_BEDROCK_F_MIXED,            /* "camelCase", "HTTPServer" */
    NGX_BEDROCK_F_MIXED_5,
    NGX_BEDROCK_F_MIXED_10,
    NGX_BEDROCK_F_NUM,              /* digits: pieces, digits past 3 */
    NGX_BEDROCK_F_NUM_3,
    NGX_BEDROCK_F_PUNCT,            /* punctuation: pieces, past 3 */
    NGX_BEDROCK_F_PUNCT_3,
    NGX_BEDROCK_F_SPACE,            /* runs of whitespace */
    NGX_BEDROCK_F_WIDE,             /* words with letters beyond ASCII */
    NGX_BEDROCK_F_WIDE_ASCII,       /* ASCII letters in those words */
    NGX_BEDROCK_F_LATIN,            /* per character: Latin-1 letters */
    NGX_BEDROCK_F_LATIN_EXT,        /* Latin Extended (pl, cs, vi ...) */
    NGX_BEDROCK_F_GREEK,
    NGX_BEDROCK_F_CYRILLIC,
    NGX_BEDROCK_F_RTL,              /* Armenian, Hebrew, Arabic ... */
    NGX_BEDROCK_F_THAI,
    NGX_BEDROCK_F_SCRIPT,           /* Indic and other scripts */
    NGX_BEDROCK_F_KANA1,            /* kana of one token alone */
    NGX_BEDROCK_F_KANA2,            /* ... of two */
    NGX_BEDROCK_F_HAN1,             /* CJK ideographs of one token */
    NGX_BEDROCK_F_HAN2,             /* ... of two */
    NGX_BEDROCK_F_HAN3,             /* ... of three */
    NGX_BEDROCK_F_HANGUL1,
    NGX_BEDROCK_F_HANGUL2,
    NGX_BEDROCK_F_HANGUL3,
    NGX_BEDROCK_F_SYMBOL,           /* punctuation and symbols, non-ASCII */
    NGX_BEDROCK_F_ASTRAL,           /* beyond U+FFFF: emoji and the like */
    NGX_BEDROCK_F_LAST
};

/* NGX_BEDROCK_TEXT_FEATURES must count the features */
typedef char ngx_bedrock_features_counted[
    NGX_BEDROCK_F_LAST == NGX_BEDROCK_TEXT_FEATURES ? 1 : -1];

/* letters past which a word costs more */
#define NGX_BEDROCK_KNEE1  5
#define NGX_BEDROCK_KNEE2  10

/*
 * Long texts are priced by sample: their first SAMPLE_HEAD bytes in full,
 * then SAMPLE_SIZE bytes of every SAMPLE_EVERY, whose price is scaled to
 * all the bytes after the head.  The scan is most of the estimator's
 * cost (about 2 ns a byte), and a quarter of a long text prices it within
 * a few percent: on the bench corpus, 1.2% from the whole scan on
 * average, at most 5.5% under (bench/estimate/README.md); windows of 256
 * bytes in every KB came out closer than 512 in 2 KB or 1 KB in 4 KB,
 * on text whose kind changes along it (tables in prose, a chat).  The
 * limiter corrects what is left by what Bedrock reports.  Every byte is
 * still read to find the end of the string and check its UTF-8 and
 * escapes, 16 bytes a step.  (-D for the bench, which tries others.)
 */
#ifndef NGX_BEDROCK_SAMPLE_HEAD
#define NGX_BEDROCK_SAMPLE_HEAD   8192
#endif
#ifndef NGX_BEDROCK_SAMPLE_EVERY
#define NGX_BEDROCK_SAMPLE_EVERY  1024
#endif
#ifndef NGX_BEDROCK_SAMPLE_SIZE
#define NGX_BEDROCK_SAMPLE_SIZE   256
#endif


/* one more, zero: the slot of counts that are not priced */
static const uint32_t  ngx_bedrock_weights[NGX_BEDROCK_F_LAST + 1] = {
    /* BEGIN WEIGHTS (written by bench/estimate/fit.js) */
    /*                        piece  past 5  past 10 */
    /* " word"          */      888,     131,     111,
    /* "word"           */     1358,       6,     140,
    /* " Word"          */      879,     123,     121,
    /* "Word"           */     1039,     326,     161,
    /* "WORD", " WORD"  */     1476,     276,      50,
    /* "miXed"          */     1751,       0,     134,
    /*                        piece  past 3 */
    /* digits           */     1029,     392,
    /* punctuation      */      892,       9,
    /* whitespace       */     1325,
    /*                        piece  ASCII letter */
    /* word beyond ASCII */      712,     783,
    /* per character */
    /* Latin-1          */      130,
    /* Latin Extended   */     1625,
    /* Greek            */     1190,
    /* Cyrillic         */      500,
    /* RTL              */      858,
    /* Thai             */     1704,
    /* other scripts    */     1197,
    /* kana of 1, 2     */      732,    1693,
    /* Han of 1, 2, 3   */      652,    1935,    2300,
    /* Hangul of 1, 2, 3 */      745,    1584,    2372,
    /* symbols          */      436,
    /* beyond U+FFFF    */     1999
    /* END WEIGHTS */
};


/* byte classes of the scan */
#define NGX_BEDROCK_SC_LOWER   0
#define NGX_BEDROCK_SC_UPPER   1
#define NGX_BEDROCK_SC_DIGIT   2
#define NGX_BEDROCK_SC_PUNCT   3
#define NGX_BEDROCK_SC_SPACE   4
#define NGX_BEDROCK_SC_WS      5
#define NGX_BEDROCK_SC_HIGH    6
#define NGX_BEDROCK_SC_STOP    7      /* JSON strings: '"', '\\', controls */

/* text as it is */
static const uint8_t  ngx_bedrock_sc_raw[256] = {
    [0x00 ... 0x08] = NGX_BEDROCK_SC_PUNCT,
    ['\t'] = NGX_BEDROCK_SC_WS, ['\n'] = NGX_BEDROCK_SC_WS,
    ['\v'] = NGX_BEDROCK_SC_WS, ['\f'] = NGX_BEDROCK_SC_WS,
    ['\r'] = NGX_BEDROCK_SC_WS,
    [0x0e ... 0x1f] = NGX_BEDROCK_SC_PUNCT,
    [' '] = NGX_BEDROCK_SC_SPACE,
    ['!' ... '/'] = NGX_BEDROCK_SC_PUNCT,
    ['0' ... '9'] = NGX_BEDROCK_SC_DIGIT,
    [':' ... '@'] = NGX_BEDROCK_SC_PUNCT,
    ['A' ... 'Z'] = NGX_BEDROCK_SC_UPPER,
    ['[' ... '`'] = NGX_BEDROCK_SC_PUNCT,
    ['a' ... 'z'] = NGX_BEDROCK_SC_LOWER,
    ['{' ... 0x7f] = NGX_BEDROCK_SC_PUNCT,
    [0x80 ... 0xff] = NGX_BEDROCK_SC_HIGH
};

/* the content of a JSON string: the scan stops where an escape begins */
static const uint8_t  ngx_bedrock_sc_json[256] = {
    [0x00 ... 0x1f] = NGX_BEDROCK_SC_STOP,
    [' '] = NGX_BEDROCK_SC_SPACE,
    ['!'] = NGX_BEDROCK_SC_PUNCT,
    ['"'] = NGX_BEDROCK_SC_STOP,
    ['#' ... '/'] = NGX_BEDROCK_SC_PUNCT,
    ['0' ... '9'] = NGX_BEDROCK_SC_DIGIT,
    [':' ... '@'] = NGX_BEDROCK_SC_PUNCT,
    ['A' ... 'Z'] = NGX_BEDROCK_SC_UPPER,
    ['['] = NGX_BEDROCK_SC_PUNCT,
    ['\\'] = NGX_BEDROCK_SC_STOP,
    [']' ... '`'] = NGX_BEDROCK_SC_PUNCT,
    ['a' ... 'z'] = NGX_BEDROCK_SC_LOWER,
    ['{' ... 0x7f] = NGX_BEDROCK_SC_PUNCT,
    [0x80 ... 0xff] = NGX_BEDROCK_SC_HIGH
};


/* what a character beyond ASCII is, by ranges of code points */
#define NGX_BEDROCK_G_SPACE  100       /* \s of the tokenizer's pattern */
#define NGX_BEDROCK_G_ASCII  101       /* fullwidth forms: NFKC makes them
                                          ASCII */
#define NGX_BEDROCK_G_HAN    102       /* by the CJK maps below */
#define NGX_BEDROCK_G_HANGUL 103
#define NGX_BEDROCK_G_KANA   104

typedef struct {
    uint32_t    first;
    uint32_t    group;
} ngx_bedrock_script_t;

static const ngx_bedrock_script_t  ngx_bedrock_scripts[] = {
    { 0x0080, NGX_BEDROCK_F_SYMBOL },
    { 0x00a0, NGX_BEDROCK_G_SPACE },
    { 0x00a1, NGX_BEDROCK_F_SYMBOL },
    { 0x00c0, NGX_BEDROCK_F_LATIN },
    { 0x00d7, NGX_BEDROCK_F_SYMBOL },
    { 0x00d8, NGX_BEDROCK_F_LATIN },
    { 0x00f7, NGX_BEDROCK_F_SYMBOL },
    { 0x00f8, NGX_BEDROCK_F_LATIN },
    { 0x0100, NGX_BEDROCK_F_LATIN_EXT },
    { 0x0370, NGX_BEDROCK_F_GREEK },
    { 0x0400, NGX_BEDROCK_F_CYRILLIC },
    { 0x0530, NGX_BEDROCK_F_RTL },
    { 0x0800, NGX_BEDROCK_F_SCRIPT },
    { 0x0e00, NGX_BEDROCK_F_THAI },
    { 0x0e80, NGX_BEDROCK_F_SCRIPT },
    { 0x1100, NGX_BEDROCK_F_HANGUL3 },
    { 0x1200, NGX_BEDROCK_F_SCRIPT },
    { 0x1680, NGX_BEDROCK_G_SPACE },
    { 0x1681, NGX_BEDROCK_F_SCRIPT },
    { 0x1e00, NGX_BEDROCK_F_LATIN_EXT },
    { 0x1f00, NGX_BEDROCK_F_GREEK },
    { 0x2000, NGX_BEDROCK_G_SPACE },
    { 0x200b, NGX_BEDROCK_F_SYMBOL },
    { 0x2028, NGX_BEDROCK_G_SPACE },
    { 0x202a, NGX_BEDROCK_F_SYMBOL },
    { 0x202f, NGX_BEDROCK_G_SPACE },
    { 0x2030, NGX_BEDROCK_F_SYMBOL },
    { 0x205f, NGX_BEDROCK_G_SPACE },
    { 0x2060, NGX_BEDROCK_F_SYMBOL },
    { 0x2c00, NGX_BEDROCK_F_LATIN_EXT },
    { 0x2e00, NGX_BEDROCK_F_SYMBOL },
    { 0x2e80, NGX_BEDROCK_F_HAN3 },
    { 0x3000, NGX_BEDROCK_G_SPACE },
    { 0x3001, NGX_BEDROCK_F_SYMBOL },
    { 0x3040, NGX_BEDROCK_G_KANA },
    { 0x3100, NGX_BEDROCK_F_HAN3 },
    { 0x3130, NGX_BEDROCK_F_HANGUL2 },
    { 0x3190, NGX_BEDROCK_F_HAN3 },
    { 0x31f0, NGX_BEDROCK_F_KANA2 },
    { 0x3200, NGX_BEDROCK_F_SYMBOL },
    { 0x3400, NGX_BEDROCK_F_HAN3 },
    { 0x4dc0, NGX_BEDROCK_F_SYMBOL },
    { 0x4e00, NGX_BEDROCK_G_HAN },
    { 0xa000, NGX_BEDROCK_F_SCRIPT },
    { 0xac00, NGX_BEDROCK_G_HANGUL },
    { 0xd7c0, NGX_BEDROCK_F_HANGUL3 },
    { 0xe000, NGX_BEDROCK_F_SYMBOL },
    { 0xf900, NGX_BEDROCK_F_HAN3 },
    { 0xfb00, NGX_BEDROCK_F_RTL },
    { 0xfe00, NGX_BEDROCK_F_SYMBOL },
    { 0xfe70, NGX_BEDROCK_F_RTL },
    { 0xfeff, NGX_BEDROCK_G_SPACE },
    { 0xff00, NGX_BEDROCK_F_SYMBOL },
    { 0xff01, NGX_BEDROCK_G_ASCII },
    { 0xff5f, NGX_BEDROCK_F_SYMBOL },
    { 0xff66, NGX_BEDROCK_F_KANA2 },
    { 0xffa0, NGX_BEDROCK_F_HANGUL2 },
    { 0xffdd, NGX_BEDROCK_F_SYMBOL },
    { 0x10000, NGX_BEDROCK_F_ASTRAL }
};


/*
 * CJK characters cost one token (the most common), two or three: the
 * maps of which, from the tokenizer itself (bench/estimate/cjk.js).
 */

/* BEGIN CJK (written by bench/estimate/cjk.js) */

/* han, U+4E00 to U+9FFF: characters of one token */
static const uint64_t  ngx_bedrock_han_one[] = {
    0x0c14241014186e81, 0x0001004181010b00, 0x0400109008165840,
    0x28c0103801484421, 0x1000000105000002, 0x8000000112282040,
    0x0000000028000800, 0x0000400220000000, 0x1000001002000800,
    0x0000000014000080, 0x0000010000000000, 0x0000000000008000,
    0x0000000000000000, 0x01da112000000b28, 0x0028000002003020,
    0x0c00000100008040, 0x00410a00228400c0, 0x0004008000002000,
    0x0000030388000000, 0x0000000000200000, 0x0600000000c00020,
    0x0009000304a04402, 0x8800000080000040, 0x0189843801c23404,
    0x0000884000027310, 0x2000010001000400, 0x0000000000001000,
    0x0000000000002102, 0x0000000000000000, 0x0000000000000040,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000010000000000, 0x0000000000000000, 0x6010000548000000,
    0x0401010080000000, 0x0000000000810081, 0x0000000000000800,
    0x0400000080004000, 0x0012000000000000, 0x0000080000000000,
    0x0000000040000008, 0x0000000000000000, 0x0212068004402290,
    0x2000000000000000, 0x0000000000000004, 0x0000000000000800,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000004001810000,
    0x02480004c400120a, 0x5200000000000040, 0x4002000000128050,
    0x0002000040208005, 0x0000000000000000, 0x0001000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0006406060000000, 0x010000400000000c, 0x8058000000000000,
    0x0000004000988040, 0x0400000000000000, 0x0200000100208005,
    0x00020004002c0000, 0x0080400000801130, 0x0000000000800028,
    0x0800008020000002, 0x0000800000000000, 0x0000010000000000,
    0x0008000000000020, 0x0000000080008000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x8080040000438000,
    0xc200028000082801, 0x0000002000200401, 0x0000120080000200,
    0x0000000000000282, 0x0000400480000000, 0x000001a000040200,
    0x0000000008018000, 0x0000000010000000, 0x0000000000000000,
    0x0000200000000000, 0x0000000000000000, 0xc240800000000000,
    0x0111000002000100, 0x0201200002000080, 0x0040002100808000,
    0x4000800180085000, 0x0000c00000000004, 0x0000000000000000,
    0x8014000000000000, 0x0400940080002301, 0x8000002280000008,
    0x0000000010810010, 0x0000002000000000, 0x1380000200028080,
    0x0000000800000140, 0x0000000000000000, 0x0000000000000001,
    0x0000000000000000, 0x1000000000000000, 0x0000000000000004,
    0x0000000000000000, 0x0000000202000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000200000000,
    0x0000007c00000000, 0x0020000000000000, 0x000000000010a000,
    0x0110000000020000, 0x0000000180000004, 0x0808000200000000,
    0x0000010400200000, 0x0800000000000000, 0x0080000000000802,
    0x0000000000000100, 0x0002000000000000, 0x0100000000000020,
    0x0000000000400000, 0x0000000000010000, 0x0000001200020000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0600000000000000, 0x0000200000000000, 0x0040000000000000,
    0x0000008000000000, 0x0000000000000000, 0x0000000000000000,
    0x0040100000000000, 0x0200020000001180, 0x0040000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0001800000000880, 0x4000000000000000, 0x0000000000000040,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x082a010080000000, 0x0000002000001000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x6c00000000000000,
    0x0000000000000010, 0x0110400001020000, 0x0000000080000802,
    0x0000000000000001, 0x0000000000000000, 0x0008222000000000,
    0x0000000000000002, 0x0000400000000000, 0x0000000000000000,
    0x0000000000000000, 0x4400000000000000, 0x0000010040000000,
    0x0800000000000000, 0x0801800000062000, 0x0000000000000800,
    0x0400000000000000, 0x0000000000800002, 0x0000800102000800,
    0x0000104000000000, 0x4000000000500200, 0x0002000200800001,
    0x0000000000000000, 0x0000000000000000, 0x0800000000000000,
    0x4000000000000000, 0x0800000000000000, 0x0000000500000000,
    0x0000000000010000, 0x0000000000000000, 0x0000000004000000,
    0x0000000000000000, 0x0000000000000000, 0x800000c400000000,
    0x0010208093088158, 0x0000020000400000, 0x0000440000020000,
    0x0000001000000000, 0x0000000000000000, 0x000000000000102a,
    0x0000000004100000, 0x0004000200000000, 0x2000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0018040000000000, 0x0000000000000000, 0x0004000000000000,
    0x0002000000000004, 0x0002002000000000, 0x0000000000000008,
    0x0000000000000000, 0x0080000000000000, 0x0000000010000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000008000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000010000001000,
    0x0000080000000000, 0x0000000000000020, 0x0000000000000000,
    0x8000000000000000, 0x0000000000000002, 0x0000000800040152,
    0x0000200000000101, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0xc501621600000000, 0x4890a06420202052, 0x0000000000000008,
    0x0000000200000000, 0x0000000000000000, 0x0000000000000080,
    0x0200216880000000, 0x0080000000000010, 0x0008000000000020,
    0x0008800020000000, 0x0000000000000000, 0x0000000000000000,
    0x0000080000000000, 0x0000000000000000, 0x0100000000000000,
    0x2010d04000000000, 0x42000000000a0008, 0x200120004b130080,
    0x0000000184040203, 0x0000000000082000, 0x0000400800000000,
    0x2000010000000000, 0x0000000000000000, 0x0000000000002000,
    0x0000000000000000, 0x000000000002b480, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000400000000100, 0x4040000000000000, 0x0000400002000001,
    0x8000000000000000, 0x0000000400080800, 0x0810610000000000,
    0x002c000080000000, 0x0000001400010060, 0x0000000000108000,
    0x0040000000000040, 0x0000000000000001, 0x0000000440040000,
    0x0000000000000000, 0x0008000000000000, 0x0000000000000000,
    0x0e20000000000000, 0x0000000031020010, 0x0000000040000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000400000,
    0x0000000000000000, 0x0000000000000000, 0x0000100000000000,
    0x0000000000001000, 0x0000000001000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000001020000,
    0x0000000000000000, 0x0000000000040000, 0x0000000002000000,
    0x0000000000000000
};
/* ... and its pages of 64 whose characters cost three */
static const uint64_t  ngx_bedrock_han_three[] = {
    0x701c000484000000, 0x0008000000004000, 0x010000410620c100,
    0x001011b530004000, 0xfbf1904003ef5002, 0x0000000000000091
};

/* hangul, U+AC00 to U+D7BF: characters of one token */
static const uint64_t  ngx_bedrock_hangul_one[] = {
    0x0000000010040011, 0x0000000000000000, 0x2000000000001000,
    0x1000000100000000, 0x0000000000000000, 0x0000100000000000,
    0x0000000000000000, 0x0100000000000000, 0x0001000000000000,
    0x0000000000001000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0010000001000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000100000,
    0x0200011000000100, 0x0000000000000001, 0x0000000000000000,
    0x0000000000000000, 0x0000000002000010, 0x0000000011000000,
    0x0000000000000000, 0x0000000000000000, 0x0000001010000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x1000000000000000, 0x0000000001000000, 0x0000100000000200,
    0x0000002000000000, 0x0000000010000000, 0x0000000000000000,
    0x0000000000001000, 0x0000000000000000, 0x1000000000000000,
    0x0000100000000010, 0x0000000000001000, 0x0000000000000000,
    0x0010000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0100000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0100000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000100, 0x0030000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000011, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0001100000000000, 0x0000000000000202,
    0x0102000010000000, 0x0000000000000000, 0x0000000000001000,
    0x0000000000000000, 0x0000000001000000, 0x0000000000000000,
    0x0020001000000000, 0x0000000030000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x1000000000000010,
    0x0010000000000000, 0x0010100000010000, 0x0000001000000000,
    0x0000000000000001, 0x0001020000100000, 0x0000000000010000,
    0x1000000000000010, 0x1110000001001011, 0x0000102000030020,
    0x0000000000000000, 0x0000000010200010, 0x0000000000000000,
    0x0000000000000000, 0x1000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0100000000000001,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000001000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000100000000000, 0x0000000000000000,
    0x0000000000000000, 0x0001000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0100000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0010020111000000, 0x0000000000000200, 0x0000000000000000,
    0x0100000000000000, 0x0000000001100000, 0x0000000000000000,
    0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
    0x0000000000000000
};
/* ... and its pages of 64 whose characters cost three */
static const uint64_t  ngx_bedrock_hangul_three[] = {
    0x69141fe653e3fc40, 0xff6e801ff287fca2, 0x0000788b6be3fdfa
};

/* kana, U+3040 to U+30FF: characters of one token */
static const uint64_t  ngx_bedrock_kana_one[] = {
    0xc001cfdbaaaabd54, 0x8ba9addc000c9f16, 0x18083ea340e203c8
};
/* END CJK */


/* the kinds of piece */
#define NGX_BEDROCK_K_NONE   0
#define NGX_BEDROCK_K_WORD   1
#define NGX_BEDROCK_K_NUM    2
#define NGX_BEDROCK_K_PUNCT  3
#define NGX_BEDROCK_K_WS     4


/*
 * What a finished piece adds: one to count i0, the letters past t1 to
 * i1, past t2 to i2; by kind, case pattern (lower, Capitalized, UPPER,
 * miXed) and a leading space.  NGX_BEDROCK_F_LAST is a slot that no
 * weight reads.
 */
typedef struct {
    uint8_t         i0, i1, i2, t1, t2;
} ngx_bedrock_piece_t;

#define NGX_BEDROCK_PW(f)                                                   \
    { NGX_BEDROCK_F_##f, NGX_BEDROCK_F_##f + 1, NGX_BEDROCK_F_##f + 2,      \
      NGX_BEDROCK_KNEE1, NGX_BEDROCK_KNEE2 }
#define NGX_BEDROCK_PN                                                      \
    { NGX_BEDROCK_F_NUM, NGX_BEDROCK_F_NUM_3, NGX_BEDROCK_F_LAST, 3, 0 }
#define NGX_BEDROCK_PP                                                      \
    { NGX_BEDROCK_F_PUNCT, NGX_BEDROCK_F_PUNCT_3, NGX_BEDROCK_F_LAST, 3, 0 }
#define NGX_BEDROCK_PZ                                                      \
    { NGX_BEDROCK_F_LAST, NGX_BEDROCK_F_LAST, NGX_BEDROCK_F_LAST, 0, 0 }

static const ngx_bedrock_piece_t  ngx_bedrock_pieces[5][4][2] = {
    /* [kind][pattern][space] */
    { { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ }, { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ },
      { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ }, { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ } },
    { { NGX_BEDROCK_PW(LOWER), NGX_BEDROCK_PW(LOWER_SP) },
      { NGX_BEDROCK_PW(CAP), NGX_BEDROCK_PW(CAP_SP) },
      { NGX_BEDROCK_PW(UPPER), NGX_BEDROCK_PW(UPPER) },
      { NGX_BEDROCK_PW(MIXED), NGX_BEDROCK_PW(MIXED) } },
    { { NGX_BEDROCK_PN, NGX_BEDROCK_PN }, { NGX_BEDROCK_PN, NGX_BEDROCK_PN },
      { NGX_BEDROCK_PN, NGX_BEDROCK_PN }, { NGX_BEDROCK_PN, NGX_BEDROCK_PN } },
    { { NGX_BEDROCK_PP, NGX_BEDROCK_PP }, { NGX_BEDROCK_PP, NGX_BEDROCK_PP },
      { NGX_BEDROCK_PP, NGX_BEDROCK_PP }, { NGX_BEDROCK_PP, NGX_BEDROCK_PP } },
    { { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ }, { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ },
      { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ }, { NGX_BEDROCK_PZ, NGX_BEDROCK_PZ } }
};

/*
 * The case pattern of a word from three tests: no capital (bit 0), only
 * the first letter a capital (bit 1), all capitals (bit 2).
 */
static const uint8_t  ngx_bedrock_patterns[8] = { 3, 0, 1, 0, 2, 0, 1, 0 };


/* the state of a scan: the counts so far and the piece still open */
typedef struct {
    uint64_t        n[NGX_BEDROCK_F_LAST + 1];
    uint64_t        milli;          /* priced already, by the block path */
    unsigned        count:1;        /* count all, price nothing (fit.js) */
    size_t          len;            /* ASCII characters of the piece */
    size_t          upper;          /* capitals of a word */
    /* bytes, not bit fields: they change at every piece */
    uint8_t         kind;
    uint8_t         space;          /* one space leads the piece */
    uint8_t         first_upper;    /* a word begins with a capital */
    uint8_t         wide;           /* a word has letters beyond ASCII */
    uint8_t         apostrophe;     /* the piece is one "'" so far */
    uint8_t         ws_space;       /* a whitespace run ends in ' ' */
} ngx_bedrock_scan_t;


static void ngx_bedrock_scan_begin(ngx_bedrock_scan_t *s);
static void ngx_bedrock_scan_close(ngx_bedrock_scan_t *s);
static uint64_t ngx_bedrock_scan_end(ngx_bedrock_scan_t *s);
static inline void ngx_bedrock_scan_piece(ngx_bedrock_scan_t *s);
static inline void ngx_bedrock_scan_open(ngx_bedrock_scan_t *s,
    unsigned kind);
static inline void ngx_bedrock_scan_contraction(ngx_bedrock_scan_t *s);
static size_t ngx_bedrock_scan_block(ngx_bedrock_scan_t *s,
    const unsigned char *p, int json);
static const unsigned char *ngx_bedrock_scan(ngx_bedrock_scan_t *s,
    const unsigned char *p, const unsigned char *end, const uint8_t *cls,
    int strict);
static void ngx_bedrock_scan_ascii(ngx_bedrock_scan_t *s, unsigned c);
static void ngx_bedrock_scan_cp(ngx_bedrock_scan_t *s, uint32_t cp);
static inline uint32_t ngx_bedrock_script(uint32_t cp);
static size_t ngx_bedrock_utf8(const unsigned char *p,
    const unsigned char *end, uint32_t *cp);
static const unsigned char *ngx_bedrock_json_escape(const unsigned char *p,
    const unsigned char *end, uint32_t *cp);
static const unsigned char *ngx_bedrock_scan_jstr(ngx_bedrock_scan_t *s,
    const unsigned char *p, const unsigned char *limit,
    const unsigned char *end, int strict);
static const unsigned char *ngx_bedrock_sample_head(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_bedrock_sample_cut(const unsigned char *p,
    const unsigned char *end);
static void ngx_bedrock_sample(ngx_bedrock_scan_t *s,
    const unsigned char *p, const unsigned char *end, int json);
static void ngx_bedrock_scan_text(ngx_bedrock_scan_t *s,
    const unsigned char *p, const unsigned char *end);
static int ngx_bedrock_b64_quad(const unsigned char *b64, size_t len,
    size_t quad, unsigned char *out);
static int ngx_bedrock_b64_read(const unsigned char *b64, size_t len,
    size_t off, unsigned char *out, size_t n);
static int ngx_bedrock_jpeg_size(const unsigned char *b64, size_t len,
    uint32_t *width, uint32_t *height);
static uint64_t ngx_bedrock_document_tokens(const unsigned char *b64,
    size_t len);


/* -- the text scan ------------------------------------------------------ */


static void
ngx_bedrock_scan_begin(ngx_bedrock_scan_t *s)
{
    memset(s, 0, sizeof(ngx_bedrock_scan_t));
}


/* counts the piece still open: the text ends, or a sample of it */

static void
ngx_bedrock_scan_close(ngx_bedrock_scan_t *s)
{
    if (s->kind == NGX_BEDROCK_K_WS) {
        /* at the end, the whole run is one piece */
        s->n[NGX_BEDROCK_F_SPACE]++;

    } else if (s->kind != NGX_BEDROCK_K_NONE) {
        ngx_bedrock_scan_piece(s);
    }

    s->kind = NGX_BEDROCK_K_NONE;
    s->apostrophe = 0;
}


/* closes the scan; returns what it counted, in thousandths of a token */

static uint64_t
ngx_bedrock_scan_end(ngx_bedrock_scan_t *s)
{
    size_t    i;
    uint64_t  milli;

    ngx_bedrock_scan_close(s);

    milli = s->milli;

    for (i = 0; i < NGX_BEDROCK_F_LAST; i++) {
        milli += s->n[i] * ngx_bedrock_weights[i];
    }

    return milli;
}


/* counts the piece that is open (not a whitespace run) */

static inline void
ngx_bedrock_scan_piece(ngx_bedrock_scan_t *s)
{
    unsigned                    pattern;
    const ngx_bedrock_piece_t  *pc;

    if (s->kind == NGX_BEDROCK_K_WORD) {

        if (s->wide) {
            s->n[NGX_BEDROCK_F_WIDE]++;
            s->n[NGX_BEDROCK_F_WIDE_ASCII] += s->len;
            return;
        }

        if (s->len == 0) {
            /* a lone apostrophe that a letter did not follow */
            s->n[NGX_BEDROCK_F_PUNCT]++;
            return;
        }
    }

    if (s->kind == NGX_BEDROCK_K_PUNCT && s->len == 0) {
        /* symbols beyond ASCII are priced per character, piece and all */
        return;
    }

    pattern = ngx_bedrock_patterns[(s->upper == 0)
                                   | (s->upper == 1 && s->first_upper) << 1
                                   | (s->upper == s->len) << 2];

    pc = &ngx_bedrock_pieces[s->kind][pattern][s->space];

    s->n[pc->i0]++;
    s->n[pc->i1] += s->len > pc->t1 ? s->len - pc->t1 : 0;
    s->n[pc->i2] += s->len > pc->t2 ? s->len - pc->t2 : 0;
}


/*
 * A "'" that a letter follows, as in "'s", "'t", "'re": the piece the
 * "'" opened becomes a word, priced with the letters after it.
 */

static inline void
ngx_bedrock_scan_contraction(ngx_bedrock_scan_t *s)
{
    s->kind = NGX_BEDROCK_K_WORD;
    s->len = 0;
    s->upper = 0;
    s->first_upper = 0;
    s->apostrophe = 0;
}


/*
 * Ends the open piece and opens one of another kind.  A whitespace run
 * that ends here follows the tokenizer's pattern: its last space, if it
 * is a space, leads the new piece; otherwise its last character is a
 * piece of its own.
 */

static inline void
ngx_bedrock_scan_open(ngx_bedrock_scan_t *s, unsigned kind)
{
    unsigned  space;

    space = 0;

    if (s->kind == NGX_BEDROCK_K_WS) {

        if (kind == NGX_BEDROCK_K_WS) {
            return;
        }

        if (s->ws_space) {
            space = 1;
            s->n[NGX_BEDROCK_F_SPACE] += (s->len > 1);

        } else {
            s->n[NGX_BEDROCK_F_SPACE] += 1 + (s->len > 1);
        }

    } else if (s->kind != NGX_BEDROCK_K_NONE) {
        ngx_bedrock_scan_piece(s);
    }

    s->kind = kind;
    s->len = 0;
    s->upper = 0;
    s->space = space;
    s->first_upper = 0;
    s->wide = 0;
    s->apostrophe = 0;
}


#if (defined __SSE2__)

/*
 * Bytes of 16 in [lo, lo + n): shifted by 128 - lo, they are the ones
 * below -128 + n as signed bytes, one addition and one comparison.
 */
#define ngx_bedrock_in(v, lo, n)                                            \
    (uint64_t) (uint16_t) _mm_movemask_epi8(_mm_cmplt_epi8(                 \
        _mm_add_epi8(v, _mm_set1_epi8((char) (128 - (lo)))),                \
        _mm_set1_epi8((char) (-128 + (n)))))

#define ngx_bedrock_eq(v, c)                                                \
    (uint64_t) (uint16_t) _mm_movemask_epi8(                                \
        _mm_cmpeq_epi8(v, _mm_set1_epi8(c)))

#endif


/*
 * The block path is worth its fixed cost (about 60 ns, all 64 bytes
 * classified) only for a long run: in JSON strings of code, logs or JSON,
 * an escape (\n, \") every few bytes ends most runs, and such short runs
 * go faster byte by byte.  The next NGX_BEDROCK_BLOCK_MIN bytes must be
 * ASCII, and in a JSON string hold no byte that stops it.
 */

#ifndef NGX_BEDROCK_BLOCK_MIN
#define NGX_BEDROCK_BLOCK_MIN  16
#endif

static int
ngx_bedrock_block_worth(const unsigned char *p, int json)
{
#if (defined __SSE2__)
    int      i;
    __m128i  v;

    for (i = 0; i < NGX_BEDROCK_BLOCK_MIN; i += 16) {
        v = _mm_loadu_si128((const __m128i *) (p + i));

        if (_mm_movemask_epi8(v) != 0
            || (json && (ngx_bedrock_eq(v, '"') | ngx_bedrock_eq(v, '\\')
                         | ngx_bedrock_in(v, 0, 32))))
        {
            return 0;
        }
    }

    return 1;

#else
    uint64_t  v;

    memcpy(&v, p, 8);

    return (v & 0x8080808080808080ULL) == 0;

#endif
}


/*
 * The fast path: up to 64 bytes of plain ASCII, classified into bit masks
 * at once (SSE2 where there is one).  Most pieces are then counted in
 * bulk: whitespace runs, numbers, punctuation and lowercase words by
 * population counts of masks; words with capitals or an apostrophe one by
 * one.  The piece carried in from before and the piece still open at the
 * end go the byte-by-byte way's path (ngx_bedrock_scan_open()), so that
 * both ways count alike, which t/unit/estimate_test.c checks.  Stops
 * before the first byte beyond ASCII (or that stops a JSON string) and
 * returns how many bytes it took.
 */

static inline __attribute__((always_inline)) size_t
ngx_bedrock_scan_block_run(ngx_bedrock_scan_t *s, const unsigned char *p,
    int json)
{
    size_t                      n, first, last, a, b, f, c, len;
    uint64_t                    L, U, D, S, W, A, H, Q, X, NW, P, C, L2, P2;
    uint64_t                    valid, lead, Xr, E, wst, dst, pst, ws, nw;
    uint64_t                    all, pm, lb, ub, done, sw, wm, lw, ls, lss;
    uint64_t                    runs, d5, d10, d3, p3, sp0, leads, m;
    uint64_t                    milli, k0, cnt[12];
    unsigned                    k, kind0, pattern;
    const ngx_bedrock_piece_t  *pc;

#if (defined __SSE2__)
    int      i;
    __m128i  v;

    L = U = D = S = W = A = H = Q = 0;

    for (i = 0; i < 4; i++) {
        v = _mm_loadu_si128((const __m128i *) (p + 16 * i));

        L |= ngx_bedrock_in(v, 'a', 26) << (16 * i);
        U |= ngx_bedrock_in(v, 'A', 26) << (16 * i);
        D |= ngx_bedrock_in(v, '0', 10) << (16 * i);
        W |= ngx_bedrock_in(v, '\t', 5) << (16 * i);
        S |= ngx_bedrock_eq(v, ' ') << (16 * i);
        A |= ngx_bedrock_eq(v, '\'') << (16 * i);
        H |= (uint64_t) (uint16_t) _mm_movemask_epi8(v) << (16 * i);

        if (json) {
            Q |= (ngx_bedrock_eq(v, '"') | ngx_bedrock_eq(v, '\\')
                  | ngx_bedrock_in(v, 0, 32)) << (16 * i);
        }
    }

#else
    int       i;
    unsigned  ch;

    L = U = D = S = W = A = H = Q = 0;

    for (i = 0; i < 64; i++) {
        ch = p[i];

        L |= (uint64_t) (ch - 'a' < 26) << i;
        U |= (uint64_t) (ch - 'A' < 26) << i;
        D |= (uint64_t) (ch - '0' < 10) << i;
        W |= (uint64_t) (ch - '\t' < 5) << i;
        S |= (uint64_t) (ch == ' ') << i;
        A |= (uint64_t) (ch == '\'') << i;
        H |= (uint64_t) (ch >= 0x80) << i;
        Q |= (uint64_t) (json && (ch == '"' || ch == '\\' || ch < 0x20))
             << i;
    }

#endif

    H |= Q;
    n = H ? (size_t) __builtin_ctzll(H) : 64;

    if (n == 0) {
        return 0;
    }

    valid = (n == 64) ? ~(uint64_t) 0 : ((uint64_t) 1 << n) - 1;
    U &= valid;
    L = (L | U) & valid;
    D &= valid;
    S &= valid;
    X = (S | W) & valid;
    NW = valid & ~X;
    P = NW & ~(L | D);
    A &= P;

    /* a carried "'" that a letter follows: a contraction, as a word */
    if (s->apostrophe && (L & 1)) {
        ngx_bedrock_scan_contraction(s);
    }

    kind0 = s->kind;

    /* "'s", "'t", "'re" ...: "'" after no punctuation and no space, a
     * letter after it, starts a word of its own */
    C = A & ~((P << 1) | (kind0 == NGX_BEDROCK_K_PUNCT))
          & ~((S << 1) | (kind0 == NGX_BEDROCK_K_WS && s->ws_space))
          & (L >> 1);
    L2 = L | C;
    P2 = P & ~C;

    /*
     * The tokenizer's pieces: a space before a word, number or
     * punctuation leads it; whitespace before that space is a piece, and
     * so is a last character of whitespace that is not a space.
     */
    lead = S & (NW >> 1);
    Xr = X & ~lead;
    E = X & ~S & (NW >> 1);

    wst = (L2 & ~((L2 << 1) | (kind0 == NGX_BEDROCK_K_WORD))) | C;
    dst = D & ~((D << 1) | (kind0 == NGX_BEDROCK_K_NUM));
    pst = P2 & ~((P2 << 1) | (kind0 == NGX_BEDROCK_K_PUNCT));
    ws = (Xr & ~((Xr << 1) | (kind0 == NGX_BEDROCK_K_WS))) | E;
    nw = lead | ((wst | dst | pst) & ~(lead << 1));
    all = nw | ws;

    /* the piece carried from before goes on up to the first start */

    first = all ? (size_t) __builtin_ctzll(all) : n;

    if (first > 0) {
        pm = (first == 64) ? ~(uint64_t) 0 : ((uint64_t) 1 << first) - 1;

        if (kind0 == NGX_BEDROCK_K_WORD) {
            if (s->len == 0 && !s->wide) {
                s->first_upper = U & 1;
            }

            s->upper += __builtin_popcountll(U & pm);
        }

        if (kind0 == NGX_BEDROCK_K_WS) {
            s->ws_space = (S >> (first - 1)) & 1;
        }

        s->len += first;
        s->apostrophe = 0;
    }

    if (all == 0) {
        return n;
    }

    /* ... and ends there */

    sp0 = 0;

    if (kind0 == NGX_BEDROCK_K_WS) {

        if ((nw & ~lead) & 1) {
            /* a word, number or punctuation right after it */
            sp0 = s->ws_space;
            s->n[NGX_BEDROCK_F_SPACE] += (s->len > 1) + !s->ws_space;

        } else {
            s->n[NGX_BEDROCK_F_SPACE]++;
        }

    } else if (kind0 != NGX_BEDROCK_K_NONE) {
        ngx_bedrock_scan_piece(s);
    }

    /* the pieces that begin and end here: [first, last) */

    last = 63 - __builtin_clzll(all);
    done = (((uint64_t) 1 << last) - 1) & ~(((uint64_t) 1 << first) - 1);
    leads = (lead << 1) | sp0;
    milli = 0;

    /* words with a capital or an apostrophe, one by one */

    sw = (U | C) & done;
    wm = 0;

    while (sw) {
        b = __builtin_ctzll(sw);
        a = 63 - __builtin_clzll(wst & (((uint64_t) 2 << b) - 1));
        m = (uint64_t) 1 << a;
        b = __builtin_ctzll(all & ~(m | (m - 1)));
        pm = (((uint64_t) 1 << b) - 1) & ~(m - 1);

        c = (C >> a) & 1;
        len = b - a - c;
        lb = L & pm;
        ub = U & pm;

        pattern = ngx_bedrock_patterns[(ub == 0)
                                       | (ub == (lb & (0 - lb))) << 1
                                       | (ub == lb) << 2];
        pc = &ngx_bedrock_pieces[NGX_BEDROCK_K_WORD][pattern]
                                [(leads >> a) & 1];

        if (s->count) {
            s->n[pc->i0]++;
            s->n[pc->i1] += len > pc->t1 ? len - pc->t1 : 0;
            s->n[pc->i2] += len > pc->t2 ? len - pc->t2 : 0;

        } else {
            milli += ngx_bedrock_weights[pc->i0]
                     + (len > pc->t1 ? len - pc->t1 : 0)
                       * ngx_bedrock_weights[pc->i1]
                     + (len > pc->t2 ? len - pc->t2 : 0)
                       * ngx_bedrock_weights[pc->i2];
        }

        sw &= ~pm;
        wm |= pm;
    }

    /*
     * The rest in bulk.  Letters past 5 in a word are those with five
     * letters of the same word before them; a run's leading space is
     * spread to all its letters by a carry (x + start clears the run).
     */

    lw = L & done & ~wm;
    ls = wst & done & ~wm;
    lss = ls & leads;
    runs = lw & ~(lw + lss);
    d5 = lw & (lw << 1) & (lw << 2) & (lw << 3) & (lw << 4) & (lw << 5);
    d10 = d5 & (d5 << 5);
    d3 = D & (D << 1) & (D << 2) & (D << 3) & done;
    p3 = P2 & (P2 << 1) & (P2 << 2) & (P2 << 3) & done;

    cnt[0] = __builtin_popcountll(lss);
    cnt[1] = __builtin_popcountll(d5 & runs);
    cnt[2] = __builtin_popcountll(d10 & runs);
    cnt[3] = __builtin_popcountll(ls) - cnt[0];
    cnt[4] = __builtin_popcountll(d5) - cnt[1];
    cnt[5] = __builtin_popcountll(d10) - cnt[2];
    cnt[6] = __builtin_popcountll(dst & done);
    cnt[7] = __builtin_popcountll(d3);
    cnt[8] = __builtin_popcountll(pst & done);
    cnt[9] = __builtin_popcountll(p3);
    cnt[10] = __builtin_popcountll(ws & done);

    if (s->count) {
        s->n[NGX_BEDROCK_F_LOWER_SP] += cnt[0];
        s->n[NGX_BEDROCK_F_LOWER_SP_5] += cnt[1];
        s->n[NGX_BEDROCK_F_LOWER_SP_10] += cnt[2];
        s->n[NGX_BEDROCK_F_LOWER] += cnt[3];
        s->n[NGX_BEDROCK_F_LOWER_5] += cnt[4];
        s->n[NGX_BEDROCK_F_LOWER_10] += cnt[5];
        s->n[NGX_BEDROCK_F_NUM] += cnt[6];
        s->n[NGX_BEDROCK_F_NUM_3] += cnt[7];
        s->n[NGX_BEDROCK_F_PUNCT] += cnt[8];
        s->n[NGX_BEDROCK_F_PUNCT_3] += cnt[9];
        s->n[NGX_BEDROCK_F_SPACE] += cnt[10];

    } else {
        s->milli += milli
            + cnt[0] * ngx_bedrock_weights[NGX_BEDROCK_F_LOWER_SP]
            + cnt[1] * ngx_bedrock_weights[NGX_BEDROCK_F_LOWER_SP_5]
            + cnt[2] * ngx_bedrock_weights[NGX_BEDROCK_F_LOWER_SP_10]
            + cnt[3] * ngx_bedrock_weights[NGX_BEDROCK_F_LOWER]
            + cnt[4] * ngx_bedrock_weights[NGX_BEDROCK_F_LOWER_5]
            + cnt[5] * ngx_bedrock_weights[NGX_BEDROCK_F_LOWER_10]
            + cnt[6] * ngx_bedrock_weights[NGX_BEDROCK_F_NUM]
            + cnt[7] * ngx_bedrock_weights[NGX_BEDROCK_F_NUM_3]
            + cnt[8] * ngx_bedrock_weights[NGX_BEDROCK_F_PUNCT]
            + cnt[9] * ngx_bedrock_weights[NGX_BEDROCK_F_PUNCT_3]
            + cnt[10] * ngx_bedrock_weights[NGX_BEDROCK_F_SPACE];
    }

    /* the last piece stays open */

    m = (uint64_t) 1 << last;

    if (ws & m) {
        s->kind = NGX_BEDROCK_K_WS;
        s->len = n - last;
        s->ws_space = (S >> (n - 1)) & 1;
        s->apostrophe = 0;
        return n;
    }

    f = last + ((lead >> last) & 1);
    c = (C >> f) & 1;
    k0 = (uint64_t) 1 << f;
    k = (L2 & k0) ? NGX_BEDROCK_K_WORD
        : (D & k0) ? NGX_BEDROCK_K_NUM : NGX_BEDROCK_K_PUNCT;
    pm = valid & ~(k0 - 1);
    lb = L & pm;

    s->kind = k;
    s->len = n - f - c;
    s->upper = __builtin_popcountll(U & pm);
    s->first_upper = (U & lb & (0 - lb)) != 0;
    s->space = ((lead >> last) & 1) | (sp0 & (last == 0));
    s->wide = 0;
    s->apostrophe = (k == NGX_BEDROCK_K_PUNCT && n - f == 1
                     && ((A >> f) & 1) && !s->space);
    s->ws_space = 0;

    return n;
}


/*
 * The block path counts bits: with the POPCNT instruction where the CPU
 * has one (any x86-64 since 2008; the build does not assume it), and
 * the compiler's own way elsewhere.
 */

#if ((defined __x86_64__) && (defined __GNUC__))

__attribute__((target("popcnt"))) static size_t
ngx_bedrock_scan_block_popcnt(ngx_bedrock_scan_t *s, const unsigned char *p,
    int json)
{
    return ngx_bedrock_scan_block_run(s, p, json);
}

#endif


static size_t
ngx_bedrock_scan_block(ngx_bedrock_scan_t *s, const unsigned char *p,
    int json)
{
#if ((defined __x86_64__) && (defined __GNUC__))

    if (__builtin_cpu_supports("popcnt")) {
        return ngx_bedrock_scan_block_popcnt(s, p, json);
    }

#endif

    return ngx_bedrock_scan_block_run(s, p, json);
}


/*
 * Scans text from p up to end, or up to a byte of class STOP, where it
 * returns.  With strict, invalid UTF-8 stops the scan with NULL;
 * otherwise a bad byte is priced as a symbol.  Runs of 64 bytes of ASCII
 * take the block path; the rest goes byte by byte, the same way.
 */

static const unsigned char *
ngx_bedrock_scan(ngx_bedrock_scan_t *s, const unsigned char *p,
    const unsigned char *end, const uint8_t *cls, int strict)
{
    int                   json;
    size_t                n;
    uint32_t              cp, g;
    uint64_t              milli;
    unsigned              k;
    const unsigned char  *q;

    json = (cls == ngx_bedrock_sc_json);

    while (p < end) {

        if (end - p >= 64 && ngx_bedrock_block_worth(p, json)) {
            n = ngx_bedrock_scan_block(s, p, json);
            p += n;

            if (n == 64 || p == end) {
                continue;
            }
        }

        switch (cls[*p]) {

        case NGX_BEDROCK_SC_LOWER:

            if (s->kind != NGX_BEDROCK_K_WORD) {
                if (s->apostrophe) {
                    ngx_bedrock_scan_contraction(s);

                } else {
                    ngx_bedrock_scan_open(s, NGX_BEDROCK_K_WORD);
                }
            }

            q = p + 1;

            while (q < end && (unsigned) (*q - 'a') < 26) {
                q++;
            }

            s->len += q - p;
            p = q;
            continue;

        case NGX_BEDROCK_SC_UPPER:

            if (s->kind != NGX_BEDROCK_K_WORD) {
                if (s->apostrophe) {
                    ngx_bedrock_scan_contraction(s);

                } else {
                    ngx_bedrock_scan_open(s, NGX_BEDROCK_K_WORD);
                }
            }

            if (s->len == 0 && !s->wide) {
                s->first_upper = 1;
            }

            s->upper++;
            s->len++;
            p++;
            continue;

        case NGX_BEDROCK_SC_DIGIT:

            if (s->kind != NGX_BEDROCK_K_NUM) {
                ngx_bedrock_scan_open(s, NGX_BEDROCK_K_NUM);
            }

            q = p + 1;

            while (q < end && (unsigned) (*q - '0') < 10) {
                q++;
            }

            s->len += q - p;
            p = q;
            continue;

        case NGX_BEDROCK_SC_PUNCT:

            if (s->kind != NGX_BEDROCK_K_PUNCT) {
                ngx_bedrock_scan_open(s, NGX_BEDROCK_K_PUNCT);
                s->apostrophe = (*p == '\'' && !s->space);

            } else {
                s->apostrophe = 0;
            }

            s->len++;
            p++;
            continue;

        case NGX_BEDROCK_SC_SPACE:
        case NGX_BEDROCK_SC_WS:

            if (s->kind != NGX_BEDROCK_K_WS) {
                ngx_bedrock_scan_open(s, NGX_BEDROCK_K_WS);
            }

            q = p + 1;

            while (q < end && (cls[*q] == NGX_BEDROCK_SC_SPACE
                               || cls[*q] == NGX_BEDROCK_SC_WS))
            {
                q++;
            }

            s->len += q - p;
            s->ws_space = (q[-1] == ' ');
            p = q;
            continue;

        case NGX_BEDROCK_SC_HIGH:

            /*
             * A run of characters beyond ASCII, priced in a register (a
             * count in memory would make each character wait for the
             * last), then the block path again.
             */

            milli = 0;

            do {
                /* most are three bytes (CJK) or two (Cyrillic, Greek) */
                if (end - p >= 3 && (p[0] & 0xf0) == 0xe0
                    && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80
                    && p[0] != 0xe0 && p[0] != 0xed)
                {
                    cp = ((uint32_t) (p[0] & 0x0f) << 12)
                         | ((p[1] & 0x3f) << 6) | (p[2] & 0x3f);
                    n = 3;

                } else if (end - p >= 2 && p[0] >= 0xc2 && p[0] < 0xe0
                           && (p[1] & 0xc0) == 0x80)
                {
                    cp = ((uint32_t) (p[0] & 0x1f) << 6) | (p[1] & 0x3f);
                    n = 2;

                } else {
                    n = ngx_bedrock_utf8(p, end, &cp);
                }

                if (n == 0) {
                    if (strict) {
                        return NULL;
                    }

                    n = 1;
                    cp = 0xfffd;
                }

                p += n;

                if (cp - 0x4e00 < 0x5200) {
                    /* CJK ideographs, the most common, without a call */
                    cp -= 0x4e00;

                    if ((ngx_bedrock_han_one[cp >> 6] >> (cp & 63)) & 1) {
                        g = NGX_BEDROCK_F_HAN1;

                    } else {
                        g = ((ngx_bedrock_han_three[cp >> 12]
                              >> ((cp >> 6) & 63)) & 1)
                            ? NGX_BEDROCK_F_HAN3 : NGX_BEDROCK_F_HAN2;
                    }

                } else {
                    g = ngx_bedrock_script(cp);
                }

                if (g == NGX_BEDROCK_G_SPACE || g == NGX_BEDROCK_G_ASCII) {
                    ngx_bedrock_scan_cp(s, cp);
                    continue;
                }

                k = (g == NGX_BEDROCK_F_SYMBOL || g == NGX_BEDROCK_F_ASTRAL)
                    ? NGX_BEDROCK_K_PUNCT : NGX_BEDROCK_K_WORD;

                if (s->kind != k) {
                    ngx_bedrock_scan_open(s, k);
                }

                if (k == NGX_BEDROCK_K_WORD) {
                    s->wide = 1;

                } else {
                    s->apostrophe = 0;
                }

                /* priced at once, as the block path does */
                if (s->count) {
                    s->n[g]++;

                } else {
                    milli += ngx_bedrock_weights[g];
                }

            } while (p < end && *p >= 0x80);

            s->milli += milli;
            continue;

        default: /* NGX_BEDROCK_SC_STOP */
            return p;
        }
    }

    return p;
}


/* one ASCII character, outside the runs of the main loop */

static void
ngx_bedrock_scan_ascii(ngx_bedrock_scan_t *s, unsigned c)
{
    unsigned char  b;

    b = (unsigned char) c;

    (void) ngx_bedrock_scan(s, &b, &b + 1, ngx_bedrock_sc_raw, 0);
}


/* the group of a character beyond ASCII */

static inline uint32_t
ngx_bedrock_script(uint32_t cp)
{
    size_t  lo, hi, mid;

    /* the scripts most text is in, before the search */

    if (cp >= 0x4e00 && cp < 0xa000) {
        cp -= 0x4e00;
        goto han;
    }

    if (cp >= 0xac00 && cp < 0xd7c0) {
        cp -= 0xac00;
        goto hangul;
    }

    if (cp >= 0x3040 && cp < 0x3100) {
        cp -= 0x3040;
        goto kana;
    }

    if (cp >= 0x00c0 && cp < 0x0800) {

        if (cp < 0x0100) {
            return (cp == 0xd7 || cp == 0xf7) ? NGX_BEDROCK_F_SYMBOL
                                              : NGX_BEDROCK_F_LATIN;
        }

        return (cp < 0x0370) ? NGX_BEDROCK_F_LATIN_EXT
               : (cp < 0x0400) ? NGX_BEDROCK_F_GREEK
               : (cp < 0x0530) ? NGX_BEDROCK_F_CYRILLIC : NGX_BEDROCK_F_RTL;
    }

    if (cp >= 0x0800 && cp < 0x1100) {
        return (cp >= 0x0e00 && cp < 0x0e80) ? NGX_BEDROCK_F_THAI
                                             : NGX_BEDROCK_F_SCRIPT;
    }

    if ((cp >= 0x2060 && cp < 0x2c00) || (cp > 0x3000 && cp < 0x3040)) {
        return NGX_BEDROCK_F_SYMBOL;
    }

    lo = 0;
    hi = sizeof(ngx_bedrock_scripts) / sizeof(ngx_bedrock_script_t);

    /* the last range whose first code point is not above cp */
    while (hi - lo > 1) {
        mid = (lo + hi) / 2;

        if (ngx_bedrock_scripts[mid].first <= cp) {
            lo = mid;

        } else {
            hi = mid;
        }
    }

    return ngx_bedrock_scripts[lo].group;

    /* the cost of a CJK character alone, by the maps at the end */

han:

    if ((ngx_bedrock_han_one[cp >> 6] >> (cp & 63)) & 1) {
        return NGX_BEDROCK_F_HAN1;
    }

    return ((ngx_bedrock_han_three[cp >> 12] >> ((cp >> 6) & 63)) & 1)
           ? NGX_BEDROCK_F_HAN3 : NGX_BEDROCK_F_HAN2;

hangul:

    if ((ngx_bedrock_hangul_one[cp >> 6] >> (cp & 63)) & 1) {
        return NGX_BEDROCK_F_HANGUL1;
    }

    return ((ngx_bedrock_hangul_three[cp >> 12] >> ((cp >> 6) & 63)) & 1)
           ? NGX_BEDROCK_F_HANGUL3 : NGX_BEDROCK_F_HANGUL2;

kana:

    return ((ngx_bedrock_kana_one[cp >> 6] >> (cp & 63)) & 1)
           ? NGX_BEDROCK_F_KANA1 : NGX_BEDROCK_F_KANA2;
}


/* one character beyond ASCII, or an escaped one */

static void
ngx_bedrock_scan_cp(ngx_bedrock_scan_t *s, uint32_t cp)
{
    uint32_t  group;

    if (cp < 0x80) {
        ngx_bedrock_scan_ascii(s, cp);
        return;
    }

    group = ngx_bedrock_script(cp);

    switch (group) {

    case NGX_BEDROCK_G_SPACE:

        if (s->kind != NGX_BEDROCK_K_WS) {
            ngx_bedrock_scan_open(s, NGX_BEDROCK_K_WS);
        }

        /* NFKC makes most of these a plain space */
        s->len++;
        s->ws_space = 1;
        return;

    case NGX_BEDROCK_G_ASCII:
        ngx_bedrock_scan_ascii(s, cp - 0xfee0);
        return;

    case NGX_BEDROCK_F_SYMBOL:
    case NGX_BEDROCK_F_ASTRAL:

        if (s->kind != NGX_BEDROCK_K_PUNCT) {
            ngx_bedrock_scan_open(s, NGX_BEDROCK_K_PUNCT);
        }

        s->apostrophe = 0;
        s->n[group]++;
        return;

    default:

        if (s->kind != NGX_BEDROCK_K_WORD) {
            ngx_bedrock_scan_open(s, NGX_BEDROCK_K_WORD);
        }

        s->wide = 1;
        s->n[group]++;
        return;
    }
}


/* the length of one valid UTF-8 character at p, or 0 */

static size_t
ngx_bedrock_utf8(const unsigned char *p, const unsigned char *end,
    uint32_t *cp)
{
    unsigned  c;

    c = p[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }

    if (c < 0xc2) {
        return 0;
    }

    if (c < 0xe0) {
        if (end - p < 2 || (p[1] & 0xc0) != 0x80) {
            return 0;
        }

        *cp = ((c & 0x1f) << 6) | (p[1] & 0x3f);
        return 2;
    }

    if (c < 0xf0) {
        if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (c == 0xe0 && p[1] < 0xa0)      /* overlong */
            || (c == 0xed && p[1] >= 0xa0))    /* a surrogate */
        {
            return 0;
        }

        *cp = ((c & 0x0f) << 12) | ((p[1] & 0x3f) << 6) | (p[2] & 0x3f);
        return 3;
    }

    if (c < 0xf5) {
        if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80
            || (p[3] & 0xc0) != 0x80
            || (c == 0xf0 && p[1] < 0x90)      /* overlong */
            || (c == 0xf4 && p[1] >= 0x90))    /* above U+10FFFF */
        {
            return 0;
        }

        *cp = ((uint32_t) (c & 0x07) << 18) | ((p[1] & 0x3f) << 12)
              | ((p[2] & 0x3f) << 6) | (p[3] & 0x3f);
        return 4;
    }

    return 0;
}


static int
ngx_bedrock_hex4(const unsigned char *p, uint32_t *v)
{
    int       i;
    unsigned  c;

    *v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        *v = (*v << 4) | c;
    }

    return 0;
}


/*
 * Decodes the escape at p (which is '\\'): returns the byte after it, or
 * NULL when it is not a valid JSON escape.  A surrogate pair is one code
 * point; a lone surrogate, which JSON's grammar allows, stands as U+FFFD.
 */

static const unsigned char *
ngx_bedrock_json_escape(const unsigned char *p, const unsigned char *end,
    uint32_t *cp)
{
    uint32_t  lo;

    if (end - p < 2) {
        return NULL;
    }

    switch (p[1]) {
    case '"':  *cp = '"';  return p + 2;
    case '\\': *cp = '\\'; return p + 2;
    case '/':  *cp = '/';  return p + 2;
    case 'b':  *cp = 0x08; return p + 2;
    case 'f':  *cp = 0x0c; return p + 2;
    case 'n':  *cp = '\n'; return p + 2;
    case 'r':  *cp = '\r'; return p + 2;
    case 't':  *cp = '\t'; return p + 2;
    case 'u':  break;
    default:   return NULL;
    }

    if (end - p < 6 || ngx_bedrock_hex4(p + 2, cp) != 0) {
        return NULL;
    }

    p += 6;

    if (*cp >= 0xd800 && *cp <= 0xdbff) {

        if (end - p >= 6 && p[0] == '\\' && p[1] == 'u'
            && ngx_bedrock_hex4(p + 2, &lo) == 0
            && lo >= 0xdc00 && lo <= 0xdfff)
        {
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
            return p + 6;
        }

        *cp = 0xfffd;

    } else if (*cp >= 0xdc00 && *cp <= 0xdfff) {
        *cp = 0xfffd;
    }

    return p;
}


/*
 * Scans the content of a JSON string from p, its escapes decoded, up to
 * limit (an escape across it is read whole), or to a byte that ends the
 * content.  Strict: a '"', a control byte or a bad escape ends it, and
 * invalid UTF-8 gives NULL; otherwise bad bytes are priced as symbols.
 * Returns where it stopped: at limit or past it, or at the byte that
 * ended the content.  limit must not cut a UTF-8 character.
 */

static const unsigned char *
ngx_bedrock_scan_jstr(ngx_bedrock_scan_t *s, const unsigned char *p,
    const unsigned char *limit, const unsigned char *end, int strict)
{
    uint32_t              cp;
    const unsigned char  *q, *r;

    while (p < limit) {
        q = ngx_bedrock_scan(s, p, limit, ngx_bedrock_sc_json, strict);

        if (q == NULL || q == limit) {
            return q;
        }

        if (*q == '\\') {
            r = ngx_bedrock_json_escape(q, end, &cp);

            if (r != NULL) {
                ngx_bedrock_scan_cp(s, cp);
                p = r;
                continue;
            }
        }

        if (strict) {
            return q;
        }

        ngx_bedrock_scan_ascii(s, *q);
        p = q + 1;
    }

    return p;
}


/*
 * Where the head of a text that begins at p ends: SAMPLE_HEAD bytes on,
 * moved past the rest of a UTF-8 character, or end.  It depends on the
 * bytes up to there only, so that a string in a body (whose end is not
 * known yet) and the same string alone have the same head.
 */

static const unsigned char *
ngx_bedrock_sample_head(const unsigned char *p, const unsigned char *end)
{
    size_t  n;

    if ((size_t) (end - p) <= NGX_BEDROCK_SAMPLE_HEAD) {
        return end;
    }

    p += NGX_BEDROCK_SAMPLE_HEAD;

    for (n = 0; n < 3 && p < end && (*p & 0xc0) == 0x80; n++) {
        p++;
    }

    return p;
}


/*
 * Bytes where a sample may begin or end: a space (2, preferred: the
 * word after it is whole), or a byte that is inside no UTF-8 character
 * and no JSON escape (1): not a continuation byte, not '"', '\\' or '/',
 * no hex digit, none of "bfnrtu".
 */

static const uint8_t  ngx_bedrock_cuts[256] = {
    [' '] = 2, ['!'] = 1, ['#' ... '.'] = 1, [':' ... '@'] = 1,
    ['G' ... 'Z'] = 1, ['['] = 1, [']' ... '`'] = 1, ['g' ... 'm'] = 1,
    ['o' ... 'q'] = 1, ['s'] = 1, ['v' ... 0x7f] = 1, [0xc0 ... 0xff] = 1
};


/* the first place to cut at from p: a space within 32 bytes, or else */

static const unsigned char *
ngx_bedrock_sample_cut(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *q, *safe;

    safe = NULL;

    for (q = p; q < end && q - p < 32; q++) {

        if (ngx_bedrock_cuts[*q] == 2) {
            return q;
        }

        if (safe == NULL && ngx_bedrock_cuts[*q]) {
            safe = q;
        }
    }

    if (safe) {
        return safe;
    }

    while (q < end && ngx_bedrock_cuts[*q] == 0) {
        q++;
    }

    return q;
}


/*
 * Prices [p, end), a long text after its head, by sample into s: one
 * window of about SAMPLE_SIZE bytes per SAMPLE_EVERY, each begun and
 * ended where ngx_bedrock_sample_cut() says and scanned as a text of its
 * own, their price scaled to all the bytes.  The same bytes are always
 * cut at the same places.  (Exact for texts under 4 GB.)
 */

static void
ngx_bedrock_sample(ngx_bedrock_scan_t *s, const unsigned char *p,
    const unsigned char *end, int json)
{
    size_t                at, j, k, seen, total;
    uint64_t              milli;
    const unsigned char  *start, *a, *b;
    ngx_bedrock_scan_t    w;

    start = p;
    total = end - p;
    seen = 0;

    ngx_bedrock_scan_begin(&w);

    for (k = 0, at = 0; at < total; k++, at += NGX_BEDROCK_SAMPLE_EVERY) {

        /*
         * Each window somewhere in its stretch, by a fixed sequence: at
         * the same place in every stretch, windows would see the same
         * field of every record of a log or of a JSON array.
         */
        j = at + (((uint32_t) (k + 1) * 2654435761u) >> 16)
                 % (NGX_BEDROCK_SAMPLE_EVERY - NGX_BEDROCK_SAMPLE_SIZE);

        if (j >= total) {
            break;
        }

        a = ngx_bedrock_sample_cut(start + j > p ? start + j : p, end);

        if (a == end) {
            break;
        }

        b = ((size_t) (end - a) > NGX_BEDROCK_SAMPLE_SIZE)
            ? ngx_bedrock_sample_cut(a + NGX_BEDROCK_SAMPLE_SIZE, end) : end;

        /* each window a text of its own: what was open is closed */
        ngx_bedrock_scan_close(&w);

        p = json ? ngx_bedrock_scan_jstr(&w, a, b, end, 0)
                 : ngx_bedrock_scan(&w, a, b, ngx_bedrock_sc_raw, 0);

        seen += p - a;
    }

    if (seen == 0) {
        /* nowhere to cut: all of it */
        if (json) {
            (void) ngx_bedrock_scan_jstr(s, start, end, end, 0);

        } else {
            (void) ngx_bedrock_scan(s, start, end, ngx_bedrock_sc_raw, 0);
        }

        return;
    }

    milli = ngx_bedrock_scan_end(&w);
    s->milli += milli / seen * total + milli % seen * total / seen;
}


/* a text as it is, long ones by sample */

static void
ngx_bedrock_scan_text(ngx_bedrock_scan_t *s, const unsigned char *p,
    const unsigned char *end)
{
    const unsigned char  *limit;

    limit = ngx_bedrock_sample_head(p, end);
    p = ngx_bedrock_scan(s, p, limit, ngx_bedrock_sc_raw, 0);

    if (p < end) {
        ngx_bedrock_sample(s, p, end, 0);
    }
}


uint64_t
ngx_bedrock_estimate_text(const unsigned char *p, size_t len)
{
    ngx_bedrock_scan_t  s;

    ngx_bedrock_scan_begin(&s);
    ngx_bedrock_scan_text(&s, p, p + len);

    return (ngx_bedrock_scan_end(&s) + 999) / 1000;
}


uint64_t
ngx_bedrock_estimate_json_text(const unsigned char *p, size_t len)
{
    const unsigned char  *q, *limit, *end;
    ngx_bedrock_scan_t    s;

    end = p + len;

    ngx_bedrock_scan_begin(&s);

    limit = ngx_bedrock_sample_head(p, end);
    q = ngx_bedrock_scan_jstr(&s, p, limit, end, 0);

    if (q < end) {
        ngx_bedrock_sample(&s, q, end, 1);
    }

    return (ngx_bedrock_scan_end(&s) + 999) / 1000;
}


uint64_t
ngx_bedrock_estimate_text_whole(const unsigned char *p, size_t len,
    int json)
{
    ngx_bedrock_scan_t  s;

    ngx_bedrock_scan_begin(&s);

    if (json) {
        (void) ngx_bedrock_scan_jstr(&s, p, p + len, p + len, 0);

    } else {
        (void) ngx_bedrock_scan(&s, p, p + len, ngx_bedrock_sc_raw, 0);
    }

    return (ngx_bedrock_scan_end(&s) + 999) / 1000;
}


void
ngx_bedrock_text_features(const unsigned char *p, size_t len,
    uint64_t *counts)
{
    ngx_bedrock_scan_t  s;

    ngx_bedrock_scan_begin(&s);
    s.count = 1;
    (void) ngx_bedrock_scan(&s, p, p + len, ngx_bedrock_sc_raw, 0);
    (void) ngx_bedrock_scan_end(&s);

    memcpy(counts, s.n, NGX_BEDROCK_F_LAST * sizeof(uint64_t));
}


const char *
ngx_bedrock_text_feature_name(size_t i)
{
    static const char  *names[NGX_BEDROCK_F_LAST] = {
        "lower_sp", "lower_sp_5", "lower_sp_10",
        "lower", "lower_5", "lower_10",
        "cap_sp", "cap_sp_5", "cap_sp_10",
        "cap", "cap_5", "cap_10",
        "upper", "upper_5", "upper_10",
        "mixed", "mixed_5", "mixed_10",
        "num", "num_3", "punct", "punct_3", "space",
        "wide", "wide_ascii",
        "latin", "latin_ext", "greek", "cyrillic", "rtl", "thai", "script",
        "kana1", "kana2", "han1", "han2", "han3",
        "hangul1", "hangul2", "hangul3",
        "symbol", "astral"
    };

    return i < NGX_BEDROCK_F_LAST ? names[i] : NULL;
}


/* -- images and documents ------------------------------------------------ */


/*
 * Anthropic's vision guide: an image whose long edge is over 1568 px, or
 * that would cost over about 1,600 tokens, is first scaled down, aspect
 * kept, until it fits; it then costs about width * height / 750 tokens.
 */
#define NGX_BEDROCK_IMAGE_EDGE         1568
#define NGX_BEDROCK_IMAGE_PIXELS       750

/*
 * Documents.  A PDF costs per page (Anthropic: 1,500 to 3,000 tokens of
 * text a page; the middle of that, rounded up); the pages are counted
 * from its page objects when they are not compressed, and otherwise
 * guessed from its size.  Office files (zip or OLE) are priced from
 * their size; any other document is taken as text and scanned.  A
 * document or video without bytes (an S3 location) is priced as one page
 * or one short clip.
 */
#define NGX_BEDROCK_PDF_PAGE_TOKENS    2500
#define NGX_BEDROCK_PDF_PAGE_BYTES     50000
#define NGX_BEDROCK_OFFICE_BYTES       4      /* bytes per token */
#define NGX_BEDROCK_MEDIA_BYTES        1024   /* video, audio: bytes/token */
#define NGX_BEDROCK_MEDIA_TOKENS       5000   /* a clip of unknown size */


/* base64 digits, plus one: 0 is not a digit */
static const uint8_t  ngx_bedrock_b64[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62,
    ['+'] = 63, ['/'] = 64,
    ['-'] = 63, ['_'] = 64              /* the URL-safe alphabet too */
};


/* the 1 to 3 bytes of one quad of base64; 0 when it is not valid */

static int
ngx_bedrock_b64_quad(const unsigned char *b64, size_t len, size_t quad,
    unsigned char *out)
{
    int       i, n;
    unsigned  v[4];
    size_t    at;

    if (quad > len / 4) {
        return 0;
    }

    at = quad * 4;
    n = 0;

    for (i = 0; i < 4; i++) {
        if (at + i >= len || b64[at + i] == '=') {
            break;
        }

        v[i] = ngx_bedrock_b64[b64[at + i]];

        if (v[i] == 0) {
            return 0;
        }

        v[i]--;

        n++;
    }

    if (n < 2) {
        return 0;
    }

    out[0] = (unsigned char) ((v[0] << 2) | (v[1] >> 4));

    if (n > 2) {
        out[1] = (unsigned char) ((v[1] << 4) | (v[2] >> 2));
    }

    if (n > 3) {
        out[2] = (unsigned char) ((v[2] << 6) | v[3]);
    }

    return n - 1;
}


/*
 * Decodes bytes [off, off + n) of base64 data without decoding what lies
 * before them: quad k of the text holds bytes 3k to 3k + 2.
 */

static int
ngx_bedrock_b64_read(const unsigned char *b64, size_t len, size_t off,
    unsigned char *out, size_t n)
{
    int            got;
    size_t         i, quad, in;
    unsigned char  three[3];

    for (i = 0; i < n; /* void */) {
        quad = (off + i) / 3;
        in = (off + i) % 3;

        got = ngx_bedrock_b64_quad(b64, len, quad, three);

        if (got <= (int) in) {
            return -1;
        }

        while (in < (size_t) got && i < n) {
            out[i++] = three[in++];
        }
    }

    return 0;
}


#define ngx_bedrock_be16(p)  (((uint32_t) (p)[0] << 8) | (p)[1])
#define ngx_bedrock_le16(p)  (((uint32_t) (p)[1] << 8) | (p)[0])
#define ngx_bedrock_be32(p)                                                 \
    (((uint32_t) (p)[0] << 24) | ((uint32_t) (p)[1] << 16)                  \
     | ((uint32_t) (p)[2] << 8) | (p)[3])
#define ngx_bedrock_le24(p)                                                 \
    (((uint32_t) (p)[2] << 16) | ((uint32_t) (p)[1] << 8) | (p)[0])


int
ngx_bedrock_image_size(const unsigned char *b64, size_t len,
    uint32_t *width, uint32_t *height)
{
    size_t          i;
    unsigned char   h[30];

    *width = 0;
    *height = 0;

    /* a data URL: data:image/png;base64,.... */
    if (len > 5 && memcmp(b64, "data:", 5) == 0) {
        for (i = 5; i < len && i < 256 && b64[i] != ','; i++) {
            /* void */
        }

        if (i == len || b64[i] != ',') {
            return -1;
        }

        b64 += i + 1;
        len -= i + 1;
    }

    if (ngx_bedrock_b64_read(b64, len, 0, h, 12) != 0) {
        return -1;
    }

    if (memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) {
        if (ngx_bedrock_b64_read(b64, len, 0, h, 24) != 0
            || memcmp(h + 12, "IHDR", 4) != 0)
        {
            return -1;
        }

        *width = ngx_bedrock_be32(h + 16);
        *height = ngx_bedrock_be32(h + 20);

    } else if (h[0] == 0xff && h[1] == 0xd8) {
        if (ngx_bedrock_jpeg_size(b64, len, width, height) != 0) {
            return -1;
        }

    } else if (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0) {
        *width = ngx_bedrock_le16(h + 6);
        *height = ngx_bedrock_le16(h + 8);

    } else if (memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0) {
        if (ngx_bedrock_b64_read(b64, len, 0, h, 30) != 0) {
            return -1;
        }

        if (memcmp(h + 12, "VP8 ", 4) == 0) {
            /* a key frame: start code, then 14-bit width and height */
            if (h[23] != 0x9d || h[24] != 0x01 || h[25] != 0x2a) {
                return -1;
            }

            *width = ngx_bedrock_le16(h + 26) & 0x3fff;
            *height = ngx_bedrock_le16(h + 28) & 0x3fff;

        } else if (memcmp(h + 12, "VP8L", 4) == 0) {
            if (h[20] != 0x2f) {
                return -1;
            }

            *width = 1 + (h[21] | ((uint32_t) (h[22] & 0x3f) << 8));
            *height = 1 + ((h[22] >> 6) | ((uint32_t) h[23] << 2)
                           | ((uint32_t) (h[24] & 0x0f) << 10));

        } else if (memcmp(h + 12, "VP8X", 4) == 0) {
            *width = 1 + ngx_bedrock_le24(h + 24);
            *height = 1 + ngx_bedrock_le24(h + 27);

        } else {
            return -1;
        }

    } else {
        return -1;
    }

    if (*width == 0 || *height == 0) {
        *width = 0;
        *height = 0;
        return -1;
    }

    return 0;
}


/*
 * A JPEG's size is in its first SOFn segment, after any number of others
 * (EXIF, ICC profiles, tables): walk the segments by their lengths,
 * reading four bytes of each, at most 512 of them.
 */

static int
ngx_bedrock_jpeg_size(const unsigned char *b64, size_t len,
    uint32_t *width, uint32_t *height)
{
    size_t          off, n;
    unsigned        m;
    unsigned char   seg[9];

    off = 2;

    for (n = 0; n < 512; n++) {

        if (ngx_bedrock_b64_read(b64, len, off, seg, 2) != 0
            || seg[0] != 0xff)
        {
            return -1;
        }

        m = seg[1];

        if (m == 0xff) {
            /* fill byte */
            off++;
            continue;
        }

        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
            off += 2;
            continue;
        }

        if (m == 0xd9 || m == 0xda) {
            /* the image or its data began before any frame header */
            return -1;
        }

        if (ngx_bedrock_b64_read(b64, len, off, seg, 4) != 0
            || ngx_bedrock_be16(seg + 2) < 2)
        {
            return -1;
        }

        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (ngx_bedrock_b64_read(b64, len, off, seg, 9) != 0) {
                return -1;
            }

            *height = ngx_bedrock_be16(seg + 5);
            *width = ngx_bedrock_be16(seg + 7);
            return 0;
        }

        off += 2 + ngx_bedrock_be16(seg + 2);
    }

    return -1;
}


uint64_t
ngx_bedrock_image_tokens(uint32_t width, uint32_t height)
{
    uint64_t  w, h, edge, tokens;

    w = width;
    h = height;

    if (w == 0 || h == 0) {
        return 0;
    }

    edge = w > h ? w : h;

    if (edge > NGX_BEDROCK_IMAGE_EDGE) {
        w = (w * NGX_BEDROCK_IMAGE_EDGE + edge / 2) / edge;
        h = (h * NGX_BEDROCK_IMAGE_EDGE + edge / 2) / edge;
        w = w ? w : 1;
        h = h ? h : 1;
    }

    tokens = (w * h + NGX_BEDROCK_IMAGE_PIXELS - 1) / NGX_BEDROCK_IMAGE_PIXELS;

    return tokens < NGX_BEDROCK_IMAGE_TOKENS_MAX
           ? tokens : NGX_BEDROCK_IMAGE_TOKENS_MAX;
}


/*
 * Decodes a base64 document in chunks: a PDF's pages are counted, an
 * office file is priced by size, anything else is scanned as text.
 */

static uint64_t
ngx_bedrock_document_tokens(const unsigned char *b64, size_t len)
{
    int                  got, kind;
    size_t               quad, quads, n, i, t, keep, bytes;
    unsigned             c;
    uint64_t             pages;
    unsigned char        buf[3072 + 16], *p, *last, *limit;
    ngx_bedrock_scan_t   s;

    quads = (len + 3) / 4;
    bytes = 0;
    pages = 0;
    keep = 0;
    kind = -1;

    ngx_bedrock_scan_begin(&s);

    for (quad = 0; quad < quads; /* void */) {

        n = keep;

        for (i = 0; i < 1024 && quad < quads; i++, quad++) {
            got = ngx_bedrock_b64_quad(b64, len, quad, buf + n);

            if (got == 0) {
                quad = quads;
                break;
            }

            n += got;
        }

        bytes += n - keep;

        if (kind == -1) {
            if (n >= 5 && memcmp(buf, "%PDF-", 5) == 0) {
                kind = 0;

            } else if (n >= 4 && (memcmp(buf, "PK\x03\x04", 4) == 0
                                  || memcmp(buf, "\xd0\xcf\x11\xe0", 4) == 0))
            {
                /* an office file: its size is all that is cheap to know */
                return ((len / 4) * 3 + NGX_BEDROCK_OFFICE_BYTES - 1)
                       / NGX_BEDROCK_OFFICE_BYTES;

            } else {
                kind = 1;
            }
        }

        if (kind == 1) {
            /* a character cut by the chunk waits for the next one */
            t = n;

            for (i = 1; i <= 3 && i <= n && quad < quads; i++) {
                c = buf[n - i];

                if ((c & 0xc0) == 0x80) {
                    continue;
                }

                if (c >= 0xc0 && (size_t) (c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2)
                                 > i)
                {
                    t = n - i;
                }

                break;
            }

            (void) ngx_bedrock_scan(&s, buf, buf + t, ngx_bedrock_sc_raw, 0);

            keep = n - t;
            memmove(buf, buf + t, keep);
            continue;
        }

        /*
         * "/Type /Page" but not "/Type /Pages": a match is at most 15
         * bytes, so the last 15 are looked at with the next chunk
         */

        last = buf + n;
        limit = (quad < quads && n > 15) ? last - 15 : last;

        for (p = buf; p < limit; p++) {
            if (p[0] != '/' || last - p < 11 || memcmp(p, "/Type", 5) != 0) {
                continue;
            }

            for (i = 5; i < 9 && p + i < last; i++) {
                if (p[i] != ' ' && p[i] != '\r' && p[i] != '\n'
                    && p[i] != '\t')
                {
                    break;
                }
            }

            if (last - (p + i) >= 6 && memcmp(p + i, "/Page", 5) == 0
                && p[i + 5] != 's')
            {
                pages++;
            }
        }

        keep = last - limit;
        memmove(buf, limit, keep);
    }

    if (kind == 1) {
        return (ngx_bedrock_scan_end(&s) + 999) / 1000;
    }

    if (pages == 0) {
        pages = (bytes + NGX_BEDROCK_PDF_PAGE_BYTES - 1)
                / NGX_BEDROCK_PDF_PAGE_BYTES;
        pages = pages ? pages : 1;
    }

    return pages * NGX_BEDROCK_PDF_PAGE_TOKENS;
}


/* -- the body ------------------------------------------------------------ */


/* what a value is, from the keys on the way down to it */
enum {
    NGX_BEDROCK_R_IGNORE = 0,   /* validated, never priced */
    NGX_BEDROCK_R_ANY,          /* unknown: priced when no shape is known */
    NGX_BEDROCK_R_ROOT,
    NGX_BEDROCK_R_TEXT,         /* a string of text */
    NGX_BEDROCK_R_TEXT_ALL,     /* every string inside is text */
    NGX_BEDROCK_R_SYSTEM,       /* a string, or blocks */
    NGX_BEDROCK_R_MESSAGES,
    NGX_BEDROCK_R_MESSAGE,
    NGX_BEDROCK_R_CONTENT,      /* a string, or blocks */
    NGX_BEDROCK_R_BLOCK,        /* a content block of any API */
    NGX_BEDROCK_R_TYPE,         /* the "type" of a Claude block */
    NGX_BEDROCK_R_SOURCE,       /* where an image or document is */
    NGX_BEDROCK_R_BLOB,         /* base64 of an image, document or clip */
    NGX_BEDROCK_R_DATA,         /* Claude's "data": base64, or text */
    NGX_BEDROCK_R_MEDIA,        /* Converse image, document, video, audio */
    NGX_BEDROCK_R_TOOLS,
    NGX_BEDROCK_R_TOOL,         /* a tool definition, priced as its JSON */
    NGX_BEDROCK_R_RAW,          /* a value priced as its JSON (tool input) */
    NGX_BEDROCK_R_CONFIG,       /* inferenceConfig, toolConfig ... */
    NGX_BEDROCK_R_MAX_TOKENS
};

/* where the tokens of a text go */
#define NGX_BEDROCK_B_TEXT    0
#define NGX_BEDROCK_B_TOOL    1
#define NGX_BEDROCK_B_DOC     2
#define NGX_BEDROCK_B_OTHER   3
#define NGX_BEDROCK_B_KEEP    0xff      /* the parent's */

/* what a blob is */
#define NGX_BEDROCK_M_NONE    0
#define NGX_BEDROCK_M_IMAGE   1
#define NGX_BEDROCK_M_DOC     2
#define NGX_BEDROCK_M_VIDEO   3
#define NGX_BEDROCK_M_AUDIO   4
#define NGX_BEDROCK_M_KEEP    0xff

/* what a key tells of the body */
#define NGX_BEDROCK_KEY_SHAPE   1         /* a known request shape */
#define NGX_BEDROCK_KEY_SYS     2         /* a system prompt */
#define NGX_BEDROCK_KEY_NAMED   4         /* a tool that has a name */


typedef struct {
    const char    *name;
    uint8_t        len;
    uint8_t        role;
    uint8_t        bucket;
    uint8_t        media;
    uint8_t        flags;
} ngx_bedrock_key_t;

#define ngx_bedrock_key(name, role, bucket, media, flags)                    \
    { name, sizeof(name) - 1, NGX_BEDROCK_R_##role, bucket, media, flags }

/* a key whose value keeps the bucket and media of its parent */
#define ngx_bedrock_kk(name, role, flags)                                   \
    ngx_bedrock_key(name, role, NGX_BEDROCK_B_KEEP, NGX_BEDROCK_M_KEEP,     \
                    flags)


/*
 * The keys of every shape in one place: Claude Messages, Converse, Nova,
 * Titan, Llama, Mistral, Cohere, AI21, DeepSeek and OpenAI-style chat
 * bodies use different keys for the same things, and no key means two
 * different things, so one table reads them all.  A key not listed gets
 * the role in the table's last entry.
 */

static const ngx_bedrock_key_t  ngx_bedrock_root_keys[] = {
    ngx_bedrock_key("messages", MESSAGES, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("system", SYSTEM, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE,
                    NGX_BEDROCK_KEY_SHAPE | NGX_BEDROCK_KEY_SYS),
    ngx_bedrock_key("prompt", TEXT, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("inputText", TEXT, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("message", TEXT, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("chat_history", MESSAGES, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("preamble", TEXT, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE,
                    NGX_BEDROCK_KEY_SHAPE | NGX_BEDROCK_KEY_SYS),
    ngx_bedrock_key("documents", TEXT_ALL, NGX_BEDROCK_B_DOC,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("texts", TEXT_ALL, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("inputImage", BLOB, NGX_BEDROCK_B_TEXT,
                    NGX_BEDROCK_M_IMAGE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("tools", TOOLS, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_NONE, 0),
    ngx_bedrock_key("tool_results", RAW, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_NONE, NGX_BEDROCK_KEY_SHAPE),
    ngx_bedrock_key("toolConfig", CONFIG, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_NONE, 0),
    ngx_bedrock_kk("inferenceConfig", CONFIG, 0),
    ngx_bedrock_kk("textGenerationConfig", CONFIG, 0),
    ngx_bedrock_kk("promptVariables", TEXT_ALL, 0),
    ngx_bedrock_kk("max_tokens", MAX_TOKENS, 0),
    ngx_bedrock_kk("max_tokens_to_sample", MAX_TOKENS, 0),
    ngx_bedrock_kk("max_gen_len", MAX_TOKENS, 0),
    ngx_bedrock_kk("max_completion_tokens", MAX_TOKENS, 0),
    ngx_bedrock_kk("max_new_tokens", MAX_TOKENS, 0),
    ngx_bedrock_kk("maxTokens", MAX_TOKENS, 0),
    ngx_bedrock_key("", ANY, NGX_BEDROCK_B_OTHER, NGX_BEDROCK_M_KEEP, 0)
};

static const ngx_bedrock_key_t  ngx_bedrock_config_keys[] = {
    ngx_bedrock_key("tools", TOOLS, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_NONE, 0),
    ngx_bedrock_kk("maxTokens", MAX_TOKENS, 0),
    ngx_bedrock_kk("max_new_tokens", MAX_TOKENS, 0),
    ngx_bedrock_kk("maxTokenCount", MAX_TOKENS, 0),
    ngx_bedrock_kk("max_tokens", MAX_TOKENS, 0),
    ngx_bedrock_kk("", IGNORE, 0)
};

static const ngx_bedrock_key_t  ngx_bedrock_message_keys[] = {
    ngx_bedrock_kk("content", CONTENT, 0),
    ngx_bedrock_kk("role", IGNORE, 0),
    ngx_bedrock_kk("message", TEXT, 0),
    ngx_bedrock_key("tool_calls", RAW, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_KEEP, 0),
    ngx_bedrock_kk("tool_call_id", IGNORE, 0),
    ngx_bedrock_kk("name", IGNORE, 0),
    ngx_bedrock_kk("id", IGNORE, 0),
    /* unknown fields of a message are priced: better high than low */
    ngx_bedrock_kk("", TEXT_ALL, 0)
};

static const ngx_bedrock_key_t  ngx_bedrock_block_keys[] = {
    ngx_bedrock_kk("text", TEXT, 0),
    ngx_bedrock_kk("type", TYPE, 0),
    ngx_bedrock_kk("source", SOURCE, 0),
    ngx_bedrock_kk("content", CONTENT, 0),
    ngx_bedrock_key("image", MEDIA, NGX_BEDROCK_B_KEEP,
                    NGX_BEDROCK_M_IMAGE, 0),
    ngx_bedrock_key("document", MEDIA, NGX_BEDROCK_B_DOC,
                    NGX_BEDROCK_M_DOC, 0),
    ngx_bedrock_key("video", MEDIA, NGX_BEDROCK_B_KEEP,
                    NGX_BEDROCK_M_VIDEO, 0),
    ngx_bedrock_key("audio", MEDIA, NGX_BEDROCK_B_DOC,
                    NGX_BEDROCK_M_AUDIO, 0),
    ngx_bedrock_key("toolUse", BLOCK, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_KEEP, 0),
    ngx_bedrock_key("toolResult", BLOCK, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_KEEP, 0),
    ngx_bedrock_key("input", RAW, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_KEEP, 0),
    ngx_bedrock_key("json", RAW, NGX_BEDROCK_B_TOOL,
                    NGX_BEDROCK_M_KEEP, 0),
    ngx_bedrock_kk("thinking", TEXT, 0),
    ngx_bedrock_kk("name", TEXT, 0),
    ngx_bedrock_kk("title", TEXT, 0),
    ngx_bedrock_kk("context", TEXT, 0),
    ngx_bedrock_kk("reasoningContent", BLOCK, 0),
    ngx_bedrock_kk("reasoningText", BLOCK, 0),
    ngx_bedrock_kk("guardContent", BLOCK, 0),
    ngx_bedrock_kk("citationsContent", BLOCK, 0),
    ngx_bedrock_kk("searchResult", BLOCK, 0),
    ngx_bedrock_key("image_url", SOURCE, NGX_BEDROCK_B_KEEP,
                    NGX_BEDROCK_M_IMAGE, 0),
    ngx_bedrock_kk("cachePoint", IGNORE, 0),
    ngx_bedrock_kk("cache_control", IGNORE, 0),
    ngx_bedrock_kk("signature", IGNORE, 0),
    ngx_bedrock_kk("data", IGNORE, 0),
    ngx_bedrock_kk("redactedContent", IGNORE, 0),
    ngx_bedrock_kk("id", IGNORE, 0),
    ngx_bedrock_kk("toolUseId", IGNORE, 0),
    ngx_bedrock_kk("tool_use_id", IGNORE, 0),
    ngx_bedrock_kk("is_error", IGNORE, 0),
    ngx_bedrock_kk("status", IGNORE, 0),
    ngx_bedrock_kk("format", IGNORE, 0),
    ngx_bedrock_kk("citations", IGNORE, 0),
    ngx_bedrock_kk("qualifiers", IGNORE, 0),
    ngx_bedrock_kk("", TEXT_ALL, 0)
};

static const ngx_bedrock_key_t  ngx_bedrock_source_keys[] = {
    ngx_bedrock_kk("bytes", BLOB, 0),
    ngx_bedrock_kk("data", DATA, 0),
    ngx_bedrock_kk("url", DATA, 0),
    ngx_bedrock_kk("text", TEXT, 0),
    ngx_bedrock_kk("content", CONTENT, 0),
    ngx_bedrock_kk("", IGNORE, 0)
};

static const ngx_bedrock_key_t  ngx_bedrock_media_keys[] = {
    ngx_bedrock_kk("source", SOURCE, 0),
    ngx_bedrock_kk("name", TEXT, 0),
    ngx_bedrock_kk("context", TEXT, 0),
    ngx_bedrock_kk("", IGNORE, 0)
};

static const ngx_bedrock_key_t  ngx_bedrock_tool_keys[] = {
    ngx_bedrock_kk("name", IGNORE, NGX_BEDROCK_KEY_NAMED),
    ngx_bedrock_kk("toolSpec", IGNORE, NGX_BEDROCK_KEY_NAMED),
    ngx_bedrock_kk("function", IGNORE, NGX_BEDROCK_KEY_NAMED),
    ngx_bedrock_kk("", IGNORE, 0)
};


/* one open object or array */
typedef struct {
    uint8_t        role;
    uint8_t        bucket;
    uint8_t        media;
    unsigned       object:1;
    unsigned       counted:1;       /* an image or document, counted */
    unsigned       priced:1;        /* ... and priced from its bytes */
    unsigned       named:1;         /* a tool with a name */
} ngx_bedrock_level_t;


typedef struct {
    const unsigned char     *body;
    const unsigned char     *end;
    ngx_bedrock_estimate_t  *est;
    char                    *err;

    uint64_t                 bucket[4];
    uint64_t                 max_tokens;

    ngx_bedrock_scan_t       scan;     /* one string */
    ngx_bedrock_scan_t       raw;      /* a value priced as its JSON */
    size_t                   raw_level;
    unsigned                 raw_on:1;
    unsigned                 raw_bucket:2;

    unsigned                 known:1;
    unsigned                 system:1;
    unsigned                 max_given:1;

    size_t                   depth;
    ngx_bedrock_level_t      stack[NGX_BEDROCK_JSON_MAX_DEPTH];
} ngx_bedrock_est_t;


/* plain bytes of a JSON string: not '"', '\\', a control or non-ASCII */
static const uint8_t  ngx_bedrock_json_plain[256] = {
    [' ' ... '!'] = 1, ['#' ... '['] = 1, [']' ... 0x7f] = 1
};

#define ngx_bedrock_json_ws(c)                                              \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')


static int ngx_bedrock_est_error(ngx_bedrock_est_t *e,
    const unsigned char *at, const char *what);
static const unsigned char *ngx_bedrock_est_skip(ngx_bedrock_est_t *e,
    const unsigned char *p, unsigned *escaped);
static const unsigned char *ngx_bedrock_est_skip_from(ngx_bedrock_est_t *e,
    const unsigned char *p, unsigned *escaped);
static int ngx_bedrock_est_blob_like(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_bedrock_est_string(ngx_bedrock_est_t *e,
    const unsigned char *p, unsigned role, unsigned bucket, unsigned media);
static void ngx_bedrock_est_blob(ngx_bedrock_est_t *e,
    const unsigned char *p, size_t len, unsigned escaped, unsigned media,
    unsigned role);
static ngx_bedrock_level_t *ngx_bedrock_est_owner(ngx_bedrock_est_t *e);
static void ngx_bedrock_est_doc_text(ngx_bedrock_est_t *e);
static void ngx_bedrock_est_type(ngx_bedrock_est_t *e,
    const unsigned char *p, size_t len);
static const unsigned char *ngx_bedrock_est_number(ngx_bedrock_est_t *e,
    const unsigned char *p, unsigned role);
static void ngx_bedrock_est_raw(ngx_bedrock_est_t *e,
    const unsigned char *p, size_t len);
static void ngx_bedrock_est_raw_end(ngx_bedrock_est_t *e);
static void ngx_bedrock_est_open(ngx_bedrock_est_t *e,
    ngx_bedrock_level_t *l);
static void ngx_bedrock_est_close(ngx_bedrock_est_t *e,
    ngx_bedrock_level_t *l);
static const ngx_bedrock_key_t *ngx_bedrock_est_key(unsigned role,
    const unsigned char *key, size_t len);
static unsigned ngx_bedrock_est_container(unsigned role, int object);


static int
ngx_bedrock_est_error(ngx_bedrock_est_t *e, const unsigned char *at,
    const char *what)
{
    snprintf(e->err, NGX_BEDROCK_ERROR_LEN,
             "Malformed input request: %s at byte %zu, "
             "please reformat your input and try again.",
             what, (size_t) (at - e->body));
    return -1;
}


/*
 * Finds the end of the string that opens at p: returns its closing
 * quote, or NULL with the error set.  Validates escapes and UTF-8.
 */

static const unsigned char *
ngx_bedrock_est_skip(ngx_bedrock_est_t *e, const unsigned char *p,
    unsigned *escaped)
{
    *escaped = 0;

    return ngx_bedrock_est_skip_from(e, p + 1, escaped);
}


/*
 * The same from a byte inside the string (not inside an escape or a
 * character).  Base64 and long texts pass here whole: plain bytes are
 * passed over 16 at a time where there is SSE2, up to the first that is
 * not plain (the same bytes as ngx_bedrock_json_plain[]).
 */

static const unsigned char *
ngx_bedrock_est_skip_from(ngx_bedrock_est_t *e, const unsigned char *p,
    unsigned *escaped)
{
    size_t                n;
    uint32_t              cp;
    const unsigned char  *q, *end;
#if (defined __SSE2__)
    uint64_t              m;
    __m128i               v;
#endif

    end = e->end;

    for ( ;; ) {

#if (defined __SSE2__)

        while (end - p >= 16) {
            v = _mm_loadu_si128((const __m128i *) p);

            m = ngx_bedrock_eq(v, '"') | ngx_bedrock_eq(v, '\\')
                | ngx_bedrock_in(v, 0, 32)
                | (uint64_t) (uint16_t) _mm_movemask_epi8(v);

            if (m) {
                p += __builtin_ctzll(m);
                break;
            }

            p += 16;
        }

#endif

        while (p < end && ngx_bedrock_json_plain[*p]) {
            p++;
        }

        if (p == end) {
            (void) ngx_bedrock_est_error(e, p, "unterminated string");
            return NULL;
        }

        if (*p == '"') {
            return p;
        }

        if (*p == '\\') {
            *escaped = 1;
            q = ngx_bedrock_json_escape(p, end, &cp);

            if (q == NULL) {
                (void) ngx_bedrock_est_error(e, p, "invalid escape");
                return NULL;
            }

            p = q;
            continue;
        }

        if (*p < 0x20) {
            (void) ngx_bedrock_est_error(e, p,
                                         "control character in a string");
            return NULL;
        }

        /* a run of characters beyond ASCII */

        do {
            n = ngx_bedrock_utf8(p, end, &cp);

            if (n == 0) {
                (void) ngx_bedrock_est_error(e, p,
                                             "invalid UTF-8 in a string");
                return NULL;
            }

            p += n;

        } while (p < end && *p >= 0x80);
    }
}


/*
 * Base64 data is never priced as text: a string whose first 128
 * characters are all of the base64 alphabet (a "\/" escape counts), or a
 * data: URL, is taken as a blob.  No text of words and spaces is.
 */

static int
ngx_bedrock_est_blob_like(const unsigned char *p, const unsigned char *end)
{
    size_t  n;

    if (end - p > 5 && memcmp(p, "data:", 5) == 0) {
        for (n = 5; n < 200 && p + n + 8 <= end && p[n] != '"'; n++) {
            if (memcmp(p + n, ";base64,", 8) == 0) {
                return 1;
            }
        }

        return 0;
    }

    for (n = 0; n < 128 && p < end; n++, p++) {

        if (ngx_bedrock_b64[*p] || *p == '=') {
            continue;
        }

        if (*p == '\\' && p + 1 < end && p[1] == '/') {
            p++;
            continue;
        }

        return 0;
    }

    return n == 128;
}


/* a string value: p is its opening quote; returns the byte after it */

static const unsigned char *
ngx_bedrock_est_string(ngx_bedrock_est_t *e, const unsigned char *p,
    unsigned role, unsigned bucket, unsigned media)
{
    unsigned              escaped;
    const unsigned char  *q, *r, *end, *limit;

    end = e->end;

    if (e->raw_on) {
        q = ngx_bedrock_est_skip(e, p, &escaped);

        if (q == NULL) {
            return NULL;
        }

        if (ngx_bedrock_est_blob_like(p + 1, q)) {
            ngx_bedrock_est_raw(e, (const unsigned char *) "\"\"", 2);

        } else {
            ngx_bedrock_est_raw(e, p, q + 1 - p);
        }

        return q + 1;
    }

    switch (role) {

    case NGX_BEDROCK_R_TEXT:
    case NGX_BEDROCK_R_TEXT_ALL:
    case NGX_BEDROCK_R_SYSTEM:
    case NGX_BEDROCK_R_MESSAGE:
    case NGX_BEDROCK_R_CONTENT:
    case NGX_BEDROCK_R_SOURCE:
    case NGX_BEDROCK_R_DATA:
    case NGX_BEDROCK_R_ANY:

        if (ngx_bedrock_est_blob_like(p + 1, end)) {
            q = ngx_bedrock_est_skip(e, p, &escaped);

            if (q == NULL) {
                return NULL;
            }

            ngx_bedrock_est_blob(e, p + 1, q - p - 1, escaped, media, role);
            return q + 1;
        }

        if (role == NGX_BEDROCK_R_ANY) {
            bucket = NGX_BEDROCK_B_OTHER;
        }

        /*
         * The head is scanned and checked in one pass; what is left of a
         * long string is checked to its end, then priced by sample, as
         * ngx_bedrock_estimate_json_text() prices the same content.
         */

        ngx_bedrock_scan_begin(&e->scan);
        p++;

        limit = ngx_bedrock_sample_head(p, end);
        q = ngx_bedrock_scan_jstr(&e->scan, p, limit, end, 1);

        if (q == NULL) {
            /* find the bad byte again, for the message */
            (void) ngx_bedrock_est_skip(e, p - 1, &escaped);
            return NULL;
        }

        if (q == end) {
            (void) ngx_bedrock_est_error(e, q, "unterminated string");
            return NULL;
        }

        if (q >= limit) {
            r = ngx_bedrock_est_skip_from(e, q, &escaped);

            if (r == NULL) {
                return NULL;
            }

            if (r > q) {
                ngx_bedrock_sample(&e->scan, q, r, 1);
            }

            q = r;

        } else if (*q == '\\') {
            (void) ngx_bedrock_est_error(e, q, "invalid escape");
            return NULL;

        } else if (*q != '"') {
            (void) ngx_bedrock_est_error(e, q,
                                         "control character in a string");
            return NULL;
        }

        e->bucket[bucket] += (ngx_bedrock_scan_end(&e->scan) + 999) / 1000;

        if (bucket == NGX_BEDROCK_B_DOC) {
            /* the text of a document: the document is priced by it */
            ngx_bedrock_est_doc_text(e);
        }

        return q + 1;

    case NGX_BEDROCK_R_BLOB:
    case NGX_BEDROCK_R_TYPE:
    case NGX_BEDROCK_R_TOOL:
    case NGX_BEDROCK_R_RAW:
    default:

        q = ngx_bedrock_est_skip(e, p, &escaped);

        if (q == NULL) {
            return NULL;
        }

        if (role == NGX_BEDROCK_R_BLOB) {
            ngx_bedrock_est_blob(e, p + 1, q - p - 1, escaped, media, role);

        } else if (role == NGX_BEDROCK_R_TYPE) {
            ngx_bedrock_est_type(e, p + 1, q - p - 1);
        }

        return q + 1;
    }
}


/* a document whose source is a text is priced by that text */

static void
ngx_bedrock_est_doc_text(ngx_bedrock_est_t *e)
{
    size_t                i;
    unsigned              source;
    ngx_bedrock_level_t  *l;

    source = 0;

    for (i = e->depth; i > 0; i--) {
        l = &e->stack[i - 1];

        if (l->role == NGX_BEDROCK_R_SOURCE) {
            source = 1;
        }

        if (l->counted) {
            if (l->media == NGX_BEDROCK_M_DOC && source) {
                l->priced = 1;
            }

            return;
        }
    }
}


/* the image, document or clip that a blob belongs to */

static ngx_bedrock_level_t *
ngx_bedrock_est_owner(ngx_bedrock_est_t *e)
{
    size_t                i;
    ngx_bedrock_level_t  *l;

    for (i = e->depth; i > 0 && i + 3 > e->depth; i--) {
        l = &e->stack[i - 1];

        if (l->role == NGX_BEDROCK_R_MEDIA || l->role == NGX_BEDROCK_R_BLOCK)
        {
            return l;
        }
    }

    return NULL;
}


/*
 * Prices base64 data.  A blob that is not known to be an image is looked
 * at: an image is priced as one, anything else under a media key as a
 * document, and anything else in text as nothing.
 */

static void
ngx_bedrock_est_blob(ngx_bedrock_est_t *e, const unsigned char *p,
    size_t len, unsigned escaped, unsigned media, unsigned role)
{
    size_t                 i, n;
    uint32_t               w, h;
    uint64_t               tokens;
    unsigned char          head[8192];
    const unsigned char   *b64;
    ngx_bedrock_level_t   *owner;
    ngx_bedrock_estimate_t  *est;

    est = e->est;
    owner = (role == NGX_BEDROCK_R_BLOB || role == NGX_BEDROCK_R_DATA)
            ? ngx_bedrock_est_owner(e) : NULL;

    if (media == NGX_BEDROCK_M_VIDEO || media == NGX_BEDROCK_M_AUDIO) {
        tokens = ((len / 4) * 3 + NGX_BEDROCK_MEDIA_BYTES - 1)
                 / NGX_BEDROCK_MEDIA_BYTES;

        if (media == NGX_BEDROCK_M_VIDEO) {
            est->image_tokens += tokens;

        } else {
            est->document_tokens += tokens;
        }

        if (owner) {
            owner->priced = 1;
        }

        return;
    }

    b64 = p;
    n = len;

    if (escaped) {
        /* "\/" escapes: the head, unescaped, is enough for a header */
        for (i = 0, n = 0; i < len && n < sizeof(head); i++) {
            if (p[i] == '\\' && i + 1 < len) {
                i++;
            }

            head[n++] = p[i];
        }

        b64 = head;
    }

    if (media != NGX_BEDROCK_M_DOC) {

        if (ngx_bedrock_image_size(b64, n, &w, &h) == 0) {
            est->image_tokens += ngx_bedrock_image_tokens(w, h);

            if (owner == NULL || !owner->counted) {
                est->images++;
            }

            if (owner) {
                owner->counted = 1;
                owner->priced = 1;
            }

            return;
        }

        if (media == NGX_BEDROCK_M_IMAGE) {
            /* an image of unknown size: the owner's close prices it */
            if (owner == NULL) {
                est->image_tokens += NGX_BEDROCK_IMAGE_TOKENS_MAX;
                est->images++;
            }

            return;
        }

        if (owner == NULL) {
            /* a blob in plain text that is no image: not priced */
            return;
        }
    }

    if (escaped) {
        tokens = (((len / 4) * 3) + NGX_BEDROCK_OFFICE_BYTES - 1)
                 / NGX_BEDROCK_OFFICE_BYTES;

    } else {
        tokens = ngx_bedrock_document_tokens(p, len);
    }

    est->document_tokens += tokens;

    if (owner == NULL || !owner->counted) {
        est->documents++;
    }

    if (owner) {
        owner->counted = 1;
        owner->priced = 1;
        owner->media = NGX_BEDROCK_M_DOC;
    }
}


/* the "type" of a Claude block says what its source and content are */

static void
ngx_bedrock_est_type(ngx_bedrock_est_t *e, const unsigned char *p,
    size_t len)
{
    ngx_bedrock_level_t  *l;

    if (e->depth == 0) {
        return;
    }

    l = &e->stack[e->depth - 1];

    if (l->role != NGX_BEDROCK_R_BLOCK) {
        return;
    }

    if ((len == 5 && memcmp(p, "image", 5) == 0)
        || (len == 9 && memcmp(p, "image_url", 9) == 0))
    {
        l->media = NGX_BEDROCK_M_IMAGE;

        if (!l->counted) {
            l->counted = 1;
            e->est->images++;
        }

    } else if (len == 8 && memcmp(p, "document", 8) == 0) {
        l->media = NGX_BEDROCK_M_DOC;
        l->bucket = NGX_BEDROCK_B_DOC;

        if (!l->counted) {
            l->counted = 1;
            e->est->documents++;
        }

    } else if ((len == 8 && memcmp(p, "tool_use", 8) == 0)
               || (len == 11 && memcmp(p, "tool_result", 11) == 0))
    {
        l->bucket = NGX_BEDROCK_B_TOOL;
    }
}


/*
 * A number, as RFC 8259 has it.  The output maximum is read from it: the
 * integer part of its value, at most 100,000,000; a negative one is not
 * taken.
 */

static const unsigned char *
ngx_bedrock_est_number(ngx_bedrock_est_t *e, const unsigned char *p,
    unsigned role)
{
    int                   neg, eneg;
    int64_t               exp, frac;
    uint64_t              v;
    const unsigned char  *q, *end;

    end = e->end;
    q = p;
    neg = 0;
    v = 0;
    frac = 0;
    exp = 0;
    eneg = 0;

    if (*q == '-') {
        neg = 1;
        q++;
    }

    if (q == end || *q < '0' || *q > '9') {
        (void) ngx_bedrock_est_error(e, q, "invalid number");
        return NULL;
    }

    if (*q == '0') {
        q++;

    } else {
        while (q < end && *q >= '0' && *q <= '9') {
            v = v < 1000000000000ULL ? v * 10 + (*q - '0') : v;
            q++;
        }
    }

    if (q < end && *q == '.') {
        q++;

        if (q == end || *q < '0' || *q > '9') {
            (void) ngx_bedrock_est_error(e, q, "invalid number");
            return NULL;
        }

        while (q < end && *q >= '0' && *q <= '9') {
            if (v < 1000000000000ULL) {
                v = v * 10 + (*q - '0');
                frac++;
            }

            q++;
        }
    }

    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;

        if (q < end && (*q == '+' || *q == '-')) {
            eneg = (*q == '-');
            q++;
        }

        if (q == end || *q < '0' || *q > '9') {
            (void) ngx_bedrock_est_error(e, q, "invalid number");
            return NULL;
        }

        while (q < end && *q >= '0' && *q <= '9') {
            exp = exp < 1000 ? exp * 10 + (*q - '0') : exp;
            q++;
        }
    }

    if (e->raw_on) {
        ngx_bedrock_est_raw(e, p, q - p);
    }

    if (role == NGX_BEDROCK_R_MAX_TOKENS && !neg) {
        exp = (eneg ? -exp : exp) - frac;

        while (exp > 0 && v < 100000000) {
            v *= 10;
            exp--;
        }

        while (exp < 0 && v > 0) {
            v /= 10;
            exp++;
        }

        e->max_tokens = v < 100000000 ? v : 100000000;
        e->max_given = 1;
    }

    return q;
}


/* a piece of a value that is priced as its JSON text, compacted */

static void
ngx_bedrock_est_raw(ngx_bedrock_est_t *e, const unsigned char *p, size_t len)
{
    ngx_bedrock_scan_text(&e->raw, p, p + len);
}


static void
ngx_bedrock_est_raw_end(ngx_bedrock_est_t *e)
{
    e->bucket[e->raw_bucket] += (ngx_bedrock_scan_end(&e->raw) + 999) / 1000;
    e->raw_on = 0;
}


/* an object or array opens: what it counts, where its pricing starts */

static void
ngx_bedrock_est_open(ngx_bedrock_est_t *e, ngx_bedrock_level_t *l)
{
    ngx_bedrock_estimate_t  *est;

    est = e->est;

    switch (l->role) {

    case NGX_BEDROCK_R_MESSAGE:
        est->messages++;
        break;

    case NGX_BEDROCK_R_MEDIA:
        l->counted = 1;

        if (l->media == NGX_BEDROCK_M_IMAGE) {
            est->images++;

        } else if (l->media == NGX_BEDROCK_M_DOC) {
            est->documents++;
        }

        break;

    case NGX_BEDROCK_R_TOOL:
    case NGX_BEDROCK_R_RAW:

        if (!e->raw_on) {
            ngx_bedrock_scan_begin(&e->raw);
            e->raw_on = 1;
            e->raw_level = e->depth;
            e->raw_bucket = NGX_BEDROCK_B_TOOL;
        }

        break;
    }
}


/* an object or array closes: what was not priced is priced now */

static void
ngx_bedrock_est_close(ngx_bedrock_est_t *e, ngx_bedrock_level_t *l)
{
    ngx_bedrock_estimate_t  *est;

    est = e->est;

    /* the level is already off the stack: it was at depth + 1 */
    if (e->raw_on && e->raw_level == e->depth + 1) {
        ngx_bedrock_est_raw_end(e);

        if (l->role == NGX_BEDROCK_R_TOOL && l->named) {
            est->tools++;
        }
    }

    if (!l->counted || l->priced) {
        return;
    }

    /* an image, document or clip without readable bytes (S3, or bad) */

    switch (l->media) {

    case NGX_BEDROCK_M_IMAGE:
        est->image_tokens += NGX_BEDROCK_IMAGE_TOKENS_MAX;
        break;

    case NGX_BEDROCK_M_DOC:
        est->document_tokens += NGX_BEDROCK_PDF_PAGE_TOKENS;
        break;

    case NGX_BEDROCK_M_VIDEO:
        est->image_tokens += NGX_BEDROCK_MEDIA_TOKENS;
        break;

    case NGX_BEDROCK_M_AUDIO:
        est->document_tokens += NGX_BEDROCK_MEDIA_TOKENS;
        break;
    }
}


static const ngx_bedrock_key_t *
ngx_bedrock_est_key(unsigned role, const unsigned char *key, size_t len)
{
    const ngx_bedrock_key_t  *k;

    switch (role) {
    case NGX_BEDROCK_R_ROOT:
        k = ngx_bedrock_root_keys;
        break;
    case NGX_BEDROCK_R_CONFIG:
        k = ngx_bedrock_config_keys;
        break;
    case NGX_BEDROCK_R_MESSAGE:
        k = ngx_bedrock_message_keys;
        break;
    case NGX_BEDROCK_R_BLOCK:
        k = ngx_bedrock_block_keys;
        break;
    case NGX_BEDROCK_R_SOURCE:
        k = ngx_bedrock_source_keys;
        break;
    case NGX_BEDROCK_R_MEDIA:
        k = ngx_bedrock_media_keys;
        break;
    case NGX_BEDROCK_R_TOOL:
        k = ngx_bedrock_tool_keys;
        break;
    default:
        return NULL;
    }

    for ( /* void */ ; k->len; k++) {
        if (k->len == len && k->name[0] == key[0]
            && memcmp(k->name, key, len) == 0)
        {
            break;
        }
    }

    return k;
}


/* the role of an object or an array that has a role */

static unsigned
ngx_bedrock_est_container(unsigned role, int object)
{
    switch (role) {

    case NGX_BEDROCK_R_ROOT:
    case NGX_BEDROCK_R_MESSAGE:
    case NGX_BEDROCK_R_BLOCK:
    case NGX_BEDROCK_R_SOURCE:
    case NGX_BEDROCK_R_MEDIA:
    case NGX_BEDROCK_R_CONFIG:
    case NGX_BEDROCK_R_TOOL:
    case NGX_BEDROCK_R_RAW:
    case NGX_BEDROCK_R_ANY:
    case NGX_BEDROCK_R_TEXT_ALL:
    case NGX_BEDROCK_R_MESSAGES:
    case NGX_BEDROCK_R_TOOLS:
        if (object && role == NGX_BEDROCK_R_MESSAGES) {
            return NGX_BEDROCK_R_TEXT_ALL;
        }

        if (object && role == NGX_BEDROCK_R_TOOLS) {
            return NGX_BEDROCK_R_TOOL;
        }

        return role;

    case NGX_BEDROCK_R_TEXT:
        return NGX_BEDROCK_R_TEXT_ALL;

    case NGX_BEDROCK_R_SYSTEM:
    case NGX_BEDROCK_R_CONTENT:
        return object ? NGX_BEDROCK_R_BLOCK : role;

    default:
        return NGX_BEDROCK_R_IGNORE;
    }
}


/* the role of the elements of an array */

static unsigned
ngx_bedrock_est_element(unsigned role)
{
    switch (role) {
    case NGX_BEDROCK_R_MESSAGES:
        return NGX_BEDROCK_R_MESSAGE;
    case NGX_BEDROCK_R_SYSTEM:
    case NGX_BEDROCK_R_CONTENT:
    case NGX_BEDROCK_R_BLOCK:
        return NGX_BEDROCK_R_BLOCK;
    case NGX_BEDROCK_R_TOOLS:
        return NGX_BEDROCK_R_TOOL;
    case NGX_BEDROCK_R_TEXT_ALL:
    case NGX_BEDROCK_R_MESSAGE:
        return NGX_BEDROCK_R_TEXT_ALL;
    case NGX_BEDROCK_R_ANY:
        return NGX_BEDROCK_R_ANY;
    default:
        return NGX_BEDROCK_R_IGNORE;
    }
}


int
ngx_bedrock_estimate_body(const unsigned char *body, size_t len,
    const ngx_bedrock_model_t *m, ngx_bedrock_estimate_t *est, char *err)
{
    int                       object;
    unsigned                  role, bucket, media, escaped;
    uint64_t                  overhead;
    const unsigned char      *p, *q, *end;
    ngx_bedrock_level_t      *l;
    const ngx_bedrock_key_t  *k;
    ngx_bedrock_est_t         e;

    enum {
        sw_value = 0,
        sw_after,
        sw_key
    } state;

    memset(est, 0, sizeof(ngx_bedrock_estimate_t));
    memset(&e, 0, offsetof(ngx_bedrock_est_t, stack));

    e.body = body;
    e.end = body + len;
    e.est = est;
    e.err = err;

    p = body;
    end = body + len;

    while (p < end && ngx_bedrock_json_ws(*p)) {
        p++;
    }

    if (p == end) {
        snprintf(err, NGX_BEDROCK_ERROR_LEN,
                 "Malformed input request: the request body is empty, "
                 "please reformat your input and try again.");
        return -1;
    }

    if (*p != '{') {
        snprintf(err, NGX_BEDROCK_ERROR_LEN,
                 "Malformed input request: the request body must be "
                 "a JSON object, please reformat your input and try again.");
        return -1;
    }

    state = sw_value;
    role = NGX_BEDROCK_R_ROOT;
    bucket = NGX_BEDROCK_B_TEXT;
    media = NGX_BEDROCK_M_NONE;
    l = NULL;

    for ( ;; ) {

        while (p < end && ngx_bedrock_json_ws(*p)) {
            p++;
        }

        switch (state) {

        case sw_value:

            if (p == end) {
                return ngx_bedrock_est_error(&e, p, "unexpected end of input");
            }

            switch (*p) {

            case '{':
            case '[':
                object = (*p == '{');

                if (e.depth == NGX_BEDROCK_JSON_MAX_DEPTH) {
                    return ngx_bedrock_est_error(&e, p,
                               "JSON nested deeper than 256 levels");
                }

                if (role == NGX_BEDROCK_R_MESSAGE && !object) {
                    /* a message as an array of blocks */
                    est->messages++;
                    role = NGX_BEDROCK_R_CONTENT;
                }

                l = &e.stack[e.depth++];
                l->role = ngx_bedrock_est_container(role, object);
                l->bucket = bucket;
                l->media = media;
                l->object = object;
                l->counted = 0;
                l->priced = 0;
                l->named = 0;

                ngx_bedrock_est_open(&e, l);

                if (e.raw_on) {
                    ngx_bedrock_est_raw(&e, p, 1);
                }

                p++;

                while (p < end && ngx_bedrock_json_ws(*p)) {
                    p++;
                }

                if (p < end && *p == (object ? '}' : ']')) {
                    /* empty: the closing bracket is read in sw_after */
                    state = sw_after;
                    continue;
                }

                if (object) {
                    state = sw_key;
                    continue;
                }

                role = ngx_bedrock_est_element(l->role);
                bucket = l->bucket;
                media = l->media;
                continue;

            case '"':

                if (role == NGX_BEDROCK_R_MESSAGE) {
                    est->messages++;
                }

                if ((role == NGX_BEDROCK_R_TOOL || role == NGX_BEDROCK_R_RAW)
                    && !e.raw_on)
                {
                    ngx_bedrock_scan_begin(&e.raw);
                    e.raw_on = 1;
                    e.raw_level = e.depth;
                    e.raw_bucket = NGX_BEDROCK_B_TOOL;
                }

                p = ngx_bedrock_est_string(&e, p, role, bucket, media);

                if (p == NULL) {
                    return -1;
                }

                break;

            case 't':
            case 'f':
            case 'n':
                q = (*p == 't') ? (const unsigned char *) "true"
                    : (*p == 'f') ? (const unsigned char *) "false"
                    : (const unsigned char *) "null";
                len = (*p == 'f') ? 5 : 4;

                if ((size_t) (end - p) < len || memcmp(p, q, len) != 0) {
                    return ngx_bedrock_est_error(&e, p, "invalid literal");
                }

                if (e.raw_on) {
                    ngx_bedrock_est_raw(&e, p, len);
                }

                p += len;
                break;

            default:

                if (*p != '-' && (*p < '0' || *p > '9')) {
                    return ngx_bedrock_est_error(&e, p, "expected a value");
                }

                if ((role == NGX_BEDROCK_R_TOOL || role == NGX_BEDROCK_R_RAW)
                    && !e.raw_on)
                {
                    ngx_bedrock_scan_begin(&e.raw);
                    e.raw_on = 1;
                    e.raw_level = e.depth;
                    e.raw_bucket = NGX_BEDROCK_B_TOOL;
                }

                p = ngx_bedrock_est_number(&e, p, role);

                if (p == NULL) {
                    return -1;
                }
            }

            /* a scalar that was a raw value of its own */
            if (e.raw_on && e.raw_level == e.depth
                && (role == NGX_BEDROCK_R_TOOL || role == NGX_BEDROCK_R_RAW))
            {
                ngx_bedrock_est_raw_end(&e);
            }

            state = sw_after;
            continue;

        case sw_after:

            if (e.depth == 0) {
                if (p != end) {
                    return ngx_bedrock_est_error(&e, p,
                               "unexpected data after the JSON object");
                }

                goto done;
            }

            l = &e.stack[e.depth - 1];

            if (p == end) {
                return ngx_bedrock_est_error(&e, p, "unexpected end of input");
            }

            if (*p == ',') {
                if (e.raw_on) {
                    ngx_bedrock_est_raw(&e, p, 1);
                }

                p++;

                if (l->object) {
                    state = sw_key;
                    continue;
                }

                while (p < end && ngx_bedrock_json_ws(*p)) {
                    p++;
                }

                if (p < end && *p == ']') {
                    return ngx_bedrock_est_error(&e, p, "expected a value");
                }

                role = ngx_bedrock_est_element(l->role);
                bucket = l->bucket;
                media = l->media;
                state = sw_value;
                continue;
            }

            if (*p != (l->object ? '}' : ']')) {
                return ngx_bedrock_est_error(&e, p, l->object
                                             ? "expected ',' or '}'"
                                             : "expected ',' or ']'");
            }

            if (e.raw_on) {
                ngx_bedrock_est_raw(&e, p, 1);
            }

            e.depth--;
            ngx_bedrock_est_close(&e, l);
            p++;
            continue;

        case sw_key:

            if (p == end || *p != '"') {
                return ngx_bedrock_est_error(&e, p, "expected a string key");
            }

            q = ngx_bedrock_est_skip(&e, p, &escaped);

            if (q == NULL) {
                return -1;
            }

            if (e.raw_on) {
                ngx_bedrock_est_raw(&e, p, q + 1 - p);
            }

            l = &e.stack[e.depth - 1];
            k = ngx_bedrock_est_key(l->role, p + 1, q - p - 1);

            if (k == NULL) {
                role = ngx_bedrock_est_element(l->role);

                if (l->role == NGX_BEDROCK_R_TEXT_ALL
                    || l->role == NGX_BEDROCK_R_ANY)
                {
                    role = l->role;
                }

                bucket = l->bucket;
                media = l->media;

            } else {
                role = k->role;
                bucket = (k->bucket == NGX_BEDROCK_B_KEEP)
                         ? l->bucket : k->bucket;
                media = (k->media == NGX_BEDROCK_M_KEEP)
                        ? l->media : k->media;

                if (k->flags & NGX_BEDROCK_KEY_SHAPE) {
                    e.known = 1;
                }

                if (k->flags & NGX_BEDROCK_KEY_SYS) {
                    e.system = 1;
                }

                if (k->flags & NGX_BEDROCK_KEY_NAMED) {
                    l->named = 1;
                }
            }

            p = q + 1;

            while (p < end && ngx_bedrock_json_ws(*p)) {
                p++;
            }

            if (p == end || *p != ':') {
                return ngx_bedrock_est_error(&e, p, "expected ':'");
            }

            if (e.raw_on) {
                ngx_bedrock_est_raw(&e, p, 1);
            }

            p++;
            state = sw_value;
            continue;
        }
    }

done:

    est->text_tokens = e.bucket[NGX_BEDROCK_B_TEXT];
    est->tool_tokens = e.bucket[NGX_BEDROCK_B_TOOL];
    est->document_tokens += e.bucket[NGX_BEDROCK_B_DOC];

    if (!e.known) {
        /* no shape that is known: every string is taken for text */
        est->text_tokens += e.bucket[NGX_BEDROCK_B_OTHER];
        est->fallback = 1;
    }

    overhead = NGX_BEDROCK_TOKENS_REQUEST
               + (uint64_t) est->messages * NGX_BEDROCK_TOKENS_MESSAGE;

    if (e.system) {
        overhead += NGX_BEDROCK_TOKENS_SYSTEM;
    }

    if (est->tools) {
        overhead += NGX_BEDROCK_TOKENS_TOOLS
                    + (uint64_t) est->tools * NGX_BEDROCK_TOKENS_TOOL;
    }

    est->overhead_tokens = overhead;
    est->input_tokens = est->text_tokens + est->image_tokens
                        + est->document_tokens + est->tool_tokens + overhead;

    if (e.max_given) {
        est->max_tokens = e.max_tokens;
        est->max_tokens_given = 1;

    } else {
        est->max_tokens = m ? m->default_max_tokens
                            : NGX_BEDROCK_DEFAULT_MAX_TOKENS;
    }

    est->cost = est->input_tokens + est->max_tokens;

    return 0;
}
