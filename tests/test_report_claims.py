"""No report says more than its test does: a row's verdict is "higher" or "lower" only where its own Holm-corrected
p is below ALPHA, "not separated" only where it is not (never "indistinguishable"), and a report corrected within a
family (`--family-by`) gives the family's Holm p, not its own. Checked on what the report code writes from
synthetic runs and on every report published under docs/ (summary.csv and the table of summary.md)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from optlab.report.statistics import ALPHA, HIGHER, LOWER, NOT_SEPARATED, SEPARATED, holm
from optlab.report.write import ReportOptions, part_folder, write_report
from optlab.run.summary import RunSummary, Status

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p for p in (ROOT / "docs").rglob("summary.*") if p.suffix in (".csv", ".md"))
MARKDOWN_SLACK = 0.0005  # summary.md prints p (Holm) to 3 decimals


def table_rows(text: str) -> list[dict[str, str]]:
    """The rows of every markdown table that has a verdict and a p (Holm) column, as header -> cell."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(set(cell) <= {"-"} for cell in cells) and {"verdict", "p (Holm)"} <= set(header):
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _number(cell: str) -> float:
    return float(cell) if cell not in ("—", "–", "") else math.nan


def stated(path: Path) -> list[tuple[str, str, float]]:
    """(row, verdict, p_Holm) as the report states them; csv values exact, markdown's to 3 decimals."""
    if path.suffix == ".csv":
        table = pd.read_csv(path)
        if not {"verdict", "p_holm"} <= set(table.columns):
            return []
        label = table["part"] + " " + table["group"] if "part" in table else table["group"]
        return list(zip(label, table["verdict"].astype(str), table["p_holm"].astype(float), strict=True))
    return [(row.get("part", "") + " " + row["group"], row["verdict"], _number(row["p (Holm)"]))
            for row in table_rows(path.read_text())]


def overstatements(path: Path) -> list[str]:
    """Every row of a report whose verdict says more (or other) than its Holm-corrected p, and any observation
    naming a group above or below the reference where the table separates none."""
    slack = MARKDOWN_SLACK if path.suffix == ".md" else 0.0
    wrong = []
    for label, verdict, p_holm in stated(path):
        if "indistinguishable" in verdict.lower():
            wrong.append(f"{label}: {verdict!r} says more than {NOT_SEPARATED!r}")
        elif verdict in SEPARATED and not p_holm < ALPHA + slack:
            wrong.append(f"{label}: {verdict!r} with p_Holm {p_holm}")
        elif verdict == NOT_SEPARATED and not p_holm >= ALPHA - slack:
            wrong.append(f"{label}: {verdict!r} with p_Holm {p_holm}")
    if path.suffix == ".md":
        verdicts = {verdict for _, verdict, _ in stated(path)}
        text = path.read_text()
        for verdict, opening in ((HIGHER, "\n- Above "), (LOWER, "\n- Below ")):
            if opening in text and verdict not in verdicts:
                wrong.append(f"an observation says {opening.strip()!r} but no row is {verdict!r}")
    return wrong


def family_disagreements(index: Path) -> list[str]:
    """Where a family's index or its parts' reports state a Holm p other than Holm's over the family's p-values."""
    family = pd.read_csv(index)
    index_rows = table_rows(index.with_suffix(".md").read_text())
    wrong = []
    for row, p_holm in zip(family.itertuples(), holm(list(family["p"])), strict=True):
        folder = index.parent / part_folder(row.part)
        exact = {"summary.csv": row.p_holm,
                 f"{row.part}/summary.csv": pd.read_csv(folder / "summary.csv").set_index("group").p_holm[row.group]}
        shown = {"summary.md": [r["p (Holm)"] for r in index_rows
                                if r["part"].startswith(f"[{row.part}]") and r["group"].startswith(f"{row.group} vs ")],
                 f"{row.part}/summary.md": [r["p (Holm)"] for r in table_rows((folder / "summary.md").read_text())
                                            if r["group"] == row.group]}
        wrong += [f"{where}: {row.group} p_Holm {value} where the family's is {p_holm}"
                  for where, value in exact.items() if not math.isclose(value, p_holm, rel_tol=1e-9)]
        wrong += [f"{where}: {row.group} p (Holm) {cells} where the family's is {p_holm:.3f}"
                  for where, cells in shown.items()
                  if len(cells) != 1 or abs(_number(cells[0]) - p_holm) > MARKDOWN_SLACK]
    return wrong


def family_indexes(root: Path) -> list[Path]:
    """The summary.csv files a `--family-by` report writes over its parts (they have a part column)."""
    return [p for p in sorted(root.rglob("summary.csv")) if "part" in pd.read_csv(p, nrows=0).columns]


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_published_report_says_no_more_than_its_test(path: Path) -> None:
    assert overstatements(path) == []


