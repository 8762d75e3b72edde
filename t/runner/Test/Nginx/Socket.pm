package Test::Nginx::Socket;

# A small runner for test files in Test::Nginx::Socket's data-driven
# format, for machines without the real Test::Nginx (openresty/test-nginx).
# It implements the sections, functions and environment variables listed
# in t/runner/README.md with the real one's nginx.conf, test names and
# test counts, so that a file passing here passes there.  Per block:
# stop the previous nginx, rebuild t/servroot, write nginx.conf, start
# nginx (Test::Nginx::Util), send the request(s), check the response(s)
# and the error log (here).

use strict;
use warnings;

use Test::Base -base;
use Test::Nginx::Util qw(:DEFAULT :runner);
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(min shuffle);
use POSIX qw(EAGAIN);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep);

our $VERSION = '0.33';

our @EXPORT = (@Test::Nginx::Util::EXPORT, qw(is_str plan run_tests));

my $HaveLongString = eval { require Test::LongString; 1 };

# -- the driver ------------------------------------------------------------

sub run_tests () {
    ($NginxVersion, $Test::Nginx::Util::NginxV) = nginx_version();
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
    local $Test::Nginx::Util::LogLevel = $block->log_level
                                         || $Test::Nginx::Util::LogLevel;
    local $Test::Nginx::Util::UseValgrind = defined $block->must_die ? undef
                                            : $Test::Nginx::Util::UseValgrind;

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
    check_valgrind($block)
        if $Test::Nginx::Util::UseValgrind && !defined $skip_why;
}

# "--- skip_nginx: N: OP x.y.z [: reason]": (N, reason) when it applies.
sub skip_spec {
    my ($block) = @_;
    my $spec = $block->skip_nginx // return;

    $spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/
        or bail_out($block->name . " - Invalid --- skip_nginx spec: $spec");
    my ($v, $w) = ($NginxVersion, canon_version($3, $4, $5));
    my %holds = ('<' => $v < $w, '<=' => $v <= $w, '>' => $v > $w,
                 '>=' => $v >= $w);
    return $holds{$2} ? ($1, $6 || "nginx version $2 $3.$4.$5") : ();
}

