# Two commands: `make demo` (set up, then a real sweep of every optimizer) and `make test`.
# Either works first on a fresh clone: both create the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
# make test's pytest processes (pytest-xdist): two keep a 2-core machine busy while a test waits on a subprocess or
# a service; tests that share a service name an xdist_group and run in turn on one of them.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup
DEMO_ARGS ?= 'optimizer=glob(*)' data=digits seed=1,2 trainer.max_epochs=10

.PHONY: setup system-packages demo test test-fast test-published docs clean

# Debian packages of the real services some tests start (they skip, saying which package, where one is missing):
# PostgreSQL, the shared storage of optlab.tune's workers; a one-node SLURM cluster (munge, slurmctld, slurmd, the
# client programs, and slurmdbd with MariaDB for its accounting, which sacct and submitit read); and Fashion-MNIST
# (/usr/share/datasets/fashion-mnist), the real data of the README's results, which a real-data test trains on. Needs
# root (CI runs as root).
DEBIAN_PACKAGES := postgresql munge slurmctld slurmd slurm-client slurmdbd mariadb-server dataset-fashion-mnist

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(INSTALLED)

system-packages:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

# Every optimizer on the UCI 8x8 digits (bundled: no download), 2 seeds; prints the report's paths at the end.
demo: $(INSTALLED)
	$(BIN)/python -m optlab.train -m $(DEMO_ARGS)

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(PYTEST) -m "not published"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The documentation site into site/: the configuration reference rewritten from conf/, then the pages; --strict
# fails on a broken link or a page left out (tests/test_docs.py fails on a reference that differs from conf/).
docs: $(INSTALLED)
	$(BIN)/python scripts/config_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test-fast: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(PYTEST) -m "not slow and not published"

# The docs' commands that pair with a published full-size protocol, run as written (tens of minutes each on two
# cores: too long for make test, whose miniatures of the same commands run on digits).
test-published: $(INSTALLED)
	$(BIN)/python -m pytest -q -m published

clean:
	rm -rf $(VENV) outputs/runs outputs/multirun site
