package Bedrock::Http2;

# "--- http2" blocks under both test runners with nginx 1.19.9 to 1.25.0.
#
# The real Test::Nginx::Socket writes "http2 on;" for nginx >= 1.19.9, a
# directive that exists only from 1.25.1, so nginx 1.22 refuses the
# configuration.  Posing as 1.19.8 makes it write "listen PORT http2"
# instead, which is what these versions take.  The project's runner
# (t/runner) writes the right form by itself; there this changes nothing.
#
#     use Bedrock::Http2;
#     add_block_preprocessor(sub {
#         my $block = shift;
#         Bedrock::Http2::preprocess($block);
#         ...
#     });

use strict;
use warnings;

sub preprocess {
    my ($block) = @_;

    no warnings 'once';

    my $v = $Test::Nginx::Util::NginxVersion // 0;

    $Test::Nginx::Util::NginxVersion = '1.019008'
        if $v >= 1.019009 && $v < 1.025001;
}

1;
