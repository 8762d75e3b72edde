#!/usr/bin/python3
"""Tests of the Bedrock emulator.

Run: /usr/bin/python3 emulator/test_emulator.py (-v for names, --tap for
TAP, as t/003-emulator.t does).

Independent checks come from botocore (Debian's python3-botocore): its
EventStreamBuffer decodes the frames, its SigV4Auth signs the requests.
"""

import base64
import http.client
import json
import math
import os
import socket
import struct
import sys
import threading
import time
import unittest
import zlib

# no __pycache__ in the source tree
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from botocore.auth import SigV4Auth                       # noqa: E402
from botocore.awsrequest import AWSRequest                # noqa: E402
from botocore.credentials import Credentials              # noqa: E402
from botocore.eventstream import EventStreamBuffer        # noqa: E402
from botocore.eventstream import ChecksumMismatch         # noqa: E402

import bedrock_emulator                                   # noqa: E402
import eventstream                                        # noqa: E402
import faults                                             # noqa: E402
import models                                             # noqa: E402
import quota                                              # noqa: E402

CLAUDE37 = "anthropic.claude-3-7-sonnet-20250219-v1:0"
CLAUDE37_ENC = "anthropic.claude-3-7-sonnet-20250219-v1%3A0"
HAIKU3 = "anthropic.claude-3-haiku-20240307-v1:0"
AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKENS_429 = b'{"message":"Too many tokens, please wait before trying again."}'


class FakeClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, s):
        self.t += s


def claude_body(text="Hello there", max_tokens=100, **kw):
    body = {"anthropic_version": "bedrock-2023-05-31",
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return json.dumps(body).encode()


def converse_body(text="Hello there", max_tokens=None):
    body = {"messages": [{"role": "user", "content": [{"text": text}]}]}
    if max_tokens is not None:
        body["inferenceConfig"] = {"maxTokens": max_tokens}
    return json.dumps(body).encode()


def frames(raw):
    """Decodes with botocore: [(headers, payload bytes)]."""
    buf = EventStreamBuffer()
    buf.add_data(raw)
    return [(m.headers, m.payload) for m in buf]


def png(w, h):
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
            + struct.pack(">II", w, h) + b"\x08\x02\x00\x00\x00")


class Base(unittest.TestCase):
    """Starts an emulator in a thread for each test."""

    options = {}

    def setUp(self):
        self.clock = FakeClock()
        self.wall = FakeClock(time.time())
        opts = dict(clock=self.clock, wallclock=self.wall)
        opts.update(self.options)
        self.emu = bedrock_emulator.Emulator(**opts)
        self.server = bedrock_emulator.Server(("127.0.0.1", 0), self.emu)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def request(self, method, path, body=b"", headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=10)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
        finally:
            if conn is None:
                c.close()
        return r, data

    def post(self, model, op, body, headers=None):
        return self.request("POST", "/model/%s/%s" % (model, op), body,
                            headers)

    def control(self, method, what, obj=None):
        body = json.dumps(obj).encode() if obj is not None else b""
        r, data = self.request(method, "/_emulator/" + what, body)
        return r.status, json.loads(data)

    def log(self, **params):
        q = "&".join("%s=%s" % kv for kv in params.items())
        return self.control("GET", "requests?" + q)[1]

    def assertAwsError(self, r, data, status, code, message=None):
        self.assertEqual(r.status, status, data)
        self.assertEqual(r.getheader("x-amzn-ErrorType").split(":")[0], code)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertTrue(r.getheader("x-amzn-RequestId"))
        if message is not None:
            self.assertEqual(json.loads(data)["message"], message)


# -- eventstream -------------------------------------------------------------

class EventStreamTest(unittest.TestCase):
    def test_event_frame_decoded_by_botocore(self):
        raw = eventstream.event("chunk", b'{"bytes":"eyJhIjoxfQ=="}')
        (headers, payload), = frames(raw)
        self.assertEqual(headers, {":event-type": "chunk",
                                   ":content-type": "application/json",
                                   ":message-type": "event"})
        self.assertEqual(payload, b'{"bytes":"eyJhIjoxfQ=="}')

    def test_prelude_and_message_crc(self):
        raw = eventstream.event("messageStop", b'{"stopReason":"end_turn"}')
        total, hlen, pcrc = struct.unpack(">III", raw[:12])
        self.assertEqual(total, len(raw))
        self.assertEqual(pcrc, zlib.crc32(raw[:8]))
        self.assertEqual(struct.unpack(">I", raw[-4:])[0],
                         zlib.crc32(raw[:-4]))
        self.assertEqual(len(raw) - hlen - 16, len(b'{"stopReason":'
                                                   b'"end_turn"}'))

    def test_corrupt_frame_rejected_by_botocore(self):
        raw = bytearray(eventstream.event("chunk", b'{"x":1}'))
        raw[-6] ^= 0x01
        with self.assertRaises(ChecksumMismatch):
            frames(bytes(raw))
        raw = bytearray(eventstream.event("chunk", b'{"x":1}'))
        raw[9] ^= 0x01
        with self.assertRaises(ChecksumMismatch):
            frames(bytes(raw))

    def test_exception_frame(self):
        raw = eventstream.exception("throttlingException",
                                    b'{"message":"slow down"}')
        (headers, payload), = frames(raw)
        self.assertEqual(headers[":message-type"], "exception")
        self.assertEqual(headers[":exception-type"], "throttlingException")
        self.assertEqual(payload, b'{"message":"slow down"}')

    def test_all_header_types_agree_with_botocore(self):
        hs = [("t", True), ("f", False), ("b", (eventstream.BYTE, -2)),
              ("s", (eventstream.SHORT, 300)),
              ("i", (eventstream.INT, -70000)),
              ("l", (eventstream.LONG, 1 << 40)),
              ("raw", b"\x00\x01"), ("str", "h\u00e9"),
              ("ts", (eventstream.TIMESTAMP, 1700000000000)),
              ("u", (eventstream.UUID, bytes(range(16))))]
        raw = eventstream.encode(hs, b"p") + eventstream.encode([], b"")
        ours = eventstream.decode(raw)
        theirs = frames(raw)
        self.assertEqual(len(theirs), 2)
        h = theirs[0][0]
        self.assertIs(h["t"], True)
        self.assertIs(h["f"], False)
        self.assertEqual(h["b"], -2)
        self.assertEqual(h["s"], 300)
        self.assertEqual(h["i"], -70000)
        self.assertEqual(h["l"], 1 << 40)
        self.assertEqual(h["raw"], b"\x00\x01")
        self.assertEqual(h["str"], "h\u00e9")
        self.assertEqual(h["u"], bytes(range(16)))
        self.assertEqual(ours[0][0]["str"], "h\u00e9")
        self.assertEqual(ours[1], ({}, b""))


# -- model ids and routes ----------------------------------------------------

