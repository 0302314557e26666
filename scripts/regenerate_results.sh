#!/usr/bin/env bash
# Regenerate the README's results (docs/results/) from real runs of the committed code.
# Fashion-MNIST comes from Debian's dataset-fashion-mnist; CIFAR-10 from a folder in torchvision's layout
# (for the JPEG copy kept beside this project: python ../shared/datasets/build_cifar10.py data/).
# About 2 h on a 2-core CPU, two jobs at a time through Hydra's joblib launcher (validation 4x / 2x per epoch).
set -euo pipefail
cd "$(dirname "$0")/.."
FASHION_ROOT=${FASHION_ROOT:-/usr/share/datasets/fashion-mnist}
CIFAR_ROOT=${CIFAR_ROOT:-data}
CIFAR_VERIFY=${CIFAR_VERIFY:-false}   # false: a re-encoded copy cannot pass torchvision's MD5 check
JOBS=${JOBS:-2}
PYTHON=${PYTHON:-.venv/bin/python}
parallel=(hydra/launcher=joblib "hydra.launcher.n_jobs=$JOBS" torch_threads=1)

run() {  # name, experiment overrides...
  local name=$1; shift
  local start=$SECONDS
  "$PYTHON" -m optlab.train -m "$@" "${parallel[@]}" "hydra.sweep.dir=outputs/results/$name"
  echo "$name: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | tee -a docs/results/timings.txt
  # Every group against the best (the default reference), then against plain SGD: the README's prose cites both.
  "$PYTHON" -m optlab.report "outputs/results/$name" --out "docs/results/$name"
  "$PYTHON" -m optlab.report "outputs/results/$name" --out "docs/results/$name/vs_sgd" --reference sgd
}

run fashion_mnist experiment=fashion_mnist_zoo "data.root=$FASHION_ROOT"
run cifar10 experiment=cifar10_zoo "data.root=$CIFAR_ROOT" "data.verify=$CIFAR_VERIFY"
