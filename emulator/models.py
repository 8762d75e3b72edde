"""Model families: what a model id means, how a body is read and counted,
and what Bedrock answers, whole or as stream events.

Token counting rule (deterministic, documented in README.md):
  input tokens = max(1, ceil(C / 4) + images + documents)
  C         = characters (Unicode code points) of every text the model
              reads: system prompts, message text, tool definitions and tool
              inputs/results (as compact JSON), text documents;
  images    = per image ceil(w * h / 750) after scaling the long edge down
              to 1568 px, read from PNG, GIF, JPEG or WebP headers;
              1600 when the size cannot be read;
  documents = 1500 per binary (base64) document.
Output: min(max_tokens, N) tokens, N from X-Emulator-Output-Tokens or the
configured default; every token is one word of a fixed vocabulary.
"""

import base64
import binascii
import json
import math
import re
import struct
from urllib.parse import unquote

import awserrors
from awserrors import compact_json, validation, malformed

IMAGE_FALLBACK_TOKENS = 1600
DOCUMENT_TOKENS = 1500
IMAGE_MAX_EDGE = 1568

PROVIDERS = ("anthropic", "amazon", "meta", "mistral", "cohere", "ai21",
             "deepseek", "openai", "qwen", "writer", "twelvelabs",
             "stability", "luma")

VOCAB = ("The", "emulated", "model", "answers", "with", "deterministic",
         "words", "so", "that", "tests", "can", "count", "every", "token",
         "it", "sends", "back", "to", "the", "gateway", "and", "check",
         "usage", "exactly", "as", "Bedrock", "reports", "it", "in",
         "each", "response", "shape.")


class ModelSpec:
    """Limits of a model: family, largest max_tokens accepted (None: not
    checked), context window (None: not checked), output burndown rate,
    and the max_tokens reserved when an InvokeModel body gives none."""

    def __init__(self, family, max_output, context, burndown,
                 invoke_default):
        self.family = family
        self.max_output = max_output
        self.context = context
        self.burndown = burndown
        self.invoke_default = invoke_default


# first match wins; matched against the base model id (no ARN, no geo
# prefix).  Burndown 5x: Claude 3.7 and the Claude 4 generation onwards.
MODEL_TABLE = [
    (r"anthropic\.claude-3-7-sonnet", ModelSpec("anthropic", 64000, 200000,
                                                5, 64000)),
    (r"anthropic\.claude-opus-4(-1)?-\d{8}", ModelSpec("anthropic", 32000,
                                                       200000, 5, 32000)),
    (r"anthropic\.claude-(opus|sonnet|haiku)-([4-9]|\d\d)",
     ModelSpec("anthropic", 64000, 200000, 5, 64000)),
    (r"anthropic\.claude-3-5-(sonnet|haiku)", ModelSpec("anthropic", 8192,
                                                        200000, 1, 8192)),
    (r"anthropic\.claude-3-", ModelSpec("anthropic", 4096, 200000, 1, 4096)),
    (r"anthropic\.claude-(v2|instant)", ModelSpec("anthropic", 4096, 100000,
                                                  1, 4096)),
    (r"anthropic\.", ModelSpec("anthropic", None, 200000, 1, 4096)),
    (r"amazon\.nova-micro", ModelSpec("nova", 10000, 128000, 1, 10000)),
    (r"amazon\.nova-", ModelSpec("nova", 10000, 300000, 1, 10000)),
    (r"amazon\.titan-text-express", ModelSpec("titan", 8192, 8192, 1, 512)),
    (r"amazon\.titan-text-lite", ModelSpec("titan", 4096, 4096, 1, 512)),
    (r"amazon\.titan-text-premier", ModelSpec("titan", 3072, 32000, 1, 512)),
    (r"amazon\.titan-", ModelSpec("titan", None, None, 1, 512)),
    (r"meta\.llama", ModelSpec("llama", 2048, 128000, 1, 512)),
    (r"mistral\.", ModelSpec("mistral", 8192, 32000, 1, 512)),
    (r"cohere\.command-r", ModelSpec("cohere", 4000, 128000, 1, 4000)),
    (r"cohere\.command", ModelSpec("cohere", 4000, 4000, 1, 20)),
]

