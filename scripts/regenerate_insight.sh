#!/usr/bin/env bash
# Regenerate the README's "Seeing why optimizers differ" figures (docs/insight/) from real runs of the committed
# code: trajectories of every optimizer on four 2-D functions, then the Fashion-MNIST sweep of every optimizer
# (3 seeds; its report holds the layer-drift heatmap and the dynamics curves) and the loss landscapes of its seed 1.
# About 1 h on a 2-core CPU (the sweep: two jobs at a time through Hydra's joblib launcher).
set -euo pipefail
cd "$(dirname "$0")/.."
FASHION_ROOT=${FASHION_ROOT:-/usr/share/datasets/fashion-mnist}
JOBS=${JOBS:-2}
PYTHON=${PYTHON:-.venv/bin/python}
OUT=docs/insight

for function in rosenbrock rastrigin saddle beale; do
  sweep=outputs/insight/trajectories/$function
  start=$SECONDS
  "$PYTHON" -m optlab.trajectories -m 'optimizer=glob(*)' "function=$function" "hydra.sweep.dir=$sweep"
  mkdir -p "$OUT/trajectories/$function"
  cp "$sweep"/{trajectories.png,trajectories.gif,values.png,trajectories.md} "$OUT/trajectories/$function/"
  echo "trajectories $function: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | tee -a "$OUT/timings.txt"
done

sweep=outputs/insight/fashion_mnist
start=$SECONDS
"$PYTHON" -m optlab.train -m experiment=fashion_mnist_zoo "data.root=$FASHION_ROOT" hydra/launcher=joblib \
  "hydra.launcher.n_jobs=$JOBS" torch_threads=1 "hydra.sweep.dir=$sweep"
echo "fashion_mnist sweep: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | tee -a "$OUT/timings.txt"
"$PYTHON" -m optlab.report "$sweep" --out "$OUT/fashion_mnist"

start=$SECONDS
"$PYTHON" -m optlab.landscape "$sweep" --seed 1 --out "$OUT/fashion_mnist/landscape"
echo "fashion_mnist landscape: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | tee -a "$OUT/timings.txt"
