#!/usr/bin/env bash
# Issue 4's quality bar on MNIST-format data: the paper's MLP GAN trained by `minimax train` and by
# PyTorch (bench/torch_paper_gan.py: the same model, initialization, optimizer, batch and steps),
# both scored with the paper's Parzen protocol. minimax's samples are scored twice, by `minimax
# eval` and by the PyTorch script's own Parzen code, so the two implementations check each other.
# Usage: bench/compare_parzen.sh [steps] [seed] [train IDX] [test IDX]
#   (defaults: 3000 steps, seed 1, Fashion-MNIST from Debian's dataset-fashion-mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-3000}
seed=${2:-1}
dir=/usr/share/datasets/fashion-mnist
train=${3:-$dir/train-images-idx3-ubyte.gz}
test=${4:-$dir/t10k-images-idx3-ubyte.gz}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])['$1'])"; }

data=fashion-mnist
[[ $train == "$dir/train-images-idx3-ubyte.gz" ]] || data="idx:$train"
echo "== minimax: $steps steps, seed $seed"
build/bin/minimax train --data "$data" --model mlp --steps "$steps" --seed "$seed" --out "$out/run" \
  --log-every 500 | grep -E '^step' | tail -n 1  # the last progress line
build/bin/minimax sample --checkpoint "$out/run/model.ckpt" --n 10000 --seed "$seed" \
  --out "$out/samples.npy" >/dev/null
# `minimax eval` uses the test file of the run's data for fashion-mnist and the training file for
# idx:FILE; the PyTorch side scores on --test.
mm=$(build/bin/minimax eval --checkpoint "$out/run/model.ckpt" --metric parzen --seed "$seed")
mm_torch=$(/usr/bin/python3 bench/torch_paper_gan.py --test "$test" --score "$out/samples.npy")
echo "== PyTorch: $steps steps, seed $seed"
pt=$(/usr/bin/python3 bench/torch_paper_gan.py --train "$train" --test "$test" --steps "$steps" \
  --seed "$seed")  # its progress lines go to stderr
echo "$pt"
python3 - "$(tail -n 1 <<<"$mm")" "$(tail -n 1 <<<"$mm_torch")" "$(tail -n 1 <<<"$pt")" <<'EOF'
import json, sys
mm, mm_torch, pt = (json.loads(a) for a in sys.argv[1:])
row = lambda name, r: print(f"{name:<44} {r['mean']:8.1f} +- {r['standard_error']:.1f}  (sigma {r['sigma']:.3f})")
row("minimax model, scored by minimax eval", mm)
row("minimax model, scored by the PyTorch script", mm_torch)
row("PyTorch model, scored by the PyTorch script", pt)
verdict = "at least" if mm["mean"] >= pt["mean"] else "BELOW"
print(f"minimax's Parzen log-likelihood is {verdict} PyTorch's ({mm['mean']:.1f} vs {pt['mean']:.1f})")
EOF
