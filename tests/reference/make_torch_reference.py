#!/usr/bin/python3
"""Writes tests/data/torch_reference.json: PyTorch's values and gradients for every minimax op.

Run with Debian's PyTorch (python3-torch, torch 1.13):

    /usr/bin/python3 tests/reference/make_torch_reference.py

The C++ tests (tests/test_torch_reference*.cpp) read the committed JSON and need no PyTorch.

Each case holds
  name, family       -- family picks the doctest TEST_CASE that checks it ("torch: <family>")
  op, options        -- the minimax op and its arguments (dims, keepdim, exponent, stride, ...)
  inputs             -- [{name, shape, values, requires_grad}], float32 values from a per-case seed
  output             -- the forward result
  weight             -- w in L = sum(output * w); absent when the output carries no gradient
  grads              -- dL/dx for each input that requires grad, in input order
  second_order       -- for ops a gradient penalty passes through: v (one per input that requires
                        grad) and grads, d/dx_j of S = sum_i <dL/dx_i, v_i> (create_graph=True);
                        zeros where S does not depend on x_j (e.g. every linear op)
  state, state_after -- batch_norm's running statistics, or a module's buffers, before and after
                        the forward

Family "modules" holds minimax's nn modules against PyTorch's (torch.nn.LayerNorm, ...; SAGAN's
self-attention, which PyTorch lacks, is written out below): the first input is the module's input,
the others its parameters under minimax's names (PyTorch's module uses them as its own), and the
state its buffers (spectral norm's u and v, unit vectors).

Inputs are exact float32 values; PyTorch evaluates in float64 on them and the results are rounded
to float32, so the stored numbers carry no float32 error of PyTorch's own and a test's tolerance
measures minimax's rounding alone.

Value ranges keep every input away from the op's kinks and poles (relu/abs at 0, clamp at its
bounds, log/sqrt/div near 0), where PyTorch and minimax may legitimately pick different
subgradients. Random floats make exact ties in max/maxout/max_pool2d practically impossible.

Not covered: dropout. Its mask comes from minimax's own Generator, which PyTorch cannot reproduce;
tests/test_grad_ops.cpp checks its gradient numerically instead.

Semantics assumed where ops.h leaves a choice open (PyTorch's defaults):
  max (all elements and dims) is torch.amax: tied maxima share the gradient equally.
  maxout(x, k) is x.view(N, units, k).amax(2) (pylearn2 grouping: unit j = max of j*k .. j*k+k-1).
  avg_pool2d counts the zero padding in the divisor (count_include_pad=True), floor mode.
  max_pool2d pads with -inf, floor mode.
  batch_norm's running_var is updated with the unbiased batch variance (N/(N-1)), as PyTorch does;
  normalization uses the biased one.
  Class labels and embedding indices are float inputs holding whole numbers (minimax is float32
  only); PyTorch gets them as int64. They never require grad.
  upsample_bilinear2d is F.interpolate(mode="bilinear", align_corners=False) with an integer
  scale_factor; upsample_nearest2d is mode="nearest".
"""

import json
import pathlib
import zlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).resolve().parent.parent / "data" / "torch_reference.json"
FORMAT_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Inputs


def inp(name, shape, lo=-1.0, hi=1.0, rg=True, intervals=None, choices=None):
    """An input: uniform in [lo, hi), or in one of `intervals` (picked uniformly), or drawn from
    the finite set `choices`. rg: requires grad."""
    return {
        "name": name,
        "shape": list(shape),
        "intervals": intervals or [(lo, hi)],
        "choices": choices,
        "rg": rg,
    }


def signed(name, shape, lo, hi, rg=True):
    """Magnitudes in [lo, hi) with a random sign: both sides of a kink at 0, never near it."""
    return inp(name, shape, rg=rg, intervals=[(-hi, -lo), (lo, hi)])


def draw(spec_shape, intervals, choices, gen):
    shape = tuple(spec_shape)
    if choices is not None:
        idx = torch.randint(len(choices), shape, generator=gen)
        return torch.tensor(choices, dtype=torch.float64)[idx].float()
    which = torch.randint(len(intervals), shape, generator=gen)
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    lo = torch.tensor([a for a, _ in intervals], dtype=torch.float64)[which]
    hi = torch.tensor([b for _, b in intervals], dtype=torch.float64)[which]
    return (lo + u * (hi - lo)).float()


# ---------------------------------------------------------------------------------------------
# The ops, evaluated by PyTorch from (inputs, options); the C++ side maps the same names.


def _dims(o):
    return tuple(o["dims"])


def _reduce(fn_all, fn_dims):
    def run(xs, o):
        if "dims" not in o:
            return fn_all(xs[0])
        return fn_dims(xs[0], _dims(o), o.get("keepdim", False))

    return run


def _mat(x, transposed):
    return x.transpose(-1, -2) if transposed else x


def _conv2d(xs, o):
    bias = xs[2] if len(xs) > 2 else None
    x, padding = xs[0], o["padding"]
    if o.get("padding_mode", "zeros") != "zeros":  # as torch.nn.Conv2d does it
        x, padding = F.pad(x, (padding,) * 4, mode=o["padding_mode"]), 0
    return F.conv2d(x, xs[1], bias, stride=o["stride"], padding=padding,
                    dilation=o["dilation"], groups=o["groups"])


def _conv_transpose2d(xs, o):
    bias = xs[2] if len(xs) > 2 else None
    return F.conv_transpose2d(xs[0], xs[1], bias, stride=o["stride"], padding=o["padding"],
                              output_padding=o["output_padding"], dilation=o["dilation"],
                              groups=o["groups"])


def _affine(xs, o):
    """layer_norm and group_norm: (weight, bias) from the inputs after x, or None."""
    return (xs[1], xs[2]) if o["affine"] else (None, None)


def _interpolate(mode):
    def run(xs, o):
        extra = {"align_corners": False} if mode == "bilinear" else {}
        return F.interpolate(xs[0], scale_factor=o["scale"], mode=mode, **extra)

    return run


def _conditional_discriminator(xs, o):
    """x [N,F] and labels [N] through an embedding, concatenated, tanh MLP."""
    h = torch.cat([xs[0], F.embedding(xs[1].long(), xs[2])], 1)
    return F.linear(torch.tanh(F.linear(h, xs[3], xs[4])), xs[5])


def _resize_conv_generator(xs, o):
    """Nearest upsampling, a 3x3 convolution, group norm, tanh: a resize-convolution block."""
    h = F.conv2d(F.interpolate(xs[0], scale_factor=2, mode="nearest"), xs[1], padding=1)
    return torch.tanh(F.group_norm(h, o["groups"], xs[2], xs[3]))


def _pool_stride(o):
    return o["stride"] if o["stride"] != 0 else o["kernel"]


