"""This working tree's training step against a commit's (--against REF): the same CIFAR-10 runs of both, in turns.

Each tree is installed (not editable) into a folder of its own and put first on the runs' PYTHONPATH, so that
neither borrows the other's code or configs: with this checkout's editable install, another tree's `src` first on
the path runs its code with this checkout's configs. Only optlab's command line is used, never its modules, so a
commit of any layout runs (de93806's optlab.training_run as well as today's optlab.run.job).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, in_turns, steady, timed_run
from benchmarks.speed.options import cifar_step
from benchmarks.speed.targets import Targets


def commit_of(ref: str) -> str:
    """The short hash `ref` names in this checkout; a ref that names no commit ends the harness with one line."""
    found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", "--short", f"{ref}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        sys.exit(f"bench: --against {ref} is not a commit of {ROOT}")
    return found.stdout.strip()


def commit_tree(commit: str, target: Path) -> Path:
    """The files of `commit` (git archive), extracted into `target`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True)
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def working_tree_copy(target: Path) -> Path:
    """The files git would see in this checkout (tracked, and untracked but not ignored), copied to `target`: an
    install builds there, leaving no build/ or egg-info in the checkout. Links stay links: src/optlab/conf is one."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, copy = ROOT / name, target / name
        if source.is_symlink():
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.symlink_to(os.readlink(source))
        elif source.is_file():  # a file deleted in the working tree is still listed by --cached
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
    return target


def installed(tree: Path, site: Path) -> Path:
    """optlab from `tree` installed into `site`, as a wheel lays it out (configs inside the package)."""
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                             "--target", str(site), str(tree)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench: could not install optlab from {tree}:\n{result.stderr[-2000:]}")
    return site


def bench_against(args: argparse.Namespace, targets: Targets) -> None:
    """optlab as of --against REF against this working tree: CIFAR-10 epochs, the same overrides, in turns."""
    commit = commit_of(args.against)
    with tempfile.TemporaryDirectory(prefix="optlab-against-") as scratch:
        work = Path(scratch)
        ref = commit_tree(commit, work / "ref")
        # Inside the archive: code older than pkg://optlab.conf (before ac8745e) finds its configs at ../../conf
        # from its train.py, which from ref/site/optlab/ is the archive's own conf/.
        sites = {args.against: installed(ref, ref / "site"),
                 "working tree": installed(working_tree_copy(work / "tree"), work / "tree-site")}
        print(f"this working tree against {args.against} ({commit}): CIFAR-10, course CNN, SGD momentum, device "
              f"{args.device}, {args.repeats} rounds in turns, median of epochs 2-{args.epochs}", flush=True)
        rows = [tree_against_ref(args, sites, batch, targets) for batch in args.batch_sizes]
    print(f"\n  | batch | {args.against} | working tree | tree / ref (rounds) |\n  |---|---|---|---|")
    for row in rows:
        print(row)


def tree_against_ref(args: argparse.Namespace, sites: dict[str, Path], batch: int, targets: Targets) -> str:
    """Both trees' steady epoch at `batch`, in turns (the commit first); the table's row."""
    overrides = [*cifar_step(args), f"data.batch_size={batch}"]
    rounds = in_turns(args.repeats, {name: lambda site=site: steady(timed_run(overrides, args.epochs, site).epoch_times)
                                     for name, site in sites.items()})
    targets.check(f"working tree / {args.against}, batch {batch}", rounds.ratio("working tree", args.against),
                  args.against_tolerance)
    return (f"  | {batch} | {rounds.median(args.against):.3f} s | {rounds.median('working tree'):.3f} s | "
            f"{rounds.ratio_text('working tree', args.against)} |")
