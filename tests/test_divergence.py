"""The divergence check: each step's loss recorded on its device without a host read, the verdict read every N steps
and at each epoch's end, naming the first step that was out of bounds whenever it is read."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from optlab.run.callbacks import DivergenceGuard, FirstBadLoss
from optlab.run.job import train


def record_all(watch: FirstBadLoss, losses: list[float]) -> None:
    for step, loss in enumerate(losses, start=1):
        watch.record(torch.tensor(loss), step)


@pytest.mark.parametrize("max_loss, losses, expected", [
    (None, [2.3, 2.1, 1.9], None),
    (None, [2.3, math.nan, 5.0, math.inf], (2, math.nan)),
    (None, [2.3, 1.0, -math.inf, math.nan], (3, -math.inf)),
    (3.0, [2.3, 4.0, 2.0, math.nan], (2, 4.0)),  # back in bounds later: still the first bad step
    (3.0, [2.3, 3.0, 2.9], None),  # at the bound is in bounds
])
def test_first_bad_step_and_its_loss(max_loss: float | None, losses: list[float], expected) -> None:
    watch = FirstBadLoss(max_loss)
    record_all(watch, losses)
    found = watch.read()
    if expected is None:
        assert found is None
    else:
        assert found[0] == expected[0]
        assert (math.isnan(found[1]) and math.isnan(expected[1])) or found[1] == expected[1]


def test_recording_never_reads_a_tensor_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host read of a CUDA tensor waits for the GPU; recording must make none (read() is the one place)."""
    watch = FirstBadLoss(10.0)
    losses = [torch.tensor(v) for v in (2.3, math.nan, 20.0)]

    def host_read(*_args, **_kwargs):
        raise AssertionError("a tensor was read on the host while recording")

    for name in ("item", "__bool__", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    for step, loss in enumerate(losses, start=1):
        watch.record(loss, step)
    monkeypatch.undo()
    assert watch.read()[0] == 2


def test_a_late_check_names_the_first_bad_step(make_cfg) -> None:
    """Read only at the epoch's end (3 batches per epoch here), the run is still stopped at the step that first went
    out of bounds, as the every-step check finds it."""
    bound = "divergence.max_loss=0.5"  # random labels: the loss stays near ln(10), out of bounds from step 1
    every_step = train(make_cfg(bound, "divergence.check_every_n_steps=1"))
    at_epoch_end = train(make_cfg(bound, "divergence.check_every_n_steps=1000"))
    assert every_step.status == at_epoch_end.status == "diverged"
    assert at_epoch_end.diverged_step == every_step.diverged_step == 1 and at_epoch_end.diverged_epoch == 0
    assert at_epoch_end.reason == every_step.reason


@pytest.mark.parametrize("configured, device, every", [(None, "cpu", 1), (None, "cuda:0", 50), (7, "cuda:0", 7),
                                                       (7, "cpu", 7)])
def test_the_check_interval_suits_the_device(configured: int | None, device: str, every: int) -> None:
    guard = DivergenceGuard(max_loss=None, check_every_n_steps=configured)
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    guard.setup(trainer, None, "fit")
    assert guard.every == every
