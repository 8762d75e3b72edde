package Test::Nginx::Socket;

# A small runner for test files in Test::Nginx::Socket's data-driven
# format, for machines without the real Test::Nginx (openresty/test-nginx).
# It implements the sections, functions and environment variables listed
# in t/runner/README.md with the real one's nginx.conf, test names and
# test counts, so that a file passing here passes there.  Per block:
# stop the previous nginx, rebuild t/servroot, write nginx.conf, start
# nginx, send the request(s), check the response(s) and the error log.

use strict;
use warnings;

use Test::Base -base;
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(min shuffle);
use POSIX qw(EAGAIN WNOHANG);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);

our $VERSION = '0.33';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location server_name
    server_addr server_root html_dir server_port server_port_for_client
    timeout check_accum_error_log add_block_preprocessor bail_out
    add_test_cleanup_handler add_cleanup_handler
);

my $HaveLongString = eval { require Test::LongString; 1 };

# -- settings: the environment, then the exported setters ------------------

our $NginxBinary   = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerAddr    = '127.0.0.1';
our $ServerName    = 'localhost';
our $ServerPort    = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                     || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $LogLevel      = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Timeout       = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep         = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $NoShuffle     = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $UseValgrind   = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseHttp2      = $ENV{TEST_NGINX_USE_HTTP2};
our $LoadModules   = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $Randomize     = $ENV{TEST_NGINX_RANDOMIZE};
our ($Workers, $WorkerConnections, $RepeatEach) = (1, 64, 1);
our ($NoRootLocation, $NoLongString, $ConfigPreamble) = (0, 0, '');
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers, @TestCleanupHandlers);

$ServerPort = $ServerPortForClient = rand_port({}) if $Randomize;

our $ServRoot = $Randomize ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : $ENV{TEST_NGINX_SERVROOT} || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our ($LogDir, $HtmlDir, $ConfDir) = map { "$ServRoot/$_" } qw(logs html conf);
our $ErrLogFile = "$LogDir/error.log";
our $PidFile    = "$LogDir/nginx.pid";
our $ConfFile   = "$ConfDir/nginx.conf";

# run-time state
our ($NginxVersion, $NginxV, $PrevConfig, $ChildPid, $RandPorts);
our $ErrLogPos = 0;
my $MainPid = $$;

sub repeat_each (@)        { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@)            { $Workers = shift if @_; $Workers }
sub worker_connections (@) { $WorkerConnections = shift if @_;
                             $WorkerConnections }
sub log_level (@)          { $LogLevel = shift if @_; $LogLevel }
sub timeout (@)            { $Timeout = shift if @_; $Timeout }
sub server_port (@)        { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) { $ServerPortForClient = shift if @_;
                                 $ServerPortForClient }
sub server_addr (@)        { $ServerAddr = shift if @_; $ServerAddr }
sub server_name (@)        { $ServerName = shift if @_; $ServerName }
sub server_root ()         { $ServRoot }
sub html_dir ()            { $HtmlDir }
sub master_on ()           { $MasterProcess = 'on' }
sub master_off ()          { $MasterProcess = 'off' }
sub master_process_enabled (@) { $MasterProcess = shift() ? 'on' : 'off'
                                     if @_; $MasterProcess }
