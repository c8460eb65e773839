#!/usr/bin/python3
"""Writes the UCI handwritten digits that scikit-learn ships (1,797 digits, 8x8, 17 gray levels)
as MNIST-format IDX files: each digit resized to 20x20 (bilinear) and centred in 28x28, as
MNIST's digits are, scaled to 0-255. MNIST itself is not in Debian's archive; these are a small
stand-in for trying `minimax train --data idx:FILE` on digits (README, "The default run").

    apt-get download python3-sklearn && dpkg -x python3-sklearn_*.deb sk
    /usr/bin/python3 docs/digits_to_idx.py sk/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz OUT

writes OUT/digits-images-idx3-ubyte.gz and OUT/digits-labels-idx1-ubyte.gz, in a fixed shuffled
order (seed 0) so that `minimax classify`'s held-out last 10% holds every digit.
"""
import gzip
import pathlib
import struct
import sys

import numpy as np


def resize_bilinear(images, size):
    """[N, h, w] -> [N, size, size], sampling pixel centres (half-pixel offsets), edges clamped."""
    n, h, w = images.shape
    ys = np.clip((np.arange(size) + 0.5) * h / size - 0.5, 0, h - 1)
    xs = np.clip((np.arange(size) + 0.5) * w / size - 0.5, 0, w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = images[:, y0][:, :, x0] * (1 - fx) + images[:, y0][:, :, x1] * fx
    bottom = images[:, y1][:, :, x0] * (1 - fx) + images[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} DIGITS_CSV_GZ OUT_DIR")
    table = np.loadtxt(sys.argv[1], delimiter=",")
    pixels, labels = table[:, :64].reshape(-1, 8, 8) / 16.0, table[:, 64].astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(labels))
    pixels, labels = pixels[order], labels[order]
    canvas = np.zeros((len(labels), 28, 28))
    canvas[:, 4:24, 4:24] = resize_bilinear(pixels, 20)
    images = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "digits-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(images), 28, 28) + images.tobytes())
    with gzip.open(out / "digits-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, len(labels)) + labels.tobytes())
    print(f"{len(labels)} digits, per class {np.bincount(labels).tolist()}, into {out}")


if __name__ == "__main__":
    main()
