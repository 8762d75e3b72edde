# Signing toward Bedrock: the emulator verifies every request with
# botocore's SigV4 (service "bedrock"), over the exact path, headers and
# body it receives.  And secrets never show in logs or answers.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

our $SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
our $TOKEN = 'FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789';
our $API_KEY = 'ABSKQmVkcm9ja0FQSUtleUV4YW1wbGUxMjM0NTY3ODkw';

Bedrock::Emulator::start(auth => 'any',
                         credentials => ["AKIDGATEWAY:$SECRET",
                                         "ASIAGATEWAY:$SECRET:$TOKEN"],
                         api_keys => [$API_KEY]);

# read by the master when it reads the configuration
$ENV{AWS_ACCESS_KEY_ID} = 'AKIDGATEWAY';
$ENV{AWS_SECRET_ACCESS_KEY} = $SECRET;

# the leak blocks also check that debug logging is on, which needs an
# nginx built --with-debug (Debian's is)
my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $DEBUG = `$nginx -V 2>&1` =~ /--with-debug/;

add_block_preprocessor(sub {
    my $block = shift;

    if (!$DEBUG && defined $block->error_log
        && $block->error_log =~ /^http proxy header/)
    {
        $block->set_value("error_log", undef);
    }

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
    }
    location /_emulator/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    }
_EOC_
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a request signed with a key pair is accepted by Bedrock
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY;
    }
--- request eval
[
"POST /model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-1&fields=auth"
]
--- more_headers
Content-Type: application/json
X-Amzn-Bedrock-Trace: ENABLED
X-Emulator-Tag: sign-1
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason":"end_turn"/,
qr/"access_key":"AKIDGATEWAY",.*"scheme":"sigv4",.*"signed_headers":\["content-type","host","x-amz-date","x-amzn-bedrock-trace"\],"valid":true/
]
--- no_error_log
[error]



=== TEST 2: an ARN modelId with %2F and %3A is signed over its exact bytes
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY;
    }
--- request eval
[
"POST /model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-2&fields=path,auth"
]
--- more_headers
X-Emulator-Tag: sign-2
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason"/,
qr/"valid":true\},"path":"\/model\/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0\/converse"/
]



=== TEST 3: a CountTokens request is signed and accepted, its inner body left as it is
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY;
    }
--- request eval
[
"POST /model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens
{\"input\":{\"invokeModel\":{\"body\":\"eyJhbnRocm9waWNfdmVyc2lvbiI6ImJlZHJvY2stMjAyMy0wNS0zMSIsIm1heF90b2tlbnMiOjEwMCwibWVzc2FnZXMiOlt7InJvbGUiOiJ1c2VyIiwiY29udGVudCI6IkhlbGxvIHRoZXJlIn1dfQ==\"}}}",
"GET /_emulator/requests?tag=sign-ct&fields=path,auth,operation"
]
--- more_headers
X-Emulator-Tag: sign-ct
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/^\{"inputTokens":\d+\}$/,
qr/"valid":true\}.*"operation":"CountTokens".*"path":"\/model\/anthropic.claude-3-5-haiku-20241022-v1%3A0\/count-tokens"/
]
--- no_error_log
[error]



=== TEST 4: a session token is sent as X-Amz-Security-Token and signed
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=ASIAGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY token=FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-3&fields=auth"
]
--- more_headers
X-Emulator-Tag: sign-3
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason"/,
qr/"access_key":"ASIAGATEWAY",.*"signed_headers":\["host","x-amz-date","x-amz-security-token"\],"valid":true/
]



=== TEST 5: the wrong secret gets AWS's 403, relayed and not retried
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=not-the-secret;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*
--- response_body_like: The request signature we calculated does not match
--- no_error_log
retrying



=== TEST 6: credentials from the environment
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials env;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-5&fields=auth"
]
--- more_headers
X-Emulator-Tag: sign-5
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason"/,
qr/"access_key":"AKIDGATEWAY",.*"valid":true/
]



=== TEST 7: credentials from a shared credentials file and profile
--- user_files
>>> aws-credentials
[default]
aws_access_key_id = AKIDWRONG
aws_secret_access_key = nope

[gateway]
aws_access_key_id = ASIAGATEWAY
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
aws_session_token = FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials file=../html/aws-credentials profile=gateway;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-6&fields=auth"
]
--- more_headers
X-Emulator-Tag: sign-6
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason"/,
qr/"access_key":"ASIAGATEWAY",.*"valid":true/
]



