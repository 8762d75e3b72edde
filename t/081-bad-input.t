# Bad input: every malformed, truncated, mistyped, deep, invalid, huge or
# oddly framed request gets its clear error in Bedrock's shape from the
# gateway, or is passed to Bedrock unchanged when Bedrock is the one to
# judge it (a field of the wrong type, an unknown model), or gets nginx's
# own answer when nginx refuses it before the module runs (headers over
# large_client_header_buffers, a broken chunked framing).  In each block a
# good request follows and is served, and no [alert], [crit] or [emerg]
# line is written.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;
use Digest::SHA qw(sha256_hex);

Bedrock::Emulator::start(auth => 'none');

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", ($block->config // <<'_EOC_') . <<'_EOC_');
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry off;
    }
_EOC_
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
    }
    location /_emulator/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    }
    location = /error.log {
        alias logs/error.log;
    }
_EOC_

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

our $M = '/model/anthropic.claude-3-haiku-20240307-v1:0';
our $HI = '{"messages":[{"role":"user","content":[{"text":"hi"}]}]}';
our $GOOD = "POST $M/converse\n$HI";
our $OK = qr/"stopReason":"end_turn"/;
our $MALFORMED = qr/^\{"message":"Malformed input request: [^"]+, please reformat your input and try again\."\}$/;
our $VALIDATION = 'x-amzn-ErrorType: ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/';
our $UNKNOWN_OP = 'x-amzn-ErrorType: UnknownOperationException:http://internal.amazon.com/coral/com.amazon.bedrock/';