GENERIC = ModelSpec("generic", None, None, 1, 4096)

ARN_RE = re.compile(r"^arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:([a-z-]+)/(.+)$")

OPERATIONS = {
    "invoke": "InvokeModel",
    "invoke-with-response-stream": "InvokeModelWithResponseStream",
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "count-tokens": "CountTokens",
}
PATH_RE = re.compile(r"^/model/(.+)/([a-z-]+)$")


class Model:
    def __init__(self, model_id, base_id, quota_key, provider, spec):
        self.model_id = model_id
        self.base_id = base_id
        self.quota_key = quota_key
        self.provider = provider
        self.spec = spec

    @property
    def family(self):
        return self.spec.family

    def short_name(self):
        """The name Claude puts in `model` ("claude-3-7-sonnet-20250219")."""
        name = self.base_id.split(".", 1)[-1]
        return re.sub(r"-v\d+(:\d+)?$", "", name)


def route(raw_path):
    """'/model/<id>/<op>' (raw, percent-encoded) -> (model id, operation
    name) or None.  The id is percent-decoded once, as AWS does: ':' or
    '%3A' both work, ARNs arrive with '%2F' (a literal '/' is accepted
    too); a double-encoded id stays encoded and is then invalid."""
    m = PATH_RE.match(raw_path)
    if not m or m.group(2) not in OPERATIONS:
        return None
    return unquote(m.group(1), errors="strict"), OPERATIONS[m.group(2)]


def resolve(model_id, aliases=None):
    """Model for a (decoded) id; raises ValidationException for an id
    Bedrock would not know.  aliases maps opaque ids/ARNs to base ids."""
    aliases = aliases or {}
    if len(model_id) > 2048 or not model_id:
        raise validation(awserrors.INVALID_MODEL)
    quota_key = model_id
    base = aliases.get(model_id, model_id)
    m = ARN_RE.match(base)
    if m:
        kind, rest = m.group(1), m.group(2)
        if kind in ("foundation-model", "inference-profile"):
            base = rest
            quota_key = rest
        elif kind in ("application-inference-profile", "provisioned-model",
                      "custom-model", "imported-model"):
            base = aliases.get(rest, "anthropic.claude-opaque")
        else:
            raise validation(awserrors.INVALID_MODEL)
    labels = base.split(".")
    if len(labels) > 2 and labels[0] not in PROVIDERS \
            and labels[1] in PROVIDERS:
        labels = labels[1:]          # geo prefix: us. eu. apac. global. ...
        base = ".".join(labels)
    if len(labels) < 2 or labels[0] not in PROVIDERS or not labels[1] \
            or re.search(r"[\s%/]", base):
        raise validation(awserrors.INVALID_MODEL)
    spec = GENERIC
    for pattern, s in MODEL_TABLE:
        if re.match(pattern, base):
            spec = s
            break
    return Model(model_id, base, quota_key, labels[0], spec)


# -- token counting ----------------------------------------------------------

def image_size(raw):
    """(width, height) from the header of a PNG, GIF, JPEG or WebP image,
    or None."""
    try:
        if raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR":
            return struct.unpack(">II", raw[16:24])
        if raw[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", raw[6:10])
        if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
            chunk = raw[12:16]
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", raw[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                bits = int.from_bytes(raw[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":
                return (int.from_bytes(raw[24:27], "little") + 1,
                        int.from_bytes(raw[27:30], "little") + 1)
            return None
        if raw[:2] == b"\xff\xd8":
            i = 2
            while i + 4 <= len(raw):
                if raw[i] != 0xFF:
                    return None
                marker = raw[i + 1]
                if marker == 0xFF:
                    i += 1
                    continue
                if marker == 0x01 or 0xD0 <= marker <= 0xD8:
                    i += 2
                    continue
                (seg,) = struct.unpack(">H", raw[i + 2:i + 4])
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8,
                                                             0xCC):
                    h, w = struct.unpack(">HH", raw[i + 5:i + 9])
                    return w, h
                i += 2 + seg
    except struct.error:
        return None
    return None


