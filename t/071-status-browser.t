# The dashboard in a real browser: headless Chromium (Debian's chromium)
# loads the page that bedrock_status serves, runs its script, which polls
# the JSON and draws it; the page as drawn (--dump-dom) is then checked
# against the JSON taken just before and just after.  Every number the page
# draws carries the JSON path it comes from (data-path) and its value
# (data-value), besides its text.
#
# The checks run in Perl through check(), a pattern for "--- response_body
# eval" (as in t/070-status.t), so that they work under this project's
# runner and under the real Test::Nginx alike.

use Test::Nginx::Socket;
use Bedrock::Emulator;
use Bedrock::Check;

use Encode ();
use File::Temp qw(tempdir);
use JSON::PP;

our $CHROMIUM = (grep { -x } '/usr/bin/chromium', '/usr/bin/chromium-browser')[0];

if (!$CHROMIUM) {
    plan(skip_all => 'chromium is not installed (Debian: apt-get install '
                     . 'chromium)');
}

plan('no_plan');

Bedrock::Emulator::start(auth => 'none');

our $SONNET = 'anthropic.claude-3-5-haiku-20241022-v1:0';
our $NOVA = 'amazon.nova-micro-v1:0';

sub converse {
    my ($model, $max, $op) = @_;
    return "POST /model/$model/" . ($op // 'converse') . "\n"
        . '{"messages":[{"role":"user","content":[{"text":"Hello"}]}],'
        . "\"inferenceConfig\":{\"maxTokens\":$max}}";
}

our (@Json, $Dom, %Drawn);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", ($block->config // '') . <<'_EOC_');
    location = /_bedrock {
        internal;
        proxy_pass $bedrock_upstream;
        proxy_buffering off;
    }
    location = /bedrock/status {
        bedrock_status;
    }
_EOC_
});

repeat_each(1);
no_shuffle();
run_tests();


sub json {
    my ($code) = @_;
    return check('json', sub {
        my $j = eval { JSON::PP->new->utf8->decode($_[0]) };
        return "not JSON: $@" unless ref $j eq 'HASH';
        push @Json, $j;
        return $code ? $code->($j) : undef;
    });
}

# The page, run for a few seconds of the browser's virtual time (timers
# run, fetches complete), as the browser has drawn it by then.
sub browse {
    my ($url) = @_;
    my $profile = tempdir(CLEANUP => 1);
    my @cmd = ('timeout', '120', $CHROMIUM, '--headless', '--no-sandbox',
               '--disable-gpu', '--no-first-run',
               '--disable-background-networking',
               '--disable-component-update', '--disable-sync',
               "--user-data-dir=$profile", '--window-size=1280,800',
               '--virtual-time-budget=4000', '--dump-dom', $url);
    # chromium talks a lot on stderr (no D-Bus here): keep it for failures
    my $err = "$profile/stderr";

    my $pid = open my $out, '-|';
    return (undef, "cannot run chromium: $!") unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>', $err or die "$err: $!";
        exec @cmd or die "cannot run chromium: $!";
    }

    my $dom = do { local $/; <$out> };
    close $out;

    if ($? != 0 || !$dom) {
        my $said = -e $err ? `tail -5 $err` : '';
        return (undef, "chromium exited with $?: $said");
    }

    return ($dom, undef);
}

sub unescape {
    my ($s) = @_;
    $s =~ s/&quot;/"/g;
    $s =~ s/&lt;/</g;
    $s =~ s/&gt;/>/g;
    $s =~ s/&nbsp;/\x{a0}/g;
    $s =~ s/&#(\d+);/chr($1)/ge;
    $s =~ s/&amp;/&/g;
    return $s;
}

