"""The package as users install it: a wheel in a fresh virtual environment, run from a folder that is not the
checkout, finds its configs and runs a job through its console scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from helpers import read_summary

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_a_job_from_another_folder(tmp_path: Path) -> None:
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
                ROOT, cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("optlab-*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"optlab/conf/{p.relative_to(ROOT / 'conf')}" for p in (ROOT / "conf").rglob("*.yaml")}
    expected |= {f"optlab/{p.relative_to(ROOT / 'src' / 'optlab')}" for p in (ROOT / "src" / "optlab").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    expected |= {f"hydra_plugins/{p.relative_to(ROOT / 'src' / 'hydra_plugins')}"
                 for p in (ROOT / "src" / "hydra_plugins").rglob("*.py")}
    assert expected <= shipped, sorted(expected - shipped)  # every config, module and bundled file ships

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path).stdout.strip()
    # optlab's dependencies come from the test's own environment, as a plain path: its editable optlab is not seen.
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel,
                    cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean = {"PYTHONPATH": ""}
    where = run(python, "-c", "import optlab, optlab.conf; print(optlab.__file__)", cwd=elsewhere, env=clean)
    assert where.stdout.strip().startswith(site), where.stdout + where.stderr
    job = run(env_dir / "bin" / "optlab-train", "data=synthetic", "trainer.max_epochs=1",
              "trainer.enable_progress_bar=false", "hydra.run.dir=run", cwd=elsewhere, env=clean)
    assert job.returncode == 0, job.stderr[-2000:]
    assert read_summary(elsewhere / "run")["status"] == "ok"
    report = run(env_dir / "bin" / "optlab-report", "run", "--out", "report", cwd=elsewhere, env=clean)
    assert report.returncode == 0 and (elsewhere / "report" / "summary.md").is_file(), report.stderr[-2000:]
    search = run(env_dir / "bin" / "optlab-train", "-m", "hparams_search=lr", "data=synthetic", "trainer.max_epochs=1",
                 "hydra.sweeper.n_trials=2", "hydra.sweep.dir=search", cwd=elsewhere, env=clean)
    assert search.returncode == 0, search.stderr[-2000:]  # Hydra finds optlab's sweeper in the installed wheel
    assert len(list((elsewhere / "search").glob("*/summary.json"))) == 2
