# The runner's Perl API: repeat_each, workers, master_on, log_level,
# worker_connections, env_to_nginx, add_block_preprocessor,
# no_root_location, server_root/html_dir/server_port, and the nginx.conf
# they produce.  Runs unchanged under the real Test::Nginx::Socket.

use Test::Nginx::Socket;

repeat_each(2);
workers(2);
master_on();
log_level('info');
worker_connections(100);
env_to_nginx('TEST_RUNNER_X=1');
no_root_location();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value(config => <<'CONF');
    location / {
        return 200 "default config for $uri\n";
    }
CONF
    }
});

# 2 rounds of: status + body (TEST 1), status + grep (TEST 2),
# status + 2 log patterns (TEST 3); then the checks below
plan tests => repeat_each() * (2 + 2 + 3) + 11;

run_tests();

my $root = server_root();
my $conf = do { local $/; open my $in, '<', "$root/conf/nginx.conf" or die; <$in> };
my $port = server_port();

like($conf, qr/^worker_processes\s+2;$/m, 'workers(2) sets worker_processes');
like($conf, qr/^master_process on;$/m, 'master_on() sets master_process on');
like($conf, qr/^daemon on;$/m, 'nginx runs as a daemon');
like($conf, qr/^error_log \Q$root\E\/logs\/error.log info;$/m,
     'log_level() sets the level of the error log');
like($conf, qr/^env TEST_RUNNER_X=1;$/m, 'env_to_nginx() adds an env line');
like($conf, qr/^pid\s+\Q$root\E\/logs\/nginx.pid;$/m, 'the pid file is in logs/');
like($conf, qr/^\s+worker_connections\s+100;$/m, 'worker_connections()');
like($conf, qr/^\s+listen\s+\Q$port\E;$/m, 'the server listens on server_port()');
unlike($conf, qr/^\s+root \Q$root\E\/html;/m,
       'no_root_location() leaves out the location / of the runner');
is(html_dir(), "$root/html", 'html_dir() is under server_root()');
is($ENV{TEST_NGINX_SERVER_PORT}, $port, 'TEST_NGINX_SERVER_PORT is set');

__DATA__

=== TEST 1: a block preprocessor gives the config, no_root_location lets it own /
--- request
GET /x
--- response_body
default config for /x



=== TEST 2: two workers under a master; each round sees only its own log lines
--- config
    location / {
        return 200;
    }
--- request
GET /
--- grep_error_log eval
qr/start worker process(?= \d)/
--- grep_error_log_out eval
["start worker process\nstart worker process\n", ""]



=== TEST 3: log_level('info') keeps info lines, drops debug ones
--- config
    location / {
        root html;
    }
--- request
GET /nothing-here
--- error_code: 404
--- error_log
[error]
--- no_error_log
[debug]
