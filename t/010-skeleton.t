# The walking skeleton: bedrock_pass reads the body, checks it, sends it by
# subrequest to the emulator and relays status, headers and body, streams
# as they are produced.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

Bedrock::Emulator::start();

# every block gets the internal location and a window on the emulator's log
add_block_preprocessor(sub {
    my $block = shift;

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

=== TEST 1: a Converse request is relayed, and reaches Bedrock with its exact path
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[
"POST /model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello there\"}]}],\"inferenceConfig\":{\"maxTokens\":50}}",
"GET /_emulator/requests?tag=skeleton-1&fields=method,path,status"
]
--- more_headers
Content-Type: application/json
X-Emulator-Tag: skeleton-1
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/^\{"output":\{"message":\{"role":"assistant","content":\[\{"text":"[A-Za-z ]+"\}\]\}\},"stopReason":"end_turn","usage":\{"inputTokens":3,"outputTokens":16,"totalTokens":19\},"metrics":\{"latencyMs":\d+\}\}$/,
qr/^\{"count":1,.*"method":"POST","path":"\/model\/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0\/converse","status":200\}\]\}$/
]
--- no_error_log
[error]
[warn]



=== TEST 2: Bedrock's headers reach the client: request id, token counts
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/invoke
{"anthropic_version":"bedrock-2023-05-31","max_tokens":20,"messages":[{"role":"user","content":"Hello there"}]}
--- more_headers
Content-Type: application/json
X-Emulator-Output-Tokens: 7
--- response_headers_like
x-amzn-RequestId: [0-9a-f-]{36}
X-Amzn-Bedrock-Input-Token-Count: 3
X-Amzn-Bedrock-Output-Token-Count: 7
Content-Type: application/json
--- response_body_like: "usage":\{"input_tokens":3,"output_tokens":7\}
--- no_error_log
[error]



=== TEST 3: the client's credentials and signing headers are never forwarded
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}]}",
"GET /_emulator/requests?tag=skeleton-3&fields=headers"
]
--- more_headers
Authorization: AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00
X-Amz-Date: 20260101T000000Z
X-Amz-Security-Token: client-session-token
X-Amz-Content-Sha256: UNSIGNED-PAYLOAD
X-Amzn-Bedrock-Trace: ENABLED
X-Emulator-Tag: skeleton-3
--- error_code eval
[200, 200]
--- response_body_like eval
[
qr/"stopReason":"end_turn"/,
qr/^(?!.*(authorization|x-amz-date|x-amz-security-token|x-amz-content-sha256|client-session-token)).*"x-amzn-bedrock-trace":"ENABLED"/s
]



=== TEST 4: a body that is not JSON gets 400 in Bedrock's shape and never reaches Bedrock
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",",
"GET /_emulator/requests?tag=skeleton-4&fields=path"
]
--- more_headers
X-Emulator-Tag: skeleton-4
--- error_code eval
[400, 200]
--- response_headers_like eval
[
"x-amzn-ErrorType: ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/
x-amzn-RequestId: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
Content-Type: application/json",
""
]
--- response_body_like eval
[
qr/^\{"message":"Malformed input request: [^"]+"\}$/,
qr/^\{"count":0,/
]



=== TEST 5: a path that names no operation gets 404 UnknownOperationException
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/chat
{}
--- error_code: 404
--- response_headers
x-amzn-ErrorType: UnknownOperationException:http://internal.amazon.com/coral/com.amazon.bedrock/
--- response_body_like: ^\{"message":"Unknown operation: [^"]+"\}$



=== TEST 6: only POST is an operation
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request
GET /model/anthropic.claude-3-haiku-20240307-v1:0/converse
--- error_code: 405
--- response_body_like: ^\{"message":"Bedrock Runtime operations take POST, not GET"\}$



=== TEST 7: a body larger than client_body_buffer_size is read from its temp file and sent whole
120,000 characters of text: the emulator counts 30,000 tokens only if all
of them arrived.
--- config
    client_body_buffer_size 1k;
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\""
. ("lorem ipsum " x 10000) . "\"}]}]}"
--- response_body_like: "usage":\{"inputTokens":30000,
--- error_log
a client request body is buffered to a temporary file



=== TEST 8: a body over client_max_body_size gets 413
--- config
    location /model/ {
        client_max_body_size 1k;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
"POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"" . ("x" x 2000) . "\"}]}]}"
--- error_code: 413
--- error_log
client intended to send too large body



=== TEST 9: a ConverseStream answer is relayed as an eventstream
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request
POST /model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream
{"messages":[{"role":"user","content":[{"text":"Hello there"}]}],"inferenceConfig":{"maxTokens":50}}
--- more_headers
X-Emulator-Output-Tokens: 8
--- response_headers
Content-Type: application/vnd.amazon.eventstream
--- response_body_like: messageStart.*contentBlockDelta.*messageStop.*metadata.*"outputTokens":8
--- no_error_log
[error]



=== TEST 10: stream events reach the client as they are produced, before the stream ends
The emulator waits 2 s between events; the client reads for 1 s and must
already hold the first event, and not the last.  (HTTP/1.0, so that the
partial answer is not chunked.)
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream HTTP/1.0
{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"Hello"}]}
--- more_headers
X-Emulator-Event-Delay-Ms: 2000
--- timeout: 1
--- abort
--- response_body_like: ^[\s\S]*:event-type\x07\x00\x05chunk[\s\S]*$
--- response_body_unlike: amazon-bedrock-invocationMetrics



=== TEST 11: Bedrock unreachable: 502 in Bedrock's shape
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:1 region=us-east-1;
        bedrock_retry off;
    }
--- request
POST /model/anthropic.claude-3-haiku-20240307-v1:0/converse
{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}
--- error_code: 502
--- response_headers
x-amzn-ErrorType: ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/
--- response_body_like: ^\{"message":"Bedrock could not be reached \(status 502\)."\}$
--- error_log
connect() failed (111: Connection refused)
