#!/usr/bin/env python3
"""Writes a CIFAR-10-format directory of synthetic images (no CIFAR-10 files are on the build
machines): data_batch_1.bin .. data_batch_5.bin and test_batch.bin, each record one label byte and
a 32x32 RGB image in planes (red, green, blue). An image is a disc (even labels) or a square (odd
labels) of one random color on a background of another. Standard library only.

    python3 docs/synthetic_cifar10.py DIR [records per file, default 1000]
"""
import os
import random
import sys


def image(rng, label):
    background = [rng.randrange(256) for _ in range(3)]
    shape = [rng.randrange(256) for _ in range(3)]
    cx, cy, r = rng.uniform(9, 23), rng.uniform(9, 23), rng.uniform(4, 9)
    planes = [bytearray(1024) for _ in range(3)]
    for y in range(32):
        for x in range(32):
            if label % 2 == 0:
                inside = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r
            else:
                inside = abs(x + 0.5 - cx) <= r and abs(y + 0.5 - cy) <= r
            color = shape if inside else background
            for c in range(3):
                planes[c][y * 32 + x] = color[c]
    return bytes(planes[0] + planes[1] + planes[2])


def write_batch(path, rng, records):
    with open(path, "wb") as f:
        for _ in range(records):
            label = rng.randrange(10)
            f.write(bytes([label]) + image(rng, label))


def main():
    out = sys.argv[1]
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    os.makedirs(out, exist_ok=True)
    rng = random.Random(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        write_batch(os.path.join(out, name), rng, records)


if __name__ == "__main__":
    main()
