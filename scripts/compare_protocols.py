"""Print how two published tuning protocols of the same task differ, optimizer by optimizer, from their CSVs alone.

    python scripts/compare_protocols.py docs/results/tuning_v2 docs/results/tuning_v3

For each optimizer both tuned: the chosen lr in each and how many decades apart (a choice "moved" when more than a
quarter decade, the widening rule's own tolerance), the tuned test accuracy in each, the default's test accuracy in
each (same config and seeds: a difference there is the machine or the code, not the protocol), and the winner's
curse of each (the chosen lr's validation accuracy on the search seed minus its mean on the fresh seeds; none for a
pruned trial that stood in, whose search score is where it was stopped). Then the medians; where both ship per-run
records (runs.csv), how many runs of the same setting and seed ended ok in both and gave the same accuracies to the last
bit (a rerun's reproducibility, which the run cache relies on); and each stage's run time.
The results page quotes this output; tests/test_published_tables.py holds it to it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

MOVED_DECADES = 0.25


def _tuned(report: Path) -> pd.DataFrame:
    table = pd.read_csv(report / "tuning.csv").set_index("optimizer")
    default = pd.read_csv(report / "default" / "summary.csv").set_index("group")["test_acc"]
    table["default_test_acc"] = default.reindex(table.index)
    table["curse"] = table["search_val_acc"] - table["tuned_val_acc"]
    table.loc[sorted(_chosen_stand_ins(report)), "curse"] = math.nan
    return table[table["tuned_lr"].notna()]


def _chosen_stand_ins(report: Path) -> set[str]:
    """Optimizers whose chosen lr was a pruned trial standing in (tune v3): its search score is its accuracy where it
    was stopped, not a finished run's, so it has no winner's curse to compare. Read from runs.csv; a protocol
    without one (tune v2) had no stand-ins."""
    if not (report / "runs.csv").is_file():
        return set()
    runs = pd.read_csv(report / "runs.csv")
    search = runs[runs["stage"] == "search"]
    lrs = search["params"].map(lambda text: json.loads(text).get("optimizer.lr"))
    tuned = pd.read_csv(report / "tuning.csv").set_index("optimizer")["tuned_lr"]
    is_chosen = [math.isclose(lr, tuned.get(name, math.nan), rel_tol=1e-9)
                 for name, lr in zip(search["optimizer"], lrs, strict=True)]
    chosen = search[is_chosen]
    return set(chosen.loc[chosen["status"] == "pruned", "optimizer"])


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 100:.2f}"


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def _curse(value: float) -> str:
    return "(stand-in)" if math.isnan(value) else _signed(value * 100)


def rows(first: Path, second: Path) -> pd.DataFrame:
    a, b = _tuned(first), _tuned(second)
    both = a.index.intersection(b.index)
    return pd.DataFrame({
        "lr_a": a.loc[both, "tuned_lr"], "lr_b": b.loc[both, "tuned_lr"],
        "decades": (b.loc[both, "tuned_lr"] / a.loc[both, "tuned_lr"]).map(math.log10),
        "test_a": a.loc[both, "tuned_test_acc"], "test_b": b.loc[both, "tuned_test_acc"],
        "default_a": a.loc[both, "default_test_acc"], "default_b": b.loc[both, "default_test_acc"],
        "curse_a": a.loc[both, "curse"], "curse_b": b.loc[both, "curse"],
    }).sort_index()


SAME_RUN = ["optimizer", "stage", "seed", "params"]  # a run of one protocol that the other also ran
STAGES = ["search", "selection", "tuned", "default"]


def same_runs(first: Path, second: Path) -> pd.DataFrame | None:
    """Per stage, the runs that ended ok in both protocols with the same optimizer, seed and searched values, trained
    here (one reused from another protocol's folder is that protocol's run, not a repetition): how many (`shared`),
    and how many gave the same validation and test accuracy to the last bit (`same`); the test accuracy where both
    ran a test (selection runs skip it since 2026-12-07, search trials always did). Matched by setting, not by the
    run identity, whose recipe changed between the commits of tune v3's runs. None where a protocol has no per-run
    records (tune v2)."""
    if not ((first / "runs.csv").is_file() and (second / "runs.csv").is_file()):
        return None
    a, b = (_trained_ok(folder / "runs.csv") for folder in (first, second))
    both = a.merge(b, on=SAME_RUN, suffixes=("_a", "_b"), validate="one_to_one")
    same = (both["val_acc_a"] == both["val_acc_b"]) & (
        (both["test_acc_a"] == both["test_acc_b"]) | both["test_acc_a"].isna() | both["test_acc_b"].isna())
    counts = pd.DataFrame({"stage": both["stage"], "same": same}).groupby("stage")["same"].agg(["size", "sum"])
    return counts.rename(columns={"size": "shared", "sum": "same"}).reindex(STAGES).dropna().astype(int)


def _trained_ok(path: Path) -> pd.DataFrame:
    runs = pd.read_csv(path)  # pandas reads floats back to the bit (its default parser round-trips)
    runs = runs[(runs["status"] == "ok") & runs["reused_from"].isna()]
    return runs.drop_duplicates(SAME_RUN)  # TPE may propose one lr twice: one of them stands for both


def _same_runs_sentence(first: Path, second: Path) -> list[str]:
    table = same_runs(first, second)
    if table is None:
        return []
    counts = "; ".join(f"{stage} {row['same']} of {row['shared']}" for stage, row in table.iterrows())
    return ["", f"Runs that ended ok in both with the same optimizer, seed and lr, trained in each (none reused), "
                f"with the same validation and test accuracy to the last bit: {counts or 'none shared'}."]


def markdown(first: Path, second: Path) -> str:
    table = rows(first, second)
    a, b = first.name, second.name
    lines = [f"| optimizer | tuned lr {a} → {b} | decades | tuned test % {a} → {b} | default test % {a} → {b} | "
             f"winner's curse, points {a} → {b} |", "|---|---|---|---|---|---|"]
    for name, row in table.iterrows():
        moved = " (moved)" if abs(row["decades"]) > MOVED_DECADES else ""
        lines.append(f"| {name} | {row['lr_a']:.2g} → {row['lr_b']:.2g} | {_signed(row['decades'])}{moved} | "
                     f"{_pct(row['test_a'])} → {_pct(row['test_b'])} | {_pct(row['default_a'])} → "
                     f"{_pct(row['default_b'])} | {_curse(row['curse_a'])} → {_curse(row['curse_b'])} |")
    moved = int((table["decades"].abs() > MOVED_DECADES).sum())
    cursed = table[["curse_a", "curse_b"]].dropna()  # both medians over the same optimizers: no stand-in in either
    lines += ["", f"Choices moved by more than {MOVED_DECADES} decade: {moved} of {len(table)}. Median winner's curse "
              f"over the {len(cursed)} optimizers whose choice completed its search trial in both: "
              f"{cursed['curse_a'].median() * 100:.2f} points ({a}), {cursed['curse_b'].median() * 100:.2f} ({b}). "
              f"Identical default test means (same config and seeds): "
              f"{int((table['default_a'] - table['default_b']).abs().lt(1e-9).sum())} of {len(table)}."]
    lines += _same_runs_sentence(first, second)
    lines += ["", f"| stage | run time, min {a} | run time, min {b} |", "|---|---|---|"]
    costs = {name: pd.read_csv(folder / "costs.csv").groupby("stage")["wall_s"].sum() / 60
             for name, folder in ((a, first), (b, second))}
    for stage in STAGES:
        lines.append(f"| {stage} | {costs[a].get(stage, 0.0):.1f} | {costs[b].get(stage, 0.0):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="the earlier protocol's report folder (tuning.csv, costs.csv, ...)")
    parser.add_argument("second", type=Path, help="the later one's")
    args = parser.parse_args()
    print(markdown(args.first, args.second))


if __name__ == "__main__":
    main()
