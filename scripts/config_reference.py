"""Write the configuration reference of the documentation site from conf/, so that it cannot drift from it.

    python scripts/config_reference.py            # rewrites docs/reference/configuration.md
    python scripts/config_reference.py --check    # exit 1 if the page differs from what conf/ says (make test)

Every config group becomes a section: a table of its options, each with the first line of its file's comment (what
it is), then each option's whole file, comments included, folded. The entry configs (train.yaml, tune.yaml,
trajectories.yaml) are shown whole: their comments are the documentation of every top-level key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"
PAGE = ROOT / "docs" / "reference" / "configuration.md"
ENTRY_CONFIGS = ("train.yaml", "tune.yaml", "trajectories.yaml")


def description(text: str) -> str:
    """The first comment line that is not a Hydra directive (`# @package`)."""
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith("# @package"):
            return line.lstrip("# ").strip().replace("|", "\\|")
        if line.strip() and not line.startswith("#"):
            break
    return ""


def group_section(group: Path) -> list[str]:
    options = sorted(p for p in group.rglob("*.yaml"))
    name = group.relative_to(CONF).as_posix()
    lines = [f"## {name}", "", f"`{name}=<option>`; the default is chosen in `train.yaml`'s defaults list.", "",
             "| option | what it is |", "|---|---|"]
    for path in options:
        option = path.relative_to(group).with_suffix("").as_posix()
        lines.append(f"| `{option}` | {description(path.read_text())} |")
    lines.append("")
    for path in options:
        option = path.relative_to(group).with_suffix("").as_posix()
        body = "\n".join(f"    {line}".rstrip() for line in path.read_text().rstrip().splitlines())
        lines += [f'??? note "{name}/{option}.yaml"', "", "    ```yaml", body, "    ```", ""]
    return lines


def render() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `conf/` by `scripts/config_reference.py` (`make docs`; `make test` fails when this page "
             "and `conf/` differ). Every key is a Hydra override: `python -m optlab.train key=value`, a group by "
             "`group=option`. `--cfg job` prints the composed config of any command.", ""]
    for name in ENTRY_CONFIGS:
        text = (CONF / name).read_text().rstrip()
        lines += [f"## {name}", "", "```yaml", text, "```", ""]
    for group in sorted(p for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("__")):
        lines += group_section(group)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        if not PAGE.is_file() or PAGE.read_text() != page:
            print(f"{PAGE.relative_to(ROOT)} differs from conf/: run python scripts/config_reference.py",
                  file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page)
    print(PAGE.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
