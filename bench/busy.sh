#!/usr/bin/env bash
# minimax on a busy machine: one CPU-bound process (`while :; do :; done`) per core beside it,
# `minimax bench` at its default thread count and at --threads 1, alternating, for mlp and dcgan.
# The default must not be slower than one thread (issue 14): idle OpenMP threads spin only briefly
# before they sleep (ops/runtime.h, restart_with_openmp_wait_policy) and small ops run on one thread.
# Usage: bench/busy.sh [--rounds N] [--seconds S]   (needs build/bin/minimax, Release)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 seconds=5
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: bench/busy.sh [--rounds N] [--seconds S]" >&2; exit 2 ;;
  esac
done
burners=()
trap 'kill "${burners[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 1 "$(nproc)"); do
  sh -c 'while :; do :; done' &
  burners+=($!)
done
sleep 1
echo "$(nproc) burners started; 1-minute load average $(cut -d' ' -f1 /proc/loadavg)"
its() { python3 -c "import json,sys; j=json.loads(sys.stdin.read().splitlines()[-1]); print('%.2f it/s, %d thread(s)' % (j['iters_per_s'], j['threads']))"; }
for round in $(seq 1 "$rounds"); do
  for model in mlp dcgan; do
    echo "round $round $model default:    $(build/bin/minimax bench --model "$model" --seconds "$seconds" | its)"
    echo "round $round $model --threads 1: $(build/bin/minimax bench --model "$model" --threads 1 --seconds "$seconds" | its)"
  done
done
echo "1-minute load average at the end $(cut -d' ' -f1 /proc/loadavg)"
