"""The PyTorch side of every comparison in bench/: minimax's bundled models and its training
iteration, written once for torch_gan_bench.py (speed) and torch_paper_gan.py (Parzen quality)."""
import math

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
    """The paper's MNIST model (models/gan/models.cpp, paper_mnist_mlp), PyTorch's default init:
    G 100-1200-1200-784, ReLU, sigmoid out; D dropout 0.2, maxout 240x5, dropout 0.5, maxout
    240x5, dropout 0.5, linear 1 (logit)."""
    g = nn.Sequential(nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                      nn.Linear(1200, 784), nn.Sigmoid())
    d = nn.Sequential(nn.Dropout(0.2), Maxout(784, 240, 5), nn.Dropout(0.5), Maxout(240, 240, 5),
                      nn.Dropout(0.5), nn.Linear(240, 1))
    return g, d


def paper_init(g, d, pixel_means):
    """The paper's initialization, as paper_mnist_mlp does it: G's weights and biases
    U(-0.05, 0.05) and its output bias logit(pixel mean); all of D's U(-0.005, 0.005)."""
    with torch.no_grad():
        for p in g.parameters():
            p.uniform_(-0.05, 0.05)
        for p in d.parameters():
            p.uniform_(-0.005, 0.005)
        p = pixel_means.clamp(1e-3, 1 - 1e-3)
        g[4].bias.copy_(torch.log(p / (1 - p)))


def paper_noise(n):
    """z ~ U[-sqrt(3), sqrt(3)]^100."""
    return torch.empty(n, 100).uniform_(-math.sqrt(3), math.sqrt(3))


class Unflatten(nn.Module):
    def forward(self, z):
        return z.view(z.shape[0], z.shape[1], 1, 1)


def dcgan28():
    """The DCGAN of models/gan/models.h (dcgan28); z ~ N(0, 1)^100."""
    g = nn.Sequential(Unflatten(),
                      nn.ConvTranspose2d(100, 256, 4, bias=False), nn.BatchNorm2d(256), nn.ReLU(),
                      nn.ConvTranspose2d(256, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
                      nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),
                      nn.Conv2d(256, 1, 3, bias=False), nn.Flatten())
    return g, d


def gan_iteration(g, d, g_opt, d_opt, noise, real, batch):
    """One iteration of the paper's Algorithm 1 with k = 1, as minimax's gan::Trainer runs it with
    the non-saturating loss: a D step on `real` and a batch from G under no-grad, then a G step on
    fresh noise. Returns (d_loss, g_loss)."""
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
    return d_loss, g_loss


def gradient_penalty(d, real, fake):
    """WGAN-GP's penalty as minimax's gan::gradient_penalty computes it: E[(||grad D(x_hat)|| - 1)^2]
    at x_hat = eps real + (1 - eps) fake, eps ~ U(0, 1) per sample, the norm sqrt(s + 1e-12)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)))
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_()
    (gx,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
    norm = torch.sqrt(gx.flatten(1).square().sum(1) + 1e-12)
    return (norm - 1).square().mean()


def wgan_gp_iteration(g, d, g_opt, d_opt, noise, real, batch, k=5, weight=10.0):
    """One iteration of Gulrajani et al.'s Algorithm 1 as minimax's gan::Trainer runs the wgan-gp
    loss: k critic steps (D(fake) - D(real) plus the penalty), then a G step on -D(G(z))."""
    for _ in range(k):
        with torch.no_grad():
            fake = g(noise(batch))
        d_opt.zero_grad()
        d_loss = d(fake).mean() - d(real).mean() + weight * gradient_penalty(d, real, fake)
        d_loss.backward()
        d_opt.step()
    g_opt.zero_grad()
    g_loss = -d(g(noise(batch))).mean()
    g_loss.backward()
    g_opt.step()
    return d_loss, g_loss
