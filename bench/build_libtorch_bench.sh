#!/usr/bin/env bash
# Builds bench/libtorch_gan_bench.cpp against Debian's libtorch 1.13 (libtorch-dev) into
# build/bin/libtorch_gan_bench, for bench/compare.sh. Not part of the CMake build: nothing else
# needs libtorch, and its headers take about a minute to compile. Run it under the shared lock
# on shared machines: flock /tmp/minimax-cpu.lock bench/build_libtorch_bench.sh
# Usage: bench/build_libtorch_bench.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bin/libtorch_gan_bench}
if [ ! -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then
  echo "libtorch is not installed (apt-get install libtorch-dev)" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
g++ -std=c++17 -O2 -DNDEBUG -o "$out" bench/libtorch_gan_bench.cpp \
  -isystem /usr/include/torch/csrc/api/include -ltorch -ltorch_cpu -lc10
echo "built $out"
