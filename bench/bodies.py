#!/usr/bin/python3
"""Request bodies for the benchmark, the same bytes on every machine.

    bench/bodies.py OUTDIR

writes, for each size (2k = 2,048 bytes, 64k = 65,536, 1m = 1,048,576),
the same conversation in four forms, each exactly that many bytes:

    converse-SIZE.json    Bedrock Converse (POST /model/ID/converse)
    claude-SIZE.json      Claude Messages on Bedrock InvokeModel
    anthropic-SIZE.json   Anthropic Messages API (Portkey's /v1/messages)
    openai-SIZE.json      OpenAI chat completions (Portkey's
                          /v1/chat/completions)

The conversations are what a gateway in front of Bedrock carries:

    2k   a short chat: a system prompt and three turns;
    64k  a coding agent: four tools, files read, a command's output;
    1m   the same agent further on, with three screenshots (PNG, base64)
         among its tool results, as computer-use agents send them.

Text is made from a fixed vocabulary by a seeded xorshift generator (not
Python's random, whose sequences may change between versions): prose,
source code, log lines and JSON, with a little non-ASCII text.  The last
user message is cut or padded with spaces so that every body has its
exact size.
"""

import base64
import json
import os
import struct
import sys
import zlib


SIZES = [("2k", 2048), ("64k", 65536), ("1m", 1048576)]

MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"


