#!/usr/bin/env bash
# Tuned results: optlab.tune's current protocol (conf/tune.yaml's defaults), 2-core CPU, two workers. OPTIMIZERS
# chooses which (a,b,c or glob(*)); an interrupted run continues where it stopped: RESUME=true.
#   DATA=fashion_mnist (default): at the setting of the untuned table (experiment fashion_mnist_zoo: the MNIST CNN,
#     20,000 training images, 5 epochs), validated once per epoch (the untuned table validates 4x for time to target;
#     final numbers do not depend on it), 16 search trials per optimizer on seed 0, the chosen lr and the default
#     rerun on seeds 1-5. Tune v2 (00492f5, 2026-12-05) took 190 min for the 17 on the 2-core CPU.
#     SCHEDULER=warmup_cosine tunes under that schedule (OUT=outputs/tune/fashion_mnist_cosine keeps it apart).
#   DATA=cifar10: the smaller budget, the course CNN on 20,000 CIFAR-10 training images (CIFAR_ROOT, a JPEG copy:
#     data.verify=false), 5 epochs, 8 search trials, 3 rerun seeds.
# The report stays in OUT/report/. PUBLISH=<folder> copies it there too (e.g. PUBLISH=docs/results/tuning_v2) and
# adds the wall time to docs/results/timings.txt; a folder that already holds files is refused before anything runs,
# unless REPLACE=true (scripts/publish.sh). The pages under docs/results/ were made by earlier protocols: each page's
# provenance names the commit and command that reproduce it.
# EXTRA: more training overrides, space-separated (EXTRA=data.drop_last=true OUT=outputs/tune/fashion_mnist_drop_last
# OPTIMIZERS=sgd: tuned SGD without each epoch's smaller last batch).
# No scheduler override unless SCHEDULER is given: the protocol's identity is its override list, and the constant-lr
# runs were made without one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/publish.sh
if [ -n "${DOCS:-}" ]; then
  echo "regenerate_tuning.sh: DOCS= is now PUBLISH= (REPLACE=true to replace a folder that holds files)" >&2
  exit 2
fi
DATA=${DATA:-fashion_mnist}
FASHION_ROOT=${FASHION_ROOT:-/usr/share/datasets/fashion-mnist}
CIFAR_ROOT=${CIFAR_ROOT:-data}
OPTIMIZERS=${OPTIMIZERS:-sgd,adam,muon,lion}
RESUME=${RESUME:-false}
SCHEDULER=${SCHEDULER:-}
PUBLISH=${PUBLISH:-}
read -r -a EXTRA_OVERRIDES <<< "${EXTRA:-}"
PYTHON=${PYTHON:-.venv/bin/python}
case "$DATA" in
  fashion_mnist)
    TRAIN=(data=fashion_mnist model=mnist_net "data.root=$FASHION_ROOT" data.train_size=20000)
    BUDGET=(budget=16 seeds=5)
    OUT=${OUT:-outputs/tune/fashion_mnist_v3} ;;
  cifar10)
    TRAIN=(data=cifar10 model=cifar_net "data.root=$CIFAR_ROOT" data.verify=false data.train_size=20000)
    BUDGET=(budget=8 seeds=3)
    OUT=${OUT:-outputs/tune/cifar10} ;;
  *) echo "regenerate_tuning.sh: DATA=$DATA: choose fashion_mnist or cifar10" >&2; exit 2 ;;
esac
[ -z "$PUBLISH" ] || publish_refused "$PUBLISH"
start=$SECONDS
# The experiment's settings spelled out: experiment=fashion_mnist_zoo would also bring its own sweep (every
# optimizer x 3 seeds) into each search.
"$PYTHON" -m optlab.tune "optimizer=$OPTIMIZERS" "${BUDGET[@]}" workers=2 "out=$OUT" "resume=$RESUME" "${TRAIN[@]}" \
  trainer.max_epochs=5 trainer.val_check_interval=1.0 trainer.enable_progress_bar=false \
  ${SCHEDULER:+"scheduler=$SCHEDULER"} "${EXTRA_OVERRIDES[@]}"
echo "tuning $DATA ($OPTIMIZERS, scheduler ${SCHEDULER:-none}): $((SECONDS - start)) s ($(git rev-parse --short HEAD))" \
  | tee -a "$OUT/timings.txt" ${PUBLISH:+docs/results/timings.txt}
[ -z "$PUBLISH" ] || publish "$OUT/report" "$PUBLISH"
