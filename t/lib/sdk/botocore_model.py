#!/usr/bin/python3
# Writes botocore's service model of bedrock-runtime (service-2.json) from
# the copy of the same AWS model that the AWS SDK for JavaScript v2 ships
# in its npm package (apis/bedrock-runtime-2023-09-30.min.json).
#
# Debian 12's botocore (1.29) predates Bedrock, and PyPI is not reachable
# from the build machines, so this is how the tests run an unmodified
# boto3 against the gateway: botocore loads extra models from
# AWS_DATA_PATH/<service>/<api-version>/service-2.json.
#
# The v2 copy is the same model in a compact form: shapes used once are
# written inline where they are used, shared ones are named S1, S2...,
# "type": "string" and "method": "POST" are left out.  This names every
# inline shape and puts the defaults back.
#
#   botocore_model.py SRC.min.json OUT/service-2.json

import json
import sys

# the traits botocore reads on a member reference; the others belong to
# the shape
MEMBER_TRAITS = {"location", "locationName", "eventpayload", "eventheader",
                 "jsonvalue", "hostLabel", "idempotencyToken",
                 "queryName", "xmlNamespace", "contextParam"}


class Converter:

    def __init__(self, src):
        self.src = src
        self.shapes = {}

    def name(self, hint):
        hint = hint[:1].upper() + hint[1:]
        name, n = hint, 2
        while name in self.shapes or name in self.src["shapes"]:
            name, n = "%s%d" % (hint, n), n + 1
        return name

    def shape(self, shape, hint):
        """A shape body with every nested inline shape named."""
        out = dict(shape)
        out.setdefault("type", "string")

        if "members" in out:
            out["members"] = {m: self.ref(v, hint + m[:1].upper() + m[1:])
                              for m, v in out["members"].items()}
        for part in ("member", "key", "value"):
            if part in out:
                out[part] = self.ref(out[part], hint + part.capitalize())
        return out

    def ref(self, member, hint):
        """A member reference: {"shape": NAME} and the member's traits."""
        traits = {k: v for k, v in member.items() if k in MEMBER_TRAITS}
        body = {k: v for k, v in member.items() if k not in MEMBER_TRAITS}

        if "shape" in body:
            traits["shape"] = body["shape"]
            return traits

        name = self.name(hint)
        self.shapes[name] = None
        self.shapes[name] = self.shape(body, name)
        traits["shape"] = name
        return traits

    def run(self):
        for name, body in self.src["shapes"].items():
            self.shapes[name] = self.shape(body, name)

        operations = {}
        for op, spec in self.src["operations"].items():
            out = {"name": op, "http": dict(spec["http"])}
            out["http"].setdefault("method", "POST")
            for part, suffix in (("input", "Request"), ("output", "Response")):
                if part in spec:
                    out[part] = self.ref(spec[part], op + suffix)
            if "errors" in spec:
                out["errors"] = [self.ref(e, op + "Error")
                                 for e in spec["errors"]]
            operations[op] = out

        return {"version": "2.0", "metadata": self.src["metadata"],
                "operations": operations, "shapes": self.shapes}


def main():
    with open(sys.argv[1]) as f:
        src = json.load(f)
    model = Converter(src).run()
    with open(sys.argv[2], "w") as f:
        json.dump(model, f, indent=1, sort_keys=True)


main()
