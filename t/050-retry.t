# Retries toward Bedrock: by error type, before anything reached the
# client, with backoff, a deadline, and failover between targets.  The
# emulator's faults play Bedrock's throttles, 5xx, resets and slowness.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

Bedrock::Emulator::start(auth => 'none');

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
        proxy_read_timeout 1s;
    }
    location /_emulator/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    }
_EOC_
});

our $CONVERSE = "POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse\n"
    . '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: three throttles then success: one 200 for the client, after four attempts
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=10 base=10ms max=50ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-1
X-Emulator-Fault: throttle*3
--- response_headers
X-Bedrock-Attempts: 4
X-Errors: ThrottlingException,ThrottlingException,ThrottlingException
--- response_body_like: "stopReason":"end_turn"
--- grep_error_log eval: qr/bedrock: attempt \d of 10 failed: 429 ThrottlingException/
--- grep_error_log_out
bedrock: attempt 1 of 10 failed: 429 ThrottlingException
bedrock: attempt 2 of 10 failed: 429 ThrottlingException
bedrock: attempt 3 of 10 failed: 429 ThrottlingException



=== TEST 2: ... and Bedrock saw four attempts: three throttled, one answered
--- request
GET /_emulator/requests?tag=retry-1&fields=status
--- response_body_like: ^\{"count":4,.*\[\{"status":429\},\{"status":429\},\{"status":429\},\{"status":200\}\]\}$



=== TEST 3: a ValidationException is relayed at once, never retried
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=10 base=10ms;
    }
--- request eval
[$::CONVERSE, "GET /_emulator/requests?tag=retry-2&fields=status"]
--- more_headers
X-Emulator-Tag: retry-2
X-Emulator-Fault: validation*5
--- error_code eval
[400, 200]
--- response_headers eval
["x-amzn-ErrorType: ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/\n!X-Bedrock-Attempts", ""]
--- response_body_like eval
[qr/^\{"message":"Input is too long for requested model."\}$/,
 qr/^\{"count":1,/]
--- no_error_log
retrying
giving up



=== TEST 4: when attempts run out, the last answer is relayed as Bedrock gave it
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-3
X-Emulator-Fault: throttle*inf
--- error_code: 429
--- response_headers
x-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/
X-Bedrock-Attempts: 3
Content-Length: 63
--- response_body eval
'{"message":"Too many tokens, please wait before trying again."}'
--- error_log
bedrock: giving up after 3 attempts: 429 ThrottlingException



=== TEST 5: ... and Bedrock saw exactly three attempts
--- request
GET /_emulator/requests?tag=retry-3&fields=status
--- response_body_like: ^\{"count":3,



=== TEST 6: the deadline bounds the time a client waits
Waits of 400 ms then 800 ms: the second would end past the 1 s deadline,
so the client gets the second answer.
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=10 base=400ms jitter=none deadline=1s;
        add_header X-Wait $bedrock_retry_wait_ms always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-4
X-Emulator-Fault: throttle*inf
--- error_code: 429
--- response_headers
X-Bedrock-Attempts: 2
X-Wait: 400



=== TEST 7: each retryable error type is retried, and named in $bedrock_upstream_errors
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=10 base=10ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-5
X-Emulator-Fault: not-ready, internal, unavailable, timeout, model-error
--- error_code: 424
--- response_headers
X-Bedrock-Attempts: 5
X-Errors: ModelNotReadyException,InternalServerException,ServiceUnavailableException,ModelTimeoutException,ModelErrorException



=== TEST 8: bedrock_retry_on changes the set
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=10 base=10ms;
        bedrock_retry_on ThrottlingException ModelErrorException;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-6
X-Emulator-Fault: model-error, throttle, unavailable
--- error_code: 503
--- response_headers
X-Bedrock-Attempts: 3



=== TEST 9: a connection reset is retried
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-7
X-Emulator-Fault: reset
--- response_headers
X-Bedrock-Attempts: 2
X-Errors: error
--- response_body_like: "stopReason"



=== TEST 10: an upstream timeout is retried
The internal location waits 1 s for an answer; the first takes 3 s.
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-8
X-Emulator-Fault: slow=3000
--- response_headers
X-Bedrock-Attempts: 2
X-Errors: timeout
--- response_body_like: "stopReason"
--- error_log
upstream timed out
--- timeout: 5



=== TEST 11: no connection at all: 502 in Bedrock's shape after the attempts
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:1 region=us-east-1;
        bedrock_retry attempts=2 base=10ms;
    }
--- request eval
$::CONVERSE
--- error_code: 502
--- response_headers
x-amzn-ErrorType: ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/
--- error_log
bedrock: attempt 1 of 2 failed: 502 error
bedrock: giving up after 2 attempts: 502



=== TEST 12: a stream is retried while nothing of it reached the client
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream
{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}
--- more_headers
X-Emulator-Tag: retry-10
X-Emulator-Fault: throttle
--- response_headers
Content-Type: application/vnd.amazon.eventstream
X-Bedrock-Attempts: 2
--- response_body_like: messageStart.*metadata



=== TEST 13: an exception inside a 200 stream is passed through, not retried
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
    }
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /_emulator/requests?tag=retry-11&fields=status,stream"]
--- more_headers
X-Emulator-Tag: retry-11
X-Emulator-Fault: break=2:throttlingException
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/messageStart[\s\S]*:exception-type\x07\x00\x13throttlingException/,
 qr/^\{"count":1,.*"status":200,"stream":"exception:throttlingException"/]
--- no_error_log
retrying



=== TEST 14: a throttled target is left for the next one at once, signed for its region
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1
                     http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-west-2;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_retry attempts=3 base=5s;
        add_header X-Wait $bedrock_retry_wait_ms always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-12
X-Emulator-Fault: throttle
--- response_headers
X-Bedrock-Attempts: 2
X-Wait: 0
--- response_body_like: "stopReason"
--- error_log eval
qr/attempt 1 of 3 failed: 429 ThrottlingException, retrying in 0 ms, model "anthropic.claude-3-haiku-20240307-v1:0", target "http:\/\/127.0.0.1:\d+"/



=== TEST 15: ... the first attempt was signed for us-east-1, the second for us-west-2
--- request
GET /_emulator/requests?tag=retry-12&fields=status,headers
--- response_body_like: ^\{"count":2,.*/us-east-1/bedrock/aws4_request.*"status":429.*/us-west-2/bedrock/aws4_request.*"status":200



=== TEST 16: a client that goes away during the backoff ends the wait
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=3s jitter=none;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Tag: retry-13
X-Emulator-Fault: throttle*inf
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 0.5
--- error_log
bedrock: attempt 1 of 3 failed
client prematurely closed connection
--- no_error_log
attempt 2 of 3



=== TEST 17: the emulator saw one attempt of the request that went away
--- request
GET /_emulator/requests?tag=retry-13&fields=status
--- response_body_like: ^\{"count":1,
