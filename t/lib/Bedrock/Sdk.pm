package Bedrock::Sdk;

# Real AWS SDKs pointed at the gateway, for Test::Nginx files.
#
#     use Bedrock::Sdk;
#     my $why = Bedrock::Sdk::setup(js => 1);    # undef when ready
#     plan skip_all => $why if $why;
#
# setup() prepares, once per test file:
#
# - a test CA and a server certificate for "gateway.test", "localhost"
#   and 127.0.0.1, made with openssl at run time in a temporary directory
#   ($ENV{TEST_NGINX_CERT_DIR}: ca.pem, server.pem, server.key);
# - with js => 1 or boto3 => 1: the npm packages pinned in
#   t/lib/sdk/package-lock.json, installed with "npm ci" into
#   build/sdk/ (BEDROCK_BUILD, else ./build) and reinstalled only when the
#   lock file changes;
# - with boto3 => 1: botocore's model of bedrock-runtime, written from
#   the one the AWS SDK for JavaScript v2 ships (Debian's botocore 1.29
#   predates the service), in build/sdk/models/ (AWS_DATA_PATH);
# - the driver (t/lib/sdk/driver.mjs), a small HTTP server on a free
#   loopback port ($ENV{TEST_NGINX_SDK_PORT}) that runs SDK calls and
#   curl on request, so that a test block reaches it through nginx:
#
#       location /_sdk/ { proxy_pass http://127.0.0.1:$TEST_NGINX_SDK_PORT/; }
#
# It picks free ports for the gateway's own listeners too (see gateway()):
# $ENV{TEST_NGINX_H1_PORT} (HTTP/1.1), $ENV{TEST_NGINX_H2_PORT} (cleartext
# HTTP/2) and $ENV{TEST_NGINX_TLS_PORT} (HTTP/2 and HTTP/1.1 over TLS).
#
# setup() returns undef when everything asked for is ready, else why not
# (npm unreachable, no python3-boto3, no node): the file then skips with
# that reason.  The driver stops with the process that started it.

use strict;
use warnings;

use Cwd qw(abs_path getcwd);
use Digest::SHA qw(sha256_hex);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our $DIR = abs_path(dirname(__FILE__) . '/../sdk');
our $PYTHON = '/usr/bin/python3';

my ($pid, $owner, $tmp, %ready);

sub build_dir {
    my $build = $ENV{BEDROCK_BUILD} || getcwd() . '/build';
    return "$build/sdk";
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub _spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "Bedrock::Sdk: cannot write $file: $!";
    print $fh $text;
    close $fh or die "Bedrock::Sdk: cannot write $file: $!";
}

# runs a command, returns (exit status, stdout and stderr together)
sub _run {
    my (@cmd) = @_;

    my $out = "$tmp/run.out";
    my $child = fork();
    die "Bedrock::Sdk: fork failed: $!" unless defined $child;

    if ($child == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec(@cmd) or print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }

    waitpid($child, 0);
    return ($? >> 8, _slurp($out));
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "Bedrock::Sdk: no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# a CA and a certificate it signed, for the TLS listeners
sub make_certs {
    my ($dir) = @_;

    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
              '-nodes');

    _spew("$dir/server.ext",
          "basicConstraints=CA:FALSE\n"
          . "keyUsage=digitalSignature,keyEncipherment\n"
          . "extendedKeyUsage=serverAuth\n"
          . "subjectAltName=DNS:gateway.test,DNS:localhost,IP:127.0.0.1\n");

    for my $cmd (
        ['openssl', 'req', '-x509', @ec, '-keyout', "$dir/ca.key",
         '-out', "$dir/ca.pem", '-days', '2', '-subj',
         '/CN=ngx_bedrock test CA'],
        ['openssl', 'req', @ec, '-keyout', "$dir/server.key",
         '-out', "$dir/server.csr", '-subj', '/CN=gateway.test'],
        ['openssl', 'x509', '-req', '-in', "$dir/server.csr",
         '-CA', "$dir/ca.pem", '-CAkey', "$dir/ca.key", '-CAcreateserial',
         '-out', "$dir/server.pem", '-days', '2',
         '-extfile', "$dir/server.ext"])
    {
        my ($rc, $out) = _run(@$cmd);
        return "openssl failed: @$cmd[0..1]: $out" if $rc != 0;
    }

    return undef;
}

