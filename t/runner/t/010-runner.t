# The runner seen from outside: each fixture below is a test file written
# to a temporary directory and run by a child perl with the same
# Test::Nginx::Socket as this test (the project's runner, or the real one
# when run with -I /path/to/test-nginx/lib).  It shows that every check
# can fail, that ONLY, LAST and SKIP choose blocks, that test counts are
# exact (a fixed plan), and what the environment variables do.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(time sleep);

my ($lib) = map { abs_path($_) } grep { -f "$_/Test/Nginx/Socket.pm" } @INC
    or plan skip_all => 'no Test/Nginx/Socket.pm in @INC (prove -I t/runner)';
my $real = do { local (@ARGV, $/) = "$lib/Test/Nginx/Socket.pm"; <> }
           !~ /^# A small runner for test files/m;
my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';

note($real ? "the real Test::Nginx in $lib" : "the project's runner in $lib");

# The real Test::Nginx writes "http2 on;" for nginx 1.19.9 to 1.25.0,
# which do not know it (see 004-http2.t); harmless for this runner.
my $h2_workaround = <<'PERL';
add_block_preprocessor(sub {
    $Test::Nginx::Util::NginxVersion = '1.019008'
        if ($Test::Nginx::Util::NginxVersion // 0) >= 1.019009
           && $Test::Nginx::Util::NginxVersion < 1.025001;
});
PERL

# Runs a fixture; gives its output, exit status, time, and the names of
# its passing and failing tests (without "t/fixture.t TEST ").
sub run_fixture {
    my ($text, %env) = @_;
    my $dir = tempdir(CLEANUP => 1);
    my $files = delete $env{files} || {};

    mkdir "$dir/t" or die;
    $files->{'t/fixture.t'} = $text;
    for my $name (keys %$files) {
        open my $out, '>', "$dir/$name" or die;
        print $out $files->{$name};
        close $out;
    }

    local %ENV = %ENV;
    delete $ENV{$_} for grep { /^TEST_NGINX_/ && $_ ne 'TEST_NGINX_BINARY' }
                        keys %ENV;
    $ENV{$_} = $env{$_} for keys %env;

    my $start = time;
    my $output = `cd '$dir' && '$^X' -I'$lib' t/fixture.t 2>&1`;
    my %r = (out => $output, status => $? >> 8, secs => time - $start,
             dir => $dir, ok => {}, not_ok => {});

    while ($output =~ /^(not )?ok \d+ (?:- |# skip )(?:t\/fixture\.t TEST )?(.*?)\s*$/mg) {
        $r{$1 ? 'not_ok' : 'ok'}{$2}++;
    }
    return \%r;
}

sub slurp {
    open my $in, '<', $_[0] or return '';
    local $/;
    return <$in>;
}

# -- every check can fail --------------------------------------------------

my $r = run_fixture(<<"T");
use Test::Nginx::Socket 'no_plan';
no_shuffle();
$h2_workaround
run_tests();
__DATA__

=== TEST 1: status
--- config
location = /t { add_header X-A a; return 200 "ok\\n"; }
--- request
GET /t
--- error_code: 201
--- response_body
ok

=== TEST 2: body
--- request
GET /t
--- response_body
nope

=== TEST 3: body_like
--- request
GET /t
--- response_body_like: ^nope\$

=== TEST 4: body_unlike
--- request
GET /t
--- response_body_unlike: ok

=== TEST 5: header value
--- request
GET /t
--- response_headers
X-A: b

=== TEST 6: header absent
--- request
GET /t
--- response_headers
!X-A

=== TEST 7: header empty or absent
--- request
GET /t
--- response_headers
X-A:

=== TEST 8: header like
--- request
GET /t
--- response_headers_like
X-A: b+

=== TEST 9: error_log
--- config
location = /t { root html; }
--- request
GET /t/aaa-missing
--- error_code: 404
--- error_log
no-such-line-in-the-log

=== TEST 10: no_error_log, and the log is per block
--- config
location = /t { root html; }
--- request
GET /t/bbb-missing
--- error_code: 404
--- log_level: error
--- no_error_log eval
["bbb-missing", "aaa-missing"]

=== TEST 11: grep_error_log_out
--- config
location = /t { root html; }
--- request
GET /t/ccc-missing
--- error_code: 404
--- grep_error_log eval
qr/\\w+-missing/
--- grep_error_log_out
ddd-missing

=== TEST 12: must_die
--- config
location = /t { return 200; }
--- must_die

=== TEST 13: must_die code
--- config
location = /t { return 200 a b c; }
--- must_die: 2

=== TEST 14: timeout
--- config
location = /t { proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/s; }
location = /s { return 200; }
--- raw_request eval
"POST /t HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 9\\r\\nConnection: close\\r\\n\\r\\nabc"
--- timeout: 0.2
--- error_code:

=== TEST 15: second of two requests
--- config
location = /a { return 200 "a\\n"; }
location = /b { return 404 "b\\n"; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\\\$", "^nope\\\$"]

=== TEST 16: http2 body
--- http2
--- config
location = /t { return 200 "h2\\n"; }
--- request
GET /t
--- response_body
nope
T

my @failing = (
    '1: status - status code ok',
    '2: body - response_body - response is expected (repeated req 0, req 0)',
    '3: body_like - response_body_like - response is expected (ok)',
    '4: body_unlike - response_body_unlike - response is expected (ok)',
    '5: header value - header X-A ok',
    '6: header absent - header X-A not present in the raw headers',
    '7: header empty or absent - header X-A ok',
    '8: header like - header X-A like ok',
    '9: error_log - pattern "no-such-line-in-the-log" should match a line '
        . 'in error.log (req 0)',
    '11: grep_error_log_out - grep_error_log_out (req 0)',
    '12: must_die - die as expected',
    '13: must_die code - die with the expected exit code',
    'ERROR: client socket timed out - t/fixture.t TEST 14: timeout',
    '15: second of two requests - response_body_like - response is expected '
        . '(b)',
    '16: http2 body - response_body - response is expected (repeated req 0, '
        . 'req 0)',
);
my @passing = (
    '1: status - response_body - response is expected (repeated req 0, req 0)',
    '9: error_log - status code ok',
    '10: no_error_log, and the log is per block - pattern "aaa-missing" does '
        . 'not match a line in error.log (req 0)',
    '15: second of two requests - response_body_like - response is expected '
        . '(a)',
    '16: http2 body - status code ok',
);

ok($r->{not_ok}{$_}, "a failing check fails: $_") for @failing;
ok($r->{ok}{$_}, "a check that holds passes: $_") for @passing;
ok((grep { /^10: .*"bbb-missing" should not match any line in error.log but matches line "/ }
    keys %{ $r->{not_ok} }), 'no_error_log fails on a line that matches');
is(scalar(keys %{ $r->{not_ok} }), @failing + 1, 'nothing else fails')
    or diag(join "\n", sort keys %{ $r->{not_ok} });
# the real one calls no_ending(1) after a client timeout, so its exit
# status stays 0 (prove still counts the "not ok" lines)
isnt($r->{status}, 0, 'the fixture exits non-zero') unless $real;
like($r->{out}, qr/^#\s+length: \d+$/m, 'strings are compared with is_string');

# -- ONLY, LAST, SKIP ------------------------------------------------------

my $blocks = <<'T';
=== TEST 1: first
--- config
location = /t { return 200 "t\n"; }
--- request
GET /t
--- response_body
t

=== TEST 2: second
--- config
location = /t { return 200 "t\n"; }
--- request
GET /t
--- response_body
t
__MARK__

=== TEST 3: third
--- config
location = /t { return 200 "t\n"; }
--- request
GET /t
--- response_body
wrong
T
my $head = "use Test::Nginx::Socket 'no_plan';\nno_shuffle();\nrun_tests();\n"
           . "__DATA__\n";

(my $only = $blocks) =~ s/__MARK__/--- ONLY/;
$r = run_fixture($head . $only);
is_deeply([sort keys %{ $r->{ok} }],
          ['2: second - response_body - response is expected (repeated req 0, '
           . 'req 0)', '2: second - status code ok'], '--- ONLY runs one block');
is($r->{status}, 0, '--- ONLY: the failing block is not run');

(my $last = $blocks) =~ s/__MARK__/--- LAST/;
$r = run_fixture($head . $last);
is(scalar(keys %{ $r->{ok} }), 4, '--- LAST: the blocks up to it run');
is($r->{status}, 0, '--- LAST: the blocks after it do not');

(my $skip = $blocks) =~ s/__MARK__//;
$skip =~ s/(=== TEST 3: third\n)/$1--- SKIP\n/;
$r = run_fixture($head . $skip);
is_deeply([scalar(keys %{ $r->{ok} }), $r->{status}], [4, 0],
          '--- SKIP: the block is not run');

# -- exact test counts: a fixed plan ---------------------------------------

$r = run_fixture(<<'T');
use Test::Nginx::Socket;
repeat_each(2);
no_shuffle();
plan tests => repeat_each() * (2 + 6 + 3 + 6 + 5 + 3);
run_tests();
__DATA__

=== TEST 1: status and body: 2
--- config
location = /t { add_header X-A a; return 200 "t\n"; }
--- request
GET /t
--- response_body
t

=== TEST 2: two requests, a log pattern checked after each: 6
--- request eval
["GET /t", "GET /t"]
--- response_body eval
["t\n", "t\n"]
--- error_log
[debug]

=== TEST 3: must_die and two log patterns: 3
--- config
location = /t { no_such_directive; }
--- must_die
--- error_log
no_such_directive
[emerg]

=== TEST 4: two pipelined requests, a log pattern after each: 6
--- config
location = /t { return 200 "t\n"; }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["t\n", "t\n"]
--- no_error_log
[error]

=== TEST 5: three headers, status and body: 5
--- config
location = /t { add_header X-A a; return 200 "t\n"; }
--- request
GET /t
--- response_headers
X-A: a
!X-B
X-C:
--- response_body
t

=== TEST 6: skipped tests count: 3
--- config
location = /t { return 200; }
--- request
GET /t
--- skip_nginx: 3: > 0.0.1
T
is($r->{status}, 0, 'a fixed plan matches the tests run')
    or diag($r->{out});
is(scalar(keys %{ $r->{not_ok} }), 0, 'and they pass');

# -- environment -----------------------------------------------------------

# A one-block fixture whose response is "PORT PROTOCOL", checked with
# the given response_body_like pattern.
sub simple {
    my ($like, $more) = @_;

    return "use Test::Nginx::Socket 'no_plan';\n" . ($more // '')
        . "run_tests();\n__DATA__\n=== TEST 1: port and protocol\n"
        . "--- config\nlocation = /t { return 200 "
        . "\"\$server_port \$server_protocol\\n\"; }\n"
        . "--- request\nGET /t\n--- response_body_like: $like\n";
}

my $sr = tempdir(CLEANUP => 1) . '/servroot';
$r = run_fixture(simple('^1990 HTTP/1.1$'), TEST_NGINX_MASTER_PROCESS => 'on',
                 TEST_NGINX_LOG_LEVEL => 'warn', TEST_NGINX_PORT => 1990,
                 TEST_NGINX_SERVROOT => $sr);
my $conf = slurp("$sr/conf/nginx.conf");
is($r->{status}, 0, 'TEST_NGINX_PORT=1990: the request goes to port 1990');
like($conf, qr/^master_process on;$/m, 'TEST_NGINX_MASTER_PROCESS=on');
like($conf, qr/^error_log \Q$sr\E\/logs\/error.log warn;$/m,
     'TEST_NGINX_LOG_LEVEL=warn, TEST_NGINX_SERVROOT');
like($conf, qr/^\s+listen\s+1990;$/m, 'TEST_NGINX_PORT=1990 in nginx.conf');
ok(!-e "$sr/logs/nginx.pid", 'nginx is stopped at the end');

$r = run_fixture(simple('HTTP'), TEST_NGINX_NO_CLEAN => 1);
my $pid = slurp("$r->{dir}/t/servroot/logs/nginx.pid") =~ /^(\d+)/ ? $1 : 0;
ok($pid && kill(0, $pid), 'TEST_NGINX_NO_CLEAN=1 leaves nginx running');
if ($pid && slurp("/proc/$pid/cmdline") =~ /nginx/) {
    kill 'QUIT', $pid;
    for (1 .. 300) {
        last unless kill(0, $pid) && slurp("/proc/$pid/stat") !~ /\)\s+Z\s/;
        sleep 0.01;
    }
}

$r = run_fixture(simple('^(?!1984 )\d+ HTTP'), TEST_NGINX_RANDOMIZE => 1);
is($r->{status}, 0, 'TEST_NGINX_RANDOMIZE=1: a port other than 1984');
ok(!glob("$r->{dir}/t/servroot*"), 'and its t/servroot_PORT is removed');

$r = run_fixture(simple('^\d+ HTTP/2.0$', $h2_workaround) . <<'T',
=== TEST 2: raw requests stay on HTTP/1.1
--- config
location = /t { return 200 "$server_protocol\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
--- response_body
HTTP/1.1
T
                 TEST_NGINX_USE_HTTP2 => 1);
is($r->{status}, 0, 'TEST_NGINX_USE_HTTP2=1 sends requests over HTTP/2')
    or diag($r->{out});

# -- valgrind --------------------------------------------------------------

SKIP: {
    skip 'no valgrind or cc', 3
        unless `which valgrind cc 2>/dev/null` =~ /valgrind.*\n.*cc/s;

    # nginx itself does not free some memory at exit: suppressed as a
    # project would in its valgrind.suppress
    my $suppress = join '', map { <<"S" } qw(single master);
{
   nginx-$_-exit
   Memcheck:Leak
   match-leak-kinds: definite
   fun:malloc
   fun:ngx_alloc
   ...
   fun:ngx_${_}_process_cycle
}
S
    my $leak = tempdir(CLEANUP => 1);
    open my $c, '>', "$leak/leak.c" or die;
    print $c "#include <stdlib.h>\nstatic void __attribute__((constructor))\n"
             . "leak(void) { volatile char *p = malloc(4242); p[0] = 1; }\n";
    close $c;
    system('cc', '-shared', '-fPIC', '-o', "$leak/leak.so", "$leak/leak.c") == 0
        or die "cc failed";

    my %vg = (TEST_NGINX_USE_VALGRIND => 1,
              files => { 'valgrind.suppress' => $suppress });
    $r = run_fixture(simple('HTTP'), %vg);
    is($r->{status}, 0, 'TEST_NGINX_USE_VALGRIND=1: a clean block passes')
        or diag($r->{out});

    skip 'the real Test::Nginx only prints what valgrind reports', 2 if $real;
    $r = run_fixture(simple('HTTP'), %vg, LD_PRELOAD => "$leak/leak.so");
    ok($r->{not_ok}{'1: port and protocol - valgrind reported errors or leaks'},
       'TEST_NGINX_USE_VALGRIND=1: a definite leak fails the block');
    like($r->{out}, qr/4,242 bytes in 1 blocks are definitely lost/,
         'and the report is shown');
}

# -- timing, wait, and a config nginx rejects ------------------------------

my $many = "use Test::Nginx::Socket 'no_plan';\nrun_tests();\n__DATA__\n"
    . join '', map { <<"T" } 1 .. 10;
=== TEST $_: block $_
--- config
location = /t { return 200 "$_\\n"; }
--- request
GET /t
--- response_body
$_
T
$r = run_fixture($many);
is($r->{status}, 0, 'ten blocks, ten nginx restarts');
note(sprintf 'ten blocks took %.2f s', $r->{secs});
ok($r->{secs} < 5, 'ten blocks take less than 5 s') unless $real;

$r = run_fixture(simple('HTTP') . "--- wait: 1\n");
ok($r->{status} == 0 && $r->{secs} >= 1, '--- wait: 1 waits a second');

SKIP: {
    skip 'the real Test::Nginx retries a dead nginx for 40 s', 3 if $real;
    # block 1's nginx is killed after it; block 2 has no config, so it
    # finds no nginx
    $r = run_fixture(simple('HTTP', <<'PERL') . "\n=== TEST 2: gone\n"
add_test_cleanup_handler(sub {
    open my $in, '<', server_root() . '/logs/nginx.pid' or die;
    my $pid = 0 + <$in>;
    kill 'KILL', $pid;
    select undef, undef, undef, 0.01
        while kill(0, $pid) && `cat /proc/$pid/stat` !~ /\)\s+Z\s/;
});
no_shuffle();
PERL
        . "--- request\nGET /t\n--- response_body_like: HTTP\n");
    ok($r->{not_ok}{"2: gone - Can't connect to 127.0.0.1:1984: Connection "
                    . 'refused (aborted)'}, 'a dead nginx fails the request');
    like($r->{out}, qr/TEST 2: gone - nginx is gone; its error log ends with:/,
         'with the end of its error log');
    ok($r->{secs} < 3, 'at once');
}

SKIP: {
    skip 'the real Test::Nginx retries a bad config for 30 s', 2 if $real;
    $r = run_fixture(simple('HTTP') =~ s/return 200/retrun 200/r);
    like($r->{out}, qr/Bail out!.*Cannot start nginx/,
         'a config nginx rejects ends the run');
    ok($r->{secs} < 3, 'at once');
}

done_testing();