class ModelIdTest(unittest.TestCase):
    def test_route_decodes_once(self):
        self.assertEqual(models.route("/model/%s/invoke" % CLAUDE37_ENC),
                         (CLAUDE37, "InvokeModel"))
        self.assertEqual(models.route("/model/%s/converse-stream" % CLAUDE37),
                         (CLAUDE37, "ConverseStream"))
        self.assertEqual(models.route("/model/x/foo"), None)
        self.assertEqual(models.route("/models/x/invoke"), None)

    def test_resolve_forms(self):
        m = models.resolve("us." + CLAUDE37)
        self.assertEqual((m.base_id, m.quota_key, m.spec.burndown),
                         (CLAUDE37, "us." + CLAUDE37, 5))
        for geo in ("eu", "apac", "global", "jp"):
            self.assertEqual(models.resolve(geo + "." + CLAUDE37).base_id,
                             CLAUDE37)
        arn = "arn:aws:bedrock:us-east-1::foundation-model/" + HAIKU3
        m = models.resolve(arn)
        self.assertEqual((m.base_id, m.quota_key, m.spec.burndown),
                         (HAIKU3, HAIKU3, 1))
        arn = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
               "us." + CLAUDE37)
        self.assertEqual(models.resolve(arn).quota_key, "us." + CLAUDE37)
        arn = ("arn:aws:bedrock:us-east-1:123456789012:"
               "application-inference-profile/abc123")
        self.assertEqual(models.resolve(arn).family, "anthropic")
        self.assertEqual(models.resolve(arn, {arn: "meta.llama3-8b"}).family,
                         "llama")

    def test_burndown_and_limits(self):
        for mid, burn, mx in [
                ("anthropic.claude-sonnet-4-20250514-v1:0", 5, 64000),
                ("anthropic.claude-opus-4-20250514-v1:0", 5, 32000),
                ("anthropic.claude-opus-4-1-20250805-v1:0", 5, 32000),
                ("anthropic.claude-sonnet-4-5-20250929-v1:0", 5, 64000),
                ("anthropic.claude-haiku-4-5-20251001-v1:0", 5, 64000),
                ("anthropic.claude-3-5-sonnet-20241022-v2:0", 1, 8192),
                (HAIKU3, 1, 4096), ("amazon.nova-pro-v1:0", 1, 10000),
                ("meta.llama3-1-70b-instruct-v1:0", 1, 2048)]:
            spec = models.resolve(mid).spec
            self.assertEqual((spec.burndown, spec.max_output), (burn, mx),
                             mid)

    def test_invalid_ids(self):
        for bad in ("", "foo", "nosuch.model", "anthropic.", "anthropic.a%3A0",
                    "arn:aws:bedrock:us-east-1::agent/x", "anthropic.a b"):
            with self.assertRaises(models.awserrors.AwsError, msg=bad) as cm:
                models.resolve(bad)
            self.assertEqual(cm.exception.message,
                             "The provided model identifier is invalid.")


# -- token counting ----------------------------------------------------------

class CountingTest(unittest.TestCase):
    def test_text_is_ceil_chars_over_4(self):
        body = json.loads(claude_body("x" * 41, system="abc"))
        self.assertEqual(models.count_invoke("anthropic", body),
                         math.ceil(44 / 4))
        self.assertEqual(models.count_converse(json.loads(
            converse_body("y" * 8))), 2)
        self.assertEqual(models.count_invoke("titan", {"inputText": ""}), 1)

    def test_unicode_counts_code_points(self):
        self.assertEqual(models.count_invoke("llama",
                                             {"prompt": "\u00e9" * 8}), 2)

    def test_images(self):
        self.assertEqual(models.image_size(png(1000, 750)), (1000, 750))
        self.assertEqual(models.image_tokens(png(1000, 750)), 1000)
        # long edge scaled to 1568: 3136x1568 -> 1568x784
        self.assertEqual(models.image_tokens(png(3136, 1568)),
                         math.ceil(1568 * 784 / 750))
        self.assertEqual(models.image_tokens(b"not an image"), 1600)
        gif = b"GIF89a" + struct.pack("<HH", 300, 200) + b"\x00" * 8
        self.assertEqual(models.image_tokens(gif), 80)
        jpeg = (b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08"
                + struct.pack(">HH", 150, 500) + b"\x03" + b"\x00" * 9)
        self.assertEqual(models.image_size(jpeg), (500, 150))
        webp = (b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8
                + (639).to_bytes(3, "little") + (479).to_bytes(3, "little"))
        self.assertEqual(models.image_size(webp), (640, 480))
        data = base64.b64encode(png(750, 750)).decode()
        claude = {"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64",
                                         "media_type": "image/png",
                                         "data": data}},
            {"type": "text", "text": "abcd"}]}]}
        self.assertEqual(models.count_invoke("anthropic", claude), 751)
        conv = {"messages": [{"role": "user", "content": [
            {"image": {"format": "png", "source": {"bytes": data}}}]}]}
        self.assertEqual(models.count_converse(conv), 750)

    def test_tools_documents_and_tool_use(self):
        tools = [{"name": "get", "description": "d", "input_schema": {}}]
        compact = json.dumps(tools, separators=(",", ":"))
        body = {"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64",
                                            "media_type": "application/pdf",
                                            "data": "AAAA"}},
            {"type": "tool_result", "tool_use_id": "t", "content": "abcd"}]}],
            "tools": tools}
        self.assertEqual(models.count_invoke("anthropic", body),
                         math.ceil((len(compact) + 4) / 4) + 1500)

    def test_random_bodies_never_crash(self):
        import random
        rnd = random.Random(7)
        atoms = [None, True, 0, -1, 5, 2.5, "", "x" * 9, [], {}, [1],
                 {"text": 1}, [{"type": "image"}], [{"image": None}],
                 [{"role": "user", "content": [{"toolResult": {"content":
                                                               [1, {}]}}]}]]
        keys = ["anthropic_version", "max_tokens", "messages", "system",
                "tools", "prompt", "inputText", "message", "chat_history",
                "inferenceConfig", "textGenerationConfig", "max_gen_len",
                "max_tokens_to_sample", "toolConfig", "documents"]
        ids = [CLAUDE37, "anthropic.claude-v2", "amazon.nova-pro-v1:0",
               "amazon.titan-text-lite-v1", "meta.llama3-8b",
               "mistral.mistral-7b", "cohere.command-r-v1:0",
               "cohere.command-text-v14", "deepseek.r1-v1:0"]
        for i in range(3000):
            body = {k: rnd.choice(atoms) for k in rnd.sample(keys, 4)}
            raw = json.dumps(body).encode()
            model = models.resolve(rnd.choice(ids))
            for plan_fn, op in ((models.plan_invoke, "InvokeModel"),
                                (models.plan_converse, "Converse")):
                try:
                    plan = plan_fn(model, op, raw, 5)
                except models.awserrors.AwsError:
                    continue
                if op == "Converse":
                    models.converse_response(plan, 1)
                    list(models.converse_stream_events(plan, 2,
                                                       lambda: (1, 1)))
                else:
                    models.invoke_response(plan, "rid")
                    list(models.invoke_stream_events(plan, 2,
                                                     lambda: (1, 1), "rid"))

    def test_output_tokens_and_stop_reason(self):
        m = models.resolve(CLAUDE37)
        p = models.plan_invoke(m, "InvokeModel", claude_body(max_tokens=10),
                               16)
        self.assertEqual((p.output_tokens, p.stop_is_length), (10, True))
        p = models.plan_invoke(m, "InvokeModel", claude_body(max_tokens=100),
                               16)
        self.assertEqual((p.output_tokens, p.stop_is_length), (16, False))
        self.assertEqual(len(p.text().split()), 16)
        self.assertEqual(p.text(0, 4) + p.text(4, 16), p.text())