# npm ci of the pinned packages into build/sdk, once per lock file
sub install_packages {
    my $dir = build_dir();
    my $lock = _slurp("$DIR/package-lock.json");
    my $stamp = sha256_hex($lock . _slurp("$DIR/package.json"));

    make_path($dir);

    open my $lk, '>', "$dir/.lock" or die "Bedrock::Sdk: $dir/.lock: $!";
    flock($lk, LOCK_EX);

    if (_slurp("$dir/.installed") eq $stamp
        && -d "$dir/node_modules/\@aws-sdk/client-bedrock-runtime")
    {
        return undef;
    }

    unlink "$dir/.installed";

    for my $f (qw(package.json package-lock.json)) {
        _spew("$dir/$f", _slurp("$DIR/$f"));
    }

    my $t0 = time;
    my ($rc, $out) = _run('npm', 'ci', '--prefix', $dir, '--no-audit',
                          '--no-fund', '--ignore-scripts',
                          '--fetch-retries=1', '--fetch-timeout=60000',
                          '--fetch-retry-mintimeout=1000',
                          '--fetch-retry-maxtimeout=3000');

    if ($rc != 0) {
        my @why = grep { /code|errno|request to|network|ETARGET|E404/i }
                  split /\n/, $out;
        @why = (split /\n/, $out)[-2 .. -1] unless @why;
        return "npm ci failed (is the npm registry reachable?): "
               . join(' / ', grep { defined } @why[0 .. ($#why > 2 ? 2 : $#why)]);
    }

    Test::More::diag(sprintf("Bedrock::Sdk: npm ci into %s took %.1f s",
                             $dir, time - $t0))
        if defined &Test::More::diag;

    _spew("$dir/.installed", $stamp);
    return undef;
}

# botocore's bedrock-runtime model, from the JS SDK v2's copy
sub make_boto3_model {
    my $dir = build_dir();
    my $src = "$dir/node_modules/aws-sdk/apis/bedrock-runtime-2023-09-30.min.json";
    my $out = "$dir/models/bedrock-runtime/2023-09-30/service-2.json";

    return "no $src" unless -f $src;

    my ($rc, $text) = _run($PYTHON, '-c', 'import boto3');
    return "boto3 is not installed for $PYTHON (Debian: python3-boto3)"
        if $rc != 0;

    return undef if -s $out && (stat $out)[9] >= (stat $src)[9];

    make_path(dirname($out));
    ($rc, $text) = _run($PYTHON, "$DIR/botocore_model.py", $src, $out);
    return "botocore_model.py failed: $text" if $rc != 0;

    return undef;
}

sub setup {
    my (%want) = @_;

    return 'no node (Debian: nodejs)' if system('node --version >/dev/null 2>&1');
    return 'no openssl' if system('openssl version >/dev/null 2>&1');

    $tmp = tempdir('bedrock-sdk-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    my $why = make_certs($tmp);
    return $why if $why;

    $ENV{TEST_NGINX_CERT_DIR} = $tmp;
    $ENV{TEST_NGINX_H1_PORT} //= free_port();
    $ENV{TEST_NGINX_H2_PORT} //= free_port();
    $ENV{TEST_NGINX_TLS_PORT} //= free_port();

    if ($want{js} || $want{boto3}) {
        $why = install_packages();
        return $why if $why;
        $ready{js} = 1;
    }

    if ($want{boto3}) {
        $why = make_boto3_model();
        return $why if $why;
        $ready{boto3} = 1;
    }

    return start_driver();
}

sub start_driver {
    my $port_file = "$tmp/driver.port";
    my $log = "$tmp/driver.log";
    my @cmd = ('node', "$DIR/driver.mjs", '--port-file', $port_file,
               '--parent-pid', $$, '--modules', build_dir(),
               '--ca', "$tmp/ca.pem", '--python', $PYTHON,
               '--boto3', "$DIR/boto3_client.py",
               '--docs', abs_path("$DIR/../../../docs/clients.md"),
               '--models', build_dir() . '/models',
               '--h2c-port', $ENV{TEST_NGINX_H2_PORT},
               '--tls-port', $ENV{TEST_NGINX_TLS_PORT});

    $owner = $$;
    $pid = fork();
    die "Bedrock::Sdk: fork failed: $!" unless defined $pid;

    if ($pid == 0) {
        # what a user of the JS SDK does to trust a private CA
        $ENV{NODE_EXTRA_CA_CERTS} = "$tmp/ca.pem";
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        exec(@cmd) or print STDERR "exec node failed: $!\n";
        POSIX::_exit(127);
    }

    my $deadline = time + 15;

    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            undef $pid;
            return "the SDK driver exited: " . _slurp($log);
        }

        if (-s $port_file) {
            my ($port) = _slurp($port_file) =~ /(\d+)/;
            $ENV{TEST_NGINX_SDK_PORT} = $port;
            return undef;
        }

        sleep 0.05;
    }

    stop();
    return "the SDK driver did not start within 15 s: " . _slurp($log);
}

sub driver_log { return $tmp ? _slurp("$tmp/driver.log") : '' }

sub cert_dir { return $tmp }

sub stop {
    return unless $pid;

    kill 'TERM', $pid;

    my $deadline = time + 5;
    while (time < $deadline) {
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }

    if (kill 0, $pid) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }

    undef $pid;
}

# For a block preprocessor: the block's "--- config" (its location /model/
# and any server-level directives) is served twice: by the test server,
# as usual, and by a server named gateway.test that listens on
# $TEST_NGINX_H1_PORT (HTTP/1.1), $TEST_NGINX_H2_PORT (cleartext HTTP/2)
# and $TEST_NGINX_TLS_PORT (TLS with the test certificate: HTTP/2 or
# HTTP/1.1 by ALPN).  Both get the internal location, the gateway's
# credentials toward the emulator (key AKIDGATEWAY, secret $GATEWAY_SECRET)
# and fast retries, and no_error_log gets the gateway's secret and the
# secrets given (secrets => [...]); the test server also gets /_sdk/ (the driver),
# /_emulator/ (its control API) and /gateway.log, the access log of every
# gateway request in the format
#
#     PORT PROTOCOL tls=on|- "REQUEST" STATUS client=$bedrock_client
#     attempts=N in=INPUT out=OUTPUT
our $GATEWAY_SECRET = 'gw-upstream-secret-7Qx2';

sub gateway {
    my ($block, %opt) = @_;

    # no secret in the error log (debug level), whatever else the block checks
    my @secrets = ($GATEWAY_SECRET, @{ $opt{secrets} || [] });
    my $lack = $block->no_error_log;

    if (ref $lack eq 'ARRAY') {
        $block->set_value('no_error_log', [@$lack, @secrets]);

    } elsif (ref $lack) {
        $block->set_value('no_error_log', [$lack, @secrets]);

    } else {
        $block->set_value('no_error_log',
                          join("\n", grep { defined } $lack, @secrets));
    }

    my $common = <<"_EOC_";
    bedrock_credentials key=AKIDGATEWAY secret=$GATEWAY_SECRET;
    bedrock_retry attempts=4 base=10ms max=40ms;

    location = /_bedrock {
        internal;
        proxy_pass \$bedrock_upstream;
        proxy_buffering off;
    }
_EOC_

    my $config = ($block->config // '') . "\n" . $common;

    $block->set_value('http_config', ($block->http_config // '') . <<"_EOC_");
    log_format gateway '\$server_port \$server_protocol tls=\$https '
                       '"\$request" \$status client=\$bedrock_client '
                       'attempts=\$bedrock_attempts '
                       'in=\$bedrock_input_tokens out=\$bedrock_output_tokens';
    access_log logs/gateway.log gateway if=\$bedrock_model;

    server {
        listen 127.0.0.1:\$TEST_NGINX_H1_PORT;
        listen 127.0.0.1:\$TEST_NGINX_H2_PORT http2;
        listen 127.0.0.1:\$TEST_NGINX_TLS_PORT ssl http2;
        server_name gateway.test;

        ssl_certificate \$TEST_NGINX_CERT_DIR/server.pem;
        ssl_certificate_key \$TEST_NGINX_CERT_DIR/server.key;

$config
    }
_EOC_

    $block->set_value('config', $config . <<'_EOC_');

    location /_sdk/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SDK_PORT;
        proxy_read_timeout 60s;
    }

    location /_emulator/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    }

    location = /gateway.log {
        root logs;
    }
_EOC_
}

# The block preprocessor of the SDK suites: unless the block has its own,
# a location /model/ whose clients sign with gateway-issued keys (the file
# client-keys: GWKEY1EXAMPLE named team-a, GWKEY2EXAMPLE without a name),
# served by gateway() above; SDK calls get 30 s.
sub client_keys_gateway {
    my ($block) = @_;

    $block->set_value("config", <<'_EOC_') unless defined $block->config;
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_client_keys ../html/client-keys;
    }
_EOC_

    gateway($block, secrets => ['gw-secret-team-a-EXAMPLE',
                                'gw-secret-team-b-EXAMPLE']);

    $block->set_value("user_files", <<'_EOF_');
>>> client-keys
GWKEY1EXAMPLE   gw-secret-team-a-EXAMPLE   team-a
GWKEY2EXAMPLE   gw-secret-team-b-EXAMPLE
_EOF_

    $block->set_value("timeout", 30);
}

# What the emulator answers, as an SDK call through the driver returns it
# (ok, the events of a stream, the whole text, the usage):
# $ANSWER{converse}, {'converse-stream'}, {invoke}, {'invoke-stream'}.
our $TEXT = 'The emulated model answers with deterministic words so that '
    . 'tests can count every token it sends';

sub answer {
    my ($usage, @events) = @_;
    my $re = '^\{"ok":true,"events":\[' . join(',', map { "\"$_\"" } @events)
             . '\],"text":"' . quotemeta($TEXT) . '"'
             . '.*"usage":\{' . $usage . '\}';
    return qr/$re/s;
}

my @delta4 = ('contentBlockDelta') x 4;
my @delta4_ = ('content_block_delta') x 4;

our %ANSWER = (
    'converse' =>
        answer('"inputTokens":2,"outputTokens":16,"totalTokens":18'),
    'converse-stream' =>
        answer('"inputTokens":2,"outputTokens":16,"totalTokens":18',
               'messageStart', @delta4, 'contentBlockStop', 'messageStop',
               'metadata'),
    'invoke' => answer('"input_tokens":2,"output_tokens":16'),
    'invoke-stream' =>
        answer('"input_tokens":2,"output_tokens":16',
               'message_start', 'content_block_start', @delta4_,
               'content_block_stop', 'message_delta', 'message_stop'),
);

# A request line and JSON body for the driver, for "--- request eval":
#
#     Bedrock::Sdk::call('js', 'converse', endpoint => ..., key => ...)
#
# gives "POST /_sdk/js/converse\n{...}".
sub call {
    my ($sdk, $op, %args) = @_;
    return "POST /_sdk/$sdk/$op\n"
           . JSON::PP->new->canonical->encode(\%args);
}

END {
    my $rc = $?;
    stop() if $pid && defined $owner && $owner == $$;
    $? = $rc;
}

1;
