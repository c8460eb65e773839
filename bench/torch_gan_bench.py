#!/usr/bin/python3
"""PyTorch counterpart of `minimax bench`: the same models, batch, optimizers and iteration.

  mlp:             the paper's MNIST model (G 100-1200-1200-784, D maxout 240x5 twice with dropout),
                   batch 100, SGD lr 0.1 momentum 0.5; Algorithm 1 with k = 1 (a D step on a real
                   batch and a batch from G under no-grad, then a G step on fresh noise)
  dcgan:           the DCGAN of models/gan/models.h, batch 64, Adam 2e-4, betas (0.5, 0.999), k = 1
  dcgan --loss wgan-gp: the same networks, k = 5 critic steps each with the gradient penalty
                   (weight 10) per G step, Adam 1e-4, betas (0.5, 0.9)
Usage: torch_gan_bench.py --model mlp|dcgan [--loss wgan-gp] [--threads T] [--seconds S]
The last line printed is one JSON object, as minimax's, with the peak resident memory.
"""
import argparse
import json
import resource
import time

import torch

from torch_models import dcgan28, gan_iteration, paper_mlp, paper_noise, wgan_gp_iteration


def setup(model, loss):
    """(g, d, g_opt, d_opt, noise, real, batch, iteration function) of a bench recipe."""
    if model == "mlp":
        (g, d), noise, batch = paper_mlp(), paper_noise, 100
        real = torch.rand(batch, 784)
        g_opt = torch.optim.SGD(g.parameters(), lr=0.1, momentum=0.5)
        d_opt = torch.optim.SGD(d.parameters(), lr=0.1, momentum=0.5)
        return g, d, g_opt, d_opt, noise, real, batch, gan_iteration
    (g, d), noise, batch = dcgan28(), lambda n: torch.randn(n, 100), 64
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    lr, betas, step = (1e-4, (0.5, 0.9), wgan_gp_iteration) if loss == "wgan-gp" else \
        (2e-4, (0.5, 0.999), gan_iteration)
    g_opt = torch.optim.Adam(g.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(d.parameters(), lr=lr, betas=betas)
    return g, d, g_opt, d_opt, noise, real, batch, step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=["mlp", "dcgan"])
    parser.add_argument("--loss", default="nonsaturating", choices=["nonsaturating", "wgan-gp"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    if args.loss == "wgan-gp" and args.model != "dcgan":
        parser.error("--loss wgan-gp goes with --model dcgan")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    g, d, g_opt, d_opt, noise, real, batch, step = setup(args.model, args.loss)

    def iteration():
        step(g, d, g_opt, d_opt, noise, real, batch)

    for _ in range(5):
        iteration()
    iterations, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds or iterations < 5:
        iteration()
        iterations += 1
    elapsed = time.perf_counter() - start
    its = iterations / elapsed
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"torch {args.model} {args.loss}: {iterations} iterations in {elapsed:.2f} s with "
          f"{args.threads} thread(s): {its:.2f} it/s, {1000 / its:.2f} ms/iter, "
          f"peak resident memory {rss:.0f} MiB")
    print(json.dumps({"model": args.model, "loss": args.loss, "batch": batch,
                      "threads": args.threads, "iters_per_s": its, "ms_per_iter": 1000 / its,
                      "peak_rss_mib": rss}))


if __name__ == "__main__":
    main()
