"""Where a search's trials live: Optuna's RDB storage, so `optuna.load_study(...)` and `optuna-dashboard <url>`
open it and several processes (or machines) can work on one study at once.

Default: a SQLite file in the search's or protocol's folder (nothing to start). A database URL
(postgresql+psycopg://user@host/db, mysql+pymysql://...) serves workers on many machines. SQLite rather than
Optuna's JournalFileStorage: Optuna's heartbeat, which finds the trials of killed workers, needs an RDB storage.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from optlab.files import first_line

SQLITE_FILE = "optuna.db"
SQLITE_WAIT_S = 60  # a writer waits this long for another process's lock before SQLite gives up


class StorageError(RuntimeError):
    """A storage that cannot be reached or opened; the message names it (without its password)."""


def default_url(folder: Path) -> str:
    return f"sqlite:///{folder.resolve() / SQLITE_FILE}"


def shown(url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy can parse: say it as given
        return url


def open_storage(url: str, heartbeat: dict[str, Any] | None = None) -> Any:
    """An RDBStorage on `url`, with Optuna's heartbeat when `heartbeat` gives interval_s, grace_s and retries (a
    trial whose worker stopped beating for grace_s is failed and, up to `retries` times, queued again with the same
    parameters and its intermediate values: RetryHeartbeatStaleTrialCallback)."""
    import optuna
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial from Optuna would drown optlab's
    # Optuna's heartbeat is meant for Study.optimize; optlab's workers use ask and tell and beat themselves
    # (optlab.tune.worker.heartbeat), which is what the warning asks for.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    warnings.filterwarnings("ignore", category=ExperimentalWarning)  # the heartbeat's API: pinned by the tests
    beat: dict[str, Any] = {}
    if heartbeat is not None:
        beat = {"heartbeat_interval": int(heartbeat["interval_s"]), "grace_period": int(heartbeat["grace_s"]),
                "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(
                    max_retry=int(heartbeat["retries"]), inherit_intermediate_values=True)}
    engine = {"connect_args": {"timeout": SQLITE_WAIT_S}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        return RDBStorage(url, engine_kwargs=engine, **beat)
    except Exception as error:  # noqa: BLE001 - SQLAlchemy's and the drivers' errors have no common base
        raise StorageError(f"the Optuna storage {shown(url)} cannot be opened: {first_line(error)}") from None


def trial_id(storage: Any, study_name: str, number: int) -> int:
    """A trial's id in its storage (what a run in another process reports to), asked through the storage's public
    methods: optuna.Trial keeps it only as a private attribute."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study_name), number)


def lost(url: str, error: BaseException, out: Path) -> str:
    """The line for a storage that stopped answering (a SQLAlchemy error, or Optuna's wrapping one): which, why,
    and what to do."""
    cause = error.__cause__ if error.__cause__ is not None else error
    cause = getattr(cause, "orig", None) or cause  # the driver's own error says it best ("connection refused")
    return (f"the Optuna storage {shown(url)} stopped answering ({first_line(cause)}); when it is back, continue "
            f"with resume=true out={out}")