def image_tokens(raw):
    size = image_size(raw) if raw else None
    if not size or not size[0] or not size[1]:
        return IMAGE_FALLBACK_TOKENS
    w, h = size
    edge = max(w, h)
    if edge > IMAGE_MAX_EDGE:
        w = max(1, round(w * IMAGE_MAX_EDGE / edge))
        h = max(1, round(h * IMAGE_MAX_EDGE / edge))
    return math.ceil(w * h / 750)


def _b64(data):
    if not isinstance(data, str):
        return b""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _obj(v):
    """v if it is a JSON object, else {}: bodies are read defensively."""
    return v if isinstance(v, dict) else {}


def _arr(v):
    """v if it is a JSON array, else []."""
    return v if isinstance(v, list) else []


class Tally:
    def __init__(self):
        self.chars = 0
        self.extra = 0

    def text(self, s):
        if isinstance(s, str):
            self.chars += len(s)
        elif s is not None:
            self.json(s)

    def json(self, obj):
        self.chars += len(json.dumps(obj, separators=(",", ":"),
                                     ensure_ascii=False))

    def image(self, raw):
        self.extra += image_tokens(raw)

    def document(self):
        self.extra += DOCUMENT_TOKENS

    def tokens(self):
        return max(1, math.ceil(self.chars / 4) + self.extra)


def _claude_blocks(t, content):
    if isinstance(content, str):
        t.text(content)
        return
    if not isinstance(content, list):
        return
    for b in content:
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind == "text":
            t.text(b.get("text"))
        elif kind == "image":
            src = _obj(b.get("source"))
            t.image(_b64(src.get("data")))
        elif kind == "document":
            src = _obj(b.get("source"))
            if src.get("type") == "text":
                t.text(src.get("data"))
            elif src.get("type") == "content":
                _claude_blocks(t, src.get("content"))
            else:
                t.document()
        elif kind == "tool_use":
            t.text(b.get("name"))
            t.json(b.get("input", {}))
        elif kind == "tool_result":
            _claude_blocks(t, b.get("content"))
        elif kind in ("thinking", "redacted_thinking"):
            t.text(b.get("thinking") or b.get("data"))


def _converse_blocks(t, content):
    if not isinstance(content, list):
        return
    for b in content:
        if not isinstance(b, dict):
            continue
        if "text" in b:
            t.text(b["text"])
        if "image" in b:
            src = _obj(_obj(b["image"]).get("source"))
            t.image(_b64(src.get("bytes")))
        if "document" in b:
            src = _obj(_obj(b["document"]).get("source"))
            if "text" in src:
                t.text(src["text"])
            elif "content" in src:
                _converse_blocks(t, src["content"])
            else:
                t.document()
        if "toolUse" in b:
            tu = _obj(b["toolUse"])
            t.text(tu.get("name"))
            t.json(tu.get("input", {}))
        if "toolResult" in b:
            for c in _arr(_obj(b["toolResult"]).get("content")):
                if isinstance(c, dict) and "json" in c:
                    t.json(c["json"])
                else:
                    _converse_blocks(t, [c])
        if "reasoningContent" in b:
            rt = _obj(_obj(b["reasoningContent"]).get("reasoningText"))
            t.text(rt.get("text"))
        if "guardContent" in b:
            t.text(_obj(_obj(b["guardContent"]).get("text")).get("text"))


def count_converse(body):
    """Input tokens of a Converse (or Nova native) request body."""
    t = Tally()
    for s in _arr(body.get("system")):
        if isinstance(s, dict):
            t.text(s.get("text"))
    for m in _arr(body.get("messages")):
        if isinstance(m, dict):
            _converse_blocks(t, m.get("content"))
    tc = _obj(body.get("toolConfig"))
    if tc.get("tools"):
        t.json(tc["tools"])
    return t.tokens()


