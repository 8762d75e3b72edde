"""Per-model TPM and RPM quotas, counted the way Bedrock counts them.

Each model (by quota key) has a token bucket of one minute's worth of its
TPM that refills continuously at TPM/60 per second, and the same for RPM.
A request is admitted when the RPM bucket holds one request and the TPM
bucket holds its reservation, input + max_tokens; both are then taken.
When it ends, the reservation is settled to input + output x burndown: the
difference goes back to (or comes out of) the bucket, which may go below
zero, never above its capacity.  A throttled request takes nothing.

The clocks are injectable: `clock` (monotonic seconds) drives the buckets,
`wallclock` (epoch seconds) labels the per-second counters.
"""

import fnmatch
import threading
import time

HISTORY_SECONDS = 900


class Throttled(Exception):
    def __init__(self, kind):
        Exception.__init__(self, kind)
        self.kind = kind            # "tokens" | "requests"


class Bucket:
    def __init__(self, per_minute, now):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.level = float(per_minute)
        self.stamp = now

    def refill(self, now):
        if now > self.stamp:
            self.level = min(self.capacity,
                             self.level + (now - self.stamp) * self.rate)
        self.stamp = now


class Reservation:
    def __init__(self, key, reserved, burndown, generation):
        self.key = key
        self.reserved = reserved
        self.burndown = burndown
        self.generation = generation
        self.settled = None


def parse_quota(text):
    """'MODEL=TPM[:RPM]' -> (pattern, tpm, rpm or None)."""
    model, sep, limits = text.rpartition("=")
    if not sep or not model:
        raise ValueError("quota must be MODEL=TPM[:RPM], got %r" % text)
    tpm, _, rpm = limits.partition(":")
    return model, int(tpm), int(rpm) if rpm else None


