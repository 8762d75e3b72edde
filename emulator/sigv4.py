"""The verdict on a request's credentials: SigV4 or a Bedrock API key.

A SigV4 signature is checked by signing the request again with botocore's
SigV4Auth (Debian's python3-botocore), an implementation independent of the
gateway's: same key, same date, the headers the client listed in
SignedHeaders, the path bytes exactly as received (botocore encodes the
path once more, which is the double encoding AWS expects of non-S3
services), the query and the body received.  The checks, their order and
their wording follow AWS's answers (403, coral namespace).
"""

import calendar
import email.utils
import hashlib
import hmac
import time

from awserrors import (AwsError, CORAL_NS, MISSING_TOKEN, BAD_TOKEN,
                       SIGNATURE_MISMATCH, BAD_API_KEY, BAD_API_KEY_FORMAT)

AMZ_DATE = "%Y%m%dT%H%M%SZ"
MAX_SKEW = 300
API_KEY_PREFIXES = ("ABSK", "bedrock-api-key-")

_botocore = None


def _load_botocore():
    global _botocore
    if _botocore is None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.compat import HTTPHeaders
        from botocore.credentials import Credentials

        class ExactHeadersSigV4Auth(SigV4Auth):
            """botocore's signer over exactly the client's SignedHeaders
            (botocore alone would add host and drop user-agent)."""

            def __init__(self, credentials, service, region, names):
                SigV4Auth.__init__(self, credentials, service, region)
                self.names = names

            def headers_to_sign(self, request):
                out = HTTPHeaders()
                for name, value in request.headers.items():
                    if name.lower() in self.names:
                        out[name.lower()] = value
                return out

        _botocore = (ExactHeadersSigV4Auth, AWSRequest, Credentials)
    return _botocore


class Verdict:
    """scheme: none | sigv4 | bearer | unknown; ok: bool; error: AwsError
    or None; the rest is for the request log (never a secret: the API key
    is shown by its last 4 characters only)."""

    def __init__(self, scheme, ok, error=None, **info):
        self.scheme = scheme
        self.ok = ok
        self.error = error
        self.info = info

    def to_json(self):
        out = {"scheme": self.scheme, "valid": self.ok}
        if self.error is not None:
            out["error"] = self.error.code
            out["message"] = self.error.message
        out.update(self.info)
        return out


def _forbidden(code, message, **kw):
    return AwsError(403, code, message, ns=CORAL_NS, **kw)


def _incomplete(message):
    return _forbidden("IncompleteSignatureException", message)


def _invalid(message):
    return _forbidden("InvalidSignatureException", message)


