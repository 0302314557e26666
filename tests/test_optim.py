"""Every optimizer config builds a real optimizer; Muon, its split, ASGD's averages, state memory and SparseAdam's skip
are what they claim."""

from __future__ import annotations

import pytest
import torch
from helpers import OPTIMIZERS, closure_step
from hydra.utils import instantiate

from optlab.models.cnns import CifarNet, resnet18_small
from optlab.optim.averaging import averaged_weights, restore_weights, swap_in_averages
from optlab.optim.hidden_split import HiddenSplitOptimizer, split_hidden
from optlab.optim.measure import parameter_assignment, state_bytes, unsupported_reason
from optlab.optim.muon import Muon


def one_step(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> None:
    closure_step(optimizer, model, torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,)))


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
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


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


def test_muon_gets_hidden_weights_and_adamw_the_first_layer_head_biases(make_cfg) -> None:
    model = CifarNet((3, 32, 32), 10)
    optimizer = instantiate(make_cfg("optimizer=muon").optimizer)(params=model.parameters())
    assignment = parameter_assignment(optimizer, model)
    assert assignment["Muon"] == ["features.3.weight", "classifier.0.weight", "classifier.2.weight"]
    assert {"features.0.weight", "classifier.4.weight", "features.3.bias"} <= set(assignment["AdamW"])
    assert sorted(assignment["Muon"] + assignment["AdamW"]) == sorted(n for n, _ in model.named_parameters())


def test_muon_holds_most_of_a_resnet(make_cfg) -> None:
    model = resnet18_small((3, 32, 32), 10, channels_last=False)
    optimizer = instantiate(make_cfg("optimizer=muon").optimizer)(params=model.parameters())
    assignment = parameter_assignment(optimizer, model)
    sizes = dict((name, p.numel()) for name, p in model.named_parameters())
    share = sum(sizes[n] for n in assignment["Muon"]) / sum(sizes.values())
    print(f"ResNet-18: {share:.1%} of the parameters on Muon")
    assert share > 0.99 and "conv1.weight" in assignment["AdamW"] and "fc.weight" in assignment["AdamW"]
    assert "layer1.0.conv1.weight" in assignment["Muon"] and "layer1.0.bn1.weight" in assignment["AdamW"]


def test_split_rule_keeps_first_and_last_weights_out() -> None:
    shapes = [(4, 3, 3, 3), (4,), (8, 4, 3, 3), (8,), (16, 8), (10, 16), (10,)]
    params = [torch.nn.Parameter(torch.zeros(shape)) for shape in shapes]
    hidden, others = split_hidden(params)
    assert [tuple(p.shape) for p in hidden] == [(8, 4, 3, 3), (16, 8)]
    assert len(others) == 5


def test_muon_matches_torch_muon_on_matrices_over_steps() -> None:
    torch.manual_seed(0)
    ours, theirs = torch.nn.Parameter(torch.randn(16, 24)), torch.nn.Parameter(torch.randn(16, 24))
    theirs.data.copy_(ours.data)
    mine = Muon([ours], lr=0.02, weight_decay=0.01)
    reference = torch.optim.Muon([theirs], lr=0.02, weight_decay=0.01)
    for _ in range(20):
        grad = torch.randn(16, 24)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        mine.step(), reference.step()
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_muon_updates_a_conv_filter_as_torch_muon_updates_its_matrix_view() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Parameter(torch.randn(8, 4, 3, 3))
    matrix = torch.nn.Parameter(conv.detach().reshape(8, 36).clone())
    mine, reference = Muon([conv], lr=0.02, weight_decay=0.1), torch.optim.Muon([matrix], lr=0.02, weight_decay=0.1)
    for _ in range(5):
        grad = torch.randn(8, 4, 3, 3)
        conv.grad, matrix.grad = grad.clone(), grad.reshape(8, 36).clone()
        mine.step(), reference.step()
    assert torch.allclose(conv.reshape(8, 36), matrix, atol=1e-6)


def test_muon_refuses_biases() -> None:
    with pytest.raises(ValueError, match="give biases and gains to AdamW"):
        Muon([torch.nn.Parameter(torch.zeros(3))])


def test_hidden_split_steps_like_its_parts_and_round_trips_its_state() -> None:
    torch.manual_seed(0)
    model, twin = CifarNet((3, 32, 32), 10), CifarNet((3, 32, 32), 10)
    twin.load_state_dict(model.state_dict())

    def build(params):
        return HiddenSplitOptimizer(params, lr=0.02, hidden_optimizer=Muon,
                                    other_optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-3))

    split = build(model.parameters())
    hidden, others = split_hidden(list(twin.parameters()))
    muon, adamw = Muon(hidden, lr=0.02), torch.optim.AdamW(others, lr=1e-3)
    torch.manual_seed(1)
    one_step(split, model)
    torch.manual_seed(1)
    images, labels = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    torch.nn.functional.cross_entropy(twin(images), labels).backward()
    muon.step(), adamw.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    # A scheduler's change to the split optimizer's groups reaches the parts.
    split.param_groups[0]["lr"] = 0.5
    assert split.parts[0].param_groups[0]["lr"] == 0.5
    restored = build(model.parameters())
    restored.load_state_dict(split.state_dict())
    assert state_bytes(restored) == state_bytes(split) > 0


def test_asgd_swaps_in_its_average_and_back() -> None:
    torch.manual_seed(0)
    model = CifarNet((3, 32, 32), 10)
    optimizer = torch.optim.ASGD(model.parameters(), lr=0.1, t0=1)
    for _ in range(4):
        one_step(optimizer, model)
    trained = [p.detach().clone() for p in model.parameters()]
    averages = averaged_weights(optimizer)
    assert len(averages) == len(trained) and any(not torch.equal(a, p) for p, a in averages.items())
    saved = swap_in_averages(optimizer)
    assert all(torch.equal(p, averages[p]) for p in model.parameters())
    restore_weights(saved)
    assert all(torch.equal(p, t) for p, t in zip(model.parameters(), trained, strict=True))
    assert averaged_weights(torch.optim.SGD(model.parameters(), lr=0.1)) == {}
