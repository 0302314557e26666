"""docs/contributing.md's map of the house names every package and top-level module, so it cannot drift from the
code (the layers themselves are checked by lint-imports in make test)."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT

PACKAGE = ROOT / "src" / "optlab"
MAP = (ROOT / "docs" / "contributing.md").read_text()
NAMED = set(re.findall(r"^\s+([\w.]+/?)\s", MAP, flags=re.MULTILINE))
PACKAGES = sorted(str(p.parent.relative_to(PACKAGE)) for p in PACKAGE.rglob("__init__.py")
                  if p.parent != PACKAGE and not p.parent.relative_to(PACKAGE).parts[0] == "conf")
MODULES = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("package", PACKAGES)
def test_the_map_names_every_package(package: str) -> None:
    assert f"{package.rsplit('/', 1)[-1]}/" in NAMED, f"docs/contributing.md's map leaves out src/optlab/{package}/"


@pytest.mark.parametrize("module", MODULES)
def test_the_map_names_every_top_level_module(module: str) -> None:
    assert module in NAMED, f"docs/contributing.md's map leaves out src/optlab/{module}"
