"""The textbook optimizers (optimizer=textbook/<name>) follow their library counterparts step for step."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

TEXTBOOK = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lion"]
STEPS = 100


def train(make_optimizer, steps: int = STEPS) -> list[torch.Tensor]:
    """`steps` full-batch steps of a small tanh network on fixed data, in float64; returns the final weights."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    inputs, labels = torch.randn(32, 5, dtype=torch.float64), torch.randint(0, 3, (32,))
    optimizer = make_optimizer(params=model.parameters())
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    return [p.detach() for p in model.parameters()]


@pytest.mark.parametrize("name", TEXTBOOK)
def test_textbook_optimizer_matches_the_library_over_100_steps(make_cfg, name: str) -> None:
    # A nonzero weight decay everywhere, so that the decay's form (L2 or decoupled) is checked too.
    textbook = make_cfg(f"optimizer=textbook/{name}", "optimizer.weight_decay=0.01")
    library = make_cfg(f"optimizer={name}", "optimizer.weight_decay=0.01")
    assert textbook.optimizer._target_.startswith("optlab.optim.textbook.")
    assert {k: v for k, v in textbook.optimizer.items() if k != "_target_"} == \
        {k: v for k, v in library.optimizer.items() if k != "_target_"}  # the same settings, one copy of them
    ours, theirs = train(instantiate(textbook.optimizer)), train(instantiate(library.optimizer))
    start = train(instantiate(library.optimizer), steps=0)
    assert any((a - s).abs().max() > 1e-2 for a, s in zip(ours, start, strict=True))  # it really trained
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_adam_bias_correction_is_what_makes_it_match() -> None:
    """The comparison is sharp enough to see a missing piece of the update: Adam without bias correction drifts."""
    from optlab.optim.textbook.adam import Adam

    class Uncorrected(Adam):
        def update(self, param, grad, state, group):
            state["step"] = 10**9  # (1 - beta^t) = 1: no bias correction
            super().update(param, grad, state, group)

    make = lambda params: torch.optim.Adam(params, lr=1e-3)  # noqa: E731
    ours = train(lambda params: Uncorrected(params, lr=1e-3))
    assert max((a - b).abs().max() for a, b in zip(ours, train(make), strict=True)) > 1e-6


def test_textbook_sgd_refuses_nesterov_without_momentum() -> None:
    from optlab.optim.textbook.sgd import SGD

    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        SGD([torch.zeros(2, requires_grad=True)], lr=0.1, nesterov=True)
