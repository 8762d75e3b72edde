# bedrock_status: the JSON and Prometheus views, how the view is chosen,
# and that the views agree with each other and with what the clients and
# Bedrock saw, under load from two workers.  promtool (Debian's prometheus
# package) checks every Prometheus answer.
#
# Checks that need Perl (parse the JSON, compare two answers, run
# promtool, start or wait for a load between two requests) are made by
# check() (Bedrock::Check): a pattern for "--- response_body eval" that runs a sub
# on the body, so that they work under this project's runner and under
# the real Test::Nginx alike.

use Test::Nginx::Socket 'no_plan';
use Bedrock::Emulator;
use Bedrock::Check;

use Encode ();
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Time::HiRes ();

Bedrock::Emulator::start(auth => 'none', output_tokens => 16);

our $HAIKU = 'anthropic.claude-3-haiku-20240307-v1:0';
our $NOVA = 'amazon.nova-micro-v1:0';
our $LLAMA = 'meta.llama3-8b-instruct-v1:0';
our $CONVERSE = '{"messages":[{"role":"user","content":[{"text":"Hello"}]}],'
    . '"inferenceConfig":{"maxTokens":1000}}';

# the gateway's credentials and a client's key, in TEST 9
our $SECRETS = qr/AKIDGATEWAY|wJalrXUtnFEMI|SECRETKEY|FwoGZXIvYXdz|SESSIONTOKEN
                  |gw-client-secret|9f8e7d|GWKEYSTATUS/x;

# answers that cost a key its bucket for a while
our $LONG = 'X-Emulator-Output-Tokens: 1000';

our $ANSWERED = qr/"stopReason":"(?:end_turn|max_tokens)"/;

our $PROMTOOL = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : undef;

our (@Json, @Prom);     # the answers of the block so far, parsed
our (%Load, $LoadDir);  # the load running in the background
our $Clients;           # what its clients got

add_block_preprocessor(sub {
    my $block = shift;

    workers($block->workers // 1);

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
        proxy_read_timeout 5s;
    }
    location = /bedrock/status {
        bedrock_status;
    }
_EOC_

    @Json = ();
    @Prom = ();
});

master_on();
repeat_each(1);
no_shuffle();
run_tests();


# -- checks --------------------------------------------------------------

# the JSON view: parsed (strictly: UTF-8, JSON), kept, checked by $code
sub json {
    my ($code) = @_;
    return check('json', sub {
        my $j = eval { JSON::PP->new->utf8->decode($_[0]) };
        return "not JSON: $@" unless ref $j eq 'HASH';
        push @Json, $j;
        return $code ? $code->($j) : undef;
    });
}

# the Prometheus view: promtool accepts it; parsed, kept, checked by $code
sub prom {
    my ($code) = @_;
    return check('prometheus', sub {
        my ($body) = @_;
        my $err = promtool($body);
        return $err if $err;
        my $p = parse_prom($body);
        return $p unless ref $p;
        push @Prom, $p;
        return $code ? $code->($p) : undef;
    });
}

sub promtool {
    my ($body) = @_;
    return undef unless $PROMTOOL;
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/metrics" or die;
    print $fh $body;
    close $fh;
    my $out = `$PROMTOOL check metrics < $dir/metrics 2>&1`;
    return $? == 0 ? undef : "promtool check metrics: $out";
}

