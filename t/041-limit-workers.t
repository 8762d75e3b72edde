# The limiter with several workers, under load, across a reload and a
# killed worker, against the emulator enforcing the same quota.
#
# This file drives nginx itself (master process, two workers) instead of
# going through Test::Nginx::Socket: what it checks happens between
# requests (concurrency, a reload, SIGKILL), not in one of them.  It uses
# the same environment: TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES.
#
# The zone and the emulator both give each model 60000 tokens a minute
# (1000 a second).  A test request asks for max_tokens 1000 and gets 200
# output tokens; the emulator counts its input as 1 token, so each
# request ends up costing 201 tokens, and the quota admits about five a
# second once the first minute's worth is spent.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(EAGAIN EINPROGRESS WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use Bedrock::Emulator;

my $NGINX = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $MODULES = $ENV{TEST_NGINX_LOAD_MODULES} || '';

my $TPM = 60000;
my $DELAY = 5;

# each phase has a model, so a bucket, of its own
my $LOAD = 'anthropic.claude-3-haiku-20240307-v1%3A0';
my $FIFO = 'anthropic.claude-3-5-sonnet-20241022-v2%3A0';
my $COOL = 'anthropic.claude-3-5-haiku-20241022-v1%3A0';
my $RELOAD = 'anthropic.claude-3-7-sonnet-20250219-v1%3A0';
my $KILL = 'anthropic.claude-3-sonnet-20240229-v1%3A0';
my $LEARN = 'anthropic.claude-3-opus-20240229-v1%3A0';

(my $load_key = $LOAD) =~ s/%3A/:/;
(my $kill_key = $KILL) =~ s/%3A/:/;

plan skip_all => 'the module is not built: set TEST_NGINX_LOAD_MODULES'
    unless $MODULES;

# only the load model has a quota at the emulator: the other phases drain
# the zone on purpose, with answers the emulator must not throttle
Bedrock::Emulator::start(output_tokens => 200,
                         quotas => ["$load_key=$TPM", "$kill_key=$TPM"]);

