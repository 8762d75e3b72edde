package Test::Nginx::Util;

# The nginx side of the project's Test::Nginx::Socket-compatible runner
# (see t/runner/README.md): settings from the environment and the Perl
# API, the server root, nginx.conf, and starting and stopping nginx.  As
# in the real Test::Nginx, Test::Nginx::Socket holds the requests and the
# checks and re-exports the public functions below.

use strict;
use warnings;

use base 'Exporter';
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Test::More ();
use Time::HiRes qw(sleep time);

our $VERSION = '0.33';

our @EXPORT = qw(
    env_to_nginx repeat_each config_preamble worker_connections
    master_process_enabled no_long_string workers master_on master_off
    log_level no_shuffle no_root_location server_name server_addr
    server_root html_dir server_port server_port_for_client timeout
    check_accum_error_log add_block_preprocessor bail_out
    add_test_cleanup_handler add_cleanup_handler
);

# what Test::Nginx::Socket uses
our @EXPORT_OK = qw(
    $ServerAddr $ServerName $ServerPort $ServerPortForClient $Timeout $Sleep
    $RepeatEach $NoShuffle $NoLongString $CheckAccumErrLog $NginxVersion
    $PrevConfig $RandPorts $ErrLogPos $ErrLogFile $LogDir $PidFile
    @BlockPreprocessors @TestCleanupHandlers
    cleanup setup_server_root write_user_files write_config expand_env
    nginx_version canon_version nginx_command start_nginx stop_nginx
    run_command wait_for nginx_alive check_valgrind use_http2 parse_time slurp write_file
);
our %EXPORT_TAGS = (runner => \@EXPORT_OK);

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
    /^[A-Za-z_][^\n]*\z/ or die "env_to_nginx: bad argument value: $_\n"
        for @_;
    push @EnvToNginx, @_;
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
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
    mkdir $_ or bail_out("Failed to do mkdir $_: $!")
        for $ServRoot, $LogDir, $HtmlDir, $ConfDir;
    write_file("$HtmlDir/index.html", '<html><head><title>It works!</title>'
               . '</head><body>It works!</body></html>');
}

# "--- user_files": ">>> name [touch -t date]" lines, each followed by the
# file's text, or with eval [[name, text, date], ...]; relative names are
# under html/.
sub write_user_files {
    my ($block) = @_;
    my $files = $block->user_files or return;
    my $name = $block->name;

    if (!ref $files) {
        my @list;
        for (split /^/m, $files) {
            if (/>>> (\S+)(?:\s+(.+))?/) { push @list, [$1, '', $2] }
            elsif (@list)                 { $list[-1][1] .= $_ }
        }
        $files = \@list;
    }
    bail_out("$name - user_files: only text or ARRAY") if ref $files ne 'ARRAY';

    for (@$files) {
        my ($fname, $body, $date) = @$_;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        write_file($path, expand_env($body // '', $name, $RandPorts));
        local $ENV{TZ} = 'GMT';
        !$date or system('touch', '-t', $date, $path) == 0
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
    my $listen = $ServerPort;
    my $env = join '', map { /\s/ ? "env '$_';\n" : "env $_;\n" }
                       qw(LD_PRELOAD LD_LIBRARY_PATH ASAN_OPTIONS), @EnvToNginx;

    # left out when http_config sets it, or nginx lacks the module
    my $temp = join ' ', map { "${_}_temp_path $ServRoot/${_}_temp;" } grep {
        /^(client_body|proxy)$/ ? $http !~ /\b${_}_temp_path\b/
                                : $NginxV !~ /--without-http_${_}_module/
    } qw(client_body proxy fastcgi scgi uwsgi);

    my $root = $NoRootLocation ? '' : "        location / {\n"
        . "            root $HtmlDir;\n"
        . "            index index.html index.htm;\n        }\n";

    # "http2 on" exists from nginx 1.25.1; before, it is a listen flag
    $listen .= $NginxVersion >= 1.025001 ? '; http2 on' : ' http2'
        if use_http2($block);

    write_file("$ConfDir/nginx.conf", <<"CONF");
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
            : $ports->{$var} // ($ports->{$var} = rand_port(
                                 { $ServerPort => 1, reverse %$ports }))
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
    my $out = `$NginxBinary -V 2>&1` // '';

    $? == 0 && $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}
        or bail_out("Failed to get the version of $NginxBinary: $out");
    return (canon_version($1, $2, $3), $out);
}

