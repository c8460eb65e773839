#!/usr/bin/python3
"""Writes tests/data/gan_reference.json: PyTorch's dropout given minimax's mask, and PyTorch's WGAN-GP
and R1 penalties through minimax's bundled critics with the penalty's gradient for every critic
parameter (tests/test_gan_reference.cpp).

Run with Debian's PyTorch (python3-torch, 1.13):  /usr/bin/python3 tests/reference/make_gan_reference.py

The critics are minimax's builders (models/gan/models.cpp), written again here with functional
PyTorch ops: dcgan28's and dcgan32_rgb's D (convolutions, batch norm in training mode, leaky ReLU
0.2) and the GAN paper's maxout D with dropout 0.2 / 0.5 / 0.5.

Both sides draw the same numbers from minimax's Generator (xoshiro256** seeded by splitmix64,
autograd/random.h), ported below with integer arithmetic, so nothing large is stored:
  - parameters, in minimax's named_parameters() order, from Generator(param_seed): element =
    offset + (2u - 1) * scale, u = uniform(), scale a power of two, so the float32 value is exact
    on both sides;
  - the real and the fake batch, from the same generator after the parameters, 2u - 1 each;
  - WGAN-GP's per-sample eps: gan::gradient_penalty's own draw, uniform() of Generator(eps_seed);
  - dropout masks: what minimax's dropout draws from the default generator seeded with
    dropout_seed, one layer after another: one next_u64() keys each layer's counter-based
    stream, element i keeps when keyed_uniform(key, i) >= p, kept elements scaled by 1/(1 - p)
    in float32.
PyTorch computes in float64 on those float32 values, so the C++ test measures minimax's float32
rounding only.

A DCGAN critic's gradients have up to 524,288 elements, so the fixture holds, for each parameter,
what pins it down compactly: its norm, PROJECTIONS inner products with pseudo-random sign vectors
(sign_vector below, mirrored in the test), and the values at SAMPLED indices (all of them for a
parameter of at most FULL elements).

Dropout: x and w (the output weighting) are 2u - 1 from Generator(seed), the mask is what
minimax's dropout(x, p, true, Generator(seed + 1)) draws, and PyTorch 1.13's CPU dropout given
that mask is x * (bernoulli.div_(1 - p)) in float32: the output, the gradient w * noise of
sum(w * y), and the gradient v * noise of <v, that gradient> with respect to w (second order).

Format (format_version 1): {"format_version",
 "dropout": [{"name", "p", "shape", "seed", "output", "grad", "second_order"}],
 "cases": [{
  "name", "critic": "dcgan28" | "dcgan32_rgb" | "paper_mlp", "penalty": "wgan_gp" | "r1",
  "gamma" (r1), "batch", "sample_shape", "param_seed", "eps_seed", "dropout_seed",
  "dropout_p": [p per dropout layer, in order],
  "scales": [{"name", "shape", "offset", "scale"}],  the parameters as drawn
  "eps": [...], "masks": [[...] per dropout layer],   to check the draws agree
  "value": the penalty,
  "grads": [{"name", "norm", "projections": [...], "indices": [...], "values": [...]}]}]}
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F

FORMAT_VERSION = 1
PROJECTIONS = 8
SAMPLED = 64
FULL = 512
MASK64 = (1 << 64) - 1


class Generator:
    """minimax::Generator: xoshiro256** seeded with four splitmix64 outputs."""

    def __init__(self, seed):
        self.s = []
        x = seed
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def _rotl(v, k):
        return ((v << k) | (v >> (64 - k))) & MASK64

    def next_u64(self):
        s = self.s
        result = (self._rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def uniform(self, n):
        """n draws of uniform(): the top 24 bits times 2^-24, exact in float32."""
        return np.array([(self.next_u64() >> 40) for _ in range(n)], dtype=np.float64) * 2.0**-24


def splitmix64_mix(z):
    """splitmix64's output mix of a numpy uint64 array (autograd/random.h, splitmix64_mix)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def keyed_uniform(key, n):
    """keyed_uniform(key, i) for i < n: splitmix64's mix of key + (i + 1) * its increment, top 24
    bits times 2^-24."""
    with np.errstate(over="ignore"):
        counter = np.arange(n, dtype=np.uint64) + np.uint64(1)
        z = splitmix64_mix(np.uint64(key) + counter * np.uint64(0x9E3779B97F4A7C15))
    return (z >> np.uint64(40)).astype(np.float64) * 2.0**-24


