"""TensorBoard's Custom Scalars tab: every run's training and validation loss and validation accuracy, nothing else.

TensorBoard (2.21) opens on its Time Series tab, which sorts cards by tag and opens only the first two groups:
`dynamics/` (three quantities per layer and for the whole network, optlab.run.dynamics: 18 cards on cifar_net) and
`epoch`, while `train/` and `val/` come last, closed.
Renaming the tags to sort first would break every reader of them (the report's curves, the schedulers' and the
pruner's monitors, summary.json's keys), so the tags stay and each run writes a custom-scalars layout instead: its
Custom Scalars tab holds one category, the losses and the accuracy, each chart drawing every run of the folder
TensorBoard reads (the runs of a sweep, a protocol's trials). A chart's tags are regular expressions.
"""

from __future__ import annotations

from lightning.pytorch.loggers import Logger, TensorBoardLogger

CATEGORY = "loss and accuracy"
CHARTS = ("train/loss_epoch", "val/loss", "val/acc", "train/loss_step")  # the tags Classifier logs, in this order
# torch.utils.tensorboard's form: {category: {chart title: ["Multiline", [tag regex, ...]]}}
LAYOUT = {CATEGORY: {tag: ["Multiline", [f"^{tag}$"]] for tag in CHARTS}}


def write_layout(loggers: list[Logger]) -> None:
    """LAYOUT into each TensorBoard logger's event file, once per run, before fit (again after a resume, into the
    resumed run's new event file: the same layout). A function called once, not a callback: a callback is dispatched
    at every hook of every step. Other loggers are left alone; on DDP's other processes Lightning's
    logger.experiment writes nothing."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_custom_scalars(LAYOUT)