# -- SigV4 and API keys ------------------------------------------------------

class AuthTest(Base):
    options = dict(auth="sigv4", credentials={AKID: (SECRET, None),
                                              "AKIDTEMP": ("s3cr3t", "TOK")},
                   api_keys=["ABSKgood"])

    def signed(self, path, body, region="us-east-1", service="bedrock",
               akid=AKID, secret=SECRET, token=None, extra=None):
        """Headers botocore's SigV4Auth puts on this request."""
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        req = AWSRequest(method="POST", url=url, data=body,
                         headers={"Content-Type": "application/json",
                                  **(extra or {})})
        SigV4Auth(Credentials(akid, secret, token), service,
                  region).add_auth(req)
        return dict(req.headers.items())

    def send(self, path, body, headers):
        return self.request("POST", path, body, headers)

    def test_valid_signature_encoded_colon(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        r, data = self.send(path, claude_body(), self.signed(path,
                                                             claude_body()))
        self.assertEqual(r.status, 200, data)
        auth = self.log()["requests"][-1]["auth"]
        self.assertEqual((auth["scheme"], auth["valid"], auth["access_key"]),
                         ("sigv4", True, AKID))

    def test_valid_signature_literal_colon_and_arn(self):
        for mid in (CLAUDE37, "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3A"
                    "foundation-model%2F" + CLAUDE37_ENC):
            path = "/model/%s/converse" % mid
            r, data = self.send(path, converse_body(),
                                self.signed(path, converse_body()))
            self.assertEqual(r.status, 200, data)

    def test_unsigned_header_added_by_proxy_is_ignored(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body())
        h["X-Forwarded-For"] = "10.0.0.1"
        r, data = self.send(path, claude_body(), h)
        self.assertEqual(r.status, 200, data)

    def test_tampered_body(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body())
        r, data = self.send(path, claude_body("changed"), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException")
        self.assertEqual(r.getheader("x-amzn-ErrorType"),
                         "InvalidSignatureException:http://internal.amazon."
                         "com/coral/com.amazon.coral.service/")
        msg = json.loads(data)["message"]
        self.assertTrue(msg.startswith(
            "The request signature we calculated does not match the "
            "signature you provided. Check your AWS Secret Access Key and "
            "signing method. Consult the service documentation for "
            "details.\n\nThe Canonical String for this request should have "
            "been\n'POST\n/model/anthropic.claude-3-7-sonnet-20250219-"
            "v1%253A0/invoke\n"), msg)
        self.assertIn("\n\nThe String-to-Sign should have been\n"
                      "'AWS4-HMAC-SHA256\n", msg)

    def test_tampered_path(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body())
        r, data = self.send("/model/%s/invoke" % CLAUDE37, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException")

    def test_tampered_signed_header(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(),
                        extra={"X-Amzn-Bedrock-Trace": "ENABLED"})
        h["X-Amzn-Bedrock-Trace"] = "DISABLED"
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException")

    def test_wrong_content_sha256_claim(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(),
                        extra={"X-Amz-Content-SHA256": "0" * 64})
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException")

    def test_wrong_secret(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(), secret="nope")
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException")

    def test_unknown_key(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(), akid="AKIDUNKNOWN")
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "UnrecognizedClientException",
                            "The security token included in the request "
                            "is invalid.")

    def test_session_token_required(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(), akid="AKIDTEMP",
                        secret="s3cr3t", token="TOK")
        r, data = self.send(path, claude_body(), h)
        self.assertEqual(r.status, 200, data)
        h = self.signed(path, claude_body(), akid="AKIDTEMP",
                        secret="s3cr3t")
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "UnrecognizedClientException")

    def test_missing_authentication(self):
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body())
        self.assertAwsError(r, data, 403,
                            "MissingAuthenticationTokenException",
                            "Missing Authentication Token")

    def test_wrong_service_and_region(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(), service="bedrock-runtime")
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException",
                            "Credential should be scoped to correct "
                            "service: 'bedrock'. ")
        h = self.signed(path, claude_body(), region="eu-west-1")
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException",
                            "Credential should be scoped to a valid "
                            "region. ")

    def test_date_too_old_and_too_new(self):
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body())
        signed_at = h["X-Amz-Date"]
        t0 = time.mktime(time.strptime(signed_at, "%Y%m%dT%H%M%SZ")) \
            - time.timezone
        fmt = lambda t: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
        self.wall.t = t0 + 301
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException",
                            "Signature expired: %s is now earlier than %s "
                            "(%s - 5 min.)" % (signed_at, fmt(t0 + 1),
                                               fmt(t0 + 301)))
        self.wall.t = t0 - 301
        r, data = self.send(path, claude_body(), h)
        self.assertAwsError(r, data, 403, "InvalidSignatureException",
                            "Signature not yet current: %s is still later "
                            "than %s (%s + 5 min.)" % (signed_at,
                                                       fmt(t0 - 1),
                                                       fmt(t0 - 301)))
        self.wall.t = t0 + 299
        r, data = self.send(path, claude_body(), h)
        self.assertEqual(r.status, 200, data)

    def test_incomplete_authorization(self):
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(), {
            "Authorization": "AWS4-HMAC-SHA256 Credential=%s/20250101/"
                             "us-east-1/bedrock/aws4_request" % AKID})
        self.assertAwsError(r, data, 403, "IncompleteSignatureException")
        self.assertIn("requires 'Signature' parameter",
                      json.loads(data)["message"])

    def test_bearer_rejected_in_sigv4_mode_and_accepted_in_any(self):
        h = {"Authorization": "Bearer ABSKgood"}
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(), h)
        self.assertEqual(r.status, 403)
        self.control("POST", "settings", {"auth": "any"})
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(), h)
        self.assertEqual(r.status, 200, data)
        path = "/model/%s/invoke" % CLAUDE37_ENC
        r, data = self.send(path, claude_body(), self.signed(path,
                                                             claude_body()))
        self.assertEqual(r.status, 200, data)

    def test_api_keys(self):
        self.control("POST", "settings", {"auth": "apikey"})
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(),
                            {"Authorization": "Bearer ABSKgood"})
        self.assertEqual(r.status, 200, data)
        self.assertEqual(self.log()["requests"][-1]["auth"]["key"],
                         "...good")
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(),
                            {"Authorization": "Bearer ABSKbad"})
        self.assertEqual(r.status, 403)
        self.assertEqual(json.loads(data), {"Message": "Authentication "
                         "failed: Please make sure your API Key is valid."})
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(),
                            {"Authorization": "Bearer whatever"})
        self.assertEqual(json.loads(data), {"Message": "Invalid API Key "
                         "format: Must start with pre-defined prefix"})
        path = "/model/%s/invoke" % CLAUDE37_ENC
        r, data = self.send(path, claude_body(), self.signed(path,
                                                             claude_body()))
        self.assertEqual(r.status, 403)

    def test_mode_none_records_but_does_not_enforce(self):
        self.control("POST", "settings", {"auth": "none"})
        path = "/model/%s/invoke" % CLAUDE37_ENC
        h = self.signed(path, claude_body(), secret="nope")
        r, data = self.send(path, claude_body(), h)
        self.assertEqual(r.status, 200, data)
        auth = self.log()["requests"][-1]["auth"]
        self.assertEqual((auth["valid"], auth["error"], auth["enforced"]),
                         (False, "InvalidSignatureException", False))


