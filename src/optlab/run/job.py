"""One training job: one CNN, one optimizer, one seed, from a composed config (optlab.train is its command line).

Reads top to bottom: checks -> seed -> data -> model (weights depend on the seed only) -> optimizer ->
callbacks and loggers -> trainer -> fit -> test -> summary.json. A run that diverges, cannot run (SparseAdam on
a CNN) or fails is recorded with its status and reason; the sweep goes on.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary, ProgressBar
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from optlab.config.checks import ConfigError, check_config
from optlab.config.run_identity import flat_config, override_pairs
from optlab.config.run_mode import is_multirun
from optlab.data.datamodule import ready_datamodule
from optlab.data.sources import DataError
from optlab.models.build import build_model, checked_parameters
from optlab.optim.contract import check_optimizer
from optlab.optim.measure import parameter_assignment, state_bytes, unsupported_reason
from optlab.run.callbacks import Diverged, EpochTimer, StopRun, steps_per_epoch
from optlab.run.classifier import Classifier, SchedulerSpec
from optlab.run.console import RUN_OUTCOME, tidy_console
from optlab.run.dynamics import layer_drift, snapshot
from optlab.run.provenance import device_name, git_commit, package_versions, run_numbers_identity
from optlab.run.resume import (
    LAST_CHECKPOINT,
    ResumeError,
    RunInterrupted,
    SweepStopped,
    continue_hint,
    previous_run,
    usable_checkpoint,
)
from optlab.run.summary import FINISHED, RunSummary, Status
from optlab.run.tensorboard_layout import write_layout

log = logging.getLogger(__name__)



def chosen_options() -> dict[str, str | None]:
    """The config group choices of this run (file names: optimizer=adamw -> "adamw"), Hydra's own aside."""
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if not k.startswith("hydra")}


def start_summary(cfg: DictConfig) -> RunSummary:
    choices = chosen_options()
    overrides = OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)  # as typed: ${pruner} kept
    config, versions = flat_config(cfg), package_versions()
    return RunSummary(
        optimizer=str(cfg.get("optimizer_name") or choices["optimizer"]),  # custom/any's optimizer_name
        data=choices["data"],
        model=override_pairs(overrides).get("model._target_", choices["model"]),  # a user's model by its class
        scheduler=choices["scheduler"],
        precision=str(cfg.trainer.precision),
        seed=int(cfg.seed),
        lr=cfg.optimizer.get("lr"),
        target_acc=cfg.report.get("target_acc"),
        choices=choices,
        overrides=overrides,
        config=config,
        versions=versions,
        device=device_name(str(cfg.trainer.accelerator)),
        identity=run_numbers_identity(cfg),
        git_commit=git_commit(),
    )


def train(cfg: DictConfig) -> RunSummary:
    """Run one configured training job and return its summary (also written to the run folder)."""
    multirun = is_multirun()
    tidy_console(multirun=multirun)
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    summary = start_summary(cfg)
    previous = previous_run(output_dir, summary.config, summary.overrides) if cfg.resume else None
    if previous is not None and previous.status in FINISHED:
        log.info("resume: %s already finished (%s), skipped", output_dir, previous.status)
        return previous

    check_config(cfg, summary.optimizer, multirun=multirun)
    check_optimizer(cfg.optimizer, summary.optimizer, summary.overrides)  # before any data is read
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    datamodule, model, parameters = prepare(cfg)
    compile_model(model, cfg.compile)
    initial_weights = snapshot(model)  # the same for every optimizer of this seed, and again on resume
    summary.params = sum(p.numel() for p in parameters)
    summary.classes = list(datamodule.class_names)
    # Plain lists, not OmegaConf's ListConfig: an optimizer keeps its settings (Rprop's etas) in its state, and a
    # checkpoint holding a ListConfig cannot be loaded with torch.load's weights_only, so resume would fail.
    optimizer_factory = instantiate(cfg.optimizer, _convert_="all")
    probe = optimizer_factory(params=parameters)  # state is created lazily: this costs nothing
    summary.param_assignment = parameter_assignment(probe, model)
    skip_reason = unsupported_reason(probe, model)
    if skip_reason:
        summary.status, summary.reason = Status.SKIPPED, skip_reason
        log.warning("skipped: %s", skip_reason, extra=RUN_OUTCOME)
        return _finish(summary, output_dir, is_global_zero=True)

    module = build_module(cfg, model, optimizer_factory, parameters)
    callbacks = build_callbacks(cfg, has_learning_rate=all("lr" in group for group in probe.param_groups),
                                multirun=multirun)
    loggers = [instantiate(node) for node in cfg.logger.values()]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers)
    write_layout(trainer.loggers)  # TensorBoard's Custom Scalars tab: the losses and accuracy of every run

    checkpoint = usable_checkpoint(output_dir / LAST_CHECKPOINT) if cfg.resume else None
    resume_from = str(checkpoint) if checkpoint else None
    if resume_from:
        log.info("resume: continuing from %s", resume_from)
    started = time.perf_counter()
    epoch_trained = False
    try:
        # weights_only=False: the checkpoint is this run's own (resume.usable_checkpoint read it already); one written
        # before optimizer settings were plain lists holds a ListConfig, which weights_only refuses.
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=False)
    except Diverged as diverged:
        summary.status, summary.reason = Status.DIVERGED, str(diverged)
        summary.diverged_step, summary.diverged_epoch = diverged.step, diverged.epoch
        log.warning("diverged: %s", diverged, extra=RUN_OUTCOME)
    except StopRun as stop:  # a callback ended the run (a search's pruner): its status, not a failure
        summary.status, summary.reason = stop.status, str(stop)
        epoch_trained = stop.epoch_trained
        log.info("%s: %s", stop.status, stop)
    except SystemExit:
        if not trainer.interrupted:  # not Lightning's own exit after Ctrl-C or SIGTERM: not ours to handle
            raise
        # Lightning caught the signal, ran its on_exception hooks and exits: keep what is known, then stop.
        summary.status, summary.reason = Status.INTERRUPTED, "stopped by a signal; resume=true continues it"
        _record_training(summary, trainer, module, callbacks.get("epoch_timer"))
        _finish(summary, output_dir, trainer.is_global_zero)
        sweep_dir = HydraConfig.get().sweep.dir if multirun else None
        raise RunInterrupted(f"optlab: interrupted; {continue_hint(output_dir, sweep_dir)}") from None
    else:
        summary.status = Status.OK
    summary.train_time_s = time.perf_counter() - started
    _record_training(summary, trainer, module, callbacks.get("epoch_timer"))
    if epoch_trained:  # stopped at the end of an epoch's validation: that epoch counts
        summary.epochs += 1
    if summary.status == Status.OK:
        validate_final_weights(trainer, module, datamodule, summary)
    summary.layer_drift = layer_drift(initial_weights, model)

    if summary.status == Status.OK and cfg.test:
        results = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        summary.test_loss, summary.test_acc = results["test/loss"], results["test/acc"]
        summary.test_acc_per_class = dict(zip(summary.classes, module.test_class_accuracy, strict=True))
    _log_hparams(trainer, cfg, summary)
    return _finish(summary, output_dir, trainer.is_global_zero)


