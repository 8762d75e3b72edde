# Runs the Bedrock emulator's own tests (emulator/test_emulator.py, with
# botocore as the independent decoder of eventstream frames and signer of
# SigV4 requests) and reports each of them; then checks that
# Bedrock::Emulator starts the emulator, publishes its port and stops it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use Test::More;

use Bedrock::Emulator;

my $python = $Bedrock::Emulator::PYTHON;
my $suite = "$FindBin::Bin/../emulator/test_emulator.py";

open my $fh, '-|', $python, $suite, '--tap'
    or BAIL_OUT("cannot run $python $suite: $!");

my ($checks, $planned, @trace) = (0, -1);

while (my $line = <$fh>) {
    chomp $line;

    if ($line =~ /^(not )?ok \d+ - (.*)$/) {
        ok(!$1, "emulator: $2") or diag(join "\n", splice @trace);
        $checks++;

    } elsif ($line =~ /^1\.\.(\d+)$/) {
        $planned = $1;

    } elsif ($line =~ /^# ?(.*)$/) {
        push @trace, $1;

    } else {
        diag("emulator: $line");
    }
}

close $fh;
my $rc = $? >> 8;

diag(join "\n", @trace) if @trace;

ok($rc == 0 && $checks > 0 && $checks == $planned,
   "emulator suite exits 0 after $checks of $planned tests");

# the helper that Test::Nginx files use

my $port = Bedrock::Emulator::start(auth => 'apikey',
                                    api_keys => ['ABSK-t003'],
                                    tpm => 1000, output_tokens => 3);

ok($port && $port == $ENV{TEST_NGINX_BEDROCK_PORT},
   "start() returns the port and sets TEST_NGINX_BEDROCK_PORT ($port)");

my $http = HTTP::Tiny->new(timeout => 10);
my $url = Bedrock::Emulator::url()
          . '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse';
my $body = '{"messages":[{"role":"user","content":[{"text":"abcd"}]}],'
           . '"inferenceConfig":{"maxTokens":10}}';

my $res = $http->post($url, {content => $body, headers => {
    'Authorization' => 'Bearer ABSK-t003', 'X-Emulator-Tag' => 't003'}});

is($res->{status}, 200, 'the options reach the emulator: API key accepted');
like($res->{content}, qr/"outputTokens":3,/,
     'the options reach the emulator: 3 output tokens');

$res = $http->post($url, {content => $body});
is($res->{status}, 403, 'a request without the API key is refused');

my $log = Bedrock::Emulator::requests(tag => 't003');
is(scalar @$log, 1, 'requests() reads the log by tag');
is($log->[0]{auth}{key}, '...t003', 'the log shows the key, masked');

my $counters = Bedrock::Emulator::control('GET', 'counters');
is($counters->{models}{'anthropic.claude-3-haiku-20240307-v1:0'}{tpm}, 1000,
   'control() reads the counters with the quota given to start()');

Bedrock::Emulator::reset();
is(scalar @{Bedrock::Emulator::requests()}, 0, 'reset() empties the log');

Bedrock::Emulator::stop();
ok(!defined $ENV{TEST_NGINX_BEDROCK_PORT}, 'stop() unsets the port');
$res = HTTP::Tiny->new(timeout => 2)->get("http://127.0.0.1:$port/");
is($res->{status}, 599, 'the emulator no longer answers after stop()');

done_testing();