def count_invoke(family, body):
    """Input tokens of an InvokeModel body of the given family."""
    t = Tally()
    if family in ("anthropic", "generic"):
        if "messages" in body:
            system = body.get("system")
            if isinstance(system, list):
                _claude_blocks(t, system)
            else:
                t.text(system)
            for m in _arr(body.get("messages")):
                if isinstance(m, dict):
                    _claude_blocks(t, m.get("content"))
            if body.get("tools"):
                t.json(body["tools"])
        else:
            t.text(body.get("prompt"))
    elif family == "nova":
        return count_converse(body)
    elif family == "titan":
        t.text(body.get("inputText"))
    elif family in ("llama", "mistral"):
        if "messages" in body:
            for m in _arr(body.get("messages")):
                if isinstance(m, dict):
                    t.text(m.get("content"))
        else:
            t.text(body.get("prompt"))
    elif family == "cohere":
        t.text(body.get("preamble"))
        t.text(body.get("message"))
        t.text(body.get("prompt"))
        for m in _arr(body.get("chat_history")):
            if isinstance(m, dict):
                t.text(m.get("message"))
        if body.get("documents"):
            t.json(body["documents"])
        if body.get("tools"):
            t.json(body["tools"])
    return t.tokens()


# -- request parsing and validation ------------------------------------------

class Plan:
    """What one request costs and produces."""

    def __init__(self, model, operation, body, input_tokens, max_tokens,
                 max_given, output_tokens):
        self.model = model
        self.operation = operation
        self.body = body
        self.input_tokens = input_tokens
        self.max_tokens = max_tokens          # used for the reservation
        self.max_given = max_given            # as the body gave it, or None
        self.output_tokens = output_tokens

    @property
    def reservation(self):
        return self.input_tokens + self.max_tokens

    @property
    def stop_is_length(self):
        return self.output_tokens >= self.max_tokens

    def text(self, start=0, end=None):
        end = self.output_tokens if end is None else end
        words = [VOCAB[i % len(VOCAB)] for i in range(start, end)]
        return ("" if start == 0 else " ") + " ".join(words) if words else ""


def _json_type(v):
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Integer"
    if isinstance(v, float):
        return "BigDecimal"
    if isinstance(v, str):
        return "String"
    if isinstance(v, list):
        return "JSONArray"
    if isinstance(v, dict):
        return "JSONObject"
    return "Null"


def parse_json_object(raw):
    """The body as a JSON object, or Bedrock's malformed-input error."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("A JSONObject text must begin with '{' at 1 "
                        "[character 2 line 1]")
    if not text.lstrip().startswith("{"):
        if not text.strip():
            raise malformed("A JSONObject text must begin with '{' at 0 "
                            "[character 1 line 1]")
        try:
            v = json.loads(text)
        except ValueError:
            raise malformed("A JSONObject text must begin with '{' at 1 "
                            "[character 2 line 1]")
        raise malformed("#: expected type: JSONObject, found: %s"
                        % _json_type(v))
    try:
        v = json.loads(text)
    except ValueError as e:
        pos = getattr(e, "pos", 0) or 0
        raise malformed("Expected a ',' or '}' at %d [character %d line 1]"
                        % (pos, pos + 1))
    return v


def _int_field(value, path, problems):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append("#/%s: expected type: Integer, found: %s"
                        % (path, _json_type(value)))
        return None
    if value < 1:
        problems.append("#/%s: %d is not greater or equal to 1"
                        % (path, value))
        return None
    return value


def _invoke_max(family, body, problems):
    """(max_tokens as given or None) for each family's field name."""
    if family in ("anthropic", "generic"):
        if "messages" in body:
            return _int_field(body.get("max_tokens"), "max_tokens", problems)
        return _int_field(body.get("max_tokens_to_sample"),
                          "max_tokens_to_sample", problems)
    if family == "nova":
        ic = _obj(body.get("inferenceConfig"))
        v = ic.get("max_new_tokens", ic.get("maxTokens"))
        return _int_field(v, "inferenceConfig/max_new_tokens", problems)
    if family == "titan":
        cfg = _obj(body.get("textGenerationConfig"))
        return _int_field(cfg.get("maxTokenCount"),
                          "textGenerationConfig/maxTokenCount", problems)
    if family == "llama":
        return _int_field(body.get("max_gen_len"), "max_gen_len", problems)
    return _int_field(body.get("max_tokens"), "max_tokens", problems)


