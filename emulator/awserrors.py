"""Bedrock's error answers: status, x-amzn-ErrorType and the JSON body.

Every error the emulator sends goes through AwsError, so that the shape is
the same everywhere: Content-Type application/json, a compact body
{"message":"..."} (63 bytes for the TPM throttle), and x-amzn-ErrorType
"<Code>:<namespace>".  Errors raised by Bedrock itself carry the bedrock
namespace; errors of the AWS front door (authentication) carry the coral
service namespace, as captured from real answers.
"""

import json

BEDROCK_NS = "http://internal.amazon.com/coral/com.amazon.bedrock/"
CORAL_NS = "http://internal.amazon.com/coral/com.amazon.coral.service/"

TOO_MANY_TOKENS = "Too many tokens, please wait before trying again."
TOO_MANY_REQUESTS = "Too many requests, please wait before trying again."
UNAVAILABLE = "Bedrock is unable to process your request."
INTERNAL = "An internal server error occurred. Retry your request."
MODEL_TIMEOUT = "Processing time exceeded the model timeout length."
NOT_READY = ("The model specified in the request is not ready to serve "
             "inference requests.")
INPUT_TOO_LONG = "Input is too long for requested model."
INVALID_MODEL = "The provided model identifier is invalid."
MISSING_TOKEN = "Missing Authentication Token"
BAD_TOKEN = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult "
    "the service documentation for details.")
BAD_API_KEY = "Authentication failed: Please make sure your API Key is valid."
BAD_API_KEY_FORMAT = ("Invalid API Key format: Must start with pre-defined "
                      "prefix")


def compact_json(obj):
    """JSON as AWS writes it: no spaces, UTF-8."""
    return json.dumps(obj, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


class AwsError(Exception):
    """An error answer.  `extra` adds members to the body (for example
    originalStatusCode); `message_key` is "Message" for the few answers
    that AWS spells with a capital M (API key rejections)."""

    def __init__(self, status, code, message, ns=BEDROCK_NS, extra=None,
                 message_key="message"):
        Exception.__init__(self, "%s: %s" % (code, message))
        self.status = status
        self.code = code
        self.message = message
        self.ns = ns
        self.extra = extra or {}
        self.message_key = message_key

    def error_type(self):
        if self.ns:
            return "%s:%s" % (self.code, self.ns)
        return self.code

    def body(self):
        obj = {self.message_key: self.message}
        obj.update(self.extra)
        return compact_json(obj)

    def payload(self):
        """The body of an exception event in a stream (no namespace)."""
        return self.body()


def throttling(message=TOO_MANY_TOKENS):
    return AwsError(429, "ThrottlingException", message)


def validation(message):
    return AwsError(400, "ValidationException", message)


def malformed(*problems):
    """Bedrock's schema-validation wording for InvokeModel bodies:
    'Malformed input request: #: required key [x] not found#: ...,
    please reformat your input and try again.'"""
    return validation("Malformed input request: %s, please reformat your "
                      "input and try again." % "".join(problems))


def model_not_ready():
    return AwsError(429, "ModelNotReadyException", NOT_READY)


def internal():
    return AwsError(500, "InternalServerException", INTERNAL)


def unavailable():
    return AwsError(503, "ServiceUnavailableException", UNAVAILABLE)


def model_timeout():
    return AwsError(408, "ModelTimeoutException", MODEL_TIMEOUT)


def model_error():
    return AwsError(424, "ModelErrorException",
                    "The model returned an error.",
                    extra={"originalStatusCode": 500,
                           "resourceName": "emulator"})


def unknown_operation():
    return AwsError(404, "UnknownOperationException", "Unknown operation",
                    ns=CORAL_NS)
