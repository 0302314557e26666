"""optlab's configs, for its commands and composed in-process: hydra_command() is the entry of the Hydra commands
(optlab.train, optlab.trajectories); optlab_configs() and compose_config() serve the tools that need a run's config
without running it (optlab.tune's settings, its search space, the learning-rate finder).

One place for Hydra's clear / initialize / compose sequence: resolvers registered, any earlier Hydra state (a
previous compose, a test's) cleared, the configs read from the package (pkg://optlab.conf) wherever optlab is
installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import hydra
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from optlab.config.resolvers import register_resolvers

CONFIG_MODULE = "optlab.conf"


def hydra_command(task: Callable[[DictConfig], Any], config_name: str) -> None:
    """Run `task` as a Hydra command on conf/<config_name>.yaml and the command line: resolvers registered first,
    then Hydra's own main (-m, --cfg, overrides, launchers and sweepers as Hydra documents them)."""
    register_resolvers()
    hydra.main(version_base="1.3", config_path=f"pkg://{CONFIG_MODULE}", config_name=config_name)(task)()


@contextmanager
def optlab_configs() -> Iterator[object]:
    """Inside: hydra.compose() reads optlab's configs; yields Hydra's config loader (group options)."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def compose_config(name: str, overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """conf/<name>.yaml with `overrides`, as `python -m optlab.train <overrides>` would compose it."""
    from hydra import compose

    with optlab_configs():
        return compose(config_name=name, overrides=overrides, return_hydra_config=return_hydra_config)
