"""Every optimizer of the pytorch-optimizer library by name: `optimizer=zoo/any optimizer.name=prodigy`.

The library's optimizers take the usual `params` and keyword settings, and Lightning's automatic optimization
drives them like torch's (closure included). A few need more, handled here as optlab handles its built-in ones:
- Muon-style optimizers want parameter groups flagged `use_muon`: the hidden weights (optlab.optim.hidden_split,
  the same split as optimizer=muon) get True, the first layer, head, biases and gains False.
- Second-order ones (AdaHessian, Sophia-H) estimate the Hessian from the gradient's graph: the Classifier's
  backward keeps that graph (create_graph=True) when `needs_create_graph` says so.
- Schedule-free ones are evaluated at their averaged point (optlab.optim.averaging, with ASGD's averages).
- Some cannot be driven by a step() loop on a CNN at all: they fail with one line saying why.
- Required settings without a default (Ranger21's num_iterations) must be given: the error names the override.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from typing import Any

import pytorch_optimizer
import torch
from torch.optim import Optimizer

from optlab.config.checks import ConfigError
from optlab.optim.hidden_split import split_hidden

MUON_STYLE = ("adago", "adamuon", "distributedmuon", "muon", "muonclip", "normuon")
SECOND_ORDER = ("adahessian", "sophiah")
CANNOT_RUN = {
    "lomo": "updates the weights inside backward (fused), with no step() for Lightning to call",
    "adalomo": "updates the weights inside backward (fused), with no step() for Lightning to call",
    "adammini": "takes the whole model and partitions it by transformer block names, not a parameter list",
    "distributedmuon": "needs a torch.distributed process group before it is built; optimizer.name=muon is the same "
                       "update on one process",
    "spectralsphere": "supports only 2-D parameters, and a CNN's filters are 4-D",
}


def zoo_optimizer(params: Iterable[torch.Tensor], name: str, lr: float | None = None,
                  options: dict[str, Any] | None = None) -> Optimizer:
    """pytorch-optimizer's `name` on `params`; lr None keeps the library's default for that optimizer."""
    key = name.lower()
    supported = pytorch_optimizer.get_supported_optimizers()
    if key not in supported:
        close = difflib.get_close_matches(key, supported, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"pytorch-optimizer has no optimizer {name!r}; {hint}"
                          "pytorch_optimizer.get_supported_optimizers() lists them (optimizer.name=...)")
    if key in CANNOT_RUN:
        raise ConfigError(f"{name} {CANNOT_RUN[key]}; choose another optimizer.name")
    optimizer_class = pytorch_optimizer.load_optimizer(key)
    settings = dict(options or {})
    if lr is not None:
        settings["lr"] = lr
    _check_required(name, optimizer_class, settings)
    params = [p for p in params if p.requires_grad]
    if key in MUON_STYLE:
        hidden, others = split_hidden(params)
        groups = [{"params": hidden, "use_muon": True}, {"params": others, "use_muon": False}]
        return optimizer_class([g for g in groups if g["params"]], **settings)
    return optimizer_class(params, **settings)


def _check_required(name: str, optimizer_class: type, settings: dict[str, Any]) -> None:
    signature = inspect.signature(optimizer_class.__init__)
    missing = [p.name for p in list(signature.parameters.values())[2:]
               if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name not in settings]
    if missing:
        overrides = " ".join(f"+optimizer.options.{m}=<value>" for m in missing)
        raise ConfigError(f"{name} needs {', '.join(missing)} with no default: add {overrides}")


def needs_create_graph(optimizer: Optimizer) -> bool:
    """True for optimizers that differentiate the gradient again (Hutchinson's Hessian estimate)."""
    if not type(optimizer).__module__.startswith("pytorch_optimizer"):
        return False
    return isinstance(optimizer, tuple(pytorch_optimizer.load_optimizer(name) for name in SECOND_ORDER))
