#!/usr/bin/python3
# One boto3 call to the gateway, for the tests' SDK driver: reads the call
# as JSON on stdin, prints its outcome as JSON on stdout, the same shape as
# the driver's JavaScript calls:
#
#   {"op": "converse" | "converse-stream" | "invoke" | "invoke-stream",
#    "endpoint": "http://127.0.0.1:PORT", "key": ..., "secret": ...,
#    "region": "us-east-1", "model": ..., "text": ..., "maxTokens": N,
#    "headers": {...}}
#
# boto3 is used as a user would use it (AWS_DATA_PATH supplies the
# bedrock-runtime model that Debian's botocore lacks; AWS_CA_BUNDLE the
# test CA).

import json
import sys

import boto3
import botocore.config
import botocore.exceptions


def client(a):
    c = boto3.client(
        "bedrock-runtime",
        region_name=a.get("region", "us-east-1"),
        endpoint_url=a["endpoint"],
        aws_access_key_id=a["key"],
        aws_secret_access_key=a["secret"],
        config=botocore.config.Config(
            retries={"max_attempts": a.get("maxAttempts", 3),
                     "mode": "standard"}))

    extra = a.get("headers") or {}

    def add_headers(request, **kwargs):
        for name, value in extra.items():
            request.headers[name] = value

    c.meta.events.register_first("before-sign.bedrock-runtime.*",
                                 add_headers)
    return c


def anthropic(a):
    return json.dumps({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": a.get("maxTokens", 64),
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": a.get("text", "Hello")}]}],
    })


def run(a):
    c = client(a)
    op = a["op"]
    model = a.get("model", "us.anthropic.claude-3-7-sonnet-20250219-v1:0")
    messages = [{"role": "user", "content": [{"text": a.get("text", "Hello")}]}]
    config = {"maxTokens": a.get("maxTokens", 64)}
    res = {"ok": True, "events": [], "text": ""}

    if op == "converse":
        r = c.converse(modelId=model, messages=messages,
                       inferenceConfig=config)
        res["text"] = "".join(b.get("text", "")
                              for b in r["output"]["message"]["content"])
        res["usage"] = r["usage"]
        res["stopReason"] = r["stopReason"]

    elif op == "converse-stream":
        r = c.converse_stream(modelId=model, messages=messages,
                              inferenceConfig=config)
        for ev in r["stream"]:
            name = next(iter(ev))
            res["events"].append(name)
            if name == "contentBlockDelta":
                res["text"] += ev[name]["delta"].get("text", "")
            elif name == "messageStop":
                res["stopReason"] = ev[name]["stopReason"]
            elif name == "metadata":
                res["usage"] = ev[name]["usage"]

    elif op == "invoke":
        r = c.invoke_model(modelId=model, body=anthropic(a),
                           contentType="application/json",
                           accept="application/json")
        body = json.loads(r["body"].read())
        res["text"] = "".join(b.get("text", "") for b in body["content"])
        res["usage"] = body["usage"]
        res["stopReason"] = body["stop_reason"]

    elif op == "invoke-stream":
        r = c.invoke_model_with_response_stream(
            modelId=model, body=anthropic(a),
            contentType="application/json", accept="application/json")
        for ev in r["body"]:
            chunk = json.loads(ev["chunk"]["bytes"])
            res["events"].append(chunk["type"])
            if chunk["type"] == "content_block_delta":
                res["text"] += chunk["delta"].get("text", "")
            elif chunk["type"] == "message_start":
                res["usage"] = {
                    "input_tokens": chunk["message"]["usage"]["input_tokens"]}
            elif chunk["type"] == "message_delta":
                res["stopReason"] = chunk["delta"].get("stop_reason")
                res.setdefault("usage", {})["output_tokens"] = \
                    chunk.get("usage", {}).get("output_tokens")

    else:
        raise ValueError("unknown operation " + op)

    res["attempts"] = r["ResponseMetadata"].get("RetryAttempts", 0) + 1
    return res


def main():
    a = json.load(sys.stdin)
    try:
        res = run(a)
    except botocore.exceptions.ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        res = {"ok": False, "error": {
            "name": e.response.get("Error", {}).get("Code"),
            "message": e.response.get("Error", {}).get("Message"),
            "status": meta.get("HTTPStatusCode"),
            "attempts": meta.get("RetryAttempts", 0) + 1}}
    except botocore.exceptions.BotoCoreError as e:
        res = {"ok": False, "error": {"name": type(e).__name__,
                                      "message": str(e)}}
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


main()
