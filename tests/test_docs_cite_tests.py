"""A test the documentation names exists: where the README or a docs page cites `tests/test_x.py`,
`tests/test_x.py::test_name` (or `test_x.py` without its folder) or a test function in backticks, that file is under
tests/ and defines that function, so that "a test checks it" cannot outlive the test. Reads files; trains nothing."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# tests/<path>.py or test_<name>.py (not part of a longer path, such as another repository's tests/), then any
# ::name parts: tests/test_gpu.py::test_quiet_steps_never_wait_for_the_gpu
FILE_CITATION = re.compile(r"(?<![\w/.-])(?:tests/([\w/]+\.py)|(test_\w+\.py))((?:::\w+)*)")
# A test function named on its own: `test_resume_equality`. Words such as `test_acc` are summary and config keys,
# told apart by the code naming them (a test's name appears in tests/ only).
BARE_NAME = re.compile(r"`(test_\w+)`")


@cache
def names_in(path: Path) -> frozenset[str]:
    """Function and class names a test file defines, at any depth."""
    tree = ast.parse(path.read_text())
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


@cache
def files_under_tests() -> tuple[Path, ...]:
    return tuple(sorted(TESTS.rglob("*.py")))


@cache
def code_words() -> frozenset[str]:
    """Every test_-word the code and configs use: summary keys, config keys, file names."""
    words: set[str] = set()
    for folder, pattern in ((ROOT / "src", "*.py"), (ROOT / "conf", "*.yaml")):
        for path in folder.rglob(pattern):
            words.update(re.findall(r"\btest_\w+", path.read_text()))
    return frozenset(words)


def missing_citations(text: str) -> list[str]:
    """What `text` cites that tests/ does not hold, each as "citation: what is missing"."""
    missing = []
    for match in FILE_CITATION.finditer(text):
        relative = match.group(1) or match.group(2)
        candidates = [TESTS / relative] if match.group(1) else [p for p in files_under_tests() if p.name == relative]
        found = [p for p in candidates if p.is_file()]
        if not found:
            missing.append(f"{match.group(0)}: no tests/{relative}")
            continue
        for name in filter(None, match.group(3).split("::")):
            if not any(name in names_in(p) for p in found):
                missing.append(f"{match.group(0)}: no {name} in tests/{relative}")
    defined = set().union(*(names_in(p) for p in files_under_tests()))
    for match in BARE_NAME.finditer(text):
        name = match.group(1)
        if name not in defined and name not in code_words():
            missing.append(f"`{name}`: no test function of that name under tests/ (nor a key the code uses)")
    return missing


def test_every_test_the_docs_name_exists() -> None:
    missing = [f"{page.relative_to(ROOT)}: {what}" for page in PAGES for what in missing_citations(page.read_text())]
    assert not missing, "the documentation names tests that do not exist:\n" + "\n".join(missing)


def test_a_citation_of_a_removed_test_is_caught() -> None:
    """The check itself: the citation forms the docs use, a removed test in each, and words that are not tests."""
    assert missing_citations("`tests/test_resume.py::test_checkpoint_writes_are_atomic` pins it") == []
    assert missing_citations("a real service (`tests/test_slurm.py`); `test_acc_per_class` by class; "
                             "`test_32x32.mat`; github.com/a/b/blob/main/tests/test_other.py") == []
    assert missing_citations("stops, as tests/test_tune.py::test_a_trial_resume_refuses_stops_the_protocol checks") \
        == ["tests/test_tune.py::test_a_trial_resume_refuses_stops_the_protocol: "
            "no test_a_trial_resume_refuses_stops_the_protocol in tests/test_tune.py"]
    assert missing_citations("(`tests/test_gone.py`)") == ["tests/test_gone.py: no tests/test_gone.py"]
    assert missing_citations("see test_gone.py::test_x") == ["test_gone.py::test_x: no tests/test_gone.py"]
    assert missing_citations("as `test_a_trial_resume_refuses_stops_the_protocol_before_any_new_trial` checks") == [
        "`test_a_trial_resume_refuses_stops_the_protocol_before_any_new_trial`: no test function of that name under "
        "tests/ (nor a key the code uses)"]
