"""The `_target_`s of configs saved before optlab's modules moved into folders (issue 36, after de93806), brought
up to date when such a config is read back.

A run folder keeps its config (.hydra/config.yaml, summary.json's `config`), and that config names classes by
module path: `optlab.data.ImageDataModule`, `optlab.sources.DigitsSource`, `optlab.callbacks.EpochTimer`. Those
modules now live in packages (optlab.data.datamodule, optlab.data.sources, optlab.run.callbacks). A landscape
rebuilds a finished run from its saved config, and resume=true compares the saved config with today's; both read
it through here, so that runs saved by earlier code still load and resume. tests/test_saved_runs.py holds runs
written by de93806.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

TARGET = "_target_"
# The modules a saved config could name (every `_target_` of conf/ at de93806), old -> new.
MOVED_MODULES = {
    "optlab.data": "optlab.data.datamodule",
    "optlab.sources": "optlab.data.sources",
    "optlab.image_folder": "optlab.data.image_folder",
    "optlab.models": "optlab.models.cnns",
    "optlab.schedules": "optlab.optim.lr_multipliers",
    "optlab.callbacks": "optlab.run.callbacks",
    "optlab.dynamics": "optlab.run.dynamics",
    "optlab.output_dir": "optlab.config.output_dir",
}


def current_target(target: Any) -> Any:
    """`optlab.sources.DigitsSource` -> `optlab.data.sources.DigitsSource`; any other value as it is."""
    if not isinstance(target, str) or "." not in target:
        return target
    module, name = target.rsplit(".", 1)
    return f"{MOVED_MODULES[module]}.{name}" if module in MOVED_MODULES else target


def current_flat_config(config: dict[str, Any]) -> dict[str, Any]:
    """A summary.json's flat config ({"data._target_": ...}) with today's targets."""
    return {key: current_target(value) if key.rsplit(".", 1)[-1] == TARGET else value
            for key, value in config.items()}


def current_config(cfg: DictConfig) -> DictConfig:
    """A saved .hydra/config.yaml with today's targets, its interpolations kept."""
    tree = OmegaConf.to_container(cfg, resolve=False)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: current_target(value) if key == TARGET else walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return OmegaConf.create(walk(tree))
