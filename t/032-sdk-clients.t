# The AWS SDK for JavaScript v3 (@aws-sdk/client-bedrock-runtime, from npm,
# unmodified) pointed at the gateway with a gateway-issued client key:
# Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream
# over its default HTTP/2 (cleartext and TLS) and over HTTP/1.1 with its
# NodeHttpHandler.  The gateway checks the SDK's signature (made over
# ":authority" on HTTP/2, over "host" on HTTP/1.1) and signs toward the
# emulator with its own credentials, which the emulator verifies with
# botocore (--auth sigv4).  A test asserts what the SDK's user sees: the
# answer's text and usage, the stream's events, the SDK's own error for a
# wrong key, and the access log line naming the client.
#
# The SDK runs in the test driver (t/lib/sdk/driver.mjs); a block asks it
# for a call with POST /_sdk/js/OPERATION and gets the outcome as JSON.

use Test::Nginx::Socket;
use Bedrock::Emulator;
use Bedrock::Sdk;

my $why = Bedrock::Sdk::setup(js => 1);
plan skip_all => $why if $why;
plan 'no_plan';

Bedrock::Emulator::start(auth => 'sigv4',
    credentials => ["AKIDGATEWAY:$Bedrock::Sdk::GATEWAY_SECRET"]);

our $H1 = "http://127.0.0.1:$ENV{TEST_NGINX_H1_PORT}";
our $H2 = "http://127.0.0.1:$ENV{TEST_NGINX_H2_PORT}";
our $TLS = "https://localhost:$ENV{TEST_NGINX_TLS_PORT}";
our @KEY = (key => 'GWKEY1EXAMPLE', secret => 'gw-secret-team-a-EXAMPLE');

our $TEXT = $Bedrock::Sdk::TEXT;
our %ANSWER = %Bedrock::Sdk::ANSWER;

# the access log line of the one gateway request of a block
sub logged {
    my ($port, $proto, $op, %opt) = @_;
    my $tls = $port eq 'TLS' ? 'on' : '';
    $port = $ENV{"TEST_NGINX_${port}_PORT"};
    my $client = $opt{client} // 'team-a';
    my $attempts = $opt{attempts} // 1;
    my $status = $opt{status} // 200;
    my $usage = $status == 200 ? 'in=2 out=16' : 'in=- out=-';
    return qr{^$port HTTP/$proto tls=$tls "POST /model/us\.anthropic\.claude-3-7-sonnet-20250219-v1%3A0/$op HTTP/$proto" $status client=$client attempts=$attempts $usage\n\z};
}

