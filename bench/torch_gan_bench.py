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
import torch.nn as nn
import torch.nn.functional as F


class Maxout(nn.Module):
    def __init__(self, fan_in, units, pieces):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(fan_in, units * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(2)


def paper_mlp():
    g = nn.Sequential(nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                      nn.Linear(1200, 784), nn.Sigmoid())
    d = nn.Sequential(nn.Dropout(0.2), Maxout(784, 240, 5), nn.Dropout(0.5), Maxout(240, 240, 5),
                      nn.Dropout(0.5), nn.Linear(240, 1))
    noise = lambda n: torch.empty(n, 100).uniform_(-3 ** 0.5, 3 ** 0.5)
    return g, d, noise, torch.rand(100, 784), 100


class Unflatten(nn.Module):
    def forward(self, z):
        return z.view(z.shape[0], z.shape[1], 1, 1)


def dcgan28():
    g = nn.Sequential(Unflatten(),
                      nn.ConvTranspose2d(100, 256, 4, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
                      nn.ConvTranspose2d(256, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
                      nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
                      nn.Conv2d(256, 1, 3, bias=False), nn.Flatten())
    noise = lambda n: torch.randn(n, 100)
    return g, d, noise, torch.rand(64, 1, 28, 28) * 2 - 1, 64


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=["mlp", "dcgan"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    g, d, noise, real, batch = paper_mlp() if args.model == "mlp" else dcgan28()
    if args.model == "mlp":
        g_opt = torch.optim.SGD(g.parameters(), lr=0.1, momentum=0.5)
        d_opt = torch.optim.SGD(d.parameters(), lr=0.1, momentum=0.5)
    else:
        g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def iteration():
        with torch.no_grad():
            fake = g(noise(batch))
        d_opt.zero_grad()
        d_loss = -(F.logsigmoid(d(real)).mean() + F.logsigmoid(-d(fake)).mean())
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad()
        g_loss = -F.logsigmoid(d(g(noise(batch)))).mean()
        g_loss.backward()
        g_opt.step()

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