def _check_invoke_shape(family, body):
    problems = []
    if family in ("anthropic", "generic"):
        if "prompt" in body and "messages" not in body:
            for key in ("max_tokens_to_sample",):
                if key not in body:
                    problems.append("#: required key [%s] not found" % key)
        else:
            for key in ("anthropic_version", "max_tokens", "messages"):
                if key not in body:
                    problems.append("#: required key [%s] not found" % key)
            if "messages" in body and not isinstance(body["messages"], list):
                problems.append("#/messages: expected type: JSONArray, "
                                "found: %s" % _json_type(body["messages"]))
            for key in ("model", "stream"):
                if key in body:
                    problems.append("#: extraneous key [%s] is not permitted"
                                    % key)
    elif family == "nova":
        if not isinstance(body.get("messages"), list):
            problems.append("#: required key [messages] not found")
    elif family == "titan":
        if not isinstance(body.get("inputText"), str):
            problems.append("#: required key [inputText] not found")
    elif family == "llama":
        if not isinstance(body.get("prompt"), str):
            problems.append("#: required key [prompt] not found")
    elif family == "mistral":
        if not isinstance(body.get("prompt"), str) \
                and not isinstance(body.get("messages"), list):
            problems.append("#: required key [prompt] not found")
    elif family == "cohere":
        if not isinstance(body.get("message"), str) \
                and not isinstance(body.get("prompt"), str):
            problems.append("#: required key [message] not found")
    return problems


def plan_invoke(model, operation, raw, output_tokens):
    body = parse_json_object(raw)
    family = model.family
    problems = _check_invoke_shape(family, body)
    given = _invoke_max(family, body, problems)
    if problems:
        raise malformed(*problems)
    spec = model.spec
    if given is not None and spec.max_output is not None \
            and given > spec.max_output:
        if family == "anthropic":
            raise validation("max_tokens: %d > %d, which is the maximum "
                             "allowed number of output tokens for %s"
                             % (given, spec.max_output, model.short_name()))
        raise validation("The maximum tokens you requested exceeds the "
                         "model limit of %d" % spec.max_output)
    input_tokens = count_invoke(family, body)
    if spec.context is not None and input_tokens > spec.context:
        raise validation(awserrors.INPUT_TOO_LONG)
    max_tokens = given if given is not None else spec.invoke_default
    return Plan(model, operation, body, input_tokens, max_tokens, given,
                min(max_tokens, output_tokens))


def plan_converse(model, operation, raw, output_tokens):
    body = parse_json_object(raw)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or \
            not isinstance(msgs[0], dict) or msgs[0].get("role") != "user":
        raise validation("A conversation must start with a user message. "
                         "Try again with a conversation that starts with a "
                         "user message.")
    ic = _obj(body.get("inferenceConfig"))
    given = ic.get("maxTokens")
    if given is not None and (isinstance(given, bool)
                              or not isinstance(given, int) or given < 1):
        raise validation("1 validation error detected: Value '%s' at "
                         "'inferenceConfig.maxTokens' failed to satisfy "
                         "constraint: Member must have value greater than "
                         "or equal to 1" % given)
    spec = model.spec
    if given is not None and spec.max_output is not None \
            and given > spec.max_output:
        raise validation("The maximum tokens you requested exceeds the "
                         "model limit of %d" % spec.max_output)
    input_tokens = count_converse(body)
    if spec.context is not None and input_tokens > spec.context:
        raise validation("The model returned the following errors: "
                         + awserrors.INPUT_TOO_LONG)
    if given is not None:
        max_tokens = given
    elif spec.max_output is not None:
        # "The default value is the maximum allowed value for the model"
        max_tokens = spec.max_output
    else:
        max_tokens = spec.invoke_default
    return Plan(model, operation, body, input_tokens, max_tokens, given,
                min(max_tokens, output_tokens))


