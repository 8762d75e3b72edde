#!/usr/bin/python3
"""A Bedrock Runtime emulator for ngx_bedrock's tests and `make run`.

Speaks InvokeModel, InvokeModelWithResponseStream, Converse, ConverseStream
(and CountTokens) over HTTP/1.1 with keep-alive, on one asyncio event loop
that serves any number of connections at once (a slow answer or a stream
never holds up the others); checks SigV4 with botocore or Bedrock API
keys; enforces per-model TPM/RPM quotas as Bedrock counts them; injects
faults on request; records every request for the tests.  Python 3
standard library, plus python3-botocore for signatures.  See README.md in
this directory.
"""

import argparse
import asyncio
import base64
import collections
import email.utils
import fnmatch
import hashlib
import http
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qsl

# no __pycache__ in the source tree
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import awserrors                                          # noqa: E402
import eventstream                                        # noqa: E402
import faults                                             # noqa: E402
import models                                             # noqa: E402
import quota                                              # noqa: E402
import sigv4                                              # noqa: E402
from awserrors import AwsError, compact_json              # noqa: E402

VERSION = "1"
CONTROL = "/_emulator"
MAX_BODY = 64 * 1024 * 1024
BEDROCK_MAX_BODY = 25000000
MAX_HEADER_LINES = 200
IDLE_TIMEOUT = 120.0
AUTH_MODES = ("none", "sigv4", "apikey", "any")
STREAM_OPS = ("InvokeModelWithResponseStream", "ConverseStream")


class BadRequest(Exception):
    pass


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target                 # raw request-target (str)
        path, _, query = target.partition("?")
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers               # [(name, value)] as received
        self.hmap = {}
        for name, value in headers:
            ln = name.lower()
            self.hmap[ln] = (self.hmap[ln] + "," + value
                             if ln in self.hmap else value)
        self.body = body
        self.start = time.monotonic()

    def header(self, name, default=None):
        return self.hmap.get(name, default)


_date_cache = [0, ""]
_reasons = {}


def reason(status):
    phrase = _reasons.get(status)
    if phrase is None:
        phrase = _reasons[status] = http.HTTPStatus(status).phrase
    return phrase


def http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return _date_cache[1]


class Conn:
    """The answering side of one request on a connection."""

    def __init__(self, proto, http11, keep_alive):
        self.proto = proto
        self.transport = proto.transport
        self.http11 = http11
        self.keep_alive = keep_alive
        self.closed = False
        self.chunked = False

    def _head(self, status, headers, extra):
        lines = ["%s %d %s" % ("HTTP/1.1" if self.http11 else "HTTP/1.0",
                               status, reason(status)),
                 "Date: " + http_date()]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        lines.extend(extra)
        lines.append("Connection: " + ("keep-alive" if self.keep_alive
                                       else "close"))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send(self, status, headers, body):
        if self.proto.lost:
            return
        self.transport.write(self._head(status, headers,
                                        ["Content-Length: %d" % len(body)])
                             + body)

    def start_stream(self, status, headers):
        if self.http11:
            self.chunked = True
            extra = ["Transfer-Encoding: chunked"]
        else:
            self.keep_alive = False
            extra = []
        self.transport.write(self._head(status, headers, extra))

    async def chunk(self, data):
        """Writes one piece of a stream; waits while the client is slow to
        read, and raises ConnectionResetError once it is gone."""
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        if self.proto.lost:
            raise ConnectionResetError("client closed the connection")
        self.transport.write(data)
        await self.proto.drain()

    def end_stream(self):
        if self.chunked:
            self.transport.write(b"0\r\n\r\n")

    def abort(self, rst=True):
        """Closes without an answer; with rst, as a TCP reset."""
        if rst:
            sock = self.transport.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
            except (OSError, AttributeError):
                pass
            self.transport.abort()
        else:
            self.transport.close()
        self.closed = True
        self.keep_alive = False


def _int_header(req, name, default, low=0, high=10 ** 9):
    v = req.header(name)
    if v is None:
        return default
    try:
        n = int(v.strip())
    except ValueError:
        raise AwsError(400, "ValidationException",
                       "%s must be an integer, got %r" % (name, v))
    return max(low, min(high, n))