# data-path => [data-value, text or undef, style or undef]
sub drawn {
    my ($dom) = @_;
    my %d;
    while ($dom =~ /<(\w+)((?:\s+[\w-]+="[^"]*")*)\s*>([^<]*)/g) {
        my ($attrs, $text) = ($2, $3);
        my %a = map { $_->[0] => unescape($_->[1]) }
                map { [/([\w-]+)="([^"]*)"/] } $attrs =~ /[\w-]+="[^"]*"/g;
        next unless exists $a{'data-path'};
        $d{$a{'data-path'}} = [$a{'data-value'}, unescape($text),
                               $a{style}];
    }
    return \%d;
}

sub uri_decode {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge;
    return Encode::decode('UTF-8', $s);
}

# the value a data-path names in a JSON answer: '*' and an object stand
# for the sum of their members, a key of a zone is found by its name, and
# "level" is a key's tokens available over its capacity
sub resolve {
    my ($node, @path) = @_;

    while (@path) {
        my $p = shift @path;

        if ($p eq '*') {
            my $sum = 0;
            $sum += resolve($_, @path) // 0 for values %$node;
            return $sum;
        }

        if ($p eq 'level' && ref $node eq 'HASH'
            && exists $node->{tokens_capacity})
        {
            return $node->{tokens_available} / $node->{tokens_capacity};
        }

        if (ref $node eq 'ARRAY') {
            ($node) = grep { $_->{key} eq $p } @$node;
        } elsif (ref $node eq 'HASH') {
            $node = $node->{$p};
        } else {
            return undef;
        }
        return undef unless defined $node;
    }

    if (ref $node eq 'HASH') {
        my $sum = 0;
        $sum += $_ for values %$node;
        return $sum;
    }

    return ref $node eq 'JSON::PP::Boolean' ? 0 + $node : $node;
}

# what moves by itself while nothing happens: the levels refill
sub moves {
    my ($path) = @_;
    return $path =~ m{/(tokens_available|level|cooldown_ms|memory/used)$};
}

# every number drawn is the JSON's, between the answers before and after
sub compare {
    my ($before, $after, $drawn) = @_;
    my @bad;

    for my $path (sort keys %$drawn) {
        my ($value, $text, $style) = @{ $drawn->{$path} };
        my @p = map { uri_decode($_) } split m{/}, $path;
        my $a = resolve($before, @p);
        my $b = resolve($after, @p);

        if (!defined $a || !defined $b) {
            push @bad, "$path: drawn, not in the JSON";
            next;
        }

        if ($value eq 'null') {
            next;
        }

        my ($lo, $hi) = $a <= $b ? ($a, $b) : ($b, $a);
        ($lo, $hi) = ($a, $a) unless moves($path);

        push @bad, "$path: drawn $value, the JSON has $a then $b"
            if $value < $lo - 0.0001 || $value > $hi + 0.0001;

        # the text says the same, where it is the number itself
        if ($text =~ /^-?[\d,]+$/) {
            (my $n = $text) =~ s/,//g;
            push @bad, "$path: the text says $text, not $value"
                if $n != $value;
        }

        # a bucket's bar is as long as its level
        if ($path =~ m{/level$}) {
            my ($w) = ($style // '') =~ /width:\s*([\d.]+)%/;
            my $want = $value < 0 ? 0 : $value > 1 ? 100 : 100 * $value;
            push @bad, "$path: a bar of " . ($w // '?') . "% for $value"
                if !defined $w || abs($w - $want) > 0.01;
        }
    }

    return @bad ? CORE::join("\n", @bad) : undef;
}

__DATA__

=== TEST 1: the dashboard draws, per key, the bucket against its capacity and the counters, as the JSON has them
--- http_config
    bedrock_limit_zone $bedrock_model zone=models:1m tpm=6000;
--- config
    location /model/ {
        bedrock_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT region=us-east-1;
        bedrock_limit zone=models delay=3s;
        bedrock_retry attempts=5 base=10ms max=50ms;
    }
--- request eval
[
# 5000 tokens settled: the bucket is left with about 1000
::converse($::SONNET, 5000),
# 1010 reserved: a short debt, repaid in about 0.2 s: it waits
::converse($::SONNET, 1000),
# 5010 more would take 50 s: refused
::converse($::SONNET, 5000),
# another key, throttled once by Bedrock, and a stream
::converse($::NOVA, 500),
::converse($::NOVA, 500, 'converse-stream'),
"GET /bedrock/status?format=json",
"GET /bedrock/status?format=json",
]
--- more_headers eval
[
"X-Emulator-Output-Tokens: 5000",
"", "",
"X-Emulator-Fault: throttle; key=browser-4",
"", "", "",
]
--- error_code eval
[200, 200, 429, 200, 200, 200, 200]
--- timeout: 150
--- response_body eval
[
qr/"stopReason"/, qr/"stopReason"/, qr/Too many tokens/, qr/"stopReason"/,
qr/messageStop/,
::json(sub {
    my ($j) = @_;
    return 'the requests did not wait and get refused as planned: '
           . JSON::PP->new->canonical->encode($j->{limit})
        unless $j->{limit}{delayed} == 1 && $j->{limit}{rejected} == 1;
    my $url = 'http://127.0.0.1:' . ::server_port()
              . '/bedrock/status?format=html';
    my $err;
    ($::Dom, $err) = ::browse($url);
    return $err;
}),
::json(sub {
    my ($after) = @_;
    my $before = $::Json[0];
    my $d = ::drawn($::Dom);
    my ($polls) = $::Dom =~ /<body[^>]*data-polls="(\d+)"/;
    my @rows = $::Dom =~ /<tr data-key="([^"]+)"/g;
    my @want = map { $_->{key} } @{ $before->{zones}{models}{keys} };
    my $k = "zones/models/keys/" . $::SONNET =~ s/:/%3A/r;

    return "the page polled " . ($polls // 0) . " times, not 2 or more"
        unless ($polls // 0) >= 2;
    return "rows for " . CORE::join(', ', @rows) . ", not for "
           . CORE::join(', ', @want)
        unless "@rows" eq "@want";
    for my $p ('requests/total', 'requests/2xx', 'requests/4xx',
               'limit/delayed', 'limit/rejected', 'upstream/retries',
               'upstream/errors', 'families/*/output_tokens',
               "$k/tokens_available", "$k/tokens_capacity", "$k/level",
               "$k/passed", "$k/delayed", "$k/rejected",
               "$k/tokens_reserved", "$k/tokens_settled",
               'zones/models/other/passed')
    {
        return "$p is not drawn" unless $d->{$p};
    }
    return ::compare($before, $after, $d);
}),
]
--- no_error_log
[alert]
[crit]
