# The README documents every directive (in nginx.org's form: Syntax,
# Default, Context) and every variable the module's sources declare.

use strict;
use warnings;
use Test::More;

open my $fh, '<', 'README.md' or die "README.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;

my (%directives, %variables);

for my $file (glob 'ngx_bedrock_module/ngx_http_bedrock_*.c') {
    open my $in, '<', $file or die "$file: $!";
    my $src = do { local $/; <$in> };
    close $in;

    # an ngx_command_t entry: its name, then its NGX_*_CONF flags
    while ($src =~ /\{\s*ngx_string\("(bedrock_\w+)"\),\s*NGX_HTTP_/g) {
        $directives{$1} = $file;
    }

    # an ngx_http_variable_t entry: its name, NULL, a get handler
    while ($src =~ /\{\s*ngx_string\("(bedrock_\w+)"\),\s*NULL,/g) {
        $variables{$1} = $file;
    }
}

ok(keys %directives >= 15, scalar(keys %directives) . " directives found");
ok(keys %variables >= 15, scalar(keys %variables) . " variables found");

for my $name (sort keys %directives) {
    my ($section) = $readme =~ /^### \Q$name\E\n(.*?)(?=^##)/ms;

    ok(defined $section, "directive $name has a section");

    like($section // '',
         qr/\*\*Syntax\*\* \| `\Q$name\E[ ;].*\*\*Default\*\*.*\*\*Context\*\*/s,
         "directive $name: Syntax, Default, Context");
}

for my $name (sort keys %variables) {
    like($readme, qr/^\|[^\n]*`\$\Q$name\E`/m,
         "variable \$$name is in the variables table");
}

done_testing();
