"""Where a search's trials live: Optuna's RDB storage, so `optuna.load_study(...)` and `optuna-dashboard <url>`
open it and several processes (or machines) can work on one study at once.

Default: a SQLite file in the search's or protocol's folder (nothing to start). A database URL
(postgresql+psycopg://user@host/db, mysql+pymysql://...) serves workers on many machines. SQLite rather than
Optuna's JournalFileStorage: Optuna's heartbeat, which finds the trials of killed workers, needs an RDB storage.

A URL's password is never written: every process connects through open_storage, which takes it from the environment
(PASSWORD_VARIABLE, set by optlab.tune from a storage= that carries one; for PostgreSQL libpq's own PGPASSWORD or
~/.pgpass work too), so the URL that runs, records and summaries hold is the one without it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from optlab.files import first_line

SQLITE_FILE = "optuna.db"
SQLITE_WAIT_S = 60  # a writer waits this long for another process's lock before SQLite gives up
PASSWORD_VARIABLE = "OPTLAB_STORAGE_PASSWORD"  # the storage's password, for a URL that names a user but no password


class StorageError(RuntimeError):
    """A storage that cannot be reached or opened; the message names it (without its password)."""


def default_url(folder: Path) -> str:
    return f"sqlite:///{folder.resolve() / SQLITE_FILE}"


def _parsed(url: str) -> Any:
    """SQLAlchemy's URL object; None for a URL it cannot parse, which has no password to find and which opening
    refuses in one line."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url)
    except Exception:  # noqa: BLE001 - ArgumentError, or ValueError for a port that is not a number
        return None


def shown(url: str) -> str:
    """The URL as it may be printed: its password hidden (one SQLAlchemy cannot parse: as given)."""
    parsed = _parsed(url)
    return url if parsed is None else parsed.render_as_string(hide_password=True)


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (None when it has none): the first is what optlab may keep
    and write, the second belongs in the environment (PASSWORD_VARIABLE)."""
    parsed = _parsed(url)
    if parsed is None or parsed.password is None:
        return url, None
    # NamedTuple's _replace: URL.set(password=None) leaves the password as it is (None there means "unchanged")
    return parsed._replace(password=None).render_as_string(hide_password=False), str(parsed.password)


def with_password(url: str) -> str:
    """The URL to connect with, in memory only: PASSWORD_VARIABLE's password added when the URL names a user but no
    password and the variable is set (a URL with a password, or without a user like SQLite's, is left as it is)."""
    parsed = _parsed(url)
    password = os.environ.get(PASSWORD_VARIABLE)
    if parsed is None or not password or parsed.username is None or parsed.password is not None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def open_storage(url: str, heartbeat: dict[str, Any] | None = None) -> Any:
    """An RDBStorage on `url` (its password from the environment: with_password), with Optuna's heartbeat when
    `heartbeat` gives interval_s, grace_s and retries (a trial whose worker stopped beating for grace_s is failed
    and, up to `retries` times, queued again with the same parameters and its intermediate values:
    RetryHeartbeatStaleTrialCallback)."""
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
        return RDBStorage(with_password(url), engine_kwargs=engine, **beat)
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
