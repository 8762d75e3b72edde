# boto3 (Debian's python3-boto3, unmodified) pointed at the gateway with a
# gateway-issued client key, over HTTP/1.1 (boto3's only protocol), plain
# and over TLS: Converse, ConverseStream, InvokeModel and
# InvokeModelWithResponseStream, boto3's own errors for a wrong key, and
# the boto3 example of docs/clients.md as written.  The emulator verifies
# the gateway's own signature (--auth sigv4).
#
# Debian 12's botocore predates Bedrock: Bedrock::Sdk writes the
# bedrock-runtime model for AWS_DATA_PATH from the copy of the same AWS
# model that the AWS SDK for JavaScript v2 ships on npm.  boto3 runs in
# t/lib/sdk/boto3_client.py, one process per call.

use Test::Nginx::Socket;
use Bedrock::Emulator;
use Bedrock::Sdk;

my $why = Bedrock::Sdk::setup(boto3 => 1);
plan skip_all => $why if $why;
plan 'no_plan';

Bedrock::Emulator::start(auth => 'sigv4',
    credentials => ["AKIDGATEWAY:$Bedrock::Sdk::GATEWAY_SECRET"]);

our $H1 = "http://127.0.0.1:$ENV{TEST_NGINX_H1_PORT}";
our $TLS = "https://localhost:$ENV{TEST_NGINX_TLS_PORT}";
our @KEY = (key => 'GWKEY1EXAMPLE', secret => 'gw-secret-team-a-EXAMPLE');

our $TEXT = $Bedrock::Sdk::TEXT;
our %ANSWER = %Bedrock::Sdk::ANSWER;

# the access log line of the one gateway request of a block
sub logged {
    my ($port, $op, %opt) = @_;
    my $tls = $port eq 'TLS' ? 'on' : '';
    $port = $ENV{"TEST_NGINX_${port}_PORT"};
    my $attempts = $opt{attempts} // 1;
    return qr{^$port HTTP/1.1 tls=$tls "POST /model/us\.anthropic\.claude-3-7-sonnet-20250219-v1%3A0/$op HTTP/1.1" 200 client=team-a attempts=$attempts in=2 out=16\n\z};
}

add_block_preprocessor(\&Bedrock::Sdk::client_keys_gateway);

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Converse: the answer, its usage, the client in the log
--- request eval
[Bedrock::Sdk::call('boto3', 'converse', endpoint => $::H1, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{converse}, main::logged('H1', 'converse')]
--- no_error_log
[error]
rejected



=== TEST 2: ConverseStream: boto3 decodes every event
--- request eval
[Bedrock::Sdk::call('boto3', 'converse-stream', endpoint => $::H1, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'converse-stream'}, main::logged('H1', 'converse-stream')]
--- no_error_log
[error]
rejected



=== TEST 3: InvokeModel
--- request eval
[Bedrock::Sdk::call('boto3', 'invoke', endpoint => $::H1, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{invoke}, main::logged('H1', 'invoke')]
--- no_error_log
[error]
rejected



=== TEST 4: InvokeModelWithResponseStream
--- request eval
[Bedrock::Sdk::call('boto3', 'invoke-stream', endpoint => $::H1, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'invoke-stream'}, main::logged('H1', 'invoke-with-response-stream')]
--- no_error_log
[error]
rejected



=== TEST 5: over TLS (AWS_CA_BUNDLE): Converse
--- request eval
[Bedrock::Sdk::call('boto3', 'converse', endpoint => $::TLS, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{converse}, main::logged('TLS', 'converse')]
--- no_error_log
[error]
rejected



=== TEST 6: over TLS: ConverseStream
--- request eval
[Bedrock::Sdk::call('boto3', 'converse-stream', endpoint => $::TLS, @::KEY),
 "GET /gateway.log"]
--- response_body_like eval
[$::ANSWER{'converse-stream'}, main::logged('TLS', 'converse-stream')]
--- no_error_log
[error]
rejected



=== TEST 7: a key the gateway did not issue: boto3's UnrecognizedClientException
--- request eval
Bedrock::Sdk::call('boto3', 'converse', endpoint => $::H1,
                   key => 'AKIAOTHERKEY', secret => 'gw-secret-team-a-EXAMPLE')
--- response_body_like eval
qr/^\{"ok":false,"error":\{"name":"UnrecognizedClientException","message":"The security token included in the request is invalid.","status":403,"attempts":1\}\}$/



=== TEST 8: the wrong secret: boto3's InvalidSignatureException
--- request eval
Bedrock::Sdk::call('boto3', 'invoke-stream', endpoint => $::H1,
                   key => 'GWKEY1EXAMPLE', secret => 'gw-secret-team-b-EXAMPLE')
--- response_body_like eval
qr/^\{"ok":false,"error":\{"name":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided\. Check your AWS Secret Access Key and signing method\. Consult the service documentation for details\.","status":403,"attempts":1\}\}$/



=== TEST 9: throttles stay behind the gateway; Bedrock sees the gateway's signature
--- request eval
[Bedrock::Sdk::call('boto3', 'converse', endpoint => $::H1, @::KEY,
                    headers => {'X-Emulator-Tag' => 'boto3-retry',
                                'X-Emulator-Fault' => 'throttle*2'}),
 "GET /gateway.log",
 "GET /_emulator/requests?tag=boto3-retry&fields=status,auth"]
--- response_body_like eval
[qr/^\{"ok":true,.*"attempts":1\}$/,
 main::logged('H1', 'converse', attempts => 3),
 qr/^\{"count":3,"last_id":\d+,"requests":\[(\{"auth":\{"access_key":"AKIDGATEWAY",[^{}]*"valid":true\},"status":(429|200)\},?){3}\]\}$/]
--- no_error_log
[error]



=== TEST 10: the boto3 example of docs/clients.md, as written
--- request eval
["POST /_sdk/doc/python\n{\"endpoint\":\"$::H1\"}", "GET /gateway.log"]
--- response_body_like eval
[qr/^\{"exit":0,"stdout":"\Q$::TEXT\E\\n\{'inputTokens': 2, 'outputTokens': 16, 'totalTokens': 18\}\\n\Q$::TEXT\E\\n \{'inputTokens': 2, 'outputTokens': 16, 'totalTokens': 18\}\\n",/,
 qr{^$ENV{TEST_NGINX_H1_PORT} HTTP/1.1 tls= "POST /model/[^ ]+/converse HTTP/1.1" 200 client=team-a attempts=1 in=2 out=16
$ENV{TEST_NGINX_H1_PORT} HTTP/1.1 tls= "POST /model/[^ ]+/converse-stream HTTP/1.1" 200 client=team-a attempts=1 in=2 out=16\n\z}]
--- no_error_log
[error]
rejected
