#!/usr/bin/env bash
# Regenerate the untuned results page's runs and report from real runs of the committed code: every optimizer at its
# default, seeds 1-3, on Fashion-MNIST, CIFAR-10 and digits; one report over the three tasks (performance profiles,
# average ranks) with each task's own report inside it, written to outputs/results/report/. PUBLISH=<folder> copies
# it there too (the page's: PUBLISH=docs/results/untuned) and adds the wall times to docs/results/timings.txt; a
# folder that already holds files is refused before anything runs, unless REPLACE=true (scripts/publish.sh).
# Fashion-MNIST comes from Debian's dataset-fashion-mnist; CIFAR-10 from a folder in torchvision's layout
# (for the JPEG copy kept beside this project: python ../shared/datasets/build_cifar10.py data/).
# About 2 h on a 2-core CPU, two jobs at a time (JOBS=2); 6 min on an H200 with JOBS=12 DEVICE=gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/publish.sh
FASHION_ROOT=${FASHION_ROOT:-/usr/share/datasets/fashion-mnist}
CIFAR_ROOT=${CIFAR_ROOT:-data}
CIFAR_VERIFY=${CIFAR_VERIFY:-false}   # false: a re-encoded copy cannot pass torchvision's MD5 check
JOBS=${JOBS:-2}
DEVICE=${DEVICE:-cpu}
PYTHON=${PYTHON:-.venv/bin/python}
PUBLISH=${PUBLISH:-}
[ -z "$PUBLISH" ] || publish_refused "$PUBLISH"
mkdir -p outputs/results
parallel=(hydra/launcher=joblib "hydra.launcher.n_jobs=$JOBS" torch_threads=1 "device=$DEVICE" report.enabled=false)

run() {  # name, overrides...
  local name=$1; shift
  local start=$SECONDS
  "$PYTHON" -m optlab.train -m "$@" "${parallel[@]}" "hydra.sweep.dir=outputs/results/$name"
  echo "untuned $name: $((SECONDS - start)) s ($(git rev-parse --short HEAD), device=$DEVICE)" \
    | tee -a outputs/results/timings.txt ${PUBLISH:+docs/results/timings.txt}
}

run fashion_mnist experiment=fashion_mnist_zoo "data.root=$FASHION_ROOT"
run cifar10 experiment=cifar10_zoo "data.root=$CIFAR_ROOT" "data.verify=$CIFAR_VERIFY"
run digits 'optimizer=glob(*)' data=digits seed=1,2,3 trainer.max_epochs=10
"$PYTHON" -m optlab.report outputs/results/fashion_mnist outputs/results/cifar10 outputs/results/digits \
  --out outputs/results/report
[ -z "$PUBLISH" ] || publish outputs/results/report "$PUBLISH"
