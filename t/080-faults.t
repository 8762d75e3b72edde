# Faults of Bedrock and of clients, one request at a time: connections
# reset or closed without an answer, answers slower than the proxy's
# timeout, 503 storms, exceptions and cuts in the middle of a stream, and
# clients that leave during a backoff or in the middle of a stream.  Each
# ends in a clear answer in Bedrock's shape (or Bedrock's own), in bounded
# time, with the next request served and no [alert], [crit] or [emerg].
#
# Faults under load (reload, SIGKILL, 2,000 queued clients, cut streams as
# the client sees them) are in t/082-load-faults.t.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

Bedrock::Emulator::start(auth => 'none');

add_block_preprocessor(sub {
    my $block = shift;

    # a block without a config of its own is served by the previous nginx
    if (defined $block->config) {
        $block->set_value("config", $block->config . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_read_timeout 1s;
    }
    location /_emulator/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    }
    location = /error.log {
        alias logs/error.log;
    }
_EOC_
    }

    $block->set_value("no_error_log", "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

our $M = '/model/anthropic.claude-3-haiku-20240307-v1:0';
our $HI = '{"messages":[{"role":"user","content":[{"text":"hi"}]}]}';
our $CONVERSE = "POST $M/converse\n$HI";
our $STREAM = "POST $M/converse-stream\n$HI";
our $BIG = "POST $M/converse\n"
    . '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
    . '"inferenceConfig":{"maxTokens":4096}}';
our $OK = qr/"stopReason":"end_turn"/;

# nginx is 20 to 50 times slower under valgrind: the blocks where a client
# leaves at a given moment stretch their times by this
our $SLOW = $ENV{TEST_NGINX_USE_VALGRIND} ? 10 : 1;
sub log_of { "GET /_emulator/requests?tag=$_[0]&fields=" . ($_[1] // 'status') }

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Bedrock resets every connection: 502 in Bedrock's shape once the attempts run out; the next request is served
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms max=20ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- log_level: info
--- request eval
[$::CONVERSE, $::CONVERSE, ::log_of('f-1'), "GET /error.log"]
--- more_headers eval
["X-Emulator-Tag: f-1\nX-Emulator-Fault: reset*inf", "", "", ""]
--- error_code eval
[502, 200, 200, 200]
--- response_headers eval
["x-amzn-ErrorType: ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/\nX-Errors: error,error,error",
 "", "", ""]
--- response_body_like eval
[qr/^\{"message":"Bedrock could not be reached \(status 502\)\."\}$/, $::OK,
 qr/^\{"count":3,"last_id":\d+,"requests":\[\{"status":"reset"\},\{"status":"reset"\},\{"status":"reset"\}\]\}$/,
 qr/bedrock: giving up after 3 attempts: 502/]



=== TEST 2: connections closed without an answer, twice: the third attempt is the answer
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms max=20ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Fault: close*2; key=f-3
--- response_headers
X-Bedrock-Attempts: 3
X-Errors: error,error
--- response_body_like eval
$::OK
--- error_log
upstream prematurely closed connection



=== TEST 3: Bedrock slower than proxy_read_timeout on every attempt: 504 ModelTimeoutException in bounded time; the next request is served
Two attempts of a second each, 10 to 20 ms apart.
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=2 base=10ms max=20ms;
        add_header X-Errors $bedrock_upstream_errors always;
        add_header X-Time $request_time always;
    }
--- log_level: info
--- request eval
[$::CONVERSE, $::CONVERSE, "GET /error.log"]
--- more_headers eval
["X-Emulator-Fault: slow=3000*inf; key=f-4", "", ""]
--- error_code eval
[504, 200, 200]
--- response_headers eval
["x-amzn-ErrorType: ModelTimeoutException:http://internal.amazon.com/coral/com.amazon.bedrock/\nX-Errors: timeout,timeout",
 "", ""]
--- response_headers_like eval
["X-Time: (1\\.9|2\\.[0-4])\\d*", "", ""]
--- response_body_like eval
[qr/^\{"message":"Bedrock did not answer in time\."\}$/, $::OK,
 qr/upstream timed out[\s\S]*bedrock: giving up after 2 attempts: 504/]
--- timeout: 5



=== TEST 4: an answer slower than usual but within the timeout is not retried
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Fault: slow=300; key=f-6
--- response_headers
!X-Bedrock-Attempts
--- response_body_like eval
$::OK
--- no_error_log
retrying
[alert]
[crit]



=== TEST 5: a 503 storm that outlasts the attempts: the last 503 is relayed as Bedrock gave it
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=4 base=10ms max=40ms;
    }
--- request eval
$::CONVERSE
--- more_headers
X-Emulator-Fault: unavailable*inf; key=f-7
--- error_code: 503
--- response_headers
x-amzn-ErrorType: ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/
X-Bedrock-Attempts: 4
--- response_body chomp
{"message":"Bedrock is unable to process your request."}
--- error_log
bedrock: giving up after 4 attempts: 503 ServiceUnavailableException



=== TEST 6: a 503 storm gives every reservation back: after six failed requests the zone is as full as before
The zone holds 20000 tokens, four requests of about 4100: had the failed
ones kept their reservations, the fifth would be refused.
--- http_config
    bedrock_limit_zone $bedrock_model zone=f8:1m tpm=20000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=2 base=10ms;
        bedrock_limit zone=f8 nodelay;
        add_header X-Limit $bedrock_limit_status always;
    }
--- request eval
[($::BIG) x 7]
--- more_headers eval
[("X-Emulator-Fault: unavailable*12; key=f-8") x 6, ""]
--- error_code eval
[(503) x 6, 200]
--- response_headers eval
[("X-Limit: PASSED") x 7]



=== TEST 7: exceptions in the middle of streams reach the client as Bedrock sent them, logged, not retried
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
        add_header X-Errors $bedrock_upstream_errors always;
    }
