# The gateway behind "listen ... http2": cleartext HTTP/2 (curl
# --http2-prior-knowledge, through the test runner's "--- http2") and
# HTTP/2 over TLS (curl --http2 with the test CA, through the SDK driver's
# /_sdk/curl/).  Request bodies (in memory and spilled to a file), the
# subrequest and the relay of its answer, streams (each eventstream frame
# and its CRCs checked), retries, and gateway-issued client keys with the
# signatures SDKs make: botocore's over "host", and the one the AWS SDK
# for JavaScript v3 makes over HTTP/2, with ":authority" among its
# SignedHeaders.  The emulator checks the gateway's own signature on every
# attempt (--auth sigv4).

use Test::Nginx::Socket;
use Digest::SHA qw(sha256_hex);
use Bedrock::Emulator;
use Bedrock::Http2;
use Bedrock::Sdk;

my $why = Bedrock::Sdk::setup();
plan skip_all => $why if $why;
plan 'no_plan';

Bedrock::Emulator::start(auth => 'sigv4',
    credentials => ["AKIDGATEWAY:$Bedrock::Sdk::GATEWAY_SECRET"]);

our $BODY = '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}';
our $MODEL = '/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0';
our $PATH = "$MODEL/converse";
our $STREAM_EVENTS = 'messageStart,contentBlockDelta,contentBlockDelta,'
    . 'contentBlockDelta,contentBlockDelta,contentBlockStop,messageStop,'
    . 'metadata';

# a body well over the 16k body buffer: nginx writes it to a file
our $BIG = '{"messages":[{"role":"user","content":[{"text":"'
    . ('lorem ipsum ' x 25000)
    . '"}]}],"inferenceConfig":{"maxTokens":32}}';

sub quote { return join ' ', map { "'$_'" } @_ }

