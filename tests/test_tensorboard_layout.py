"""What a user sees in TensorBoard: a real `tensorboard --logdir` on the folder of two tiny runs, read through the
HTTP routes its dashboards read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from helpers import TINY, compose_config, killed_at_exit, wait_until
from services import free_port

from optlab.run.job import train
from optlab.run.tensorboard_layout import CATEGORY, CHARTS


def _get(url: str) -> dict | None:
    """The route's JSON; None while the server is not answering yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError):
        return None


def test_tensorboard_opens_its_custom_scalars_on_every_runs_losses_and_accuracy(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for folder, optimizer in (("0_sgd_seed1", "sgd"), ("1_adam_seed1", "adam")):
        train(compose_config([*TINY, f"optimizer={optimizer}"], sweep / folder))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep), "--host",
                               "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with killed_at_exit(server):
        base = f"http://127.0.0.1:{port}/data"
        # The server reads the event files in the background: wait until it lists both runs' tags and the layout.
        tags = wait_until(lambda: (found := _get(f"{base}/plugin/scalars/tags")) and len(found) == 2 and found,
                          120, "TensorBoard to list both runs' scalars")
        layout = wait_until(lambda: _get(f"{base}/plugin/custom_scalars/layout"), 60, "the custom-scalars layout")
        listing = _get(f"{base}/plugins_listing")
    assert listing["custom_scalars"]["enabled"]  # the Custom Scalars tab is shown
    # One layout for the whole folder (TensorBoard merges the runs' identical ones): its first category is the
    # losses and the accuracy, in CHARTS' order, nothing before them.
    first = layout["category"][0]
    assert first["title"] == CATEGORY == "loss and accuracy" and len(layout["category"]) == 1
    assert [chart["title"] for chart in first["chart"]] == list(CHARTS) == [
        "train/loss_epoch", "val/loss", "val/acc", "train/loss_step"]
    # Every chart draws every run: its tag pattern matches a scalar each run logged.
    assert sorted(tags) == ["0_sgd_seed1", "1_adam_seed1"]
    for chart in first["chart"]:
        (pattern,) = chart["multiline"]["tag"]
        for run, run_tags in tags.items():
            assert [t for t in run_tags if re.search(pattern, t)] == [chart["title"]], (run, pattern)
    # What the Time Series tab, TensorBoard's first, would open on instead: dynamics/ sorts before train/ and val/.
    assert min(tags["0_sgd_seed1"]).startswith("dynamics/")