# -- quotas ------------------------------------------------------------------

class QuotaArithmeticTest(unittest.TestCase):
    def setUp(self):
        self.clock = FakeClock()
        self.wall = FakeClock(1000000.0)
        self.q = quota.Quotas(tpm=600, rpm=0, clock=self.clock,
                              wallclock=self.wall)

    def test_reserve_then_throttle_then_refill(self):
        self.q.admit("m", 500)
        self.assertEqual(self.q.level("m"), 100)
        with self.assertRaises(quota.Throttled) as cm:
            self.q.admit("m", 200)
        self.assertEqual(cm.exception.kind, "tokens")
        self.assertEqual(self.q.level("m"), 100)      # throttled takes nothing
        self.clock.advance(10)                        # 600/60 = 10 tokens/s
        self.assertEqual(self.q.level("m"), 200)
        self.q.admit("m", 200)
        self.clock.advance(1000)
        self.assertEqual(self.q.level("m"), 600)      # capped at one minute

    def test_settle_with_burndown(self):
        r = self.q.admit("m", 100 + 400, burndown=5)  # input 100, max 400
        self.assertEqual(self.q.settle(r, 100, 50), 350)
        self.assertEqual(self.q.level("m"), 600 - 350)
        self.assertEqual(self.q.settle(r, 100, 50), 350)  # idempotent
        self.assertEqual(self.q.level("m"), 250)
        r = self.q.admit("m", 200, burndown=5)        # input 100, max 100
        self.q.settle(r, 100, 100)                    # 600 > reserved 200
        self.assertEqual(self.q.level("m"), 250 - 600)
        with self.assertRaises(quota.Throttled):
            self.q.admit("m", 1)
        self.clock.advance(35)
        self.assertEqual(self.q.level("m"), 0)

    def test_settle_burndown_1_returns_unused(self):
        r = self.q.admit("m", 10 + 300)
        self.q.settle(r, 10, 16)
        self.assertEqual(self.q.level("m"), 600 - 26)

    def test_rpm(self):
        q = quota.Quotas(tpm=0, rpm=2, clock=self.clock, wallclock=self.wall)
        q.admit("m", 10 ** 9)
        q.admit("m", 1)
        with self.assertRaises(quota.Throttled) as cm:
            q.admit("m", 1)
        self.assertEqual(cm.exception.kind, "requests")
        self.clock.advance(30)
        q.admit("m", 1)

    def test_overrides(self):
        q = quota.Quotas(tpm=100, rpm=5, overrides=[
            quota.parse_quota("anthropic.*=1000"),
            quota.parse_quota("anthropic.claude-x=7:3")])
        self.assertEqual(q.limits("anthropic.claude-x"), (7, 3))
        self.assertEqual(q.limits("anthropic.claude-y"), (1000, 5))
        self.assertEqual(q.limits("meta.llama"), (100, 5))
        self.assertEqual(quota.parse_quota("arn:aws:x=5:6"),
                         ("arn:aws:x", 5, 6))

    def test_counters_and_windows(self):
        r = self.q.admit("m", 100)
        self.q.settle(r, 10, 20)
        self.wall.advance(1)
        with self.assertRaises(quota.Throttled):
            self.q.admit("m", 10 ** 6)
        s = self.q.snapshot()["models"]["m"]
        self.assertEqual((s["admitted"], s["throttled_tokens"],
                          s["reserved_tokens"], s["settled_tokens"],
                          s["input_tokens"], s["output_tokens"],
                          s["in_flight"]), (1, 1, 100, 30, 10, 20, 0))
        self.assertEqual(s["per_second"], [[1000000, 1, 0, 100, 30],
                                           [1000001, 0, 1, 0, 0]])
        self.assertEqual((s["max_reserved_60s"], s["max_settled_60s"]),
                         (100, 30))


class QuotaHttpTest(Base):
    options = dict(tpm=1000)

    def test_429_is_byte_exact(self):
        # reservation 3 + 998 > 1000: throttled on the first request
        r, data = self.post(CLAUDE37_ENC, "invoke",
                            claude_body("abcdefghij", max_tokens=998))
        self.assertEqual(r.status, 429)
        self.assertEqual(data, TOKENS_429)
        self.assertEqual(len(data), 63)
        self.assertEqual(r.getheader("x-amzn-ErrorType"),
                         "ThrottlingException:http://internal.amazon.com/"
                         "coral/com.amazon.bedrock/")
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        self.assertEqual(r.getheader("Content-Length"), "63")

    def test_reservation_settles_with_burndown(self):
        # input 3 + max 500 reserved; 16 output x 5 settled
        r, data = self.post(CLAUDE37_ENC, "invoke",
                            claude_body("abcdefghij", max_tokens=500))
        self.assertEqual(r.status, 200, data)
        self.assertEqual(self.emu.quotas.level(CLAUDE37), 1000 - 3 - 80)
        e = self.log()["requests"][-1]
        self.assertEqual((e["reserved_tokens"], e["settled_tokens"]),
                         (503, 83))
        r, data = self.post(HAIKU3, "invoke",
                            claude_body("abcdefghij", max_tokens=500))
        self.assertEqual(self.emu.quotas.level(HAIKU3), 1000 - 3 - 16)

    def test_converse_without_max_tokens_reserves_model_max(self):
        r, data = self.post(CLAUDE37_ENC, "converse", converse_body("hi"))
        self.assertEqual((r.status, data), (429, TOKENS_429))
        r, data = self.post(CLAUDE37_ENC, "converse",
                            converse_body("hi", max_tokens=900))
        self.assertEqual(r.status, 200, data)

    def test_refill_over_time(self):
        r, data = self.post(CLAUDE37_ENC, "invoke",
                            claude_body("abcd", max_tokens=900))
        self.assertEqual(r.status, 200)             # level 1000 - 1 - 80
        r, data = self.post(CLAUDE37_ENC, "invoke",
                            claude_body("abcd", max_tokens=950))
        self.assertEqual(r.status, 429)
        self.clock.advance(2.5)                     # + 41.67 tokens
        r, data = self.post(CLAUDE37_ENC, "invoke",
                            claude_body("abcd", max_tokens=950))
        self.assertEqual(r.status, 200, data)

    def test_rpm_message_and_control(self):
        st, snap = self.control("POST", "quotas",
                                {"quota": CLAUDE37 + "=100000:1"})
        self.assertEqual(st, 200)
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body())
        self.assertEqual(r.status, 200)
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body())
        self.assertEqual((r.status, data), (429, b'{"message":"Too many '
                         b'requests, please wait before trying again."}'))
        st, c = self.control("GET", "counters")
        m = c["models"][CLAUDE37]
        self.assertEqual((m["admitted"], m["throttled_requests"], m["tpm"],
                          m["rpm"]), (1, 1, 100000, 1))
        self.assertEqual(c["responses"], {"200": 1, "429": 1})

    def test_quota_keys_are_per_model_id(self):
        self.control("POST", "quotas", {"models": {"us.*": {"tpm": 50}}})
        r, _ = self.post("us." + CLAUDE37_ENC, "invoke", claude_body())
        self.assertEqual(r.status, 429)
        r, _ = self.post(CLAUDE37_ENC, "invoke", claude_body())
        self.assertEqual(r.status, 200)


