# The TPM and RPM limiter: bedrock_limit_zone, bedrock_limit and friends.
#
# The emulator answers without a quota of its own here; the zone does the
# limiting.  Every request asks the emulator for up to 100000 output
# tokens, so an answer uses all of its max_tokens and settles to exactly
# 1 + max_tokens (the emulator counts "hi" as one input token): a request
# with a large max_tokens spends a known part of the bucket, whatever the
# estimator reserved for it.  The requests that are measured ask for
# max_tokens 4096 and cost about 4100 tokens; the numbers below leave a
# margin for the estimate of their input.  With tpm=60000 the bucket
# refills by 1000 tokens a second: one token a millisecond.
#
# Both Test::Nginx and the project's runner check --- error_log after each
# request of a block, so blocks of several requests read the error log
# through /error.log, as their last request, at log level info.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Bedrock::Emulator;
use Test::Nginx::Socket;

Bedrock::Emulator::start(output_tokens => 100000);

our $MODEL = '/model/anthropic.claude-sonnet-4-20250514-v1%3A0';

# an InvokeModel body asking for max_tokens output tokens
sub invoke {
    my ($max) = @_;
    return "POST $MODEL/invoke\n"
        . '{"anthropic_version":"bedrock-2023-05-31","max_tokens":'
        . $max . ',"messages":[{"role":"user","content":"hi"}]}';
}

# a Converse body with maxTokens 4096
sub converse {
    return "POST $MODEL/converse\n"
        . '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
        . '"inferenceConfig":{"maxTokens":4096}}';
}

# every block: the log format, output tokens at 1x unless the block says
# otherwise (first match wins), the internal location, the logs to read
add_block_preprocessor(sub {
    my $block = shift;

    return if defined $block->must_die;

    $block->set_value('http_config', <<'CONF' . ($block->http_config // '')
    log_format limit '$bedrock_limit_status reserved=$bedrock_cost_reserved '
                     'settled=$bedrock_cost_settled wait=$bedrock_wait_ms '
                     'status=$status';
CONF
        . "    bedrock_limit_burndown * 1;\n");

    $block->set_value('config', ($block->config // '') . <<'CONF');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
    }

    location = /limit.log {
        alias logs/limit.log;
    }

    location = /error.log {
        alias logs/error.log;
    }
CONF
});

plan tests => 914;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a request within the quota passes at once and settles to its usage
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location /model/ {
        bedrock_limit zone=models;
        access_log logs/limit.log limit;
        add_header X-Limit $bedrock_limit_status always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), "GET /limit.log"]
--- more_headers
X-Emulator-Output-Tokens: 100000
--- error_code eval
[200, 200]
--- response_headers eval
["X-Limit: PASSED", ""]
--- response_body_like eval
[qr/"output_tokens":4096/, qr/^PASSED reserved=4[01]\d\d settled=4097 wait=0 status=200\n$/]
--- no_error_log
[error]



=== TEST 2: a request that finds the bucket short waits exactly for the deficit
The first request settles to 57001 tokens, leaving about 2999; the second
costs about 4110, so it waits about 1.1 s for the rest to refill.
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location /model/ {
        bedrock_limit zone=models delay=3s;
        access_log logs/limit.log limit;
        add_header X-Limit "$bedrock_limit_status $bedrock_wait_ms" always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- request eval
[main::invoke(57000), main::invoke(4096), "GET /limit.log", "GET /error.log"]
--- more_headers
X-Emulator-Output-Tokens: 100000
--- error_code eval
[200, 200, 200, 200]
--- response_headers_like eval
["X-Limit: PASSED 0", "X-Limit: DELAYED (?:[89]\\d\\d|1[01]\\d\\d)", "", ""]
--- response_body_like eval
[qr/"output_tokens":57000/, qr/"output_tokens":4096/,
 qr/^PASSED reserved=\d+ settled=57001 wait=0 status=200\nDELAYED reserved=4[01]\d\d settled=4097 wait=(?:[89]\d\d|1[01]\d\d) status=200\n$/,
 qr/\[warn\] [^\n]*bedrock: delaying request (?:[89]\d\d|1[01]\d\d) ms, cost 4[01]\d\d, by zone "models"/]
--- no_error_log
[error]



=== TEST 3: beyond the delay: 429 in Bedrock's shape, with a Retry-After after which the retry passes
The first request leaves 310 tokens.  Two seconds later the second lacks
about 1800 (1.8 s of refill): it is refused with Retry-After: 2, and the
same request two seconds later passes.
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        add_header X-Limit $bedrock_limit_status always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- request eval
[main::invoke(59689), main::converse(), main::converse(), "GET /error.log"]
--- more_headers
X-Emulator-Output-Tokens: 100000
--- wait: 2
--- error_code eval
[200, 429, 200, 200]
--- response_headers eval
["X-Limit: PASSED", "X-Limit: REJECTED\nRetry-After: 2\nx-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/\nContent-Type: application/json", "X-Limit: PASSED\nRetry-After:", ""]
--- response_body_like eval
[qr/"output_tokens":59689/,
 qr/^\{"message":"Too many tokens, please wait before trying again\."\}$/,
 qr/"outputTokens":4096/,
 qr/\[error\] [^\n]*bedrock: limiting tokens, cost 4[01]\d\d, by zone "models", retry in 1[0-8]\d\d ms/]



=== TEST 4: settle refunds what the answer did not use: both requests pass
Each reserves about 4110 of 7650 and settles to 101.
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=7650;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        access_log logs/limit.log limit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), main::invoke(4096), "GET /limit.log"]
--- more_headers
X-Emulator-Output-Tokens: 100
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"output_tokens":100/, qr/"output_tokens":100/,
 qr/^PASSED reserved=4[01]\d\d settled=101 wait=0 status=200\nPASSED reserved=4[01]\d\d settled=101 wait=0 status=200\n$/]



