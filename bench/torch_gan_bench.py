#!/usr/bin/python3
"""PyTorch counterpart of `minimax bench`: the same models, batch, optimizers and iteration.

One iteration is the GAN paper's Algorithm 1 with k = 1: a D step on a real batch and a batch from G
under no-grad, then a G step on fresh noise, optimizer steps included.
  mlp:   the paper's MNIST model (G 100-1200-1200-784, D maxout 240x5 twice with dropout), batch 100,
         SGD lr 0.1 momentum 0.5
  dcgan: the DCGAN of models/gan/models.h, batch 64, Adam 2e-4, betas (0.5, 0.999)
Usage: torch_gan_bench.py --model mlp|dcgan [--threads T] [--seconds S]
The last line printed is one JSON object, as minimax's.
"""
import argparse
import json
import time

import torch

from torch_models import dcgan28, gan_iteration, paper_mlp, paper_noise


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=["mlp", "dcgan"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.model == "mlp":
        (g, d), noise, batch = paper_mlp(), paper_noise, 100
        real = torch.rand(batch, 784)
        g_opt = torch.optim.SGD(g.parameters(), lr=0.1, momentum=0.5)
        d_opt = torch.optim.SGD(d.parameters(), lr=0.1, momentum=0.5)
    else:
        (g, d), noise, batch = dcgan28(), lambda n: torch.randn(n, 100), 64
        real = torch.rand(batch, 1, 28, 28) * 2 - 1
        g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def iteration():
        gan_iteration(g, d, g_opt, d_opt, noise, real, batch)

    for _ in range(5):
        iteration()
    iterations, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds or iterations < 5:
        iteration()
        iterations += 1
    elapsed = time.perf_counter() - start
    its = iterations / elapsed
    print(f"torch {args.model}: {iterations} iterations in {elapsed:.2f} s with {args.threads} thread(s): "
          f"{its:.2f} it/s, {1000 / its:.2f} ms/iter")
    print(json.dumps({"model": args.model, "batch": batch, "threads": args.threads,
                      "iters_per_s": its, "ms_per_iter": 1000 / its}))


if __name__ == "__main__":
    main()
