# check_accum_error_log, no_long_string and no_diff.  Runs unchanged
# under the real Test::Nginx::Socket.

use Test::Nginx::Socket 'no_plan';

repeat_each(2);
check_accum_error_log();
no_long_string();
no_diff();
run_tests();

__DATA__

=== TEST 1: with check_accum_error_log each round sees all the lines so far
--- config
    location = /gone {
        root html;
    }
--- request
GET /gone
--- error_code: 404
--- grep_error_log eval
qr/"[^"]*gone" failed/
--- grep_error_log_out eval
[qq{"$ENV{TEST_NGINX_SERVER_ROOT}/html/gone" failed\n},
 qq{"$ENV{TEST_NGINX_SERVER_ROOT}/html/gone" failed\n} x 2]
--- response_body_like: 404 Not Found
