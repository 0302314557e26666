#!/usr/bin/env bash
# The README's tuned results: optlab.tune's protocol, 2-core CPU, two runs at a time. OPTIMIZERS chooses which
# (a,b,c or glob(*)); an interrupted run continues where it stopped: RESUME=true.
#   DATA=fashion_mnist (default; docs/results/tuning_v2/): at the setting of the untuned table (experiment
#     fashion_mnist_zoo: the MNIST CNN, 20,000 training images, 5 epochs), validated once per epoch (the untuned table
#     validates 4x for time to target; final numbers do not depend on it), 16 search trials per optimizer on seed 0,
#     the chosen lr and the default rerun on seeds 1-5. About 11 min per optimizer (190 min for the 17, 2-core CPU).
#     docs/results/tuning/ holds the first protocol's results: OUT and DOCS choose other folders.
#     SCHEDULER=warmup_cosine tunes under that schedule (OUT=outputs/tune/fashion_mnist_cosine keeps it apart).
#   DATA=cifar10 (docs/results/tuning_cifar10/): the smaller budget, the course CNN on 20,000 CIFAR-10 training images
#     (CIFAR_ROOT, a JPEG copy: data.verify=false), 5 epochs, 8 search trials, 3 rerun seeds. About 6 min per optimizer.
# EXTRA: more training overrides, space-separated (EXTRA=data.drop_last=true OUT=outputs/tune/fashion_mnist_drop_last
# DOCS=docs/results/tuning_drop_last OPTIMIZERS=sgd: tuned SGD without each epoch's smaller last batch).
# No scheduler override unless SCHEDULER is given: the protocol's identity is its override list, and the constant-lr
# runs were made without one.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-fashion_mnist}
FASHION_ROOT=${FASHION_ROOT:-/usr/share/datasets/fashion-mnist}
CIFAR_ROOT=${CIFAR_ROOT:-data}
OPTIMIZERS=${OPTIMIZERS:-sgd,adam,muon,lion}
RESUME=${RESUME:-false}
SCHEDULER=${SCHEDULER:-}
read -r -a EXTRA_OVERRIDES <<< "${EXTRA:-}"
PYTHON=${PYTHON:-.venv/bin/python}
case "$DATA" in
  fashion_mnist)
    TRAIN=(data=fashion_mnist model=mnist_net "data.root=$FASHION_ROOT" data.train_size=20000)
    BUDGET=(budget=16 seeds=5)
    OUT=${OUT:-outputs/tune/fashion_mnist_v2}
    DOCS=${DOCS:-docs/results/tuning_v2} ;;
  cifar10)
    TRAIN=(data=cifar10 model=cifar_net "data.root=$CIFAR_ROOT" data.verify=false data.train_size=20000)
    BUDGET=(budget=8 seeds=3)
    OUT=${OUT:-outputs/tune/cifar10}
    DOCS=${DOCS:-docs/results/tuning_cifar10} ;;
  *) echo "regenerate_tuning.sh: DATA=$DATA: choose fashion_mnist or cifar10" >&2; exit 2 ;;
esac
start=$SECONDS
# The experiment's settings spelled out: experiment=fashion_mnist_zoo would also bring its own sweep (every
# optimizer x 3 seeds) into each search.
"$PYTHON" -m optlab.tune "optimizer=$OPTIMIZERS" "${BUDGET[@]}" workers=2 "out=$OUT" "resume=$RESUME" "${TRAIN[@]}" \
  trainer.max_epochs=5 trainer.val_check_interval=1.0 trainer.enable_progress_bar=false \
  ${SCHEDULER:+"scheduler=$SCHEDULER"} "${EXTRA_OVERRIDES[@]}"
echo "tuning $DATA ($OPTIMIZERS, scheduler ${SCHEDULER:-none}): $((SECONDS - start)) s ($(git rev-parse --short HEAD))" \
  | tee -a docs/results/timings.txt
rm -rf "$DOCS" && mkdir -p "$DOCS"
cp -r "$OUT/report/." "$DOCS/"