def count_tokens(model, raw):
    """CountTokens: {"input":{"invokeModel":{"body":b64}}} or
    {"input":{"converse":{...}}} -> input tokens."""
    body = parse_json_object(raw)
    inp = body.get("input")
    if isinstance(inp, dict) and isinstance(inp.get("converse"), dict):
        conv = inp["converse"]
        if not isinstance(conv.get("messages"), list):
            raise validation("A conversation must start with a user "
                             "message. Try again with a conversation that "
                             "starts with a user message.")
        return count_converse(conv)
    if isinstance(inp, dict) and isinstance(inp.get("invokeModel"), dict):
        inner = _b64(inp["invokeModel"].get("body"))
        ibody = parse_json_object(inner)
        problems = _check_invoke_shape(model.family, ibody)
        if problems:
            raise malformed(*problems)
        return count_invoke(model.family, ibody)
    raise validation("1 validation error detected: Value null at 'input' "
                     "failed to satisfy constraint: Member must not be "
                     "null")


# -- whole answers -----------------------------------------------------------

def _claude_stop(plan):
    return "max_tokens" if plan.stop_is_length else "end_turn"


def invoke_response(plan, request_id):
    """The InvokeModel body of the model's family."""
    family = plan.model.family
    body = plan.body
    text = plan.text()
    n_in, n_out = plan.input_tokens, plan.output_tokens
    length = plan.stop_is_length
    if family in ("anthropic", "generic"):
        if "messages" not in body:
            return {"type": "completion", "completion": " " + text,
                    "stop_reason": "max_tokens" if length
                    else "stop_sequence", "stop": None if length
                    else "\n\nHuman:"}
        return {"id": "msg_bdrk_" + request_id.replace("-", "")[:24],
                "type": "message", "role": "assistant",
                "model": plan.model.short_name(),
                "content": [{"type": "text", "text": text}],
                "stop_reason": _claude_stop(plan), "stop_sequence": None,
                "usage": {"input_tokens": n_in, "output_tokens": n_out}}
    if family == "nova":
        return {"output": {"message": {"role": "assistant",
                                       "content": [{"text": text}]}},
                "stopReason": "max_tokens" if length else "end_turn",
                "usage": {"inputTokens": n_in, "outputTokens": n_out,
                          "totalTokens": n_in + n_out,
                          "cacheReadInputTokenCount": 0,
                          "cacheWriteInputTokenCount": 0}}
    if family == "titan":
        return {"inputTextTokenCount": n_in,
                "results": [{"tokenCount": n_out, "outputText": text,
                             "completionReason": "LENGTH" if length
                             else "FINISH"}]}
    if family == "llama":
        return {"generation": text, "prompt_token_count": n_in,
                "generation_token_count": n_out,
                "stop_reason": "length" if length else "stop"}
    if family == "mistral":
        reason = "length" if length else "stop"
        if "messages" in body:
            return {"id": request_id, "object": "chat.completion",
                    "model": plan.model.base_id,
                    "choices": [{"index": 0, "message": {
                        "role": "assistant", "content": text},
                        "finish_reason": reason}],
                    "usage": {"prompt_tokens": n_in,
                              "completion_tokens": n_out,
                              "total_tokens": n_in + n_out}}
        return {"outputs": [{"text": text, "stop_reason": reason}]}
    if family == "cohere":
        reason = "MAX_TOKENS" if length else "COMPLETE"
        if "message" in body:
            return {"response_id": request_id, "text": text,
                    "generation_id": request_id, "finish_reason": reason,
                    "chat_history": [
                        {"role": "USER", "message": body.get("message")},
                        {"role": "CHATBOT", "message": text}]}
        return {"id": request_id, "prompt": body.get("prompt"),
                "generations": [{"id": request_id, "text": text,
                                 "finish_reason": reason}]}
    raise AssertionError(family)


