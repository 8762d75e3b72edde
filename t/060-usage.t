# Real usage, read from what Bedrock answers: token-count headers of
# InvokeModel, Converse's usage, ConverseStream's metadata event, the last
# chunk's invocation metrics; exceptions inside a stream are logged.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

Bedrock::Emulator::start();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", ($block->http_config // '') . <<'_EOC_');
    log_format usage '$bedrock_model in=$bedrock_input_tokens out=$bedrock_output_tokens errors=$bedrock_upstream_errors';
_EOC_

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location /model/ {
        access_log logs/usage.log usage;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
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

=== TEST 1: Converse: the body's usage
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello there, model\"}]}]}",
"GET /logs/usage.log"]
--- more_headers
X-Emulator-Output-Tokens: 9
--- response_body_like eval
[qr/"usage":\{"inputTokens":5,"outputTokens":9,/,
 qr/^anthropic.claude-3-haiku-20240307-v1:0 in=5 out=9 errors=-$/m]



=== TEST 2: InvokeModel: the token-count headers
--- request eval
["POST /model/meta.llama3-70b-instruct-v1:0/invoke
{\"prompt\":\"Hello there, model\",\"max_gen_len\":100}",
"GET /logs/usage.log"]
--- more_headers
X-Emulator-Output-Tokens: 11
--- response_body_like eval
[qr/"generation_token_count":11/,
 qr/^meta.llama3-70b-instruct-v1:0 in=5 out=11 errors=-$/m]



=== TEST 3: ConverseStream: the metadata event
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello there, model\"}]}]}",
"GET /logs/usage.log"]
--- more_headers
X-Emulator-Output-Tokens: 13
--- response_body_like eval
[qr/metadata/,
 qr/^anthropic.claude-3-haiku-20240307-v1:0 in=5 out=13 errors=-$/m]



=== TEST 4: InvokeModelWithResponseStream: the invocation metrics of the last chunk
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream
{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"Hello there, model\"}]}",
"GET /logs/usage.log"]
--- more_headers
X-Emulator-Output-Tokens: 6
--- response_body_like eval
[qr/chunk/,
 qr/^anthropic.claude-3-haiku-20240307-v1:0 in=5 out=6 errors=-$/m]



=== TEST 5: an exception inside a 200 stream reaches the client unchanged, and is logged
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream
{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}
--- more_headers
X-Emulator-Fault: break=3:serviceUnavailableException
--- response_body_like: :exception-type\x07\x00\x1bserviceUnavailableException
--- error_log eval
qr/bedrock: stream exception serviceUnavailableException after \d+ bytes: "Bedrock is unable to process your request.", passed to the client, model "anthropic.claude-3-haiku-20240307-v1:0"/
--- no_error_log
[error]



=== TEST 6: ... and it is named in $bedrock_upstream_errors
--- request eval
["POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello\"}]}]}",
"GET /logs/usage.log"]
--- more_headers
X-Emulator-Fault: break=3:serviceUnavailableException; key=usage-6
--- response_body_like eval
[qr/serviceUnavailableException/,
 qr/^anthropic.claude-3-haiku-20240307-v1:0 in=- out=- errors=serviceUnavailableException$/m]
