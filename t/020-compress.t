# Requests over bedrock_max_input_tokens are compressed to fit, signed as
# compressed, and still valid requests; those that cannot fit get 413.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

Bedrock::Emulator::start(auth => 'sigv4',
                         credentials => ['AKIDGATEWAY:gateway-secret']);

# an agent's conversation: a question, then long tool results, then the
# latest question
sub conversation {
    my @m = ('{"role":"user","content":[{"text":"Summarise the logs."}]}');
    for my $i (1 .. 6) {
        my $text = join ' ', map { "log line $i.$_ status ok latency 12ms" } 1 .. 800;
        push @m, qq({"role":"assistant","content":[{"toolUse":{"toolUseId":"t$i","name":"read_logs","input":{"part":$i}}}]});
        push @m, qq({"role":"user","content":[{"toolResult":{"toolUseId":"t$i","content":[{"text":"$text"}]}}]});
    }
    push @m, '{"role":"assistant","content":[{"text":"Read them all."}]}';
    push @m, '{"role":"user","content":[{"text":"So, any errors?"}]}';
    return '{"messages":[' . join(',', @m) . '],"inferenceConfig":{"maxTokens":100}}';
}

our $BIG = conversation();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", ($block->http_config // '') . <<'_EOC_');
    log_format fit '$bedrock_input_tokens_estimate $bedrock_compressed_from $bedrock_compressed_to $bedrock_cost_estimate';
_EOC_

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
    }
    location /_emulator/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    }
    location /logs/ {
        root .;
    }
_EOC_
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: an oversized conversation is compressed, signed as sent, and answered
--- config
    location /model/ {
        access_log logs/fit.log fit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_max_input_tokens 20000;
    }
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse\n$::BIG",
 "GET /_emulator/requests?tag=fit-1&fields=status,body_length,auth",
 "GET /logs/fit.log"]
--- more_headers
X-Emulator-Tag: fit-1
--- response_body_like eval
[qr/"stopReason":"end_turn"/,
 qr/^\{"count":1,.*"valid":true.*"body_length":(\d+),"status":200/,
 qr/^(\d+) (\d+) (\d+) (\d+)$/m]
--- response_body_unlike eval
[qr/^$/, qr/"body_length":(?:1[6-9]\d{4}|\d{7})/, qr/^\d+ - -/]
--- no_error_log
[error]



=== TEST 2: the compression is logged once, with what it did
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_max_input_tokens 20000;
    }
--- request eval
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse\n$::BIG"
--- response_body_like: "stopReason"
--- error_log eval
qr/\[notice\] .*bedrock: compressed model "anthropic.claude-3-haiku-20240307-v1:0" from \d+ to \d+ input tokens \(limit 20000\): \d+ texts shortened, \d+ messages dropped, client "-"/



=== TEST 3: a request that cannot fit gets 413 with its tokens and the limit
The last message alone is over the limit: it is never cut.
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_max_input_tokens 1000;
    }
--- request eval
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"" . ("word " x 3000) . "\"}]}]}"
--- error_code: 413
--- response_headers
x-amzn-ErrorType: ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/
--- response_body_like: ^\{"message":"[^"]*\b\d+\b[^"]*\b1000\b[^"]*"\}$
--- error_log
bedrock: cannot compress



=== TEST 4: with bedrock_compress off, over the limit is 413
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_max_input_tokens 20000;
        bedrock_compress off;
    }
--- request eval
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse\n$::BIG"
--- error_code: 413
--- response_body_like: ^\{"message":"Input is too long: \d+ tokens \(estimated\), over the gateway's limit of 20000."\}$



=== TEST 5: under the limit, the body is sent as it came
--- config
    location /model/ {
        access_log logs/fit.log fit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_max_input_tokens 200000;
    }
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse\n$::BIG",
 "GET /_emulator/requests?tag=fit-5&fields=body_length",
 "GET /logs/fit.log"]
--- more_headers
X-Emulator-Tag: fit-5
--- response_body_like eval
[qr/"stopReason"/,
 qr/"body_length":${\ length($::BIG)}\}/,
 qr/^\d+ - - \d+$/m]



=== TEST 6: bedrock_warn_tokens logs large requests
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAY secret=gateway-secret;
        bedrock_warn_tokens 5000;
    }
--- request eval
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse\n$::BIG"
--- response_body_like: "stopReason"
--- error_log eval
qr/\[warn\] .*bedrock: large request: model "anthropic.claude-3-haiku-20240307-v1:0", \d+ input tokens \(estimated\), cost \d+, client "-"/



=== TEST 7: bedrock_compress parameters are checked
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_compress on block=10;
    }
--- must_die
--- error_log
invalid parameter "block=10"