def converse_response(plan, latency_ms):
    n_in, n_out = plan.input_tokens, plan.output_tokens
    return {"output": {"message": {"role": "assistant",
                                   "content": [{"text": plan.text()}]}},
            "stopReason": "max_tokens" if plan.stop_is_length
            else "end_turn",
            "usage": {"inputTokens": n_in, "outputTokens": n_out,
                      "totalTokens": n_in + n_out},
            "metrics": {"latencyMs": latency_ms}}


# -- streams -----------------------------------------------------------------

PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _pad(i):
    """The "p" member Bedrock adds to stream payloads (clients ignore it);
    its length varies, as Bedrock's does."""
    return PAD[:1 + (i * 7) % len(PAD)]


def _pieces(plan, chunk_tokens):
    """[(start, end)] token ranges of the text deltas."""
    out = []
    step = max(1, chunk_tokens)
    for start in range(0, plan.output_tokens, step):
        out.append((start, min(plan.output_tokens, start + step)))
    return out


def converse_stream_events(plan, chunk_tokens, metrics):
    """Yields (event type, payload dict, output tokens delivered so far)
    for ConverseStream.  metrics() -> (latency ms, first byte ms)."""
    i = 0
    yield "messageStart", {"role": "assistant", "p": _pad(i)}, 0
    for start, end in _pieces(plan, chunk_tokens):
        i += 1
        yield "contentBlockDelta", {"contentBlockIndex": 0,
                                    "delta": {"text": plan.text(start, end)},
                                    "p": _pad(i)}, end
    n = plan.output_tokens
    yield "contentBlockStop", {"contentBlockIndex": 0, "p": _pad(i + 1)}, n
    yield "messageStop", {"stopReason": "max_tokens" if plan.stop_is_length
                          else "end_turn", "p": _pad(i + 2)}, n
    latency, _ = metrics()
    yield "metadata", {"usage": {"inputTokens": plan.input_tokens,
                                 "outputTokens": n,
                                 "totalTokens": plan.input_tokens + n},
                       "metrics": {"latencyMs": latency},
                       "p": _pad(i + 3)}, n


def _invocation_metrics(plan, metrics):
    latency, first = metrics()
    return {"inputTokenCount": plan.input_tokens,
            "outputTokenCount": plan.output_tokens,
            "invocationLatency": latency, "firstByteLatency": first}


