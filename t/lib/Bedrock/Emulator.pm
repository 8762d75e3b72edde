package Bedrock::Emulator;

# Starts the project's Bedrock emulator (emulator/bedrock_emulator.py) for
# a test file, before run_tests():
#
#     use Bedrock::Emulator;
#     Bedrock::Emulator::start(auth => 'sigv4',
#                              credentials => ['AKID:SECRET'],
#                              tpm => 100000);
#
# start() picks a free loopback port, waits until the emulator answers,
# sets $ENV{TEST_NGINX_BEDROCK_PORT} (Test::Nginx puts it into configs as
# $TEST_NGINX_BEDROCK_PORT) and returns the port.  The emulator is stopped
# in an END block of the process that started it (never in a forked child)
# and exits by itself if that process dies.
#
# Options are the emulator's command-line options with '_' for '-':
# auth, region, tpm, rpm, output_tokens, event_delay_ms, chunk_tokens,
# log_size, log_body_max, log_bytes; flags verbose => 1 and
# credential_env => 1 (the pair in AWS_ACCESS_KEY_ID...); list options take an array
# reference or a scalar: credentials (AKID:SECRET[:TOKEN]), api_keys,
# quotas (MODEL=TPM[:RPM]), aliases (ID=MODEL).  args => [...] passes
# anything else verbatim.
#
# control($method, $path, $data) calls the control API directly (JSON in,
# decoded JSON out); reset() and requests(tag => ...) are shorthands.  One
# emulator serves all the blocks of a file; for a fresh one per block:
#
#     add_block_preprocessor(sub { Bedrock::Emulator::reset() });

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our $SCRIPT = abs_path(dirname(__FILE__) . '/../../../emulator')
              . '/bedrock_emulator.py';
our $PYTHON = $ENV{BEDROCK_EMULATOR_PYTHON} || '/usr/bin/python3';

my %PLURAL = (credentials => 'credential', api_keys => 'api-key',
              quotas => 'quota', aliases => 'alias');
my %FLAG = (verbose => 1, credential_env => 1);

my ($pid, $port, $owner, $dir);

sub _args {
    my (%opt) = @_;
    my @args;

    my $extra = delete $opt{args} || [];

    for my $name (sort keys %opt) {
        my $value = $opt{$name};
        my $flag = '--' . ($PLURAL{$name} || $name);
        $flag =~ s/_/-/g;

        if (ref $value eq 'ARRAY') {
            push @args, map { ($flag, $_) } @$value;

        } elsif ($FLAG{$name}) {
            push @args, $flag if $value;

        } else {
            push @args, $flag, $value;
        }
    }

    return (@args, @$extra);
}

sub start {
    my (%opt) = @_;

    stop() if $pid;

    $dir = tempdir('bedrock-emulator-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $port_file = "$dir/port";
    my $log = "$dir/emulator.log";
    my @cmd = ($PYTHON, $SCRIPT, '--listen', '127.0.0.1:0',
               '--port-file', $port_file, '--parent-pid', $$, _args(%opt));

    $owner = $$;
    $pid = fork();
    die "Bedrock::Emulator: fork failed: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $log;
        open STDERR, '>&', \*STDOUT;
        exec(@cmd) or print STDERR "exec $PYTHON failed: $!\n";
        POSIX::_exit(127);
    }

    my $deadline = time + 15;

    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $? >> 8;
            undef $pid;
            die "Bedrock::Emulator: the emulator exited with $status: "
                . _slurp($log);
        }

        if (!$port && -s $port_file) {
            ($port) = _slurp($port_file) =~ /(\d+)/;
        }

        if ($port && _health()) {
            $ENV{TEST_NGINX_BEDROCK_PORT} = $port;
            return $port;
        }

        sleep 0.05;
    }

    my $out = _slurp($log);
    stop();
    die "Bedrock::Emulator: no answer within 15 s: $out";
}

sub _health {
    my $res = HTTP::Tiny->new(timeout => 2)
              ->get("http://127.0.0.1:$port/_emulator/health");
    return $res->{status} == 200;
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh>;
}

sub port { return $port }

sub url { return "http://127.0.0.1:$port" }

sub log_text { return $dir ? _slurp("$dir/emulator.log") : '' }

sub control {
    my ($method, $path, $data) = @_;

    die "Bedrock::Emulator: not started" unless $port;

    $path =~ s{^/?(_emulator/)?}{};

    my %req = (headers => {'Content-Type' => 'application/json'});
    $req{content} = encode_json($data) if defined $data;

    my $res = HTTP::Tiny->new(timeout => 10)
              ->request($method, url() . "/_emulator/$path", \%req);

    die "Bedrock::Emulator: $method /_emulator/$path: $res->{status} "
        . "$res->{content}" unless $res->{status} == 200;

    return decode_json($res->{content});
}

sub reset { return control('POST', 'reset') }

sub requests {
    my (%filter) = @_;
    my $q = join '&', map { "$_=$filter{$_}" } sort keys %filter;
    return control('GET', "requests?$q")->{requests};
}

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
    undef $port;
    delete $ENV{TEST_NGINX_BEDROCK_PORT};
}

END {
    my $rc = $?;
    stop() if $pid && defined $owner && $owner == $$;
    $? = $rc;
}

1;
