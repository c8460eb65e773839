// Everything public in minimax, in one include: #include <minimax/minimax.h>.
//
// autograd (Tensor, the tape, grad/backward, gradcheck), ops (every differentiable op), nn
// (modules, layers, initializers), optim (optimizers, schedules), gan (losses, the trainer, the
// bundled models, metrics), data (IDX, CIFAR-10, mixtures, batches), io (checkpoints, PNG, .npy)
// and dist (data-parallel training over a Communicator). Kernels and other internals are not
// installed.
#pragma once

#include "autograd/allocator.h"
#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/random.h"
#include "autograd/tensor.h"
#include "models/data/batches.h"
#include "models/data/cifar.h"
#include "models/data/error.h"
#include "models/data/idx.h"
#include "models/data/mixture.h"
#include "models/dist/communicator.h"
#include "models/dist/data_parallel.h"
#include "models/gan/conditional.h"
#include "models/gan/latent.h"
#include "models/gan/losses.h"
#include "models/gan/metrics.h"
#include "models/gan/models.h"
#include "models/gan/trainer.h"
#include "models/io/atomic_file.h"
#include "models/io/checkpoint.h"
#include "models/io/npy.h"
#include "models/io/png.h"
#include "models/nn/attention.h"
#include "models/nn/batch_norm_stats.h"
#include "models/nn/clip_grad.h"
#include "models/nn/init.h"
#include "models/nn/layers.h"
#include "models/nn/module.h"
#include "models/nn/spectral_norm.h"
#include "models/optim/ema.h"
#include "models/optim/optimizer.h"
#include "models/optim/schedule.h"
#include "ops/denormals.h"
#include "ops/ops.h"
#include "ops/runtime.h"
