#!/usr/bin/env bash
# Issue 15's quality bar: minimax's default run (`minimax train --data fashion-mnist` and no other
# flag: whatever model and recipe are the default) against PyTorch's DCGAN recipe
# (bench/torch_dcgan_quality.py) given the same wall time: minimax's whole `train` command is
# timed, then PyTorch trains for that many seconds at 2 threads, its better count on this 2-core
# machine (its data loading not counted). 10,000 samples of each side, scored alike by `minimax
# eval --samples` (the bundled Fashion-MNIST feature network): per seed the FID of each side, their
# ratio, the classes holding at least 1% of the samples and the smallest class's share; then the
# medians, against the issue's targets. The load average is printed first (bench/load_average.sh).
# Usage: bench/compare_quality.sh [--seeds N] [--steps S]
#   --seeds N: seeds 1 to N (default 3; fewer is a check of the script, not a comparison)
#   --steps S: a shorter minimax run, to check the script (default: the recipe's)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=3 steps=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --steps) steps=(--steps "$2"); shift 2 ;;
    *) echo "usage: bench/compare_quality.sh [--seeds N] [--steps S]" >&2; exit 2 ;;
  esac
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
source bench/load_average.sh
print_load_average

field() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
score() {  # side seed samples.npy: FID and classes into $out/side-seed-METRIC.json
  for metric in fid classes; do
    build/bin/minimax eval --samples "$3" --data fashion-mnist --metric "$metric" \
      --json "$out/$1-$2-$metric.json" | grep -v '^[{m]'  # the summary line
  done
}

for seed in $(seq 1 "$seeds"); do
  echo "== seed $seed: minimax train --data fashion-mnist ${steps[*]}"
  start=$EPOCHREALTIME
  build/bin/minimax train --data fashion-mnist --seed "$seed" --out "$out/run$seed" "${steps[@]}" |
    grep -E '^step' | tail -n 1  # the last progress line
  seconds=$(python3 -c "print(round($EPOCHREALTIME - $start, 1))")
  echo "{\"seconds\": $seconds}" >"$out/minimax-$seed.json"
  build/bin/minimax sample --checkpoint "$out/run$seed/model.ckpt" --n 10000 --seed "$seed" \
    --out "$out/minimax-$seed.npy" >/dev/null
  score minimax "$seed" "$out/minimax-$seed.npy"
  echo "== seed $seed: PyTorch DCGAN for $seconds s at 2 threads"
  /usr/bin/python3 bench/torch_dcgan_quality.py --seconds "$seconds" --seed "$seed" --threads 2 \
    --out "$out/pytorch-$seed.npy" 2>/dev/null | tail -n 1 >"$out/pytorch-$seed.json"
  echo "PyTorch trained $(field "$out/pytorch-$seed.json" steps) steps"
  score pytorch "$seed" "$out/pytorch-$seed.npy"
done
echo "1-minute load average at the end: $(cut -d' ' -f1 /proc/loadavg)"

python3 - "$out" "$seeds" <<'EOF_PY'
import json, statistics, sys
out, seeds = sys.argv[1], range(1, int(sys.argv[2]) + 1)
read = lambda side, seed, what: json.load(open(f"{out}/{side}-{seed}{what}.json"))
def row(side, seed):
    c = read(side, seed, "-classes")
    return {"seconds": read(side, seed, "")["seconds"], "fid": read(side, seed, "-fid")["fid"],
            "classes": c["classes_present"], "smallest": min(c["histogram"]) / c["samples"]}
rows = {s: {side: row(side, s) for side in ("minimax", "pytorch")} for s in seeds}
print(f"\n{'seed':>4} {'seconds':>8} {'FID minimax':>12} {'FID PyTorch':>12} {'ratio':>6} "
      f"{'classes minimax':>16} {'classes PyTorch':>16}")
cls = lambda r: f"{r['classes']}/10, min {100 * r['smallest']:.1f}%"
for s, r in rows.items():
    m, p = r["minimax"], r["pytorch"]
    print(f"{s:>4} {m['seconds']:>8.1f} {m['fid']:>12.2f} {p['fid']:>12.2f} "
          f"{m['fid'] / p['fid']:>6.3f} {cls(m):>16} {cls(p):>16}")
median = lambda f: statistics.median(f(r) for r in rows.values())
ratio = median(lambda r: r["minimax"]["fid"] / r["pytorch"]["fid"])
print(f"median {median(lambda r: r['minimax']['seconds']):>6.1f} "
      f"{median(lambda r: r['minimax']['fid']):>12.2f} {median(lambda r: r['pytorch']['fid']):>12.2f} "
      f"{ratio:>6.3f}")
all_classes = all(r["minimax"]["classes"] == 10 for r in rows.values())
print(f"target: FID ratio <= 0.5 at equal wall time: {'met' if ratio <= 0.5 else 'MISSED'}; "
      f"minimax 10 of 10 classes on every seed: {'met' if all_classes else 'MISSED'}")
if len(rows) < 3:
    print("(fewer than 3 seeds: a check of the script, not the comparison)")
EOF_PY