class Rng:
    """xorshift64*: the same numbers on every platform."""

    def __init__(self, seed):
        self.s = seed or 1

    def next(self):
        s = self.s
        s ^= (s >> 12)
        s ^= (s << 25) & 0xFFFFFFFFFFFFFFFF
        s ^= (s >> 27)
        self.s = s
        return (s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return (self.next() >> 11) % n

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def bytes(self, n):
        out = bytearray()
        while len(out) < n:
            out += struct.pack("<Q", self.next())
        return bytes(out[:n])


WORDS = """
the a of to and in is it that for on with as this be by are from at or
an not have has was will can all but if more when which their one would
there what so up out about into than them some could only other its then
time also two new first way use because each any these how most should
well after work data system request model token quota limit answer file
function value error test build change cache server client user agent
context message response process memory buffer queue worker thread key
result output input config path line code review branch commit retry
latency second minute budget tool call schema field record table index
query node cluster region endpoint gateway proxy header body stream event
parse check update remove create return start stop read write send
receive handle count measure report expect fail pass large small fast
slow old recent next last same different simple clear exact real
""".split()

NAMES = """
ctx buf len pos end rc req res conf pool node key val item list count
total size offset limit start stop name path line body head tail rate
""".split()

UNICODE = ["naïve", "café", "résumé", "Zürich", "São Paulo", "—", "…",
           "数据", "東京", "Ελλάδα", "Москва", "→", "✓"]


def sentence(r):
    n = 6 + r.below(14)
    words = [r.pick(WORDS) for _ in range(n)]
    if r.below(12) == 0:
        words[r.below(n)] = r.pick(UNICODE)
    if r.below(5) == 0:
        words[r.below(n)] = "`%s_%s`" % (r.pick(NAMES), r.pick(NAMES))
    s = " ".join(words)
    end = ".?!:"[r.below(10) // 7] if r.below(10) >= 7 else "."
    return s[0].upper() + s[1:] + end


def prose(r, chars):
    paras, n = [], 0
    while n < chars:
        p = " ".join(sentence(r) for _ in range(2 + r.below(5)))
        paras.append(p)
        n += len(p) + 2
    return "\n\n".join(paras)[:chars]


def code(r, chars):
    lines, n, depth = [], 0, 0
    while n < chars:
        a, b, c = r.pick(NAMES), r.pick(NAMES), r.pick(NAMES)
        k = r.below(9)
        ind = "    " * depth
        if k == 0 and depth < 3:
            line = "%sdef %s_%s(%s, %s):" % (ind, r.pick(WORDS), a, b, c)
            depth += 1
        elif k == 1 and depth < 3:
            line = "%sif %s.%s > %d:" % (ind, a, b, r.below(4096))
            depth += 1
        elif k == 2 and depth > 0:
            line = "%sreturn %s[%s:%s]" % (ind, a, b, c)
            depth -= 1
        elif k == 3:
            line = "%s# %s" % (ind, sentence(r))
        elif k == 4:
            line = "%s%s = self.%s(%s, %s=%d)" % (ind, a, r.pick(WORDS), b,
                                                  c, r.below(100))
        elif k == 5:
            line = "%sfor %s in %s.%s():" % (ind, a, b, r.pick(WORDS))
            depth = min(depth + 1, 3)
        elif k == 6:
            line = '%slog.%s("%s %%s", %s)' % (ind, r.pick(["info", "debug",
                                                         "warning"]),
                                              sentence(r)[:40], a)
        elif k == 7:
            line = ""
        else:
            line = "%s%s += %s * %d" % (ind, a, b, 1 + r.below(64))
        lines.append(line)
        n += len(line) + 1
    return "\n".join(lines)[:chars]


def logs(r, chars):
    lines, n, t = [], 0, 1741943553000
    while n < chars:
        t += r.below(900)
        line = ("2025-03-14T09:%02d:%02d.%03dZ %s %s[%d] %s id=%016x "
                "took=%dms path=/%s/%s status=%d" % (
                    (t // 60000) % 60, (t // 1000) % 60, t % 1000,
                    r.pick(["INFO", "INFO", "INFO", "WARN", "DEBUG",
                            "ERROR"]),
                    r.pick(["api", "worker", "scheduler", "db"]),
                    r.below(16), sentence(r)[:60], r.next(),
                    r.below(2000), r.pick(WORDS), r.pick(NAMES),
                    r.pick([200, 200, 200, 201, 404, 429, 500])))
        lines.append(line)
        n += len(line) + 1
    return "\n".join(lines)[:chars]


def blob(r, chars):
    items, n = [], 0
    while n < chars:
        item = {"id": "%08x" % (r.next() & 0xFFFFFFFF),
                "name": "%s-%s" % (r.pick(WORDS), r.pick(NAMES)),
                "count": r.below(100000),
                "ratio": r.below(10000) / 10000,
                "tags": [r.pick(WORDS) for _ in range(r.below(4))],
                "ok": r.below(2) == 1}
        s = json.dumps(item)
        items.append(s)
        n += len(s) + 2
    return "[" + ",\n ".join(items) + "]"


def png(r, width, height, nbytes):
    """A PNG header with its real size, then bytes that look compressed."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", crc)

    head = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    idat = r.bytes(nbytes - len(head) - 24)
    return head + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


TOOLS = [
    ("read_file", "Reads a file of the repository and returns its text, "
     "with line numbers when asked.",
     {"type": "object",
      "properties": {"path": {"type": "string",
                              "description": "path from the repository root"},
                     "start_line": {"type": "integer"},
                     "end_line": {"type": "integer"}},
      "required": ["path"]}),
    ("run_command", "Runs a shell command in the sandbox and returns its "
     "exit status, standard output and standard error.",
     {"type": "object",
      "properties": {"command": {"type": "string"},
                     "timeout_seconds": {"type": "integer", "default": 60}},
      "required": ["command"]}),
    ("search_code", "Searches the repository for a regular expression and "
     "returns the matching lines with their files.",
     {"type": "object",
      "properties": {"pattern": {"type": "string"},
                     "glob": {"type": "string"}},
      "required": ["pattern"]}),
    ("write_file", "Writes a file, replacing its content.",
     {"type": "object",
      "properties": {"path": {"type": "string"},
                     "content": {"type": "string"}},
      "required": ["path", "content"]}),
]


def conversation(name, size):
    """A conversation as (system, tools, turns), each turn a role and
    blocks: ("text", s), ("use", id, name, input), ("result", id, s),
    ("image", png bytes)."""

    r = Rng(zlib.crc32(name.encode()) + size)

    if size <= 4096:
        system = "You are a helpful assistant for an engineering team. " + \
            prose(r, 260)
        turns = [("user", [("text", prose(r, 300))]),
                 ("assistant", [("text", prose(r, 500))])]
        return finish(r, system, [], turns, size)

    system = ("You are a coding agent working in a repository. Use the "
              "tools to read files and run commands before you answer. ") + \
        prose(r, 2400)
    turns = [("user", [("text", prose(r, 1200))])]
    images = 3 if size >= 1 << 20 else 0
    shot = size * 45 // 400                      # bytes of each PNG
    budget = size * 0.9 - images * (shot * 4 // 3 + 400)
    used = len(system)

    while used < budget:
        tid = "toolu_bdrk_%016x" % r.next()
        k = r.below(4)
        if k == 0:
            use = ("use", tid, "read_file",
                   {"path": "src/%s/%s.py" % (r.pick(WORDS), r.pick(NAMES))})
            out = code(r, 3000 + r.below(9000))
        elif k == 1:
            use = ("use", tid, "run_command",
                   {"command": "make test T=%s" % r.pick(NAMES)})
            out = logs(r, 2000 + r.below(6000))
        elif k == 2:
            use = ("use", tid, "search_code",
                   {"pattern": "%s_%s" % (r.pick(NAMES), r.pick(NAMES))})
            out = blob(r, 1500 + r.below(3000))
        else:
            use = ("use", tid, "read_file",
                   {"path": "docs/%s.md" % r.pick(WORDS)})
            out = prose(r, 2000 + r.below(5000))
        say = prose(r, 150 + r.below(400))
        turns.append(("assistant", [("text", say), use]))
        turns.append(("user", [("result", tid, out)]))
        used += len(dump(turns[-2])) + len(dump(turns[-1])) + 60

    # screenshots among the results, the way computer-use agents send them
    for i in range(images):
        tid = "toolu_bdrk_%016x" % r.next()
        turns.append(("assistant", [("text", prose(r, 200)),
                                    ("use", tid, "run_command",
                                     {"command": "screenshot"})]))
        turns.append(("user", [("result", tid, "screenshot %d" % (i + 1)),
                               ("image", png(r, 1280, 800, shot))]))

    return finish(r, system, TOOLS, turns, size)


def finish(r, system, tools, turns, size):
    """The last user message: long enough that exact() can cut every
    form of the body down to size."""

    turns.append(("user", [("text", "")]))
    have = max(len(dump(form(system, tools, turns, "")))
               for form in (converse, claude, anthropic, openai))
    if have > size - 200:
        raise SystemExit("bodies.py: the conversation outgrew %d bytes"
                         % size)
    turns[-1] = ("user", [("text", prose(r, size - have + 600))])
    return system, tools, turns


def converse(system, tools, turns, pad):
    msgs = []
    for role, blocks in turns:
        content = []
        for b in blocks:
            if b[0] == "text":
                content.append({"text": b[1]})
            elif b[0] == "use":
                content.append({"toolUse": {"toolUseId": b[1], "name": b[2],
                                            "input": b[3]}})
            elif b[0] == "result":
                content.append({"toolResult": {"toolUseId": b[1],
                                               "content": [{"text": b[2]}],
                                               "status": "success"}})
            else:
                content.append({"image": {"format": "png", "source": {
                    "bytes": base64.b64encode(b[1]).decode()}}})
        msgs.append({"role": role, "content": content})
    msgs[-1]["content"][-1]["text"] += pad
    body = {"system": [{"text": system}], "messages": msgs,
            "inferenceConfig": {"maxTokens": 4096, "temperature": 0.2}}
    if tools:
        body["toolConfig"] = {"tools": [
            {"toolSpec": {"name": n, "description": d,
                          "inputSchema": {"json": s}}} for n, d, s in tools]}
    return body


def claude(system, tools, turns, pad, model=None):
    msgs = []
    for role, blocks in turns:
        content = []
        for b in blocks:
            if b[0] == "text":
                content.append({"type": "text", "text": b[1]})
            elif b[0] == "use":
                content.append({"type": "tool_use", "id": b[1], "name": b[2],
                                "input": b[3]})
            elif b[0] == "result":
                content.append({"type": "tool_result", "tool_use_id": b[1],
                                "content": b[2]})
            else:
                content.append({"type": "image", "source": {
                    "type": "base64", "media_type": "image/png",
                    "data": base64.b64encode(b[1]).decode()}})
        msgs.append({"role": role, "content": content})
    msgs[-1]["content"][-1]["text"] += pad
    body = {}
    if model:
        body["model"] = model
    else:
        body["anthropic_version"] = "bedrock-2023-05-31"
    body.update({"max_tokens": 4096, "system": system, "messages": msgs,
                 "temperature": 0.2})
    if tools:
        body["tools"] = [{"name": n, "description": d, "input_schema": s}
                         for n, d, s in tools]
    return body


def anthropic(system, tools, turns, pad):
    return claude(system, tools, turns, pad, model=MODEL)


def openai(system, tools, turns, pad):
    msgs = [{"role": "system", "content": system}]
    for role, blocks in turns:
        if role == "assistant":
            m = {"role": "assistant", "content": ""}
            for b in blocks:
                if b[0] == "text":
                    m["content"] += b[1]
                else:
                    m.setdefault("tool_calls", []).append({
                        "id": b[1], "type": "function",
                        "function": {"name": b[2],
                                     "arguments": json.dumps(b[3])}})
            msgs.append(m)
            continue
        parts = []
        for b in blocks:
            if b[0] == "result":
                msgs.append({"role": "tool", "tool_call_id": b[1],
                             "content": b[2]})
            elif b[0] == "text":
                parts.append({"type": "text", "text": b[1]})
            else:
                parts.append({"type": "image_url", "image_url": {
                    "url": "data:image/png;base64," +
                    base64.b64encode(b[1]).decode()}})
        if parts:
            msgs.append({"role": "user", "content": parts})
    last = msgs[-1]["content"]
    last[-1]["text"] += pad
    body = {"model": MODEL, "max_tokens": 4096, "temperature": 0.2,
            "messages": msgs}
    if tools:
        body["tools"] = [{"type": "function", "function": {
            "name": n, "description": d, "parameters": s}}
            for n, d, s in tools]
    return body


def dump(body):
    return json.dumps(body, ensure_ascii=False,
                      separators=(",", ":")).encode()


def exact(form, conv, size):
    """The body in this form, its last text cut or padded to size bytes."""

    system, tools, turns = conv
    text = turns[-1][1][-1][1]
    for _ in range(50):
        data = dump(form(system, tools, turns, ""))
        over = len(data) - size
        if over <= 0:
            data = dump(form(system, tools, turns, " " * -over))
            if len(data) != size:
                raise SystemExit("bodies.py: cannot size a body to %d" % size)
            return data
        # cut whole characters; some take more than one byte
        cut = text[:max(0, len(text) - over)]
        turns = turns[:-1] + [(turns[-1][0],
                               turns[-1][1][:-1] + [("text", cut)])]
        text = cut
    raise SystemExit("bodies.py: the last text is too short to cut")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench/bodies.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    for label, size in SIZES:
        conv = conversation("bench-" + label, size)
        for name, form in (("converse", converse), ("claude", claude),
                           ("anthropic", anthropic), ("openai", openai)):
            data = exact(form, conv, size)
            json.loads(data)
            tmp = os.path.join(out, ".%s-%s.json" % (name, label))
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(out, "%s-%s.json" % (name, label)))


if __name__ == "__main__":
    main()