# -- faults ------------------------------------------------------------------

class FaultGrammarTest(unittest.TestCase):
    def test_parse(self):
        steps, key = faults.parse("throttle*3, 503 ,slow=20*inf; key=abc")
        self.assertEqual([str(s) for s in steps],
                         ["throttle*3", "unavailable", "slow=20*inf"])
        self.assertEqual(key, "abc")
        self.assertEqual(faults.nth(steps, 2).kind, "throttle")
        self.assertEqual(faults.nth(steps, 3).kind, "unavailable")
        self.assertEqual(faults.nth(steps, 99).kind, "slow")
        s, = faults.parse("break=2:modelStreamErrorException")[0]
        self.assertEqual((s.after, s.exception),
                         (2, "modelStreamErrorException"))

    def test_errors(self):
        for bad in ("nosuch", "throttle*0", "slow", "slow=x", "break=1:nope",
                    "503; tag=x", "", "throttle=sometimes", "cut=1:x"):
            with self.assertRaises(faults.FaultSyntaxError, msg=bad):
                faults.parse(bad)


class FaultTest(Base):
    def fault(self, spec, op="invoke", body=None, tag=None, model=None):
        h = {"X-Emulator-Fault": spec}
        if tag:
            h["X-Emulator-Tag"] = tag
        return self.post(model or CLAUDE37_ENC, op, body or claude_body(), h)

    def test_error_kinds(self):
        cases = [
            ("throttle", 429, "ThrottlingException", TOKENS_429),
            ("throttle=requests", 429, "ThrottlingException",
             b'{"message":"Too many requests, please wait before trying '
             b'again."}'),
            ("not-ready", 429, "ModelNotReadyException", None),
            ("500", 500, "InternalServerException", None),
            ("unavailable", 503, "ServiceUnavailableException",
             b'{"message":"Bedrock is unable to process your request."}'),
            ("408", 408, "ModelTimeoutException", None),
            ("validation", 400, "ValidationException",
             b'{"message":"Input is too long for requested model."}'),
            ("424", 424, "ModelErrorException", None)]
        for i, (spec, status, code, body) in enumerate(cases):
            r, data = self.fault(spec, tag="t%d" % i)
            self.assertAwsError(r, data, status, code)
            if body is not None:
                self.assertEqual(data, body)
            r, data = self.fault(spec, tag="t%d" % i)
            self.assertEqual(r.status, 200, spec)

    def test_retries_of_one_request_see_n_faults_then_success(self):
        statuses = [self.fault("throttle*2, 503", tag="r1")[0].status
                    for _ in range(4)]
        self.assertEqual(statuses, [429, 429, 503, 200])
        # another key has its own count; a new spec starts over
        self.assertEqual(self.fault("throttle*2, 503; key=k2")[0].status, 429)
        self.assertEqual(self.fault("500", tag="r1")[0].status, 500)
        log = self.log(tag="r1", fields="status,fault")
        self.assertEqual(log["requests"],
                         [{"status": 429, "fault": "throttle*2"}] * 2
                         + [{"status": 503, "fault": "unavailable"},
                            {"status": 200, "fault": None},
                            {"status": 500, "fault": "internal"}])

    def test_fault_without_key_counts_by_spec(self):
        self.assertEqual(self.fault("503*2")[0].status, 503)
        self.assertEqual(self.fault("503*2")[0].status, 503)
        self.assertEqual(self.fault("503*2")[0].status, 200)

    def test_slow(self):
        t = time.monotonic()
        r, data = self.fault("slow=300")
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.3)

    def test_reset_and_close(self):
        with self.assertRaises(ConnectionResetError):
            self.fault("reset")
        with self.assertRaises(http.client.RemoteDisconnected):
            self.fault("close")
        self.assertEqual(self.log(fields="status")["requests"],
                         [{"status": "reset"}, {"status": "close"}])

    def test_break_stream_with_exception(self):
        r, data = self.fault("break=2:serviceUnavailableException",
                             op="converse-stream", body=converse_body())
        self.assertEqual(r.status, 200)
        got = frames(data)
        self.assertEqual([h.get(":event-type") for h, _ in got[:2]],
                         ["messageStart", "contentBlockDelta"])
        h, payload = got[2]
        self.assertEqual(len(got), 3)
        self.assertEqual((h[":message-type"], h[":exception-type"]),
                         ("exception", "serviceUnavailableException"))
        self.assertEqual(json.loads(payload),
                         {"message": "Bedrock is unable to process your "
                          "request."})
        e = self.log()["requests"][-1]
        self.assertEqual((e["stream"], e["events"], e["output_tokens"]),
                         ("exception:serviceUnavailableException", 3, 4))

    def test_break_default_is_throttling(self):
        r, data = self.fault("break=0", op="invoke-with-response-stream")
        (h, payload), = frames(data)
        self.assertEqual(h[":exception-type"], "throttlingException")

    def test_cut_stream(self):
        with self.assertRaises(http.client.IncompleteRead):
            self.fault("cut=1", op="converse-stream", body=converse_body())
        self.assertEqual(self.log()["requests"][-1]["stream"], "cut")

    def test_queued_faults_from_control_api(self):
        st, snap = self.control("POST", "faults", {"fault": "503*2",
                                                   "model": "*claude-3-7*"})
        self.assertEqual(st, 200)
        self.assertEqual(self.post(HAIKU3, "invoke",
                                   claude_body())[0].status, 200)
        self.assertEqual(self.post(CLAUDE37_ENC, "invoke",
                                   claude_body())[0].status, 503)
        self.assertEqual(self.post("us." + CLAUDE37_ENC, "invoke",
                                   claude_body())[0].status, 503)
        self.assertEqual(self.post(CLAUDE37_ENC, "invoke",
                                   claude_body())[0].status, 200)
        self.assertEqual(self.control("GET", "faults")[1]["queued"], [])
        self.control("POST", "faults", {"fault": "throttle*inf",
                                        "operation": "Converse"})
        self.assertEqual(self.post(CLAUDE37_ENC, "invoke",
                                   claude_body())[0].status, 200)
        self.assertEqual(self.post(CLAUDE37_ENC, "converse",
                                   converse_body())[0].status, 429)
        self.control("DELETE", "faults")
        self.assertEqual(self.post(CLAUDE37_ENC, "converse",
                                   converse_body())[0].status, 200)

    def test_bad_fault_header(self):
        r, data = self.fault("explode")
        self.assertAwsError(r, data, 400, "ValidationException")
        self.assertIn("unknown fault 'explode'", json.loads(data)["message"])
        st, obj = self.control("POST", "faults", {"fault": "explode"})
        self.assertEqual(st, 400)