=== TEST 5: the same without the refund: the second request does not fit
Each settles to 4097: 3553 tokens are left for a request of about 4110,
which lacks about 560 (4.4 s at 127.5 a second).
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=7650;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        access_log logs/limit.log limit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), main::invoke(4096), "GET /limit.log"]
--- more_headers
X-Emulator-Output-Tokens: 4096
--- error_code eval
[200, 429, 200]
--- response_headers eval
["", "Retry-After: 5", ""]
--- response_body_like eval
[qr/"output_tokens":4096/, qr/Too many tokens/,
 qr/^PASSED reserved=4[01]\d\d settled=4097 wait=0 status=200\nREJECTED reserved=0 settled=- wait=0 status=429\n$/]



=== TEST 6: burndown: each output token of a 5x model costs five, an extra charge
1000 output tokens at 5x settle to 5001 of 9000, more than the 4110 or so
reserved: the next request lacks about 110 tokens (0.7 s at 150 a second).
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=9000;
    bedrock_limit_burndown *claude-3-haiku* 1;
    bedrock_limit_burndown *claude-sonnet-4* 5;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        access_log logs/limit.log limit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), main::invoke(4096), "GET /limit.log"]
--- more_headers
X-Emulator-Output-Tokens: 1000
--- error_code eval
[200, 429, 200]
--- response_headers eval
["", "Retry-After: 1", ""]
--- response_body_like eval
[qr/"output_tokens":1000/, qr/Too many tokens/,
 qr/^PASSED reserved=4[01]\d\d settled=5001 wait=0 status=200\nREJECTED reserved=0 settled=- wait=0 status=429\n$/]



=== TEST 7: the same at 1x: 1001 settled, the next request fits
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=9000;
    bedrock_limit_burndown *claude-sonnet-4* 1;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        access_log logs/limit.log limit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), main::invoke(4096), "GET /limit.log"]
--- more_headers
X-Emulator-Output-Tokens: 1000
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/"output_tokens":1000/, qr/"output_tokens":1000/,
 qr/^PASSED reserved=4[01]\d\d settled=1001 wait=0 status=200\nPASSED reserved=4[01]\d\d settled=1001 wait=0 status=200\n$/]



=== TEST 8: a client that leaves while it waits gives its reservation back at once
The second request waits about 1.1 s; its client leaves after 0.5 s.  The
third then lacks about 600 tokens (Retry-After: 1); had the second kept its
reservation, it would lack about 4700 (Retry-After: 5).
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location ~ /invoke$ {
        bedrock_limit zone=models delay=10s;
        access_log logs/limit.log limit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }

    location ~ /converse$ {
        bedrock_limit zone=models nodelay;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- request eval
[main::invoke(57000), main::invoke(4096), main::converse(), "GET /limit.log",
 "GET /error.log"]
--- more_headers
X-Emulator-Output-Tokens: 100000
--- timeout: 0.5
--- abort
--- error_code eval
[200, "", 429, 200, 200]
--- response_headers eval
["", "", "Retry-After: 1", "", ""]
--- response_body_like eval
[qr/"output_tokens":57000/, qr/^$/, qr/Too many tokens/,
 qr/^PASSED reserved=\d+ settled=57001 wait=0 status=200\nDELAYED reserved=4[01]\d\d settled=0 wait=[45]\d\d status=499\n$/,
 qr/\[info\] [^\n]*client prematurely closed connection[^\n]*\n[^\n]*\[info\] [^\n]*bedrock: the request ended after [45]\d\d ms of waiting for the limit: 4[01]\d\d tokens given back/]



=== TEST 9: a client that leaves during the answer leaves its reservation spent
Bedrock counted the request, whatever the client saw: giving its 4120 or
so back would let the next request in; kept, it leaves 3530 or so of 7650.
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=7650;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), main::invoke(4096)]
--- more_headers
X-Emulator-Fault: slow=1000*inf; key=t040-9
--- timeout: 0.5
--- abort
--- error_code eval
["", 429]
--- response_body_like eval
[qr/^$/, qr/Too many tokens/]



