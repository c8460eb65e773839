#!/usr/bin/python3
"""PyTorch's side of bench/compare_quality.sh: the DCGAN recipe of libtorch's example (its model at
28x28, torch_models.dcgan28, PyTorch's default initialization; Adam 2e-4 with betas (0.5, 0.999)
for both nets, batch 64, the non-saturating loss without the example's label smoothing) trained on
Fashion-MNIST's training images, scaled to [-1, 1] as minimax's DCGAN sees them, for a given wall
time of training (loading the data is not counted). Then --n samples of G in eval mode, written
as `minimax eval --samples` reads them: float32 [n, 1, 28, 28] in [0, 1].

Usage: torch_dcgan_quality.py --seconds S --out SAMPLES.npy [--seed 1] [--threads 2] [--n 10000]
Progress goes to stderr; the last line on stdout is one JSON object.
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

from torch_models import dcgan28, gan_iteration
from torch_paper_gan import load_idx_images

TRAIN = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def noise(n):
    return torch.randn(n, 100)


def train(images, seconds, batch=64):
    """Shuffled epochs of full batches until `seconds` of training have passed; returns (G, steps)."""
    g, d = dcgan28()
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    order, position, steps = torch.randperm(images.shape[0]), 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if position + batch > images.shape[0]:
            order, position = torch.randperm(images.shape[0]), 0
        real = images[order[position:position + batch]]
        position += batch
        d_loss, g_loss = gan_iteration(g, d, g_opt, d_opt, noise, real, batch)
        steps += 1
        if steps % 500 == 0:
            print(f"step {steps}: d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f} "
                  f"({steps / (time.perf_counter() - start):.1f} it/s)", file=sys.stderr, flush=True)
    g.eval()
    return g, steps, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, required=True, help="training wall time")
    parser.add_argument("--out", required=True, help="the samples, .npy")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = (load_idx_images(TRAIN) * 2 - 1).view(-1, 1, 28, 28)
    g, steps, seconds = train(images, args.seconds)
    with torch.no_grad():
        samples = torch.cat([(g(noise(500)) + 1) / 2 for _ in range(0, args.n, 500)])[:args.n]
    np.save(args.out, samples.clamp(0, 1).numpy().astype(np.float32))
    print(json.dumps({"model": "torch dcgan28", "seed": args.seed, "threads": args.threads,
                      "steps": steps, "seconds": seconds, "iters_per_s": steps / seconds}))


if __name__ == "__main__":
    main()
