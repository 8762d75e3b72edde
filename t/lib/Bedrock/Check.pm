package Bedrock::Check;

# A response_body_like pattern that runs code on the body: it matches when
# $code->($body) returns nothing, and fails, saying why in a diagnostic,
# when it returns a complaint (or dies).  For the status suites, whose
# checks parse the JSON and Prometheus views and compare them.

use strict;
use warnings;

use Exporter 'import';
use Test::More ();

our @EXPORT = qw(check);

sub check {
    my ($what, $code) = @_;
    return qr/\A(?s:(.*))\z(?(?{ Bedrock::Check::run($what, $code, $^N) })|(*FAIL))/;
}

sub run {
    my ($what, $code, $body) = @_;
    my $err = eval { $code->($body) };
    $err = "died: $@" if $@;
    return 1 if !defined $err || $err eq '';
    Test::More::diag("$what: $err");
    return 0;
}

1;
