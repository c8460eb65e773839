#!/usr/bin/python3
"""Writes tests/data/optim_reference.json: PyTorch's SGD, Adam, AdamW and RMSprop, step by step.

Run with Debian's PyTorch (python3-torch, 1.13):  /usr/bin/python3 tests/reference/make_optim_reference.py

The problem is a small regression MLP, out = linear(tanh(linear(x, w1, b1)), w2, b2), trained on
mse_loss(out, y) with the whole (fixed) batch every step. The data and initial parameters are
float32 values; PyTorch then computes in float64, so the fixture holds the float64 trajectory and the
C++ test (tests/test_optim_reference.cpp) measures only minimax's own float32 rounding.

Format (format_version 1):
  x, y:      {"shape": [...], "data": [...]}                 row-major
  initial:   [{"name", "shape", "data"}, ...]                 the parameters, in optimizer order
  cases:     [{"name", "optimizer": "SGD" | "Adam" | "AdamW" | "RMSprop",
               "options": {lr, momentum, dampening, weight_decay, nesterov} for SGD,
                          {lr, beta1, beta2, eps, weight_decay} for Adam and AdamW,
                          {lr, alpha, eps, weight_decay, momentum, centered} for RMSprop,
               "schedule": null, or {"lr": {initial, factor, floor, values},
                                     "momentum": {from, to, steps, values}}: the GAN paper's
                           exponential lr decay and linear momentum ramp, with the value set
                           before each step,
               "no_grad": [[step, parameter], ...]  gradients dropped before that step's update,
               "losses": [loss before each step],
               "params": [[parameter data after step s, for each parameter] for each step s]}]
"""

import json
import math
import os
import sys

import torch

FORMAT_VERSION = 1
STEPS = 12
BATCH, IN, HIDDEN, OUT = 16, 4, 8, 2


def float32_values(shape, generator, low, high):
    """Uniform values that are exactly representable in float32, as a float64 tensor."""
    t = torch.rand(shape, generator=generator, dtype=torch.float32) * (high - low) + low
    return t.to(torch.float64)


def problem():
    g = torch.Generator().manual_seed(20140610)  # the GAN paper's arXiv date
    x = float32_values((BATCH, IN), g, -1.0, 1.0)
    mix = float32_values((IN, OUT), g, -1.0, 1.0)
    y = torch.sin(2.0 * x @ mix).to(torch.float32).to(torch.float64)
    initial = [
        ("w1", float32_values((HIDDEN, IN), g, -0.5, 0.5)),
        ("b1", float32_values((HIDDEN,), g, -0.1, 0.1)),
        ("w2", float32_values((OUT, HIDDEN), g, -0.5, 0.5)),
        ("b2", float32_values((OUT,), g, -0.1, 0.1)),
    ]
    return x, y, initial


def loss_of(x, y, params):
    w1, b1, w2, b2 = params
    hidden = torch.tanh(torch.nn.functional.linear(x, w1, b1))
    return torch.nn.functional.mse_loss(torch.nn.functional.linear(hidden, w2, b2), y)


def make_optimizer(kind, options, params):
    if kind == "SGD":
        return torch.optim.SGD(params, lr=options["lr"], momentum=options["momentum"],
                               dampening=options["dampening"],
                               weight_decay=options["weight_decay"], nesterov=options["nesterov"])
    if kind == "RMSprop":
        return torch.optim.RMSprop(params, lr=options["lr"], alpha=options["alpha"],
                                   eps=options["eps"], weight_decay=options["weight_decay"],
                                   momentum=options["momentum"], centered=options["centered"])
    cls = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}[kind]
    return cls(params, lr=options["lr"], betas=(options["beta1"], options["beta2"]),
               eps=options["eps"], weight_decay=options["weight_decay"])


def run(case, x, y, initial):
    params = [t.clone().requires_grad_(True) for _, t in initial]
    opt = make_optimizer(case["optimizer"], case["options"], params)
    schedule = case.get("schedule")
    dropped = {(s, p) for s, p in case.get("no_grad", [])}
    losses, trajectory = [], []
    for step in range(STEPS):
        if schedule:
            for group in opt.param_groups:
                group["lr"] = schedule["lr"]["values"][step]
                if "momentum" in schedule:
                    group["momentum"] = schedule["momentum"]["values"][step]
        opt.zero_grad(set_to_none=True)
        loss = loss_of(x, y, params)
        loss.backward()
        for p in range(len(params)):
            if (step, p) in dropped:
                params[p].grad = None  # this parameter sits this step out
        opt.step()
        losses.append(loss.item())
        trajectory.append([p.detach().flatten().tolist() for p in params])
    return {**case, "schedule": schedule, "no_grad": sorted(dropped), "losses": losses,
            "params": trajectory}


def sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return {"lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov}


def adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    return {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}


def rmsprop(lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    return {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
            "momentum": momentum, "centered": centered}


def gan_like_schedule():
    """The paper's schedule shapes, compressed into 12 steps: lr divided by 1.2 per update down to
    0.03, momentum 0.5 rising to 0.7 over 6 updates. The fixture holds both the parameters (for
    minimax's schedules) and the values PyTorch was given at each step."""
    decay = {"initial": 0.1, "factor": 1.2, "floor": 0.03}
    ramp = {"from": 0.5, "to": 0.7, "steps": 6}
    decay["values"] = [max(decay["initial"] / decay["factor"] ** t, decay["floor"])
                       for t in range(STEPS)]
    ramp["values"] = [ramp["from"] + (ramp["to"] - ramp["from"]) * min(t, ramp["steps"]) /
                      ramp["steps"] for t in range(STEPS)]
    return {"lr": decay, "momentum": ramp}


CASES = [
    {"name": "sgd", "optimizer": "SGD", "options": sgd(0.2)},
    {"name": "sgd_weight_decay", "optimizer": "SGD", "options": sgd(0.2, weight_decay=0.05)},
    {"name": "sgd_momentum", "optimizer": "SGD", "options": sgd(0.1, momentum=0.9)},
    {"name": "sgd_momentum_dampening_weight_decay", "optimizer": "SGD",
     "options": sgd(0.1, momentum=0.8, dampening=0.3, weight_decay=0.01)},
    {"name": "sgd_nesterov", "optimizer": "SGD",
     "options": sgd(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)},
    {"name": "sgd_momentum_skipped_steps", "optimizer": "SGD", "options": sgd(0.1, momentum=0.5),
     "no_grad": [[0, 3], [1, 3], [4, 1], [5, 0]]},
    {"name": "sgd_gan_schedule", "optimizer": "SGD", "options": sgd(0.1, momentum=0.5),
     "schedule": gan_like_schedule()},
    {"name": "adam", "optimizer": "Adam", "options": adam(0.01)},
    {"name": "adam_weight_decay", "optimizer": "Adam",
     "options": adam(0.01, beta1=0.5, beta2=0.99, eps=1e-6, weight_decay=0.1)},
    {"name": "adam_skipped_steps", "optimizer": "Adam", "options": adam(0.02, beta1=0.5),
     "no_grad": [[0, 3], [1, 3], [2, 3], [6, 0]]},
    {"name": "adamw", "optimizer": "AdamW", "options": adam(0.01, weight_decay=0.1)},
    {"name": "adamw_gan_betas", "optimizer": "AdamW",
     "options": adam(2e-3, beta1=0.5, beta2=0.999, weight_decay=0.5)},
    {"name": "rmsprop", "optimizer": "RMSprop", "options": rmsprop(0.01)},
    {"name": "rmsprop_wgan", "optimizer": "RMSprop", "options": rmsprop(5e-3, alpha=0.9, eps=1e-6)},
    {"name": "rmsprop_weight_decay_momentum", "optimizer": "RMSprop",
     "options": rmsprop(0.005, weight_decay=0.05, momentum=0.9)},
    {"name": "rmsprop_centered", "optimizer": "RMSprop",
     "options": rmsprop(0.01, alpha=0.95, centered=True)},
    {"name": "rmsprop_centered_momentum_skipped_steps", "optimizer": "RMSprop",
     "options": rmsprop(0.005, momentum=0.5, centered=True, weight_decay=1e-3),
     "no_grad": [[0, 3], [1, 3], [5, 0]]},
]


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.flatten().tolist()}


def main():
    assert torch.__version__.startswith("1.13"), f"expected PyTorch 1.13, got {torch.__version__}"
    torch.set_default_dtype(torch.float64)
    x, y, initial = problem()
    doc = {
        "format_version": FORMAT_VERSION,
        "generator": f"tests/reference/make_optim_reference.py, PyTorch {torch.__version__}",
        "steps": STEPS,
        "x": tensor_json(x),
        "y": tensor_json(y),
        "initial": [{"name": n, **tensor_json(t)} for n, t in initial],
        "cases": [run(case, x, y, initial) for case in CASES],
    }
    for case in doc["cases"]:
        assert all(math.isfinite(l) for l in case["losses"]), case["name"]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                       "optim_reference.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(out)}: {len(doc['cases'])} cases x {STEPS} steps",
          file=sys.stderr)


if __name__ == "__main__":
    main()
