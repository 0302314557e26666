"""What optlab asks of an optimizer, any optimizer: yours (`optimizer=custom/any optimizer._target_=my_optim.SignSGD`)
as well as the shipped ones, checked as optlab.models.contract checks models: in a second, before any data is read.

The contract: the class imports; it is a torch.optim.Optimizer; it takes `params` and `lr` (and its other configured
keys); one step on a tiny model changes the parameters and leaves them finite; its state_dict survives a checkpoint
(torch.save, torch.load, load_state_dict), so that the next step after a resume is the step it would have taken,
which resume=true needs; and a step() that needs a closure says so in its signature (`def step(self, closure)`, as
torch.optim.LBFGS does), because one that declares `closure=None` and calls it anyway breaks every caller that
trusts the signature. Each breach is one ConfigError line naming the optimizer and what to change.

The tiny model has a first layer, a hidden filter bank and a head, so that Muon's hidden/other split has something
on each side; an optimizer that cannot run on dense gradients at all (SparseAdam) is left to the run, which
records it as skipped with its reason.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from optlab.config.checks import ConfigError
from optlab.config.run_identity import override_key
from optlab.files import first_line, innermost_error
from optlab.optim.measure import unsupported_reason
from optlab.optim.zoo import needs_create_graph

Factory = Callable[..., torch.optim.Optimizer]


def check_optimizer(node: DictConfig, name: str, overrides: list[str]) -> None:
    """Every clause of the contract, in the order a user would fix them; ConfigError (one line) at the first
    breach. `overrides`: the command line's, so that a refused setting names what was typed."""
    factory = build_factory(node, name)
    model = tiny_model()
    optimizer = construct(factory, model, node, name, overrides)
    if unsupported_reason(optimizer, model):  # cannot run at all: the run says why and is skipped
        return
    check_step(optimizer, model, name)
    check_state_round_trip(factory, name)


def build_factory(node: DictConfig, name: str) -> Factory:
    """The configured optimizer, not yet given parameters; an import that fails names its innermost error."""
    target = node.get("_target_")
    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as error:
        if "Error locating target" not in str(error):
            cause = error.__cause__ or error
            raise ConfigError(f"optimizer={name} ({target}) cannot be configured: {first_line(cause)}") from error
        innermost = innermost_error(error)
        raise ConfigError(
            f"optimizer={name}: optimizer._target_={target} cannot be imported ({type(innermost).__name__}: "
            f"{first_line(innermost)}); run from the folder that holds its module or add that folder to PYTHONPATH"
        ) from error


def construct(factory: Factory, model: nn.Module, node: DictConfig, name: str,
              overrides: list[str]) -> torch.optim.Optimizer:
    """The optimizer on the tiny model's parameters: it must accept `params` and its settings, and be an
    Optimizer (Lightning, checkpoints and optlab's measures all rely on its param_groups and state)."""
    try:
        optimizer = factory(params=list(model.parameters()))
    except (TypeError, ValueError, AssertionError) as error:  # its own argument checks: torch's, lion-pytorch's
        given = [o for o in overrides if override_key(o).startswith("optimizer.")]
        hint = f"; check {', '.join(given)}" if given else "; check the optimizer.* settings"
        text = str(error).strip()
        reason = text.splitlines()[-1] if text else "it failed an assertion on its arguments"
        raise ConfigError(f"optimizer={name} ({node.get('_target_')}) refuses its settings: {reason}{hint}"
                          ) from error
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(f"optimizer={name}: {node.get('_target_')} made a {type(optimizer).__name__}, not a "
                          "torch.optim.Optimizer; subclass torch.optim.Optimizer (its param_groups and state are "
                          "what Lightning, checkpoints and optlab's measures read)")
    return optimizer


def check_step(optimizer: torch.optim.Optimizer, model: nn.Module, name: str) -> None:
    """One step must move the parameters and keep them finite; a closure it needs must be declared."""
    before = [p.detach().clone() for p in model.parameters()]
    take_step(optimizer, model, name)
    after = list(model.parameters())
    if not all(torch.isfinite(p).all() for p in after):
        raise ConfigError(f"optimizer={name}: one step on a small model made parameters NaN or infinite (lr "
                          f"{optimizer.param_groups[0].get('lr')}); check its update and its settings")
    if all(torch.equal(b, a) for b, a in zip(before, after, strict=True)):
        raise ConfigError(f"optimizer={name}: one step on a small model left every parameter unchanged; its step() "
                          "must update the parameters in place (p.add_(...)), under torch.no_grad()")


def check_state_round_trip(factory: Factory, name: str) -> None:
    """A checkpoint's optimizer state, loaded into a new optimizer, must take the same next step as the one that
    saved it: what resume=true does after an interruption."""
    first, second = tiny_model(), tiny_model()
    saved, loaded = factory(params=list(first.parameters())), factory(params=list(second.parameters()))
    take_step(saved, first, name)
    second.load_state_dict(first.state_dict())
    buffer = io.BytesIO()
    try:
        torch.save(saved.state_dict(), buffer)
        buffer.seek(0)
        loaded.load_state_dict(torch.load(buffer, weights_only=False))
    except Exception as error:  # the user's state_dict code: any exception is theirs to read, in one line
        raise ConfigError(f"optimizer={name}: its state_dict() does not survive a checkpoint ({_reason(error)}); "
                          "resume=true saves and loads it: make state_dict()/load_state_dict() round-trip"
                          ) from error
    for optimizer, model in ((saved, first), (loaded, second)):
        with torch.random.fork_rng(devices=[]):  # the same random draws for both (AdaHessian's Hessian probes)
            torch.manual_seed(1)
            take_step(optimizer, model, name)
    if not all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True)):
        raise ConfigError(f"optimizer={name}: after load_state_dict(state_dict()) its next step differs from the "
                          "original's, so a resumed run would not continue the same training; keep every tensor "
                          "and number the update reads in self.state or param_groups")


def take_step(optimizer: torch.optim.Optimizer, model: nn.Module, name: str) -> None:
    """A step as Lightning takes one, with a closure when step() declares that it needs one; without one when it
    declares `closure=None`, which must then be true."""
    inputs, labels = tiny_batch()
    second_order = needs_create_graph(optimizer)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), labels)
        loss.backward(create_graph=second_order)  # as the Classifier's backward does for Hessian estimates
        return loss

    declared = needs_closure(optimizer)
    if not declared:
        closure()
    try:
        if declared:
            optimizer.step(closure)
        else:
            optimizer.step()
    except TypeError as error:
        if declared or "'NoneType' object is not callable" not in str(error):
            raise ConfigError(f"optimizer={name}: step() failed: {_reason(error)}") from error
        raise ConfigError(f"optimizer={name}: step() needs a closure but declares closure=None ({_reason(error)}); "
                          "declare it required, def step(self, closure), as torch.optim.LBFGS does") from error
    except Exception as error:  # the user's update: any exception is theirs to read, in one line
        raise ConfigError(f"optimizer={name}: step() failed: {_reason(error)}") from error


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether step()'s signature requires a closure (a parameter without a default)."""
    parameter = inspect.signature(optimizer.step).parameters.get("closure")
    return parameter is not None and parameter.default is inspect.Parameter.empty


def tiny_model() -> nn.Module:
    """First layer, hidden filters, head (Muon's split needs all three); the same weights at every call."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Linear(8, 3))


def tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 1, 6, 6, generator=generator), torch.tensor([0, 1, 2, 0])


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[-1]}" if text else type(error).__name__

