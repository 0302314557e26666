"""optlab's Hydra configs, installed as the package `optlab.conf` (see pyproject.toml's package-dir), so that an
installed optlab finds them through `pkg://optlab.conf` wherever it runs."""