def _model_chunks(plan, chunk_tokens, metrics, request_id):
    """Yields (model JSON object, output tokens so far) of an
    InvokeModelWithResponseStream, per family."""
    family = plan.model.family
    body = plan.body
    n_in, n = plan.input_tokens, plan.output_tokens
    length = plan.stop_is_length
    pieces = _pieces(plan, chunk_tokens)
    if family in ("anthropic", "generic") and "messages" in body:
        yield {"type": "message_start", "message": {
            "id": "msg_bdrk_" + request_id.replace("-", "")[:24],
            "type": "message", "role": "assistant",
            "model": plan.model.short_name(), "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": n_in, "output_tokens": 1}}}, 0
        yield {"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}, 0
        for start, end in pieces:
            yield {"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta",
                             "text": plan.text(start, end)}}, end
        yield {"type": "content_block_stop", "index": 0}, n
        yield {"type": "message_delta",
               "delta": {"stop_reason": _claude_stop(plan),
                         "stop_sequence": None},
               "usage": {"output_tokens": n}}, n
        yield {"type": "message_stop", "amazon-bedrock-invocationMetrics":
               _invocation_metrics(plan, metrics)}, n
        return
    if family in ("anthropic", "generic"):
        for k, (start, end) in enumerate(pieces):
            yield {"completion": plan.text(start, end), "stop_reason": None,
                   "stop": None}, end
        yield {"completion": "", "stop_reason": "max_tokens" if length
               else "stop_sequence", "stop": None,
               "amazon-bedrock-invocationMetrics":
               _invocation_metrics(plan, metrics)}, n
        return
    if family == "nova":
        yield {"messageStart": {"role": "assistant"}}, 0
        for start, end in pieces:
            yield {"contentBlockDelta": {"delta": {
                "text": plan.text(start, end)}, "contentBlockIndex": 0}}, end
        yield {"contentBlockStop": {"contentBlockIndex": 0}}, n
        yield {"messageStop": {"stopReason": "max_tokens" if length
                               else "end_turn"}}, n
        yield {"metadata": {"usage": {"inputTokens": n_in,
                                      "outputTokens": n},
                            "metrics": {}, "trace": {}},
               "amazon-bedrock-invocationMetrics":
               _invocation_metrics(plan, metrics)}, n
        return
    # the text-completion families: one object per delta, the last one
    # carries the stop reason and the invocation metrics
    if not pieces:
        pieces = [(0, 0)]
    last = len(pieces) - 1
    for k, (start, end) in enumerate(pieces):
        piece = plan.text(start, end)
        final = k == last
        if family == "titan":
            obj = {"outputText": piece, "index": 0,
                   "totalOutputTextTokenCount": end,
                   "completionReason": ("LENGTH" if length else "FINISH")
                   if final else None,
                   "inputTextTokenCount": n_in if k == 0 else None}
        elif family == "llama":
            obj = {"generation": piece,
                   "prompt_token_count": n_in if k == 0 else None,
                   "generation_token_count": end,
                   "stop_reason": ("length" if length else "stop")
                   if final else None}
        elif family == "mistral":
            reason = ("length" if length else "stop") if final else None
            if "messages" in body:
                obj = {"id": request_id, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {
                           "role": "assistant", "content": piece},
                           "finish_reason": reason}]}
            else:
                obj = {"outputs": [{"text": piece, "stop_reason": reason}]}
        else:
            obj = {"is_finished": False, "event_type": "text-generation",
                   "text": piece}
        if final:
            if family == "cohere":
                yield obj, end
                obj = {"is_finished": True, "event_type": "stream-end",
                       "finish_reason": "MAX_TOKENS" if length
                       else "COMPLETE",
                       "response": {"response_id": request_id,
                                    "text": plan.text(),
                                    "generation_id": request_id}}
            obj["amazon-bedrock-invocationMetrics"] = \
                _invocation_metrics(plan, metrics)
        yield obj, end


def invoke_stream_events(plan, chunk_tokens, metrics, request_id):
    """Yields ("chunk", payload dict, output tokens so far): the chunk
    event carries the model's JSON as base64 `bytes`."""
    for i, (obj, so_far) in enumerate(_model_chunks(plan, chunk_tokens,
                                                    metrics, request_id)):
        raw = compact_json(obj)
        yield "chunk", {"bytes": base64.b64encode(raw).decode("ascii"),
                        "p": _pad(i)}, so_far


STREAM_EXCEPTIONS = {
    "throttlingException": (awserrors.TOO_MANY_REQUESTS, {}),
    "serviceUnavailableException": (awserrors.UNAVAILABLE, {}),
    "internalServerException": (awserrors.INTERNAL, {}),
    "modelTimeoutException": (awserrors.MODEL_TIMEOUT, {}),
    "validationException": (awserrors.INPUT_TOO_LONG, {}),
    "modelStreamErrorException": ("Model Stream Error",
                                  {"originalStatusCode": 500,
                                   "originalMessage":
                                   "The model stream failed."}),
}


def stream_exception_payload(exception_type):
    message, extra = STREAM_EXCEPTIONS[exception_type]
    obj = {"message": message}
    obj.update(extra)
    return compact_json(obj)