=== TEST 10: rpm: the third request of a 2-per-minute zone waits 30 s for its turn
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=1m rpm=2;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- request eval
[main::invoke(100), main::invoke(100), main::invoke(100), "GET /error.log"]
--- error_code eval
[200, 200, 429, 200]
--- response_headers eval
["", "", "Retry-After: 30\nx-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", ""]
--- response_body_like eval
[qr/"output_tokens"/, qr/"output_tokens"/,
 qr/^\{"message":"Too many requests, please wait before trying again\."\}$/,
 qr/bedrock: limiting requests, cost \d+, by zone "models", retry in 29\d\d\d ms/]



=== TEST 11: a request that costs more than a minute's worth is refused at once, naming its cost and the quota
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=4000;
--- config
    location /model/ {
        bedrock_limit zone=models delay=30s;
        add_header X-Limit $bedrock_limit_status always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
main::invoke(4096)
--- error_code: 413
--- response_headers
X-Limit: REJECTED
x-amzn-ErrorType: ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/
Retry-After:
--- response_body_like chomp
^\{"message":"This request costs 4[01]\d\d tokens \(input \d+ \+ max_tokens 4096\), more than the quota of 4000 tokens per minute \(zone \\"models\\"\): it can never be admitted\. Lower max_tokens or shorten the input\."\}$
--- error_log eval
qr/\[error\] .*bedrock: cost 4[01]\d\d is more than the 4000 tokens per minute of zone "models"/



=== TEST 12: several zones: admitted only when all admit, and a refusal takes nothing from the others
Zone "clients" (keyed by ?client=) refuses the second request; zone
"models" must not keep its reservation, or the third request, which has
no client key and so only meets "models", would not fit.
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=8300;
    bedrock_limit_zone $arg_client zone=clients:1m tpm=4200;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        bedrock_limit zone=clients nodelay;
        access_log logs/limit.log limit;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- request eval
[main::invoke(4096) =~ s{/invoke}{/invoke?client=a}r,
 main::invoke(4096) =~ s{/invoke}{/invoke?client=a}r,
 main::invoke(4096),
 "GET /limit.log", "GET /error.log"]
--- more_headers
X-Emulator-Output-Tokens: 4096
--- error_code eval
[200, 429, 200, 200, 200]
--- response_body_like eval
[qr/"output_tokens"/, qr/Too many tokens/, qr/"output_tokens"/,
 qr/^PASSED reserved=\d+ settled=4097 wait=0 status=200\nREJECTED reserved=0 settled=- wait=0 status=429\nPASSED reserved=\d+ settled=4097 wait=0 status=200\n$/,
 qr/bedrock: limiting tokens, cost \d+, by zone "clients"/]



=== TEST 13: several zones: a request waits for the one that delays while a nodelay one admitted it
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
    bedrock_limit_zone $arg_client zone=clients:1m tpm=600000;
--- config
    location /model/ {
        bedrock_limit zone=clients nodelay;
        bedrock_limit zone=models delay=3s;
        add_header X-Limit "$bedrock_limit_status $bedrock_wait_ms" always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(57000) =~ s{/invoke}{/invoke?client=a}r,
 main::invoke(4096) =~ s{/invoke}{/invoke?client=a}r]
--- more_headers
X-Emulator-Output-Tokens: 100000
--- error_code eval
[200, 200]
--- response_headers_like eval
["X-Limit: PASSED 0", "X-Limit: DELAYED (?:[89]\\d\\d|1[01]\\d\\d)"]
--- no_error_log
[error]



=== TEST 14: a full zone evicts its least recently used keys and still serves
Zone "clients" holds a hundred keys or so; 250 clients pass through it.
Client 1, which spent its bucket first, was evicted: it comes back with
a full bucket.  Client 250, used last, was not: its bucket is still short.
--- http_config
    bedrock_limit_zone $arg_client zone=clients:32k tpm=4200;
--- config
    location /model/ {
        bedrock_limit zone=clients nodelay;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- pipelined_requests eval
[(map { main::invoke(4096) =~ s{/invoke}{/invoke?client=$_}r } 1 .. 250),
 main::invoke(4096) =~ s{/invoke}{/invoke?client=1}r,
 main::invoke(4096) =~ s{/invoke}{/invoke?client=250}r,
 "GET /error.log"]
--- more_headers
X-Emulator-Output-Tokens: 1000
--- error_code eval
[(200) x 251, 429, 200]
--- response_body_like eval
[(qr/"output_tokens":1000/) x 251, qr/Too many tokens/,
 qr/\[warn\] [^\n]*bedrock: zone "clients" is full: evicted \d+ least recently used keys/]
--- no_error_log
[alert]



=== TEST 15: bedrock_limit_status and bedrock_limit_log_level
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=1m rpm=1;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        bedrock_limit_status 503;
        bedrock_limit_log_level warn;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- log_level: info
--- request eval
[main::invoke(100), main::invoke(100), "GET /error.log"]
--- error_code eval
[200, 503, 200]
--- response_headers eval
["", "Retry-After: 60\nx-amzn-ErrorType: ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", ""]
--- response_body_like eval
[qr/"output_tokens"/, qr/Too many requests/,
 qr/\[warn\] [^\n]*bedrock: limiting requests, cost \d+, by zone "models", retry in 59\d\d\d ms/]
--- no_error_log
[error]



=== TEST 16: a request with an empty key is not limited by that zone
--- http_config
    bedrock_limit_zone $http_x_client zone=clients:1m tpm=4200;
--- config
    location /model/ {
        bedrock_limit zone=clients nodelay;
        add_header X-Limit "[$bedrock_limit_status]" always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(4096), main::invoke(4096), main::invoke(4096)]
--- more_headers
X-Emulator-Output-Tokens: 4096
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Limit: []", "X-Limit: []", "X-Limit: []"]



=== TEST 17: CountTokens is free and outside the quota: it passes while the bucket is empty, and is not charged
The first request leaves about 1000 tokens; the counts pass at once and
take nothing (cost 0, nothing reserved), and a request that needs 4100
tokens is still refused after them.
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location /model/ {
        bedrock_limit zone=models nodelay;
        access_log logs/limit.log limit;
        add_header X-Limit "[$bedrock_limit_status] cost=$bedrock_cost_estimate" always;
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
    }
--- request eval
[main::invoke(59000),
 ("POST $::MODEL/count-tokens\n"
  . '{"input":{"converse":{"messages":[{"role":"user",'
  . '"content":[{"text":"hi there"}]}]}}}') x 3,
 main::invoke(4096), "GET /limit.log"]
--- more_headers
X-Emulator-Output-Tokens: 100000
--- error_code eval
[200, 200, 200, 200, 429, 200]
--- response_headers_like eval
["X-Limit: \\[PASSED\\] cost=59\\d+", ("X-Limit: \\[\\] cost=0") x 3,
 "X-Limit: \\[REJECTED\\] cost=4\\d+", ""]
--- response_body_like eval
[qr/"output_tokens":59000/, (qr/^\{"inputTokens":\d+\}$/) x 3,
 qr/Too many tokens/,
 qr/^PASSED reserved=\d+ settled=59001 wait=0 status=200\n(?:- reserved=- settled=- wait=- status=200\n){3}REJECTED reserved=0 settled=- wait=0 status=429\n$/]



=== TEST 18: bedrock_limit names a zone nobody declared
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=1000;
--- config
    location /model/ {
        bedrock_limit zone=modles;
        bedrock_pass http://127.0.0.1:1 region=us-east-1;
    }
--- must_die
--- error_log
bedrock_limit uses zone "modles", which no bedrock_limit_zone declares



=== TEST 19: bedrock_limit_zone needs tpm
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m rpm=10;
--- config
--- must_die
--- error_log
"bedrock_limit_zone" must have "tpm" parameter



=== TEST 20: bedrock_limit_zone rejects what it does not know
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=10k burst=5;
--- config
--- must_die
--- error_log
invalid parameter "burst=5"



=== TEST 21: a zone under eight pages is too small
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:4k tpm=1000;
--- config
--- must_die
--- error_log
zone "zone=models:4k" is too small



=== TEST 22: the same zone twice in one location is a duplicate
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=1000;
--- config
    location /model/ {
        bedrock_limit zone=models;
        bedrock_limit zone=models nodelay;
        bedrock_pass http://127.0.0.1:1 region=us-east-1;
    }
--- must_die
--- error_log
"bedrock_limit" directive is duplicate



=== TEST 23: a burndown rate must be a positive number
--- http_config
    bedrock_limit_burndown *claude* fast;
--- config
--- must_die
--- error_log
invalid value "fast" in "bedrock_limit_burndown" directive