--- log_level: info
--- request eval
[$::STREAM,
 "POST $::M/invoke-with-response-stream\n"
 . '{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}',
 $::CONVERSE, ::log_of('f-9', 'status,stream'), "GET /error.log"]
--- more_headers eval
["X-Emulator-Tag: f-9\nX-Emulator-Fault: break=3:modelStreamErrorException",
 "X-Emulator-Tag: f-9\nX-Emulator-Fault: break=2:internalServerException",
 "X-Emulator-Tag: f-9", "", ""]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_body_like eval
[qr/messageStart[\s\S]*:exception-type\x07\x00\x19modelStreamErrorException/,
 qr/chunk[\s\S]*:exception-type\x07\x00\x17internalServerException/,
 $::OK,
 qr/^\{"count":3,.*"status":200,"stream":"exception:modelStreamErrorException".*"status":200,"stream":"exception:internalServerException"\},\{"status":200,"stream":null\}\]\}$/,
 qr/\[warn\] .*bedrock: stream exception modelStreamErrorException after \d+ bytes[^\n]*\n(.*\n)*.*\[warn\] .*bedrock: stream exception internalServerException after \d+ bytes/]
--- no_error_log
retrying
[alert]
[crit]



=== TEST 8: a stream cut after three events: nginx sees it, the module says so, the next request is served
The client reads HTTP/1.0 here (a body until the connection closes); how a
chunked client sees the cut is checked in t/082-load-faults.t.
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
    }
--- log_level: info
--- request eval
["POST $::M/converse-stream HTTP/1.0\n$::HI", $::STREAM, "GET /error.log"]
--- more_headers eval
["X-Emulator-Fault: cut=3; key=f-11", "", ""]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/^(?![\s\S]*metadata)[\s\S]*messageStart/,
 qr/messageStart[\s\S]*metadata/,
 qr/upstream prematurely closed connection[\s\S]*bedrock: the answer of attempt 1 broke off/]
--- no_error_log
retrying
[alert]
[crit]



=== TEST 9: a stream that stalls past proxy_read_timeout after its first events is broken off the same way
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=10ms;
    }
--- request eval
"POST $::M/converse-stream HTTP/1.0\n$::HI"
--- more_headers
X-Emulator-Event-Delay-Ms: 2500
--- response_body_like: messageStart
--- response_body_unlike: metadata
--- error_log
upstream timed out
bedrock: the answer of attempt 1 broke off
--- timeout: 5



=== TEST 10: a client that leaves during the backoff holds nothing and causes no later attempt
The first attempt is throttled and the next would be a second later; the
client leaves after half a second.  A second and a half later, Bedrock has
still seen one attempt only.
--- http_config
    bedrock_limit_zone $bedrock_model zone=f14:1m tpm=20000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_retry attempts=3 base=1s jitter=none;
        bedrock_limit zone=f14 delay=10s;
    }
--- log_level: info
--- request eval
[$::BIG, ::log_of('f-14'), "GET /error.log"]
--- more_headers eval
["X-Emulator-Tag: f-14\nX-Emulator-Fault: throttle*inf", "", ""]
--- timeout: 0.5
--- abort
--- wait: 1.5
--- error_code eval
["", 200, 200]
--- response_body_like eval
[qr/^$/, qr/^\{"count":1,/,
 qr/bedrock: attempt 1 of 3 failed: 429 ThrottlingException, retrying in 1000 ms[\s\S]*client prematurely closed connection/]



=== TEST 11: a client that leaves in the middle of a stream: Bedrock's connection is closed at once
The emulator sends an event every 400 ms; the client (HTTP/1.0: the body
until the connection closes) leaves 300 ms after the first: nginx sees its
connection closed and closes the one to Bedrock, which stops producing (it
notices at its next writes).
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_upstream_location /_bedrock_patient;
    }
    location = /_bedrock_patient {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
        proxy_http_version 1.1;
    }
--- log_level: info
--- request eval
["POST $::M/converse-stream HTTP/1.0\n$::HI",
 ::log_of('f-16', 'status,stream,events'), $::CONVERSE, "GET /error.log"]
--- more_headers eval
["X-Emulator-Tag: f-16\nX-Emulator-Event-Delay-Ms: " . 400 * $::SLOW, "", "", ""]
--- timeout eval: 0.3 * $::SLOW
--- abort
--- wait eval: 1 * $::SLOW
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/^(?![\s\S]*metadata)[\s\S]*messageStart/,
 qr/^\{"count":1,.*"events":[1-4],"status":200,"stream":"client-gone"/, $::OK,
 qr/client prematurely closed connection, so upstream connection is closed too/]
