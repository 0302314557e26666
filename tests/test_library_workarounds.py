"""Where optlab leans on how a library works inside rather than on its documented surface, a test here fails when
that stops holding: the logger names conf/train.yaml quiets Hydra's launchers by, and the copy of
hydra-submitit-launcher's submission in hydra_plugins.optlab_launchers.slurm (why each: at the place itself)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import logging.config
import os
import pkgutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import submitit
from helpers import compose_config
from hydra.utils import instantiate
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import DictConfig, OmegaConf
from submitit.core.utils import FailedJobError, UncompletedJobError

from hydra_plugins.optlab_launchers import slurm

# sha256 (first 16 hex digits) of BaseSubmititLauncher.launch's source in hydra-submitit-launcher 1.2.0.
HYDRA_SUBMITIT_LAUNCH = "546875669010f80d"


@contextmanager
def hydra_logger_levels(hydra_logging: DictConfig) -> Iterator[None]:
    """The levels hydra.hydra_logging gives the root logger (INFO) and the named loggers, applied as Hydra applies
    them (dictConfig), handlers left alone; the levels before restored after."""
    loggers = OmegaConf.to_container(hydra_logging.loggers)
    before = {name: logging.getLogger(name).level for name in loggers}
    root_before = logging.root.level
    logging.config.dictConfig({"version": 1, "incremental": True, "loggers": loggers,
                               "root": {"level": hydra_logging.root.level}})
    try:
        yield
    finally:
        logging.root.setLevel(root_before)
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def package_loggers(package: str) -> list[logging.Logger]:
    """The logger of every module of `package` (each module imported, so loggers made at import exist), and any
    other logger named under it."""
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        importlib.import_module(module.name)
    names = {name for name in logging.root.manager.loggerDict if name.startswith(f"{package}.")}
    return [logging.getLogger(name) for name in sorted(names | {package})]


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_multiruns_hydra_logging_quiets_the_launchers_line_per_job(launcher: str, tmp_path: Path) -> None:
    """conf/train.yaml sets levels on the `hydra` and `hydra_plugins.hydra_joblib_launcher` loggers; the lines
    come from private modules under them (hydra._internal.core_plugins.basic_launcher, the joblib launcher's
    _core). Fails if a launcher's modules move outside those names."""
    cfg = compose_config([f"hydra/launcher={launcher}"], tmp_path)
    package = cfg.hydra.launcher._target_.rsplit(".", 2)[0]  # <package>.<module>.<class>
    loggers = package_loggers(package)
    assert len(loggers) > 1, package
    with hydra_logger_levels(cfg.hydra.hydra_logging):
        assert [logger.name for logger in loggers if logger.isEnabledFor(logging.INFO)] == []
        assert logging.getLogger(package).isEnabledFor(logging.WARNING)  # warnings still reach the console


def test_the_copied_submission_is_the_installed_launchers() -> None:
    """hydra_plugins.optlab_launchers.slurm repeats BaseSubmititLauncher.launch's submission. A new
    hydra-submitit-launcher whose launch differs fails here: compare its launch with slurm.SlurmLauncher.submit
    (executor keys, job arguments, sweep folder), bring the copy in line (or drop it if launch no longer waits
    inside), then record the new digest."""
    source = inspect.getsource(BaseSubmititLauncher.launch)
    assert "j.results()[0] for j in jobs" in source  # why the copy exists: the wait raises at the first lost job
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == HYDRA_SUBMITIT_LAUNCH


def test_each_job_gets_the_arguments_the_launchers_call_takes() -> None:
    """The jobs run BaseSubmititLauncher.__call__ with job_arguments' tuples, positionally."""
    names = list(inspect.signature(BaseSubmititLauncher.__call__).parameters)
    assert names == ["self", "sweep_overrides", "job_dir_key", "job_num", "job_id", "singleton_state"]
    arguments = slurm.job_arguments([["optimizer=sgd"], ["optimizer=adam"]], initial_job_idx=3)
    assert [argument[:4] for argument in arguments] == [(["optimizer=sgd"], "hydra.sweep.dir", 3, "job_id_for_3"),
                                                        (["optimizer=adam"], "hydra.sweep.dir", 4, "job_id_for_4")]


def fake_commands(folder: Path, monkeypatch: pytest.MonkeyPatch, **scripts: str) -> None:
    """Shell scripts named like SLURM's commands first on PATH (submitit's SLURM executor wants srun there)."""
    folder.mkdir(exist_ok=True)
    for name, body in {"srun": "exit 0", **scripts}.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")


def slurm_launcher(tmp_path: Path) -> slurm.SlurmLauncher:
    """optlab's launcher as Hydra builds it from conf/hydra/launcher/slurm.yaml, set up for a sweep into tmp_path."""
    cfg = compose_config(["hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=print, config=cfg)
    return launcher


def test_every_launcher_key_reaches_submitits_slurm_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hydra's launch sorts hydra.launcher's keys into submitit's constructor and update_parameters; submitit
    refuses a key it does not take. A launcher release with a new constructor key fails here (until INIT_KEYS
    has it)."""
    fake_commands(tmp_path / "bin", monkeypatch)
    launcher = slurm_launcher(tmp_path)
    assert set(slurm.INIT_KEYS) <= set(launcher.params)
    executor = slurm.slurm_executor(launcher.params)
    assert executor.cluster == slurm.CLUSTER


def test_sbatchs_refusal_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """submitit raises FailedJobError from sbatch's CalledProcessError; the launcher turns that into one line."""
    fake_commands(tmp_path / "bin", monkeypatch, sbatch="echo 'sbatch: error: Batch job submission failed: "
                                                       "Invalid partition name specified' >&2; exit 1")
    with pytest.raises(slurm.SlurmRefused, match=r"^SLURM refused the jobs \(sbatch: error: Batch job submission "
                                                 r"failed: Invalid partition name specified\): check"):
        slurm_launcher(tmp_path).launch([["optimizer=sgd"]], initial_job_idx=0)


def test_a_lost_jobs_line_reads_what_submitit_knows_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """slurm.result names a job that ended without a result by its id, its SLURM state (from sacct) and its log."""
    fake_commands(tmp_path / "bin", monkeypatch, sacct="printf 'JobID|State|NodeList\\n7_0|CANCELLED|n1\\n'")
    job = submitit.SlurmJob(folder=tmp_path / "%j", job_id="7_0")
    assert (job.job_id, job.state) == ("7_0", "CANCELLED") and job.paths.stderr.parent == tmp_path / "7_0"
    assert issubclass(FailedJobError, UncompletedJobError)  # result() catches both: killed, or lost