=== TEST 8: a missing profile is reported at nginx -t
--- user_files
>>> aws-credentials
[default]
aws_access_key_id = AKIDGATEWAY
aws_secret_access_key = secret
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials file=../html/aws-credentials profile=prod;
    }
--- must_die
--- error_log
no aws_access_key_id and aws_secret_access_key for profile "prod"



=== TEST 9: a Bedrock API key is sent as a bearer token
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials api_key=ABSKQmVkcm9ja0FQSUtleUV4YW1wbGUxMjM0NTY3ODkw;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-8&fields=auth"
]
--- more_headers
X-Emulator-Tag: sign-8
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason"/,
qr/"scheme":"bearer","valid":true/
]



=== TEST 10: every retry is signed afresh and accepted
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY;
        bedrock_retry attempts=3 base=1100ms jitter=none;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=sign-9&fields=status,headers,auth"
]
--- more_headers
X-Emulator-Tag: sign-9
X-Emulator-Fault: throttle*2
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason"/,
qr/^\{"count":3,.*"valid":true.*"x-amz-date":"(\d{8}T\d{6}Z)".*"status":429.*"valid":true.*"x-amz-date":"(?!\1)(\d{8}T\d{6}Z)".*"status":429.*"valid":true.*"x-amz-date":"(?!\2)\d{8}T\d{6}Z".*"status":200/s
]
--- timeout: 10



=== TEST 11: a session token appears in no log, debug level included
The token travels in X-Amz-Security-Token, which nginx's proxy module
would log at debug level; the attempt is retried once, signed again.
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=ASIAGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY token=FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789;
        bedrock_retry attempts=2 base=10ms;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}
--- more_headers
X-Emulator-Fault: throttle
X-Emulator-Tag: sign-10
--- response_body_like: "stopReason"
--- error_log
http proxy header: "x-amzn-RequestId:
--- no_error_log
FwoGZXIvYXdzEXAMPLESESSIONTOKEN
wJalrXUtnFEMI



=== TEST 12: an API key appears in no log, debug level included
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials api_key=ABSKQmVkcm9ja0FQSUtleUV4YW1wbGUxMjM0NTY3ODkw;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}
--- response_body_like: "stopReason"
--- error_log
http proxy header: "x-amzn-RequestId:
--- no_error_log
ABSKQmVkcm9ja0FQSUtleU



=== TEST 13: secrets appear in no access log and no answer
The access log carries every variable; answers include an error.
--- http_config
    log_format all '$bedrock_model $bedrock_client $bedrock_attempts '
                   '$bedrock_upstream_errors $bedrock_upstream '
                   '$http_authorization $request_body';
--- config
    access_log logs/all.log all;
    location ~ ^/model/anthropic\.claude-3-haiku {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=ASIAGATEWAY secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY token=FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789;
        bedrock_retry attempts=2 base=10ms;
    }
    location ~ ^/model/anthropic\.claude-3-5-haiku {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials api_key=ABSKQmVkcm9ja0FQSUtleUV4YW1wbGUxMjM0NTY3ODkw;
    }
    location /logs/ {
        root .;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"POST /model/anthropic.claude-3-5-haiku-20241022-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",",
"GET /logs/all.log",
]
--- more_headers
X-Emulator-Fault: throttle
--- error_code eval
[200, 200, 400, 200]
--- response_body_unlike eval
[
qr/FwoGZXIvYXdzEXAMPLESESSIONTOKEN|ABSKQmVkcm9ja0FQSUtleU|wJalrXUtnFEMI/,
qr/FwoGZXIvYXdzEXAMPLESESSIONTOKEN|ABSKQmVkcm9ja0FQSUtleU|wJalrXUtnFEMI/,
qr/FwoGZXIvYXdzEXAMPLESESSIONTOKEN|ABSKQmVkcm9ja0FQSUtleU|wJalrXUtnFEMI/,
qr/FwoGZXIvYXdzEXAMPLESESSIONTOKEN|ABSKQmVkcm9ja0FQSUtleU|wJalrXUtnFEMI/,
]
--- response_body_like eval
[
qr/"stopReason"/,
qr/"stopReason"/,
qr/Malformed input request/,
qr/anthropic.claude-3-haiku-20240307-v1:0 - 2 ThrottlingException http:\/\/127.0.0.1:\d+\/model\/anthropic.claude-3-haiku-20240307-v1:0\/converse/,
]
--- no_error_log
FwoGZXIvYXdzEXAMPLESESSIONTOKEN
ABSKQmVkcm9ja0FQSUtleU
wJalrXUtnFEMI