class Emulator:
    def __init__(self, auth="none", region="us-east-1", credentials=None,
                 api_keys=(), tpm=0, rpm=0, quotas=(), aliases=None,
                 output_tokens=16, event_delay_ms=5, chunk_tokens=4,
                 log_size=10000, log_body_max=1 << 20,
                 log_bytes=64 << 20, verbose=False,
                 clock=time.monotonic, wallclock=time.time,
                 sleep=asyncio.sleep):
        if auth not in AUTH_MODES:
            raise ValueError("auth must be one of %s" % ", ".join(AUTH_MODES))
        self.initial = dict(auth=auth, tpm=tpm, rpm=rpm,
                            quotas=list(quotas), output_tokens=output_tokens,
                            event_delay_ms=event_delay_ms,
                            chunk_tokens=chunk_tokens)
        self.region = region
        self.aliases = dict(aliases or {})
        self.resolved = {}
        self.verifier = sigv4.Verifier(region=region,
                                       credentials=credentials or {},
                                       api_keys=api_keys, clock=wallclock)
        self.quotas = quota.Quotas(tpm, rpm, quotas, clock=clock,
                                   wallclock=wallclock)
        self.faults = faults.FaultBook()
        self.log_size = log_size
        self.log_body_max = log_body_max
        self.log_bytes = log_bytes
        self.verbose = verbose
        self.wallclock = wallclock
        self.sleep = sleep
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        """Back to the state given at start: log, faults, quotas, counters,
        settings."""
        with self.lock:
            self.log = collections.deque()
            self.logged_bytes = 0
            self.seq = 0
            self.totals = collections.Counter()
            self.auth = self.initial["auth"]
            self.output_tokens = self.initial["output_tokens"]
            self.event_delay_ms = self.initial["event_delay_ms"]
            self.chunk_tokens = self.initial["chunk_tokens"]
        self.faults.reset()
        self.quotas.configure(self.initial["tpm"], self.initial["rpm"],
                              self.initial["quotas"])

    # -- the request log ----------------------------------------------------

    def _log_start(self, req, request_id):
        body = req.body
        entry = {"time": round(self.wallclock(), 6), "method": req.method,
                 "path": req.target, "version": req.version,
                 "headers": req.hmap, "body_length": len(body),
                 "body_sha256": hashlib.sha256(body).hexdigest(),
                 "tag": req.header("x-emulator-tag"),
                 "request_id": request_id, "status": None}
        shown = body[:self.log_body_max]
        try:
            entry["body"] = shown.decode("utf-8")
        except UnicodeDecodeError:
            entry["body"] = base64.b64encode(shown).decode("ascii")
            entry["body_encoding"] = "base64"
        entry["body_truncated"] = len(shown) < len(body)
        with self.lock:
            self.seq += 1
            entry["id"] = self.seq
            self.log.append(entry)
            # bounded in entries and in body bytes, oldest out first
            self.logged_bytes += len(entry["body"])
            while len(self.log) > 1 and (
                    len(self.log) > self.log_size
                    or self.logged_bytes > self.log_bytes):
                self.logged_bytes -= len(self.log.popleft()["body"])
        return entry

    def _log_end(self, req, entry, status):
        entry["status"] = status
        entry["duration_ms"] = round((time.monotonic() - req.start) * 1000,
                                     3)
        with self.lock:
            self.totals[str(status)] += 1
        if self.verbose:
            sys.stderr.write("%s %s %s %s %.1fms tag=%s\n" % (
                time.strftime("%H:%M:%S"), req.method, req.target, status,
                entry["duration_ms"], entry["tag"] or "-"))
            sys.stderr.flush()

    # -- dispatch -------------------------------------------------------------

    async def dispatch(self, req, conn):
        if req.path == CONTROL or req.path.startswith(CONTROL + "/"):
            return self.control(req, conn)
        return await self.model_request(req, conn)

    def _send_error(self, conn, err, request_id):
        headers = [("Content-Type", "application/json"),
                   ("x-amzn-RequestId", request_id)]
        if err.ns is not None:
            headers.append(("x-amzn-ErrorType", err.error_type()))
        conn.send(err.status, headers, err.body())

    def _authorize(self, req, entry):
        mode = self.auth
        has_auth = "authorization" in req.hmap
        if mode == "none" and not has_auth:
            entry["auth"] = {"scheme": "none", "valid": None,
                             "enforced": False}
            return
        verdict = self.verifier.check(req.method, req.target, req.headers,
                                      req.body)
        info = verdict.to_json()
        enforced = mode != "none"
        if verdict.ok and mode == "sigv4" and verdict.scheme != "sigv4":
            verdict.ok = False
            verdict.error = AwsError(
                403, "AccessDeniedException", awserrors.BAD_API_KEY, ns=None,
                message_key="Message")
            info = verdict.to_json()
        if verdict.ok and mode == "apikey" and verdict.scheme != "bearer":
            verdict.ok = False
            verdict.error = sigv4._forbidden(
                "UnrecognizedClientException", awserrors.BAD_TOKEN)
            info = verdict.to_json()
        info["enforced"] = enforced
        entry["auth"] = info
        if enforced and not verdict.ok:
            raise verdict.error

    async def model_request(self, req, conn):
        request_id = str(uuid.uuid4())
        entry = self._log_start(req, request_id)
        status = None
        try:
            status = await self._model_request(req, conn, entry,
                                               request_id)
        except AwsError as err:
            entry["error"] = err.code
            if entry["status"] is None:
                self._send_error(conn, err, request_id)
            status = err.status
        except (OSError, asyncio.CancelledError):
            raise
        except Exception as e:
            # a bug of the emulator: loud on stderr, a 500 to the client
            traceback.print_exc()
            entry["error"] = "EmulatorError: %r" % e
            if entry["status"] is None and not conn.closed:
                self._send_error(conn, AwsError(
                    500, "InternalServerException",
                    "emulator error: %r" % e), request_id)
                status = 500
            else:
                conn.abort(rst=False)
        finally:
            self._log_end(req, entry, status)

    async def _model_request(self, req, conn, entry, request_id):
        self._authorize(req, entry)
        try:
            routed = models.route(req.path)
        except UnicodeDecodeError:
            raise AwsError(400, "ValidationException",
                           awserrors.INVALID_MODEL)
        if routed is None or req.method != "POST":
            raise awserrors.unknown_operation()
        model_id, operation = routed
        entry["operation"] = operation
        entry["model"] = model_id
        model = self._resolve(model_id)
        entry["quota_key"] = model.quota_key

        step = self._pick_fault(req, model, operation)
        if step is not None:
            entry["fault"] = str(step)
            if step.kind == "slow":
                await self.sleep(step.delay_ms / 1000.0)
            elif step.kind in ("reset", "close"):
                conn.abort(rst=step.kind == "reset")
                return step.kind
            else:
                err = step.error()
                if err is not None:
                    raise err
        if len(req.body) > BEDROCK_MAX_BODY:
            raise awserrors.validation(
                "1 validation error detected: Value at 'body' failed to "
                "satisfy constraint: Member must have length less than or "
                "equal to %d" % BEDROCK_MAX_BODY)

        n_out = _int_header(req, "x-emulator-output-tokens",
                            self.output_tokens, 0, 1000000)
        delay = _int_header(req, "x-emulator-event-delay-ms",
                            self.event_delay_ms, 0, 600000) / 1000.0
        chunk_tokens = _int_header(req, "x-emulator-chunk-tokens",
                                   self.chunk_tokens, 1, 1000000)
        if operation == "CountTokens":
            n = models.count_tokens(model, req.body)
            entry["input_tokens"] = n
            conn.send(200, [("Content-Type", "application/json"),
                            ("x-amzn-RequestId", request_id)],
                      compact_json({"inputTokens": n}))
            return 200
        if operation in ("Converse", "ConverseStream"):
            plan = models.plan_converse(model, operation, req.body, n_out)
        else:
            plan = models.plan_invoke(model, operation, req.body, n_out)
        entry["input_tokens"] = plan.input_tokens
        entry["max_tokens"] = plan.max_given
        entry["reserved_tokens"] = plan.reservation

        try:
            reservation = self.quotas.admit(model.quota_key,
                                            plan.reservation,
                                            model.spec.burndown)
        except quota.Throttled as t:
            entry["throttled"] = t.kind
            raise awserrors.throttling(
                awserrors.TOO_MANY_TOKENS if t.kind == "tokens"
                else awserrors.TOO_MANY_REQUESTS)

        if operation in STREAM_OPS:
            return await self._stream(req, conn, plan, step, entry,
                                      reservation, request_id, delay,
                                      chunk_tokens)
        # settled before the answer leaves, so that a client reading the
        # counters right after its answer sees its own request settled
        entry["output_tokens"] = plan.output_tokens
        entry["settled_tokens"] = self.quotas.settle(
            reservation, plan.input_tokens, plan.output_tokens)
        latency = int((time.monotonic() - req.start) * 1000)
        headers = [("Content-Type", "application/json"),
                   ("x-amzn-RequestId", request_id)]
        if operation == "Converse":
            body = compact_json(models.converse_response(plan, latency))
        else:
            body = compact_json(models.invoke_response(plan, request_id))
            headers += [
                ("X-Amzn-Bedrock-Input-Token-Count", plan.input_tokens),
                ("X-Amzn-Bedrock-Output-Token-Count", plan.output_tokens),
                ("X-Amzn-Bedrock-Invocation-Latency", latency)]
        conn.send(200, headers, body)
        return 200

    def _resolve(self, model_id):
        """models.resolve, remembered: ids repeat, the table walk does not
        need to."""
        model = self.resolved.get(model_id)
        if model is None:
            model = models.resolve(model_id, self.aliases)
            if len(self.resolved) > 1000:
                self.resolved.clear()
            self.resolved[model_id] = model
        return model

    def _pick_fault(self, req, model, operation):
        spec = req.header("x-emulator-fault")
        try:
            if spec is not None:
                return self.faults.from_header(
                    spec, req.header("x-emulator-tag"))
        except faults.FaultSyntaxError as e:
            raise AwsError(400, "ValidationException",
                           "X-Emulator-Fault: %s" % e)
        return self.faults.from_queue(
            {model.model_id, model.base_id, model.quota_key}, operation)

    async def _stream(self, req, conn, plan, step, entry, reservation,
                      request_id, delay, chunk_tokens):
        first_byte = []

        def metrics():
            latency = int((time.monotonic() - req.start) * 1000)
            return latency, first_byte[0] if first_byte else latency

        headers = [("Content-Type", "application/vnd.amazon.eventstream"),
                   ("x-amzn-RequestId", request_id)]
        if plan.operation == "ConverseStream":
            events = models.converse_stream_events(plan, chunk_tokens,
                                                   metrics)
        else:
            headers.append(("X-Amzn-Bedrock-Content-Type",
                            "application/json"))
            events = models.invoke_stream_events(plan, chunk_tokens, metrics,
                                                 request_id)
        brk = step if step is not None and step.kind in ("break", "cut") \
            else None
        delivered = 0
        sent = 0
        outcome = "complete"
        try:
            conn.start_stream(200, headers)
            entry["status"] = 200
            for event_type, payload, so_far in events:
                if sent and delay:
                    await self.sleep(delay)
                if brk is not None and sent == brk.after:
                    if brk.kind == "cut":
                        conn.abort(rst=False)
                        outcome = "cut"
                        break
                    await conn.chunk(eventstream.exception(
                        brk.exception,
                        models.stream_exception_payload(brk.exception)))
                    sent += 1
                    outcome = "exception:" + brk.exception
                    break
                await conn.chunk(eventstream.event(event_type,
                                                   compact_json(payload)))
                if not first_byte:
                    first_byte.append(int((time.monotonic() - req.start)
                                          * 1000))
                sent += 1
                delivered = so_far
            if not conn.closed:
                self._settle_stream(entry, reservation, plan, sent, outcome,
                                    delivered)
                conn.end_stream()
        except OSError:
            outcome = "client-gone"
            conn.closed = True
            conn.keep_alive = False
        finally:
            self._settle_stream(entry, reservation, plan, sent, outcome,
                                delivered)
        return 200

    def _settle_stream(self, entry, reservation, plan, sent, outcome,
                       delivered):
        entry["events"] = sent
        entry["stream"] = outcome
        entry["output_tokens"] = delivered
        entry["settled_tokens"] = self.quotas.settle(
            reservation, plan.input_tokens, delivered)

    # -- control API ----------------------------------------------------------

    def control(self, req, conn):
        request_id = str(uuid.uuid4())
        status = 200
        try:
            status, obj = self._control(req)
        except (ValueError, faults.FaultSyntaxError) as e:
            status, obj = 400, {"message": str(e)}
        body = json.dumps(obj, separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False,
                          indent=2 if "pretty=1" in req.query else None)
        conn.send(status, [("Content-Type", "application/json"),
                           ("x-amzn-RequestId", request_id)],
                  body.encode("utf-8") + b"\n")

    def _params(self, req):
        params = dict(parse_qsl(req.query, keep_blank_values=True))
        if req.body.strip():
            try:
                obj = json.loads(req.body)
            except ValueError:
                raise ValueError("control body must be a JSON object")
            if not isinstance(obj, dict):
                raise ValueError("control body must be a JSON object")
            params.update(obj)
        return params

    def _control(self, req):
        what = req.path[len(CONTROL):].strip("/")
        m = req.method
        if what in ("", "health") and m == "GET":
            return 200, {"ok": True, "version": VERSION,
                         "last_id": self.seq, "auth": self.auth,
                         "region": self.region}
        if what == "reset" and m == "POST":
            self.reset()
            return 200, {"ok": True}
        if what == "requests":
            if m == "DELETE":
                with self.lock:
                    self.log.clear()
                    self.logged_bytes = 0
                return 200, {"ok": True}
            if m == "GET":
                return 200, self._requests(self._params(req))
        if what == "faults":
            if m == "GET":
                return 200, self.faults.snapshot()
            if m == "DELETE":
                with self.faults.lock:
                    self.faults.queue = []
                return 200, {"ok": True}
            if m == "POST":
                p = self._params(req)
                if not p.get("fault"):
                    raise ValueError("POST /_emulator/faults needs fault")
                self.faults.add(p["fault"], p.get("model"),
                                p.get("operation"))
                return 200, self.faults.snapshot()
        if what == "quotas":
            if m == "GET":
                return 200, self.quotas.snapshot()
            if m == "POST":
                return 200, self._set_quotas(self._params(req))
        if what == "counters" and m == "GET":
            snap = self.quotas.snapshot()
            with self.lock:
                totals = dict(self.totals)
            return 200, {"models": snap["models"], "responses": totals,
                         "requests": sum(totals.values())}
        if what == "settings":
            if m == "POST":
                self._set_settings(self._params(req))
            if m in ("GET", "POST"):
                return 200, {"auth": self.auth,
                             "output_tokens": self.output_tokens,
                             "event_delay_ms": self.event_delay_ms,
                             "chunk_tokens": self.chunk_tokens}
        return 404, {"message": "no control endpoint %s %s"
                     % (m, req.path)}

    def _requests(self, p):
        with self.lock:
            entries = list(self.log)
        tag = p.get("tag")
        since = int(p.get("since", 0) or 0)
        out = []
        for e in entries:
            if e["id"] <= since:
                continue
            if tag is not None and e.get("tag") != tag:
                continue
            if p.get("model") and not fnmatch.fnmatchcase(
                    e.get("model") or "", p["model"]):
                continue
            if p.get("operation") and e.get("operation") != p["operation"]:
                continue
            if p.get("status") and str(e.get("status")) != str(p["status"]):
                continue
            out.append(e)
        if p.get("limit"):
            out = out[-int(p["limit"]):]
        if p.get("fields"):
            keep = [f.strip() for f in p["fields"].split(",")]
            out = [{k: e.get(k) for k in keep} for e in out]
        return {"count": len(out), "last_id": self.seq, "requests": out}

    def _set_quotas(self, p):
        if p.get("reset"):
            self.quotas.configure(p.get("tpm", 0), p.get("rpm", 0), ())
        elif "tpm" in p or "rpm" in p:
            self.quotas.set_defaults(p.get("tpm"), p.get("rpm"))
        models_ = p.get("models") or {}
        if not isinstance(models_, dict):
            raise ValueError("models must be an object")
        for name, lim in models_.items():
            if not isinstance(lim, dict) or "tpm" not in lim:
                raise ValueError("models.%s needs tpm" % name)
            self.quotas.set_override(name, lim["tpm"], lim.get("rpm"))
        q = p.get("quota")
        for text in ([q] if isinstance(q, str) else q or []):
            self.quotas.set_override(*quota.parse_quota(text))
        return self.quotas.snapshot()

    def _set_settings(self, p):
        if "auth" in p:
            if p["auth"] not in AUTH_MODES:
                raise ValueError("auth must be one of %s"
                                 % ", ".join(AUTH_MODES))
            self.auth = p["auth"]
        for name in ("output_tokens", "event_delay_ms", "chunk_tokens"):
            if name in p:
                v = int(p[name])
                if v < (1 if name == "chunk_tokens" else 0):
                    raise ValueError("%s out of range" % name)
                setattr(self, name, v)


