#!/usr/bin/env bash
# Runs minimax's and PyTorch's GAN training iteration side by side, in one go, and prints the ratio.
# PyTorch runs at its best thread count (1 and 2 are both tried: on 2 cores its 1-thread run can win).
# Usage: bench/compare.sh [mlp|dcgan] [seconds]   (needs build/bin/minimax and python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-mlp}
seconds=${2:-10}
last_json() { tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["iters_per_s"])'; }
best_minimax=0
for t in 1 2; do
  r=$(build/bin/minimax bench --model "$model" --threads "$t" --seconds "$seconds" | last_json)
  echo "minimax $model threads $t: $r it/s"
  best_minimax=$(python3 -c "print(max($best_minimax, $r))")
done
best_torch=0
for t in 1 2; do
  r=$(/usr/bin/python3 bench/torch_gan_bench.py --model "$model" --threads "$t" --seconds "$seconds" | last_json)
  echo "torch   $model threads $t: $r it/s"
  best_torch=$(python3 -c "print(max($best_torch, $r))")
done
python3 -c "print(f'$model: minimax {$best_minimax:.2f} it/s, PyTorch {$best_torch:.2f} it/s, ratio {$best_minimax / $best_torch:.2f}x')"
