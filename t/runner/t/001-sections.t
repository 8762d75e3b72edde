# The runner's sections against a stock nginx: each block exercises one
# section the way the project's tests use it.  Runs unchanged under the
# real Test::Nginx::Socket (see t/runner/README.md).

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_GREETING} = 'hello from the environment';

repeat_each(1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: config, request, response_body, default status 200
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello



=== TEST 2: error_code and response_body_like
--- config
    location = /t {
        return 404 "not here\n";
    }
--- request
GET /t
--- error_code: 404
--- response_body_like: ^not h\w+$



=== TEST 3: response_body_unlike
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body_unlike: bye



=== TEST 4: a body after the request line gets a Content-Length and is trimmed
--- config
    location = /echo {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $content_length;
        proxy_set_header X-Method $request_method;
    }
    location = /sink {
        return 200 "$http_x_method len=$http_x_len body=[$http_x_body]\n";
    }
--- request
POST /echo
   hello, world   
--- response_body
POST len=12 body=[hello, world]



=== TEST 5: request line with a query string and HTTP/1.0
--- config
    location = /t {
        return 200 "$args $server_protocol\n";
    }
--- request
GET /t?a=1&b=2 HTTP/1.0
--- response_body
a=1&b=2 HTTP/1.0



=== TEST 6: comments before the request line
--- config
    location = /t {
        return 200 "$request_uri\n";
    }
--- request
# a comment
# another one
GET /t?x=y
--- response_body
/t?x=y



=== TEST 7: more_headers (and a Host of our own)
--- config
    location = /t {
        return 200 "$http_x_foo|$http_x_empty|$host\n";
    }
--- request
GET /t
--- more_headers
X-Foo: bar baz
X-Empty:
Host: example.com
--- response_body
bar baz||example.com



=== TEST 8: response_headers: value, empty-or-absent, and absent
--- config
    location = /t {
        add_header X-A "a value";
        add_header X-Port $server_port;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-A: a value
X-Port: $ServerPort
Content-Type: text/plain
X-Nope:
!X-Absent
--- response_body
ok



=== TEST 9: response_headers_like
--- config
    location = /t {
        add_header X-A "value 42";
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
X-A: value \d+
Server: nginx.*



=== TEST 10: several requests in one block, each with its own expectations
--- config
    location = /a {
        return 200 "A $http_x_n\n";
    }
    location = /b {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/a;
    }
    location = /c {
        return 403;
    }
--- request eval
["GET /a", "GET /b", "GET /c"]
--- more_headers eval
["X-N: 1", "X-N: 2", "X-N: 3"]
--- error_code eval
[200, 200, 403]
--- response_body_like eval
["^A 1\$", "^A 2\$", "403 Forbidden"]



=== TEST 11: several requests: response_body and response_headers arrays
--- config
    location = /a {
        add_header X-Which a;
        return 200 "A\n";
    }
    location = /b {
        add_header X-Which b;
        return 200 "B\n";
    }
--- request eval
["GET /a", "POST /b\nsome body"]
--- response_headers eval
["X-Which: a", "X-Which: b"]
--- response_body eval
["A\n", "B\n"]



=== TEST 12: pipelined_requests share one connection
--- config
    location = /a {
        return 200 "A $connection_requests\n";
    }
    location = /b {
        return 200 "B $connection_requests\n";
    }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["A 1\n", "B 2\n"]



=== TEST 13: raw_request
--- config
    location = /t {
        return 200 "$http_x_raw $server_protocol\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\nX-Raw: yes\r\n\r\n"
--- response_body
yes HTTP/1.0



=== TEST 14: raw_request in packets, with a delay between them
--- config
    location = /t {
        return 200 "$http_x_raw\n";
    }
--- raw_request eval
["GET /t HTTP/1.1\r\nHost: localhost\r\n", "X-Raw: split\r\nConnection: close\r\n\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body
split



=== TEST 15: a chunked response is decoded
--- config
    location = /t {
        sub_filter 'a' 'b';
        sub_filter_once off;
        sub_filter_types *;
        return 200 "aaa\n";
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
bbb



=== TEST 16: a HEAD request has no body
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
HEAD /t
--- response_headers
Content-Length: 6
--- response_body chomp



=== TEST 17: error_log and no_error_log, as text and as eval
--- config
    location = /t {
        root html;
    }
--- request
GET /t/missing-file-xyz
--- error_code: 404
--- error_log
missing-file-xyz
No such file or directory
--- no_error_log eval
[qr/\[(crit|alert|emerg)\]/, "there-is-no-such-line"]



=== TEST 18: error_log with an array of a regex and a string
--- config
    location = /t {
        root html;
    }
--- request
GET /t/missing-abc
--- error_code: 404
--- error_log eval
[qr/open\(\) "[^"]+missing-abc" failed/, "[error]"]
--- no_error_log
[warn]



=== TEST 19: grep_error_log and grep_error_log_out
--- config
    location = /t {
        root html;
    }
--- request
GET /t/missing-grep
--- error_code: 404
--- grep_error_log eval
qr/missing-\w+" failed \(\d+/
--- grep_error_log_out
missing-grep" failed (2



=== TEST 20: the default log level is debug
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- error_log
[debug]



=== TEST 21: log_level per block
--- log_level: warn
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- no_error_log
[debug]
[info]



=== TEST 22: must_die, and the error log holds what nginx printed
--- config
    location = /t {
        no_such_directive_here;
    }
--- must_die
--- error_log
unknown directive "no_such_directive_here"



=== TEST 23: must_die with the exit code
--- config
    location = /t {
        return 200 too many args;
    }
--- must_die: 1
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "return" directive/



=== TEST 24: main_config goes to the main context
--- main_config
    server_tokens off;
--- config
    location = /t {
        return 200;
    }
--- must_die
--- error_log
"server_tokens" directive is not allowed here



=== TEST 25: main_config, http_config and env expansion work together
--- main_config
    env TEST_NGINX_GREETING;
--- http_config
    map $uri $greeting {
        default "$TEST_NGINX_GREETING";
    }
--- config
    location = /t {
        return 200 "$greeting on $TEST_NGINX_SERVER_PORT\n";
    }
--- request
GET /t
--- response_body
hello from the environment on $TEST_NGINX_SERVER_PORT



=== TEST 26: timeout with abort: a body nginx waits for never comes
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
    }
    location = /sink {
        return 200;
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc"
--- timeout: 300ms
--- abort
--- error_code:
--- response_body:



=== TEST 27: shutdown ends the body early: nginx closes at once, no timeout
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
    }
    location = /sink {
        return 200;
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc"
--- shutdown
--- timeout: 2
--- error_code:
--- response_body:
--- error_log
client prematurely closed connection



=== TEST 28: wait before the error log is read
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- wait: 0.1
--- no_error_log
[error]



=== TEST 29: user_files as text
--- config
--- user_files
>>> hello.txt
Hello, world
>>> sub/dir/other.txt
Other
--- request
GET /sub/dir/other.txt
--- response_body
Other



=== TEST 30: user_files as a Perl array, with a date
--- config
    location = /t {
        alias html/data.txt;
    }
--- user_files eval
[["data.txt", "data\n", "200001011200.00"]]
--- request
GET /t
--- response_headers
Last-Modified: Sat, 01 Jan 2000 12:00:00 GMT
--- response_body
data



=== TEST 31: a block without config reuses the previous block's nginx
--- request
GET /t
--- response_body
data



=== TEST 32: skip_nginx skips the given number of tests
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- skip_nginx: 2: < 999.0.0
--- response_body
never checked



=== TEST 33: skip_nginx that does not apply
--- config
    location = /t {
        return 200 "ran\n";
    }
--- request
GET /t
--- skip_nginx: 2: > 999.0.0
--- response_body
ran



=== TEST 34: SKIP drops a block
--- SKIP
--- config
    location = /t {
        return 500;
    }
--- request
GET /t
--- response_body
never run



=== TEST 35: a response_body with a regex
--- config
    location = /t {
        return 200 "abc 123\n";
    }
--- request
GET /t
--- response_body eval
qr/^abc \d+$/
