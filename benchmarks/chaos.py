"""optlab.tune under chaos (docs/benchmarks.md): a protocol of tiny trials run by `--workers` workers on one storage
while random workers are SIGKILLed again and again (and, with --restart-storage on PostgreSQL, the server is stopped
and started again halfway through the kills); then the same protocol run calm. The supervisor must restart the
killed workers, the heartbeat retry their runs, and the protocol finish on its own. Checked and printed:

- every optimizer has exactly its budget of finished search trials (COMPLETE or PRUNED);
- no run finished twice: each run folder's summary.json written once (its mtime watched while the protocol runs),
  and no worker's progress line said twice for one run;
- the report's counts (report/tuning.csv, report/costs.csv) equal the calm run's; its values too when both searches
  tried the same lrs, and the runs both made (same stage, optimizer, lr and seed) reach the same accuracy.

Exits 1 if a check fails.

    python -m benchmarks.chaos --workers 4 --kills 8
    python -m benchmarks.chaos --storage postgres --restart-storage
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from benchmarks.common import ROOT, absolute_path, child_env
from benchmarks.postgres import Server, postgres_server

SETTING = ["debug=tiny", "data=digits"]  # 2 epochs of 3 batches on the bundled digits: seconds a run
PROGRESS = re.compile(r"^(search|selection|tuned|default) (\S+) (\S+): (ok|pruned|diverged|failed|skipped)")
COUNTS = {"tuning.csv": ("trials", "widened_trials", "trials_ok", "trials_pruned", "trials_diverged", "trials_failed",
                         "stand_ins", "selection_runs", "seeds"),
          "costs.csv": ("runs", "pruned", "epochs")}
TIMINGS = ("wall_s",)  # costs.csv's run time: the one figure that differs between two runs of the same protocol


def tune_arguments(args: argparse.Namespace, out: Path, study: str, url: str | None) -> list[str]:
    """The protocol, the same in both variants but for where it is kept. A short heartbeat (a killed run is retried
    20 s after its last beat; tests/helpers.py's HEARTBEAT says why not shorter on 2 busy cores), and retries enough
    that no run is given up however often the kills and the storage's restart hit it; the supervisor's defaults."""
    return [f"optimizer={args.optimizers}", *args.setting, f"budget={args.budget}", "seeds=1", "selection.seeds=0",
            "widen.rounds=0", "pruner=none", f"workers={args.workers}", "heartbeat.interval_s=2",
            "heartbeat.grace_s=20", f"heartbeat.retries={args.kills + 2}", f"study={study}", f"out={out}",
            *([f"storage={url}"] if url else [])]


# ---- watching and killing -------------------------------------------------------------------------------------------


@dataclass
class Watch:
    """What the harness saw of a protocol while it ran: each summary.json's modification times, the kills."""

    out: Path
    started: float = field(default_factory=time.monotonic)
    writes: dict[Path, set[int]] = field(default_factory=dict)
    kills: list[str] = field(default_factory=list)

    def look(self) -> None:
        for path in self.out.glob("*/*/*/summary.json"):
            with contextlib.suppress(FileNotFoundError):
                self.writes.setdefault(path.parent, set()).add(path.stat().st_mtime_ns)

    def wait(self, seconds: float) -> None:
        """Sleep, looking all the while."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.look()
            time.sleep(0.2)

    def at(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"


def workers(out: Path) -> dict[int, int]:
    """The protocol's worker processes now: pid -> worker index (from its hydra.sweep.dir)."""
    listed = subprocess.run(["pgrep", "-af", f"hydra.sweep.dir={out.resolve()}/workers/"], capture_output=True,
                            text=True).stdout.splitlines()
    found = {}
    for line in listed:
        index = re.search(rf"hydra\.sweep\.dir={re.escape(str(out.resolve()))}/workers/(\d+)", line)
        if index:
            found[int(line.split()[0])] = int(index.group(1))
    return found


def doing(pid: int, out: Path) -> str:
    """What a worker is doing: the run whose train.log it holds open, or `between runs` (starting, claiming, idle)."""
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = Path(os.readlink(fd))
            if target.name == "train.log" and target.is_relative_to(out.resolve()):
                return f"mid-run {target.parent.relative_to(out.resolve())}"
    return "between runs"


def kill_one(watch: Watch, rng: random.Random) -> None:
    found = workers(watch.out)
    if not found:
        return
    pid = rng.choice(sorted(found))
    what = doing(pid, watch.out)
    with contextlib.suppress(ProcessLookupError):  # it has just ended
        os.kill(pid, signal.SIGKILL)
        watch.kills.append(f"kill {len(watch.kills) + 1} at {watch.at()}: worker {found[pid]} (pid {pid}), {what}")
        print(f"  {watch.kills[-1]}", flush=True)


def restart(server: Server, down_s: float, watch: Watch) -> None:
    server.stop()
    print(f"  storage stopped at {watch.at()}", flush=True)
    watch.wait(down_s)
    server.start()
    print(f"  storage started again at {watch.at()}", flush=True)


def run_protocol(arguments: list[str], out: Path, kills: int, every_s: float, rng: random.Random,
                 server: Server | None, down_s: float) -> tuple[int, float, Watch]:
    """`python -m optlab.tune ARGUMENTS` (its output in <out>.log), with `kills` SIGKILLs of random workers, one
    every every_s on average, and the server restarted after half of them when given; (exit code, seconds, watch)."""
    watch = Watch(out)
    with open(out.with_suffix(".log"), "w") as log, child(arguments, log) as process:
        next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * every_s
        while process.poll() is None:
            watch.look()
            if len(watch.kills) < kills and time.monotonic() >= next_kill:
                kill_one(watch, rng)
                next_kill = time.monotonic() + rng.uniform(0.5, 1.5) * every_s
                if server is not None and len(watch.kills) == kills // 2:
                    restart(server, down_s, watch)
                    server = None
            time.sleep(0.2)
    watch.look()
    return process.returncode, time.monotonic() - watch.started, watch


@contextlib.contextmanager
def child(arguments: list[str], log: IO[str]) -> Iterator[subprocess.Popen]:
    """optlab.tune in a session of its own, killed with its workers if the harness stops before it ends."""
    process = subprocess.Popen([sys.executable, "-m", "optlab.tune", *arguments], cwd=ROOT, env=child_env(),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---- the checks -----------------------------------------------------------------------------------------------------


def check_budget(out: Path, budget: int) -> tuple[bool, str]:
    import optuna

    from optlab.tune.worker import load_work_queue

    queue = load_work_queue(out)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    parts, ok = [], True
    for optimizer in queue.settings.optimizers:
        counted = queue.search_trials(optimizer)
        done = sum(t.state in finished for t in counted)
        retried = sum(t.state == optuna.trial.TrialState.FAIL
                      for t in queue.study(optimizer, "search").get_trials(deepcopy=False))
        ok &= done == len(counted) == budget
        parts.append(f"{optimizer} {done} of {budget} ({retried} failed by the heartbeat and retried)")
    return ok, "finished search trials: " + ", ".join(parts)


def check_once(watch: Watch, log: Path) -> tuple[bool, str]:
    twice = sorted(str(folder.relative_to(watch.out)) for folder, times in watch.writes.items() if len(times) > 1)
    said = Counter(m.group(1, 2, 3) for line in log.read_text().splitlines() if (m := PROGRESS.match(line)))
    repeated = sorted(" ".join(key) for key, n in said.items() if n > 1)
    text = (f"{len(watch.writes)} run folders, each summary.json written once; {sum(said.values())} progress lines, "
            "none twice")
    if twice or repeated:
        text = f"written twice: {', '.join(twice) or 'none'}; said twice: {', '.join(repeated) or 'none'}"
    return not twice and not repeated, text


def read_table(path: Path) -> dict[tuple[str, ...], dict[str, str]]:
    """A report table by its key columns (optimizer, and stage for costs.csv)."""
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {(row["optimizer"], row.get("stage", "")): row for row in rows}


def check_counts(chaos: Path, calm: Path) -> tuple[bool, str]:
    differ = []
    for name, columns in COUNTS.items():
        ours, theirs = read_table(chaos / "report" / name), read_table(calm / "report" / name)
        present = [c for c in columns if c in next(iter(theirs.values()))]
        differ += [f"{name} {key} {c}: {ours.get(key, {}).get(c)} vs {row[c]}" for key, row in theirs.items()
                   for c in present if ours.get(key, {}).get(c) != row[c]]
        differ += [f"{name} {key}: not in the calm run" for key in ours if key not in theirs]
    return not differ, "report counts equal the calm run's" if not differ else "; ".join(differ)


def runs_by_setting(out: Path) -> dict[tuple[str, str, str, int], float]:
    """Every finished run's validation accuracy by (stage, optimizer, lr, seed): what two protocols can share."""
    found = {}
    for path in out.glob("*/*/*/summary.json"):
        summary = json.loads(path.read_text())
        stage, optimizer = path.parent.parent.parent.name, path.parent.parent.name
        found[(stage, optimizer, f"{summary['lr']:.6g}", summary["seed"])] = summary["val_acc"]
    return found


def check_values(chaos: Path, calm: Path) -> tuple[bool, str]:
    """Where both protocols made the same run it must end the same (a retry continues from its checkpoint, and runs
    are deterministic); the report's values must be equal when both searches tried the same lrs. TPE proposes from
    the trials finished when a trial is asked, so kills may change later trials' lrs: then only the shared runs and
    the counts can be compared."""
    ours, theirs = runs_by_setting(chaos), runs_by_setting(calm)
    shared = sorted(set(ours) & set(theirs))
    differ = [" ".join(map(str, key)) for key in shared if ours[key] != theirs[key]]
    same_search = {k for k in ours if k[0] == "search"} == {k for k in theirs if k[0] == "search"}
    text = f"{len(shared)} runs in both protocols, {len(shared) - len(differ)} with the same validation accuracy"
    if not same_search:
        return not differ, text + "; the searches tried other lrs after the kills, so the report's values differ"
    unequal = []
    for name in COUNTS:
        ours_table, theirs_table = read_table(chaos / "report" / name), read_table(calm / "report" / name)
        unequal += [f"{name} {key} {c}" for key, row in theirs_table.items() for c in row
                    if c not in TIMINGS and ours_table.get(key, {}).get(c) != row[c]]
    if unequal:
        text += "; the report's values differ: " + ", ".join(unequal)
    else:
        text += "; the same lrs searched, and every value of tuning.csv and costs.csv (wall_s aside) equal"
    return not differ and not unequal, text


# ---- the harness ----------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=8, help="SIGKILLs of random workers")
    parser.add_argument("--every", type=float, default=6.0, help="seconds between kills, on average")
    parser.add_argument("--storage", choices=("sqlite", "postgres"), default="sqlite",
                        help="sqlite: optuna.db in the protocol's folder; postgres: a throwaway local server")
    parser.add_argument("--restart-storage", action="store_true", help="postgres: stop the server after half the "
                        "kills and start it again --down seconds later")
    parser.add_argument("--down", type=float, default=10.0, help="seconds the server stays stopped")
    parser.add_argument("--optimizers", default="sgd,adam")
    parser.add_argument("--budget", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="which workers are killed, and when")
    parser.add_argument("--out", type=absolute_path,
                        default=ROOT / "outputs" / "bench_chaos" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("--setting", nargs="*", default=SETTING, help="training overrides (default: tiny digits)")
    args = parser.parse_args()
    if args.restart_storage and args.storage != "postgres":
        parser.error("--restart-storage needs --storage postgres")
    if args.out.exists():
        sys.exit(f"bench: {args.out} exists; choose another --out")
    args.out.mkdir(parents=True)
    with postgres_server() if args.storage == "postgres" else contextlib.nullcontext() as server:
        url = server.url if server else None
        print(f"chaos: {args.workers} workers on {args.storage}, {args.kills} kills every ~{args.every:g} s (seed "
              f"{args.seed}){', the server restarted halfway' if args.restart_storage else ''}; {args.optimizers}, "
              f"budget {args.budget} ({dt.date.today()}, {os.cpu_count()} CPU cores)", flush=True)
        chaos, calm = args.out / "chaos", args.out / "calm"
        code, seconds, watch = run_protocol(tune_arguments(args, chaos, "chaos", url), chaos, args.kills, args.every,
                                            random.Random(args.seed), server if args.restart_storage else None,
                                            args.down)
        restarts = chaos.with_suffix(".log").read_text().count("starting it again")
        print(f"chaos protocol: exit {code} after {seconds:.0f} s, {len(watch.kills)} kills, {restarts} workers "
              f"started again by the supervisor", flush=True)
        if code != 0:
            sys.exit(f"bench: the protocol under chaos failed; see {chaos.with_suffix('.log')}")
        code, seconds, _ = run_protocol(tune_arguments(args, calm, "calm", url), calm, 0, args.every,
                                        random.Random(args.seed), None, 0.0)
        print(f"calm protocol: exit {code} after {seconds:.0f} s", flush=True)
        if code != 0:
            sys.exit(f"bench: the calm protocol failed; see {calm.with_suffix('.log')}")
        results = [check_budget(chaos, args.budget), check_once(watch, chaos.with_suffix(".log")),
                   check_counts(chaos, calm), check_values(chaos, calm)]
    print("checks:")
    for ok, text in results:
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")
    sys.exit(0 if all(ok for ok, _ in results) else 1)


if __name__ == "__main__":
    main()
