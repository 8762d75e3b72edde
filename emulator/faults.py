"""Faults on request: the grammar of X-Emulator-Fault and the book that
decides which request gets which fault.

    X-Emulator-Fault: STEP[, STEP]...[; key=KEY]
    STEP  = KIND[=ARG][*COUNT]          COUNT: a number (default 1) or inf

The steps apply in order to successive requests of the same key: with
"throttle*2, 503" the first two requests are throttled, the third gets a
503 and the fourth is answered normally.  The key is KEY, else the
request's X-Emulator-Tag, else the header value itself; a key whose spec
changes starts again from the first step.  The same steps can be queued
through the control API for "the next requests" (optionally of one model
or operation).  README.md lists the kinds.
"""

import fnmatch
import threading

import awserrors
from models import STREAM_EXCEPTIONS


class FaultSyntaxError(ValueError):
    pass


ERRORS = {
    "throttle": lambda arg: awserrors.throttling(
        awserrors.TOO_MANY_REQUESTS if arg == "requests"
        else awserrors.TOO_MANY_TOKENS),
    "not-ready": lambda arg: awserrors.model_not_ready(),
    "internal": lambda arg: awserrors.internal(),
    "unavailable": lambda arg: awserrors.unavailable(),
    "timeout": lambda arg: awserrors.model_timeout(),
    "validation": lambda arg: awserrors.validation(
        awserrors.INPUT_TOO_LONG),
    "model-error": lambda arg: awserrors.model_error(),
}
ALIASES = {"429": "throttle", "500": "internal", "503": "unavailable",
           "408": "timeout", "400": "validation", "424": "model-error"}
OTHER_KINDS = ("slow", "reset", "close", "break", "cut", "ok")


class Step:
    def __init__(self, kind, arg, count):
        self.kind = kind
        self.arg = arg
        self.count = count          # None: forever
        self.after = 0              # break/cut: events sent first
        self.exception = None       # break: exception type
        self.delay_ms = 0           # slow
        if kind == "throttle" and arg not in (None, "tokens", "requests"):
            raise FaultSyntaxError("throttle takes =tokens or =requests, "
                                   "not %r" % arg)
        if kind == "slow":
            self.delay_ms = _number(arg, "slow=MS")
        elif kind in ("break", "cut"):
            k, _, exc = (arg or "0").partition(":")
            self.after = _number(k, kind + "=K")
            if kind == "break":
                self.exception = exc or "throttlingException"
                if self.exception not in STREAM_EXCEPTIONS:
                    raise FaultSyntaxError(
                        "unknown stream exception %r (one of %s)"
                        % (self.exception, ", ".join(sorted(
                            STREAM_EXCEPTIONS))))
            elif exc:
                raise FaultSyntaxError("cut takes =K only")

    def error(self):
        """The AwsError this step answers with, or None."""
        make = ERRORS.get(self.kind)
        return make(self.arg) if make else None

    def __str__(self):
        s = self.kind
        if self.arg is not None:
            s += "=" + self.arg
        if self.count is None:
            s += "*inf"
        elif self.count != 1:
            s += "*%d" % self.count
        return s


def _number(text, what):
    try:
        v = int(text)
    except (TypeError, ValueError):
        raise FaultSyntaxError("%s needs a number, got %r" % (what, text))
    if v < 0:
        raise FaultSyntaxError("%s needs a number >= 0" % what)
    return v


def parse(value):
    """-> ([Step], key or None); raises FaultSyntaxError."""
    head, *params = value.split(";")
    key = None
    for p in params:
        name, sep, v = p.strip().partition("=")
        if name.strip() != "key" or not sep or not v.strip():
            raise FaultSyntaxError("unknown fault parameter %r (only "
                                   "key=...)" % p.strip())
        key = v.strip()
    steps = []
    for text in head.split(","):
        text = text.strip()
        if not text:
            raise FaultSyntaxError("empty fault step in %r" % value)
        count = 1
        body, star, n = text.rpartition("*")
        if star:
            if n.strip() == "inf":
                count = None
            else:
                count = _number(n.strip(), "*COUNT")
                if count == 0:
                    raise FaultSyntaxError("*COUNT must be at least 1")
            text = body.strip()
        kind, sep, arg = text.partition("=")
        kind = ALIASES.get(kind.strip(), kind.strip())
        if kind not in ERRORS and kind not in OTHER_KINDS:
            raise FaultSyntaxError("unknown fault %r" % kind)
        steps.append(Step(kind, arg.strip() if sep else None, count))
    return steps, key


def nth(steps, n):
    """The step for the n-th (0-based) request, None past the end."""
    for s in steps:
        if s.count is None or n < s.count:
            return s
        n -= s.count
    return None


def _total(steps):
    if any(s.count is None for s in steps):
        return None
    return sum(s.count for s in steps)


class FaultBook:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.keyed = {}         # key -> [normalized spec, requests seen]
            self.queue = []         # control-API faults

    def from_header(self, value, tag=None):
        steps, key = parse(value)
        spec = ", ".join(str(s) for s in steps)
        key = key or tag or value.strip()
        with self.lock:
            state = self.keyed.get(key)
            if state is None or state[0] != spec:
                state = self.keyed[key] = [spec, 0]
            n = state[1]
            state[1] += 1
        return nth(steps, n)

    def add(self, spec, model=None, operation=None):
        steps, _ = parse(spec)
        entry = {"steps": steps, "seen": 0, "model": model,
                 "operation": operation}
        with self.lock:
            self.queue.append(entry)
        return entry

    def from_queue(self, model_ids, operation):
        """The next queued step for a request of these model ids (the id as
        sent and its base id) and operation, or None."""
        with self.lock:
            for entry in self.queue:
                if entry["model"] and not any(
                        fnmatch.fnmatchcase(m, entry["model"])
                        for m in model_ids):
                    continue
                if entry["operation"] and entry["operation"] != operation:
                    continue
                step = nth(entry["steps"], entry["seen"])
                entry["seen"] += 1
                total = _total(entry["steps"])
                if total is not None and entry["seen"] >= total:
                    self.queue.remove(entry)
                return step
        return None

    def snapshot(self):
        with self.lock:
            return {"queued": [{"fault": ", ".join(str(s) for s in
                                                   e["steps"]),
                                "model": e["model"],
                                "operation": e["operation"],
                                "seen": e["seen"]} for e in self.queue],
                    "keyed": {k: {"fault": v[0], "seen": v[1]}
                              for k, v in self.keyed.items()}}
