# bin/bedrock-tokens: what an operator sees of the module's estimate and
# compressor without a running nginx.  Built by "make" from the module's
# own sources.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempfile);
use JSON::PP;

my $bin = 'bin/bedrock-tokens';

plan skip_all => "$bin is not built (run: make)" unless -x $bin;

my $json = JSON::PP->new->canonical;
my $claude = '/model/anthropic.claude-3-7-sonnet-20250219-v1:0/invoke';
my $converse = '/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse';

# runs the tool with a body on stdin: (exit status, stdout, stderr)
sub cli {
    my ($body, @args) = @_;

    my ($in, $inname) = tempfile(UNLINK => 1);
    binmode $in;
    print $in $body;
    close $in;

    my (undef, $outname) = tempfile(UNLINK => 1);
    my (undef, $errname) = tempfile(UNLINK => 1);

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', $inname or die;
        open STDOUT, '>', $outname or die;
        open STDERR, '>', $errname or die;
        exec $bin, @args or die "exec $bin: $!";
    }

    waitpid($pid, 0);
    my $rc = $? >> 8;

    local $/;
    open my $o, '<', $outname or die;
    binmode $o;
    my $out = <$o>;
    open my $e, '<', $errname or die;
    my $err = <$e>;

    return ($rc, $out, $err);
}

sub words {
    my ($n, $seed) = @_;
    my @w = ('the', 'file', 'returned', 'an', 'error', 'at', 'line',
             'while', 'parsing', 'config', 'value', 'été', '中文', 'x=1;',
             '{"k": [1, 2]}', '\\path');
    my $s = '';
    for my $i (1 .. $n) {
        $s .= $w[($i * 7 + $seed) % @w] . ($i % 13 ? ' ' : "\n");
    }
    return $s;
}

# an agent's context: tool calls and their long results
sub agent_body {
    my @m = ({ role => 'user', content => 'Fix the failing test.' });

    for my $i (1 .. 12) {
        push @m, { role => 'assistant', content => [
            { type => 'text', text => "Reading file $i." },
            { type => 'tool_use', id => "toolu_$i", name => 'read_file',
              input => { path => "src/f$i.c" } } ] };
        push @m, { role => 'user', content => [
            { type => 'tool_result', tool_use_id => "toolu_$i",
              content => words(1500, $i) } ] };
    }

    push @m, { role => 'assistant', content => 'I have read them all.' };
    push @m, { role => 'user', content => 'Now write the patch.' };

    return JSON::PP->new->utf8->encode({
        anthropic_version => 'bedrock-2023-05-31',
        max_tokens => 512,
        system => 'You are a careful engineer.',
        messages => \@m,
    });
}

my $small = '{"anthropic_version":"bedrock-2023-05-31","max_tokens":512,'
    . '"messages":[{"role":"user","content":"Hello there"}]}';

# --- usage ------------------------------------------------------------

{
    my ($rc, $out) = cli('', '--help');
    is($rc, 0, '--help exits 0');
    like($out, qr/--path.*--compress/s, '--help names --path and --compress');

    ($rc, undef, my $err) = cli($small);
    is($rc, 2, 'no --path: exit 2');
    like($err, qr/--path is required/, 'no --path: says so');

    ($rc, undef, $err) = cli($small, '--path', $claude, '--compress', 'ten');
    is($rc, 2, 'a cap that is not a number: exit 2');
    like($err, qr/invalid value "ten" for "--compress"/,
         'a cap that is not a number: says which');
}

# --- the estimate -------------------------------------------------------

{
    my ($rc, $out, $err) = cli($small, '--path', $claude);
    is($rc, 0, 'claude body: exit 0') or diag($err);

    my $r = eval { $json->decode($out) };
    ok($r, 'claude body: one JSON object') or diag($out);

    is($r->{family}, 'anthropic', 'family');
    is($r->{api}, 'invoke', 'api');
    is($r->{model}, 'anthropic.claude-3-7-sonnet-20250219-v1:0', 'model');
    is($r->{shape}, 'claude-messages', 'shape');
    ok($r->{compressible}, 'compressible');

    for my $k (qw(input_tokens text_tokens image_tokens document_tokens
                  tool_tokens max_tokens cost)) {
        like($r->{$k}, qr/^\d+$/, "$k is a count");
    }

    ok($r->{input_tokens} > 0, 'input_tokens > 0');
    is($r->{cost}, $r->{input_tokens} + $r->{max_tokens},
       'cost = input_tokens + max_tokens');
}

{
    my $body = '{"messages":[{"role":"user","content":[{"text":"hi"}]}],'
        . '"inferenceConfig":{"maxTokens":100}}';
    my ($rc, $out) = cli($body, '--path', $converse);
    my $r = eval { $json->decode($out) } || {};

    is($rc, 0, 'converse: exit 0');
    is($r->{model}, 'us.anthropic.claude-sonnet-4-20250514-v1:0',
       'converse: the modelId percent-decoded');
    is($r->{api}, 'converse', 'converse: api');
    is($r->{shape}, 'converse', 'converse: shape');
}

{
    my ($rc, $out) = cli('{"prompt":"[INST] hi [/INST]","max_gen_len":9}',
                         '--path', '/model/meta.llama3-8b-instruct-v1:0/'
                         . 'invoke-with-response-stream');
    my $r = eval { $json->decode($out) } || {};

    is($r->{api}, 'invoke-with-response-stream', 'llama: api');
    is($r->{shape}, 'prompt', 'llama: a prompt');

    ($rc, $out) = cli('{"foo":"bar"}', '--path', $claude);
    $r = eval { $json->decode($out) } || {};

    is($rc, 0, 'unknown shape: still estimated');
    is($r->{shape}, 'unknown', 'unknown shape: said');
    ok(!$r->{compressible}, 'unknown shape: not compressible');
}

# --- what the module would refuse -----------------------------------------

{
    my ($rc, $out, $err) = cli($small, '--path', '/model/x/chat');
    is($rc, 1, 'bad path: exit 1');
    is($out, '', 'bad path: nothing on stdout');
    is($err, "Unknown operation: the path must be /model/{modelId}/"
        . "{invoke|invoke-with-response-stream|converse|converse-stream|"
        . "count-tokens}\n",
        "bad path: the module's 404 message");

    ($rc, $out, $err) = cli('{"messages": [', '--path', $claude);
    is($rc, 1, 'malformed JSON: exit 1');
    is($out, '', 'malformed JSON: nothing on stdout');
    like($err, qr/\S/, "malformed JSON: the module's 400 message");

    my ($rc2, undef, $err2) = cli('{"messages": [', '--path', $claude,
                                  '--compress', '10');
    is($rc2, 1, 'malformed JSON with --compress: exit 1');
    is($err2, $err, 'malformed JSON with --compress: the same message');
}

# --- compression ----------------------------------------------------------

{
    my $body = agent_body();
    my (undef, $out) = cli($body, '--path', $claude);
    my $before = eval { $json->decode($out)->{input_tokens} } // 0;

    ok($before > 20000, "the agent context: $before tokens");

    my ($rc, $same) = cli($body, '--path', $claude, '--compress', $before);
    is($rc, 0, 'a cap it fits: exit 0');
    ok($same eq $body, 'a cap it fits: the body unchanged, byte for byte');

    my $cap = int($before / 4);
    my ($rc1, $c1, $err1) = cli($body, '--path', $claude, '--compress', $cap,
                                '--verbose');
    is($rc1, 0, "a quarter of it ($cap): exit 0") or diag($err1);
    like($err1, qr/^bedrock-tokens: $before -> (\d+) input tokens/,
         '--verbose: a summary on stderr');

    my $r = eval { JSON::PP->new->utf8->decode($c1) };
    ok($r, 'the compressed body is JSON');

    my (undef, $est) = cli($c1, '--path', $claude);
    my $after = eval { $json->decode($est)->{input_tokens} } // 'none';
    ok($after ne 'none' && $after <= $cap,
       "the compressed body is under the cap: $after");

    $r ||= { messages => [] };
    my $orig = JSON::PP->new->utf8->decode($body);
    is_deeply($r->{messages}[0], $orig->{messages}[0],
              'the first message kept');
    is_deeply([ @{$r->{messages}}[-4 .. -1] ],
              [ @{$orig->{messages}}[-4 .. -1] ],
              'the latest 4 messages kept');
    is($r->{system}, $orig->{system}, 'the system prompt kept');
    like($c1, qr/\[\.\.\. [\d,]+ characters cut by the gateway \.\.\.\]/,
         'cut texts carry the marker');

    my @roles = map { $_->{role} } @{$r->{messages}};
    my $alternate = 1;
    for my $i (1 .. $#roles) {
        $alternate = 0 if $roles[$i] eq $roles[$i - 1];
    }
    ok($alternate && $roles[0] eq 'user', 'roles alternate from the user');

    my ($rc2, $c2) = cli($body, '--path', $claude, '--compress', $cap);
    ok($c1 eq $c2, 'the same body twice');

    my ($rc3, $c3) = cli($body, '--path', $claude, '--compress',
                         int($before / 2), '--keep-turns', '8');
    my $r3 = eval { JSON::PP->new->utf8->decode($c3) } || { messages => [] };
    is($rc3, 0, '--keep-turns 8, half the size: exit 0');
    is_deeply([ @{$r3->{messages}}[-8 .. -1] ],
              [ @{$orig->{messages}}[-8 .. -1] ],
              '--keep-turns 8: the latest 8 messages kept');

    my ($rc4, $out4, $err4) = cli($body, '--path', $claude, '--compress',
                                  '10');
    is($rc4, 1, 'a cap nothing fits: exit 1');
    is($out4, '', 'a cap nothing fits: nothing on stdout');
    my $said = "Input is too long: estimated at $before input tokens, "
        . "over the gateway's limit of 10,";
    like($err4, qr/^\Q$said\E/,
         "a cap nothing fits: the 413 message with the estimate and the cap");

    my $unknown = JSON::PP->new->utf8->encode({ foo => words(2000, 3) });
    my ($rc5, undef, $err5) = cli($unknown, '--path', $claude,
                                  '--compress', '100');
    is($rc5, 1, 'an unknown shape over the cap: exit 1');
    like($err5, qr/cannot shorten a request of this shape/,
         'an unknown shape over the cap: says why');
}

done_testing();