def dropout_uniform(gen, n):
    """The n uniforms minimax's dropout compares with p: one stream keyed by a draw from gen."""
    return keyed_uniform(gen.next_u64(), n)


def sign_vector(param, k, n):
    """+-1 per element from a splitmix64-style hash of (param, k, i); the test computes the same."""
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) + np.uint64(((param << 40) + (k << 32)) & MASK64)
        z = splitmix64_mix(z * np.uint64(0x9E3779B97F4A7C15))
    return np.where((z >> np.uint64(63)) == 1, -1.0, 1.0)


# ---- the critics: (name, shape, offset, scale) per parameter in minimax's order, and forward ----

def dcgan_params(channels, last_kernel):
    w = 2.0**-5
    return [("0.weight", (64, channels, 4, 4), 0.0, w), ("2.weight", (128, 64, 4, 4), 0.0, w),
            ("3.weight", (128,), 1.0, 2.0**-4), ("3.bias", (128,), 0.0, 2.0**-4),
            ("5.weight", (256, 128, 4, 4), 0.0, w), ("6.weight", (256,), 1.0, 2.0**-4),
            ("6.bias", (256,), 0.0, 2.0**-4), ("8.weight", (1, 256, last_kernel, last_kernel), 0.0, w)]


def dcgan_forward(p, x, masks):
    bn = lambda h, wgt, b: F.batch_norm(h, None, None, wgt, b, training=True, eps=1e-5)
    h = F.leaky_relu(F.conv2d(x, p["0.weight"], stride=2, padding=1), 0.2)
    h = F.leaky_relu(bn(F.conv2d(h, p["2.weight"], stride=2, padding=1), p["3.weight"], p["3.bias"]), 0.2)
    h = F.leaky_relu(bn(F.conv2d(h, p["5.weight"], stride=2, padding=1), p["6.weight"], p["6.bias"]), 0.2)
    return F.conv2d(h, p["8.weight"]).flatten(1)


PAPER_DROPOUT = [0.2, 0.5, 0.5]


def paper_params():
    return [("1.linear.weight", (1200, 784), 0.0, 2.0**-6), ("1.linear.bias", (1200,), 0.0, 2.0**-6),
            ("3.linear.weight", (1200, 240), 0.0, 2.0**-5), ("3.linear.bias", (1200,), 0.0, 2.0**-6),
            ("5.weight", (1, 240), 0.0, 2.0**-4), ("5.bias", (1,), 0.0, 2.0**-4)]


def maxout(h, pieces):
    return h.view(h.shape[0], -1, pieces).max(dim=2).values  # unit j: pieces j*k .. j*k + k - 1


def paper_forward(p, x, masks):
    h = maxout(F.linear(x * masks[0], p["1.linear.weight"], p["1.linear.bias"]), 5)
    h = maxout(F.linear(h * masks[1], p["3.linear.weight"], p["3.linear.bias"]), 5)
    return F.linear(h * masks[2], p["5.weight"], p["5.bias"])


CRITICS = {
    "dcgan28": (lambda: dcgan_params(1, 3), (1, 28, 28), dcgan_forward, []),
    "dcgan32_rgb": (lambda: dcgan_params(3, 4), (3, 32, 32), dcgan_forward, []),
    "paper_mlp": (paper_params, (784,), paper_forward, [784, 240, 240]),
}


def dropout_masks(seed, batch, widths):
    gen = Generator(seed)
    masks = []
    for p, width in zip(PAPER_DROPOUT, widths):
        keep = np.float32(1.0) / (np.float32(1.0) - np.float32(p))
        u = dropout_uniform(gen, batch * width)
        masks.append(np.where(u >= np.float32(p), np.float64(keep), 0.0).reshape(batch, width))
    return masks


