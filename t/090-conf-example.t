# conf.example, the commented production configuration, is accepted by
# nginx -t as it is, but for the module's path.  Its upstream blocks are
# resolved when nginx starts, and this machine may not reach DNS: nginx -t
# runs in a mount namespace of its own, where /etc/hosts names Bedrock's
# hosts.  Its client keys file sits beside it, its credentials come from
# the environment, as they would in production.

use strict;
use warnings;
use File::Temp qw(tempdir);
use Test::More;

my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $module = $ENV{TEST_NGINX_LOAD_MODULES}
             || 'build/ngx_http_bedrock_module.so';

plan skip_all => "the module is not built ($module)" unless -f $module;

system("unshare -m true 2>/dev/null") == 0
    or plan skip_all => "unshare -m is not allowed here: needs root";

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";

open my $in, '<', 'conf.example' or die "conf.example: $!";
my $conf = do { local $/; <$in> };
close $in;

my $n = ($conf =~ s{^load_module \S+;}{load_module $module;}m);
is($n, 1, 'conf.example loads the module once, on a line of its own');

open my $out, '>', "$dir/nginx.conf" or die $!;
print $out $conf;
close $out;

open my $keys, '>', "$dir/bedrock-client-keys" or die $!;
print $keys "GWKEY1EXAMPLE gw-secret-one team-a\n";
close $keys;

open my $hosts, '>', "$dir/hosts" or die $!;
print $hosts "127.0.0.1 localhost\n",
    "127.0.0.1 bedrock-runtime.us-east-1.amazonaws.com\n",
    "127.0.0.1 bedrock-runtime.us-west-2.amazonaws.com\n";
close $hosts;

local $ENV{AWS_ACCESS_KEY_ID} = 'AKIDEXAMPLE';
local $ENV{AWS_SECRET_ACCESS_KEY} = 'example-secret';

my $cmd = "mount --bind $dir/hosts /etc/hosts && "
          . "$nginx -t -p $dir/ -c $dir/nginx.conf -g 'pid $dir/nginx.pid;'";
my $result = `unshare -m sh -c "$cmd" 2>&1`;

is($?, 0, 'nginx -t accepts conf.example') or diag($result);
like($result, qr/syntax is ok/, 'nginx says its syntax is ok');

for my $directive (qw(bedrock_pass bedrock_credentials bedrock_client_keys
                      bedrock_limit_zone bedrock_limit bedrock_retry
                      bedrock_max_input_tokens bedrock_status))
{
    like($conf, qr/^\s*\Q$directive\E[\s;]/m, "conf.example uses $directive");
}

like($conf, qr/proxy_ssl_verify on;/, 'TLS to Bedrock checks certificates');
like($conf, qr/keepalive \d+;/, 'connections to Bedrock are kept alive');

done_testing();
