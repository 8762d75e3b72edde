# "--- http2": the request goes over cleartext HTTP/2 (curl
# --http2-prior-knowledge) to a server listening with http2.

use Test::Nginx::Socket 'no_plan';

# The real Test::Nginx::Socket writes "http2 on;" for nginx >= 1.19.9,
# a directive that exists only from nginx 1.25.1; posing as 1.19.8 makes
# it write "listen PORT http2" instead.  This runner writes the same for
# both versions, so the preprocessor changes nothing here.
add_block_preprocessor(sub {
    $Test::Nginx::Util::NginxVersion = '1.019008'
        if ($Test::Nginx::Util::NginxVersion // 0) >= 1.019009
           && $Test::Nginx::Util::NginxVersion < 1.025001;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: GET over HTTP/2
--- http2
--- config
    location = /t {
        add_header X-Proto $server_protocol;
        return 200 "proto=$server_protocol host=$host\n";
    }
--- request
GET /t
--- response_headers
X-Proto: HTTP/2.0
--- response_body
proto=HTTP/2.0 host=localhost



=== TEST 2: POST with a body and a header over HTTP/2
--- http2
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/sink;
        proxy_set_header X-Body $request_body;
    }
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location = /sink {
            return 200 "$request_method $http_x_body $http_content_length $http_x_foo\n";
        }
    }
--- more_headers
X-Foo: bar
--- request
POST /t
{"a":1}
--- response_body
POST {"a":1} 7 bar



=== TEST 3: the status code over HTTP/2
--- http2
--- config
    location = /t {
        return 418;
    }
--- request
GET /t
--- error_code: 418
