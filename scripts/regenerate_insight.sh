#!/usr/bin/env bash
# Regenerate the README's "Seeing why optimizers differ" figures (docs/insight/) from real runs of the committed
# code: trajectories of every optimizer on four 2-D functions, then the Fashion-MNIST sweep of every optimizer
# (3 seeds; its report holds the layer-drift heatmap and the dynamics curves) and the loss landscapes of its seed 1;
# then the textbook optimizers and four of pytorch-optimizer's on the same runs' settings, reported beside them.
# About 90 min on a 2-core CPU (the sweeps: two jobs at a time through Hydra's joblib launcher).
# What the page shows is written to outputs/insight/pages/ (trajectories/, fashion_mnist_sweep/ with its
# landscape/, fashion_mnist_textbook_zoo/). PUBLISH=<folder> copies those three folders into it too (the page's:
# PUBLISH=docs/insight) and adds the wall times to its timings.txt; one of them that already holds files is refused
# before anything runs, unless REPLACE=true (scripts/publish.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/publish.sh
FASHION_ROOT=${FASHION_ROOT:-/usr/share/datasets/fashion-mnist}
JOBS=${JOBS:-2}
PYTHON=${PYTHON:-.venv/bin/python}
PUBLISH=${PUBLISH:-}
OUT=outputs/insight/pages
PAGES=(trajectories fashion_mnist_sweep fashion_mnist_textbook_zoo)
if [ -n "$PUBLISH" ]; then
  publish_refused "${PAGES[@]/#/$PUBLISH/}"
  mkdir -p "$PUBLISH"
fi
mkdir -p "$OUT"
timing() {  # a wall-time line, into OUT's timings.txt and, when publishing, PUBLISH's
  tee -a "$OUT/timings.txt" ${PUBLISH:+"$PUBLISH/timings.txt"}
}

for function in rosenbrock rastrigin saddle beale; do
  sweep=outputs/insight/trajectories/$function
  start=$SECONDS
  "$PYTHON" -m optlab.trajectories -m 'optimizer=glob(*)' "function=$function" "hydra.sweep.dir=$sweep"
  mkdir -p "$OUT/trajectories/$function"
  cp "$sweep"/{trajectories.png,trajectories.gif,values.png,trajectories.md} "$OUT/trajectories/$function/"
  echo "trajectories $function: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | timing
done

sweep=outputs/insight/fashion_mnist
start=$SECONDS
"$PYTHON" -m optlab.train -m experiment=fashion_mnist_zoo "data.root=$FASHION_ROOT" hydra/launcher=joblib \
  "hydra.launcher.n_jobs=$JOBS" torch_threads=1 "hydra.sweep.dir=$sweep"
echo "fashion_mnist sweep: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | timing
# The same setting as regenerate_results.sh's Fashion-MNIST sweep, on the CPU: the report the insight page's
# layer-drift, dynamics and landscape figures come from.
"$PYTHON" -m optlab.report "$sweep" --out "$OUT/fashion_mnist_sweep"

start=$SECONDS
"$PYTHON" -m optlab.landscape "$sweep" --seed 1 --grid 13 --subset 512 --out "$OUT/fashion_mnist_sweep/landscape"
echo "fashion_mnist landscape: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | timing

# The same experiment, seed 1, with the textbook optimizers and four zoo optimizers instead of the built-in ones.
textbook=textbook/sgd,textbook/momentum,textbook/nesterov,textbook/adagrad,textbook/rmsprop,textbook/adam,textbook/adamw,textbook/lion
start=$SECONDS
"$PYTHON" -m optlab.train -m experiment=fashion_mnist_zoo "data.root=$FASHION_ROOT" hydra/launcher=joblib \
  "hydra.launcher.n_jobs=$JOBS" torch_threads=1 "hydra.sweeper.params.optimizer='$textbook'" hydra.sweeper.params.seed=1 \
  "hydra.sweep.dir=outputs/insight/fashion_mnist_textbook"
"$PYTHON" -m optlab.train -m experiment=fashion_mnist_zoo "data.root=$FASHION_ROOT" hydra/launcher=joblib \
  "hydra.launcher.n_jobs=$JOBS" torch_threads=1 hydra.sweeper.params.optimizer=zoo/any hydra.sweeper.params.seed=1 \
  optimizer.name=adabelief,madgrad,prodigy,schedulefreeadamw \
  "hydra.sweep.dir=outputs/insight/fashion_mnist_zoo_library"
echo "fashion_mnist textbook + zoo sweeps: $((SECONDS - start)) s ($(git rev-parse --short HEAD))" | timing
"$PYTHON" -m optlab.report "$sweep"/*_seed1 outputs/insight/fashion_mnist_textbook outputs/insight/fashion_mnist_zoo_library \
  --out "$OUT/fashion_mnist_textbook_zoo"
if [ -n "$PUBLISH" ]; then
  for page in "${PAGES[@]}"; do publish "$OUT/$page" "$PUBLISH/$page"; done
fi
