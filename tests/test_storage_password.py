"""A storage URL's password stays off disk and off the console, without a server: split off the URL where optlab
keeps it, added back from the environment where a process connects, refused where Hydra would write it. The whole
protocol on a password-protected PostgreSQL server is in tests/test_tune_postgres.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from services import free_port

from optlab.tune.search.storage import PASSWORD_VARIABLE, StorageError, open_storage, split_password, with_password
from optlab.tune.search.sweep import SearchError, run_search
from optlab.tune.settings import TuneError, parse_settings

PASSWORD = "p@ss,w0rd=x"  # characters a URL must percent-encode: the split and the restore must round-trip them
IN_URL = "p%40ss%2Cw0rd%3Dx"
DIGITS = ["debug=tiny", "data=digits"]


@pytest.fixture(autouse=True)
def no_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the variable, and whatever parse_settings puts there is gone after it."""
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)


def test_the_password_is_split_off_and_added_back_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+psycopg://optlab:{IN_URL}@db.example:5432/optlab?sslmode=require"
    bare = "postgresql+psycopg://optlab@db.example:5432/optlab?sslmode=require"
    assert split_password(url) == (bare, PASSWORD)
    assert split_password(bare) == (bare, None)
    assert with_password(bare) == bare  # no variable: libpq's PGPASSWORD or ~/.pgpass may still give it
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    assert with_password(bare) == url
    assert with_password(url.replace(IN_URL, "other")) == url.replace(IN_URL, "other")  # the URL's own wins
    assert with_password("sqlite:////tmp/optuna.db") == "sqlite:////tmp/optuna.db"  # no user, no password


def test_tune_keeps_the_url_without_its_password_and_moves_the_password_to_the_environment(tmp_path: Path) -> None:
    settings = parse_settings(["optimizer=sgd", *DIGITS, f"out={tmp_path / 'tune'}",
                               f"storage=postgresql+psycopg://optlab:{IN_URL}@db.example/optlab"])
    assert settings.storage == "postgresql+psycopg://optlab@db.example/optlab"
    assert os.environ[PASSWORD_VARIABLE] == PASSWORD  # the workers, started by this process, inherit it
    assert IN_URL not in json.dumps(settings.to_record()) and PASSWORD not in json.dumps(settings.to_record())


def test_a_storage_hydra_cannot_read_is_refused_without_its_password(tmp_path: Path) -> None:
    """Hydra's own error would quote the override, password and all ("Ambiguous value for argument ...")."""
    with pytest.raises(TuneError, match="storage= is not one URL Hydra can read") as refused:
        parse_settings(["optimizer=sgd", *DIGITS, f"out={tmp_path / 'tune'}",
                        "storage=postgresql+psycopg://optlab:s3cr,et@db.example/optlab"])
    assert "s3cr" not in str(refused.value) and PASSWORD_VARIABLE in str(refused.value)


def test_a_sweep_refuses_a_storage_with_a_password_before_anything_is_written(tmp_path: Path) -> None:
    """Hydra writes hydra.sweeper.storage into every run's .hydra/: the password must come from the environment."""
    settings = {"storage": f"postgresql+psycopg://optlab:{IN_URL}@db.example/optlab"}
    with pytest.raises(SearchError, match=PASSWORD_VARIABLE) as refused:
        run_search(settings, config=None, launcher=None, arguments=[])
    assert IN_URL not in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_storage_that_cannot_be_opened_is_named_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'optlab[postgres]'")
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    url = f"postgresql+psycopg://optlab@127.0.0.1:{free_port()}/optlab"  # nothing listens there
    with pytest.raises(StorageError, match="cannot be opened") as refused:
        open_storage(url)
    assert url in str(refused.value) and IN_URL not in str(refused.value) and PASSWORD not in str(refused.value)
