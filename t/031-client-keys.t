# Gateway-issued client keys: requests signed by botocore's SigV4Auth (an
# implementation that is not ours) for the gateway's host are admitted;
# wrong, missing or stale signatures get AWS's own 403 answers.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;

Bedrock::Emulator::start();

our $BODY = '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}';
our $PATH = '/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse';

# the headers botocore signs for the gateway, as an SDK would send them
sub signed {
    my ($key, $secret, %opt) = @_;
    my $body = $opt{body} // $BODY;
    my @args = ($key, $secret, 'gateway.test', $PATH, $body);
    push @args, '--skew', $opt{skew} if $opt{skew};
    my $out = `/usr/bin/python3 t/lib/sigv4_client.py @{[map { "'$_'" } @args]}`;
    die "sigv4_client.py failed" if $? != 0;
    return "Host: gateway.test\nContent-Type: application/json\n$out";
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
    }
_EOC_

    $block->set_value("user_files", <<'_EOF_') unless $block->user_files;
>>> client-keys
# issued by the gateway: KEY_ID SECRET [NAME]
GWKEY1EXAMPLE   gw-secret-one   team-a
GWKEY2EXAMPLE   gw-secret-two
_EOF_
});

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a request signed with an issued key passes, and the client is named
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
        add_header X-Client $bedrock_client;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed('GWKEY1EXAMPLE', 'gw-secret-one')
--- response_headers
X-Client: team-a
--- response_body_like: "stopReason":"end_turn"
--- no_error_log
[error]
rejected



=== TEST 2: a key without a name is named by its id
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
        add_header X-Client $bedrock_client;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed('GWKEY2EXAMPLE', 'gw-secret-two')
--- response_headers
X-Client: GWKEY2EXAMPLE



=== TEST 3: no signature: MissingAuthenticationTokenException
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: MissingAuthenticationTokenException:.*
--- response_body_like: ^\{"message":"Missing Authentication Token"\}$



=== TEST 4: a key the gateway did not issue: UnrecognizedClientException
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed('AKIAOTHERKEY', 'gw-secret-one')
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: UnrecognizedClientException:.*
--- response_body_like: ^\{"message":"The security token included in the request is invalid."\}$
--- error_log
bedrock: client signature rejected



=== TEST 5: the wrong secret: InvalidSignatureException
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed('GWKEY1EXAMPLE', 'gw-secret-two')
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*
--- response_body_like: The request signature we calculated does not match the signature you provided



=== TEST 6: a body other than the one signed: InvalidSignatureException
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed('GWKEY1EXAMPLE', 'gw-secret-one',
             body => '{"messages":[{"role":"user","content":[{"text":"Bye"}]}]}')
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*



=== TEST 7: a signature more than 5 minutes old: Signature expired
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- request eval
"POST $::PATH\n$::BODY"
--- more_headers eval
main::signed('GWKEY1EXAMPLE', 'gw-secret-one', skew => -600)
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*
--- response_body_like: ^\{"message":"Signature expired: \d{8}T\d{6}Z is now earlier than



=== TEST 8: a key file line without a secret is refused at nginx -t, secret-free
--- user_files
>>> client-keys
GWKEY1EXAMPLE gw-secret-one team-a
GWKEY3EXAMPLE
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
--- must_die
--- error_log
invalid line 2 in
--- no_error_log
gw-secret-one