TORCH_OPS = {
    # elementwise
    "add": lambda xs, o: xs[0] + xs[1],
    "sub": lambda xs, o: xs[0] - xs[1],
    "mul": lambda xs, o: xs[0] * xs[1],
    "div": lambda xs, o: xs[0] / xs[1],
    "add_scalar": lambda xs, o: xs[0] + o["scalar"],
    "mul_scalar": lambda xs, o: xs[0] * o["scalar"],
    "rsub": lambda xs, o: o["scalar"] - xs[0],
    "sub_scalar": lambda xs, o: xs[0] - o["scalar"],  # minimax operator-(Tensor, float)
    "div_scalar": lambda xs, o: xs[0] / o["scalar"],  # minimax operator/(Tensor, float)
    "neg": lambda xs, o: -xs[0],
    "exp": lambda xs, o: torch.exp(xs[0]),
    "log": lambda xs, o: torch.log(xs[0]),
    "sqrt": lambda xs, o: torch.sqrt(xs[0]),
    "pow": lambda xs, o: torch.pow(xs[0], o["exponent"]),
    "square": lambda xs, o: torch.square(xs[0]),
    "abs": lambda xs, o: torch.abs(xs[0]),
    "clamp": lambda xs, o: torch.clamp(xs[0], o["low"], o["high"]),
    "gt": lambda xs, o: (xs[0] > xs[1]).double(),
    "eq": lambda xs, o: (xs[0] == xs[1]).double(),
    # activations
    "relu": lambda xs, o: F.relu(xs[0]),
    "leaky_relu": lambda xs, o: F.leaky_relu(xs[0], o.get("negative_slope", 0.01)),
    "sigmoid": lambda xs, o: torch.sigmoid(xs[0]),
    "tanh": lambda xs, o: torch.tanh(xs[0]),
    "softplus": lambda xs, o: F.softplus(xs[0]),
    "log_sigmoid": lambda xs, o: F.logsigmoid(xs[0]),
    "elu": lambda xs, o: F.elu(xs[0], o.get("alpha", 1.0)),
    "silu": lambda xs, o: F.silu(xs[0]),
    "gelu": lambda xs, o: F.gelu(xs[0], approximate=o.get("approximate", "none")),
    "softmax": lambda xs, o: F.softmax(xs[0], o["dim"]),
    "log_softmax": lambda xs, o: F.log_softmax(xs[0], o["dim"]),
    # matrix products
    "matmul": lambda xs, o: _mat(xs[0], o["transpose_a"]) @ _mat(xs[1], o["transpose_b"]),
    "linear": lambda xs, o: F.linear(xs[0], xs[1], xs[2] if len(xs) > 2 else None),
    "bmm": lambda xs, o: torch.bmm(_mat(xs[0], o["transpose_a"]), _mat(xs[1], o["transpose_b"])),
    # reductions
    "sum": _reduce(torch.sum, lambda x, d, k: torch.sum(x, d, keepdim=k)),
    "mean": _reduce(torch.mean, lambda x, d, k: torch.mean(x, d, keepdim=k)),
    "max": _reduce(torch.amax, lambda x, d, k: torch.amax(x, d, keepdim=k)),
    "logsumexp": lambda xs, o: torch.logsumexp(xs[0], _dims(o), keepdim=o.get("keepdim", False)),
    "sum_to": lambda xs, o: xs[0].sum_to_size(o["shape"]),
    # shape
    "reshape": lambda xs, o: xs[0].reshape(o["shape"]),
    "flatten": lambda xs, o: torch.flatten(xs[0], o.get("start_dim", 1), o.get("end_dim", -1)),
    "permute": lambda xs, o: xs[0].permute(o["order"]),
    "transpose": lambda xs, o: xs[0].transpose(o["dim0"], o["dim1"]),
    "expand": lambda xs, o: xs[0].expand(o["shape"]),
    "concat": lambda xs, o: torch.cat(xs, o["dim"]),
    "slice": lambda xs, o: xs[0].narrow(o["dim"], o["start"], o["end"] - o["start"]),
    # neural-network ops
    "maxout": lambda xs, o: xs[0].view(xs[0].shape[0], -1, o["pieces"]).amax(2),
    "embedding": lambda xs, o: F.embedding(xs[1].long(), xs[0]),
    "one_hot": lambda xs, o: F.one_hot(xs[0].long(), o["n"]).double(),
    "layer_norm": lambda xs, o: F.layer_norm(xs[0], o["normalized_shape"], *_affine(xs, o),
                                             eps=o["eps"]),
    "group_norm": lambda xs, o: F.group_norm(xs[0], o["groups"], *_affine(xs, o), eps=o["eps"]),
    "upsample_nearest2d": _interpolate("nearest"),
    "upsample_bilinear2d": _interpolate("bilinear"),
    "pixel_shuffle": lambda xs, o: F.pixel_shuffle(xs[0], o["r"]),
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "max_pool2d": lambda xs, o: F.max_pool2d(xs[0], o["kernel"], _pool_stride(o), o["padding"]),
    "avg_pool2d": lambda xs, o: F.avg_pool2d(xs[0], o["kernel"], _pool_stride(o), o["padding"]),
    "pad2d": lambda xs, o: F.pad(xs[0], tuple(o["pad"]), mode=o["mode"], value=o["value"])
    if o["mode"] == "constant" else F.pad(xs[0], tuple(o["pad"]), mode=o["mode"]),
    # losses (mean reduction)
    "binary_cross_entropy_with_logits": lambda xs, o: F.binary_cross_entropy_with_logits(
        xs[0], xs[1]),
    "mse_loss": lambda xs, o: F.mse_loss(xs[0], xs[1]),
    "cross_entropy": lambda xs, o: F.cross_entropy(xs[0], xs[1].long()),
    # batch_norm is special-cased in make_case (running statistics).
    # compositions: small GAN networks, where second order exercises chained double backwards
    "mlp_discriminator": lambda xs, o: F.linear(
        F.leaky_relu(F.linear(xs[0], xs[1], xs[2]), o["negative_slope"]), xs[3], xs[4]),
    "maxout_discriminator": lambda xs, o: torch.sigmoid(F.linear(
        TORCH_OPS["maxout"]([F.linear(xs[0], xs[1], xs[2])], o), xs[3], xs[4])),
    "mlp_generator": lambda xs, o: torch.tanh(F.linear(F.relu(F.linear(xs[0], xs[1], xs[2])),
                                                       xs[3], xs[4])),
    "dcgan_discriminator": lambda xs, o: F.linear(torch.flatten(F.conv2d(
        F.leaky_relu(F.conv2d(xs[0], xs[1], None, stride=2, padding=1), o["negative_slope"]),
        xs[2], None, stride=2, padding=1), 1), xs[3]),
    "dcgan_generator": lambda xs, o: torch.tanh(F.conv_transpose2d(
        F.relu(F.conv_transpose2d(xs[0], xs[1])), xs[2], stride=2, padding=1)),
    "conditional_discriminator": _conditional_discriminator,
    "resize_conv_generator": _resize_conv_generator,
}

# ---------------------------------------------------------------------------------------------
# Modules: each builder returns PyTorch's module and the PyTorch names of the minimax parameters
# and buffers whose names differ.


