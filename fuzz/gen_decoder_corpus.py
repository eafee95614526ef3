#!/usr/bin/env python3
"""Regenerates corpus/{json_value,cbor_value,blip_message}/ for the decoder fuzz targets from
../../shared/vectors/litecore-3.0 (the JSON bodies and the messages LiteCore sent), plus
hand-made cases; files named err-* must be refused by the decoder. corpus/rev_tree/ is written
by `cargo test -p ferry-engine --test decoder_fuzz_corpus -- --ignored` (Ferry's own encoding).
"""
import hashlib, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "..", "shared", "vectors", "litecore-3.0")
SCENARIOS = ["push-3", "pull-2", "pushpull-edits", "delta", "blob", "big", "continuous"]


def cbor(v):
    """Deterministic CBOR (RFC 8949 core) of a JSON value."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | info]) + struct.pack(fmt, n)
    if v is None:
        return b"\xf6"
    if v is True:
        return b"\xf5"
    if v is False:
        return b"\xf4"
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float):
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return head(3, len(b)) + b
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(cbor(x) for x in v)
    items = sorted((cbor(k), cbor(x)) for k, x in v.items())
    return head(5, len(items)) + b"".join(k + x for k, x in items)


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def message(props, body):
    block = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in props.items())
    return varint(len(block)) + block + body


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    for target in ("json_value", "cbor_value", "blip_message"):
        d = os.path.join(HERE, "corpus", target)
        if os.path.isdir(d):
            for name in os.listdir(d):
                os.remove(os.path.join(d, name))
    bodies, messages = {}, {}
    for scenario in SCENARIOS:
        with open(os.path.join(VECTORS, scenario + ".messages.json")) as f:
            for m in json.load(f):
                body = m["body"]
                raw = bytes.fromhex(body["hex"]) if isinstance(body, dict) and "hex" in body and len(body) == 1 else json.dumps(body, separators=(",", ":")).encode()
                if isinstance(body, dict) and not ("hex" in body and len(body) == 1):
                    bodies.setdefault(hashlib.sha1(raw).hexdigest()[:12], body)
                data = message(m["properties"], raw)
                messages.setdefault(hashlib.sha1(data).hexdigest()[:12], data)
    for key, body in sorted(bodies.items())[:40]:
        write("json_value", "litecore-" + key, json.dumps(body, separators=(",", ":")).encode())
        write("cbor_value", "litecore-" + key, cbor(body))
    hand = {
        "nested": {"a": [[[{"b": [1, 2.5, -3, True, False, None]}]]]},
        "unicode": {"k\u00e9y": "\u00e7a va \U0001F600", "esc": "\"\\/\b\f\n\r\t\u0001"},
        "numbers": {"max": 9223372036854775807, "min": -9223372036854775808, "f": 1.5e300, "z": -0.0},
        "empty": {},
    }
    write("json_value", "duplicate-key", b'{"a":1,"a":2}')  # accepted: the last one wins
    for name, v in hand.items():
        write("json_value", name, json.dumps(v, ensure_ascii=False).encode())
        write("cbor_value", name, cbor(v))
    for name, data in {
        "err-truncated": b'{"a":[1,2',
        "err-trailing": b'{"a":1} x',
        "err-deep": b"[" * 100000 + b"]" * 100000,
        "err-bad-escape": b'{"a":"\\x"}',
    }.items():
        write("json_value", name, data)
    for name, data in {
        "err-truncated": cbor({"a": [1, 2]})[:-1],
        "err-indefinite-deep": b"\x9f" * 100000,
        "err-reserved": b"\x1c",
        "err-trailing": cbor({}) + b"\x00",
    }.items():
        write("cbor_value", name, data)
    for key, data in sorted(messages.items())[:40]:
        write("blip_message", "litecore-" + key, data)
    for name, data in {
        "err-no-nul": varint(3) + b"abc",
        "err-too-long": varint(50) + b"a\0b\0",
        "err-unpaired": varint(2) + b"a\0",
        "err-huge": varint(1 << 40),
    }.items():
        write("blip_message", name, data)


if __name__ == "__main__":
    main()
