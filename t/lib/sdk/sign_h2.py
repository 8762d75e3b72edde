#!/usr/bin/python3
# Prints SigV4 headers for a request to the gateway over HTTP/2, signed
# the way the AWS SDK for JavaScript v3 signs over HTTP/2: with the
# ":authority" pseudo-header among SignedHeaders instead of "host".  The
# signature is botocore's SigV4Auth (not the module's code) with only the
# header list changed.  Output: Test::Nginx "more_headers" lines.
#
#   sign_h2.py KEY_ID SECRET AUTHORITY PATH BODY [--skew S] [--region R]
#              [--header 'Name: value']...

import argparse
import datetime
import sys
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class SigV4AuthH2(SigV4Auth):

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        authority = headers["host"]
        del headers["host"]
        headers[":authority"] = authority
        return headers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("key_id")
    p.add_argument("secret")
    p.add_argument("authority")
    p.add_argument("path")
    p.add_argument("body")
    p.add_argument("--skew", type=int, default=0)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--header", action="append", default=[])
    a = p.parse_args()

    headers = {"Content-Type": "application/json"}
    for h in a.header:
        name, value = h.split(":", 1)
        headers[name.strip()] = value.strip()

    req = AWSRequest(method="POST", url="https://" + a.authority + a.path,
                     data=a.body.encode(), headers=headers)

    when = datetime.datetime.utcnow() + datetime.timedelta(seconds=a.skew)

    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = when
        SigV4AuthH2(Credentials(a.key_id, a.secret), "bedrock",
                    a.region).add_auth(req)

    for name in ("Authorization", "X-Amz-Date"):
        sys.stdout.write("%s: %s\n" % (name, req.headers[name]))


main()