# botocore's signature for gateway.test, over "host" (boto3's way)
sub signed {
    my ($key, $secret, %opt) = @_;
    my @args = ($key, $secret, 'gateway.test', $opt{path} // $PATH,
                $opt{body} // $BODY);
    push @args, '--skew', $opt{skew} if $opt{skew};
    my $out = `/usr/bin/python3 t/lib/sigv4_client.py @{[quote(@args)]}`;
    die "sigv4_client.py failed" if $? != 0;
    return "Host: gateway.test\nContent-Type: application/json\n$out";
}

# botocore's signature over ":authority" (the JS SDK v3's way on HTTP/2)
sub signed_h2 {
    my ($key, $secret, %opt) = @_;
    my @args = ($key, $secret, 'gateway.test', $opt{path} // $PATH,
                $opt{body} // $BODY);
    push @args, '--skew', $opt{skew} if $opt{skew};
    my $out = `/usr/bin/python3 t/lib/sdk/sign_h2.py @{[quote(@args)]}`;
    die "sign_h2.py failed" if $? != 0;
    return "Host: gateway.test\nContent-Type: application/json\n$out";
}

add_block_preprocessor(sub {
    my $block = shift;

    Bedrock::Http2::preprocess($block);
    Bedrock::Sdk::gateway($block, secrets => ['gw-secret-one', 'gw-secret-two']);

    $block->set_value("user_files", <<'_EOF_');
>>> client-keys
GWKEY1EXAMPLE   gw-secret-one   team-a
GWKEY2EXAMPLE   gw-secret-two
_EOF_
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: h2c: a Converse body goes through the subrequest, the answer comes back
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
["POST $::PATH\n$::BODY", "GET /gateway.log"]
--- more_headers
Content-Type: application/json
--- response_body_like eval
[qr/^\{"output":\{"message":\{"role":"assistant","content":\[\{"text":"The emulated model answers[^"]*"\}\]\}\},"stopReason":"end_turn","usage":\{"inputTokens":2,"outputTokens":16,"totalTokens":18\}/,
qr{^\d+ HTTP/2.0 tls= "POST /model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse HTTP/2.0" 200 client=- attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]



=== TEST 2: h2c: a 300 KB body spills to a temporary file and is answered
--- http2
--- config
    client_body_buffer_size 16k;
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
"POST $::PATH\n$::BIG"
--- more_headers
Content-Type: application/json
X-Emulator-Tag: h2-big
--- response_body_like: "stopReason":"end_turn","usage":\{"inputTokens":75000,
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 3: h2c: that body reached Bedrock byte for byte
--- http2
--- config
--- request
GET /_emulator/requests?tag=h2-big&fields=body_length,body_sha256,status
--- response_body_like eval
qr/^\{"count":1,"last_id":\d+,"requests":\[\{"body_length":${\ length $::BIG},"body_sha256":"${\ Digest::SHA::sha256_hex($::BIG)}","status":200\}\]\}$/



=== TEST 4: h2c: ConverseStream is relayed as an eventstream
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
"POST $::MODEL/converse-stream\n$::BODY"
--- more_headers
Content-Type: application/json
--- response_headers
Content-Type: application/vnd.amazon.eventstream
--- response_body_like: messageStart.*contentBlockDelta.*"text":"The .*messageStop.*metadata.*"outputTokens":16
--- no_error_log
[error]



=== TEST 5: h2c: every frame of a ConverseStream arrives whole, CRCs intact
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
["POST /_sdk/curl-h2c$::MODEL/converse-stream\n$::BODY", "GET /gateway.log"]
--- more_headers
Content-Type: application/json
--- response_headers eval
["X-Curl-Http-Version: 2\nX-Events: $::STREAM_EVENTS", ""]
--- response_body_like eval
[qr/metadata/,
qr{^\d+ HTTP/2.0 tls= "POST /model/[^ ]+/converse-stream HTTP/2.0" 200 client=- attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]



=== TEST 6: TLS h2: every frame of an InvokeModelWithResponseStream arrives whole
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
["POST /_sdk/curl$::MODEL/invoke-with-response-stream
{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}",
"GET /gateway.log"]
--- more_headers
Content-Type: application/json
--- response_headers eval
["X-Curl-Http-Version: 2\nX-Events: chunk,chunk,chunk,chunk,chunk,chunk,chunk,chunk,chunk", ""]
--- response_body_like eval
[qr/chunk/,
qr{^\d+ HTTP/2.0 tls=on "POST /model/[^ ]+/invoke-with-response-stream HTTP/2.0" 200 client=- attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]



=== TEST 7: h2c: throttles are retried, and every attempt reaches Bedrock signed
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
["POST $::PATH\n$::BODY", "GET /gateway.log",
 "GET /_emulator/requests?tag=h2-retry&fields=status,auth"]
--- more_headers
Content-Type: application/json
X-Emulator-Tag: h2-retry
X-Emulator-Fault: throttle*2
--- response_body_like eval
[qr/"stopReason":"end_turn"/,
qr{^\d+ HTTP/2.0 tls= "POST /model/[^ ]+/converse HTTP/2.0" 200 client=- attempts=3 in=2 out=16\n\z},
qr/^\{"count":3,.*"valid":true.*"status":429.*"valid":true.*"status":429.*"valid":true.*"status":200\}\]\}$/]
--- no_error_log
[error]



=== TEST 8: TLS h2: a stream that failed before its first byte is retried whole
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
["POST /_sdk/curl$::MODEL/converse-stream\n$::BODY", "GET /gateway.log"]
--- more_headers
Content-Type: application/json
X-Emulator-Fault: unavailable; key=h2-stream-retry
--- response_headers eval
["X-Curl-Http-Version: 2\nX-Events: $::STREAM_EVENTS", ""]
--- response_body_like eval
[qr/metadata/,
qr{^\d+ HTTP/2.0 tls=on "POST /model/[^ ]+/converse-stream HTTP/2.0" 200 client=- attempts=2 in=2 out=16\n\z}]
--- no_error_log
[error]



=== TEST 9: h2c: a client key signed over host (botocore's way) is verified
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
["POST $::PATH\n$::BODY", "GET /gateway.log"]
--- more_headers eval
[main::signed('GWKEY1EXAMPLE', 'gw-secret-one'), ""]
--- response_body_like eval
[qr/"stopReason":"end_turn"/,
qr{^\d+ HTTP/2.0 tls= "POST /model/[^ ]+/converse HTTP/2.0" 200 client=team-a attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected



=== TEST 10: h2c: a client key signed over :authority (the JS SDK's way) is verified
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
["POST $::PATH\n$::BODY", "GET /gateway.log"]
--- more_headers eval
[main::signed_h2('GWKEY1EXAMPLE', 'gw-secret-one'), ""]
--- response_body_like eval
[qr/"stopReason":"end_turn"/,
qr{^\d+ HTTP/2.0 tls= "POST /model/[^ ]+/converse HTTP/2.0" 200 client=team-a attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected



=== TEST 11: h2c: the wrong secret over :authority: InvalidSignatureException
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed_h2('GWKEY1EXAMPLE', 'gw-secret-two')
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*
--- response_body_like: ^\{"message":"The request signature we calculated does not match



=== TEST 12: h2c: a body other than the one signed over :authority: InvalidSignatureException
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed_h2('GWKEY1EXAMPLE', 'gw-secret-one',
                body => '{"messages":[{"role":"user","content":[{"text":"Bye"}]}]}')
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*



=== TEST 13: h2c: an expired signature over :authority: Signature expired
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed_h2('GWKEY1EXAMPLE', 'gw-secret-one', skew => -600)
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*
--- response_body_like: ^\{"message":"Signature expired: \d{8}T\d{6}Z is now earlier than



=== TEST 14: h2c: no signature: MissingAuthenticationTokenException
--- http2
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers
Content-Type: application/json
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: MissingAuthenticationTokenException:.*



=== TEST 15: TLS h2: a client key signed over :authority is verified
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
["POST /_sdk/curl$::PATH\n$::BODY", "GET /gateway.log"]
--- more_headers eval
[main::signed_h2('GWKEY2EXAMPLE', 'gw-secret-two'), ""]
--- response_headers eval
["X-Curl-Http-Version: 2", ""]
--- response_body_like eval
[qr/"stopReason":"end_turn"/,
qr{^\d+ HTTP/2.0 tls=on "POST /model/[^ ]+/converse HTTP/2.0" 200 client=GWKEY2EXAMPLE attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected



=== TEST 16: TLS HTTP/1.1 (by ALPN): a client key signed over host is verified
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
["POST /_sdk/curl$::PATH\n$::BODY", "GET /gateway.log"]
--- more_headers eval
[main::signed('GWKEY1EXAMPLE', 'gw-secret-one') . "X-Curl-Options: --http1.1\n", ""]
--- response_headers eval
["X-Curl-Http-Version: 1.1", ""]
--- response_body_like eval
[qr/"stopReason":"end_turn"/,
qr{^\d+ HTTP/1.1 tls=on "POST /model/[^ ]+/converse HTTP/1.1" 200 client=team-a attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected
