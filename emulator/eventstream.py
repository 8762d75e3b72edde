"""Encoder of application/vnd.amazon.eventstream messages.

A message is
    total_len u32 | headers_len u32 | prelude_crc u32      (the prelude)
    headers | payload | message_crc u32
with big-endian integers, prelude_crc = CRC32 of the first 8 bytes and
message_crc = CRC32 of everything before it (zlib's CRC32).  A header is
name_len u8, name, type u8, value; Bedrock only sends strings (type 7:
u16 length then UTF-8).  The other types are encoded too, so that tests
can build any frame a decoder must accept.
"""

import struct
import zlib

TRUE, FALSE, BYTE, SHORT, INT, LONG, BYTES, STRING, TIMESTAMP, UUID = range(10)


def _header(name, value):
    raw_name = name.encode("utf-8")
    if len(raw_name) > 255:
        raise ValueError("header name too long: %r" % name)
    out = bytes([len(raw_name)]) + raw_name
    if value is True:
        return out + bytes([TRUE])
    if value is False:
        return out + bytes([FALSE])
    if isinstance(value, tuple):
        kind, v = value
        if kind == BYTE:
            return out + struct.pack(">Bb", BYTE, v)
        if kind == SHORT:
            return out + struct.pack(">Bh", SHORT, v)
        if kind == INT:
            return out + struct.pack(">Bi", INT, v)
        if kind in (LONG, TIMESTAMP):
            return out + struct.pack(">Bq", kind, v)
        if kind == UUID:
            if len(v) != 16:
                raise ValueError("uuid header needs 16 bytes")
            return out + bytes([UUID]) + v
        raise ValueError("unknown header type %r" % kind)
    if isinstance(value, bytes):
        return out + struct.pack(">BH", BYTES, len(value)) + value
    raw = str(value).encode("utf-8")
    return out + struct.pack(">BH", STRING, len(raw)) + raw


def encode(headers, payload):
    """One message from (name, value) header pairs and payload bytes."""
    hb = b"".join(_header(n, v) for n, v in headers)
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    msg = head + hb + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def event(event_type, payload, content_type="application/json"):
    """A normal event (`:message-type: event`), Bedrock's header order."""
    return encode([(":event-type", event_type),
                   (":content-type", content_type),
                   (":message-type", "event")], payload)


def exception(exception_type, payload, content_type="application/json"):
    """A modelled exception inside a 200 stream."""
    return encode([(":exception-type", exception_type),
                   (":content-type", content_type),
                   (":message-type", "exception")], payload)


def decode(data):
    """Splits bytes into (headers dict, payload) messages, checking both
    CRCs; raises ValueError on any inconsistency.  Used by the emulator's
    own tests next to botocore's decoder, and handy for debugging."""
    out = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 16:
            raise ValueError("truncated prelude at %d" % pos)
        total, hlen, pcrc = struct.unpack_from(">III", data, pos)
        if zlib.crc32(data[pos:pos + 8]) != pcrc:
            raise ValueError("prelude CRC mismatch at %d" % pos)
        if total < 16 + hlen or pos + total > len(data):
            raise ValueError("bad lengths at %d" % pos)
        (mcrc,) = struct.unpack_from(">I", data, pos + total - 4)
        if zlib.crc32(data[pos:pos + total - 4]) != mcrc:
            raise ValueError("message CRC mismatch at %d" % pos)
        headers = {}
        h = pos + 12
        end = h + hlen
        while h < end:
            nlen = data[h]
            name = data[h + 1:h + 1 + nlen].decode("utf-8")
            h += 1 + nlen
            kind = data[h]
            h += 1
            if kind in (TRUE, FALSE):
                value = kind == TRUE
            elif kind == BYTE:
                (value,) = struct.unpack_from(">b", data, h)
                h += 1
            elif kind == SHORT:
                (value,) = struct.unpack_from(">h", data, h)
                h += 2
            elif kind == INT:
                (value,) = struct.unpack_from(">i", data, h)
                h += 4
            elif kind in (LONG, TIMESTAMP):
                (value,) = struct.unpack_from(">q", data, h)
                h += 8
            elif kind in (BYTES, STRING):
                (vlen,) = struct.unpack_from(">H", data, h)
                value = data[h + 2:h + 2 + vlen]
                if kind == STRING:
                    value = value.decode("utf-8")
                h += 2 + vlen
            elif kind == UUID:
                value = data[h:h + 16]
                h += 16
            else:
                raise ValueError("unknown header type %d" % kind)
            headers[name] = value
        out.append((headers, data[end:pos + total - 4]))
        pos += total
    return out