class Quotas:
    def __init__(self, tpm=0, rpm=0, overrides=(), clock=time.monotonic,
                 wallclock=time.time):
        self.clock = clock
        self.wallclock = wallclock
        self.lock = threading.Lock()
        self.configure(tpm, rpm, overrides)

    def configure(self, tpm=0, rpm=0, overrides=()):
        """Sets the limits (0 = unlimited) and forgets every bucket and
        counter."""
        with self.lock:
            self.default_tpm = int(tpm)
            self.default_rpm = int(rpm)
            # [(pattern, tpm, rpm or None)], exact ids before globs
            self.overrides = list(overrides)
            self._reset_locked()

    def set_override(self, pattern, tpm, rpm=None):
        with self.lock:
            self.overrides = [o for o in self.overrides if o[0] != pattern]
            self.overrides.append((pattern, int(tpm),
                                   None if rpm is None else int(rpm)))
            for key in list(self.buckets):
                if fnmatch.fnmatchcase(key, pattern):
                    del self.buckets[key]

    def set_defaults(self, tpm=None, rpm=None):
        with self.lock:
            if tpm is not None:
                self.default_tpm = int(tpm)
            if rpm is not None:
                self.default_rpm = int(rpm)
            self.buckets = {}

    def reset(self):
        with self.lock:
            self._reset_locked()

    def _reset_locked(self):
        self.generation = getattr(self, "generation", 0) + 1
        self.buckets = {}           # key -> [tokens Bucket|None, req|None]
        self.counters = {}
        self.seconds = {}           # key -> {second: [adm, thr, res, set]}

    def limits(self, key):
        """(tpm, rpm) for a quota key: an exact override, else the first
        glob that matches, else the defaults."""
        match = None
        for pattern, tpm, rpm in self.overrides:
            if pattern == key:
                match = (tpm, rpm)
                break
        if match is None:
            for pattern, tpm, rpm in self.overrides:
                if fnmatch.fnmatchcase(key, pattern):
                    match = (tpm, rpm)
                    break
        if match is None:
            return self.default_tpm, self.default_rpm
        tpm, rpm = match
        return tpm, self.default_rpm if rpm is None else rpm

    def _counters(self, key):
        c = self.counters.get(key)
        if c is None:
            c = self.counters[key] = {
                "admitted": 0, "throttled_tokens": 0,
                "throttled_requests": 0, "reserved_tokens": 0,
                "settled_tokens": 0, "input_tokens": 0, "output_tokens": 0,
                "in_flight": 0}
        return c

    def _second(self, key):
        sec = int(self.wallclock())
        per = self.seconds.setdefault(key, {})
        row = per.get(sec)
        if row is None:
            row = per[sec] = [0, 0, 0, 0]
            for old in [s for s in per if s < sec - HISTORY_SECONDS]:
                del per[old]
        return row

    def _buckets(self, key, now):
        b = self.buckets.get(key)
        if b is None:
            tpm, rpm = self.limits(key)
            b = self.buckets[key] = [Bucket(tpm, now) if tpm > 0 else None,
                                     Bucket(rpm, now) if rpm > 0 else None]
        for x in b:
            if x is not None:
                x.refill(now)
        return b

    def admit(self, key, cost, burndown=1):
        """Reserves `cost` tokens and one request, or raises Throttled."""
        with self.lock:
            now = self.clock()
            tokens, requests = self._buckets(key, now)
            c = self._counters(key)
            row = self._second(key)
            if requests is not None and requests.level < 1:
                c["throttled_requests"] += 1
                row[1] += 1
                raise Throttled("requests")
            if tokens is not None and tokens.level < cost:
                c["throttled_tokens"] += 1
                row[1] += 1
                raise Throttled("tokens")
            if requests is not None:
                requests.level -= 1
            if tokens is not None:
                tokens.level -= cost
            c["admitted"] += 1
            c["reserved_tokens"] += cost
            c["in_flight"] += 1
            row[0] += 1
            row[2] += cost
            return Reservation(key, cost, burndown, self.generation)

    def settle(self, r, input_tokens, output_tokens):
        """Replaces the reservation by input + output x burndown; returns
        that amount.  Settling twice is a no-op."""
        with self.lock:
            if r.settled is not None:
                return r.settled
            actual = input_tokens + output_tokens * r.burndown
            r.settled = actual
            if r.generation != self.generation:
                return actual       # reset since: nothing left to settle
            now = self.clock()
            tokens, _ = self._buckets(r.key, now)
            if tokens is not None:
                tokens.level = min(tokens.capacity,
                                   tokens.level + r.reserved - actual)
            c = self._counters(r.key)
            c["settled_tokens"] += actual
            c["input_tokens"] += input_tokens
            c["output_tokens"] += output_tokens
            c["in_flight"] -= 1
            self._second(r.key)[3] += actual
            return actual

    def level(self, key):
        """Tokens left in the model's TPM bucket now (None: unlimited)."""
        with self.lock:
            tokens, _ = self._buckets(key, self.clock())
            return None if tokens is None else tokens.level

    def snapshot(self):
        with self.lock:
            now = self.clock()
            models = {}
            for key in sorted(set(self.counters) | set(self.buckets)):
                tokens, requests = self._buckets(key, now)
                tpm, rpm = self.limits(key)
                m = dict(self._counters(key))
                m["tpm"] = tpm
                m["rpm"] = rpm
                m["tokens_available"] = None if tokens is None \
                    else round(tokens.level, 3)
                m["requests_available"] = None if requests is None \
                    else round(requests.level, 3)
                rows = sorted(self.seconds.get(key, {}).items())
                m["per_second"] = [[s, r[0], r[1], r[2], r[3]]
                                   for s, r in rows]
                m["max_reserved_60s"] = _max_window(rows, 2)
                m["max_settled_60s"] = _max_window(rows, 3)
                models[key] = m
            return {"default_tpm": self.default_tpm,
                    "default_rpm": self.default_rpm,
                    "overrides": [{"model": p, "tpm": t, "rpm": r}
                                  for p, t, r in self.overrides],
                    "models": models}


def _max_window(rows, col, width=60):
    """Largest sum of rows[col] over any `width` consecutive seconds."""
    best = 0
    total = 0
    start = 0
    for i, (sec, row) in enumerate(rows):
        total += row[col]
        while rows[start][0] <= sec - width:
            total -= rows[start][1][col]
            start += 1
        best = max(best, total)
    return best
