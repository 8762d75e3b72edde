# TEST_NGINX_LOAD_MODULES, post_main_config and $TEST_NGINX_RAND_PORT_N,
# with Debian's dynamic stream module: an HTTP request goes through a
# stream proxy configured after the http {} block and comes back.

use strict;
use warnings;

my $stream;

BEGIN {
    $stream = '/usr/lib/nginx/modules/ngx_stream_module.so';
    $ENV{TEST_NGINX_LOAD_MODULES} = join ' ', grep { $_ }
        $ENV{TEST_NGINX_LOAD_MODULES}, $stream;
}

use Test::Nginx::Socket;

plan skip_all => "no $stream (Debian: libnginx-mod-stream)" unless -f $stream;
plan tests => 2;

run_tests();

__DATA__

=== TEST 1: through a stream proxy and back
--- post_main_config
stream {
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_pass 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
}
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back;
    }
    location = /back {
        return 200 "came back via $remote_addr\n";
    }
--- request
GET /t
--- response_body
came back via 127.0.0.1
