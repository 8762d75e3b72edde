#!/usr/bin/python3
#
# Copyright (C) 2026, the ngx_bedrock authors.
#
# The reference half of the SigV4 cross-check: signs each request of a
# case file with botocore's SigV4Auth, the signer boto3 uses, at the time
# the case names, and prints what botocore produced, one JSON object a
# line.  t/unit/sigv4_botocore_test.c writes the cases, runs this with
# Debian's /usr/bin/python3 (python3-botocore), and compares byte for byte.
#
# Case (one JSON object a line): id, method, url (scheme, host, raw path
# and query exactly as sent), headers ([name, value] pairs; repeats
# allowed), body (hex), key, secret, token (or null), region, service,
# time ("YYYYMMDDTHHMMSSZ").
#
# Answer: id, authorization, amz_date, security_token, canonical_request;
# or id and error.  A first line {"skip": reason} when botocore is absent.

import datetime
import json
import sys
import types

try:
    import botocore
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:
    print(json.dumps({"skip": "botocore is not importable: %s" % e}))
    sys.exit(0)


class Clock(datetime.datetime):
    """datetime whose utcnow() is the time of the case being signed"""

    frozen = None

    @classmethod
    def utcnow(cls):
        return cls.frozen


# botocore reads the time as datetime.datetime.utcnow() in botocore.auth
botocore.auth.datetime = types.SimpleNamespace(datetime=Clock)


class RecordingSigV4Auth(botocore.auth.SigV4Auth):
    """SigV4Auth that keeps the canonical request, for diagnostics"""

    recorded = None

    def canonical_request(self, request):
        cr = super().canonical_request(request)
        self.recorded = cr
        return cr


def sign(case):
    Clock.frozen = datetime.datetime.strptime(case["time"], "%Y%m%dT%H%M%SZ")

    request = AWSRequest(method=case["method"], url=case["url"],
                         data=bytes.fromhex(case["body"]))

    # HTTPHeaders appends on assignment, so repeated names stay repeated
    for name, value in case["headers"]:
        request.headers[name] = value

    credentials = Credentials(case["key"], case["secret"], case["token"])
    auth = RecordingSigV4Auth(credentials, case["service"], case["region"])
    auth.add_auth(request)

    return {
        "id": case["id"],
        "authorization": request.headers["Authorization"],
        "amz_date": request.headers["X-Amz-Date"],
        "security_token": request.headers.get("X-Amz-Security-Token"),
        "canonical_request": auth.recorded,
    }


def main():
    if len(sys.argv) != 2:
        print("usage: sigv4_botocore.py CASES.jsonl", file=sys.stderr)
        return 2

    print(json.dumps({"botocore": botocore.__version__}))

    with open(sys.argv[1], encoding="utf-8") as cases:
        for line in cases:
            case = json.loads(line)

            try:
                answer = sign(case)
            except Exception as e:
                answer = {"id": case.get("id"), "error": repr(e)}

            print(json.dumps(answer), flush=True)

    return 0


if __name__ == "__main__":
    sys.exit(main())