class SelfAttention2d(torch.nn.Module):
    """SAGAN's self-attention as minimax's nn::SelfAttention2d: 1x1 convolutions to queries and
    keys of C / reduction channels and values of C; each position attends over all positions;
    gamma * attended + x."""

    def __init__(self, channels, reduction):
        super().__init__()
        self.query = torch.nn.Conv2d(channels, channels // reduction, 1)
        self.key = torch.nn.Conv2d(channels, channels // reduction, 1)
        self.value = torch.nn.Conv2d(channels, channels, 1)
        self.gamma = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = (f(x).flatten(2) for f in (self.query, self.key, self.value))  # [N, C', H*W]
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # [N, query i, key j]
        return self.gamma * (v @ attention.transpose(1, 2)).view(n, c, h, w) + x


def _spectral_norm(inner):
    return torch.nn.utils.spectral_norm(inner), {"module.weight": "weight_orig",
                                                 "module.bias": "bias"}


def _upsample(o):
    corners = {"align_corners": False} if o["mode"] == "bilinear" else {}
    return torch.nn.Upsample(scale_factor=o["scale"], mode=o["mode"], **corners), {}


MODULES = {
    "Embedding": lambda o: (torch.nn.Embedding(o["num"], o["dim"]), {}),
    "LayerNorm": lambda o: (torch.nn.LayerNorm(o["normalized_shape"],
                                               elementwise_affine=o["affine"]), {}),
    "GroupNorm": lambda o: (torch.nn.GroupNorm(o["groups"], o["channels"], affine=o["affine"]), {}),
    "InstanceNorm2d": lambda o: (torch.nn.InstanceNorm2d(o["features"], affine=o["affine"]), {}),
    "Upsample": _upsample,
    "PixelShuffle": lambda o: (torch.nn.PixelShuffle(o["r"]), {}),
    "MaxPool2d": lambda o: (torch.nn.MaxPool2d(o["kernel"], _pool_stride(o), o["padding"]), {}),
    "AvgPool2d": lambda o: (torch.nn.AvgPool2d(o["kernel"], _pool_stride(o), o["padding"]), {}),
    "SelfAttention2d": lambda o: (SelfAttention2d(o["channels"], o["reduction"]), {}),
    "SpectralNorm(Linear)": lambda o: _spectral_norm(torch.nn.Linear(o["in"], o["out"])),
    "SpectralNorm(Conv2d)": lambda o: _spectral_norm(
        torch.nn.Conv2d(o["in"], o["out"], o["kernel"], padding=o["padding"])),
}


def run_module(c, xs, state):
    """PyTorch's module on xs[0], with xs[1:] as its parameters (so gradients reach them) and
    `state` as its buffers; returns the output and the buffers after the forward."""
    o = c["options"]
    module, renamed = MODULES[c["op"]](o)
    module = module.double().train(o["training"])
    for spec, x in zip(c["inputs"][1:], xs[1:]):
        owner_path, _, leaf = renamed.get(spec["name"], spec["name"]).rpartition(".")
        owner = module.get_submodule(owner_path)
        del owner._parameters[leaf]
        setattr(owner, leaf, x)
    left = [name for name, _ in module.named_parameters()]
    assert not left, f"{c['name']}: parameters not given as inputs: {left}"
    buffers = dict(module.named_buffers())
    with torch.no_grad():
        for name, value in state.items():
            buffers[renamed.get(name, name)].copy_(value)
    out = module(xs[0].long() if c["op"] == "Embedding" else xs[0])
    return out, {name: buffers[renamed.get(name, name)].clone() for name in state}


# ---------------------------------------------------------------------------------------------
# Cases

CASES = []


def case(family, name, op, inputs, options=None, second_order=False, state=None):
    CASES.append({
        "family": family,
        "name": f"{op}/{name}",
        "op": op,
        "options": options or {},
        "inputs": inputs,
        "second_order": second_order,
        "state": state,
    })


SO = True  # second order too

# ---- elementwise ----
E = "elementwise"
for op in ("add", "sub", "mul"):
    case(E, "same shape", op, [inp("a", [3, 4]), inp("b", [3, 4])], second_order=SO)
    case(E, "row broadcast", op, [inp("a", [3, 4]), inp("b", [4])], second_order=SO)
    case(E, "first broadcast", op, [inp("a", [4]), inp("b", [2, 3, 4])], second_order=SO)
    case(E, "both broadcast", op, [inp("a", [3, 1]), inp("b", [1, 4])], second_order=SO)
    case(E, "channel broadcast", op, [inp("a", [2, 3, 2, 2]), inp("b", [1, 3, 1, 1])],
         second_order=SO)
    case(E, "0-d operand", op, [inp("a", [2, 3]), inp("b", [])], second_order=SO)
divisor = dict(intervals=[(-2.0, -0.5), (0.5, 2.0)])
case(E, "same shape", "div", [inp("a", [3, 4]), inp("b", [3, 4], **divisor)], second_order=SO)
case(E, "row broadcast", "div", [inp("a", [3, 4]), inp("b", [4], **divisor)], second_order=SO)
case(E, "first broadcast", "div", [inp("a", [4]), inp("b", [3, 4], **divisor)], second_order=SO)
case(E, "both broadcast", "div", [inp("a", [3, 1]), inp("b", [1, 4], **divisor)],
     second_order=SO)
case(E, "constant divisor", "div", [inp("a", [3, 4]), inp("b", [3, 4], rg=False, **divisor)],
     second_order=SO)
case(E, "constant numerator", "div", [inp("a", [3, 4], rg=False), inp("b", [3, 4], **divisor)],
     second_order=SO)
case(E, "0.5", "add_scalar", [inp("x", [2, 3])], {"scalar": 0.5}, SO)
case(E, "-1.5", "mul_scalar", [inp("x", [2, 3])], {"scalar": -1.5}, SO)
case(E, "2", "rsub", [inp("x", [2, 3])], {"scalar": 2.0}, SO)
case(E, "0.75", "sub_scalar", [inp("x", [2, 3])], {"scalar": 0.75}, SO)
case(E, "4", "div_scalar", [inp("x", [2, 3])], {"scalar": 4.0}, SO)
case(E, "plain", "neg", [inp("x", [5])], second_order=SO)
case(E, "plain", "exp", [inp("x", [3, 4], -2.0, 2.0)], second_order=SO)
case(E, "plain", "log", [inp("x", [3, 4], 0.5, 3.0)], second_order=SO)
case(E, "plain", "sqrt", [inp("x", [3, 4], 0.5, 3.0)], second_order=SO)
case(E, "cube, both signs", "pow", [inp("x", [3, 4], -1.5, 1.5)], {"exponent": 3.0}, SO)
case(E, "square", "pow", [inp("x", [3, 4], -1.5, 1.5)], {"exponent": 2.0}, SO)
case(E, "identity", "pow", [inp("x", [3, 4], -1.5, 1.5)], {"exponent": 1.0}, SO)
case(E, "zero", "pow", [inp("x", [3, 4], 0.5, 2.0)], {"exponent": 0.0}, SO)
case(E, "fractional", "pow", [inp("x", [3, 4], 0.5, 2.0)], {"exponent": 1.5}, SO)
case(E, "half", "pow", [inp("x", [3, 4], 0.5, 2.0)], {"exponent": 0.5}, SO)
case(E, "negative fractional", "pow", [inp("x", [3, 4], 0.5, 2.0)], {"exponent": -0.5}, SO)
case(E, "negative integer", "pow", [inp("x", [3, 4], intervals=[(-2, -0.5), (0.5, 2)])],
     {"exponent": -2.0}, SO)
case(E, "plain", "square", [inp("x", [3, 4], -2.0, 2.0)], second_order=SO)
case(E, "both signs", "abs", [signed("x", [3, 4], 0.1, 1.5)], second_order=SO)
case(E, "inside and both sides", "clamp",
     [inp("x", [4, 5], intervals=[(-1.5, -0.6), (-0.4, 0.4), (0.6, 1.5)])],
     {"low": -0.5, "high": 0.5}, SO)
case(E, "asymmetric", "clamp", [inp("x", [4, 5], intervals=[(-1.0, -0.3), (-0.1, 0.6), (0.8, 2.0)])],
     {"low": -0.2, "high": 0.7}, SO)
ties = [-1.0, 0.0, 0.5, 1.0]
case(E, "ties and broadcast", "gt",
     [inp("a", [3, 4], rg=False, choices=ties), inp("b", [4], rg=False, choices=ties)])
case(E, "ties and broadcast", "eq",
     [inp("a", [3, 4], rg=False, choices=ties), inp("b", [3, 1], rg=False, choices=ties)])

# ---- activations ----
A = "activations"
case(A, "both signs", "relu", [signed("x", [4, 5], 0.1, 2.0)], second_order=SO)
case(A, "slope 0.2", "leaky_relu", [signed("x", [4, 5], 0.1, 2.0)], {"negative_slope": 0.2}, SO)
case(A, "default slope", "leaky_relu", [signed("x", [4, 5], 0.1, 2.0)], {}, SO)
for op in ("sigmoid", "tanh", "softplus", "log_sigmoid", "silu", "gelu"):
    case(A, "moderate", op, [inp("x", [4, 5], -4.0, 4.0)], second_order=SO)
    case(A, "saturated", op, [signed("x", [2, 5], 8.0, 30.0)], second_order=SO)
case(A, "tanh form, moderate", "gelu", [inp("x", [4, 5], -4.0, 4.0)], {"approximate": "tanh"},
     SO)
case(A, "tanh form, saturated", "gelu", [signed("x", [2, 5], 8.0, 30.0)],
     {"approximate": "tanh"}, SO)
case(A, "default alpha", "elu", [signed("x", [4, 5], 0.1, 2.0)], {}, SO)
case(A, "alpha 0.7", "elu", [signed("x", [4, 5], 0.1, 3.0)], {"alpha": 0.7}, SO)
for op in ("softmax", "log_softmax"):
    case(A, "last dim", op, [inp("x", [3, 5], -3.0, 3.0)], {"dim": -1}, SO)
    case(A, "dim 0 of 3-d", op, [inp("x", [3, 2, 4], -3.0, 3.0)], {"dim": 0}, SO)
    case(A, "middle dim", op, [inp("x", [2, 3, 4], -3.0, 3.0)], {"dim": 1}, SO)
    case(A, "1-d", op, [inp("x", [6], -3.0, 3.0)], {"dim": 0}, SO)
    case(A, "large logits", op, [inp("x", [2, 4], 20.0, 60.0)], {"dim": 1}, SO)
    case(A, "one element along dim", op, [inp("x", [3, 1])], {"dim": 1}, SO)

# ---- matrix products ----
M = "matmul"
for ta in (False, True):
    for tb in (False, True):
        flags = {"transpose_a": ta, "transpose_b": tb}
        label = {(False, False): "plain", (True, False): "a transposed",
                 (False, True): "b transposed", (True, True): "both transposed"}[(ta, tb)]
        a = [4, 3] if ta else [3, 4]
        b = [5, 4] if tb else [4, 5]
        case(M, label, "matmul", [inp("a", a), inp("b", b)], flags, SO)
        case(M, label, "bmm", [inp("a", [2] + a), inp("b", [2] + b)], flags, SO)
case(M, "with bias", "linear", [inp("x", [3, 4]), inp("weight", [5, 4]), inp("bias", [5])],
     second_order=SO)
case(M, "no bias", "linear", [inp("x", [3, 4]), inp("weight", [5, 4])], second_order=SO)
case(M, "constant input", "linear",
     [inp("x", [3, 4], rg=False), inp("weight", [2, 4]), inp("bias", [2])], second_order=SO)

# ---- reductions ----
R = "reductions"
for op in ("sum", "mean", "max"):
    case(R, "all", op, [inp("x", [3, 4])], second_order=SO)
    case(R, "dim 1", op, [inp("x", [3, 4])], {"dims": [1], "keepdim": False}, SO)
    case(R, "dim 0 keepdim", op, [inp("x", [3, 4])], {"dims": [0], "keepdim": True}, SO)
    case(R, "dim -1 of 3-d", op, [inp("x", [2, 3, 4])], {"dims": [-1], "keepdim": False}, SO)
    case(R, "dims 0,2 keepdim", op, [inp("x", [2, 3, 4])], {"dims": [0, 2], "keepdim": True}, SO)
    case(R, "dims 2,0", op, [inp("x", [2, 3, 4])], {"dims": [2, 0], "keepdim": False}, SO)
case(R, "dim 1", "logsumexp", [inp("x", [3, 4], -3.0, 3.0)], {"dims": [1], "keepdim": False}, SO)
case(R, "dim 0 keepdim", "logsumexp", [inp("x", [3, 4], -3.0, 3.0)],
     {"dims": [0], "keepdim": True}, SO)
case(R, "dims 0,1", "logsumexp", [inp("x", [3, 4], -3.0, 3.0)],
     {"dims": [0, 1], "keepdim": False}, SO)
case(R, "dim -1 of 3-d, large", "logsumexp", [inp("x", [2, 3, 4], 20.0, 60.0)],
     {"dims": [-1], "keepdim": False}, SO)
case(R, "to row", "sum_to", [inp("x", [3, 4])], {"shape": [4]}, SO)
case(R, "to column", "sum_to", [inp("x", [3, 4])], {"shape": [3, 1]}, SO)
case(R, "to channels", "sum_to", [inp("x", [2, 3, 2, 2])], {"shape": [1, 3, 1, 1]}, SO)
case(R, "same shape", "sum_to", [inp("x", [3, 4])], {"shape": [3, 4]}, SO)

# ---- shape ----
S = "shape"
case(S, "infer", "reshape", [inp("x", [3, 4])], {"shape": [2, -1]}, SO)
case(S, "3-d to 2-d", "reshape", [inp("x", [2, 3, 4])], {"shape": [4, 6]}, SO)
case(S, "to 1-d", "reshape", [inp("x", [2, 3, 2])], {"shape": [12]}, SO)
case(S, "default", "flatten", [inp("x", [2, 3, 2])], {"start_dim": 1, "end_dim": -1}, SO)
case(S, "all", "flatten", [inp("x", [2, 3, 2])], {"start_dim": 0, "end_dim": -1}, SO)
case(S, "middle", "flatten", [inp("x", [2, 3, 2, 2])], {"start_dim": 1, "end_dim": 2}, SO)
case(S, "3-d", "permute", [inp("x", [2, 3, 4])], {"order": [2, 0, 1]}, SO)
case(S, "NCHW to NHWC", "permute", [inp("x", [2, 3, 2, 2])], {"order": [0, 2, 3, 1]}, SO)
case(S, "negative order", "permute", [inp("x", [2, 3, 4])], {"order": [-1, 0, -2]}, SO)
case(S, "2-d", "transpose", [inp("x", [3, 4])], {"dim0": 0, "dim1": 1}, SO)
case(S, "negative dims", "transpose", [inp("x", [2, 3, 4])], {"dim0": -1, "dim1": 0}, SO)
case(S, "column to 3-d", "expand", [inp("x", [3, 1])], {"shape": [2, 3, 4]}, SO)
case(S, "row", "expand", [inp("x", [4])], {"shape": [3, 4]}, SO)
case(S, "middle", "expand", [inp("x", [2, 1, 3])], {"shape": [2, 4, 3]}, SO)
case(S, "dim 0", "concat", [inp("a", [2, 3]), inp("b", [1, 3])], {"dim": 0}, SO)
case(S, "dim 1 of three", "concat", [inp("a", [2, 3]), inp("b", [2, 2]), inp("c", [2, 1])],
     {"dim": 1}, SO)
case(S, "dim -1 of 3-d", "concat", [inp("a", [2, 2, 3]), inp("b", [2, 2, 2])], {"dim": -1}, SO)
case(S, "channels, one constant", "concat",
     [inp("a", [2, 1, 2, 2]), inp("b", [2, 2, 2, 2], rg=False)], {"dim": 1}, SO)
case(S, "middle", "slice", [inp("x", [4, 5])], {"dim": 1, "start": 1, "end": 3}, SO)
case(S, "head", "slice", [inp("x", [4, 5])], {"dim": 0, "start": 0, "end": 2}, SO)
case(S, "tail of 3-d", "slice", [inp("x", [2, 3, 5])], {"dim": -1, "start": 2, "end": 5}, SO)
case(S, "whole", "slice", [inp("x", [3, 4])], {"dim": 0, "start": 0, "end": 3}, SO)

# ---- nn: maxout ----
N = "nn"
case(N, "4 pieces", "maxout", [inp("x", [3, 8])], {"pieces": 4}, SO)
case(N, "2 pieces", "maxout", [inp("x", [2, 6])], {"pieces": 2}, SO)
case(N, "3 pieces", "maxout", [inp("x", [4, 9])], {"pieces": 3}, SO)
case(N, "1 piece", "maxout", [inp("x", [2, 3])], {"pieces": 1}, SO)


def indices(name, shape, bound):
    return inp(name, shape, rg=False, choices=[float(i) for i in range(bound)])


case(N, "1-d indices", "embedding", [inp("weight", [5, 3]), indices("indices", [7], 5)],
     second_order=SO)
case(N, "2-d indices", "embedding", [inp("weight", [4, 2]), indices("indices", [2, 5], 4)],
     second_order=SO)
case(N, "labels", "one_hot", [indices("labels", [6], 4)], {"n": 4})
case(N, "2-d labels", "one_hot", [indices("labels", [2, 3], 3)], {"n": 5})

# ---- losses ----
L = "losses"
BCE = "binary_cross_entropy_with_logits"
case(L, "soft targets", BCE, [inp("logits", [4, 3], -4.0, 4.0), inp("targets", [4, 3], 0.0, 1.0,
                                                                      rg=False)], second_order=SO)
case(L, "hard targets", BCE, [inp("logits", [6], -4.0, 4.0),
                              inp("targets", [6], rg=False, choices=[0.0, 1.0])], second_order=SO)
case(L, "targets require grad", BCE, [inp("logits", [2, 3], -4.0, 4.0),
                                      inp("targets", [2, 3], 0.0, 1.0)], second_order=SO)
case(L, "large logits", BCE, [signed("logits", [2, 4], 10.0, 40.0),
                              inp("targets", [2, 4], rg=False, choices=[0.0, 1.0])],
     second_order=SO)
case(L, "both require grad", "mse_loss", [inp("input", [4, 3]), inp("target", [4, 3])],
     second_order=SO)
case(L, "constant target", "mse_loss", [inp("input", [2, 3, 2]), inp("target", [2, 3, 2], rg=False)],
     second_order=SO)
case(L, "5 rows 4 classes", "cross_entropy",
     [inp("logits", [5, 4], -3.0, 3.0), indices("labels", [5], 4)], second_order=SO)
case(L, "large logits", "cross_entropy",
     [signed("logits", [3, 6], 10.0, 40.0), indices("labels", [3], 6)], second_order=SO)
case(L, "one row", "cross_entropy", [inp("logits", [1, 3], -3.0, 3.0), indices("labels", [1], 3)],
     second_order=SO)

# ---- compositions ----
CO = "composition"
case(CO, "linear-leaky_relu-linear", "mlp_discriminator",
     [inp("x", [3, 4]), inp("w1", [6, 4]), inp("b1", [6]), inp("w2", [1, 6]), inp("b2", [1])],
     {"negative_slope": 0.2}, SO)
case(CO, "linear-maxout-linear-sigmoid", "maxout_discriminator",
     [inp("x", [3, 4]), inp("w1", [6, 4]), inp("b1", [6]), inp("w2", [1, 3]), inp("b2", [1])],
     {"pieces": 2}, SO)
case(CO, "linear-relu-linear-tanh", "mlp_generator",
     [inp("z", [3, 2]), inp("w1", [5, 2]), inp("b1", [5]), inp("w2", [4, 5]), inp("b2", [4])],
     second_order=SO)
case(CO, "concat(x, embedding)-linear-tanh-linear", "conditional_discriminator",
     [inp("x", [4, 3]), indices("labels", [4], 3), inp("embed", [3, 2]), inp("w1", [5, 5]),
      inp("b1", [5]), inp("w2", [1, 5])], second_order=SO)

# ---- conv2d: x [N,C,H,W], weight [O,C,kh,kw], bias [O] ----
C2 = "conv2d"


def conv_opts(stride=1, padding=0, dilation=1, output_padding=0, groups=1, padding_mode="zeros"):
    o = {"stride": stride, "padding": padding, "dilation": dilation,
         "output_padding": output_padding, "groups": groups}
    if padding_mode != "zeros":
        o["padding_mode"] = padding_mode
    return o


case(C2, "3x3 with bias", "conv2d",
     [inp("x", [2, 3, 5, 5]), inp("weight", [4, 3, 3, 3]), inp("bias", [4])], conv_opts(), SO)
case(C2, "3x3 no bias", "conv2d", [inp("x", [1, 2, 4, 4]), inp("weight", [3, 2, 3, 3])],
     conv_opts(), SO)
case(C2, "stride 2 padding 1", "conv2d",
     [inp("x", [2, 2, 6, 6]), inp("weight", [3, 2, 3, 3]), inp("bias", [3])],
     conv_opts(stride=2, padding=1), SO)
case(C2, "stride 2, rows left over", "conv2d",
     [inp("x", [1, 2, 6, 7]), inp("weight", [2, 2, 3, 3]), inp("bias", [2])],
     conv_opts(stride=2), SO)
case(C2, "dilation 2 padding 1", "conv2d",
     [inp("x", [1, 2, 7, 7]), inp("weight", [3, 2, 3, 3]), inp("bias", [3])],
     conv_opts(padding=1, dilation=2), SO)
case(C2, "stride 3 padding 2 dilation 2", "conv2d",
     [inp("x", [1, 2, 8, 8]), inp("weight", [2, 2, 3, 3]), inp("bias", [2])],
     conv_opts(stride=3, padding=2, dilation=2), SO)
case(C2, "non-square kernel and image", "conv2d",
     [inp("x", [1, 3, 5, 6]), inp("weight", [2, 3, 2, 3]), inp("bias", [2])], conv_opts(), SO)
case(C2, "1x1", "conv2d", [inp("x", [2, 3, 3, 3]), inp("weight", [2, 3, 1, 1]), inp("bias", [2])],
     conv_opts(), SO)
case(C2, "DCGAN 4x4 stride 2 padding 1", "conv2d",
     [inp("x", [2, 2, 8, 8]), inp("weight", [3, 2, 4, 4])], conv_opts(stride=2, padding=1), SO)
case(C2, "kernel spans the input", "conv2d",
     [inp("x", [3, 4, 3, 3]), inp("weight", [2, 4, 3, 3]), inp("bias", [2])], conv_opts(), SO)
case(C2, "kernel spans the input, stride 2", "conv2d",
     [inp("x", [2, 2, 4, 4]), inp("weight", [3, 2, 4, 4])], conv_opts(stride=2), SO)
case(C2, "constant input", "conv2d",
     [inp("x", [1, 2, 4, 4], rg=False), inp("weight", [2, 2, 3, 3]), inp("bias", [2])],
     conv_opts(padding=1), SO)
case(C2, "groups 2", "conv2d",
     [inp("x", [2, 4, 5, 5]), inp("weight", [6, 2, 3, 3]), inp("bias", [6])],
     conv_opts(groups=2), SO)
case(C2, "depthwise stride 2 padding 1", "conv2d",
     [inp("x", [2, 3, 6, 6]), inp("weight", [3, 1, 3, 3]), inp("bias", [3])],
     conv_opts(stride=2, padding=1, groups=3), SO)
case(C2, "groups 2 dilation 2 no bias", "conv2d",
     [inp("x", [1, 4, 6, 6]), inp("weight", [4, 2, 2, 2])], conv_opts(dilation=2, groups=2), SO)
case(C2, "reflect padding 2, stride 2", "conv2d",
     [inp("x", [2, 2, 5, 6]), inp("weight", [3, 2, 3, 3]), inp("bias", [3])],
     conv_opts(stride=2, padding=2, padding_mode="reflect"), SO)
case(C2, "replicate padding 1, groups 2", "conv2d",
     [inp("x", [1, 4, 4, 4]), inp("weight", [2, 2, 3, 3])],
     conv_opts(padding=1, groups=2, padding_mode="replicate"), SO)
case(C2, "groups 2, kernel spans the input", "conv2d",
     [inp("x", [2, 4, 3, 3]), inp("weight", [2, 2, 3, 3]), inp("bias", [2])],
     conv_opts(groups=2), SO)

# ---- conv_transpose2d: x [N,C,H,W], weight [C,O,kh,kw], bias [O] ----
CT = "conv_transpose2d"
case(CT, "3x3 with bias", CT,
     [inp("x", [2, 3, 3, 3]), inp("weight", [3, 4, 3, 3]), inp("bias", [4])], conv_opts(), SO)
case(CT, "3x3 no bias", CT, [inp("x", [1, 2, 3, 3]), inp("weight", [2, 3, 3, 3])], conv_opts(),
     SO)
case(CT, "stride 2 padding 1", CT,
     [inp("x", [2, 2, 3, 3]), inp("weight", [2, 3, 3, 3]), inp("bias", [3])],
     conv_opts(stride=2, padding=1), SO)
case(CT, "stride 2 padding 1 output_padding 1", CT,
     [inp("x", [1, 2, 3, 3]), inp("weight", [2, 3, 3, 3]), inp("bias", [3])],
     conv_opts(stride=2, padding=1, output_padding=1), SO)
case(CT, "DCGAN 4x4 stride 2 padding 1", CT,
     [inp("x", [2, 3, 3, 3]), inp("weight", [3, 2, 4, 4]), inp("bias", [2])],
     conv_opts(stride=2, padding=1), SO)
case(CT, "dilation 2", CT,
     [inp("x", [1, 2, 3, 3]), inp("weight", [2, 2, 3, 3]), inp("bias", [2])],
     conv_opts(dilation=2), SO)
case(CT, "stride 3 output_padding 2", CT,
     [inp("x", [1, 2, 2, 3]), inp("weight", [2, 2, 2, 2]), inp("bias", [2])],
     conv_opts(stride=3, output_padding=2), SO)
case(CT, "stride 2 dilation 2 padding 2 output_padding 1", CT,
     [inp("x", [1, 2, 3, 3]), inp("weight", [2, 2, 3, 3]), inp("bias", [2])],
     conv_opts(stride=2, padding=2, dilation=2, output_padding=1), SO)
case(CT, "non-square kernel and image", CT,
     [inp("x", [1, 2, 3, 4]), inp("weight", [2, 3, 2, 3]), inp("bias", [3])], conv_opts(), SO)
case(CT, "generator input 1x1", CT, [inp("x", [2, 4, 1, 1]), inp("weight", [4, 2, 4, 4])],
     conv_opts(), SO)
case(CT, "groups 2", CT, [inp("x", [2, 4, 3, 3]), inp("weight", [4, 3, 3, 3]), inp("bias", [6])],
     conv_opts(groups=2), SO)
case(CT, "depthwise stride 2 padding 1 output_padding 1", CT,
     [inp("x", [1, 3, 3, 3]), inp("weight", [3, 2, 4, 4]), inp("bias", [6])],
     conv_opts(stride=2, padding=1, output_padding=1, groups=3), SO)
case(CT, "groups 2, input 1x1", CT, [inp("x", [2, 4, 1, 1]), inp("weight", [4, 1, 4, 4])],
     conv_opts(groups=2), SO)

# ---- conv compositions: a tiny DCGAN discriminator and generator ----
CC = "conv_composition"
case(CC, "conv-leaky_relu-conv-linear", "dcgan_discriminator",
     [inp("x", [2, 1, 8, 8]), inp("w1", [2, 1, 4, 4]), inp("w2", [3, 2, 4, 4]),
      inp("w3", [1, 12])], {"negative_slope": 0.2}, SO)
case(CC, "convT-relu-convT-tanh", "dcgan_generator",
     [inp("z", [2, 3, 1, 1]), inp("w1", [3, 2, 4, 4]), inp("w2", [2, 1, 4, 4])], {}, SO)
case(CC, "upsample-conv-group_norm-tanh", "resize_conv_generator",
     [inp("x", [2, 2, 3, 3]), inp("w", [4, 2, 3, 3]), inp("gamma", [4], 0.5, 1.5),
      inp("beta", [4])], {"groups": 2}, SO)

# ---- batch_norm: x [N,C] or [N,C,H,W]; weight, bias [C]; running stats [C] ----
BN = "batch_norm"


def bn_opts(training, affine=True, momentum=0.1, eps=1e-5):
    return {"training": training, "affine": affine, "momentum": momentum, "eps": eps}


def bn_state(channels):
    return {"running_mean": inp("running_mean", [channels], -0.5, 0.5, rg=False),
            "running_var": inp("running_var", [channels], 0.5, 2.0, rg=False)}


def bn_inputs(x_shape, affine=True, lo=-2.0, hi=2.0):
    c = x_shape[1]
    xs = [inp("x", x_shape, lo, hi)]
    if affine:
        xs += [inp("weight", [c], 0.5, 1.5), inp("bias", [c])]
    return xs


case(BN, "train 2-d", BN, bn_inputs([4, 3]), bn_opts(True), SO, bn_state(3))
case(BN, "train 4-d", BN, bn_inputs([2, 3, 2, 2]), bn_opts(True), SO, bn_state(3))
case(BN, "train no affine", BN, bn_inputs([3, 2, 2, 2], affine=False), bn_opts(True, False), SO,
     bn_state(2))
case(BN, "train no running stats", BN, bn_inputs([4, 3]), bn_opts(True), SO, None)
case(BN, "train momentum 0.3 eps 1e-3, offset input", BN, bn_inputs([5, 2], lo=1.0, hi=4.0),
     bn_opts(True, momentum=0.3, eps=1e-3), SO, bn_state(2))
case(BN, "eval 2-d", BN, bn_inputs([4, 3]), bn_opts(False), SO, bn_state(3))
case(BN, "eval 4-d", BN, bn_inputs([2, 3, 2, 2]), bn_opts(False), SO, bn_state(3))
case(BN, "eval no affine", BN, bn_inputs([2, 2, 2, 2], affine=False), bn_opts(False, False), SO,
     bn_state(2))

# ---- pooling: x [N,C,H,W]; kernel, stride (0 = kernel), padding ----
P = "pooling"
for op in ("max_pool2d", "avg_pool2d"):
    case(P, "2x2", op, [inp("x", [2, 2, 4, 4])], {"kernel": 2, "stride": 0, "padding": 0}, SO)
    case(P, "2x2 odd size", op, [inp("x", [1, 2, 5, 5])], {"kernel": 2, "stride": 0, "padding": 0},
         SO)
    case(P, "3x3 stride 2 padding 1", op, [inp("x", [1, 2, 5, 5])],
         {"kernel": 3, "stride": 2, "padding": 1}, SO)
    case(P, "3x3 stride 1", op, [inp("x", [1, 1, 5, 4])], {"kernel": 3, "stride": 1, "padding": 0},
         SO)
    case(P, "2x2 stride 1 padding 1", op, [inp("x", [1, 2, 3, 3])],
         {"kernel": 2, "stride": 1, "padding": 1}, SO)

# ---- normalization: layer_norm x [..., *normalized_shape], group_norm x [N,C,...] ----
NO = "normalization"


def norm_opts(affine=True, eps=1e-5, **extra):
    return {"affine": affine, "eps": eps, **extra}


def norm_inputs(x_shape, param_shape, affine=True):
    xs = [inp("x", x_shape, -2.0, 2.0)]
    if affine:
        xs += [inp("weight", param_shape, 0.5, 1.5), inp("bias", param_shape)]
    return xs


LN, GN = "layer_norm", "group_norm"
case(NO, "last dim", LN, norm_inputs([3, 5], [5]), norm_opts(normalized_shape=[5]), SO)
case(NO, "two trailing dims", LN, norm_inputs([2, 3, 4], [3, 4]),
     norm_opts(normalized_shape=[3, 4]), SO)
case(NO, "whole image", LN, norm_inputs([2, 2, 3, 3], [2, 3, 3]),
     norm_opts(normalized_shape=[2, 3, 3]), SO)
case(NO, "no affine, eps 1e-3", LN, norm_inputs([4, 6], [6], affine=False),
     norm_opts(False, 1e-3, normalized_shape=[6]), SO)
case(NO, "offset input", LN, [inp("x", [3, 4], 1.0, 4.0), inp("weight", [4], 0.5, 1.5),
                              inp("bias", [4])], norm_opts(normalized_shape=[4]), SO)
case(NO, "2 groups", GN, norm_inputs([2, 4, 3, 3], [4]), norm_opts(groups=2), SO)
case(NO, "instance norm (groups = C)", GN, norm_inputs([2, 3, 3, 2], [3]), norm_opts(groups=3), SO)
case(NO, "one group", GN, norm_inputs([2, 3, 2, 2], [3]), norm_opts(groups=1), SO)
case(NO, "[N,C,L] no affine", GN, norm_inputs([2, 6, 4], [6], affine=False),
     norm_opts(False, groups=3), SO)
case(NO, "[N,C] eps 1e-3", GN, norm_inputs([3, 4], [4]), norm_opts(eps=1e-3, groups=2), SO)

# ---- resampling: x [N,C,H,W]; integer scale ----
RS = "resampling"
for op in ("upsample_nearest2d", "upsample_bilinear2d"):
    case(RS, "scale 2", op, [inp("x", [2, 2, 3, 4])], {"scale": 2}, SO)
    case(RS, "scale 3", op, [inp("x", [1, 2, 2, 3])], {"scale": 3}, SO)
    case(RS, "one pixel", op, [inp("x", [1, 2, 1, 1])], {"scale": 2}, SO)
case(RS, "r 2", "pixel_shuffle", [inp("x", [2, 8, 2, 3])], {"r": 2}, SO)
case(RS, "r 3", "pixel_shuffle", [inp("x", [1, 9, 2, 2])], {"r": 3}, SO)

# ---- padding: x [..., H, W]; pad (left, right, top, bottom), mode, value (constant) ----
PD = "padding"
case(PD, "constant 0.5", "pad2d", [inp("x", [2, 2, 3, 4])],
     {"pad": [1, 2, 0, 1], "mode": "constant", "value": 0.5}, SO)
case(PD, "constant rank 2", "pad2d", [inp("x", [3, 2])],
     {"pad": [2, 0, 1, 1], "mode": "constant", "value": 0.0}, SO)
case(PD, "reflect", "pad2d", [inp("x", [1, 2, 3, 4])],
     {"pad": [3, 1, 2, 2], "mode": "reflect", "value": 0.0}, SO)
case(PD, "reflect rank 3", "pad2d", [inp("x", [2, 3, 3])],
     {"pad": [1, 1, 1, 0], "mode": "reflect", "value": 0.0}, SO)
case(PD, "replicate", "pad2d", [inp("x", [1, 2, 2, 3])],
     {"pad": [3, 0, 2, 1], "mode": "replicate", "value": 0.0}, SO)

# ---- modules: the input, then the parameters by minimax's names; state: the buffers ----
MO = "modules"


def module(name, op, inputs, training=True, state=None, second_order=SO, **options):
    case(MO, name, op, inputs, {"training": training, **options}, second_order, state)


def unit(shape):
    """A buffer drawn in [-1, 1) and scaled to length 1 (spectral norm's u and v)."""
    return {"shape": shape, "intervals": [(-1.0, 1.0)], "unit": True}


module("3 of 4 rows", "Embedding", [indices("indices", [2, 3], 4), inp("weight", [4, 3])],
       num=4, dim=3)
module("affine", "LayerNorm", [inp("x", [2, 3, 4], -2.0, 2.0), inp("weight", [3, 4], 0.5, 1.5),
                               inp("bias", [3, 4])], normalized_shape=[3, 4], affine=True)
module("no affine", "LayerNorm", [inp("x", [3, 5], -2.0, 2.0)], normalized_shape=[5],
       affine=False)
module("2 groups", "GroupNorm", [inp("x", [2, 4, 2, 3], -2.0, 2.0), inp("weight", [4], 0.5, 1.5),
                                 inp("bias", [4])], groups=2, channels=4, affine=True)
module("default (no affine)", "InstanceNorm2d", [inp("x", [2, 3, 3, 2], -2.0, 2.0)], features=3,
       affine=False)
module("affine, eval", "InstanceNorm2d", [inp("x", [2, 2, 2, 3], -2.0, 2.0),
                                          inp("weight", [2], 0.5, 1.5), inp("bias", [2])],
       training=False, features=2, affine=True)
module("nearest x2", "Upsample", [inp("x", [1, 2, 2, 3])], scale=2, mode="nearest")
module("bilinear x2", "Upsample", [inp("x", [1, 2, 3, 2])], scale=2, mode="bilinear")
module("r 2", "PixelShuffle", [inp("x", [1, 8, 2, 2])], r=2)
for pool in ("MaxPool2d", "AvgPool2d"):
    module("2x2", pool, [inp("x", [2, 2, 4, 4])], kernel=2, stride=0, padding=0)
    module("3x3 stride 2 padding 1", pool, [inp("x", [1, 2, 5, 5])], kernel=3, stride=2, padding=1)
module("8 channels, reduction 4", "SelfAttention2d",
       [inp("x", [2, 8, 2, 3]), inp("query.weight", [2, 8, 1, 1]), inp("query.bias", [2]),
        inp("key.weight", [2, 8, 1, 1]), inp("key.bias", [2]), inp("value.weight", [8, 8, 1, 1]),
        inp("value.bias", [8]), inp("gamma", [1], 0.5, 1.5)], channels=8, reduction=4)
SN_LINEAR = [inp("x", [4, 5]), inp("module.weight", [3, 5]), inp("module.bias", [3])]
SN_LINEAR_STATE = {"weight_u": unit([3]), "weight_v": unit([5])}
module("training: one power iteration", "SpectralNorm(Linear)", SN_LINEAR,
       state=SN_LINEAR_STATE, **{"in": 5, "out": 3})
module("eval: u and v as stored", "SpectralNorm(Linear)", SN_LINEAR, training=False,
       state=SN_LINEAR_STATE, **{"in": 5, "out": 3})
module("3x3 padding 1, training", "SpectralNorm(Conv2d)",
       [inp("x", [2, 2, 4, 4]), inp("module.weight", [3, 2, 3, 3]), inp("module.bias", [3])],
       state={"weight_u": unit([3]), "weight_v": unit([18])},
       **{"in": 2, "out": 3, "kernel": 3, "padding": 1})

# ---------------------------------------------------------------------------------------------
# Evaluation


def f32_list(t):
    """Float32 values of t as Python floats whose shortest repr parses back (via double, as
    nlohmann-json does) to the same float32."""
    a = t.detach().to(torch.float32).reshape(-1).numpy()
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite value in a reference tensor")
    out = []
    for v in a:
        f = float(str(v))  # numpy prints the shortest string that round-trips the float32
        assert np.float32(f) == v, (v, f)
        out.append(f)
    return out


def tensor_json(t):
    return {"shape": list(t.shape), "values": f32_list(t)}


def draw_state(spec, gen):
    """A state tensor in float32, exactly as stored; a unit one is scaled to length 1 in float64
    and rounded."""
    t = draw(spec["shape"], spec["intervals"], None, gen)
    return (t.double() / t.double().norm()).float() if spec.get("unit") else t


def make_case(c):
    gen = torch.Generator().manual_seed(zlib.crc32(c["name"].encode()))
    specs = c["inputs"]
    x32 = [draw(s["shape"], s["intervals"], s["choices"], gen) for s in specs]
    xs = [x.double().requires_grad_(s["rg"]) for x, s in zip(x32, specs)]
    rg = [x for x, s in zip(xs, specs) if s["rg"]]
    o = c["options"]

    state = state_after = None
    if c["state"] is not None:
        state = {k: draw_state(v, gen) for k, v in c["state"].items()}
    if c["family"] == "modules":
        out, state_after = run_module(c, xs, state or {})
    elif c["op"] == "batch_norm":
        rm = state["running_mean"].double().clone() if state else None
        rv = state["running_var"].double().clone() if state else None
        w, b = (xs[1], xs[2]) if o["affine"] else (None, None)
        out = F.batch_norm(xs[0], rm, rv, w, b, training=o["training"], momentum=o["momentum"],
                           eps=o["eps"])
        if state:
            state_after = {"running_mean": rm, "running_var": rv}
    else:
        out = TORCH_OPS[c["op"]](xs, o)

    rec = {
        "name": c["name"],
        "family": c["family"],
        "op": c["op"],
        "options": o,
        "inputs": [dict(name=s["name"], requires_grad=s["rg"], **tensor_json(x))
                   for s, x in zip(specs, x32)],
        "output": tensor_json(out),
    }
    if state is not None:
        rec["state"] = {k: tensor_json(v) for k, v in state.items()}
        rec["state_after"] = {k: tensor_json(v) for k, v in state_after.items()}

    if not rg:
        assert not out.requires_grad
        rec["grads"] = []
        return rec

    # w and v are drawn in float32 and used exactly, like the inputs.
    w = draw(list(out.shape), [(-1.0, 1.0)], None, gen)
    rec["weight"] = tensor_json(w)
    so = c["second_order"]
    grads = torch.autograd.grad(out, rg, grad_outputs=w.double(), create_graph=so,
                                allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for x, g in zip(rg, grads)]
    rec["grads"] = [tensor_json(g) for g in grads]

    if so:
        vs = [draw(list(x.shape), [(-1.0, 1.0)], None, gen) for x in rg]
        s = sum((g * v.double()).sum() for g, v in zip(grads, vs))
        if s.requires_grad:
            gg = torch.autograd.grad(s, rg, allow_unused=True)
            gg = [torch.zeros_like(x) if g is None else g for x, g in zip(rg, gg)]
        else:  # dL/dx does not depend on any input: the op is linear in each input
            gg = [torch.zeros_like(x) for x in rg]
        rec["second_order"] = {"v": [tensor_json(v) for v in vs],
                               "grads": [tensor_json(g) for g in gg]}
    return rec


def main():
    torch.set_grad_enabled(True)
    names = [c["name"] for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, f"duplicate case names: {dup}"
    records = [make_case(c) for c in CASES]
    doc = {
        "format_version": FORMAT_VERSION,
        "generator": "tests/reference/make_torch_reference.py",
        "torch_version": torch.__version__,
        "cases": records,
    }
    # One case per line: compact, yet a regenerated file diffs case by case.
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, separators=(",", ":"))
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    text = head[:-1] + ',"cases":[\n' + ",\n".join(lines) + "\n]}\n"
    json.loads(text)  # well-formed
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {len(records)} cases, {len(text)} bytes, to {OUT}")


if __name__ == "__main__":
    main()