def prepare(cfg: DictConfig) -> tuple[pl.LightningDataModule, torch.nn.Module, list[torch.nn.Parameter]]:
    """Seed, data, the seeded model and the parameters its optimizer updates: the set-up every use of a training
    config shares (a run, tune's learning-rate finder)."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = ready_datamodule(cfg.data)
    model = build_model(cfg, datamodule)
    return datamodule, model, checked_parameters(cfg, datamodule, model)


def build_module(cfg: DictConfig, model: torch.nn.Module, optimizer_factory: Any,
                 parameters: list[torch.nn.Parameter]) -> Classifier:
    """The LightningModule around `model`, with the configured scheduler."""
    return Classifier(model, optimizer_factory, SchedulerSpec(**instantiate(cfg.scheduler, _convert_="all")),
                      parameters)


def validate_final_weights(trainer: pl.Trainer, module: Classifier, datamodule: pl.LightningDataModule,
                           summary: RunSummary) -> None:
    """The final validation accuracy (the search's objective, the summary's val_acc) must be that of the final
    weights, the ones the test measures. Lightning validates every val_check_batch batches, and when that does not
    divide the epoch (157 batches at val_check_interval=0.25) the last steps come after the last validation; one
    SGD step moved Fashion-MNIST's validation accuracy from 80.0% to 71.9%. Validate once more when that happened
    (logged at the final step, so the curves end there too), and when this process validated nothing: a run resumed
    from its last checkpoint (stopped after it, before its summary was written) trains no step, and would report no
    validation accuracy, which a search scores as 0."""
    if module.validated_step == trainer.global_step or not trainer.limit_val_batches:
        return
    results = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    summary.val_loss, summary.val_acc = results["val/loss"], results["val/acc"]
    summary.best_val_acc = module.best_val_acc


def compile_model(model: torch.nn.Module, settings: DictConfig) -> None:
    """torch.compile in place (nn.Module.compile): the module, its parameters and its state_dict keys stay the same,
    so checkpoints, resume and the landscape tools see the eager model's names. Compilation happens at the first
    step; it removes Python and kernel-launch overhead, what limits a small CNN's step on a GPU."""
    if settings.enabled:
        model.compile(backend=settings.backend, mode=settings.mode, fullgraph=settings.fullgraph,
                      dynamic=settings.dynamic)