# -- HTTP/1.1 server ---------------------------------------------------------

def parse_head(head):
    """Request line and headers -> (method, target, version, headers)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("bad request line")
    if len(lines) > MAX_HEADER_LINES:
        raise BadRequest("too many headers")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("bad header line")
        headers.append((name, value.strip()))
    return parts[0], parts[1], parts[2], headers


def parse_chunked(buf, pos):
    """A complete chunked body starting at buf[pos:] -> (body, end), or
    None while incomplete."""
    parts = []
    total = 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:
                raise BadRequest("bad chunk size")
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
        except ValueError:
            raise BadRequest("bad chunk size")
        pos = eol + 2
        if size == 0:
            while True:                      # trailers, then a blank line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return b"".join(parts), eol + 2
                pos = eol + 2
        total += size
        if total > MAX_BODY:
            raise BadRequest("body too large")
        if len(buf) < pos + size + 2:
            return None
        parts.append(bytes(buf[pos:pos + size]))
        pos += size + 2


class HttpProtocol(asyncio.Protocol):
    """One connection: parses requests from the bytes received and answers
    them one after the other (keep-alive, pipelining tolerated)."""

    def __init__(self, emulator, registry):
        self.emulator = emulator
        self.registry = registry
        self.buf = bytearray()
        self.transport = None
        self.busy = False
        self.lost = False
        self.head = None            # parsed head of the request in progress
        self.continued = False
        self.paused = False
        self.drained = None
        self.idle = None
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport
        self.registry.add(self)
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        self._arm_idle()

    def _arm_idle(self):
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(
            IDLE_TIMEOUT, self.transport.close)

    def connection_lost(self, exc):
        self.lost = True
        self.registry.discard(self)
        if self.idle is not None:
            self.idle.cancel()
        if self.drained is not None and not self.drained.done():
            self.drained.set_exception(
                ConnectionResetError("client closed the connection"))

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def drain(self):
        if self.lost:
            raise ConnectionResetError("client closed the connection")
        if self.paused:
            self.drained = asyncio.get_running_loop().create_future()
            await self.drained

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self._next()

    def eof_received(self):
        # a client that half-closes after its request still gets the answer
        self.eof = True
        if not self.busy:
            self.transport.close()
        return True

    def _bad(self, message):
        msg = compact_json({"message": message})
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n"
                             b"Content-Type: application/json\r\n"
                             b"x-amzn-RequestId: %s\r\n"
                             b"Connection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s"
                             % (str(uuid.uuid4()).encode(), len(msg), msg))
        self.transport.close()
        self.lost = True

    def _next(self):
        """Starts the next request if the buffer holds all of it."""
        try:
            req = self._parse()
        except BadRequest as e:
            self._bad(str(e))
            return
        if req is None:
            return
        self.busy = True
        if self.idle is not None:
            self.idle.cancel()
        asyncio.get_running_loop().create_task(self._handle(req))

    def _parse(self):
        buf = self.buf
        if self.head is None:
            while buf[:2] == b"\r\n":
                del buf[:2]
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    raise BadRequest("request head too large")
                return None
            self.head = parse_head(bytes(buf[:end]))
            del buf[:end + 4]
            self.continued = False
        method, target, version, headers = self.head
        hmap = {}
        for name, value in headers:
            ln = name.lower()
            hmap[ln] = hmap[ln] + "," + value if ln in hmap else value
        http11 = version == "HTTP/1.1"
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            got = parse_chunked(buf, 0)
            if got is None:
                self._continue(http11, hmap)
                return None
            body, used = got
        else:
            try:
                n = int(hmap.get("content-length", "0"))
            except ValueError:
                raise BadRequest("bad content-length")
            if n < 0 or n > MAX_BODY:
                raise BadRequest("bad content-length")
            if len(buf) < n:
                self._continue(http11, hmap)
                return None
            body, used = bytes(buf[:n]), n
        del buf[:used]
        self.head = None
        req = Request(method, target, version, headers, body)
        req.http11 = http11
        tokens = [t.strip().lower()
                  for t in hmap.get("connection", "").split(",")]
        req.keep_alive = ("close" not in tokens) if http11 \
            else ("keep-alive" in tokens)
        return req

    def _continue(self, http11, hmap):
        if http11 and not self.continued and \
                hmap.get("expect", "").lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.continued = True

    async def _handle(self, req):
        conn = Conn(self, req.http11, req.keep_alive)
        try:
            await self.emulator.dispatch(req, conn)
        except OSError:
            conn.closed = True
        except Exception:
            if self.emulator.verbose:
                traceback.print_exc()
            conn.abort(rst=False)
        self.busy = False
        if conn.closed or self.lost:
            return
        if not conn.keep_alive or (self.eof and not self.buf):
            self.transport.close()
            return
        self._arm_idle()
        if self.buf:
            self._next()


class Server:
    """The listening socket and the event loop that serves it; one task
    per connection, so any number of connections progress together."""

    def __init__(self, address, emulator, family=socket.AF_INET):
        self.emulator = emulator
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(address)
        self.sock.listen(1024)
        self.server_address = self.sock.getsockname()
        self.loop = None
        self.connections = set()
        self.stopped = threading.Event()

    def serve_forever(self, poll_interval=None):
        """Runs until shutdown() (from another thread) or, in the main
        thread, SIGTERM/SIGINT."""
        self.loop = asyncio.new_event_loop()
        self.done = self.loop.create_future()

        async def run():
            server = await self.loop.create_server(
                lambda: HttpProtocol(self.emulator, self.connections),
                sock=self.sock)
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    self.loop.add_signal_handler(sig, self.done.cancel)
            try:
                await self.done
            finally:
                server.close()
                for proto in list(self.connections):
                    proto.transport.abort()
                me = asyncio.current_task()
                tasks = [t for t in asyncio.all_tasks() if t is not me]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.loop.run_until_complete(run())
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()
            self.stopped.set()

    def shutdown(self):
        loop = self.loop
        if loop is not None and not self.stopped.is_set():
            loop.call_soon_threadsafe(lambda: self.done.cancel())
            self.stopped.wait(5)

    def server_close(self):
        self.sock.close()


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ValueError("--listen needs HOST:PORT, got %r" % text)
    family = socket.AF_INET
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        family = socket.AF_INET6
    return host or "127.0.0.1", int(port), family


def parse_credential(text):
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError("--credential needs AKID:SECRET[:SESSION_TOKEN]")
    return parts[0], (parts[1], parts[2] if len(parts) == 3 else None)


def build_parser():
    p = argparse.ArgumentParser(
        prog="bedrock_emulator.py",
        description="Bedrock Runtime emulator (see emulator/README.md)")
    p.add_argument("--listen", default="127.0.0.1:9000",
                   help="HOST:PORT to listen on; port 0 picks a free one "
                   "(default 127.0.0.1:9000)")
    p.add_argument("--port-file", help="write the port listened on here")
    p.add_argument("--auth", choices=AUTH_MODES, default="none",
                   help="what a request must carry (default none)")
    p.add_argument("--region", default="us-east-1",
                   help="region of SigV4 scopes (default us-east-1)")
    p.add_argument("--credential", action="append", default=[],
                   metavar="AKID:SECRET[:TOKEN]",
                   help="a known key pair; with TOKEN, requests must carry "
                   "it as X-Amz-Security-Token (repeatable)")
    p.add_argument("--credential-env", action="store_true",
                   help="also know the pair in AWS_ACCESS_KEY_ID, "
                   "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)")
    p.add_argument("--api-key", action="append", default=[], metavar="KEY",
                   help="a known Bedrock API key (repeatable)")
    p.add_argument("--tpm", type=int, default=0,
                   help="tokens per minute of every model (0: unlimited)")
    p.add_argument("--rpm", type=int, default=0,
                   help="requests per minute of every model (0: unlimited)")
    p.add_argument("--quota", action="append", default=[],
                   metavar="MODEL=TPM[:RPM]",
                   help="quota of one model id or glob (repeatable)")
    p.add_argument("--alias", action="append", default=[],
                   metavar="ID=MODEL",
                   help="answer an opaque id or ARN as this base model")
    p.add_argument("--output-tokens", type=int, default=16,
                   help="output tokens when the request does not say "
                   "(default 16)")
    p.add_argument("--event-delay-ms", type=int, default=5,
                   help="pause between stream events (default 5)")
    p.add_argument("--chunk-tokens", type=int, default=4,
                   help="tokens per stream delta (default 4)")
    p.add_argument("--log-size", type=int, default=10000,
                   help="requests kept in the log (default 10000)")
    p.add_argument("--log-body-max", type=int, default=1 << 20,
                   help="bytes of each body kept in the log (default 1 MiB)")
    p.add_argument("--log-bytes", type=int, default=64 << 20,
                   help="body bytes kept in the whole log (default 64 MiB)")
    p.add_argument("--parent-pid", type=int,
                   help="exit when this process is gone")
    p.add_argument("--verbose", action="store_true",
                   help="log every request to stderr")
    return p


def make_emulator(args):
    credentials = dict(parse_credential(c) for c in args.credential)
    if args.credential_env:
        akid = os.environ.get("AWS_ACCESS_KEY_ID")
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not akid or not secret:
            raise ValueError("--credential-env: AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY must be set")
        credentials[akid] = (secret,
                             os.environ.get("AWS_SESSION_TOKEN") or None)
    aliases = {}
    for a in args.alias:
        k, sep, v = a.partition("=")
        if not sep:
            raise ValueError("--alias needs ID=MODEL")
        aliases[k] = v
    return Emulator(auth=args.auth, region=args.region,
                    credentials=credentials, api_keys=args.api_key,
                    tpm=args.tpm, rpm=args.rpm,
                    quotas=[quota.parse_quota(q) for q in args.quota],
                    aliases=aliases, output_tokens=args.output_tokens,
                    event_delay_ms=args.event_delay_ms,
                    chunk_tokens=max(1, args.chunk_tokens),
                    log_size=args.log_size, log_body_max=args.log_body_max,
                    log_bytes=args.log_bytes,
                    verbose=args.verbose)


def _watch_parent(pid):
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        emulator = make_emulator(args)
        host, port, family = parse_listen(args.listen)
    except ValueError as e:
        sys.stderr.write("bedrock_emulator: %s\n" % e)
        return 2
    if args.auth in ("sigv4", "any") and emulator.verifier.credentials:
        try:
            sigv4._load_botocore()
        except ImportError:
            sys.stderr.write("bedrock_emulator: --auth %s needs botocore: "
                             "apt-get install python3-botocore and run "
                             "with /usr/bin/python3\n" % args.auth)
            return 2
    try:
        server = Server((host, port), emulator, family)
    except OSError as e:
        sys.stderr.write("bedrock_emulator: cannot listen on %s: %s\n"
                         % (args.listen, e))
        return 1
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)

    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid,),
                         daemon=True).start()
    shown = "[%s]" % host if family == socket.AF_INET6 else host
    print("bedrock-emulator listening on http://%s:%d (auth %s, region %s, "
          "tpm %s, rpm %s)" % (shown, port, args.auth, args.region,
                               args.tpm or "unlimited",
                               args.rpm or "unlimited"), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
