"""What optlab asks of a model, any model: yours (`model._target_=my_model.MyNet`) as well as the shipped ones.

The contract: the class (or function) takes `input_shape=(channels, height, width)` and `num_classes=N` as keyword
arguments, plus any keys of its own from the config (`+model.width=64`), and its forward maps a (B, C, H, W) float
batch to (B, N) logits. `build_model` checks all of that before any training, in one line naming the shapes.

The forward check also records the order in which the model's layers run. Muon's recipe needs "the first layer"
and "the classifier head", which a model's registration order need not reveal (a model may define its head first);
the order they run in does. Optimizers receive the parameters in that order (`ordered_parameters`); for optlab's
models it is their registration order, so nothing they computed changes.
"""

from __future__ import annotations

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from optlab.config.checks import ConfigError
from optlab.files import first_line, innermost_error

PROBE_BATCH = 2  # a batch of 2, not 1: a BatchNorm in training mode refuses a batch of one


def build_model(model_cfg: DictConfig, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Instantiate the configured model; a target that cannot be imported or called is one line."""
    target = model_cfg.get("_target_")
    try:
        model = instantiate(model_cfg, input_shape=input_shape, num_classes=num_classes)
    except InstantiationException as error:
        cause = error.__cause__ or error
        if "Error locating target" in str(error):
            innermost = innermost_error(cause)
            raise ConfigError(
                f"model._target_={target} cannot be imported ({type(innermost).__name__}: {first_line(innermost)}); "
                "run from the folder that holds its module (python -m optlab.train looks there) or add that folder "
                "to PYTHONPATH"
            ) from error
        raise ConfigError(
            f"model._target_={target} failed when called with input_shape={tuple(input_shape)}, num_classes="
            f"{num_classes} and the other model.* keys ({type(cause).__name__}: {first_line(cause)}); its "
            "constructor must take input_shape and num_classes as keyword arguments"
        ) from error
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model._target_={target} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def ordered_parameters(model: nn.Module, input_shape: tuple[int, int, int], num_classes: int,
                       target: str) -> list[nn.Parameter]:
    """The model's trainable parameters in the order their layers first run, after checking that a forward pass
    of a batch of zeros gives (batch, num_classes) logits.

    Run in eval mode without gradients, so that the check changes no BatchNorm statistics and draws no random
    numbers (dropout): the first training step sees the model exactly as the seed built it. Parameters of layers
    that did not run follow in registration order; those held by the model itself (not by a submodule) come last.
    """
    first_run: list[nn.Module] = []

    def record(module: nn.Module, args: object) -> None:
        if module not in first_run:
            first_run.append(module)

    holders = [m for m in model.modules() if m is not model and any(True for _ in m.parameters(recurse=False))]
    hooks = [m.register_forward_pre_hook(record) for m in holders]
    was_training = model.training
    batch = torch.zeros(PROBE_BATCH, *input_shape)
    try:
        model.eval()
        with torch.no_grad():
            output = model(batch)
    except Exception as error:  # the user's forward: any exception is theirs to read, in one line
        raise ConfigError(
            f"model {target} failed on a batch of shape {tuple(batch.shape)} (the data's input_shape "
            f"{tuple(input_shape)}): {type(error).__name__}: {first_line(error)}"
        ) from error
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    expected = (PROBE_BATCH, num_classes)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
        got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ConfigError(f"model {target} returned {got} for a batch of shape {tuple(batch.shape)}; it must return "
                          f"logits of shape {expected} (batch, num_classes)")
    order = [*first_run, *(m for m in holders if m not in first_run), model]
    seen: set[int] = set()
    parameters = []
    for module in order:
        for param in module.parameters(recurse=False):
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                parameters.append(param)
    return parameters