sub canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

sub nginx_command {
    # -e (the error log before the config is read) exists from 1.19.5
    return ($NginxBinary, ($NginxVersion >= 1.019005 ? ('-e', $ErrLogFile)
                                                     : ()),
            '-p', "$ServRoot/", '-c', "$ConfDir/nginx.conf");
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
    my $exited;

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
    wait_for(sub { ($exited = waitpid($ChildPid, WNOHANG) == $ChildPid)
                   || -s $PidFile && port_listening($ServerPort) }, 30);
    bail_out($block->name . " - nginx did not start under valgrind: "
             . slurp($ErrLogFile)) if $exited || !-s $PidFile;
}

# Stops the nginx of the pid file (SIGQUIT as Test::Nginx, SIGTERM with
# TEST_NGINX_FAST_SHUTDOWN), waits until it is gone, kills it if late.
# The pid file may be stale and its pid reused: only a process whose
# command line names nginx is signalled.
sub stop_nginx {
    my ($name) = @_;
    my $pid = slurp($PidFile) =~ /^(\d+)/ ? $1 : undef;
    my $gone = sub { waitpid $pid, WNOHANG; !alive($pid) };
    (my $bin = $NginxBinary) =~ s{.*/}{};

    if ($pid && alive($pid)
        && slurp("/proc/$pid/cmdline") =~ /\Q$bin\E|nginx|^$/)
    {
        kill $ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT', $pid;
        if (!wait_for($gone, $Timeout)) {
            warn "$name - timeout when waiting for the process $pid to exit\n";
            kill 'KILL', getpgrp($pid) == $pid ? -$pid : $pid;
            wait_for($gone, 1);
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
    return kill(0, $_[0]) && slurp("/proc/$_[0]/stat") !~ /\)\s+Z\s/;
}

# False once the nginx of the pid file has exited (a crash, say).
sub nginx_alive {
    my $pid = slurp($PidFile) =~ /^(\d+)/ ? $1 : undef;
    return !$pid || alive($pid);
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
    my $re = sprintf ':%04X [0-9A-F:]+ 0A ', $_[0];
    return (slurp('/proc/net/tcp') . slurp('/proc/net/tcp6')) =~ /$re/;
}

# Runs a command with stdout to /dev/null (nginx's stderr stays visible,
# as in Test::Nginx); returns the wait status, -1 if it could not run.
sub run_command {
    my $pid = fork() // return -1;

    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec @_ or POSIX::_exit(127);
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
    return unless $report =~ /^==\d+== (?!Warning:)\S/m;
    Test::More::fail($block->name . " - valgrind reported errors or leaks");
    Test::More::diag($report);
}

sub use_http2 {
    my ($block) = @_;
    my $raw = defined $block->raw_request || defined $block->pipelined_requests;
    my $req = $block->request;

    return 0 if defined $block->no_http2;
    if (defined $block->http2) {
        bail_out("cannot use --- http2 with raw or pipelined requests") if $raw;
        return 1;
    }
    # TEST_NGINX_USE_HTTP2 leaves out what HTTP/2 cannot carry
    return $UseHttp2 && defined $req && !$raw
        && (ref $req || $req !~ m{HTTP/1\.0})
        && !grep { defined && /proxy_pass .*:\$(server_port|TEST_NGINX_SERVER_PORT)/ }
                 $block->config, $block->http_config;
}

# -- helpers ---------------------------------------------------------------

sub parse_time {
    my ($t) = @_;

    return $1 / 1000 if defined $t && $t =~ /^\s*([\d.]+)\s*ms\s*$/;
    return defined $t && $t =~ /^\s*([\d.]+)\s*s?\s*$/ ? $1 : $t;
}

sub slurp {
    open my $in, '<:raw', $_[0] or return '';
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