# Sends each request of the block (a connection each; pipelined ones share
# one), checks each response, then the error log since the last check.
sub run_requests {
    my ($block, $round) = @_;
    my $name = $block->name;
    my @requests = build_requests($block);
    my $timeout = parse_time(scalar $block->timeout) // $Timeout;
    my $per_conn = $block->pipelined_requests
                   ? @{ $block->pipelined_requests } : 1;
    # (whether a check's value is an array per request, the request's index)
    my @index = ($per_conn > 1 || @requests > 1, 0);

    for my $packets (@requests) {
        my ($raw, $head) = send_request($block, $packets, $timeout);
        for (1 .. $per_conn) {
            if (!defined $block->ignore_response) {
                (my $res, $raw) = parse_response($name, $raw // '', $head);
                check_error_code($block, $res, @index);
                check_headers($block, $res, @index);
                check_body($block, $res, $round, @index);
            }
            $index[1]++;
            sleep $block->wait if $block->wait;
            check_error_log($block, $round);
        }
    }
}

# "--- must_die": nginx must fail to start (with that exit code if one is
# given); the error log is checked as after a request.
sub run_must_die {
    my ($block) = @_;
    my ($name, $want) = ($block->name, scalar $block->must_die);

    $ErrLogPos = 0;
    for my $round (0 .. $RepeatEach - 1) {
        my $status = run_command(nginx_command());
        if ($status == -1 || $status & 128) {
            fail("$name - nginx could not run, or dumped core");
        } elsif (looks_like_number($want)) {
            is($want, $status >> 8, "$name - die with the expected exit code");
        } else {
            isnt($status, 0, "$name - die as expected");
        }
        check_error_log($block, $round);
        next if $status != 0;
        warn "WARNING: $name - nginx must die but it does not; killing it\n";
        wait_for(sub { -s $PidFile }, $Timeout);
        stop_nginx($name);
    }
}

# -- requests --------------------------------------------------------------

# The block's requests, each a list of packets ({value, delay_before}).
sub build_requests {
    my ($block) = @_;
    my $name = $block->name;
    my $more = $block->more_headers // '';
    my $raw = $block->raw_request;
    my $list = $block->pipelined_requests;
    my $request = $block->request;

    return [ map { +{ value => $_ } } ref $raw ? @$raw : $raw ] if defined $raw;

    if (defined $list) {
        bail_out("$name - pipelined_requests must be an array")
            if ref $list ne 'ARRAY';
        return [ { value => join '', map {
            http_request($name, expand_env($list->[$_], $name, $RandPorts),
                         $more, $_, $_ == $#$list ? 'close' : 'keep-alive')
        } 0 .. $#$list } ];
    }

    bail_out("$name - request empty") unless defined $request;
    if (!ref $request) {
        1 while $request =~ s/^\s*\#[^\n]+\s+|^\s+//s;
        $request = [$request];
    }
    return map {
        bail_out("$name - request: a string or an array of strings (this "
                 . "runner does not split packets: use raw_request)")
            if ref $request ne 'ARRAY' || ref $request->[$_];
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

    ($line // '') =~ /^\s*(\S+) *(?:(\S+) *)?(?:(\S+) *)?\s*$/
        or bail_out("$name - Request line is not valid: \"$text\"");
    my ($method, $uri, $version) = ($1, $2 // '/', $3 // 'HTTP/1.1');

    $body //= '';
    if (!$chunked && $body ne '' && $headers !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/^\s+|\s+$//gs;
        $headers .= 'Content-Length: ' . length($body) . "\r\n";
    }
    $headers = "Connection: $conn\r\n$headers"
        if $headers !~ /(?:^|\n)Connection/i;
    $headers = "Host: $ServerName\r\n$headers" if $headers !~ /(?:^|\n)Host:/i;
    return "$method $uri $version\r\n$headers\r\n$body";
}

# "--- more_headers" (a text, or with eval one per request) as
# "Name: value\r\n" lines, and whether they ask for a chunked body.
sub more_headers {
    my ($more, $i) = @_;
    my ($out, $chunked) = ('', 0);

    $more = $more->[$i] // bail_out("more_headers: none for request $i")
        if ref $more;
    for (grep { !/^\s*#/ } split /\n+/, $more) {
        my ($key, $val) = split /:\s*/, $_, 2;
        $val //= '';
        $chunked ||= lc $key eq 'transfer-encoding' && $val eq 'chunked';
        $out .= "$key: $val\r\n";
    }
    return ($out, $chunked);
}

# Sends one request, reads until the server closes: "--- timeout" bounds
# each wait on the socket, "--- abort" makes its expiry no failure,
# "--- shutdown" half-closes after the last byte.
sub send_request {
    my ($block, $packets, $timeout) = @_;
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
            fail("ERROR: client socket timed out - " . $block->name . "\n")
                unless defined $block->abort;
            last;
        }
        if ($w && @$w) {
            my $n = syswrite $sock, $buf;
            if (defined $n) {
                substr($buf, 0, $n) = '';
                $buf = next_packet($block, \@todo, $sock) if $buf eq '';
            } elsif ($! != EAGAIN) {
                undef $buf;    # nginx closed early: read what it said
            }
        }
        if ($r && @$r) {
            my $n = sysread $sock, my $chunk, 65536;
            next if !defined $n && $! == EAGAIN;
            warn "WARNING: ", $block->name, " - HTTP response read failure: "
                 . "$!\n" unless defined $n;
            last unless $n;
            $resp .= $chunk;
        }
    }
    close $sock;
    return ($resp, $head);
}

# The next packet, after its delay; when all are written, undef (after
# the "--- shutdown" if there is one).
sub next_packet {
    my ($block, $todo, $sock) = @_;
    my $how = $block->shutdown;

    if (my $next = shift @$todo) {
        my $delay = $next->{delay_before} // $block->raw_request_middle_delay;
        sleep $delay if $delay;
        return $next->{value};
    }
    shutdown $sock, $how =~ /^\s*$/ ? 1 : $how if defined $how;
    return undef;
}

# Connects, retrying with a growing delay while nginx is not there yet
# (but not after it died: a crash shows the end of the error log).
sub connect_server {
    my ($block, $timeout) = @_;
    my $addr = $block->server_addr_for_client // $ServerAddr;
    my $port = $ServerPortForClient;
    my $why;

    for my $try (1 .. 50) {
        my $sock = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
                                         Proto => 'tcp', Timeout => $timeout);
        return $sock if $sock;
        $why = "$!";
        if (!nginx_alive()) {
            my @log = split /^/m, slurp($ErrLogFile);
            warn $block->name, " - nginx is gone; its error log ends with:\n",
                 @log[($#log > 9 ? $#log - 9 : 0) .. $#log];
            last;
        }
        sleep min(1, ($Sleep + $Sleep * $try) * $try / 2);
    }
    fail($block->name . " - Can't connect to $addr:$port: $why (aborted)\n");
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
    fail("$name - command \"@cmd\" gave no output: $err") if $stdout eq '';
    warn "WARNING: $name - command \"@cmd\": $err" if $stdout ne '' && $err;
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

# The decoded body and the bytes after the last chunk, or a failed test.
sub decode_chunked {
    my ($name, $raw) = @_;
    my $out = '';

    while ($raw =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*\r\n/gc) {
        my $size = hex $1;
        return ($out, substr $raw, pos $raw)
            if !$size && $raw =~ /\G(?:[^\r\n]+\r\n)*\r\n/gc;
        last if !$size || length($raw) - pos($raw) < $size;
        $out .= substr $raw, pos($raw), $size;
        pos($raw) += $size;
        last unless $raw =~ /\G\r\n/gc;
    }
    fail("$name - invalid chunked body received: \""
         . fmt_str(substr $raw, pos($raw) // 0) . '"');
    return undef;
}

# A header's value; several ones are joined by ", " (as HTTP::Headers).
sub header {
    my $values = $_[0] && $_[0]{headers}{lc $_[1]};
    return $values ? join(', ', @$values) : undef;
}

# -- checks ----------------------------------------------------------------

# With several requests a check's value must be an array, one element per
# request; with one request, an array's first element is used.
sub indexed {
    my ($block, $section, $need_array, $idx) = @_;
    my $value = $block->$section;

    return ref $value eq 'ARRAY' ? $value->[0] : $value unless $need_array;
    return $value->[$idx] if ref $value eq 'ARRAY';
    bail_out($block->name . " - You asked for many requests, the expected "
             . "results should be arrays as well.");
}

sub check_error_code {
    my ($block, $res, @index) = @_;
    my $code = ($res && $res->{code}) || '';
    my $want = defined $block->error_code
               ? indexed($block, 'error_code', @index) : 200;

    return is($code, $want, $block->name . " - status code ok");
}

# response_headers: "Name: value" must be the value ("Name:" means empty
# or absent), "!Name" must not be in the raw header lines (the name
# case-sensitive, as in Test::Nginx).  response_headers_like: the values
# must match the patterns.
sub check_headers {
    my ($block, $res, @index) = @_;
    my $name = $block->name;
    my $like = !defined $block->response_headers;
    my $section = $like ? 'response_headers_like' : 'response_headers';

    return unless defined $block->$section;
    for (header_spec(indexed($block, $section, @index))) {
        my ($key, $val) = @$_;
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
    my (@pairs, %at);

    for my $line (grep { /\S/ } split /\n/, $_[0] // '') {
        $line =~ s/^\s+|\s+$//g;
        my ($key, $val) = $line =~ s/^!\s*// ? ($line)
                                             : split /\s*:\s*/, $line, 2;
        $at{$key} //= push(@pairs, undef) - 1;
        $pairs[$at{$key}] = [$key, $val];
    }
    return @pairs;
}

sub check_body {
    my ($block, $res, $round, @index) = @_;
    my $name = $block->name;
    my $content = $res ? $res->{content} : undef;
    my $type = defined $block->response_body_like ? 'like' : 'unlike';
    my $section = "response_body_$type";

    if (defined $block->response_body) {
        my $want = indexed($block, 'response_body', @index);
        my $where = "(repeated req $round, req $index[1])";
        return like($content, $want, "$name - response_body - like $where")
            if ref $want;
        return is_str($content,
                      expand_env(expand_ports($want), $name, $RandPorts),
                      "$name - response_body - response is expected $where");
    }

    return unless defined $block->$section;
    my $re = expand_ports(indexed($block, $section, @index));
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

    check_grep_error_log($block, $lines, $round);
    lines_have($name, scalar $block->error_log, $lines, $round);
    lines_lack($name, scalar $block->no_error_log, $lines, $round);
}

# "--- grep_error_log": the parts of the lines that match, one a line,
# must equal "--- grep_error_log_out" (either may be an array, an
# element per repeat_each round).
sub check_grep_error_log {
    my ($block, $lines, $round) = @_;
    my $name = $block->name;
    my $pat = $block->grep_error_log;
    my $want = expand_env(scalar $block->grep_error_log_out, $name,
                          $RandPorts);

    return if !defined $pat && !defined $want;
    bail_out("$name - grep_error_log and grep_error_log_out go together")
        if !defined $pat || !defined $want;
    $pat = $pat->[$round] if ref $pat eq 'ARRAY';
    $want = $want->[$round] if ref $want eq 'ARRAY';
    return unless defined $pat;

    my $re = ref $pat ? $pat : qr/\Q$pat\E/;
    my $got = join '', map { /$re/ && $& !~ /\n/ ? "$&\n" : () } @$lines;
    return is_str($got, $want, "$name - grep_error_log_out (req $round)");
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
    my @todo = patterns($pats // return);

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
    my @pats = grep { defined } patterns($pats // return);
    my %found;

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

# like() for a qr//; else Test::LongString's is_string, or after
# no_long_string() Test::Base's is (a diff of long texts unless no_diff()).
sub is_str (@) {
    my ($got, $want, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;

    return like($got, $want, $desc) if ref $want eq 'Regexp';
    return is($got, $want, $desc) if $NoLongString || !$HaveLongString;
    return Test::LongString::is_string($got, $want, $desc);
}

# -- helpers ---------------------------------------------------------------


sub trim {
    my ($s) = @_;

    return undef unless defined $s;
    s/^\s+|\s+$//g, s/\n/ /g, s/\s{2,}/ /g for $s;
    return $s;
}

sub fmt_str {
    my ($s) = @_;

    chomp $s;
    $s =~ s/(["\r\n])/{ '"' => '\\"', "\r" => '\\r', "\n" => '\\n' }->{$1}/ge;
    return $s;
}



1;
