"""Seed a search's learning-rate range with Lightning's learning-rate finder (`Tuner.lr_find`, tune's lr_find).

The finder trains for a few batches while raising the lr exponentially and suggests the lr where the loss fell
fastest (Smith 2017's range test). It runs on the search seed with the same config as the trials; the search then
covers [suggestion / factor, suggestion * factor]. Its curve and suggestion are kept in `<search>/lr_find/`, and a
resumed protocol reads them back instead of running the finder again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from optlab.files import write_atomic
from optlab.tune.settings import TuneError, TuneSettings

RESULT = "lr_find.json"


def find_lr_range(settings: TuneSettings, optimizer: str, folder: Path) -> tuple[float, float]:
    """The search range around the finder's suggestion for `optimizer` (found once, then read from `folder`)."""
    path = folder / RESULT
    if not path.is_file():
        suggestion, curve = run_finder(settings, optimizer, folder)
        write_atomic(path, json.dumps({"suggestion": suggestion, "lr": curve[0], "loss": curve[1]}, indent=2) + "\n")
    suggestion = json.loads(path.read_text())["suggestion"]
    if suggestion is None or not math.isfinite(suggestion) or suggestion <= 0:
        raise TuneError(f"the learning-rate finder found no lr for {optimizer} ({path}); run without "
                        "lr_find.enabled=true to use conf/hparams_search's range")
    factor = settings.lr_find["factor"]
    return suggestion / factor, suggestion * factor


def run_finder(settings: TuneSettings, optimizer: str, folder: Path) -> tuple[float | None, list[list[float]]]:
    """Lightning's range test on the composed training config; returns the suggestion and (lrs, losses)."""
    import lightning.pytorch as pl
    from hydra.utils import instantiate
    from lightning.pytorch.tuner import Tuner

    from optlab.config.compose import compose_config
    from optlab.run.job import build_module, prepare

    cfg = compose_config("train", [*settings.train_overrides, f"optimizer={settings.config_of(optimizer)}",
                                   f"seed={settings.search_seed}"])
    datamodule, model, parameters = prepare(cfg)
    module = build_module(cfg, model, instantiate(cfg.optimizer, _convert_="all"), parameters)
    trainer = pl.Trainer(accelerator=cfg.trainer.accelerator, devices=1, precision=cfg.trainer.precision,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=str(folder))
    lr_find = settings.lr_find
    finder = Tuner(trainer).lr_find(module, datamodule=datamodule, min_lr=lr_find["min_lr"],
                                    max_lr=lr_find["max_lr"], num_training=lr_find["steps"], update_attr=False)
    if finder is None:
        return None, [[], []]
    folder.mkdir(parents=True, exist_ok=True)
    finder.plot(suggest=True).savefig(folder / "lr_find.png", dpi=110)
    return finder.suggestion(), [list(map(float, finder.results["lr"])), list(map(float, finder.results["loss"]))]