sub converse { "POST $M/converse\n$_[0]" }
sub log_of { "GET /_emulator/requests?tag=$_[0]&fields=" . ($_[1] // 'status') }

# what reached Bedrock: these bodies, in this order, byte for byte
sub reached {
    my $n = @_;
    my $hashes = join '.*', map { '"body_sha256":"' . sha256_hex($_) . '"' } @_;
    return qr/^\{"count":$n,.*$hashes/s;
}

# a text and the bytes of a Converse body around it
sub with_text { '{"messages":[{"role":"user","content":[{"text":"' . $_[0] . '"}]}]}' }

our @WRONG_TYPES = (
    '{"messages":5}',
    '{"messages":"hello"}',
    '{"messages":[{"role":"user","content":{"text":"hi"}}]}',
    '{"messages":[{"role":7,"content":[{"text":"hi"}]}]}',
    '{"messages":[{"role":"user","content":[{"text":"hi"}]}],"system":5}',
    '{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":-5}}',
);

our $INVOKE_TEN = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":"ten","messages":[{"role":"user","content":"hi"}]}';

our $DEEP20 = '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
    . '"additionalModelRequestFields":' . ('{"a":' x 20) . '1' . ('}' x 20) . '}';
our $DEEP_ARRAYS = '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
    . '"x":' . ('[' x 10000) . (']' x 10000) . '}';
our $DEEP_OBJECTS = '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
    . '"x":' . ('{"a":' x 10000) . '1' . ('}' x 10000) . '}';
our $DEEP_IN_STRING = with_text('[' x 10000);

our $HUGE = with_text('lorem ipsum ' x 400000);           # 4.8 MB
our $ESCAPES = with_text('\u00e9' x 1000000);             # 6 MB
our $HUGE_KEY = '{"messages":[{"role":"user","content":[{"text":"hi"}]}],"'
    . ('k' x 1000000) . '":1}';
our $BIG_NUMBER = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":'
    . ('9' x 1000000) . ',"messages":[{"role":"user","content":"hi"}]}';
our $MANY = '{"messages":[' . join(',', map {
    '{"role":"' . ($_ % 2 ? 'assistant' : 'user')
    . '","content":[{"text":"hi"}]}' } 0 .. 50000) . ']}';

our $CHUNKED_BODY = with_text('chunked ' x 6000);
sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    $out .= sprintf("%x\r\n%s\r\n", length $1, $1)
        while $body =~ /\G(.{1,$size})/gs;
    return "$out" . "0\r\n\r\n";
}

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: malformed JSON: 400 ValidationException from the gateway, nothing reaches Bedrock
--- request eval
[(map { ::converse($_) }
    '{"messages":[}', '{"messages" [1]}', "{'messages':[]}",
    '{"messages":[],}', '{} {}', 'nul', '{"messages":[{"role":"user",'),
 $::GOOD, ::log_of('bad-1')]
--- more_headers
X-Emulator-Tag: bad-1
--- error_code eval
[(400) x 7, 200, 200]
--- response_headers eval
[($::VALIDATION) x 7, "!x-amzn-ErrorType", ""]
--- response_body_like eval
[($::MALFORMED) x 7, $::OK, qr/^\{"count":1,/]



=== TEST 2: truncated JSON, cut anywhere: 400, then the whole body is served
--- request eval
my $full = '{"messages":[{"role":"user","content":[{"text":"Hello there"}]}],"inferenceConfig":{"maxTokens":50}}';
[(map { ::converse(substr $full, 0, $_) } 1, 2, 12, 13, 30, 47, 60, 80,
                                           length($full) - 1),
 ::converse($full), ::log_of('bad-2')]
--- more_headers
X-Emulator-Tag: bad-2
--- error_code eval
[(400) x 9, 200, 200]
--- response_body_like eval
[($::MALFORMED) x 9, $::OK, qr/^\{"count":1,/]



=== TEST 3: wrong types are Bedrock's to judge: passed on byte for byte, its answer relayed
--- request eval
[(map { ::converse($_) } @::WRONG_TYPES),
 "POST $::M/invoke\n$::INVOKE_TEN",
 $::GOOD, ::log_of('bad-3', 'body_sha256')]
--- more_headers
X-Emulator-Tag: bad-3
--- error_code eval
[400, 400, 200, 400, 200, 400, 400, 200, 200]
--- response_body_like eval
[qr/^\{"message":"A conversation must start with a user message\./,
 qr/^\{"message":"A conversation must start with a user message\./,
 $::OK,
 qr/^\{"message":"A conversation must start with a user message\./,
 $::OK,
 qr/^\{"message":"1 validation error detected: Value '-5' at 'inferenceConfig\.maxTokens'/,
 qr/^\{"message":"Malformed input request: #\/max_tokens: expected type: Integer, found: String/,
 $::OK,
 ::reached(@::WRONG_TYPES, $::INVOKE_TEN, $::HI)]



=== TEST 4: 20 levels of nesting pass; 10,000 are refused before Bedrock, brackets in a string are text
--- request eval
[::converse($::DEEP20), ::converse($::DEEP_ARRAYS), ::converse($::DEEP_OBJECTS),
 ::converse($::DEEP_IN_STRING), $::GOOD, ::log_of('bad-4', 'body_sha256')]
--- more_headers
X-Emulator-Tag: bad-4
--- error_code eval
[200, 400, 400, 200, 200, 200]
--- response_body_like eval
[$::OK,
 qr/^\{"message":"Malformed input request: JSON nested deeper than 256 levels at byte \d+, please reformat your input and try again\."\}$/,
 qr/^\{"message":"Malformed input request: JSON nested deeper than 256 levels at byte \d+, please reformat your input and try again\."\}$/,
 $::OK, $::OK,
 ::reached($::DEEP20, $::DEEP_IN_STRING, $::HI)]



=== TEST 5: invalid UTF-8 in a string or a key: 400 naming the byte; a 4-byte character passes
--- request eval
[(map { ::converse(::with_text($_)) }
    "\xff", "\xc0\xaf", "\xed\xa0\x80", "ab\xe2\x82", "\xf4\x90\x80\x80",
    "\x80"),
 ::converse('{"messages":[{"role":"user","content":[{"te' . "\xff" . 'xt":"a"}]}]}'),
 ::converse(::with_text("hi \xf0\x9f\x98\x80")),
 ::log_of('bad-5')]
--- more_headers
X-Emulator-Tag: bad-5
--- error_code eval
[(400) x 7, 200, 200]
--- response_headers eval
[($::VALIDATION) x 7, "", ""]
--- response_body_like eval
[(qr/^\{"message":"Malformed input request: invalid UTF-8 in a string at byte \d+, please reformat your input and try again\."\}$/) x 7,
 $::OK, qr/^\{"count":1,/]



=== TEST 6: huge strings, a huge key, 50,001 messages: priced and passed on whole
A 4.8 MB text, 6 MB of \u escapes, a 1 MB key, 2.5 MB of small messages:
the emulator judges the first two too long for the model, as Bedrock would.
--- request eval
[::converse($::HUGE), ::converse($::ESCAPES), ::converse($::HUGE_KEY),
 ::converse($::MANY), $::GOOD, ::log_of('bad-6', 'body_sha256')]
--- more_headers
X-Emulator-Tag: bad-6
--- error_code eval
[400, 400, 200, 200, 200, 200]
--- response_body_like eval
[qr/Input is too long for requested model/, qr/Input is too long for requested model/,
 $::OK, qr/"inputTokens":25001,/, $::OK,
 ::reached($::HUGE, $::ESCAPES, $::HUGE_KEY, $::MANY, $::HI)]
--- timeout: 20



=== TEST 7: a huge latest message over bedrock_max_input_tokens cannot be cut: 413 saying so
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_max_input_tokens 100000;
        bedrock_retry off;
    }
--- request eval
[::converse($::HUGE), $::GOOD, ::log_of('bad-7')]
--- more_headers
X-Emulator-Tag: bad-7
--- error_code eval
[413, 200, 200]
--- response_headers eval
[$::VALIDATION, "", ""]
--- response_body_like eval
[qr/^\{"message":"[^"]*\d+[^"]*"\}$/, $::OK, qr/^\{"count":1,/]
--- timeout: 20



=== TEST 8: max_tokens of a million digits does not wrap around: the zone refuses it as too costly
--- http_config
    bedrock_limit_zone $bedrock_model zone=bad8:1m tpm=1000000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=bad8 nodelay;
        bedrock_retry off;
    }
--- request eval
["POST $::M/invoke\n$::BIG_NUMBER", $::GOOD, ::log_of('bad-8')]
--- more_headers
X-Emulator-Tag: bad-8
--- error_code eval
[413, 200, 200]
--- response_body_like eval
[qr/^\{"message":"This request costs 1000000\d\d tokens \(input \d+ \+ max_tokens 100000000\), more than the quota of 1000000 tokens per minute/,
 $::OK, qr/^\{"count":1,/]



=== TEST 9: missing max_tokens: Converse reserves the model's default; InvokeModel's is Bedrock's error
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry off;
        add_header X-Cost $bedrock_cost_estimate always;
    }
--- request eval
[$::GOOD,
 "POST $::M/invoke\n" . '{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]}',
 ::log_of('bad-9')]
--- more_headers
X-Emulator-Tag: bad-9
--- error_code eval
[200, 400, 200]
--- response_headers_like eval
["X-Cost: 4\\d{3}", "X-Cost: 4\\d{3}", ""]
--- response_body_like eval
[$::OK,
 qr/^\{"message":"Malformed input request: #: required key \[max_tokens\] not found/,
 qr/^\{"count":2,/]



=== TEST 10: unknown models are Bedrock's to judge: its answer is relayed
--- request eval
["POST /model/nosuch.model-v9/converse\n$::HI",
 "POST /model/" . ('a' x 5000) . "/converse\n$::HI",
 "POST /model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/converse\n$::HI",
 ::log_of('bad-10')]
--- more_headers
X-Emulator-Tag: bad-10
--- error_code eval
[400, 400, 200, 200]
--- response_body_like eval
[qr/^\{"message":"The provided model identifier is invalid\."\}$/,
 qr/^\{"message":"The provided model identifier is invalid\."\}$/,
 $::OK, qr/^\{"count":3,/]



=== TEST 11: unknown operations: 404 UnknownOperationException, nothing reaches Bedrock
--- request eval
[(map { "POST $_\n$::HI" }
    "$::M/chat", "$::M", "/model//converse", "$::M/converse/extra",
    "$::M/CONVERSE", "$::M/converse%2Fx", "/model/$::M/converse"),
 $::GOOD, ::log_of('bad-11')]
--- more_headers
X-Emulator-Tag: bad-11
--- error_code eval
[(404) x 7, 200, 200]
--- response_headers eval
[($::UNKNOWN_OP) x 7, "", ""]
--- response_body_like eval
[(qr/^\{"message":"Unknown operation: the path must be \/model\/\{modelId\}\/[^"]+"\}$/) x 7,
 $::OK, qr/^\{"count":1,/]



=== TEST 12: content types: a JSON body of any type is passed with its type; a body that is not JSON gets 400
--- request eval
[$::GOOD, $::GOOD, $::GOOD, ::converse('a=b&c=d'),
 ::converse("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--"),
 ::log_of('bad-12', 'headers')]
--- more_headers eval
[map { "X-Emulator-Tag: bad-12\n$_" }
    "Content-Type: text/plain", "Content-Type: application/json; charset=utf-8",
    "", "Content-Type: application/x-www-form-urlencoded",
    "Content-Type: multipart/form-data; boundary=x", ""]
--- error_code eval
[200, 200, 200, 400, 400, 200]
--- response_body_like eval
[$::OK, $::OK, $::OK, $::MALFORMED, $::MALFORMED,
 qr/^\{"count":3,.*"content-type":"text\/plain".*"content-type":"application\/json; charset=utf-8"/]



=== TEST 13: oversized headers: nginx's own 400 before the module; a 6 KB header that fits is passed
--- request eval
[$::GOOD, $::GOOD, $::GOOD, $::GOOD, ::log_of('bad-13', 'status')]
--- more_headers eval
[map { "X-Emulator-Tag: bad-13\n$_" }
    "X-Big: " . ('a' x 9000),
    CORE::join("\n", map { "X-Many-$_: " . ('b' x 4000) } 1 .. 10),
    "X-Fits: " . ('c' x 6000),
    "", ""]
--- error_code eval
[400, 400, 200, 200, 200]
--- response_body_like eval
[qr/Request Header Or Cookie Too Large/, qr/Request Header Or Cookie Too Large/,
 $::OK, $::OK, qr/^\{"count":2,/]



=== TEST 14: an empty body, or only whitespace: 400 in Bedrock's shape
--- request eval
["POST $::M/converse", "POST $::M/converse", "POST $::M/converse\n   \n", $::GOOD]
--- more_headers eval
["", "Content-Length: 0", "Content-Length: 4", ""]
--- error_code eval
[400, 400, 400, 200]
--- response_headers eval
[$::VALIDATION, $::VALIDATION, $::VALIDATION, ""]
--- response_body_like eval
[qr/^\{"message":"Malformed input request: the request body is empty, please reformat your input and try again\."\}$/,
 qr/^\{"message":"Malformed input request: the request body is empty, please reformat your input and try again\."\}$/,
 $::MALFORMED, $::OK]



=== TEST 15: chunked request bodies, spilled to a temp file and in memory, reach Bedrock whole, never chunked
--- config
    client_body_buffer_size 4k;
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry off;
    }
--- log_level: info
--- request eval
["POST $::M/converse\n" . ::chunked($::CHUNKED_BODY, 4000),
 "POST $::M/converse\n" . ::chunked($::HI, 20),
 ::log_of('bad-15', 'body_sha256,body_length,headers'), "GET /error.log"]
--- more_headers eval
["X-Emulator-Tag: bad-15\nTransfer-Encoding: chunked",
 "X-Emulator-Tag: bad-15\nTransfer-Encoding: chunked", "", ""]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[$::OK, $::OK,
 qr/^(?!.*transfer-encoding).*"count":2,.*"body_length":48054,"body_sha256":"${\ Digest::SHA::sha256_hex($::CHUNKED_BODY) }".*"content-length":"48054".*"body_length":56,"body_sha256":"${\ Digest::SHA::sha256_hex($::HI) }".*"content-length":"56"/s,
 qr/a client request body is buffered to a temporary file/]



=== TEST 16: a broken chunked framing: nginx's own 400; the next request is served
--- log_level: info
--- request eval
["POST $::M/converse\nzz\r\n{}\r\n0\r\n\r\n", $::GOOD, "GET /error.log"]
--- more_headers eval
["Transfer-Encoding: chunked", "", ""]
--- error_code eval
[400, 200, 200]
--- response_body_like eval
[qr/400 Bad Request/, $::OK, qr/client sent invalid chunked body/]



=== TEST 17: HTTP/1.0: an answer with its length, a stream until the connection closes
--- request eval
["POST $::M/converse HTTP/1.0\n$::HI",
 "POST $::M/converse-stream HTTP/1.0\n$::HI"]
--- error_code eval
[200, 200]
--- response_headers eval
["!Transfer-Encoding\nContent-Type: application/json",
 "!Transfer-Encoding\nContent-Type: application/vnd.amazon.eventstream"]
--- response_body_like eval
[$::OK, qr/messageStart[\s\S]*messageStop[\s\S]*metadata/]



=== TEST 18: on one keep-alive connection, bad requests do not disturb the good ones after them
--- pipelined_requests eval
[::converse('{"messages":[}'), "POST $::M/chat\n{}", "GET $::M/converse",
 $::GOOD, ::converse(::with_text("\xff")), $::GOOD]
--- error_code eval
[400, 404, 405, 200, 400, 200]
--- response_body_like eval
[$::MALFORMED, qr/Unknown operation/, qr/take POST, not GET/, $::OK,
 qr/invalid UTF-8/, $::OK]



=== TEST 19: NUL and control bytes, a byte order mark, bytes after the JSON: 400
--- request eval
[::converse(::with_text("a\x00b")), ::converse(::with_text("a\x1fb")),
 ::converse("\xef\xbb\xbf$::HI"), ::converse("$::HI\x00"), ::converse("$::HI x"),
 $::GOOD, ::log_of('bad-19')]
--- more_headers
X-Emulator-Tag: bad-19
--- error_code eval
[(400) x 5, 200, 200]
--- response_body_like eval
[($::MALFORMED) x 5, $::OK, qr/^\{"count":1,/]



=== TEST 20: a bad escape in the path: nginx's own 400; the next request is served
--- request eval
["POST /model/%zz/converse\n$::HI", $::GOOD]
--- error_code eval
[400, 200]
--- response_body_like eval
[qr/400 Bad Request/, $::OK]



=== TEST 21: with error_page, nginx's own refusals of headers and bodies too large come in Bedrock's shape too
The recipe of docs/reliability.md: 494 is nginx's code for request headers
over large_client_header_buffers, answered 400.
--- config
    error_page 494 = @headers_too_large;
    location @headers_too_large {
        default_type application/json;
        add_header x-amzn-ErrorType "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/" always;
        return 400 '{"message":"Request headers too large."}';
    }
    location /model/ {
        client_max_body_size 1m;
        error_page 413 = @body_too_large;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
    location @body_too_large {
        default_type application/json;
        add_header x-amzn-ErrorType "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/" always;
        return 413 '{"message":"Request body too large."}';
    }
--- request eval
[$::GOOD, ::converse($::HUGE), $::GOOD]
--- more_headers eval
["X-Big: " . ('a' x 9000), "", ""]
--- error_code eval
[400, 413, 200]
--- response_headers eval
[$::VALIDATION, $::VALIDATION, ""]
--- response_body_like eval
[qr/^\{"message":"Request headers too large\."\}$/,
 qr/^\{"message":"Request body too large\."\}$/, $::OK]
