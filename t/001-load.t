# The module builds and loads into nginx; its directives are checked when
# the configuration is read (nginx -t), with messages that name the fault.

use Test::Nginx::Socket 'no_plan';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the module loads and a bedrock_pass location is accepted
--- config
    location /model/ {
        bedrock_pass https://bedrock-runtime.us-east-1.amazonaws.com;
    }
    location = /t {
        return 200 "loaded\n";
    }
--- request
GET /t
--- response_body
loaded
--- no_error_log
[error]
[emerg]



=== TEST 2: the region is read from AWS host names, FIPS and VPC endpoints included
--- config
    location /a/ {
        bedrock_pass https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com
                     https://vpce-0a1b2c3d.bedrock-runtime.eu-west-1.vpce.amazonaws.com;
    }
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok



=== TEST 3: a URL without a scheme is refused at nginx -t
--- config
    location /model/ {
        bedrock_pass bedrock-runtime.us-east-1.amazonaws.com;
    }
--- must_die
--- error_log
invalid URL "bedrock-runtime.us-east-1.amazonaws.com" in "bedrock_pass": it must start with http:// or https://



=== TEST 4: a host that names no region needs region=
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000;
    }
--- must_die
--- error_log
no region for "http://127.0.0.1:9000": add region=



=== TEST 5: each target gets its region; one without it is refused
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000 region=us-east-1 http://127.0.0.1:9001;
    }
--- must_die
--- error_log
no region for "http://127.0.0.1:9001": add region=



=== TEST 6: a URL with a path is refused
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000/model region=us-east-1;
    }
--- must_die
--- error_log
URL "http://127.0.0.1:9000/model" in "bedrock_pass" must have no path



=== TEST 7: bedrock_pass twice in one location is a duplicate
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000 region=us-east-1;
        bedrock_pass http://127.0.0.1:9001 region=us-east-1;
    }
--- must_die
--- error_log
"bedrock_pass" directive is duplicate



=== TEST 8: bedrock_retry parameters are checked
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000 region=us-east-1;
        bedrock_retry attempts=3 base=fast;
    }
--- must_die
--- error_log
invalid parameter "base=fast"



=== TEST 9: bedrock_retry_on knows Bedrock's error types
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000 region=us-east-1;
        bedrock_retry_on ThrottlingException ValidationExeption;
    }
--- must_die
--- error_log
invalid value "ValidationExeption" in "bedrock_retry_on" directive



=== TEST 10: bedrock_credentials env reports missing variables at nginx -t
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:9000 region=us-east-1;
        bedrock_credentials env;
    }
--- must_die
--- error_log
"bedrock_credentials env": neither AWS_ACCESS_KEY_ID with AWS_SECRET_ACCESS_KEY nor AWS_BEARER_TOKEN_BEDROCK is set