# -- response shapes ---------------------------------------------------------

class ShapeTest(Base):
    def test_claude_messages(self):
        r, data = self.post(CLAUDE37_ENC, "invoke",
                            claude_body("x" * 40, max_tokens=100),
                            {"X-Emulator-Output-Tokens": "5"})
        self.assertEqual(r.status, 200)
        body = json.loads(data)
        self.assertTrue(body["id"].startswith("msg_bdrk_"))
        self.assertEqual((body["type"], body["role"], body["model"],
                          body["stop_reason"], body["stop_sequence"]),
                         ("message", "assistant",
                          "claude-3-7-sonnet-20250219", "end_turn", None))
        self.assertEqual(body["usage"], {"input_tokens": 10,
                                         "output_tokens": 5})
        self.assertEqual(body["content"][0]["type"], "text")
        self.assertEqual(len(body["content"][0]["text"].split()), 5)
        self.assertEqual(r.getheader("X-Amzn-Bedrock-Input-Token-Count"),
                         "10")
        self.assertEqual(r.getheader("X-Amzn-Bedrock-Output-Token-Count"),
                         "5")
        self.assertIsNotNone(r.getheader("X-Amzn-Bedrock-Invocation-Latency"))
        self.assertEqual(r.getheader("Content-Type"), "application/json")

    def test_claude_validation(self):
        cases = [
            (b"not json", "Malformed input request: A JSONObject text must "
             "begin with '{' at 1 [character 2 line 1], please reformat "
             "your input and try again."),
            (b"[1]", "Malformed input request: #: expected type: JSONObject,"
             " found: JSONArray, please reformat your input and try again."),
            (json.dumps({"anthropic_version": "bedrock-2023-05-31",
                         "messages": [], "model": "x"}).encode(),
             "Malformed input request: #: required key [max_tokens] not "
             "found#: extraneous key [model] is not permitted, please "
             "reformat your input and try again."),
            (claude_body(max_tokens=100000),
             "max_tokens: 100000 > 64000, which is the maximum allowed "
             "number of output tokens for claude-3-7-sonnet-20250219"),
            (claude_body("x" * 800004), "Input is too long for requested "
             "model.")]
        for body, message in cases:
            r, data = self.post(CLAUDE37_ENC, "invoke", body)
            self.assertAwsError(r, data, 400, "ValidationException", message)

    def test_claude_text_completion(self):
        body = json.dumps({"prompt": "\n\nHuman: hi\n\nAssistant:",
                           "max_tokens_to_sample": 3}).encode()
        r, data = self.post("anthropic.claude-v2", "invoke", body)
        obj = json.loads(data)
        self.assertEqual((obj["type"], obj["stop_reason"]),
                         ("completion", "max_tokens"))
        self.assertEqual(len(obj["completion"].split()), 3)

    def test_converse(self):
        r, data = self.post(CLAUDE37_ENC, "converse",
                            converse_body("abcdefgh", max_tokens=4))
        obj = json.loads(data)
        self.assertEqual(obj["output"]["message"]["role"], "assistant")
        self.assertEqual(len(obj["output"]["message"]["content"][0]
                             ["text"].split()), 4)
        self.assertEqual(obj["stopReason"], "max_tokens")
        self.assertEqual(obj["usage"], {"inputTokens": 2, "outputTokens": 4,
                                        "totalTokens": 6})
        self.assertIn("latencyMs", obj["metrics"])
        for model in ("amazon.titan-text-express-v1", "meta.llama3-8b",
                      "mistral.mistral-large-2407-v1:0", "amazon.nova-pro"
                      "-v1:0", "cohere.command-r-v1:0", "deepseek.r1-v1:0"):
            r, data = self.post(model, "converse", converse_body())
            self.assertEqual(r.status, 200, model)

    def test_converse_validation(self):
        r, data = self.post(CLAUDE37_ENC, "converse", b'{"messages":[]}')
        self.assertAwsError(r, data, 400, "ValidationException",
                            "A conversation must start with a user message. "
                            "Try again with a conversation that starts with "
                            "a user message.")
        r, data = self.post(HAIKU3, "converse",
                            converse_body(max_tokens=5000))
        self.assertAwsError(r, data, 400, "ValidationException",
                            "The maximum tokens you requested exceeds the "
                            "model limit of 4096")

    def test_other_families(self):
        h = {"X-Emulator-Output-Tokens": "3"}
        r, data = self.post("amazon.titan-text-express-v1", "invoke",
                            b'{"inputText":"abcdefgh"}', h)
        obj = json.loads(data)
        self.assertEqual(obj["inputTextTokenCount"], 2)
        self.assertEqual((obj["results"][0]["tokenCount"],
                          obj["results"][0]["completionReason"]),
                         (3, "FINISH"))
        r, data = self.post("meta.llama3-8b-instruct-v1:0", "invoke",
                            b'{"prompt":"abcd","max_gen_len":2}', h)
        self.assertEqual(json.loads(data)["stop_reason"], "length")
        self.assertEqual(json.loads(data)["generation_token_count"], 2)
        r, data = self.post("mistral.mistral-7b-instruct-v0:2", "invoke",
                            b'{"prompt":"<s>[INST] hi [/INST]"}', h)
        self.assertEqual(json.loads(data)["outputs"][0]["stop_reason"],
                         "stop")
        r, data = self.post("mistral.mistral-large-2407-v1:0", "invoke",
                            b'{"messages":[{"role":"user","content":"hi"}]}',
                            h)
        self.assertEqual(json.loads(data)["choices"][0]["message"]["role"],
                         "assistant")
        r, data = self.post("cohere.command-r-v1:0", "invoke",
                            b'{"message":"hello"}', h)
        self.assertEqual(json.loads(data)["finish_reason"], "COMPLETE")
        r, data = self.post("amazon.nova-lite-v1:0", "invoke",
                            converse_body("abcd"), h)
        obj = json.loads(data)
        self.assertEqual((obj["usage"]["inputTokens"],
                          obj["usage"]["outputTokens"]), (1, 3))
        self.assertEqual(r.getheader("X-Amzn-Bedrock-Output-Token-Count"),
                         "3")
        r, data = self.post("amazon.titan-text-express-v1", "invoke",
                            b'{"prompt":"x"}')
        self.assertAwsError(r, data, 400, "ValidationException")

    def test_count_tokens(self):
        inner = base64.b64encode(claude_body("x" * 40)).decode()
        r, data = self.post(CLAUDE37_ENC, "count-tokens", json.dumps(
            {"input": {"invokeModel": {"body": inner}}}).encode())
        self.assertEqual(json.loads(data), {"inputTokens": 10})
        r, data = self.post(CLAUDE37_ENC, "count-tokens", json.dumps(
            {"input": {"converse": json.loads(converse_body("y" * 8))}}
        ).encode())
        self.assertEqual(json.loads(data), {"inputTokens": 2})

    def test_unknown_paths_and_ids(self):
        r, data = self.post(CLAUDE37_ENC, "generate", claude_body())
        self.assertAwsError(r, data, 404, "UnknownOperationException")
        r, data = self.request("GET", "/model/%s/invoke" % CLAUDE37_ENC)
        self.assertAwsError(r, data, 404, "UnknownOperationException")
        r, data = self.request("POST", "/", b"")
        self.assertEqual(r.status, 404)
        for bad in ("anthropic.claude-3-7-sonnet-20250219-v1%253A0",
                    "nosuch.model-v1", "claude-3"):
            r, data = self.post(bad, "invoke", claude_body())
            self.assertAwsError(r, data, 400, "ValidationException",
                                "The provided model identifier is invalid.")

    def test_encoded_ids_reach_the_same_model(self):
        for mid in (CLAUDE37, CLAUDE37_ENC, "us." + CLAUDE37_ENC,
                    "global." + CLAUDE37,
                    "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2F"
                    + CLAUDE37_ENC,
                    "arn:aws:bedrock:us-east-1::foundation-model/" + CLAUDE37):
            r, data = self.post(mid, "invoke", claude_body())
            self.assertEqual(r.status, 200, mid)
            self.assertEqual(json.loads(data)["model"],
                             "claude-3-7-sonnet-20250219")

    def test_request_id_everywhere(self):
        for path, body in (("/model/%s/invoke" % CLAUDE37_ENC, b"x"),
                           ("/model/%s/invoke" % CLAUDE37_ENC, claude_body()),
                           ("/_emulator/health", b"")):
            r, _ = self.request("POST" if body else "GET", path, body)
            self.assertRegex(r.getheader("x-amzn-RequestId"),
                             r"^[0-9a-f-]{36}$")

    def test_oversized_body(self):
        r, data = self.post(CLAUDE37_ENC, "invoke", b" " * 25000001)
        self.assertAwsError(r, data, 400, "ValidationException")
        self.assertIn("less than or equal to 25000000",
                      json.loads(data)["message"])


