#!/usr/bin/env python3
"""Regenerates corpus/blip_frames/ from ../../shared/vectors/litecore-3.0 (LiteCore 3.0 recordings).

Each file is a sequence of frames, each a big-endian u16 length then the frame (the format of
ferry_engine::blip::fuzz::split_frames): prefixes of one connection+direction of a recording, so
CRCs and deflate streams are valid, plus a few hand-made broken frames.
"""
import json, os, sys, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "..", "shared", "vectors", "litecore-3.0")
OUT = os.path.join(HERE, "corpus", "blip_frames")
SCENARIOS = ["push-3", "pull-2", "pushpull-edits", "delta", "blob", "big", "continuous"]
MAX_FILE = 6000


def join(frames):
    return b"".join(len(f).to_bytes(2, "big") + f for f in frames)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    written = 0
    for scenario in SCENARIOS:
        streams = {}
        with open(os.path.join(VECTORS, scenario + ".frames.jsonl")) as f:
            for line in f:
                if line.strip():
                    v = json.loads(line)
                    streams.setdefault((v["conn"], v["dir"]), []).append(bytes.fromhex(v["hex"]))
        for (conn, direction), frames in sorted(streams.items()):
            # The longest prefix under MAX_FILE bytes, and a one- and three-frame prefix.
            prefix = []
            for f in frames:
                if len(join(prefix + [f])) > MAX_FILE:
                    break
                prefix.append(f)
            for n in sorted({1, 3, len(prefix)}):
                if 0 < n <= len(prefix):
                    path = os.path.join(OUT, f"{scenario}-c{conn}-{direction}-{n}f")
                    with open(path, "wb") as out:
                        out.write(join(prefix[:n]))
                    written += 1
    # Hand-made: broken frames of each kind.
    def data_frame(num, flags, data):
        return bytes([num, flags]) + data + zlib.crc32(data).to_bytes(4, "big")
    extra = {
        "err-truncated-varint": [b"\x81"],
        "err-bad-crc": [b"\x01\x00\x00\x00\x00\x00\x01"],
        "err-bad-deflate": [bytes([1, 0x08, 0xff, 0xfe, 0, 0, 0, 0])],
        "err-missing-nul": [data_frame(1, 0, b"\x03k\x00v")],
        "err-unknown-type": [data_frame(1, 3, b"\x00")],
        "ok-ack-and-reply": [bytes([1, 0x34, 0x10]), data_frame(1, 1, b"\x00hi")],
    }
    for name, frames in extra.items():
        with open(os.path.join(OUT, name), "wb") as out:
            out.write(join(frames))
        written += 1
    print(f"wrote {written} files to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