def _parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'
    -> (algorithm, {param: value}); parameters split on commas."""
    algorithm, _, rest = value.strip().partition(" ")
    params = {}
    for part in rest.split(","):
        k, sep, v = part.strip().partition("=")
        if sep:
            params[k.strip()] = v.strip()
    return algorithm, params


class Verifier:
    def __init__(self, region="us-east-1", service="bedrock",
                 credentials=None, api_keys=(), clock=time.time,
                 max_skew=MAX_SKEW):
        self.region = region
        self.service = service
        # access key id -> (secret, session token or None)
        self.credentials = dict(credentials or {})
        self.api_keys = set(api_keys)
        self.clock = clock
        self.max_skew = max_skew

    def check(self, method, target, headers, body):
        """target: the request-target bytes as received (path and query);
        headers: [(name, value)] as received; body: bytes."""
        auth = None
        for name, value in headers:
            if name.lower() == "authorization":
                auth = value
                break
        if auth is None:
            return Verdict("none", False,
                           _forbidden("MissingAuthenticationTokenException",
                                      MISSING_TOKEN))
        if auth[:7].lower() == "bearer ":
            return self._check_bearer(auth[7:].strip())
        if auth.startswith("AWS4-"):
            return self._check_sigv4(method, target, headers, body, auth)
        return Verdict("unknown", False,
                       _incomplete("Authorization header requires "
                                   "'Credential' parameter. Authorization "
                                   "header requires 'Signature' parameter. "
                                   "Authorization header requires "
                                   "'SignedHeaders' parameter. "
                                   "Authorization=%s" % auth))

    def _check_bearer(self, key):
        shown = "..." + key[-4:] if len(key) >= 8 else "..."
        if key in self.api_keys:
            return Verdict("bearer", True, key=shown)
        if not key.startswith(API_KEY_PREFIXES):
            msg = BAD_API_KEY_FORMAT
        else:
            msg = BAD_API_KEY
        return Verdict("bearer", False,
                       AwsError(403, "AccessDeniedException", msg, ns=None,
                                message_key="Message"), key=shown)

    def _check_sigv4(self, method, target, headers, body, auth):
        algorithm, params = _parse_authorization(auth)
        missing = [p for p in ("Credential", "Signature", "SignedHeaders")
                   if p not in params]
        if missing:
            msg = " ".join("Authorization header requires '%s' parameter."
                           % p for p in missing)
            return Verdict("sigv4", False,
                           _incomplete("%s Authorization=%s" % (msg, auth)))
        if algorithm != "AWS4-HMAC-SHA256":
            return Verdict("sigv4", False,
                           _incomplete("Unsupported AWS 'algorithm': '%s'."
                                       % algorithm))

        cred = params["Credential"].split("/")
        signed = [h.strip().lower()
                  for h in params["SignedHeaders"].split(";") if h.strip()]
        info = {"access_key": cred[0], "signed_headers": signed}
        if len(cred) != 5:
            return Verdict("sigv4", False, _incomplete(
                "Credential must have exactly 5 slash-delimited elements, "
                "e.g. keyid/date/region/service/term, got '%s'"
                % params["Credential"]), **info)
        akid, scope_date, region, service, term = cred

        hmap = {}
        for name, value in headers:
            ln = name.lower()
            hmap[ln] = hmap[ln] + "," + value if ln in hmap else value

        if "host" not in signed:
            return Verdict("sigv4", False, _invalid(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                "Authorization."), **info)

        amz_date = hmap.get("x-amz-date")
        if amz_date is not None:
            try:
                req_time = calendar.timegm(time.strptime(amz_date, AMZ_DATE))
            except ValueError:
                return Verdict("sigv4", False, _incomplete(
                    "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                    "http://en.wikipedia.org/wiki/ISO_8601" % amz_date),
                    **info)
        elif "date" in hmap:
            parsed = email.utils.parsedate_tz(hmap["date"])
            if parsed is None:
                return Verdict("sigv4", False, _incomplete(
                    "Date must be in RFC 1123 format. Got '%s'."
                    % hmap["date"]), **info)
            req_time = email.utils.mktime_tz(parsed)
            amz_date = time.strftime(AMZ_DATE, time.gmtime(req_time))
        else:
            return Verdict("sigv4", False, _incomplete(
                "Authorization header requires existence of either a "
                "'X-Amz-Date' or a 'Date' header. Authorization=%s" % auth),
                **info)

        if scope_date != amz_date[:8]:
            return Verdict("sigv4", False, _invalid(
                "Date in Credential scope does not match YYYYMMDD from "
                "ISO-8601 version of date from HTTP: '%s' != '%s', from "
                "'%s'." % (scope_date, amz_date[:8], amz_date)), **info)
        if region != self.region:
            return Verdict("sigv4", False, _invalid(
                "Credential should be scoped to a valid region. "), **info)
        if service != self.service:
            return Verdict("sigv4", False, _invalid(
                "Credential should be scoped to correct service: '%s'. "
                % self.service), **info)
        if term != "aws4_request":
            return Verdict("sigv4", False, _invalid(
                "Credential should be scoped with a valid terminator: "
                "'aws4_request', not '%s'. " % term), **info)

        now = int(self.clock())
        fmt = lambda t: time.strftime(AMZ_DATE, time.gmtime(t))
        if req_time < now - self.max_skew:
            return Verdict("sigv4", False, _invalid(
                "Signature expired: %s is now earlier than %s (%s - 5 min.)"
                % (amz_date, fmt(now - self.max_skew), fmt(now))), **info)
        if req_time > now + self.max_skew:
            return Verdict("sigv4", False, _invalid(
                "Signature not yet current: %s is still later than %s "
                "(%s + 5 min.)" % (amz_date, fmt(now + self.max_skew),
                                   fmt(now))), **info)

        known = self.credentials.get(akid)
        token = hmap.get("x-amz-security-token")
        if known is None or known[1] != token:
            return Verdict("sigv4", False,
                           _forbidden("UnrecognizedClientException",
                                      BAD_TOKEN), **info)

        canonical, sts, expected = self.sign(method, target, headers, body,
                                             signed, akid, known, amz_date)
        if not hmac.compare_digest(expected, params["Signature"]):
            return Verdict("sigv4", False, _invalid(
                "%s\n\nThe Canonical String for this request should have "
                "been\n'%s'\n\nThe String-to-Sign should have been\n'%s'\n"
                % (SIGNATURE_MISMATCH, canonical, sts)), **info)
        return Verdict("sigv4", True, **info)

    def sign(self, method, target, headers, body, signed, akid, known,
             amz_date):
        """Signs with botocore; returns (canonical request, string to sign,
        signature)."""
        auth_cls, request_cls, creds_cls = _load_botocore()
        if isinstance(target, bytes):
            target = target.decode("latin-1")
        host = "localhost"
        sign_headers = []
        for name, value in headers:
            ln = name.lower()
            if ln == "host":
                host = value
            if ln in signed:
                if ln == "x-amz-content-sha256":
                    # botocore would take the client's claim as the payload
                    # hash; AWS hashes the body it received
                    value = hashlib.sha256(body).hexdigest()
                sign_headers.append((name, value))
        request = request_cls(method=method, url="http://%s%s"
                              % (host, target), data=body)
        for name, value in sign_headers:
            request.headers[name] = value
        request.context["timestamp"] = amz_date
        signer = auth_cls(creds_cls(akid, known[0], known[1]), self.service,
                          self.region, set(signed))
        canonical = signer.canonical_request(request)
        sts = signer.string_to_sign(request, canonical)
        return canonical, sts, signer.signature(sts, request)
