# Runs every libFuzzer target (built by "make fuzz" with ASan and UBSan)
# for a bounded time over its seed corpus: FUZZ_SECONDS each (default 10).
# Longer runs, by hand: build/fuzz/fuzz_NAME -max_total_time=600 DIR t/fuzz/corpus/NAME

use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;

my $build = $ENV{BEDROCK_BUILD} || 'build';
my $seconds = $ENV{FUZZ_SECONDS} || 10;
my @targets = sort glob("$build/fuzz/fuzz_*");

plan skip_all => "no fuzz targets built in $build/fuzz (run: make fuzz)"
    unless @targets;

for my $target (@targets) {
    my $name = $target;
    $name =~ s{.*/fuzz_}{};

    # new inputs go to a scratch directory, the seeds stay as committed
    my $scratch = tempdir(CLEANUP => 1);
    my @seeds = -d "t/fuzz/corpus/$name" ? ("t/fuzz/corpus/$name") : ();

    my $out = `$target -max_total_time=$seconds -print_final_stats=1 $scratch @seeds 2>&1`;
    my $rc = $? >> 8;
    my ($runs) = $out =~ /stat::number_of_executed_units:\s*(\d+)/;
    $runs //= 0;

    ok($rc == 0 && $runs > 0, "fuzz $name: $runs executions in ${seconds}s, clean")
        or diag(join "\n", grep { /ERROR|SUMMARY|crash|leak|==\d+==/ }
                           split /\n/, $out);
}

done_testing();