my $dir = tempdir('bedrock-041-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/$_" for qw(logs conf);

my $port = free_port();
my $port_nodelay = free_port();
my $port_fifo = free_port();
my $master;

write_conf('1m');
start_nginx();

# -- 1. many connections, two workers, the emulator enforcing the quota ----

# fourteen answers of 4096 spend the first minute's worth at both ends, so
# that what follows is the steady state: 1000 tokens a second

for (1 .. 14) {
    request($port, "/model/$LOAD/invoke", max_tokens => 4096,
            output => 4096);
}

my $t0 = time;
my $stats = load(path => "/model/$LOAD/invoke", conns => 48,
                 seconds => 12, max_tokens => 1000);
my $t1 = time;

my $counters = Bedrock::Emulator::control('GET', 'counters');
my $m = $counters->{models}{$load_key} || {};

cmp_ok($stats->{200}, '>', 20, "load: $stats->{200} answers in "
       . sprintf('%.1f s', $t1 - $t0) . ", "
       . ($stats->{429} || 0) . " requests refused by the gateway");
is(($m->{throttled_tokens} || 0) + ($m->{throttled_requests} || 0), 0,
   'load: the emulator throttled nothing');
is($stats->{other} || 0, 0, 'load: no answer other than 200 and 429');

# what the emulator settled in the whole seconds of the load, the first
# two left out: the first requests wait for the refill to cover their
# reservations, with no settlement yet to move them on

my ($first, $last) = (int($t0) + 2, int($t1) - 1);
my $seconds = $last - $first + 1;
my $settled = 0;
$settled += $_->[4] for grep { $_->[0] >= $first && $_->[0] <= $last }
                        @{ $m->{per_second} || [] };
my $per_minute = $settled * 60 / $seconds;

# the strict check is the emulator's: it throttled nothing; this one is
# the rate, counted by the second each answer ended in, so give or take
# a request or two a second on a busy machine

cmp_ok($per_minute, '<=', $TPM * 1.15,
       "load: $settled tokens settled in $seconds s, "
       . sprintf('%.0f', $per_minute) . " a minute: within $TPM "
       . "(give or take a request or two a second)");
cmp_ok($per_minute, '>=', $TPM * 0.9,
       'load: at least 90% of the quota used');

my $limit_log = slurp("$dir/logs/limit.log");
my %pids = map { $_ => 1 } $limit_log =~ /^(\d+) /mg;
is(scalar keys %pids, 2, 'load: both workers admitted requests');

# -- 2. first come, first served, and settlements move the queue on --------

# seven answers of 8000 leave about 4000 of 60000; five requests of about
# 4120 each then queue behind them, 50 ms apart, where they may wait 30 s.
# Each settles to 11 and gives back about 4100, which covers the next one
# at its next look.

for (1 .. 7) {
    request($port_fifo, "/model/$FIFO/invoke", max_tokens => 8000,
            output => 8000);
}

my $start = time;
my @order = concurrent($port_fifo, 5, 0.05, "/model/$FIFO/invoke",
                       max_tokens => 4096, output => 10);
my $took = time - $start;

is(join(' ', map { $_->{status} } @order), '200 200 200 200 200',
   'fifo: all five admitted');
is(join(' ', map { $_->{index} } @order), '0 1 2 3 4',
   'fifo: answered in the order they came');
like($order[0]{limit}, qr/^DELAYED \d+ \d+$/, "fifo: the first waited "
     . "($order[0]{limit})");
cmp_ok($took, '<', 4, sprintf('fifo: all done in %.1f s, not the 20 s '
       . 'their reservations alone would take', $took));

# -- 3. the zone learns how far off the estimate of the input is ----------

# a text of 1000 two-byte letters: the emulator counts characters, where
# the estimate may count bytes; each answer moves the family's ratio an
# eighth of the way to the real count, and later estimates with it

my @learnt;
for (1 .. 12) {
    my $res = request($port, "/model/$LEARN/invoke", max_tokens => 4096,
                      output => 10, text => "\x{c3}\x{a9}" x 1000);
    my ($reserved) = ($res->{limit} // '') =~ / (\d+)$/;
    push @learnt, [$reserved - 4096, $res->{input}];
}

my ($e0, $real) = @{ $learnt[0] };
my $e12 = $learnt[-1][0];
cmp_ok(abs($e12 - $real), '<', abs($e0 - $real) / 2 + 2,
       "learn: the input estimated went from $e0 to $e12 tokens, "
       . "toward the $real Bedrock counted");

# -- 4. Bedrock throttles a key the zone let through: it cools down --------

my ($cooled) = concurrent_pair($port,
    ["/model/$COOL/invoke", max_tokens => 100, output => 10,
     headers => ['X-Emulator-Fault: throttle; key=cool-1']],
    0.3,
    ["/model/$COOL/invoke", max_tokens => 100, output => 10]);

is($cooled->[0]{status}, 200, 'cooldown: the throttled request is retried '
   . 'and answered');
like($cooled->[1]{limit}, qr/^DELAYED ([5-9]\d\d|1[0-2]\d\d) \d+$/,
     "cooldown: a request under the same key waits out the backoff "
     . "($cooled->[1]{limit})");
like(slurp("$dir/logs/error.log"),
     qr/bedrock: Bedrock throttled key "anthropic\.claude-3-5-haiku-20241022-v1:0" of zone "models": it cools down for 1000 ms/,
     'cooldown: logged');

# -- 5. nginx -s reload keeps the zone and its state -----------------------

# one answer of 20000 output tokens at 5x costs 100001: a debt of 40000,
# 40 s of refill

request($port, "/model/$RELOAD/invoke", max_tokens => 20000,
        output => 20000);

write_conf('1m', '# reloaded');
reload();

my $r = request($port_nodelay, "/model/$RELOAD/invoke", max_tokens => 4096,
                output => 10);
is($r->{status}, 429, 'reload: the drained bucket is still drained');
cmp_ok($r->{retry_after} || 0, '>=', 30, 'reload: Retry-After '
       . ($r->{retry_after} || '-') . ' s, as before the reload');

write_conf('2m', '# resized');
reload();

$r = request($port_nodelay, "/model/$RELOAD/invoke", max_tokens => 4096,
             output => 10);
is($r->{status}, 200, 'reload: a zone of another size starts afresh');

# -- 6. a worker killed under load leaves no lock and no lasting debt ------

# fourteen answers of 4096 spend the first minute's worth: the load then
# queues, and the workers killed hold reservations that nobody settles

for (1 .. 14) {
    request($port, "/model/$KILL/invoke", max_tokens => 4096,
            output => 4096);
}

my $pid_load = fork_load(path => "/model/$KILL/invoke", conns => 24,
                         seconds => 6, max_tokens => 1000);
sleep 1.5;

my @workers = worker_pids();
kill 'KILL', $workers[0];
sleep 1.5;
@workers = worker_pids();
kill 'KILL', $workers[-1];

waitpid($pid_load, 0);
my ($ok_after) = slurp("$dir/load.out") =~ /^200 (\d+)/m;
$ok_after //= 0;

like(slurp("$dir/logs/error.log"), qr/worker process \d+ exited on signal 9/,
     'kill: the master saw its workers killed');
is(scalar(worker_pids()), 2, 'kill: and started new ones');

$counters = Bedrock::Emulator::control('GET', 'counters');
$m = $counters->{models}{$kill_key} || {};
is(($m->{throttled_tokens} || 0) + ($m->{throttled_requests} || 0), 0,
   "kill: the emulator throttled nothing ($ok_after answers)");

# what the killed workers had reserved is debt of at most the delay's
# worth (queued) plus what was in flight: repaid by the refill in a few
# seconds.  A request that may wait the delay is then admitted.

$r = request($port_nodelay, "/model/$KILL/invoke", max_tokens => 1000,
             output => 10);
my $retry = $r->{status} == 429 ? $r->{retry_after} : 0;
cmp_ok($retry, '<=', $DELAY + 10, "kill: the bucket is short by $retry s "
       . "of refill, not more than the delay and what was in flight");
# (a slowed build, ASan or valgrind, may still have answers of the killed
# workers' era in flight at the first probe: one more Retry-After then)
for my $try (1 .. 2) {
    sleep $retry;
    $r = request($port_nodelay, "/model/$KILL/invoke", max_tokens => 1000,
                 output => 10);
    last if $r->{status} != 429;
    $retry = $r->{retry_after} || 1;
    diag("kill: refused again, Retry-After $retry s");
}
is($r->{status}, 200, 'kill: admitted after that, the zone works');

unlike(slurp("$dir/logs/error.log"), qr/\[(alert|emerg)\](?! .*exited on signal 9)(?! .*was locked by)/,
       'no alert but the killed workers');

done_testing();

stop_nginx();

# -- nginx -----------------------------------------------------------------

sub write_conf {
    my ($size, $comment) = @_;
    my $emu = Bedrock::Emulator::port();
    my $load = join '', map { "load_module $_;\n" } split ' ', $MODULES;
    my $user = $> == 0 ? 'user root;' : '';

    $comment //= '';

    spew("$dir/conf/nginx.conf", <<"CONF");
$load
$user
worker_processes 2;
master_process on;
daemon on;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;

events {
    worker_connections 1024;
    accept_mutex off;
}

http {
    access_log off;
    log_format limit '\$pid \$msec \$bedrock_limit_status \$status '
                     'reserved=\$bedrock_cost_reserved '
                     'settled=\$bedrock_cost_settled wait=\$bedrock_wait_ms';

    $comment
    bedrock_limit_zone \$bedrock_model zone=models:$size tpm=$TPM;

    bedrock_limit_burndown *claude-3-7-sonnet* 5;
    bedrock_limit_burndown *claude-sonnet-4* 5;
    bedrock_limit_burndown *claude-opus-4* 5;

    server {
        listen 127.0.0.1:$port;

        location /model/ {
            bedrock_limit zone=models delay=${DELAY}s;
            bedrock_retry attempts=3 base=1s max=1s jitter=none;
            access_log $dir/logs/limit.log limit;
            add_header X-Limit "\$bedrock_limit_status \$bedrock_wait_ms \$bedrock_cost_reserved"
                       always;
            bedrock_pass http://127.0.0.1:$emu region=us-east-1;
        }

        location = /_bedrock {
            internal;
            proxy_pass \$bedrock_upstream;
            proxy_buffering off;
        }
    }

    server {
        listen 127.0.0.1:$port_fifo;

        location /model/ {
            bedrock_limit zone=models delay=30s;
            add_header X-Limit "\$bedrock_limit_status \$bedrock_wait_ms \$bedrock_cost_reserved"
                       always;
            bedrock_pass http://127.0.0.1:$emu region=us-east-1;
        }

        location = /_bedrock {
            internal;
            proxy_pass \$bedrock_upstream;
            proxy_buffering off;
        }
    }

    server {
        listen 127.0.0.1:$port_nodelay;

        location /model/ {
            bedrock_limit zone=models nodelay;
            add_header X-Limit "\$bedrock_limit_status \$bedrock_wait_ms \$bedrock_cost_reserved"
                       always;
            bedrock_pass http://127.0.0.1:$emu region=us-east-1;
        }

        location = /_bedrock {
            internal;
            proxy_pass \$bedrock_upstream;
            proxy_buffering off;
        }
    }
}
CONF
}

sub nginx {
    my @cmd = ($NGINX, '-p', "$dir/", '-c', "$dir/conf/nginx.conf",
               '-e', "$dir/logs/error.log", @_);
    system(@cmd) == 0 or BAIL_OUT("@cmd failed: " . slurp("$dir/logs/error.log"));
}

sub start_nginx {
    nginx();

    for (1 .. 100) {
        ($master) = slurp("$dir/logs/nginx.pid") =~ /(\d+)/;
        last if $master && worker_pids() == 2;
        sleep 0.05;
    }

    ($master) = slurp("$dir/logs/nginx.pid") =~ /(\d+)/;
    BAIL_OUT('nginx did not start') unless $master;
}

# the master starts new workers and tells the old ones to finish
sub reload {
    my %old = map { $_ => 1 } worker_pids();

    kill 'HUP', $master;

    for (1 .. 200) {
        my @now = worker_pids();
        last if @now == 2 && !grep { $old{$_} } @now;
        sleep 0.05;
    }
}

sub stop_nginx {
    return unless $master;
    kill 'QUIT', $master;
    for (1 .. 100) {
        last unless kill 0, $master;
        sleep 0.05;
    }
    kill 'KILL', $master if kill 0, $master;
    undef $master;
}

END { stop_nginx() }

sub worker_pids {
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // '';
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @pids, $pid if $master && $ppid == $master
                            && slurp("/proc/$pid/cmdline")
                               =~ /worker process/ && $line !~ /\) Z /;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

# -- HTTP ------------------------------------------------------------------

sub body_for {
    my (%o) = @_;
    my $text = $o{text} // 'hi';
    return '{"anthropic_version":"bedrock-2023-05-31","max_tokens":'
           . $o{max_tokens} . ',"messages":[{"role":"user","content":"'
           . $text . '"}]}';
}

sub raw_request {
    my ($path, %o) = @_;
    my $body = body_for(%o);
    my $headers = join '', map { "$_\r\n" } @{ $o{headers} || [] };

    return "POST $path HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Type: application/json\r\n"
           . "X-Emulator-Output-Tokens: $o{output}\r\n$headers"
           . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# one whole response off $buf, or undef while it is incomplete
sub parse_response {
    my ($buf) = @_;
    my $end = index($$buf, "\r\n\r\n");
    return undef if $end < 0;

    my $head = substr($$buf, 0, $end);
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    $len //= 0;
    return undef if length($$buf) < $end + 4 + $len;

    my %res;
    ($res{status}) = $head =~ m{^HTTP/1\.\d (\d+)};
    ($res{retry_after}) = $head =~ /^Retry-After:\s*(\d+)/mi;
    ($res{limit}) = $head =~ /^X-Limit:\s*([^\r\n]*)/mi;
    ($res{input}) = $head =~ /^X-Amzn-Bedrock-Input-Token-Count:\s*(\d+)/mi;
    $res{body} = substr($$buf, $end + 4, $len);
    substr($$buf, 0, $end + 4 + $len) = '';

    return \%res;
}

sub connect_to {
    my ($p) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect to $p: $!";
    return $s;
}

sub read_response {
    my ($sock, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + ($timeout || 20);

    while (time < $deadline) {
        my $res = parse_response(\$buf);
        return $res if $res;
        $sel->can_read($deadline - time) or last;
        sysread($sock, $buf, 65536, length $buf) or last;
    }

    return parse_response(\$buf) || { status => 0 };
}

sub request {
    my ($p, $path, %o) = @_;
    my $sock = connect_to($p);
    print $sock raw_request($path, %o);
    my $res = read_response($sock);
    close $sock;
    return $res;
}

# n requests, gap seconds apart, each on its connection; the responses in
# the order they were complete, each with the index of its request
sub concurrent {
    my ($p, $n, $gap, $path, %o) = @_;
    my (@socks, %index, @done);
    my $sel = IO::Select->new;

    for my $i (0 .. $n - 1) {
        my $sock = connect_to($p);
        print $sock raw_request($path, %o);
        $index{fileno $sock} = $i;
        $sel->add($sock);
        push @socks, [$sock, ''];
        sleep $gap if $gap && $i < $n - 1;
    }

    my $deadline = time + 30;
    while ($sel->count && time < $deadline) {
        for my $sock ($sel->can_read(1)) {
            my $slot = $socks[$index{fileno $sock}];
            my $n = sysread($sock, $slot->[1], 65536, length $slot->[1]);
            my $res = parse_response(\$slot->[1]);
            if ($res || !$n) {
                $res ||= { status => 0 };
                $res->{index} = $index{fileno $sock};
                push @done, $res;
                $sel->remove($sock);
                close $sock;
            }
        }
    }

    return @done;
}

# two requests, the second gap seconds after the first; in request order
sub concurrent_pair {
    my ($p, $first, $gap, $second) = @_;
    my @res;
    my @socks;

    for my $spec ($first, $second) {
        my ($path, %o) = @$spec;
        my $sock = connect_to($p);
        print $sock raw_request($path, %o);
        push @socks, $sock;
        sleep $gap if @socks == 1;
    }

    @res = map { read_response($_) } @socks;
    close $_ for @socks;

    return (\@res);
}

# conns connections, each sending requests back to back for seconds; a
# refused request is sent again 200 ms later.  Returns counts by status.
sub load {
    my (%o) = @_;
    my $req = raw_request($o{path}, max_tokens => $o{max_tokens},
                          output => 200);
    my $sel = IO::Select->new;
    my (%state, %count);
    my $end = time + $o{seconds};

    my $open = sub {
        my $sock = connect_to($port);
        $sock->blocking(0);
        $state{fileno $sock} = { sock => $sock, out => $req, in => '',
                                 at => 0 };
        $sel->add($sock);
    };

    $open->() for 1 .. $o{conns};

    while (time < $end) {
        my $now = time;
        my @w = grep { $state{fileno $_}{out} ne ''
                       && $state{fileno $_}{at} <= $now } $sel->handles;
        my ($r, $w) = IO::Select->select($sel, IO::Select->new(@w), undef,
                                         0.05);

        for my $sock (@{ $w || [] }) {
            my $s = $state{fileno $sock};
            my $n = syswrite($sock, $s->{out});
            substr($s->{out}, 0, $n) = '' if $n;
        }

        for my $sock (@{ $r || [] }) {
            my $s = $state{fileno $sock};
            my $n = sysread($sock, $s->{in}, 65536, length $s->{in});

            if (!$n && $! != EAGAIN) {
                $sel->remove($sock);
                delete $state{fileno $sock};
                close $sock;
                $open->() if time < $end;
                next;
            }

            while (my $res = parse_response(\$s->{in})) {
                my $k = $res->{status} =~ /^(200|429)$/ ? $1 : 'other';
                $count{$k}++;
                $s->{out} = $req;
                $s->{at} = $k eq '429' ? time + 0.2 : 0;
            }
        }
    }

    close $_ for $sel->handles;

    return \%count;
}

# the same in a child, its counts in $dir/load.out
sub fork_load {
    my (%o) = @_;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        my $count = eval { load(%o) } || {};
        spew("$dir/load.out",
             join '', map { "$_ $count->{$_}\n" } sort keys %$count);
        POSIX::_exit(0);
    }

    return $pid;
}

# -- files -----------------------------------------------------------------

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp',
                                     Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    my $p = $sock->sockport;
    close $sock;
    return $p;
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh> // '';
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh;
}
