"""optlab.tune on a real PostgreSQL server (tests/services.py starts one in a temporary folder and stops it): two
workers on one shared storage, the studies read back with Optuna, the database stopped while a worker trains, and a
password-protected server whose password reaches no file and no printed line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from helpers import HEARTBEAT, killed_at_exit, run_tune, runs_midway, runs_with_status, wait_until
from services import pg_ctl, postgres_server

from optlab.tune.search.storage import PASSWORD_VARIABLE

DIGITS = ["debug=tiny", "data=digits"]
PASSWORD = "Zq7-optlab-never-on-disk"  # distinctive, and nothing in it a URL encodes: grep finds it as given

pytestmark = pytest.mark.slow


def test_two_workers_tune_into_one_postgresql_database(tmp_path: Path) -> None:
    with postgres_server() as (url, _):
        out = tmp_path / "tune"
        result = run_tune("optimizer=sgd,adam", *DIGITS, "budget=3", "seeds=1", "selection.seeds=0", "widen.rounds=0",
                          "workers=2", f"storage={url}", "study=shared", f"out={out}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert not (out / "optuna.db").exists()  # the database holds the studies, not a file
        # The report is read from the database: a row per optimizer whose trial count and tuned accuracy are the
        # studies' own.
        table = pd.read_csv(out / "report" / "tuning.csv").set_index("optimizer")
        report = (out / "report" / "tuning.md").read_text()
        for optimizer in ("sgd", "adam"):
            search = optuna.load_study(study_name=f"shared/{optimizer}/search", storage=url)
            assert len(search.trials) == 3 and all(t.state.is_finished() for t in search.trials)
            tuned = optuna.load_study(study_name=f"shared/{optimizer}/tuned", storage=url)
            assert [t.user_attrs["status"] for t in tuned.trials] == ["ok"]
            assert table.loc[optimizer, "trials"] == 3
            assert table.loc[optimizer, "tuned_val_acc"] == pytest.approx(tuned.trials[0].value)
            assert f"| {optimizer} | " in report


@pytest.mark.timeout(1800)  # a protocol stopped and resumed, ~4 min on 2 busy cores; its own limits add up to 1500 s
def test_the_database_stopped_while_a_worker_trains_is_one_line_and_resume_repeats_nothing(tmp_path: Path) -> None:
    with postgres_server() as (url, data):
        out = tmp_path / "tune"
        args = ["optimizer=adam", *DIGITS, "trainer.max_epochs=12", "budget=3", "seeds=1", "defaults_too=false",
                "selection.seeds=0", "widen.rounds=0", "pruner=none", *HEARTBEAT, f"storage={url}", f"out={out}"]
        process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *args], cwd=tmp_path, start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def runs(status: str) -> list[Path]:
            return runs_with_status(out / "search", status)

        with killed_at_exit(process):
            wait_until(lambda: runs("ok") and runs_midway(out / "search"), 300,
                       "a run midway after a finished one")
            pg_ctl(data, "stop")
            _, stderr = process.communicate(timeout=300)
        assert process.returncode == 2, stderr[-3000:]
        shown = url  # no password in it to hide
        assert f"the Optuna storage {shown} stopped answering" in stderr and "Traceback" not in stderr
        before = {p: (p / "summary.json").stat().st_mtime_ns for p in runs("ok")}

        pg_ctl(data, "start")
        resumed = run_tune(*args, "resume=true", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        for folder, mtime in before.items():
            assert (folder / "summary.json").stat().st_mtime_ns == mtime, folder
        search = optuna.load_study(study_name="tune/adam/search", storage=url)
        counted = [t for t in search.trials if t.state != optuna.trial.TrialState.FAIL]
        assert len(counted) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in counted)
        assert len(list((out / "search" / "adam").iterdir())) == 3


def test_a_password_in_storage_reaches_no_file_and_no_printed_line(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The coordinator moves the password to its environment; its workers and their runs connect with it from
    there, while tune.json, every run's .hydra/, summary, log and TensorBoard hparams, and the report hold the URL
    without it. libpq's PGPASSWORD opens the same studies with that URL."""
    monkeypatch.delenv("PGPASSWORD", raising=False)  # the URL is the only place the password is given:
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none.pgpass"))  # not this machine's ~/.pgpass either
    with postgres_server(password=PASSWORD) as (url, _):
        bare = url.replace(f":{PASSWORD}@", "@")
        out = tmp_path / "tune"
        result = run_tune("optimizer=sgd,adam", *DIGITS, "budget=2", "seeds=1", "selection.seeds=0", "widen.rounds=0",
                          "workers=2", f"storage={url}", f"out={out}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
        files = [p for p in out.rglob("*") if p.is_file()]
        assert not [p for p in files if PASSWORD.encode() in p.read_bytes()]
        assert any(p.parent.name == ".hydra" for p in files) and (out / "report" / "tuning.md").is_file()
        assert json.loads((out / "tune.json").read_text())["settings"]["storage"] == bare

        with pytest.raises(Exception, match="password"):  # the server does ask: the runs were given it
            optuna.load_study(study_name="tune/adam/search", storage=bare)
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
        assert len(optuna.load_study(study_name="tune/adam/search", storage=bare).trials) == 2
