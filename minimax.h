// Everything a user of minimax needs, in one include.
#pragma once

#include "autograd/allocator.h"
#include "autograd/engine.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/random.h"
#include "autograd/tensor.h"
#include "models/io/checkpoint.h"
#include "models/nn/init.h"
#include "models/nn/layers.h"
#include "models/nn/module.h"
#include "models/optim/optimizer.h"
#include "models/optim/schedule.h"
#include "ops/ops.h"
#include "ops/runtime.h"