add_block_preprocessor(\&Bedrock::Sdk::client_keys_gateway);

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: HTTP/2 (the SDK's default), Converse: the answer, its usage, the client in the log
--- request eval
[Bedrock::Sdk::call('js', 'converse', endpoint => $::H2, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{converse}, main::logged('H2', '2.0', 'converse')]
--- no_error_log
[error]
rejected



=== TEST 2: HTTP/2, ConverseStream: the SDK decodes every event
--- request eval
[Bedrock::Sdk::call('js', 'converse-stream', endpoint => $::H2, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'converse-stream'}, main::logged('H2', '2.0', 'converse-stream')]
--- no_error_log
[error]
rejected



=== TEST 3: HTTP/2, InvokeModel
--- request eval
[Bedrock::Sdk::call('js', 'invoke', endpoint => $::H2, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{invoke}, main::logged('H2', '2.0', 'invoke')]
--- no_error_log
[error]
rejected



=== TEST 4: HTTP/2, InvokeModelWithResponseStream
--- request eval
[Bedrock::Sdk::call('js', 'invoke-stream', endpoint => $::H2, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'invoke-stream'},
 main::logged('H2', '2.0', 'invoke-with-response-stream')]
--- no_error_log
[error]
rejected



=== TEST 5: HTTP/1.1 (NodeHttpHandler), Converse
--- request eval
[Bedrock::Sdk::call('js', 'converse', endpoint => $::H1, http => '1.1',
                    @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{converse}, main::logged('H1', '1.1', 'converse')]
--- no_error_log
[error]
rejected



=== TEST 6: HTTP/1.1, ConverseStream
--- request eval
[Bedrock::Sdk::call('js', 'converse-stream', endpoint => $::H1,
                    http => '1.1', @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'converse-stream'}, main::logged('H1', '1.1', 'converse-stream')]
--- no_error_log
[error]
rejected



=== TEST 7: HTTP/1.1, InvokeModel
--- request eval
[Bedrock::Sdk::call('js', 'invoke', endpoint => $::H1, http => '1.1',
                    @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{invoke}, main::logged('H1', '1.1', 'invoke')]
--- no_error_log
[error]
rejected



=== TEST 8: HTTP/1.1, InvokeModelWithResponseStream
--- request eval
[Bedrock::Sdk::call('js', 'invoke-stream', endpoint => $::H1,
                    http => '1.1', @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'invoke-stream'},
 main::logged('H1', '1.1', 'invoke-with-response-stream')]
--- no_error_log
[error]
rejected



=== TEST 9: HTTP/2 over TLS (the test CA in NODE_EXTRA_CA_CERTS), Converse
--- request eval
[Bedrock::Sdk::call('js', 'converse', endpoint => $::TLS, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{converse}, main::logged('TLS', '2.0', 'converse')]
--- no_error_log
[error]
rejected



=== TEST 10: HTTP/2 over TLS, ConverseStream
--- request eval
[Bedrock::Sdk::call('js', 'converse-stream', endpoint => $::TLS, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'converse-stream'}, main::logged('TLS', '2.0', 'converse-stream')]
--- no_error_log
[error]
rejected



=== TEST 11: HTTP/1.1 over TLS, InvokeModelWithResponseStream
--- request eval
[Bedrock::Sdk::call('js', 'invoke-stream', endpoint => $::TLS,
                    http => '1.1', @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'invoke-stream'},
 main::logged('TLS', '1.1', 'invoke-with-response-stream')]
--- no_error_log
[error]
rejected



=== TEST 12: a key the gateway did not issue: the SDK's UnrecognizedClientException
--- request eval
[Bedrock::Sdk::call('js', 'converse', endpoint => $::H2,
                    key => 'AKIAOTHERKEY', secret => 'gw-secret-team-a-EXAMPLE'),
 "GET /gateway.log"]
--- response_body_like eval
[qr/^\{"ok":false,"error":\{"name":"UnrecognizedClientException","message":"The security token included in the request is invalid.","status":403,"fault":"client","attempts":1\}\}$/,
 main::logged('H2', '2.0', 'converse', status => 403, client => '-',
              attempts => 0)]



=== TEST 13: the wrong secret over HTTP/2: the SDK's InvalidSignatureException
--- request eval
Bedrock::Sdk::call('js', 'converse', endpoint => $::H2,
                   key => 'GWKEY1EXAMPLE', secret => 'gw-secret-team-b-EXAMPLE')
--- response_body_like eval
qr/^\{"ok":false,"error":\{"name":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided\. Check your AWS Secret Access Key and signing method\. Consult the service documentation for details\.","status":403,"fault":"client","attempts":1\}\}$/



=== TEST 14: the wrong secret over HTTP/1.1: the SDK's InvalidSignatureException
--- request eval
Bedrock::Sdk::call('js', 'invoke', endpoint => $::H1, http => '1.1',
                   key => 'GWKEY1EXAMPLE', secret => 'gw-secret-team-b-EXAMPLE')
--- response_body_like eval
qr/^\{"ok":false,"error":\{"name":"InvalidSignatureException",.*"status":403,/



=== TEST 15: Bedrock got the gateway's signature, not the client's; its throttles stay behind the gateway
--- request eval
[Bedrock::Sdk::call('js', 'converse', endpoint => $::H2, @::KEY,
                    headers => {'X-Emulator-Tag' => 'js-retry',
                                'X-Emulator-Fault' => 'throttle*2'}),
 "GET /gateway.log",
 "GET /_emulator/requests?tag=js-retry&fields=status,auth"]
--- response_body_like eval
[qr/^\{"ok":true,.*"attempts":1\}$/,
 main::logged('H2', '2.0', 'converse', attempts => 3),
 qr/^\{"count":3,"last_id":\d+,"requests":\[(\{"auth":\{"access_key":"AKIDGATEWAY",[^{}]*"valid":true\},"status":(429|200)\},?){3}\]\}$/]
--- no_error_log
[error]



=== TEST 16: without client keys, the SDK's signature is not needed and not forwarded
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[Bedrock::Sdk::call('js', 'converse', endpoint => $::H2,
                    key => 'ANYKEY', secret => 'any-secret',
                    headers => {'X-Emulator-Tag' => 'js-nokeys'}),
 "GET /gateway.log",
 "GET /_emulator/requests?tag=js-nokeys&fields=auth"]
--- response_body_like eval
[$::ANSWER{converse}, main::logged('H2', '2.0', 'converse', client => '-'),
 qr/^\{"count":1,.*"access_key":"AKIDGATEWAY",.*"valid":true/]
--- no_error_log
[error]



=== TEST 17: the JavaScript example of docs/clients.md, as written, over cleartext HTTP/2
--- request eval
["POST /_sdk/doc/js\n{\"endpoint\":\"$::H2\"}", "GET /gateway.log"]
--- response_body_like eval
[qr/^\{"exit":0,"stdout":"\Q$::TEXT\E\\n\{ inputTokens: 2, outputTokens: 16, totalTokens: 18 \}\\n\Q$::TEXT\E\\n \{ inputTokens: 2, outputTokens: 16, totalTokens: 18 \}\\n",/,
 qr{^$ENV{TEST_NGINX_H2_PORT} HTTP/2.0 tls= "POST /model/[^ ]+/converse HTTP/2.0" 200 client=team-a attempts=1 in=2 out=16
$ENV{TEST_NGINX_H2_PORT} HTTP/2.0 tls= "POST /model/[^ ]+/converse-stream HTTP/2.0" 200 client=team-a attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected



=== TEST 18: the NodeHttpHandler example of docs/clients.md, as written, over HTTP/1.1
--- request eval
["POST /_sdk/doc/js-http1\n{\"endpoint\":\"$::H1\"}", "GET /gateway.log"]
--- response_body_like eval
[qr/^\{"exit":0,"stdout":"\Q$::TEXT\E\\n\{ input_tokens: 2, output_tokens: 16 \}\\n",/,
 qr{^$ENV{TEST_NGINX_H1_PORT} HTTP/1.1 tls= "POST /model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke HTTP/1.1" 200 client=team-a attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected
