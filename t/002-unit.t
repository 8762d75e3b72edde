# Runs the unit tests of the pure-C parts (request view, estimator,
# compressor, signer, eventstream), built by "make unit" with ASan and
# UBSan, and reports every check they make.

use strict;
use warnings;
use Test::More;

my $build = $ENV{BEDROCK_BUILD} || 'build';
my @progs = sort glob("$build/unit/*_test");

plan skip_all => "no unit tests built in $build/unit (run: make unit)"
    unless @progs;

for my $prog (@progs) {
    my $name = $prog;
    $name =~ s{.*/}{};

    my $out = `$prog 2>&1`;
    my $rc = $? >> 8;
    my $checks = 0;

    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok \d+ - (.*)$/) {
            ok(!$1, "$name: $2");
            $checks++;

        } elsif ($line =~ /^# SKIP/) {
            diag("$name: $line");

        } elsif ($line =~ /^#/ || $line =~ /^\d+\.\.\d+$/) {
            note($line);

        } else {
            diag("$name: $line");
        }
    }

    ok($rc == 0 && $checks > 0, "$name exits 0 after $checks checks")
        or diag($out);
}

done_testing();
