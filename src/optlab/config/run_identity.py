"""What tells runs apart: the config keys a sweep varies. One rule for run folder names and report groups.

A run's identity is its config group choices (optimizer=adam) and the keys overridden on its command line
(optimizer.lr=0.1), minus the seed (runs of one setting differ by seed; reports pool them) and the settings that
do not change what is computed (where data lives, progress bars, resume, threads).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

SEED_KEYS = ("seed",)
# Keys that change where or how visibly a run goes, never its numbers (prefixes match their sub-keys). The
# checkpoint folder follows the run folder: a sweep moved elsewhere still resumes. A setting copied into a callback
# by interpolation is listed under both names (the resolved config holds both). A search trial's pruning callback
# says which trial a run reports to; runs saved before it came in as a callback held the same in `optuna_trial`.
# A public data set's location and checks (data.root, copied into data.source) are not its identity, so that runs
# and published protocols compare across machines; your own images are: image_folder's source holds their folder
# as data.source.folder, which stays in.
NOT_IDENTITY = ("hydra", "callbacks.trial_pruning", "optuna_trial", "resume", "resume_refused", "torch_threads",
                "report", "test", "data.root", "data.source.root", "data.source.download", "data.source.verify",
                "data.download", "data.verify", "trainer.enable_progress_bar", "trainer.enable_model_summary",
                "callbacks.progress_bar", "trainer.log_every_n_steps", "callbacks.lr_monitor", "callbacks.dynamics",
                "logger", "divergence.check_every_n_steps", "callbacks.divergence_guard.check_every_n_steps",
                "callbacks.checkpoint.dirpath")
SWEPT_KEYS_ENV = "OPTLAB_SWEPT_KEYS"  # set by the multirun callback for the jobs of its sweep
NUMERIC_PACKAGES = ("optlab", "torch")  # whose versions can change a run's numbers: part of its identity


def override_key(override: str) -> str:
    """The key an override sets: +callbacks.x._target_=... -> callbacks.x._target_ (the one parser of keys)."""
    return override.split("=", 1)[0].lstrip("+~")


def override_pairs(overrides: Iterable[str]) -> dict[str, str]:
    """{"optimizer": "adam", "optimizer.lr": "0.1"} from ["optimizer=adam", "optimizer.lr=0.1"]."""
    return {override_key(o): o.split("=", 1)[1] if "=" in o else "" for o in overrides}


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The job's config as {"optimizer.lr": 0.1, ...}, each value resolved where it can be, kept as written where it
    cannot (a failed job's interpolation; a run folder's path asked for before the run has one)."""
    written = flatten(OmegaConf.to_container(cfg, resolve=False))
    flat = {}
    for key, value in written.items():
        if key.split(".", 1)[0] == "hydra":
            continue
        try:
            resolved = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
            flat[key] = OmegaConf.to_container(resolved, resolve=True) if OmegaConf.is_config(resolved) else resolved
        except Exception:  # noqa: BLE001 - OmegaConf's and the resolvers' errors have no common base
            flat[key] = value
    return flat


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{"selection.top_k": 3} from {"selection": {"top_k": 3}}: nested dicts as dotted keys."""
    if isinstance(node, dict):
        return {k: v for key, child in node.items() for k, v in flatten(child, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def numbers_identity(config: Mapping[str, Any], versions: Mapping[str, str], device: str) -> dict[str, Any]:
    """What decides a run's numbers: a hash of its resolved config's keys that change them (the seed included), the
    versions of NUMERIC_PACKAGES, and the kind of device ("cpu", "gpu"). Two runs with equal identities compute the
    same numbers, so a finished one can stand for the other (optlab.tune's run cache); recorded in summary.json."""
    kept = {key: value for key, value in config.items() if changes_numbers(key)}
    digest = hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"config": digest, "versions": {name: versions.get(name) for name in NUMERIC_PACKAGES}, "device": device}


def identity_key(identity: Mapping[str, Any]) -> str:
    """A numbers identity as one short string (the runs table's column)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def changes_numbers(key: str) -> bool:
    """Whether a config key can change what a run computes: all but NOT_IDENTITY (and their sub-keys)."""
    return not any(key == k or key.startswith(k + ".") or key.startswith(k + "/") for k in NOT_IDENTITY)


def is_identity(key: str) -> bool:
    """Whether a key tells runs of a sweep apart: it changes the numbers and is not the seed."""
    return changes_numbers(key) and key not in SEED_KEYS


def swept_keys(overrides: Sequence[str], sweeper_params: Mapping[str, Any]) -> list[str]:
    """The keys a multirun sweeps, from its command line and hydra.sweeper.params (as experiments set them)."""
    given = [*overrides, *(f"{key}={value}" for key, value in sweeper_params.items())]
    parsed = OverridesParser.create().parse_overrides(given)
    return sorted({o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()})


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+\-=]", "-", value)


def _display(value: str) -> str:
    """A searched float as a name shows it (0.00017826497151386962 -> 0.000178); the override keeps it whole."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.3g}" if len(value) > 8 and "e" not in value.lower() or len(value) > 12 else value


def run_name(optimizer: str, overrides: Sequence[str], seed: Any, swept: Sequence[str] | None) -> str:
    """<optimizer>_<swept values>_seed<seed>, e.g. adam_lr0.1_seed2 or adam_cosine_seed1.

    Group choices appear as their value, other keys as their last name part and value. `swept` None (no sweep
    information): every identity override counts as swept.
    """
    pairs = override_pairs(overrides)
    keys = [k for k in pairs if is_identity(k) and k != "optimizer" and (swept is None or k in swept)]
    parts = [optimizer.replace("/", "-")]
    for key in keys:
        value = _display(pairs[key])
        parts.append(_safe(value if "." not in key else f"{_short(key)}{value}"))
    return "_".join([*parts, f"seed{seed}"])


def varying_keys(identities: Sequence[Mapping[str, Any]]) -> list[str]:
    """The identity keys whose values differ between runs, in a stable order (optimizer first)."""
    keys = sorted({k for identity in identities for k in identity if is_identity(k)},
                  key=lambda k: (k != "optimizer", "." in k, k))
    return [k for k in keys if len({repr(identity.get(k)) for identity in identities}) > 1]


def group_label(identity: Mapping[str, Any], keys: Sequence[str]) -> str:
    """"adam lr=0.1": the optimizer, then the other keys that tell groups apart and that this group has (a zoo
    optimizer's name is not a key of the built-in ones)."""
    optimizer = str(identity.get("optimizer", ""))
    others = [f"{_short(k) if '.' in k else k}={_format(identity.get(k))}" for k in keys
              if k != "optimizer" and identity.get(k) is not None]
    return " ".join([optimizer, *others]).strip()


def _format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
