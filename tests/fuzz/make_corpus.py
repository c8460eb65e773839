#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora, tests/fuzz/corpus/<target>/: small valid files of every
kind each reader takes, and the inputs that once crashed or exhausted a reader (crash-*), kept as
regressions. Run it again after changing a format; libFuzzer starts every run from these files.

    /usr/bin/python3 tests/fuzz/make_corpus.py

Inputs the fuzzers find later are added by hand (tests/fuzz/run.sh prints where they are).
"""
import gzip
import json
import pathlib
import shutil
import struct
import zlib

here = pathlib.Path(__file__).resolve().parent
corpus = here / "corpus"


def write(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


# ---- IDX: big-endian magic 0x000008RR, RR extents, unsigned bytes ----

def idx(dims, data=None):
    header = struct.pack(">I", 0x0800 | len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    n = 1
    for d in dims:
        n *= d
    return header + (bytes(i % 256 for i in range(n)) if data is None else data)


idx_files = {
    "images-2x3x4": idx([2, 3, 4]),
    "images-1x28x28": idx([1, 28, 28], bytes((i * 7) % 256 for i in range(784))),
    "labels-5": idx([5]),
    "rank2-3x2": idx([3, 2]),
    "rank4-1x2x2x2": idx([1, 2, 2, 2]),
    "huge-extents": idx([0xFFFFFFFF] * 3, b""),
}
for name, data in idx_files.items():
    write("fuzz_idx", name, data)
    # fuzz_idx_gzip: an even first byte asks the target to compress the rest itself, an odd one
    # takes the rest as a gzip file.
    write("fuzz_idx_gzip", name + "-compressed-by-target", b"\x00" + data)
    write("fuzz_idx_gzip", name + ".gz", b"\x01" + gzip.compress(data, mtime=0))
# A header that promises far more than deflate can expand the file to.
write("fuzz_idx_gzip", "liar-2000x1000x1000.gz", b"\x01" + gzip.compress(idx([2000, 1000, 1000], b""), mtime=0))

# ---- CIFAR-10: records of a label byte (0 to 9) and 3072 image bytes ----

def cifar_record(label, r):
    return bytes([label]) + bytes((r + 3 * i) % 256 for i in range(3072))


write("fuzz_cifar", "one-record", cifar_record(3, 0))
write("fuzz_cifar", "two-records", cifar_record(0, 0) + cifar_record(9, 1))

# ---- .npy: the arrays numpy saved for tests/test_png_npy.cpp, and a version 2.0 header ----

for f in sorted((here.parent / "data" / "npy").glob("*.npy")):
    write("fuzz_npy", f.name, f.read_bytes())
v2_dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n"
write("fuzz_npy", "version2.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", len(v2_dict)) + v2_dict + bytes(8))

# ---- checkpoints: "MMXCKPT1", version u32, payload length u64, payload, CRC-32 u32 ----

def name(s):
    return struct.pack("<I", len(s)) + s.encode()


def payload(tensors=(), words=(), strings=()):
    out = struct.pack("<Q", len(tensors))
    for n, shape, values in tensors:
        out += name(n) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<q", d) for d in shape)
        out += b"".join(struct.pack("<f", v) for v in values)
    out += struct.pack("<Q", len(words))
    for n, values in words:
        out += name(n) + struct.pack("<Q", len(values)) + b"".join(struct.pack("<Q", v) for v in values)
    out += struct.pack("<Q", len(strings))
    for n, s in strings:
        out += name(n) + struct.pack("<Q", len(s)) + s.encode()
    return out


def checkpoint(p):
    return b"MMXCKPT1" + struct.pack("<IQ", 1, len(p)) + p + struct.pack("<I", zlib.crc32(p))


config = {"batch": 512, "checkpoint_every": 1000, "data": "ring8", "k": 1, "log_every": 100,
          "loss": "nonsaturating", "lr": 0.001, "lr_decay_start": 0.3, "model": "mixture-mlp",
          "optimizer": "adam", "r1": 0.0, "sample_every": 1000, "seed": 1, "steps": 15000,
          "threads": 1}
payloads = {
    "small": payload(
        tensors=[("G/body.0.weight", [2, 3], [0.5, -1, 2, 0, 3.25, -0.0]), ("scalar", [], [3.5]),
                 ("empty", [0, 3], [])],
        words=[("step", [42]), ("rng", [1, 2, 3, 4]), ("none", [])],
        strings=[("config", json.dumps(config)), ("G_opt/type", "adam")]),
    "empty": payload(),
    # The bugs fuzzing found before these targets existed (issue 17).
    "crash-extents-2to31-squared": payload(tensors=[("w", [1 << 31, 1 << 31], [0.0] * 16)]),
    # A word list that claims 6e18 words (a 52-byte file), and one that claims 2^28 (2 GiB).
    "crash-word-count-6e18": struct.pack("<QQ", 0, 1) + name("") + struct.pack("<Q", 6 * 10**18),
    "crash-word-count-2to28": struct.pack("<QQ", 0, 1) + name("") + struct.pack("<Q", 1 << 28),
    # 2^61 words are 2^64 bytes, which wraps to 0 (found by fuzz_checkpoint_payload in a build
    # that checked the byte count alone).
    "crash-word-count-wraps": struct.pack("<QQ", 0, 1) + name("") + struct.pack("<Q", 1 << 61),
}
for n, p in payloads.items():
    write("fuzz_checkpoint", n + ".ckpt", checkpoint(p))
    write("fuzz_checkpoint_payload", n, p)
# Magic, version 1, and a payload length of 2^64 - 4: header + length + checksum wraps to 20.
write("fuzz_checkpoint", "crash-length-wraps.ckpt", b"MMXCKPT1" + struct.pack("<IQ", 1, 2**64 - 4))

# ---- the run's configuration, as train writes config.json and stores it in checkpoints ----

images = dict(config, batch=100, checkpoint_every=500, data="fashion-mnist", log_every=50,
              lr=0.0002, lr_decay_start=1.0, model="mlp", sample_every=500, steps=3000)
cifar = dict(images, batch=64, data="cifar10:/data/cifar-10-batches-bin", model="dcgan", steps=5000)
write("fuzz_config", "ring8.json", json.dumps(config).encode())
write("fuzz_config", "fashion-mnist.json", (json.dumps(images, indent=2) + "\n").encode())
write("fuzz_config", "cifar10.json", json.dumps(cifar).encode())
old = {k: v for k, v in images.items() if k not in ("r1", "lr_decay_start")}
write("fuzz_config", "before-r1-and-decay.json", json.dumps(old).encode())
# nlohmann converted a float to int by an undefined cast (found by fuzz_config).
write("fuzz_config", "crash-k-float.json", json.dumps(dict(config, k=1e300)).encode())