@pytest.mark.parametrize("index", family_indexes(ROOT / "docs"), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_published_family_states_the_familys_holm_p_in_every_part(index: Path) -> None:
    assert family_disagreements(index) == []


def test_the_check_catches_a_part_corrected_alone(tmp_path: Path) -> None:
    """The Muon part of constant_vs_cosine_v2 as first published: Holm over its own single test (p 0.018, "higher")
    where the family of four gives 0.054, not separated. Each row agrees with itself; the family check does not."""
    family = tmp_path / "constant_vs_cosine_v2"
    shutil.copytree(ROOT / "docs/results/constant_vs_cosine_v2", family)
    table = pd.read_csv(family / "muon/summary.csv")
    compared = table["verdict"] != "reference"
    table.loc[compared, "p_holm"] = table.loc[compared, "p"]
    table.loc[compared, "verdict"] = HIGHER
    table.to_csv(family / "muon/summary.csv", index=False)
    markdown = family / "muon/summary.md"
    markdown.write_text(markdown.read_text().replace(f"| 0.054 | {NOT_SEPARATED} |", f"| 0.018 | {HIGHER} |"))
    assert overstatements(family / "muon/summary.csv") == [] and overstatements(markdown) == []
    wrong = family_disagreements(family / "summary.csv")
    assert len(wrong) == 2 and wrong[0].startswith("muon/summary.csv:") and wrong[1].startswith("muon/summary.md:")


# Per paired seed, cosine minus constant: p 6e-6 (separated), 0.020 (separated alone, not over the family of four:
# the published Muon case), 0.086 and 0.39.
SHIFTS = {"adam": (0.015, 0.016, 0.014, 0.017, 0.0155), "muon": (0.01, 0.02, 0.008, 0.025, 0.006),
          "lion": (0.006, 0.016, -0.002, 0.02, 0.005), "sgd": (0.004, 0.01, -0.006, 0.012, -0.003)}
BASE = (0.88, 0.89, 0.87, 0.90, 0.885)


@pytest.fixture(scope="module")
def synthetic_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """summary.json files only (no curves): four optimizers, constant and warmup-cosine, seeds 1-5."""
    root = tmp_path_factory.mktemp("claims")
    for optimizer, shifts in SHIFTS.items():
        for scheduler, shift in (("none", (0.0,) * 5), ("warmup_cosine", shifts)):
            for seed, (base, d) in enumerate(zip(BASE, shift, strict=True), start=1):
                RunSummary(optimizer, "fashion_mnist", "mnist_net", scheduler, "32-true", seed, 0.01,
                           status=Status.OK, epochs=5, val_acc=base + d, test_acc=base + d, val_loss=1 - base - d,
                           choices={"optimizer": optimizer, "scheduler": scheduler}
                           ).write(root / optimizer / scheduler / str(seed))
    return root


def test_reports_written_from_synthetic_runs_say_no_more_than_their_tests(synthetic_runs: Path,
                                                                          tmp_path: Path) -> None:
    """A family over four parts and a one-report comparison of the optimizers: every verdict agrees with its Holm
    p, each part states the family's, and every interval at Holm's level excludes 0 exactly when separated."""
    options = ReportOptions(group_by=["scheduler"], reference="scheduler=none", family_by=["optimizer"])
    write_report([synthetic_runs], tmp_path / "family", options)
    write_report([synthetic_runs / o / "warmup_cosine" for o in SHIFTS], tmp_path / "one",
                 ReportOptions(group_by=["optimizer"]))
    written = sorted(p for p in tmp_path.rglob("summary.*") if p.suffix in (".csv", ".md"))
    assert len(written) == 12 and [p for p in written if overstatements(p)] == []
    assert family_indexes(tmp_path) == [tmp_path / "family/summary.csv"]
    assert family_disagreements(tmp_path / "family/summary.csv") == []
    family = pd.read_csv(tmp_path / "family/summary.csv").set_index("part")
    assert family.verdict.to_dict() == {"adam": HIGHER, "lion": NOT_SEPARATED, "muon": NOT_SEPARATED,
                                        "sgd": NOT_SEPARATED}
    assert family.p["muon"] < ALPHA <= family.p_holm["muon"]  # the case a per-part correction would get wrong
    excludes = (family.diff_holm_low > 0) | (family.diff_holm_high < 0)
    assert (excludes == family.verdict.isin(SEPARATED)).all()
    assert "over the 4 tests of 4 reports split by optimizer" in (tmp_path / "family/muon/summary.md").read_text()


def test_a_family_of_several_tasks_is_refused(synthetic_runs: Path, tmp_path: Path) -> None:
    other = tmp_path / "runs"
    shutil.copytree(synthetic_runs / "adam", other / "adam")
    summary = RunSummary.read(other / "adam/none/1")
    summary.data = "digits"
    summary.write(other / "adam/none/1")
    with pytest.raises(ValueError, match="--family-by splits the runs of one task"):
        write_report([other], tmp_path / "out", ReportOptions(family_by=["optimizer"]))


def test_a_report_written_before_holm_intervals_gets_them_from_its_own_columns(synthetic_runs: Path,
                                                                               tmp_path: Path) -> None:
    """scripts/redraw_comparison.py redraws the published forest plots of reports whose runs are gone: without the
    Holm-level columns, it derives them from the unadjusted interval, p and p_Holm, and gets what the report code
    computes from the runs."""
    import runpy

    script = Path(__file__).parents[1] / "scripts" / "redraw_comparison.py"
    derive = runpy.run_path(str(script))["with_holm_intervals"]
    write_report([synthetic_runs / o / "warmup_cosine" for o in SHIFTS], tmp_path,
                 ReportOptions(group_by=["optimizer"]))
    written = pd.read_csv(tmp_path / "summary.csv")
    holm = ["diff_holm_low", "diff_holm_high", "diff_holm_level"]
    derived = derive(written.drop(columns=holm))
    assert written[holm].notna().sum().sum() > 0
    pd.testing.assert_frame_equal(derived[holm], written[holm], atol=1e-12, rtol=0)