def build_callbacks(cfg: DictConfig, has_learning_rate: bool, multirun: bool) -> dict[str, pl.Callback]:
    """The configured callbacks; a progress bar only when trainer.enable_progress_bar (Lightning refuses both); no
    learning-rate monitor for optimizers that keep no lr (the zoo's A2Grad, ALIG set their own steps). In a multirun
    the model summary is Lightning's plain one, which logs (so it reaches train.log, not the console); its default,
    Rich's, prints to the terminal once per run."""
    callbacks = {name: instantiate(node) for name, node in cfg.callbacks.items()}
    has_summary = any(isinstance(c, ModelSummary) for c in callbacks.values())
    if multirun and cfg.trainer.enable_model_summary and not has_summary:
        callbacks["model_summary"] = ModelSummary()
    if not cfg.trainer.enable_progress_bar:
        callbacks = {name: cb for name, cb in callbacks.items() if not isinstance(cb, ProgressBar)}
    if not has_learning_rate:
        log.info("this optimizer keeps no learning rate: nothing for the learning-rate monitor to log")
        callbacks = {name: cb for name, cb in callbacks.items() if not isinstance(cb, LearningRateMonitor)}
    return callbacks


def _record_training(summary: RunSummary, trainer: pl.Trainer, module: Classifier, timer: Any) -> None:
    metrics = trainer.callback_metrics
    summary.epochs = trainer.current_epoch
    summary.steps = trainer.global_step
    summary.steps_per_epoch = steps_per_epoch(trainer)
    summary.train_loss = _metric(metrics, "train/loss_epoch")
    summary.val_loss = _metric(metrics, "val/loss")
    summary.val_acc = _metric(metrics, "val/acc")
    summary.best_val_acc = module.best_val_acc
    if isinstance(timer, EpochTimer):
        summary.epoch_time_s, summary.val_time_s = timer.mean_epoch_time, timer.mean_val_time
        summary.epoch_times_s = list(timer.epoch_times)
    if trainer.optimizers:
        summary.optimizer_state_bytes = state_bytes(trainer.optimizers[0])
    summary.evaluations_per_step = _metric(metrics, "train/evaluations_per_step")


def _metric(metrics: dict[str, torch.Tensor], name: str) -> float:
    return float(metrics[name]) if name in metrics else math.nan


def _log_hparams(trainer: pl.Trainer, cfg: DictConfig, summary: RunSummary) -> None:
    """Per run, the choices and optimizer settings against the results: one entry in TensorBoard's HPARAMS tab,
    params and metrics in the other loggers (MLflow's run page)."""
    params: dict[str, Any] = {
        "optimizer": summary.optimizer, "data": summary.data, "model": summary.model,
        "scheduler": summary.scheduler, "precision": summary.precision, "seed": summary.seed,
        "batch_size": cfg.data.batch_size, "max_epochs": cfg.trainer.max_epochs, "status": str(summary.status),
    }
    for key, value in OmegaConf.to_container(cfg.optimizer, resolve=True).items():
        if not key.startswith("_") and isinstance(value, (int, float, str, bool)):
            params[f"optimizer.{key}"] = value
    results = {
        "hparams/val_acc": summary.val_acc, "hparams/best_val_acc": summary.best_val_acc,
        "hparams/val_loss": summary.val_loss, "hparams/test_acc": summary.test_acc,
    }
    finite = {k: v for k, v in results.items() if math.isfinite(v)}
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):  # its HPARAMS tab pairs the params with these metrics
            logger.log_hyperparams(params, finite)
            # After fit and test closed the writer, that entry opened a new event file and writer thread: written
            # out and closed here, not left to the process's exit (a tune worker runs many jobs in one process).
            logger.finalize("success")
        else:  # MLflow, CSV: params and final results, beside the curves Lightning logged
            logger.log_hyperparams(params)
            logger.log_metrics(finite)
        if isinstance(logger, WandbLogger):
            # W&B keeps one run per process until it is finished: the next job of a sweep would log into it.
            logger.experiment.finish()


def _finish(summary: RunSummary, output_dir: Path, is_global_zero: bool) -> RunSummary:
    if is_global_zero:  # under DDP every process runs train(); one summary is enough
        path = summary.write(output_dir)
        log.info("%s: %s (val_acc %.4f, test_acc %.4f) -> %s", summary.optimizer, summary.status,
                 summary.val_acc, summary.test_acc, path)
    return summary


def run_job(cfg: DictConfig) -> RunSummary:
    """train(), turning any failure into a `failed` summary so that one bad job does not end a sweep."""
    try:
        return train(cfg)
    except ResumeError as error:  # the folder's files stay as they are: nothing is overwritten
        log.error("%s", error)
        if cfg.resume_refused != "skip" and is_multirun():
            raise SweepStopped(f"optlab: {error}. The sweep stopped (resume_refused={cfg.resume_refused})") from None
        summary = start_summary(cfg)
        summary.status, summary.reason = Status.FAILED, str(error)
        return summary
    except (ConfigError, DataError) as error:
        summary = _failed(cfg, str(error))
        log.error("%s", error)
        return summary
    except Exception as error:  # recorded, with the traceback in the job's log file
        log.exception("run failed")
        return _failed(cfg, f"{type(error).__name__}: {error}".splitlines()[0])


def _failed(cfg: DictConfig, reason: str) -> RunSummary:
    summary = start_summary(cfg)
    summary.status, summary.reason = Status.FAILED, reason
    return _finish(summary, Path(HydraConfig.get().runtime.output_dir), is_global_zero=is_global_zero())


def is_global_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0
