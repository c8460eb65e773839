#!/usr/bin/python3
"""The paper's MNIST GAN trained in PyTorch exactly as `minimax train` trains it, scored with the
paper's Parzen-window protocol: the reference for issue 4's quality bar.

Model (models/gan/models.cpp, paper_mnist_mlp): z ~ U[-sqrt(3), sqrt(3)]^100; G 100-1200-1200-784,
ReLU, sigmoid out, weights and biases U(-0.05, 0.05), output bias logit(pixel mean); D dropout 0.2,
maxout 240x5, dropout 0.5, maxout 240x5, dropout 0.5, linear 1 (logit), all U(-0.005, 0.005).
Training (minimax's defaults for image data): non-saturating loss, k = 1, batch 100, Adam 2e-4 with
betas (0.5, 0.999) for both nets, shuffled epochs of full batches.
Parzen (the paper's parzen_ll.py protocol): 10,000 samples; sigma from logspace(-1, 0, 10) by mean
log-likelihood on the first 1,000 test images; mean and standard error on the other 9,000.

Usage:
  torch_paper_gan.py --train IDX.gz --test IDX.gz [--steps 3000] [--seed 1] [--threads 1]
  torch_paper_gan.py --test IDX.gz --score SAMPLES.npy    (scores samples, e.g. from minimax)
Progress goes to stderr; the last line printed on stdout is one JSON object.
"""
import argparse
import gzip
import json
import math
import sys
import time

import numpy as np
import torch

from torch_models import gan_iteration, paper_init, paper_mlp, paper_noise


def load_idx_images(path):
    """[N, 784] float32 in [0, 1] from an IDX3 unsigned-byte file, gzipped or not."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in range(0, 16, 4))
    if magic != 0x803:
        raise SystemExit(f"{path}: not an IDX3 unsigned-byte image file (magic {magic:#x})")
    pixels = np.frombuffer(data, dtype=np.uint8, offset=16, count=n * rows * cols)
    return torch.from_numpy(pixels.reshape(n, rows * cols).astype(np.float32) / 255.0)


def train(images, steps, batch):
    g, d = paper_mlp()
    paper_init(g, d, images.mean(0))
    g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    order, position = torch.randperm(images.shape[0]), 0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        if position + batch > images.shape[0]:
            order, position = torch.randperm(images.shape[0]), 0
        real = images[order[position:position + batch]]
        position += batch
        d_loss, g_loss = gan_iteration(g, d, g_opt, d_opt, paper_noise, real, batch)
        if step % 500 == 0 or step == steps:
            rate = step / (time.perf_counter() - start)
            print(f"step {step}: d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f} "
                  f"({rate:.1f} it/s)", file=sys.stderr, flush=True)
    g.eval()
    return g


def parzen_log_likelihoods(samples, x, sigma, chunk=500):
    """log p(x) under an isotropic Gaussian kernel of width sigma on each sample, per row of x."""
    samples64 = samples.double()
    s_norms = (samples64 ** 2).sum(1)
    dim = samples.shape[1]
    const = math.log(samples.shape[0]) + 0.5 * dim * math.log(2 * math.pi * sigma ** 2)
    out = []
    for rows in x.double().split(chunk):
        d2 = (rows ** 2).sum(1, keepdim=True) + s_norms[None, :] - 2 * rows @ samples64.T
        out.append(torch.logsumexp(-d2.clamp_min(0) / (2 * sigma ** 2), 1) - const)
    return torch.cat(out)


def parzen(samples, held_out):
    validation, test = held_out[:1000], held_out[1000:]
    best = max(np.logspace(-1, 0, 10),
               key=lambda s: parzen_log_likelihoods(samples, validation, s).mean().item())
    ll = parzen_log_likelihoods(samples, test, best)
    return {"mean": ll.mean().item(), "standard_error": (ll.std() / math.sqrt(len(ll))).item(),
            "sigma": float(best), "samples": samples.shape[0], "test_images": len(ll)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", help="training images (IDX3, gzipped or not)")
    parser.add_argument("--test", required=True, help="held-out images for Parzen")
    parser.add_argument("--score", help="score these samples (.npy) instead of training")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    held_out = load_idx_images(args.test)
    if args.score:
        samples = torch.from_numpy(np.load(args.score).astype(np.float32)).reshape(-1, 784)
        result = {"scored": args.score, **parzen(samples, held_out)}
    else:
        if not args.train:
            parser.error("--train is needed unless --score is given")
        g = train(load_idx_images(args.train), args.steps, args.batch)
        with torch.no_grad():
            samples = g(paper_noise(10000))
        result = {"model": "torch paper mlp", "steps": args.steps, "seed": args.seed,
                  **parzen(samples, held_out)}
    print(f"Parzen log-likelihood {result['mean']:.1f} +- {result['standard_error']:.1f} "
          f"(sigma {result['sigma']:.3f})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
