#!/usr/bin/env bash
# Runs minimax's and PyTorch's GAN training iteration side by side, in one go, and prints the
# ratio of iterations per second against the target of issue 6 (mlp 2.5x, dcgan 2x).
# Each side runs at its best thread count: 1 and 2 are both tried (on 2 cores PyTorch's 1-thread
# run can win). Also prints the fraction of the sgemm peak (oneDNN, n = 2048) minimax's best run
# reaches.
# Usage: bench/compare.sh [mlp|dcgan|both] [seconds per run]
#   (needs build/bin/minimax, built Release, and Debian's python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-both}
seconds=${2:-10}
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])['$1'])"; }

compare() {
  local model=$1 target=$2 best_minimax=0 best_torch=0 peak_fraction=0 out r
  for t in 1 2; do
    out=$(build/bin/minimax bench --model "$model" --threads "$t" --seconds "$seconds")
    r=$(field iters_per_s <<<"$out")
    echo "minimax $model threads $t: $r it/s, $(field gflops_per_s <<<"$out") GFLOP/s"
    if python3 -c "import sys; sys.exit(not $r > $best_minimax)"; then
      best_minimax=$r
      peak_fraction=$(field fraction_of_peak <<<"$out")
    fi
  done
  for t in 1 2; do
    r=$(/usr/bin/python3 bench/torch_gan_bench.py --model "$model" --threads "$t" \
      --seconds "$seconds" | field iters_per_s)
    echo "torch   $model threads $t: $r it/s"
    best_torch=$(python3 -c "print(max($best_torch, $r))")
  done
  python3 -c "
ratio = $best_minimax / $best_torch
verdict = 'meets' if ratio >= $target else 'MISSES'
print(f'$model: minimax {$best_minimax:.2f} it/s, PyTorch {$best_torch:.2f} it/s, '
      f'ratio {ratio:.2f}x ({verdict} the {$target}x target); '
      f'minimax at {100 * $peak_fraction:.0f}% of sgemm peak')"
}

case $which in
  mlp) compare mlp 2.5 ;;
  dcgan) compare dcgan 2 ;;
  both) compare mlp 2.5 && compare dcgan 2 ;;
  *) echo "usage: bench/compare.sh [mlp|dcgan|both] [seconds]" >&2 && exit 2 ;;
esac
