"""The documentation stays true: the configuration reference is what conf/ says, and every optlab command quoted in
the README and the docs pages runs, in miniature.

A quoted command runs as written, with its data and its size shrunk so that it takes seconds: `data=digits` for
its data set, one epoch of `debug=tiny` for training, two optimizers for `glob(*)`, one seed, two trials for a
search, a sweep made by the test for a folder the command names. What cannot run here is left out by rule and the
rule is tested to leave out only that: a synopsis (`<sweep>`, `...`, `[--seed 1]`), and commands that need a GPU (or
more GPUs) than the machine has. `mkdocs build --strict` (make test) checks the links and pages.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md")
                                     if p.name not in ("summary.md", "tuning.md", "trajectories.md", "landscape.md")
                                     and "reference" not in p.parts)]
GPU_WORDS = ("device=gpu", "device=ddp", "device=auto", "compile.enabled=true")
EXAMPLE_SWEEP = re.compile(r"^outputs/(multirun|tune)/\S*$")


def quoted_commands(text: str) -> list[str]:
    """`python -m optlab.<tool> ...` lines of the code blocks (indented or fenced), continuations joined, comments
    dropped."""
    commands, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if pending:
            pending += " " + stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                commands.append(pending)
                pending = ""
            continue
        code = line.startswith("    ") or line.startswith("\t")
        if code and stripped.startswith("python -m optlab."):
            if stripped.endswith("\\"):
                pending = stripped.rstrip("\\").strip()
            else:
                commands.append(stripped)
    return [shlex.join(shlex.split(c, comments=True)) for c in commands]  # one spelling: quotes, spaces


def is_synopsis(command: str) -> bool:
    return bool(re.search(r"<[^>]+>|\.\.\.|\[--", command))


def all_commands() -> list[tuple[str, str]]:
    seen, found = set(), []
    for page in PAGES:
        for command in quoted_commands(page.read_text()):
            if command not in seen and not is_synopsis(command):
                seen.add(command)
                found.append((page.relative_to(ROOT).as_posix(), command))
    return found


def _replace_or_add(args: list[str], key: str, value: str) -> list[str]:
    kept = [a for a in args if not a.startswith(f"{key}=")]
    return [*kept, f"{key}={value}"]


def _shrink_sweep(arg: str) -> str:
    """`key=a,b,c` -> `key=a,b`; a list of seeds -> its first seed."""
    key, sep, value = arg.partition("=")
    if not sep or key.startswith("-") or any(ch in value for ch in "[](){}"):
        return arg
    quote = value[0] if value[:1] in ("'", '"') and value[-1:] == value[:1] else ""
    parts = value.strip(quote).split(",") if quote else value.split(",")
    keep = 1 if key.rsplit(".", 1)[-1] in ("seed", "seeds") else 2
    return f"{key}={quote}{','.join(parts[:keep])}{quote}" if len(parts) > keep else arg


def _without_repeats(args: list[str]) -> list[str]:
    return [a for i, a in enumerate(args) if a not in args[:i]]


def _without_option(args: list[str], option: str) -> list[str]:
    """args without `option VALUE` (or `option=VALUE`)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(f"{option}="):
            kept.append(arg)
    return kept


def miniature(command: str, sweep: Path, out: Path) -> list[str]:
    """The command's arguments, shrunk to seconds (see the module docstring)."""
    tool, *args = shlex.split(command)[2:]
    args = [a.replace("glob(*)", "glob([sgd,adam])") for a in args]
    args = _without_repeats([str(sweep) if EXAMPLE_SWEEP.match(a) else a for a in args])
    args = [_shrink_sweep(a) for a in args]
    if tool in ("optlab.train", "optlab.tune"):
        args = _replace_or_add(args, "data", "digits")
        args = [a for a in args if not a.startswith(("data.root=", "data.verify="))]
        args += ["debug=tiny"]
    if tool == "optlab.train":
        args = _replace_or_add(args, "trainer.max_epochs", "1")
        if any(a.startswith("hparams_search=") for a in args):
            args = _replace_or_add(args, "hydra.sweeper.n_trials", "2")
        if any(a.startswith("experiment=") for a in args):  # its sweep: glob(*) x 3 seeds, unless the command's
            for key, value in (("hydra.sweeper.params.optimizer", "'sgd,adam'"), ("hydra.sweeper.params.seed", "1")):
                args = args if any(a.startswith(f"{key}=") for a in args) else [*args, f"{key}={value}"]
            args = _replace_or_add(args, "data.train_size", "null")  # its subset is larger than digits
        args += [f"hydra.run.dir={out}/run", f"hydra.sweep.dir={out}/sweep"]
    if tool == "optlab.tune":
        args = _replace_or_add(args, "budget", "2")
        args = _replace_or_add(args, "seeds", "1")
        args = _replace_or_add(args, "out", str(out / "tune"))
    if tool == "optlab.trajectories":
        args += ["steps=20", "lr_grid=[0.1]", "gif_frames=3", f"hydra.sweep.dir={out}/sweep",
                 f"hydra.run.dir={out}/run"]
    if tool == "optlab.report":
        args = [*_without_option(args, "--out"), "--out", str(out / "report")]
    if tool == "optlab.landscape":
        args += ["--grid", "3", "--subset", "64", "--out", str(out / "landscape")]
    return [tool, *args]


def test_the_configuration_reference_is_what_conf_says() -> None:
    reference = runpy.run_path(str(ROOT / "scripts" / "config_reference.py"))
    assert (ROOT / "docs" / "reference" / "configuration.md").read_text() == reference["render"](), \
        "docs/reference/configuration.md differs from conf/: run python scripts/config_reference.py"


def test_commands_are_found_and_only_synopses_are_left_out() -> None:
    text = "\n".join(p.read_text() for p in PAGES)
    every = quoted_commands(text)
    assert len(every) > 20
    left_out = [c for c in every if is_synopsis(c)]
    assert left_out and all(re.search(r"<[^>]+>|\.\.\.|\[--", c) for c in left_out)
    joined = quoted_commands("    python -m optlab.train a=1 \\\n      b=2   # a comment\n")
    assert joined == ["python -m optlab.train a=1 b=2"]


@pytest.fixture(scope="module")
def example_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep for the commands that read one (optlab.report, optlab.landscape): two optimizers under two
    schedules, as the results pages' reports group them."""
    root = tmp_path_factory.mktemp("docs_sweep")
    sweep = root / "sweep"
    result = subprocess.run([sys.executable, "-m", "optlab.train", "-m", "debug=tiny", "data=digits",
                             "trainer.max_epochs=1", "optimizer=sgd,adam", "scheduler=none,cosine",
                             f"hydra.sweep.dir={sweep}"],
                            cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return sweep


@pytest.mark.slow
@pytest.mark.parametrize(("page", "command"), all_commands(), ids=[f"{p}: {c[:60]}" for p, c in all_commands()])
def test_a_quoted_command_runs(page: str, command: str, example_sweep: Path, tmp_path: Path) -> None:
    if any(word in command for word in GPU_WORDS) and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    asked = re.search(r"trainer\.devices=(\d+)", command)
    if asked and any(word in command for word in GPU_WORDS) and torch.cuda.device_count() < int(asked.group(1)):
        pytest.skip(f"needs {asked.group(1)} GPUs")
    args = miniature(command, example_sweep, tmp_path)
    result = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "WANDB_MODE": "offline"})
    assert result.returncode == 0, f"{page}: {command}\nran as: {' '.join(args)}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