sub no_shuffle ()          { $NoShuffle = 1 }
sub no_root_location ()    { $NoRootLocation = 1 }
sub no_long_string ()      { $NoLongString = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub config_preamble ($)    { $ConfigPreamble = shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub env_to_nginx (@) {
    die "env_to_nginx: no arguments specified\n" unless @_;
    for (@_) {
        die "env_to_nginx: bad argument value: $_\n" if !/^[A-Za-z_]/ || /\n/;
        push @EnvToNginx, $_;
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# -- the driver ------------------------------------------------------------

sub run_tests () {
    ($NginxVersion, $NginxV) = nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    my @blocks = Test::Base::blocks();
    for my $block ($NoShuffle ? @blocks : shuffle @blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_block($block);
        $_->($block) for @TestCleanupHandlers;
    }
    cleanup();
}

# (Re)starts nginx unless the block is skipped or has no config (then the
# running nginx serves it), then runs repeat_each rounds of requests and
# checks; under valgrind nginx is stopped after the block for its report.
sub run_block {
    my ($block) = @_;
    my $name = $block->name;
    my $config = expand_env(scalar $block->config, $name, $RandPorts = {});
    my ($skip_count, $skip_why) = skip_spec($block);

    local $LogLevel = $block->log_level || $LogLevel;
    local $UseValgrind = defined $block->must_die ? undef : $UseValgrind;

    if (!defined $config) {
        bail_out("$name - No '--- config' section specified and could not "
                 . "get previous one.") unless defined $PrevConfig;
    } elsif (!defined $skip_why) {
        $PrevConfig = $config;
        stop_nginx($name);
        setup_server_root();
        write_user_files($block);
        write_config($block, $config);
        return run_must_die($block) if defined $block->must_die;
        start_nginx($block);
    }

    $ErrLogPos = 0;
    for my $round (0 .. $RepeatEach - 1) {
        write_user_files($block) if $round > 0;
        if (defined $skip_why) {
            SKIP: { skip("$name - $skip_why", $skip_count) }
        } else {
            run_requests($block, $round);
        }
    }

    check_valgrind($block) if $UseValgrind && !defined $skip_why;
}

# "--- skip_nginx: N: OP x.y.z [: reason]": (N, reason) when it applies.
sub skip_spec {
    my ($block) = @_;
    my $spec = $block->skip_nginx;

    return unless defined $spec;
    $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
        or bail_out($block->name . " - Invalid --- skip_nginx spec: $spec");
    my ($v, $w) = ($NginxVersion, canon_version($3, $4, $5));
    my %holds = ('<' => $v < $w, '<=' => $v <= $w, '>' => $v > $w,
                 '>=' => $v >= $w);
    return $holds{$2} ? ($1, $6 || "nginx version $2 $3.$4.$5") : ();
}

# Sends each request of the block (one connection each; pipelined ones
# share one) and checks each response, then the error log since the
# previous check.
sub run_requests {
    my ($block, $round) = @_;
    my $name = $block->name;
    my @requests = build_requests($block);
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    my $per_conn = $block->pipelined_requests ? @{$block->pipelined_requests}
                                               : 1;
    my $need_array = $per_conn > 1 || @requests > 1;
    my $idx = 0;

    for my $packets (@requests) {
        my ($raw, $head) = send_request($block, $packets, $timeout);

        for my $n (1 .. $per_conn) {
            my ($res, $left);
            if (!defined $block->ignore_response) {
                ($res, $left) = parse_response($name, $raw // '', $head);
                check_response($block, $res, $idx, $round, $need_array);
            }
            warn "WARNING: $name - unexpected extra bytes after last chunk "
                 . "in response: \"" . fmt_str($left) . "\"\n"
                if $n == $per_conn && defined $left && $left ne '';
            ($raw, $idx) = ($left, $idx + 1);

            sleep $block->wait if $block->wait;
            check_error_log($block, $round);
        }
    }
}

sub cleanup {
    $_->() for @CleanupHandlers;
    stop_nginx('cleanup') if $ChildPid || !$ENV{TEST_NGINX_NO_CLEAN};
}

END {
    if ($$ == $MainPid) {
        local $?;
        cleanup();
        remove_tree($ServRoot) if $Randomize && $ServRoot =~ m{/t/servroot_\d+$};
    }
}

# -- the server root and nginx.conf ----------------------------------------

sub setup_server_root {
    if (-d $ServRoot) {
        # only what the runner makes: a TEST_NGINX_SERVROOT pointing at
        # a directory holding anything else makes the rmdir fail instead
        remove_tree($ConfDir, $HtmlDir, $LogDir, "$ServRoot/cache",
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot or bail_out("Can't remove $ServRoot (not empty?): $!");
    }
    for ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $_ or bail_out("Failed to do mkdir $_: $!");
    }
    write_file("$HtmlDir/index.html", '<html><head><title>It works!</title>'
               . '</head><body>It works!</body></html>');
}

# "--- user_files": ">>> name [touch -t date]" lines, each followed by the
# file's text, or with eval [[name, text, date], ...]; relative names are
# under html/.
sub write_user_files {
    my ($block) = @_;
    my ($files, $name) = (scalar $block->user_files, $block->name);

    return unless $files;
    if (!ref $files) {
        my @list;
        for (split /^/m, $files) {
            if (/>>> (\S+)(?:\s+(.+))?/) { push @list, [$1, '', $2] }
            elsif (@list)                 { $list[-1][1] .= $_ }
        }
        $files = \@list;
    }
    bail_out("$name - wrong value type: ", ref $files,
             ", only scalar or ARRAY are accepted") if ref $files ne 'ARRAY';

    for (@$files) {
        my ($fname, $body, $date) = @$_;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        write_file($path, expand_env($body // '', $name, $RandPorts));
        next unless $date;
        local $ENV{TZ} = 'GMT';
        system('touch', '-t', $date, $path) == 0
            or bail_out("$name - Failed to touch -t $date $path");
    }
}

# The nginx.conf of Test::Nginx::Util::write_config_file, less the lines
# of the modes this runner lacks (HUP reload, systemtap, HTTP/3).
sub write_config {
    my ($block, $config) = @_;
    my ($name, $ports) = ($block->name, $RandPorts);
    my $http = expand_env($block->http_config // '', $name, $ports);
    my $post = expand_env($block->post_main_config // '', $name, $ports);
    my $main = expand_env(join(' ', (map { "load_module $_;" } split ' ',
                                     $LoadModules), $block->main_config // ''),
                          $name, $ports);
    my $server_name = $block->server_name // $ServerName;
    my $daemon = $UseValgrind ? 'off' : 'on';
    my $user = $> == 0 ? 'user root;' : '';
    my ($listen, $root) = ($ServerPort, '');

    if (use_http2($block)) {
        # "http2 on" exists from nginx 1.25.1; before, it is a listen flag
        $listen .= $NginxVersion >= 1.025001 ? '; http2 on' : ' http2';
    }

    my $env = join '', map { /\s/ ? "env '$_';\n" : "env $_;\n" }
                       qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx;

    # left out when http_config sets it, or nginx lacks the module
    my $temp = join ' ', map { "${_}_temp_path $ServRoot/${_}_temp;" } grep {
        /^(client_body|proxy)$/ ? $http !~ /\b${_}_temp_path\b/
                                : $NginxV !~ /--without-http_${_}_module/
    } qw(client_body proxy fastcgi scgi uwsgi);

    $root = "        location / {\n            root $HtmlDir;\n"
            . "            index index.html index.htm;\n        }\n"
        unless $NoRootLocation;

    write_file($ConfFile, <<"CONF");
worker_processes  $Workers;
daemon $daemon;
master_process $MasterProcess;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
$env
$main

http {
    access_log $LogDir/access.log; $temp

    default_type text/plain;
    keepalive_timeout  68000ms;

$http
    server {
        listen          $listen;
        server_name     '$server_name';
        client_max_body_size 30M;

$ConfigPreamble
$config

$root    }
}

$post

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
$user
CONF
}

# $TEST_NGINX_FOO becomes $ENV{TEST_NGINX_FOO} (a missing one aborts the
# run); $TEST_NGINX_RAND_PORT_N a free port, the same one in the block.
sub expand_env {
    my ($text, $name, $ports) = @_;

    return $text if !defined $text || ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        $var !~ /^TEST_NGINX_RAND_PORT_\d+$/
            ? $ENV{$var} // bail_out("$name - No environment $var defined.\n")
            : $ports->{$var}
              // ($ports->{$var} = rand_port({ $ServerPort => 1,
                                               reverse %$ports }))
    }eg;
    return $text;
}

sub rand_port {
    my ($used) = @_;

    for (1 .. 1000) {
        my $port = int(rand 63547) + 1988;
        next if $used->{$port};
        IO::Socket::INET->new(LocalAddr => $ServerAddr, LocalPort => $port,
                              Proto => 'tcp', Listen => 5, Reuse => 1)
            and return $port;
    }
    bail_out("Cannot find an available listening port number.");
}

# -- nginx processes -------------------------------------------------------

sub nginx_version {
    my $out = `$NginxBinary -V 2>&1`;

    bail_out("Failed to get the version of the Nginx in PATH: "
             . ($out // '')) if !defined $out || $? != 0;
    $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}
        or bail_out("Failed to parse the output of \"nginx -V\": $out\n");
    return (canon_version($1, $2, $3), $out);
}

sub canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

sub nginx_command {
    # -e (the error log before the config is read) exists from 1.19.5
    return ($NginxBinary, ($NginxVersion >= 1.019005 ? ('-e', $ErrLogFile)
                                                     : ()),
            '-p', "$ServRoot/", '-c', $ConfFile);
}

# As a daemon: the foreground process returns once the listening sockets
# are open; the daemon writes the pid file just after, which is waited
# for.  A port still held by the previous nginx is retried a while; any
# other failure ends the run, as in Test::Nginx.
sub start_nginx {
    my ($block) = @_;
    my @cmd = nginx_command();
    my $status;

    return start_under_valgrind($block) if $UseValgrind;
    for (1 .. 30) {
        $status = run_command(@cmd);
        return wait_for(sub { -s $PidFile }, $Timeout) if $status == 0;
        last if slurp($ErrLogFile) !~ /Address already in use/;
        sleep 0.1;
    }
    bail_out($block->name . " - Cannot start nginx using command \"@cmd\" "
             . "(status code $status).");
}

# Under valgrind nginx runs in the foreground (daemon off) as our child;
# it is ready once it wrote its pid file and the port listens.
sub start_under_valgrind {
    my ($block) = @_;
    my @vg = ('valgrind', '-q', '--num-callers=100',
              "--log-file=$LogDir/valgrind.%p.log");

    if ($UseValgrind =~ /^\d+$/) {
        push @vg, qw(--tool=memcheck --leak-check=full --keep-debuginfo=yes
                     --show-possibly-lost=no --gen-suppressions=all);
        push @vg, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    } else {
        push @vg, split ' ', $UseValgrind;
    }

    warn $block->name, "\n";
    $ChildPid = fork() // bail_out("fork() failed: $!");
    if ($ChildPid == 0) {
        setpgrp;
        open STDOUT, '>', '/dev/null';
        exec @vg, nginx_command() or POSIX::_exit(127);
    }

    my $exited;
    wait_for(sub { ($exited = waitpid($ChildPid, WNOHANG) == $ChildPid)
                   || -s $PidFile && port_listening($ServerPort) }, 30);
    bail_out($block->name . " - nginx did not start under valgrind: "
             . slurp($ErrLogFile)) if $exited || !-s $PidFile;
}

# "--- must_die": nginx must fail to start (with that exit code if one is
# given); the error log is checked as after a request.
sub run_must_die {
    my ($block) = @_;
    my ($name, $want) = ($block->name, scalar $block->must_die);

    $ErrLogPos = 0;
    for my $round (0 .. $RepeatEach - 1) {
        my $status = run_command(nginx_command());

        if ($status == -1) {
            fail("$name - failed to execute the nginx command line");
        } elsif ($status & 128) {
            fail("$name - nginx core dumped");
        } elsif (looks_like_number($want)) {
            is($want, $status >> 8, "$name - die with the expected exit code");
        } else {
            isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, $round);
        next if $status != 0;

        warn "WARNING: $name - nginx must die but it does not; killing it "
             . "(req $round)\n";
        wait_for(sub { -s $PidFile }, $Timeout);
        stop_nginx($name);
    }
}

# Stops the nginx of the pid file (SIGQUIT as Test::Nginx, SIGTERM with
# TEST_NGINX_FAST_SHUTDOWN), waits until it is gone, kills it if late.
sub stop_nginx {
    my ($name) = @_;
    my $pid = slurp($PidFile) =~ /^(\d+)/ ? $1 : undef;

    if ($pid && alive($pid) && is_nginx($pid)) {
        kill $ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT', $pid;
        if (!wait_for(sub { waitpid $pid, WNOHANG; !alive($pid) }, $Timeout)) {
            warn "$name - timeout when waiting for the process $pid to exit\n";
            kill 'KILL', getpgrp($pid) == $pid ? -$pid : $pid;
            wait_for(sub { waitpid $pid, WNOHANG; !alive($pid) }, 1);
        }
    }
    unlink $PidFile;

    if ($ChildPid) {
        kill 'KILL', -$ChildPid if alive($ChildPid);
        waitpid $ChildPid, 0;
        undef $ChildPid;
    }
}

# kill(0) also finds zombies that nobody reaped yet (PID 1 in a container
# may reap late); a zombie holds no socket, so it counts as gone.
sub alive {
    my ($pid) = @_;

    return kill(0, $pid) && slurp("/proc/$pid/stat") !~ /\)\s+Z\s/;
}

# The pid file may be stale and its pid reused: only a process whose
# command line names nginx is signalled.
sub is_nginx {
    my ($pid) = @_;
    (my $bin = $NginxBinary) =~ s{.*/}{};

    return 1 unless -e "/proc/$pid/cmdline";
    return slurp("/proc/$pid/cmdline") =~ /\Q$bin\E|nginx/;
}

sub wait_for {
    my ($done, $seconds) = @_;
    my $deadline = time + $seconds;

    until ($done->()) {
        return 0 if time > $deadline;
        sleep 0.002;
    }
    return 1;
}

# Whether the TCP port listens, from /proc/net/tcp*: connecting to find
# out would leave a line in the error log.
sub port_listening {
    my ($port) = @_;
    my $re = sprintf ':%04X [0-9A-F:]+ 0A ', $port;

    return (slurp('/proc/net/tcp') . slurp('/proc/net/tcp6')) =~ /$re/;
}

# Runs a command with stdout to /dev/null (nginx's stderr stays visible,
# as in Test::Nginx); returns the wait status, -1 if it could not run.
sub run_command {
    my @cmd = @_;
    my $pid = fork() // return -1;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return $? == 127 << 8 ? -1 : $?;
}

# With TEST_NGINX_USE_VALGRIND a test fails if valgrind reported an error
# or a definite leak; a clean block adds no test, so the plan is the same.
sub check_valgrind {
    my ($block) = @_;

    stop_nginx($block->name);
    my $report = join '', map { slurp($_) } glob("$LogDir/valgrind.*.log");
    return unless grep { /^==\d+== \S/ && !/^==\d+== Warning:/ }
                  split /\n/, $report;
    fail($block->name . " - valgrind reported errors or leaks");
    diag($report);
}

# -- requests --------------------------------------------------------------

# The block's requests, each a list of packets ({value, delay_before}).
sub build_requests {
    my ($block) = @_;
    my $name = $block->name;
    my $more = $block->more_headers // '';
    my ($raw, $list) = (scalar $block->raw_request,
                        scalar $block->pipelined_requests);

    return [ map { +{ value => $_ } } ref $raw ? @$raw : $raw ] if defined $raw;

    if (defined $list) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            if ref $list ne 'ARRAY';
        return [ { value => join '', map {
            http_request($name, expand_env($list->[$_], $name, $RandPorts),
                         $more, $_, $_ == $#$list ? 'close' : 'keep-alive')
        } 0 .. $#$list } ];
    }

    my $request = $block->request;
    bail_out("$name - request empty") unless defined $request;
    if (!ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//s;
        $request = [$request];
    }
    bail_out("$name - invalid ---request : MUST be string or array of "
             . "requests") if ref $request ne 'ARRAY';
    return map {
        bail_out("$name - this runner does not split a request into "
                 . "packets; use raw_request") if ref $request->[$_];
        [ { value => http_request($name, $request->[$_], $more, $_,
                                  'close') } ];
    } 0 .. $#$request;
}

# "METHOD [URI [VERSION]]" then the body; as in Test::Nginx, a body gets
# a Content-Length (unless more_headers has one or says chunked) and so
# loses its leading and trailing whitespace.
sub http_request {
    my ($name, $text, $more, $i, $conn) = @_;
    my ($headers, $chunked) = more_headers($more, $i);
    my ($line, $body) = split /\n/, $text, 2;
    my $auto = '';

    ($line // '') =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid. Should be 'meth "
                    . "[url [version]]' but got \"" . ($line // '') . "\".");
    my ($method, $uri, $version) = ($1, $2 // '/', $3 // 'HTTP/1.1');

    $body //= '';
    if (!$chunked && $body ne '' && $headers !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $headers .= 'Content-Length: ' . length($body) . "\r\n";
    }
    $auto .= "Host: $ServerName\r\n" if $headers !~ /(?:^|\n)Host:/i;
    $auto .= "Connection: $conn\r\n" if $headers !~ /(?:^|\n)Connection/i;
    return "$method $uri $version\r\n$auto$headers\r\n$body";
}

# "--- more_headers" (a text, or with eval one per request) as
# "Name: value\r\n" lines, and whether they ask for a chunked body.
sub more_headers {
    my ($more, $i) = @_;
    my ($out, $chunked) = ('', 0);

    $more = $more->[$i] // bail_out("--- more_headers lacks data for the "
                                    . "${i}th request") if ref $more;
    for (split /\n+/, $more) {
        next if /^\s*#/;
        my ($key, $val) = split /:\s*/, $_, 2;
        $chunked ||= lc $key eq 'transfer-encoding' && ($val // '') eq 'chunked';
        $out .= "$key: " . ($val // '') . "\r\n";
    }
    return ($out, $chunked);
}

sub use_http2 {
    my ($block) = @_;
    my $raw = defined $block->raw_request || defined $block->pipelined_requests;

    return 0 if defined $block->no_http2;
    if (defined $block->http2) {
        bail_out("cannot use --- http2 with --- raw_request or "
                 . "--- pipelined_requests") if $raw;
        return 1;
    }
    # TEST_NGINX_USE_HTTP2 leaves out what HTTP/2 cannot carry
    my $req = $block->request;
    return $UseHttp2 && defined $req && !$raw
        && (ref $req || $req !~ m{HTTP/1\.0})
        && !grep { defined && /proxy_pass .*:\$(server_port|TEST_NGINX_SERVER_PORT)/ }
                 $block->config, $block->http_config;
}

# Sends one request, reads until the server closes: "--- timeout" bounds
# each wait on the socket, "--- abort" makes its expiry no failure,
# "--- shutdown" half-closes after the last byte.
sub send_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my @todo = @$packets;
    my $head = $todo[0]{value} =~ /^\s*HEAD\s+/;

    return (curl_request($block, \@todo, $timeout), $head)
        if use_http2($block);

    my $sock = connect_server($block, $timeout) or return ('', $head);
    my $sel = IO::Select->new($sock);
    my ($buf, $resp) = ((shift @todo)->{value}, '');

    local $SIG{PIPE} = 'IGNORE';
    $sock->blocking(0);
    while (1) {
        my ($r, $w) = IO::Select->select($sel, defined $buf ? $sel : undef,
                                         undef, $timeout);
        if (!$r && !$w) {
            fail("ERROR: client socket timed out - $name\n")
                unless defined $block->abort;
            last;
        }
        if ($w && @$w) {
            my $n = syswrite $sock, $buf;
            if (defined $n) {
                substr($buf, 0, $n) = '';
                $buf = next_packet($block, \@todo, $sock) if $buf eq '';
            } elsif ($! != EAGAIN) {
                warn "WARNING: $name - write failed: $!\n";
                undef $buf;
            }
        }
        if ($r && @$r) {
            my $n = sysread $sock, my $chunk, 65536;
            last if defined $n && $n == 0;
            $resp .= $chunk if $n;
            next if $n || $! == EAGAIN;
            warn "WARNING: $name - HTTP response read failure: $!\n";
            last;
        }
    }
    close $sock;
    return ($resp, $head);
}

# The next packet, after its delay; when all are written, undef (after
# the "--- shutdown" if there is one).
sub next_packet {
    my ($block, $todo, $sock) = @_;

    if (my $next = shift @$todo) {
        my $delay = $next->{delay_before} // $block->raw_request_middle_delay;
        sleep $delay if $delay;
        return $next->{value};
    }
    my $how = $block->shutdown;
    shutdown $sock, $how =~ /^\s*$/ ? 1 : $how if defined $how;
    return undef;
}

# Connects, retrying with a growing delay while nginx is not there yet.
sub connect_server {
    my ($block, $timeout) = @_;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $port = $ServerPortForClient;

    for my $try (1 .. 50) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
                                         Proto => 'tcp', Timeout => $timeout);
        return $sock if $sock;
        last if $ChildPid && waitpid($ChildPid, WNOHANG) == $ChildPid;
        my $wait = min(1, ($Sleep + $Sleep * $try) * $try / 2);
        warn $block->name, " - Can't connect to $addr:$port: $!\n"
            if $wait >= 0.6;
        sleep $wait;
    }
    fail($block->name . " - Can't connect to $addr:$port: $! (aborted)\n");
    return undef;
}

# HTTP/2 goes through curl --http2-prior-knowledge (cleartext h2c) with
# the request's method, URI, headers (but Connection) and body.
sub curl_request {
    my ($block, $packets, $timeout) = @_;
    my $name = $block->name;
    my $req = join '', map { $_->{value} } @$packets;
    my @cmd = qw(curl -i -H User-Agent: -H Accept: -H Host: -sS
                 --http2-prior-knowledge);

    my ($method, $uri, $version, $head, $body) =
        $req =~ m{^\s*(\w+)\s+(\S+)\s+HTTP/(\S+)\r?\n(.*?)\r?\n\r?\n(.*)\z}s
        or bail_out("$name - cannot parse the request: $req");
    my @headers = grep { !/^Connection\s*:/i } split /\r\n/, $head;

    push @cmd, $method eq 'HEAD' ? '-I' : $method ne 'GET' ? ('-X', $method)
                                                         : ();
    push @cmd, '-0' if $version ne '1.1';
    push @cmd, map { ('-H', $_) } @headers;
    if ($body ne '') {
        push @cmd, '-H', 'Content-Type: '
            unless grep { /^\s*Content-Type\s*:/i } @headers;
        write_file("$LogDir/curl.data.bin", $body);
        push @cmd, '--data-binary', "\@$LogDir/curl.data.bin";
    }
    push @cmd, '--connect-timeout', $timeout, '--max-time', $timeout,
               "http://$ServerAddr:$ServerPortForClient$uri";

    my $pid = open(my $out, '-|') // bail_out("fork() failed: $!");
    if ($pid == 0) {
        open STDERR, '>', "$LogDir/curl.err";
        exec @cmd or POSIX::_exit(127);
    }
    my $stdout = do { local $/; <$out> } // '';
    close $out;

    my $err = slurp("$LogDir/curl.err");
    if ($stdout eq '') {
        fail("$name - command \"@cmd\" generates "
             . ($err ne '' ? "stderr output: $err" : 'no stdout output'));
    } elsif ($err ne '') {
        warn "WARNING: $name - command \"@cmd\" generates stderr output: $err";
    }
    return $stdout;
}

# -- responses -------------------------------------------------------------

# Splits the first response off $raw: {code, headers (lower-case name =>
# [values]), raw_headers, content} with a decoded body, and what follows
# it (the next pipelined response).
sub parse_response {
    my ($name, $raw, $head) = @_;
    my ($top, $body) = $raw =~ /\A(.*?)\r?\n\r?\n(.*)\z/s ? ($1, $2)
                                                           : ($raw, '');
    my ($status, @lines) = split /\r?\n/, $top;
    my %res = (headers => {}, content => $body,
               raw_headers => $raw =~ /(.*?\r\n)\r\n/s ? $1 : '');
    my $left;

    $res{code} = (split ' ', $status // '')[1];
    undef $res{code} if ($res{code} // '') !~ /^\d+$/;
    /^([^\s:]+)\s*:\s*(.*)/ and push @{ $res{headers}{lc $1} }, $2 for @lines;

    my ($te, $len) = map { header(\%res, $_) } qw(Transfer-Encoding
                                                  Content-Length);
    return (\%res) if $res{code} && ($res{code} == 304 || $res{code} == 101);

    if (defined $te && $te eq 'chunked') {
        ($res{content}, $left) = decode_chunked($name, $body);
        return () unless defined $res{content};
    } elsif (defined $len && $len =~ /^\d+$/) {
        warn "WARNING: $name - response body truncated: $len expected, but "
             . "got " . length($body) . "\n" if length $body < $len && !$head;
        ($res{content}, $left) = (substr($body, 0, $len),
                                  substr($body, min($len, length $body)));
    }
    return (\%res, $left);
}

sub decode_chunked {
    my ($name, $raw) = @_;
    my ($out, $error) = ('');

    while ($raw =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*\r\n/gc) {
        my $size = hex $1;
        if ($size == 0) {
            return ($out, substr $raw, pos $raw)
                if $raw =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc;
            $error = 'invalid chunked data received (expected CRLF).';
            last;
        }
        if (length($raw) - pos($raw) < $size) {
            $error = 'invalid chunked data received (not enough octets for '
                     . 'the data section)';
            last;
        }
        $out .= substr $raw, pos($raw), $size;
        pos($raw) += $size;
        next if $raw =~ /\G\r\n/gc;
        $error = 'invalid chunked data received (expected CRLF).';
        last;
    }
    $error //= $raw =~ /\G(.+)/gcs ? "invalid chunked body received: $1"
                                   : "no last chunk found - $raw";
    fail("$name - $error");
    return undef;
}

# A header's value; several ones are joined by ", " (as HTTP::Headers).
sub header {
    my ($res, $key) = @_;
    my $values = $res && $res->{headers}{lc $key};

    return $values ? join(', ', @$values) : undef;
}

# -- checks ----------------------------------------------------------------

sub check_response {
    my ($block, $res, $idx, $round, $need_array) = @_;

    check_error_code($block, $res, $idx, $need_array);
    check_headers($block, $res, $idx, $need_array);
    check_body($block, $res, $idx, $round, $need_array);
}

# With several requests a check's value must be an array, one element per
# request; with one request, an array's first element is used.
sub indexed {
    my ($block, $section, $idx, $need_array) = @_;
    my $value = $block->$section;

    return ref $value eq 'ARRAY' ? $value->[0] : $value unless $need_array;
    return $value->[$idx] if ref $value eq 'ARRAY';
    bail_out($block->name . " - You asked for many requests, the expected "
             . "results should be arrays as well.");
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $code = ($res && $res->{code}) || '';
    my $desc = $block->name . " - status code ok";

    if (defined $block->error_code_like) {
        my $re = indexed($block, 'error_code_like', $idx, $need_array);
        return like($code, qr/$re/sm, $desc);
    }
    return is($code, defined $block->error_code
                     ? indexed($block, 'error_code', $idx, $need_array) : 200,
              $desc);
}

# response_headers: "Name: value" must be the value ("Name:" means empty
# or absent), "!Name" must not be in the raw header lines (the name
# case-sensitive, as in Test::Nginx).  response_headers_like: the values
# must match the patterns.
sub check_headers {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $like = !defined $block->response_headers;
    my $section = $like ? 'response_headers_like' : 'response_headers';

    return unless defined $block->$section;
    for my $pair (header_spec(indexed($block, $section, $idx, $need_array))) {
        my ($key, $val) = @$pair;
        my $got = header($res, $key) // '';

        if ($like) {
            like($got, qr/^$val$/, "$name - header $key like ok");
        } elsif (!defined $val) {
            unlike($res ? $res->{raw_headers} : '', qr/^\s*\Q$key\E\s*:/ms,
                   "$name - header $key not present in the raw headers");
        } else {
            is($got, expand_ports($val), "$name - header $key ok");
        }
    }
}

# [name, value] pairs in order, value undef for "!Name"; a name given
# twice keeps its last value (Test::Nginx reads them into a hash).
sub header_spec {
    my ($text) = @_;
    my (@pairs, %at);

    for my $line (split /\n/, $text // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my ($key, $val) = $line =~ s/^!\s*// ? ($line)
                                             : split /\s*:\s*/, $line, 2;
        $at{$key} //= push(@pairs, undef) - 1;
        $pairs[$at{$key}] = [$key, $val];
    }
    return @pairs;
}

sub check_body {
    my ($block, $res, $idx, $round, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->{content} : undef;

    if (defined $block->response_body) {
        my $want = indexed($block, 'response_body', $idx, $need_array);
        my $where = "(repeated req $round, req $idx)";
        return like($content, $want, "$name - response_body - like $where")
            if ref $want;
        return string_is($content,
                         expand_env(expand_ports($want), $name, $RandPorts),
                         "$name - response_body - response is expected $where");
    }

    my $type = defined $block->response_body_like ? 'like' : 'unlike';
    my $section = "response_body_$type";
    return unless defined $block->$section;
    my $re = expand_ports(indexed($block, $section, $idx, $need_array));
    my $desc = "$name - response_body_$type - response is expected ("
               . (trim($content) // '') . ')';
    return $type eq 'like' ? like($content, qr/$re/s, $desc)
                           : unlike($content, qr/$re/s, $desc);
}

sub expand_ports {
    my ($s) = @_;

    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    return $s;
}

# The error log from where the previous check stopped (all of it after
# check_accum_error_log), after a short wait for the lines nginx writes
# in its log phase, after the response.
sub error_log_lines {
    sleep $Sleep * 3;
    open my $in, '<', $ErrLogFile or return [];
    seek $in, $ErrLogPos, 0 unless $CheckAccumErrLog;
    my @lines = <$in>;
    $ErrLogPos = tell $in unless $CheckAccumErrLog;
    return \@lines;
}

sub check_error_log {
    my ($block, $round) = @_;
    my $name = $block->name;
    my $lines = error_log_lines();
    my $asked = join "\n", map { ref eq 'ARRAY' ? @$_ : $_ } grep { defined }
                           $block->error_log, $block->no_error_log;

    check_grep_error_log($block, $lines, $round);
    lines_have($name, scalar $block->error_log, $lines, $round);
    lines_lack($name, scalar $block->no_error_log, $lines, $round);

    # as Test::Nginx, show the serious lines that no pattern asked about
    for my $level (grep { index($asked, "[$_") < 0 } qw(alert crit emerg)) {
        warn "WARNING: $name - ", fmt_str($_), "\n" for grep { /\[$level\]/ }
                                                        @$lines;
    }
}

# "--- grep_error_log": the parts of the lines that match, one a line,
# must equal "--- grep_error_log_out" (either may be an array, an
# element per repeat_each round).
sub check_grep_error_log {
    my ($block, $lines, $round) = @_;
    my $name = $block->name;
    my ($pat, $want) = (scalar $block->grep_error_log,
                        scalar $block->grep_error_log_out);

    $pat = $pat->[$round] if ref $pat eq 'ARRAY';
    bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out "
             . "is defined") if !defined $pat && defined $want;
    return unless defined $pat;
    bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log "
             . "is defined") unless defined $want;

    $want = expand_env($want, $name, $RandPorts);
    $want = $want->[$round] if ref $want eq 'ARRAY';
    my $re = ref $pat ? $pat : qr/\Q$pat\E/;
    my $got = join '', map { /$re/ && $& !~ /\n/ ? "$&\n" : () } @$lines;
    my $desc = "$name - grep_error_log_out (req $round)";
    return ref $want eq 'Regexp' ? like($got, $want, $desc)
                                 : string_is($got, $want, $desc);
}

# A text (a pattern a line), a qr// or an array of both, as a list.
sub patterns {
    my ($pats) = @_;

    return @$pats if ref $pats eq 'ARRAY';
    return $pats if ref $pats;
    chomp $pats;
    return split /\n+/, $pats;
}

sub matches {
    my ($line, $pat) = @_;

    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

# "--- error_log": a test per pattern, passing at the first line matched.
sub lines_have {
    my ($name, $pats, $lines, $round) = @_;

    return unless defined $pats;
    my @todo = patterns($pats);
    for my $line (@$lines) {
        for my $pat (grep { defined && matches($line, $_) } @todo) {
            pass("$name - pattern \"$pat\" matches a line in error.log "
                 . "(req $round)");
            undef $pat;
        }
    }
    fail("$name - pattern \"$_\" should match a line in error.log (req "
         . "$round)") for grep { defined } @todo;
}

# "--- no_error_log": a failure per line matched, else a pass per pattern.
sub lines_lack {
    my ($name, $pats, $lines, $round) = @_;
    my %found;

    return unless defined $pats;
    my @pats = grep { defined } patterns($pats);
    for my $i (0 .. $#$lines) {
        for my $pat (grep { matches($lines->[$i], $_) } @pats) {
            $found{$pat} = 1;
            fail("$name - pattern \"" . fmt_str($pat) . "\" should not match "
                 . "any line in error.log but matches line \""
                 . fmt_str($lines->[$i]) . "\" (req $round)\n"
                 . join '', @$lines[$i + 1 .. min($i + 9, $#$lines - 1)]);
        }
    }
    pass("$name - pattern \"" . fmt_str($_) . "\" does not match a line in "
         . "error.log (req $round)") for grep { !$found{$_} } @pats;
}

# Test::LongString's is_string, or after no_long_string() Test::Base's is
# (which shows a diff of long texts unless no_diff() was called).
sub string_is {
    my ($got, $want, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    return is($got, $want, $desc) if $NoLongString || !$HaveLongString;
    return Test::LongString::is_string($got, $want, $desc);
}

sub is_str (@) {
    my ($got, $want, $desc) = @_;

    return like($got, $want, $desc) if ref $want eq 'Regexp';
    return string_is($got, $want, $desc);
}

# -- helpers ---------------------------------------------------------------

sub parse_time {
    my ($t) = @_;

    return $1 / 1000 if defined $t && $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return defined $t && $t =~ /^\s*([\d.]+)\s*s?\s*$/ ? $1 : $t;
}

sub trim {
    my ($s) = @_;

    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

sub fmt_str {
    my ($s) = @_;

    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub slurp {
    my ($path) = @_;

    open my $in, '<:raw', $path or return '';
    local $/;
    return <$in> // '';
}

sub write_file {
    my ($path, $data) = @_;

    open my $out, '>:raw', $path or bail_out("Can't open $path for writing: $!");
    print $out $data;
    close $out or bail_out("Can't write $path: $!");
}

1;
