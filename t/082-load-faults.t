# Faults under load, on nginx with a master and two workers, in front of
# the emulator:
#
#   cut      a stream Bedrock cuts or stalls after its first events: the
#            client gets what came, then its connection closed without the
#            end of the answer (no last chunk), so that it sees it cut;
#   queued   2,000 clients queued in the zone at once: every one answered,
#            the workers' memory bounded (measured);
#   over     2,000 clients at once over the quota: every one answered, 200
#            or 429 with Retry-After;
#   leave    half of 600 queued clients leave: each gives its reservation
#            back, the others are served;
#   reload   nginx -s reload, again and again, under load: no request lost,
#            the zone's state kept;
#   kill     workers killed with SIGKILL under load: no lock left held (new
#            requests are served at once), the reservations the dead held
#            repaid by the refill within the time they are worth.
#
# Like t/041 it drives nginx itself (TEST_NGINX_BINARY,
# TEST_NGINX_LOAD_MODULES).  The sizes and times are small enough for
# "make test"; util/stress runs the same file with the STRESS_* variables
# below set higher and prints the figures (docs/reliability.md).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use IO::Poll qw(POLLIN POLLOUT POLLERR POLLHUP);
use IO::Socket::INET;
use POSIX qw(EAGAIN EINPROGRESS WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(sleep time);

use Bedrock::Emulator;

my $NGINX = $ENV{TEST_NGINX_BINARY} || 'nginx';
my $MODULES = $ENV{TEST_NGINX_LOAD_MODULES} || '';

# the sizes; util/stress raises them
my $QUEUED = $ENV{STRESS_QUEUED} || 2000;     # clients queued at once
my $LEAVE = $ENV{STRESS_LEAVE} || 600;        # queued, half of them leave
my $CONNS = $ENV{STRESS_CONNS} || 20;         # connections of the loads
my $SECONDS = $ENV{STRESS_SECONDS} || 3;      # each load
my $RELOADS = $ENV{STRESS_RELOADS} || 4;      # during the reload load
my $KILLS = $ENV{STRESS_KILLS} || 2;          # during the kill load
my $ONLY = $ENV{STRESS_ONLY} || '';           # a phase name, to run one

plan skip_all => 'the module is not built: set TEST_NGINX_LOAD_MODULES'
    unless $MODULES;

# a socket per queued client: the soft limit of open files is raised to
# the hard one (a shell's "ulimit -n" may be 1024), once
my $NOFILE = `sh -c 'ulimit -Hn'` =~ /(\d+)/ ? $1 : 20000;
$NOFILE = 20000 if $NOFILE > 20000;

if (!$ENV{BEDROCK_082_NOFILE} && `sh -c 'ulimit -n'` =~ /(\d+)/
    && $1 < $NOFILE)
{
    $ENV{BEDROCK_082_NOFILE} = $NOFILE;
    exec('sh', '-c', 'ulimit -n "$BEDROCK_082_NOFILE"; exec "$@"', 'sh',
         $^X, (map { "-I$_" } @INC), $0, @ARGV)
        or die "exec: $!";
}

if ($NOFILE < $QUEUED * 2 + 500) {
    $QUEUED = int(($NOFILE - 500) / 2);
    diag("only $NOFILE open files allowed: $QUEUED clients at once");
}

Bedrock::Emulator::start(auth => 'none', log_size => 100000);

my $dir = tempdir('bedrock-082-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/$_" for qw(logs conf);

my %port = map { $_ => free_port() } qw(cut load probe queue burst over canned);
my $master;

# one model, so one key, per phase
my %MODEL = (
    cut    => 'anthropic.claude-3-haiku-20240307-v1%3A0',
    queued => 'anthropic.claude-3-5-haiku-20241022-v1%3A0',
    over   => 'anthropic.claude-3-5-sonnet-20241022-v2%3A0',
    leave  => 'anthropic.claude-3-5-sonnet-20240620-v1%3A0',
    reload => 'anthropic.claude-3-sonnet-20240229-v1%3A0',
    kill   => 'anthropic.claude-3-opus-20240229-v1%3A0',
);

write_conf();
start_nginx();

my @figures;

phase_cut() if !$ONLY || $ONLY eq 'cut';
phase_queued() if !$ONLY || $ONLY eq 'queued';
phase_over() if !$ONLY || $ONLY eq 'over';
phase_leave() if !$ONLY || $ONLY eq 'leave';
phase_reload() if !$ONLY || $ONLY eq 'reload';
phase_kill() if !$ONLY || $ONLY eq 'kill';

my $log = slurp("$dir/logs/error.log");
unlike($log, qr/\[(alert|crit|emerg)\](?! .*(exited on signal 9|was locked by))/,
       'no [alert], [crit] or [emerg] in the error log but for the killed '
       . 'workers') or diag(join "\n", grep {
           /\[(alert|crit|emerg)\]/ && !/exited on signal 9|was locked by/
       } split /\n/, $log);

diag("figures: $_") for @figures;

stop_nginx();

# every process left cleanly, through the reloads and the final stop: the
# master logs a worker that crashed on its way out (as one did when the
# signer left an OpenSSL exit handler in the module, which nginx unloads
# before exit())
my @crashed = slurp("$dir/logs/error.log") =~ /(exited on signal (?!9\b)\d+)/g;
is(scalar @crashed, 0, 'no worker crashed on its way out')
    or diag(join "\n", @crashed);

done_testing();


# -- the phases ------------------------------------------------------------

# Bedrock's stream breaks off after three events: cut (FIN), then stalled
# past proxy_read_timeout.  A whole stream is the control.
sub phase_cut {
    my $path = "/model/$MODEL{cut}/converse-stream";
    my %cases = (
        whole => [],
        cut => ['X-Emulator-Fault: cut=3; key=cut-1'],
        stalled => ['X-Emulator-Event-Delay-Ms: 2500'],
    );
    my %first = (cut => 3, stalled => 1);

    for my $case (qw(whole cut stalled)) {
        my ($res) = drive(port => $port{cut}, timeout => 10,
                          requests => [request($path, max_tokens => 50,
                                               headers => $cases{$case})]);
        my $events = () = $res->{body} =~ /:event-type/g;

        is($res->{status}, 200, "cut: $case stream: 200");

        if ($case eq 'whole') {
            ok($res->{complete}, "cut: a whole stream ends with its last "
               . "chunk ($events events)");
            next;
        }

        ok(!$res->{complete} && $res->{eof},
           "cut: the $case stream reached the client with $events events, "
           . "then its connection closed without the last chunk");
        cmp_ok($events, '>=', $first{$case}, "cut: the $case stream's "
               . "first events reached the client");
    }

    like(slurp("$dir/logs/error.log"),
         qr/bedrock: the answer of attempt 1 broke off after it reached the client/,
         'cut: logged');
}

# The key cools down for 2 s after a throttle: meanwhile $QUEUED clients
# arrive and wait in the zone, all of them at once.  Then all are served,
# by a stand-in that answers at once (the emulator takes new connections
# a few hundred a second): the zone is what is measured.
sub phase_queued {
    my $path = "/model/$MODEL{queued}/invoke";
    my @workers = worker_pids();
    my $before = rss(@workers);
    my $peak = $before;

    # the first attempt is throttled, the retry comes 2 s later
    my $first = start_request($port{queue},
        request($path, max_tokens => 100,
                headers => ['X-Emulator-Fault: throttle; key=queued-1',
                            'X-Emulator-Tag: queued-1']));
    wait_until(sub {
        @{ Bedrock::Emulator::requests(tag => 'queued-1') } > 0
    }, 5) or fail('queued: the first request was throttled');

    my $t0 = time;
    my @res = drive(port => $port{burst}, timeout => 30,
                    requests => [(request($path, max_tokens => 100))
                                 x $QUEUED],
                    tick => sub {
                        my $rss = rss(@workers);
                        $peak = $rss if $rss > $peak;
                    });
    my $took = time - $t0;
    my $r0 = finish_request($first);

    my %by = by_status(@res);
    my $delayed = grep { ($_->{headers}{'x-limit'} // '') eq 'DELAYED' } @res;
    my $per = ($peak - $before) / $QUEUED;

    is($r0->{status}, 200, 'queued: the throttled request was retried');
    is($by{200} // 0, $QUEUED, "queued: all $QUEUED answered 200 in "
       . sprintf('%.1f s', $took)) or diag(explain(\%by));
    cmp_ok($delayed, '>=', $QUEUED * 0.95, "queued: $delayed of them "
           . 'waited in the zone first');
    cmp_ok($per, '<', 64 * 1024, sprintf('queued: the workers grew by '
           . '%.1f MB at most, %.1f KB a queued request', ($peak - $before)
           / 1048576, $per / 1024));

    push @figures, sprintf('queued: %d clients queued at once, all 200 in '
                           . '%.1f s; workers %.1f MB -> %.1f MB at the '
                           . 'peak (+%.1f KB a queued request)', $QUEUED,
                           $took, $before / 1048576, $peak / 1048576,
                           $per / 1024);
}

# $QUEUED clients at once on a zone of 30000 tokens a minute that may
# delay 2 s: about 270 pass at once, a few more after a wait, the rest are
# refused with a Retry-After.
sub phase_over {
    my $path = "/model/$MODEL{over}/invoke";
    my $t0 = time;
    my @res = drive(port => $port{over}, timeout => 30,
                    requests => [(request($path, max_tokens => 100))
                                 x $QUEUED]);
    my $took = time - $t0;
    my %by = by_status(@res);
    my @refused = grep { $_->{status} == 429 } @res;
    my $with_retry = grep { ($_->{headers}{'retry-after'} // 0) >= 1 }
                     @refused;

    is(($by{200} // 0) + ($by{429} // 0), $QUEUED, "over: all $QUEUED "
       . "answered, $by{200} with 200 and " . ($by{429} // 0) . ' with 429, '
       . sprintf('in %.1f s', $took)) or diag(explain(\%by));
    is($with_retry, scalar @refused, 'over: every 429 has a Retry-After');
    cmp_ok($by{200} // 0, '<=', 320, 'over: no more admitted than the '
           . 'bucket and 2 s of refill hold');
    cmp_ok($by{200} // 0, '>=', 200, 'over: the bucket was used');

    push @figures, sprintf('over: %d clients at once over the quota: %d '
                           . 'answered 200, %d 429 with Retry-After, in '
                           . '%.1f s', $QUEUED, $by{200} // 0,
                           $by{429} // 0, $took);
}

# $LEAVE clients wait in a cooling key; half of them leave.  Each that
# leaves gives its reservation back (logged); the others are all served.
sub phase_leave {
    my $path = "/model/$MODEL{leave}/invoke";
    my $before = count_log('tokens given back');

    my $first = start_request($port{queue},
        request($path, max_tokens => 100,
                headers => ['X-Emulator-Fault: throttle; key=leave-1',
                            'X-Emulator-Tag: leave-1']));
    wait_until(sub {
        @{ Bedrock::Emulator::requests(tag => 'leave-1') } > 0
    }, 5);

    my $i = 0;
    my @res = drive(port => $port{burst}, timeout => 30,
                    requests => [(request($path, max_tokens => 100))
                                 x $LEAVE],
                    leave_after => 0.5, leave => sub { $i++ % 2 });
    finish_request($first);
    wait_until(sub {
        count_log('tokens given back') - $before >= $LEAVE / 2
    }, 3);

    my @stayed = grep { !$_->{left} } @res;
    my $served = grep { $_->{status} == 200 } @stayed;
    my $given = count_log('tokens given back') - $before;

    is($served, scalar @stayed, "leave: the $served clients that stayed "
       . 'were all served');
    is($given, $LEAVE / 2, "leave: each of the " . ($LEAVE / 2) . ' that '
       . 'left gave its reservation back');
}

# A load over the quota while nginx is reloaded $RELOADS times: every
# request gets a whole answer (200, or 429 with Retry-After), none is
# lost; no more is admitted than one bucket and the refill allow, so the
# zone was not started afresh by any reload.
sub phase_reload {
    my $path = "/model/$MODEL{reload}/invoke";
    my $every = $SECONDS / ($RELOADS + 1);
    my $next = time + $every;
    my $reloads = 0;
    my $t0 = time;

    my @res = drive(port => $port{load}, timeout => 15, conns => $CONNS,
                    seconds => $SECONDS, pause_after_429 => 0.05,
                    requests => [request($path, max_tokens => 1000)],
                    tick => sub {
                        return if time < $next || $reloads >= $RELOADS;
                        write_conf("# reload $reloads");
                        nginx('-s', 'reload');
                        $reloads++;
                        $next += $every;
                    });
    my $took = time - $t0;
    my %by = by_status(@res);
    my $lost = grep { !$_->{complete} } @res;
    my @refused = grep { $_->{status} == 429 } @res;
    my $with_retry = grep { ($_->{headers}{'retry-after'} // 0) >= 1 }
                     @refused;

    # 60000 tokens a minute, about 1010 a request: 59 in the bucket, one
    # a second of refill (the last ones may have waited 2 s); a zone made
    # afresh would add 59 each time
    my $allowed = 59 + $took + 2 + 5;

    is($reloads, $RELOADS, "reload: nginx reloaded $reloads times under "
       . "load");
    is($lost, 0, 'reload: every one of ' . scalar(@res) . ' requests got '
       . 'a whole answer') or diag(explain([grep { !$_->{complete} } @res]));
    is(($by{200} // 0) + ($by{429} // 0), scalar @res,
       'reload: each 200 or 429') or diag(explain(\%by));
    is($with_retry, scalar @refused, 'reload: every 429 has a Retry-After');
    cmp_ok($by{200} // 0, '<=', $allowed, "reload: " . ($by{200} // 0)
           . ' admitted, within one bucket and the refill: the zone was '
           . 'kept');

    push @figures, sprintf('reload: %d reloads in %.1f s under %d '
                           . 'connections: %d requests, %d lost; %d '
                           . 'admitted (at most %d allowed), %d refused',
                           $reloads, $took, $CONNS, scalar @res, $lost,
                           $by{200} // 0, $allowed, $by{429} // 0);
}

# A load while $KILLS workers are killed with SIGKILL: the requests on a
# killed worker lose their connection (nothing can answer them), the
# others are served; afterwards no lock is held, and what the dead had
# reserved is repaid by the refill.
sub phase_kill {
    my $path = "/model/$MODEL{kill}/invoke";
    my $every = $SECONDS / ($KILLS + 1);
    my $next = time + $every;
    my $kills = 0;
    my $t_last = 0;

    my @res = drive(port => $port{load}, timeout => 15, conns => $CONNS,
                    seconds => $SECONDS, pause_after_429 => 0.05,
                    requests => [request($path, max_tokens => 1000)],
                    tick => sub {
                        return if time < $next || $kills >= $KILLS;
                        my @w = worker_pids();
                        kill 'KILL', $w[$kills % @w] if @w;
                        $kills++;
                        $t_last = time;
                        $next += $every;
                    });

    my $cut = grep { !$_->{complete} } @res;
    my $after = grep { $_->{complete} && $_->{t_start} > $t_last + 0.2 }
                @res;

    is($kills, $KILLS, "kill: $kills workers killed under load");
    cmp_ok($cut, '<=', $CONNS * $KILLS, "kill: $cut requests lost their "
           . 'connection with the killed workers, no more than were on '
           . 'them');
    cmp_ok($after, '>', 0, "kill: $after requests answered after the last "
           . 'kill');
    wait_until(sub { worker_pids() == 2 }, 5);
    is(scalar(worker_pids()), 2, 'kill: the master started new workers');

    # no lock held: ten requests in a row each answered at once (a zone
    # of another key, and the killed key, nodelay)
    my $slowest = 0;
    for my $model ($MODEL{cut}, $MODEL{kill}) {
        for (1 .. 5) {
            my $t = time;
            my ($r) = drive(port => $port{probe}, timeout => 5,
                            requests => [request("/model/$model/invoke",
                                                 max_tokens => 10)]);
            $slowest = max($slowest, time - $t);
            fail("kill: a request after the kills got $r->{status}")
                unless $r->{status} =~ /^(200|429)$/;
        }
    }
    cmp_ok($slowest, '<', 1, sprintf('kill: afterwards each request is '
           . 'answered at once (slowest %.0f ms): no lock left held',
           $slowest * 1000));

    # the dead held at most $CONNS reservations of about 1010 tokens (and
    # the queue behind them at most the delay's worth): the refill repays
    # them in $CONNS * 1010 / 1000 s plus the delay
    my $bound = $CONNS * 1010 / 1000 + 2 + 1;
    my $t0 = time;
    my $admitted = 0;
    while (time - $t0 < $bound + 2) {
        my ($r) = drive(port => $port{probe}, timeout => 5,
                        requests => [request($path, max_tokens => 1000)]);
        if ($r->{status} == 200) {
            $admitted = 1;
            last;
        }
        sleep min(max($r->{headers}{'retry-after'} // 1, 0.2), 1);
    }
    my $recovered = time - $t0;

    ok($admitted, sprintf('kill: the zone admits again %.1f s after the '
       . 'load, within the %.0f s the dead reservations are worth',
       $recovered, $bound)) and cmp_ok($recovered, '<=', $bound);

    my $log = slurp("$dir/logs/error.log");
    my $signals = () = $log =~ /exited on signal 9/g;
    my $locked = () = $log =~ /was locked by/g;
    is($signals, $KILLS, 'kill: the master saw each worker killed');

    push @figures, sprintf('kill: %d workers killed under %d connections: '
                           . '%d requests lost with them, %d answered, '
                           . 'zone locks released by the master %d times; '
                           . 'the zone admitted again after %.1f s '
                           . '(bound %.0f s)', $kills, $CONNS, $cut,
                           scalar(@res) - $cut, $locked, $recovered,
                           $bound);
}


# -- nginx -----------------------------------------------------------------

sub write_conf {
    my ($comment) = @_;
    my $emu = Bedrock::Emulator::port();
    my $load = join '', map { "load_module $_;\n" } split ' ', $MODULES;
    my $user = $> == 0 ? 'user root;' : '';

    $comment //= '';

    # the internal location, and the location of a server
    my $internal = <<'LOC';
        location = /_bedrock {
            internal;
            proxy_pass $bedrock_upstream;
            proxy_buffering off;
            proxy_http_version 1.1;
            proxy_read_timeout 1s;
        }
LOC

    my $server = sub {
        my ($name, $limit, $target) = @_;
        $target //= "127.0.0.1:$emu";
        return <<"SERVER";
    server {
        listen 127.0.0.1:$port{$name} backlog=4096;

        location /model/ {
            bedrock_pass http://$target region=us-east-1;
            bedrock_credentials key=AKIDLOADFAULTS
                                secret=load/faults/EXAMPLEKEY;
            bedrock_retry attempts=3 base=2s max=2s jitter=none;
            $limit
            add_header X-Limit \$bedrock_limit_status always;
        }
$internal
    }
SERVER
    };

    spew("$dir/conf/nginx.conf", $load . <<"CONF"
$user
worker_processes 2;
worker_rlimit_nofile $NOFILE;
master_process on;
daemon on;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;

events {
    worker_connections ${\ int($NOFILE / 2) };
    accept_mutex off;
}

http {
    access_log off;
    $comment

    bedrock_limit_zone \$bedrock_model zone=queue:1m tpm=60000000;
    bedrock_limit_zone \$bedrock_model zone=over:1m tpm=30000;
    bedrock_limit_zone \$bedrock_model zone=load:1m tpm=60000;

CONF
        . $server->('cut', '')
        . $server->('queue', 'bedrock_limit zone=queue delay=20s;')
        . $server->('burst', 'bedrock_limit zone=queue delay=20s;',
                    "127.0.0.1:$port{canned}")
        . $server->('over', 'bedrock_limit zone=over delay=2s;')
        . $server->('load', 'bedrock_limit zone=load delay=2s;')
        . $server->('probe', 'bedrock_limit zone=load nodelay;')
        . <<"CANNED" . "}\n");
    # a Bedrock that answers at once, for the bursts of queued clients
    server {
        listen 127.0.0.1:$port{canned} backlog=4096;

        location / {
            default_type application/json;
            return 200 '{"id":"msg_canned","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":100}}';
        }
    }
CANNED
}

sub nginx {
    my @cmd = ($NGINX, '-p', "$dir/", '-c', "$dir/conf/nginx.conf",
               '-e', "$dir/logs/error.log", @_);
    system(@cmd) == 0
        or BAIL_OUT("@cmd failed: " . slurp("$dir/logs/error.log"));
}

sub start_nginx {
    nginx();

    for (1 .. 100) {
        ($master) = slurp("$dir/logs/nginx.pid") =~ /(\d+)/;
        last if $master && worker_pids() == 2;
        sleep 0.05;
    }

    BAIL_OUT('nginx did not start') unless $master;
}

sub stop_nginx {
    return unless $master;
    kill 'QUIT', $master;
    wait_until(sub { !kill 0, $master }, 10);
    kill 'KILL', $master if kill 0, $master;
    undef $master;
}

END { stop_nginx() }

sub worker_pids {
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $line = slurp($stat);
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
        push @pids, $pid if $master && $ppid == $master
                            && $line !~ /\) Z /
                            && slurp("/proc/$pid/cmdline") =~ /worker process/
                            && slurp("/proc/$pid/cmdline") !~ /shutting down/;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

# resident memory of the processes, in bytes
sub rss {
    my $sum = 0;
    for my $pid (@_) {
        my ($kb) = slurp("/proc/$pid/status") =~ /^VmRSS:\s*(\d+)/m;
        $sum += ($kb // 0) * 1024;
    }
    return $sum;
}

sub count_log {
    my ($text) = @_;
    my $n = () = slurp("$dir/logs/error.log") =~ /\Q$text\E/g;
    return $n;
}


# -- HTTP ------------------------------------------------------------------

sub request {
    my ($path, %o) = @_;
    my $body = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":'
               . $o{max_tokens}
               . ',"messages":[{"role":"user","content":"hi"}]}';
    $body = '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
            . '"inferenceConfig":{"maxTokens":' . $o{max_tokens} . '}}'
        if $path =~ /converse/;
    my $headers = join '', map { "$_\r\n" } @{ $o{headers} || [] };

    # answers use all of max_tokens: each settles to what it reserved
    return "POST $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . "Content-Type: application/json\r\n"
           . "X-Emulator-Output-Tokens: 100000\r\n$headers"
           . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# A response read until the server closed: status, headers (lower-case
# names), body; complete when its framing says it is whole.
sub parse {
    my ($buf) = @_;
    my %res = (status => 0, headers => {}, body => '', complete => 0);
    my $end = index($buf, "\r\n\r\n");

    return \%res if $end < 0;

    my ($line, @lines) = split /\r\n/, substr($buf, 0, $end);
    ($res{status}) = $line =~ m{^HTTP/1\.\d (\d+)};
    $res{status} //= 0;
    for (@lines) {
        $res{headers}{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }

    my $rest = substr($buf, $end + 4);

    if (($res{headers}{'transfer-encoding'} // '') eq 'chunked') {
        while ($rest =~ /\G([0-9a-fA-F]+)\r\n/gc) {
            my $size = hex $1;
            if ($size == 0) {
                $res{complete} = $rest =~ /\G\r\n/gc ? 1 : 0;
                last;
            }
            last if length($rest) - pos($rest) < $size + 2;
            $res{body} .= substr($rest, pos($rest), $size);
            pos($rest) += $size + 2;
        }
        $res{body} .= substr($rest, pos($rest) // 0)
            unless $res{complete};
    } else {
        my $len = $res{headers}{'content-length'};
        $res{body} = $rest;
        $res{complete} = defined $len && length($rest) == $len ? 1 : 0;
    }

    return \%res;
}

# Requests on connections of their own, all at once (requests => [...]),
# or conns connections for seconds, each sending requests[0] again as
# soon as it has its answer (pause_after_429 after a 429).  tick runs
# between polls; leave_after, with leave (a sub called once per request),
# closes the chosen connections that long after they were sent.  Returns
# the responses, each with t_start, t_end, eof, left.
sub drive {
    my (%o) = @_;
    my $poll = IO::Poll->new;
    my (%conn, @done);
    my @queue = @{ $o{requests} };
    my $looping = defined $o{seconds};
    my $end = $looping ? time + $o{seconds} : 0;
    my $deadline = time + ($o{seconds} // 0) + ($o{timeout} || 30);

    my $open = sub {
        my ($req, $at) = @_;
        my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                         PeerPort => $o{port}, Proto => 'tcp',
                                         Blocking => 0);
        if (!$sock) {
            push @done, { status => 0, complete => 0, error => "$!",
                          t_start => time, t_end => time };
            return;
        }
        $conn{fileno $sock} = { sock => $sock, out => $req, in => '',
                                t_start => time, at => $at // 0,
                                leave => $o{leave} ? $o{leave}->() : 0 };
        $poll->mask($sock => POLLOUT);
    };

    if ($looping) {
        $open->($queue[0]) for 1 .. $o{conns};
    } else {
        $open->($_) for @queue;
    }

    while (%conn && time < $deadline) {
        $o{tick}->() if $o{tick};

        my $now = time;
        for my $fd (keys %conn) {
            my $c = $conn{$fd};
            next unless $c->{leave} && $o{leave_after}
                        && $now - $c->{t_start} >= $o{leave_after};
            $poll->remove($c->{sock});
            close $c->{sock};
            delete $conn{$fd};
            push @done, { status => 0, complete => 0, left => 1,
                          t_start => $c->{t_start}, t_end => $now };
        }

        $poll->poll(0.05);

        for my $sock ($poll->handles) {
            my $ev = $poll->events($sock) or next;
            my $c = $conn{fileno $sock} or next;

            if ($ev & POLLOUT) {
                next if $c->{at} > time;
                my $n = syswrite($sock, $c->{out});
                if (defined $n) {
                    substr($c->{out}, 0, $n) = '';
                    $poll->mask($sock => POLLIN) if $c->{out} eq '';
                } elsif ($! != EAGAIN && $! != EINPROGRESS) {
                    $c->{out} = '';
                    $poll->mask($sock => POLLIN);
                }
                next;
            }

            my $n = sysread($sock, $c->{in}, 65536, length $c->{in});
            next if !defined $n && $! == EAGAIN;
            next if $n;

            # closed by nginx: the response is whatever came
            my $res = parse($c->{in});
            $res->{eof} = 1;
            $res->{error} = "$!" unless defined $n;
            $res->{t_start} = $c->{t_start};
            $res->{t_end} = time;
            push @done, $res;

            $poll->remove($sock);
            delete $conn{fileno $sock};
            close $sock;

            $open->($queue[0], $res->{status} == 429
                               ? time + ($o{pause_after_429} // 0) : 0)
                if $looping && time < $end;
        }
    }

    for my $c (values %conn) {
        push @done, { status => 0, complete => 0, error => 'timeout',
                      t_start => $c->{t_start}, t_end => time };
        close $c->{sock};
    }

    return @done;
}

# one request on a blocking socket, answered later
sub start_request {
    my ($p, $req) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
                                     Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    print $sock $req;
    return $sock;
}

sub finish_request {
    my ($sock) = @_;
    my $buf = '';
    my $poll = IO::Poll->new;
    my $deadline = time + 20;

    $poll->mask($sock => POLLIN);
    while (time < $deadline) {
        $poll->poll(1) or next;
        my $n = sysread($sock, $buf, 65536, length $buf);
        last unless $n;
    }
    close $sock;
    return parse($buf);
}

sub by_status {
    my %by;
    $by{$_->{status}}++ for @_;
    return %by;
}


# -- odds and ends ---------------------------------------------------------

sub wait_until {
    my ($cond, $seconds) = @_;
    my $deadline = time + $seconds;
    until ($cond->()) {
        return 0 if time > $deadline;
        sleep 0.05;
    }
    return 1;
}

sub max { my $m = shift; for (@_) { $m = $_ if $_ > $m } $m }
sub min { my $m = shift; for (@_) { $m = $_ if $_ < $m } $m }

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
