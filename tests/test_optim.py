"""Every optimizer config builds a real optimizer; Muon's split, state memory and SparseAdam's skip are what they claim."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from conftest import OPTIMIZERS
from optlab.models import CifarNet
from optlab.optim.matrix_split import MatrixSplitOptimizer
from optlab.optim.measure import parameter_assignment, state_bytes, unsupported_reason


def one_step(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> None:
    images, labels = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        return loss

    optimizer.step(closure)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_config_builds_and_steps(make_cfg, name: str) -> None:
    cfg = make_cfg(f"optimizer={name}")
    model = CifarNet((3, 32, 32), 10)
    optimizer = instantiate(cfg.optimizer)(params=model.parameters())
    assert isinstance(optimizer, torch.optim.Optimizer)
    if name == "sparseadam":
        assert unsupported_reason(optimizer, model).startswith("SparseAdam does not support dense gradients")
        return
    before = [p.detach().clone() for p in model.parameters()]
    one_step(optimizer, model)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_sparseadam_really_rejects_dense_gradients() -> None:
    """The reason optlab skips it: torch's own error on a CNN's dense gradients."""
    model = CifarNet((3, 32, 32), 10)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        one_step(torch.optim.SparseAdam(model.parameters()), model)


def test_state_bytes_follow_the_number_of_tensors_kept_per_parameter() -> None:
    model = CifarNet((3, 32, 32), 10)
    weights = sum(p.numel() * 4 for p in model.parameters())
    from lion_pytorch import Lion

    for optimizer, tensors in ((torch.optim.SGD(model.parameters(), lr=0.1), 0),
                               (Lion(model.parameters(), lr=1e-4), 1),
                               (torch.optim.Adam(model.parameters()), 2)):
        one_step(optimizer, model)
        step_counters = sum(s["step"].numel() * s["step"].element_size() for s in optimizer.state.values()
                            if isinstance(s.get("step"), torch.Tensor))
        assert state_bytes(optimizer) - step_counters == tensors * weights


def test_lbfgs_history_counts_in_its_state() -> None:
    torch.manual_seed(0)
    model = CifarNet((3, 32, 32), 10)
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=5, history_size=5)
    one_step(optimizer, model)
    weights = sum(p.numel() * 4 for p in model.parameters())
    history = len(optimizer.state[optimizer._params[0]]["old_dirs"])
    assert history >= 1
    # d and prev_flat_grad, plus a direction and a step per history entry (and a few scalars).
    assert (2 + 2 * history) * weights <= state_bytes(optimizer) < (2 + 2 * history) * weights + 1024


def test_muon_gets_the_matrices_and_adamw_the_rest(make_cfg) -> None:
    model = CifarNet((3, 32, 32), 10)
    optimizer = instantiate(make_cfg("optimizer=muon").optimizer)(params=model.parameters())
    assignment = parameter_assignment(optimizer, model)
    assert assignment["Muon"] == ["classifier.0.weight", "classifier.2.weight", "classifier.4.weight"]
    assert "features.0.weight" in assignment["AdamW"] and "classifier.0.bias" in assignment["AdamW"]
    assert sorted(assignment["Muon"] + assignment["AdamW"]) == sorted(n for n, _ in model.named_parameters())


def test_matrix_split_steps_like_its_parts_and_round_trips_its_state() -> None:
    torch.manual_seed(0)
    model, twin = CifarNet((3, 32, 32), 10), CifarNet((3, 32, 32), 10)
    twin.load_state_dict(model.state_dict())
    split = MatrixSplitOptimizer(
        model.parameters(), lr=0.02,
        matrix_optimizer=torch.optim.Muon, other_optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3),
    )
    params = list(twin.parameters())
    muon = torch.optim.Muon([p for p in params if p.ndim == 2], lr=0.02)
    adamw = torch.optim.AdamW([p for p in params if p.ndim != 2], lr=1e-3)
    torch.manual_seed(1)
    one_step(split, model)
    torch.manual_seed(1)
    images, labels = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    torch.nn.functional.cross_entropy(twin(images), labels).backward()
    muon.step(), adamw.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    # A scheduler's change to the split optimizer's groups reaches the parts.
    split.param_groups[0]["lr"] = 0.5
    assert split.parts[0].param_groups[0]["lr"] == 0.5
    restored = MatrixSplitOptimizer(
        model.parameters(), lr=0.02,
        matrix_optimizer=torch.optim.Muon, other_optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3),
    )
    restored.load_state_dict(split.state_dict())
    assert state_bytes(restored) == state_bytes(split) > 0