def penalty(c, forward, params, real, fake, eps, masks):
    x = eps.view(-1, *[1] * (real.dim() - 1)) * real + (1 - eps.view(-1, *[1] * (real.dim() - 1))) * fake \
        if c["penalty"] == "wgan_gp" else real
    x = x.detach().requires_grad_()
    out = forward(params, x, masks)
    (gx,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    sq = gx.pow(2).flatten(1).sum(1)
    if c["penalty"] == "r1":
        return 0.5 * c["gamma"] * sq.mean()
    return ((torch.sqrt(sq + 1e-12) - 1) ** 2).mean()


def summary(index, name, g):
    flat = g.detach().flatten().numpy()
    n = flat.size
    if n <= FULL:
        idx = np.arange(n)
    else:
        largest = np.argsort(-np.abs(flat), kind="stable")[: SAMPLED // 2]
        idx = np.unique(np.concatenate([largest, np.linspace(0, n - 1, SAMPLED // 2).astype(np.int64)]))
    return {"name": name, "norm": float(np.linalg.norm(flat)),
            "projections": [float(np.dot(sign_vector(index, k, n), flat)) for k in range(PROJECTIONS)],
            "indices": [int(i) for i in idx], "values": [float(flat[i]) for i in idx]}


def make_case(name, critic, kind, batch, seed):
    spec, sample_shape, forward, widths = CRITICS[critic]
    c = {"name": name, "critic": critic, "penalty": kind, "batch": batch,
         "sample_shape": list(sample_shape), "param_seed": seed, "eps_seed": seed + 1,
         "dropout_seed": seed + 2, "dropout_p": PAPER_DROPOUT[: len(widths)]}
    if kind == "r1":
        c["gamma"] = 10.0
    gen = Generator(seed)
    params, scales = {}, []
    for pname, shape, offset, scale in spec():
        u = gen.uniform(int(np.prod(shape)))
        params[pname] = torch.tensor(offset + (2 * u - 1) * scale, dtype=torch.float64).view(shape)
        params[pname].requires_grad_()
        scales.append({"name": pname, "shape": list(shape), "offset": offset, "scale": scale})
    n = batch * int(np.prod(sample_shape))
    real = torch.tensor(2 * gen.uniform(n) - 1).view(batch, *sample_shape)
    fake = torch.tensor(2 * gen.uniform(n) - 1).view(batch, *sample_shape)
    eps = torch.tensor(Generator(seed + 1).uniform(batch))
    masks = [torch.tensor(m) for m in dropout_masks(seed + 2, batch, widths)]
    value = penalty(c, forward, params, real, fake, eps, masks)
    # allow_unused: the output bias of the paper's D does not reach the input gradient at all.
    grads = torch.autograd.grad(value, [params[s["name"]] for s in scales], allow_unused=True)
    grads = [torch.zeros_like(params[s["name"]]) if g is None else g for s, g in zip(scales, grads)]
    c.update({"scales": scales, "eps": eps.tolist(), "masks": [m.flatten().tolist() for m in masks],
              "value": float(value),
              "grads": [summary(i, s["name"], g) for i, (s, g) in enumerate(zip(scales, grads))]})
    return c


def dropout_case(p, shape, seed):
    n = int(np.prod(shape))
    gen = Generator(seed)
    x = torch.tensor(2 * gen.uniform(n) - 1, dtype=torch.float32).view(shape)
    w = torch.tensor(2 * gen.uniform(n) - 1, dtype=torch.float32).view(shape)
    v = torch.tensor(2 * gen.uniform(n) - 1, dtype=torch.float32).view(shape)
    keep = torch.tensor(dropout_uniform(Generator(seed + 1), n) >= np.float32(p)).view(shape)
    noise = keep.to(torch.float32).div_(1 - p)  # as torch.nn.functional.dropout does on the CPU
    x.requires_grad_()
    w.requires_grad_()
    y = x * noise
    (gx,) = torch.autograd.grad((y * w).sum(), x, create_graph=True)
    (gw,) = torch.autograd.grad((gx * v).sum(), w)
    return {"name": f"p = {p}", "p": p, "shape": list(shape), "seed": seed,
            "output": y.flatten().tolist(), "grad": gx.flatten().tolist(),
            "second_order": gw.flatten().tolist()}


def main():
    dropout = [dropout_case(p, (8, 50), 300 + i) for i, p in enumerate((0.2, 0.5, 0.9))]
    cases = []
    for critic, batch in (("dcgan28", 4), ("dcgan32_rgb", 4), ("paper_mlp", 8)):
        for kind, seed in (("wgan_gp", 100), ("r1", 200)):
            cases.append(make_case(f"{critic} {kind}", critic, kind, batch, seed))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "gan_reference.json")
    with open(out, "w") as f:
        json.dump({"format_version": FORMAT_VERSION, "torch_version": torch.__version__,
                   "dropout": dropout, "cases": cases}, f)
        f.write("\n")
    print(f"wrote {len(dropout)} dropout and {len(cases)} penalty cases to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
