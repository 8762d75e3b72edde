#!/usr/bin/python3
# Prints the SigV4 headers botocore's SigV4Auth makes for a request to the
# gateway, as Test::Nginx "more_headers" lines: an independent client
# signature for the tests of bedrock_client_keys.
#
#   sigv4_client.py KEY_ID SECRET HOST PATH BODY [--skew SECONDS] [--region R]

import argparse
import datetime
import sys
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    p = argparse.ArgumentParser()
    p.add_argument("key_id")
    p.add_argument("secret")
    p.add_argument("host")
    p.add_argument("path")
    p.add_argument("body")
    p.add_argument("--skew", type=int, default=0)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--service", default="bedrock")
    a = p.parse_args()

    req = AWSRequest(method="POST", url="http://" + a.host + a.path,
                     data=a.body.encode(),
                     headers={"Content-Type": "application/json"})

    when = (datetime.datetime.utcnow()
            + datetime.timedelta(seconds=a.skew))

    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = when
        SigV4Auth(Credentials(a.key_id, a.secret), a.service,
                  a.region).add_auth(req)

    for name in ("Authorization", "X-Amz-Date"):
        sys.stdout.write("%s: %s\n" % (name, req.headers[name]))


main()
