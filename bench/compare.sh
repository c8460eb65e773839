#!/usr/bin/env bash
# minimax against PyTorch 1.13 and libtorch 1.13, training iterations per second, honestly:
# - minimax runs at its defaults (no --threads: the cores this process may use), as a user gets it;
#   each peer runs at 1 and 2 threads and keeps its better count in each round;
# - the sides alternate, round after round (--rounds, at least 3), so a change in the machine's
#   load hits all of them; the 1-minute load average is printed first, with a warning above 0.5;
# - per model and side: the median and range of it/s over the rounds, the ratio minimax / best peer
#   (each round's) with its median and range against the targets, minimax's peak resident
#   memory as a fraction of PyTorch's, and the fraction of its compute floor minimax's iterations
#   reached (`minimax bench`'s median over its own rounds) against the targets, and minimax's
#   iteration as its floor, what the same calls lose inside it and the work between them
#   (bench/compare_stats.py does the arithmetic).
# Models: mlp (the paper's, batch 100, SGD), dcgan (batch 64, Adam), wgan-gp (dcgan, k = 5 with the
# gradient penalty). Needs build/bin/minimax (Release) and python3-torch; libtorch's side runs when
# build/bin/libtorch_gan_bench exists (bench/build_libtorch_bench.sh builds it).
# Usage: bench/compare.sh [--rounds N] [--seconds S] [--models "mlp dcgan wgan-gp"]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 seconds=10 models="mlp dcgan wgan-gp"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    *) echo "usage: bench/compare.sh [--rounds N] [--seconds S] [--models \"mlp dcgan wgan-gp\"]" >&2
       exit 2 ;;
  esac
done
[ "$rounds" -ge 3 ] || { echo "compare.sh: --rounds must be at least 3" >&2; exit 2; }
libtorch=build/bin/libtorch_gan_bench
records=$(mktemp)
trap 'rm -f "$records"' EXIT

source bench/load_average.sh
print_load_average
[ -x "$libtorch" ] || echo "note: $libtorch not built (bench/build_libtorch_bench.sh): PyTorch only"

flags() {  # the bench flags of a model name
  case $1 in wgan-gp) echo "--model dcgan --loss wgan-gp" ;; *) echo "--model $1" ;; esac
}
record() {  # model side round threads command...: runs it, keeps its last (JSON) line
  local model=$1 side=$2 round=$3 threads=$4 line
  shift 4
  line=$("$@" | tail -1)
  printf '%s\t%s\t%s\t%s\t%s\n' "$model" "$side" "$round" "$threads" "$line" >>"$records"
  echo "  round $round $model $side threads $threads: $(python3 -c "import json,sys; print('%.2f it/s' % json.loads(sys.argv[1])['iters_per_s'])" "$line")"
}

for round in $(seq 1 "$rounds"); do
  for model in $models; do
    record "$model" minimax "$round" default build/bin/minimax bench $(flags "$model") --seconds "$seconds"
    for t in 1 2; do
      record "$model" pytorch "$round" "$t" /usr/bin/python3 bench/torch_gan_bench.py $(flags "$model") \
        --threads "$t" --seconds "$seconds"
      if [ -x "$libtorch" ]; then
        record "$model" libtorch "$round" "$t" "$libtorch" $(flags "$model") --threads "$t" \
          --seconds "$seconds"
      fi
    done
  done
done
echo "1-minute load average at the end: $(cut -d' ' -f1 /proc/loadavg)"
python3 bench/compare_stats.py "$records"