# -- streams -----------------------------------------------------------------

class StreamTest(Base):
    options = dict(event_delay_ms=0)

    def test_converse_stream(self):
        r, data = self.post(CLAUDE37_ENC, "converse-stream",
                            converse_body("abcdefgh", max_tokens=100),
                            {"X-Emulator-Output-Tokens": "10"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"),
                         "application/vnd.amazon.eventstream")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        got = frames(data)
        types = [h[":event-type"] for h, _ in got]
        self.assertEqual(types, ["messageStart"] + ["contentBlockDelta"] * 3
                         + ["contentBlockStop", "messageStop", "metadata"])
        for h, _ in got:
            self.assertEqual((h[":message-type"], h[":content-type"]),
                             ("event", "application/json"))
        text = "".join(json.loads(p)["delta"]["text"]
                       for h, p in got if h[":event-type"] ==
                       "contentBlockDelta")
        self.assertEqual(len(text.split()), 10)
        meta = json.loads(got[-1][1])
        self.assertEqual(meta["usage"], {"inputTokens": 2, "outputTokens": 10,
                                         "totalTokens": 12})
        self.assertEqual(json.loads(got[-2][1])["stopReason"], "end_turn")

    def test_invoke_stream_claude_chunks(self):
        r, data = self.post(CLAUDE37_ENC, "invoke-with-response-stream",
                            claude_body("x" * 20, max_tokens=6))
        self.assertEqual(r.getheader("X-Amzn-Bedrock-Content-Type"),
                         "application/json")
        events = []
        for h, p in frames(data):
            self.assertEqual(h[":event-type"], "chunk")
            events.append(json.loads(base64.b64decode(json.loads(p)
                                                      ["bytes"])))
        self.assertEqual([e["type"] for e in events],
                         ["message_start", "content_block_start",
                          "content_block_delta", "content_block_delta",
                          "content_block_stop", "message_delta",
                          "message_stop"])
        self.assertEqual(events[0]["message"]["usage"]["input_tokens"], 5)
        self.assertEqual(events[5]["usage"], {"output_tokens": 6})
        self.assertEqual(events[5]["delta"]["stop_reason"], "max_tokens")
        m = events[-1]["amazon-bedrock-invocationMetrics"]
        self.assertEqual((m["inputTokenCount"], m["outputTokenCount"]), (5, 6))
        self.assertIn("firstByteLatency", m)

    def test_invoke_stream_other_families(self):
        for model, body in [
                ("amazon.titan-text-express-v1", b'{"inputText":"abcd"}'),
                ("meta.llama3-8b-instruct-v1:0", b'{"prompt":"abcd"}'),
                ("mistral.mistral-7b-instruct-v0:2", b'{"prompt":"abcd"}'),
                ("cohere.command-r-v1:0", b'{"message":"abcd"}'),
                ("amazon.nova-micro-v1:0", converse_body("abcd"))]:
            r, data = self.post(model, "invoke-with-response-stream", body)
            objs = [json.loads(base64.b64decode(json.loads(p)["bytes"]))
                    for _, p in frames(data)]
            m = objs[-1]["amazon-bedrock-invocationMetrics"]
            self.assertEqual((m["inputTokenCount"], m["outputTokenCount"]),
                             (1, 16), model)

    def test_first_event_arrives_before_the_end(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        body = converse_body()
        s.sendall(b"POST /model/%s/converse-stream HTTP/1.1\r\nHost: x\r\n"
                  b"X-Emulator-Event-Delay-Ms: 150\r\nContent-Length: %d\r\n"
                  b"\r\n%s" % (CLAUDE37_ENC.encode(), len(body), body))
        t0 = time.monotonic()
        buf = b""
        first = None
        while not buf.endswith(b"\r\n0\r\n\r\n"):
            data = s.recv(65536)
            self.assertTrue(data)
            buf += data
            if first is None and b":event-type" in buf:
                first = time.monotonic() - t0
        total = time.monotonic() - t0
        s.close()
        # 8 events, 7 pauses of 150 ms: the first event is out long before
        # the stream ends
        self.assertGreater(total, 7 * 0.15 - 0.01)
        self.assertLess(first, total - 0.6)

    def test_bad_emulator_header_takes_no_quota(self):
        r, data = self.post(CLAUDE37_ENC, "converse-stream", converse_body(),
                            {"X-Emulator-Event-Delay-Ms": "soon"})
        self.assertAwsError(r, data, 400, "ValidationException")
        self.assertEqual(self.control("GET", "counters")[1]["models"], {})

    def test_http10_stream_is_not_chunked(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        body = converse_body()
        s.sendall(b"POST /model/%s/converse-stream HTTP/1.0\r\n"
                  b"Content-Length: %d\r\n\r\n%s"
                  % (CLAUDE37_ENC.encode(), len(body), body))
        buf = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
        s.close()
        head, _, payload = buf.partition(b"\r\n\r\n")
        self.assertNotIn(b"chunked", head)
        self.assertIn(b"Connection: close", head)
        self.assertEqual(len(frames(payload)), 8)


# -- HTTP --------------------------------------------------------------------

class HttpTest(Base):
    def test_keepalive(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        for i in range(5):
            r, data = self.request("POST", "/model/%s/converse" % CLAUDE37,
                                   converse_body(), conn=c)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Connection"), "keep-alive")
        c.close()

    def test_chunked_request_body_and_expect(self):
        body = claude_body()
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"POST /model/%s/invoke HTTP/1.1\r\nHost: x\r\n"
                  b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n"
                  b"Connection: close\r\n\r\n" % CLAUDE37_ENC.encode())
        self.assertEqual(s.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                  % (10, body[:10], len(body) - 10, body[10:]))
        buf = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
        s.close()
        self.assertTrue(buf.startswith(b"HTTP/1.1 200 OK\r\n"), buf)
        self.assertEqual(self.log()["requests"][-1]["body"], body.decode())

    def test_concurrent_connections(self):
        results = []

        def one():
            r, data = self.post(CLAUDE37_ENC, "converse-stream",
                                converse_body())
            results.append((r.status, len(frames(data))))

        threads = [threading.Thread(target=one) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [(200, 8)] * 100)
        self.assertEqual(self.control("GET", "counters")[1]["responses"],
                         {"200": 100})

    def test_half_closed_client_gets_its_answer(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        body = converse_body()
        s.sendall(b"POST /model/%s/converse-stream HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n%s"
                  % (CLAUDE37_ENC.encode(), len(body), body))
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            data = s.recv(65536)
            if not data:
                break
            buf += data
        s.close()
        self.assertTrue(buf.startswith(b"HTTP/1.1 200 OK"))
        self.assertTrue(buf.endswith(b"\r\n0\r\n\r\n"))

    def test_bad_request_line(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"NONSENSE\r\n\r\n")
        self.assertTrue(s.recv(1000).startswith(b"HTTP/1.1 400"))
        s.close()


# -- control API -------------------------------------------------------------

class ControlTest(Base):
    options = dict(log_size=5, log_body_max=10)

    def test_log_bounded_in_bytes(self):
        self.emu.log_bytes = 25                     # 10 bytes kept a body
        for i in range(4):
            self.post(CLAUDE37_ENC, "invoke", claude_body())
        self.assertEqual([e["id"] for e in self.log()["requests"]], [3, 4])

    def test_log_filters_and_bound(self):
        for i in range(7):
            self.post(CLAUDE37_ENC, "invoke", claude_body(),
                      {"X-Emulator-Tag": "a" if i % 2 else "b"})
        log = self.log()
        self.assertEqual(log["count"], 5)                # bounded
        self.assertEqual([e["id"] for e in log["requests"]], [3, 4, 5, 6, 7])
        self.assertEqual(log["last_id"], 7)
        self.assertEqual(self.log(tag="a")["count"], 2)
        self.assertEqual(self.log(since=5)["count"], 2)
        self.assertEqual(self.log(limit=1)["requests"][0]["id"], 7)
        e = self.log(fields="id,method,path,tag,status,body,body_truncated,"
                     "headers")["requests"][-1]
        self.assertEqual((e["method"], e["path"], e["tag"], e["status"]),
                         ("POST", "/model/%s/invoke" % CLAUDE37_ENC, "b", 200))
        self.assertEqual((e["body"], e["body_truncated"]),
                         (claude_body()[:10].decode(), True))
        self.assertEqual(e["headers"]["x-emulator-tag"], "b")

    def test_reset_and_settings(self):
        self.post(CLAUDE37_ENC, "invoke", claude_body(),
                  {"X-Emulator-Fault": "503*5", "X-Emulator-Tag": "z"})
        self.control("POST", "settings", {"output_tokens": 3})
        self.control("POST", "quotas", {"tpm": 1})
        self.assertEqual(self.post(HAIKU3, "invoke",
                                   claude_body())[0].status, 429)
        st, obj = self.control("POST", "reset")
        self.assertEqual((st, obj), (200, {"ok": True}))
        self.assertEqual(self.log()["count"], 0)
        r, data = self.post(CLAUDE37_ENC, "invoke", claude_body(),
                            {"X-Emulator-Fault": "503*5",
                             "X-Emulator-Tag": "z"})
        self.assertEqual(r.status, 503)              # fault count restarted
        r, data = self.post(HAIKU3, "invoke", claude_body())
        self.assertEqual(json.loads(data)["usage"]["output_tokens"], 16)

    def test_health_and_unknown(self):
        st, obj = self.control("GET", "health")
        self.assertEqual((st, obj["ok"], obj["auth"]), (200, True, "none"))
        st, obj = self.control("GET", "nothing")
        self.assertEqual(st, 404)
        st, obj = self.control("POST", "settings", {"auth": "bogus"})
        self.assertEqual(st, 400)


class CommandLineTest(unittest.TestCase):
    def test_parser_and_options(self):
        args = bedrock_emulator.build_parser().parse_args(
            ["--listen", "127.0.0.1:0", "--auth", "sigv4", "--credential",
             "AK:SK", "--credential", "AK2:SK2:TOK", "--api-key", "k",
             "--tpm", "100", "--quota", "m=5:6", "--alias", "x=meta.llama3"])
        emu = bedrock_emulator.make_emulator(args)
        self.assertEqual(emu.verifier.credentials,
                         {"AK": ("SK", None), "AK2": ("SK2", "TOK")})
        self.assertEqual(emu.quotas.limits("m"), (5, 6))
        self.assertEqual(emu.quotas.limits("n"), (100, 0))
        os.environ.update(AWS_ACCESS_KEY_ID="ENVAK",
                          AWS_SECRET_ACCESS_KEY="ENVSK")
        os.environ.pop("AWS_SESSION_TOKEN", None)
        emu = bedrock_emulator.make_emulator(
            bedrock_emulator.build_parser().parse_args(["--credential-env"]))
        self.assertEqual(emu.verifier.credentials, {"ENVAK": ("ENVSK",
                                                              None)})
        self.assertEqual(bedrock_emulator.parse_listen("[::1]:9"),
                         ("::1", 9, socket.AF_INET6))


class TapResult(unittest.TextTestResult):
    """Prints one TAP line per test, for t/003-emulator.t."""

    def __init__(self, *a, **kw):
        unittest.TextTestResult.__init__(self, *a, **kw)
        self.n = 0

    def _line(self, ok, test, note=""):
        self.n += 1
        name = "%s.%s" % (type(test).__name__, test._testMethodName)
        sys.stdout.write("%sok %d - %s%s\n" % ("" if ok else "not ", self.n,
                                               name, note))
        sys.stdout.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line(True, test)

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._line(False, test)
        for line in self._exc_info_to_string(err, test).splitlines():
            sys.stdout.write("# %s\n" % line)

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._line(False, test, " (error)")
        for line in self._exc_info_to_string(err, test).splitlines():
            sys.stdout.write("# %s\n" % line)

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._line(True, test, " # SKIP %s" % reason)


if __name__ == "__main__":
    if "--tap" in sys.argv:
        sys.argv.remove("--tap")
        suite = unittest.defaultTestLoader.loadTestsFromModule(
            sys.modules[__name__])
        runner = unittest.TextTestRunner(stream=open(os.devnull, "w"),
                                         resultclass=TapResult)
        result = runner.run(suite)
        sys.stdout.write("1..%d\n" % result.testsRun)
        sys.exit(0 if result.wasSuccessful() else 1)
    unittest.main()