# series (name{labels}, the labels as written) => value, plus TYPE lines
sub parse_prom {
    my ($text) = @_;
    my (%v, %type);

    $text = Encode::decode('UTF-8', $text, Encode::FB_CROAK);

    for my $line (split /\n/, $text) {
        if ($line =~ /^# TYPE (\S+) (\S+)$/) {
            $type{$1} = $2;
            next;
        }
        next if $line =~ /^#/;
        $line =~ /^([a-z_:][a-z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?) (\S+)$/i
            or return "cannot parse \"$line\"";
        return "series $1 twice" if exists $v{$1};
        $v{$1} = $2;
    }

    return { values => \%v, types => \%type };
}

sub esc {
    my ($s) = @_;
    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub sec { return sprintf '%.3f', $_[0] / 1000 }

# What the Prometheus view must say, series by series, for a JSON answer:
# [value, kind], kind "c" for counters, else the gauge's direction over
# time when nothing else happens ("up": refills, "down": runs out, "=").
sub prom_of_json {
    my ($j) = @_;
    my %p;
    my $c = sub { $p{$_[0]} = [$_[1], 'c'] };
    my $g = sub { $p{$_[0]} = [$_[1], $_[2] // '='] };

    $g->('bedrock_start_time_seconds', $j->{started});
    $g->('bedrock_config_generation', $j->{generation});
    $c->("bedrock_requests_total{code=\"$_\"}", $j->{requests}{$_})
        for qw(1xx 2xx 3xx 4xx 5xx other);
    $c->('bedrock_stream_responses_total', $j->{requests}{streams});

    my $u = $j->{upstream};
    $c->('bedrock_upstream_attempts_total', $u->{attempts});
    $c->('bedrock_upstream_retries_total', $u->{retries});
    $c->('bedrock_upstream_failovers_total', $u->{failovers});
    $c->('bedrock_upstream_retry_wait_seconds_total',
         sec($u->{retry_wait_ms}));
    for my $t (keys %{ $u->{errors} }) {
        $c->("bedrock_upstream_errors_total{error_type=\"$t\"}",
             $u->{errors}{$t});
        $c->("bedrock_stream_exceptions_total{error_type=\"$t\"}",
             $u->{stream_exceptions}{$t});
    }

    $c->('bedrock_compressed_requests_total', $j->{compression}{requests});
    $c->('bedrock_compression_saved_tokens_total',
         $j->{compression}{tokens_saved});

    my $l = $j->{limit};
    $c->("bedrock_limit_requests_total{status=\"$_\"}", $l->{$_})
        for qw(passed delayed rejected);
    for my $b (keys %{ $l->{wait}{buckets_ms} }) {
        my $le = $b eq '+Inf' ? $b : sec($b);
        $c->("bedrock_limit_wait_seconds_bucket{le=\"$le\"}",
             $l->{wait}{buckets_ms}{$b});
    }
    $c->('bedrock_limit_wait_seconds_sum', sec($l->{wait}{sum_ms}));
    $c->('bedrock_limit_wait_seconds_count', $l->{wait}{count});
    $g->('bedrock_limit_wait_max_seconds', sec($l->{wait}{max_ms}), 'c');

    for my $f (keys %{ $j->{families} }) {
        my $v = $j->{families}{$f};
        my $l = "{family=\"$f\"}";
        $c->("bedrock_model_requests_total$l", $v->{requests});
        $c->("bedrock_estimated_input_tokens_total$l",
             $v->{input_tokens_estimated});
        $c->("bedrock_usage_reports_total$l", $v->{usage_reports});
        $c->("bedrock_usage_estimated_input_tokens_total$l",
             $v->{usage_input_tokens_estimated});
        $c->("bedrock_usage_input_tokens_total$l", $v->{input_tokens});
        $c->("bedrock_usage_output_tokens_total$l", $v->{output_tokens});
    }

    for my $name (keys %{ $j->{zones} }) {
        my $z = $j->{zones}{$name};
        my $zl = 'zone="' . esc($name) . '"';

        $g->("bedrock_zone_tokens_per_minute{$zl}", $z->{tpm});
        $g->("bedrock_zone_requests_per_minute{$zl}", $z->{rpm}) if $z->{rpm};
        $g->("bedrock_zone_memory_bytes{$zl}", $z->{memory}{size});
        $g->("bedrock_zone_memory_used_bytes{$zl}", $z->{memory}{used});
        $g->("bedrock_zone_keys{$zl}", $z->{keys_total});
        $c->("bedrock_zone_evictions_total{$zl}", $z->{evicted});

        for my $f (keys %{ $z->{estimate_ratios} }) {
            my $r = $z->{estimate_ratios}{$f};
            $g->("bedrock_zone_estimate_ratio{$zl,family=\"$f\"}",
                 sprintf('%.3f', $r->{ratio}), '?');
            $c->("bedrock_zone_estimate_samples_total{$zl,family=\"$f\"}",
                 $r->{samples});
        }

        for my $k (@{ $z->{keys} }, { %{ $z->{other} }, key => 'other' }) {
            my $kl = "$zl,key=\"" . esc($k->{key}) . '"';
            my $other = !exists $k->{tokens_available};

            unless ($other) {
                $g->("bedrock_key_tokens_available{$kl}",
                     $k->{tokens_available}, 'up');
                $g->("bedrock_key_requests_available{$kl}",
                     $k->{requests_available}, 'up') if $z->{rpm};
                $g->("bedrock_key_cooldown_seconds{$kl}",
                     sec($k->{cooldown_ms}), 'down');
                $g->("bedrock_key_wait_max_seconds{$kl}",
                     sec($k->{wait}{max_ms}), 'c');
            }
            $c->("bedrock_key_requests_total{$kl,status=\"$_\"}", $k->{$_})
                for qw(passed delayed rejected);
            $c->("bedrock_key_reserved_tokens_total{$kl}",
                 $k->{tokens_reserved});
            $c->("bedrock_key_settled_tokens_total{$kl}",
                 $k->{tokens_settled});
            $c->("bedrock_key_input_tokens_total{$kl}",
                 $k->{input_tokens_settled});
            $c->("bedrock_key_output_tokens_total{$kl}",
                 $k->{output_tokens_settled});
            $c->("bedrock_key_waits_total{$kl}", $k->{wait}{count});
            $c->("bedrock_key_wait_seconds_total{$kl}",
                 sec($k->{wait}{sum_ms}));
        }
    }

    return \%p;
}

# The Prometheus answer $p, taken between the JSON answers $j1 and $j2
# (or right after $j1): the same series, and each counter between its two
# JSON values (equal to them when nothing happened in between); $busy
# when requests ran meanwhile.
sub agree {
    my ($j1, $p, $j2, $busy) = @_;
    my $e1 = prom_of_json($j1);
    my $e2 = prom_of_json($j2 // $j1);
    my $got = $p->{values};
    my @bad;

    for my $s (sort keys %$e1) {
        next unless exists $e2->{$s};
        if (!exists $got->{$s}) {
            push @bad, "$s: in the JSON, not in Prometheus";
            next;
        }
        my ($a, $kind) = @{ $e1->{$s} };
        my $b = $e2->{$s}[0];
        my $v = $got->{$s};
        my ($lo, $hi) = ($a, $b);

        # a level refills (or runs out) by itself; under load it moves
        # either way

        if ($kind eq '?' || ($busy && $kind ne 'c')) {
            ($lo, $hi) = (-1e18, 1e18);

        } elsif (!$j2 && $kind eq 'up') {
            $hi = 1e18;

        } elsif (!$j2 && $kind eq 'down') {
            $lo = 0;

        } elsif ($kind eq 'down') {
            ($lo, $hi) = ($b, $a);
        }

        push @bad, "$s: $v, not within [$lo, $hi]"
            if $v < $lo - 1e-9 || $v > $hi + 1e-9;
    }

    for my $s (sort keys %$got) {
        push @bad, "$s: in Prometheus, not in the JSON"
            unless exists $e1->{$s} || exists $e2->{$s};
    }

    return @bad ? join("\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]) : undef;
}

# every zone: the keys shown plus "other" add up to the zone's totals
sub zone_sums {
    my ($j) = @_;
    for my $name (sort keys %{ $j->{zones} }) {
        my $z = $j->{zones}{$name};
        for my $f (qw(passed delayed rejected tokens_reserved
                      tokens_settled input_tokens_settled
                      output_tokens_settled wait/count wait/sum_ms))
        {
            my $get = sub {
                my $v = $_[0];
                $v = $v->{$_} for split m{/}, $f;
                return $v;
            };
            my $sum = $get->($z->{other});
            $sum += $get->($_) for @{ $z->{keys} };
            return "zone $name: $f of the keys add up to $sum, "
                   . "not " . $get->($z) if $sum != $get->($z);
        }
        return "zone $name: $z->{wait}{count} admitted after a wait, "
               . "$z->{delayed} delayed"
            if $z->{wait}{count} > $z->{delayed};
    }
    return undef;
}

# the zone settled the output tokens Bedrock reported, and at least its
# input tokens (an answer without usage settles its cost as input)
sub settled_usage {
    my ($j) = @_;
    my ($in, $out) = (0, 0);
    for my $f (values %{ $j->{families} }) {
        $in += $f->{input_tokens};
        $out += $f->{output_tokens};
    }
    for my $name (sort keys %{ $j->{zones} }) {
        my $z = $j->{zones}{$name};
        return "zone $name settled $z->{output_tokens_settled} output "
               . "tokens, Bedrock reported $out"
            if $z->{output_tokens_settled} != $out;
        return "zone $name settled $z->{input_tokens_settled} input "
               . "tokens, Bedrock reported $in"
            if $z->{input_tokens_settled} < $in || $in == 0;
    }
    return undef;
}

# "path=value" pairs, all of which must hold
sub expect {
    my ($j, %want) = @_;
    my @bad;
    for my $path (sort keys %want) {
        my $v = $j;
        $v = ref $v eq 'ARRAY' ? $v->[$_] : $v->{$_} for split m{/}, $path;
        push @bad, "$path is " . ($v // 'missing') . ", not $want{$path}"
            unless defined $v && $v eq $want{$path};
    }
    return @bad ? join('; ', @bad) : undef;
}


# -- load ----------------------------------------------------------------

# $n clients, each sending $m requests one after the other: Converse and
# ConverseStream to two models, some throttled once by Bedrock, some
# refused by it, some streams broken by an exception.  Each client writes
# the statuses it got to a file of its own.
sub start_load {
    my ($n, $m) = @_;
    my $port = server_port();

    $LoadDir = tempdir(CLEANUP => 1);
    %Load = ();

    for my $i (1 .. $n) {
        my $pid = fork();
        die "fork: $!" unless defined $pid;

        if ($pid == 0) {
            my @got;
            for my $k (1 .. $m) {
                my $model = $i % 2 ? $::HAIKU : $::NOVA;
                my $op = $k % 3 == 1 ? 'converse-stream' : 'converse';
                my $fault = $k % 5 == 0 ? 'throttle'
                          : $k % 7 == 3 ? 'validation'
                          : ($op eq 'converse-stream' && $k % 4 == 1)
                            ? 'break=2' : undef;
                my @h = ('X-Emulator-Tag: load');
                push @h, "X-Emulator-Fault: $fault; key=load-$$-$k"
                    if $fault;
                push @got, request($port, "/model/$model/$op", $::CONVERSE,
                                   @h);
            }
            open my $out, '>', "$LoadDir/$i" or POSIX::_exit(1);
            print $out map { "$_\n" } @got;
            close $out;
            POSIX::_exit(0);
        }

        $Load{$pid} = 1;
    }

    return undef;
}

# waits for the clients; returns the statuses they got, counted
sub end_load {
    my %count;
    waitpid($_, 0) for keys %Load;
    %Load = ();
    for my $f (glob "$LoadDir/*") {
        open my $in, '<', $f or next;
        $count{total}++, $count{$_}++ for map { chomp; $_ } <$in>;
    }
    return \%count;
}

sub request {
    my ($port, $path, $body, @headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Timeout => 10)
        or return 'connect';
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
             . "Connection: close\r\nContent-Type: application/json\r\n"
             . join('', map { "$_\r\n" } @headers)
             . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    my $res = do { local $/; <$s> } // '';
    return $res =~ m{^HTTP/1\.1 (\d+)} ? $1 : 'none';
}

sub count_emulator {
    my (%what) = @_;
    my $log = Bedrock::Emulator::requests(tag => 'load',
                                          fields => 'status,stream');
    my %n = (attempts => scalar @$log);
    for my $r (@$log) {
        $n{"status_$r->{status}"}++;
        $n{$r->{stream}}++ if $r->{stream};
    }
    return \%n;
}

__DATA__

=== TEST 1: JSON by default: the gateway's counters, and every zone with its quota
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
    bedrock_limit_zone $http_x_team zone=teams:1m tpm=200000 rpm=600;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=models;
        bedrock_limit zone=teams nodelay;
    }
--- request
GET /bedrock/status
--- response_headers
Content-Type: application/json
Cache-Control: no-store
Vary: Accept
--- response_body eval
::json(sub {
    my ($j) = @_;
    return ::expect($j, 'counted' => 1, 'generation' => 1,
                    'nginx_version' => '1.22.1', 'requests/total' => 0,
                    'upstream/attempts' => 0, 'limit/rejected' => 0,
                    'zones/models/key' => '$bedrock_model',
                    'zones/models/tpm' => 60000, 'zones/models/rpm' => 0,
                    'zones/models/memory/size' => 1048576,
                    'zones/models/keys_total' => 0,
                    'zones/teams/key' => '$http_x_team',
                    'zones/teams/rpm' => 600)
        // (abs($j->{timestamp} / 1000 - time) < 5 ? undef
            : "timestamp $j->{timestamp} is not now")
        // ($j->{zones}{models}{memory}{used} > 0 ? undef
            : 'zone memory in use is 0');
})
--- no_error_log
[error]



=== TEST 2: a mix of requests is counted: answers, retries, failover, errors, streams, compression, tokens
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:1 region=us-east-1
                     http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=models;
        bedrock_retry attempts=10 base=10ms max=20ms;
        bedrock_max_input_tokens 2000;
    }
--- request eval
[
"POST /model/$::HAIKU/converse
$::CONVERSE",
"POST /model/$::HAIKU/converse
$::CONVERSE",
"POST /model/$::HAIKU/converse-stream
$::CONVERSE",
"POST /model/$::LLAMA/invoke
{\"prompt\":\"" . ("word " x 3000) . "\",\"max_gen_len\":100}",
"POST /model/$::HAIKU/converse
$::CONVERSE",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=prometheus",
"GET /bedrock/status?format=json",
]
--- more_headers eval
[
"X-Emulator-Fault: ok",
"X-Emulator-Fault: throttle*2; key=mix-2",
"X-Emulator-Fault: break=3; key=mix-3",
"",
"X-Emulator-Fault: validation; key=mix-5",
"", "", "",
]
--- error_code eval
[200, 200, 200, 200, 400, 200, 200, 200]
--- response_body eval
[
$::ANSWERED, $::ANSWERED, qr/throttlingException/, qr/"generation"/,
qr/Input is too long/,
::json(sub {
    my ($j) = @_;
    # each request tried the dead target first, then the emulator: two
    # attempts and a failover each; the throttled one went on from the
    # emulator to the dead target twice more (dead, 429, dead, 429, dead,
    # 200): six attempts, five failovers
    return ::expect($j,
        'requests/total' => 5, 'requests/2xx' => 4, 'requests/4xx' => 1,
        'requests/streams' => 1,
        'upstream/attempts' => 14, 'upstream/retries' => 9,
        'upstream/failovers' => 9,
        'upstream/errors/error' => 7,
        'upstream/errors/ThrottlingException' => 2,
        'upstream/errors/ValidationException' => 1,
        'upstream/stream_exceptions/ThrottlingException' => 1,
        'compression/requests' => 1,
        'limit/passed' => 5, 'limit/delayed' => 0, 'limit/rejected' => 0,
        'families/anthropic/requests' => 4,
        'families/anthropic/usage_reports' => 2,
        'families/anthropic/output_tokens' => 32,
        'families/meta/requests' => 1,
        'families/meta/usage_reports' => 1,
        'zones/models/keys_total' => 2,
        'zones/models/keys/0/key' => $::HAIKU,
        'zones/models/keys/1/key' => $::LLAMA,
        'zones/models/keys/0/tokens_capacity' => 60000,
        'zones/models/wait/count' => 0, 'zones/models/wait/sum_ms' => 0)
        // ::settled_usage($j)
        // ($j->{compression}{tokens_after} <= 2000
            && $j->{compression}{tokens_saved} > 500 ? undef
            : "compression: $j->{compression}{tokens_before} -> "
              . "$j->{compression}{tokens_after}")
        // ::zone_sums($j);
}),
::prom(sub { ::agree($::Json[-1], $_[0]) }),
::json(sub { ::agree($::Json[-2], $::Prom[-1], $_[0]) }),
]
--- no_error_log
[alert]
[crit]



=== TEST 3: under load from two workers, the views agree with each other and with what clients and Bedrock saw
--- workers: 2
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=6000;
    log_format pids '$pid $status $request_uri';
    access_log logs/pids.log pids;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=models delay=2s;
        bedrock_retry attempts=5 base=10ms max=50ms;
    }
--- request eval
[
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=prometheus",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=prometheus",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=prometheus",
"GET /bedrock/status?format=json",
]
--- timeout: 60
--- response_body eval
[
::json(sub { ::start_load(8, 15) }),
::json(sub { Time::HiRes::sleep(0.3); undef }),
::prom(),
::json(sub {
    # taken in the middle of the load: the Prometheus answer lies between
    # the JSON answers before and after it
    Time::HiRes::sleep(0.3);
    return ::agree($::Json[-2], $::Prom[-1], $_[0], 'busy')
        // ($_[0]{requests}{total} > $::Json[0]{requests}{total} ? undef
            : 'no request was counted during the load');
}),
::prom(),
::json(sub {
    my $err = ::agree($::Json[-2], $::Prom[-1], $_[0], 'busy');
    $::Clients = ::end_load();
    return $err;
}),
::json(sub {
    my ($j) = @_;
    my $c = $::Clients;
    my $e = ::count_emulator();
    my $z = $j->{zones}{models};
    my %want = (
        'requests/total' => $c->{total},
        'requests/2xx' => $c->{200} // 0,
        'requests/4xx' => ($c->{400} // 0) + ($c->{429} // 0),
        'requests/5xx' => 0,
        'limit/rejected' => $c->{429} // 0,
        'upstream/attempts' => $e->{attempts},
        'upstream/errors/ThrottlingException' => $e->{status_429} // 0,
        'upstream/errors/ValidationException' => $e->{status_400} // 0,
        'upstream/stream_exceptions/ThrottlingException'
            => $e->{'exception:throttlingException'} // 0,
        'zones/models/rejected' => $c->{429} // 0,
        'zones/models/keys_total' => 2,
    );
    return "the clients got something else than 200, 400 and 429: "
           . CORE::join(' ', %$c) if grep { !/^(total|200|400|429)$/ } keys %$c;
    return ::expect($j, %want)
        // ($c->{total} == 120 ? undef : "$c->{total} requests, not 120")
        // ($j->{limit}{passed} + $j->{limit}{delayed}
            + $j->{limit}{rejected} == $c->{total} ? undef
            : 'passed + delayed + rejected is not every request')
        // ($z->{passed} + $z->{delayed} == $e->{attempts} ? undef
            : "the zone admitted $z->{passed} + $z->{delayed}, "
              . "not the $e->{attempts} attempts")
        // ($j->{limit}{delayed} + ($c->{429} // 0) > 0 ? undef
            : 'the load neither waited nor was refused: too light')
        // ($j->{limit}{wait}{count} >= $j->{limit}{delayed}
            && $j->{limit}{wait}{buckets_ms}{'+Inf'}
               == $j->{limit}{wait}{count}
            && $j->{limit}{wait}{sum_ms} >= $j->{limit}{wait}{max_ms}
            ? undef : 'the wait histogram does not add up')
        // ($z->{wait}{sum_ms} >= $z->{wait}{max_ms}
            && ($z->{delayed} == 0 || $z->{wait}{max_ms} > 0)
            && $z->{wait}{count} == $z->{delayed}
            && $z->{wait}{max_ms} <= 2500
            ? undef : 'the zone\'s waits do not add up: '
                      . CORE::join(' ', %{ $z->{wait} }))
        // ::settled_usage($j)
        // ($j->{families}{anthropic}{requests}
            + $j->{families}{amazon}{requests} == $c->{total} ? undef
            : 'the families do not add up')
        // ::zone_sums($j);
}),
::prom(sub { ::agree($::Json[-1], $_[0]) }),
::json(sub {
    my ($j) = @_;
    my %pids;
    open my $log, '<', ::server_root() . '/logs/pids.log' or return "$!";
    /^(\d+) \d+ \/model\// and $pids{$1} = 1 while <$log>;
    return ::agree($::Json[-2], $::Prom[-1], $j)
        // (keys %pids >= 2 ? undef
            : 'the load was served by ' . (keys %pids) . ' worker(s)');
}),
]
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 4: the view follows ?format=, then Accept: browsers get the page, Prometheus and text/plain the metrics, anything else JSON
--- request eval
[
"GET /bedrock/status?format=prometheus",
"GET /bedrock/status?format=html",
"GET /bedrock/status",
"GET /bedrock/status",
"GET /bedrock/status",
"GET /bedrock/status",
"GET /bedrock/status",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=xml",
]
--- more_headers eval
[
"", "",
"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
"Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
"Accept: text/plain",
"Accept: */*",
"Accept: application/json, text/html;q=0.5",
"Accept: text/html",
"",
]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 200, 400]
--- response_headers eval
[
"Content-Type: text/plain; version=0.0.4; charset=utf-8",
"Content-Type: text/html; charset=utf-8",
"Content-Type: text/html; charset=utf-8",
"Content-Type: text/plain; version=0.0.4; charset=utf-8",
"Content-Type: text/plain; version=0.0.4; charset=utf-8",
"Content-Type: application/json",
"Content-Type: application/json",
"Content-Type: application/json",
"",
]
--- response_body_like eval
[
qr/^# HELP bedrock_start_time_seconds /,
qr/^<!DOCTYPE html>/,
qr/^<!DOCTYPE html>/,
qr/^# HELP /,
qr/^# HELP /,
qr/^\{"nginx_version":/,
qr/^\{"nginx_version":/,
qr/^\{"nginx_version":/,
qr/400 Bad Request/,
]



=== TEST 5: the page is self-contained: inline CSS and JS, nothing loaded from elsewhere, and a policy that forbids it
--- request
GET /bedrock/status?format=html
--- response_headers
Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'
--- response_body eval
::check('page', sub {
    my ($html) = @_;
    return 'an external reference: ' . $1
        if $html =~ /((?:src|href|url)\s*[=(]\s*["']?\s*(?:[a-z]+:)?\/\/[^"'\s)]*)/i;
    return 'a <link> or <script src>' if $html =~ /<link\b|<script[^>]+src/i;
    return 'no inline script' unless $html =~ /<script>.*fetch\(/s;
    return 'no inline style' unless $html =~ /<style>/;
    return 'not the JSON of its own location'
        unless $html =~ /location\.pathname \+ '\?format=json'/;
    return undef;
})



=== TEST 6: GET and HEAD only
--- request eval
["POST /bedrock/status\n{}", "HEAD /bedrock/status"]
--- error_code eval
[405, 200]



=== TEST 7: key strings of any bytes: valid JSON (U+FFFD for bytes that are not UTF-8) and Prometheus labels promtool accepts
--- http_config
    # answers of 1000 tokens leave the buckets short for seconds: the keys
    # stay in the zone (an idle key whose bucket is full may be dropped)
    bedrock_limit_zone $http_x_team zone=teams:1m tpm=6000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=teams;
    }
--- request eval
[
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=prometheus",
]
--- more_headers eval
[
"X-Team: a \"quoted\" \\\\back\\\\slashed\tteam\n$::LONG",
"X-Team: caf\xc3\xa9 \xff\xfe bytes\n$::LONG",
"X-Team: other\n$::LONG",
"", "",
]
--- response_body eval
[
$::ANSWERED, $::ANSWERED, $::ANSWERED,
::json(sub {
    my ($j) = @_;
    my %keys = map { $_->{key} => 1 } @{ $j->{zones}{teams}{keys} };
    # a key named "other" is counted in the aggregate of that name
    return ::expect($j, 'zones/teams/keys_total' => 3,
                    'zones/teams/other/passed' => 1,
                    'zones/teams/other/keys' => 1)
        // ($keys{"a \"quoted\" \\\\back\\\\slashed\tteam"} ? undef
            : 'the quoted key: ' . CORE::join(' | ', keys %keys))
        // ($keys{"caf\x{e9} \x{fffd}\x{fffd} bytes"} ? undef
            : 'the key with bytes: ' . CORE::join(' | ', keys %keys));
}),
::prom(sub { ::agree($::Json[-1], $_[0]) }),
]
--- no_error_log
[error]



=== TEST 8: ?keys=N shows the N most active keys of each zone and adds up the rest as "other"
--- http_config
    # answers of 1000 tokens leave the buckets short for seconds: the keys
    # stay in the zone (an idle key whose bucket is full may be dropped)
    bedrock_limit_zone $http_x_team zone=teams:1m tpm=6000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=teams;
    }
--- request eval
[
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"GET /bedrock/status?format=json&keys=1",
"GET /bedrock/status?format=prometheus&keys=1",
]
--- more_headers eval
["X-Team: a\n$::LONG", "X-Team: b\n$::LONG", "X-Team: b\n$::LONG",
 "X-Team: c\n$::LONG", "", ""]
--- response_body eval
[
$::ANSWERED, $::ANSWERED, $::ANSWERED, $::ANSWERED,
::json(sub {
    ::expect($_[0], 'zones/teams/keys/0/key' => 'b',
             'zones/teams/keys/0/passed' => 2,
             'zones/teams/other/keys' => 2,
             'zones/teams/other/passed' => 2)
    // (@{ $_[0]{zones}{teams}{keys} } == 1 ? undef : 'more than one key')
    // ::zone_sums($_[0]);
}),
::prom(sub { ::agree($::Json[-1], $_[0]) }),
]



=== TEST 9: no secret in any view: not the gateway's AWS credentials, not the clients' keys
--- http_config
    bedrock_limit_zone $bedrock_client zone=clients:1m tpm=100000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_credentials key=AKIDGATEWAYSECRETID secret=wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY token=FwoGZXIvYXdzSESSIONTOKEN0123;
        bedrock_client_keys ../html/client-keys;
        bedrock_limit zone=clients;
    }
--- user_files
>>> client-keys
GWKEYSTATUSEXAMPLE   gw-client-secret-9f8e7d   team-status
--- request eval
[
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=prometheus",
"GET /bedrock/status?format=html",
]
--- more_headers eval
[
"Content-Type: application/json\n"
. `/usr/bin/python3 t/lib/sigv4_client.py GWKEYSTATUSEXAMPLE gw-client-secret-9f8e7d localhost /model/$::HAIKU/converse '$::CONVERSE'`,
"", "", "",
]
--- response_body eval
[
$::ANSWERED,
::json(sub {
    my $text = JSON::PP->new->canonical->encode($_[0]);
    return ::expect($_[0], 'zones/clients/keys/0/key' => 'team-status')
        // ($text =~ $::SECRETS ? "a secret in the JSON: $&" : undef);
}),
::check('no secret', sub {
    $_[0] =~ $::SECRETS ? "a secret: $&"
        : $_[0] =~ /key="team-status"/ ? undef
        : 'the client is not in the metrics';
}),
::check('no secret', sub {
    $_[0] =~ $::SECRETS ? "a secret: $&" : undef;
}),
]



=== TEST 10: without bedrock_pass: the counters are there, at zero, and no zone
--- config
--- request eval
["GET /bedrock/status?format=json", "GET /bedrock/status?format=prometheus"]
--- response_body eval
[
::json(sub {
    ::expect($_[0], 'counted' => 1, 'requests/total' => 0)
    // (keys %{ $_[0]{zones} } ? 'zones' : undef);
}),
::prom(sub { ::agree($::Json[-1], $_[0]) }),
]



=== TEST 11: a reload keeps the counters, and the generation says so
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=60000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=models;
    }
--- request eval
[
"POST /model/$::HAIKU/converse\n$::CONVERSE",
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=json",
]
--- response_body eval
[
$::ANSWERED,
::json(sub {
    # reload, and wait until the new worker has started
    my $root = ::server_root();
    open my $in, '<', "$root/logs/nginx.pid" or return "no pid: $!";
    my $pid = <$in>;
    CORE::chomp $pid;
    kill 'HUP', $pid or return "HUP: $!";
    for (1 .. 50) {
        Time::HiRes::sleep(0.1);
        open my $log, '<', "$root/logs/error.log" or next;
        my $started = grep { /start worker process/ } <$log>;
        return undef if $started >= 2;
    }
    return 'no new worker after the reload';
}),
::json(sub {
    ::expect($_[0], 'generation' => 2, 'requests/total' => 1,
             'started' => $::Json[0]{started},
             'zones/models/passed' => 1);
}),
]



=== TEST 12: bedrock_status takes no argument, and only in a location
--- config
    location = /s { bedrock_status on; }
--- must_die
--- error_log
invalid number of arguments in "bedrock_status" directive



=== TEST 13: not at server level
--- config
    bedrock_status;
--- must_die
--- error_log
"bedrock_status" directive is not allowed here
