"""The model registry: every network the package trains is registered here, once.

A :class:`ModelSpec` says all the rest of the package needs to know of a network: its name
(the word run folders, metrics and glue use), how the book writes it, its builder and the
dataclass of its sizes, the readings of its text, whether it trains in bfloat16 where the
device computes it natively, which layers :mod:`ferlib.features` and the architecture plot
read, and which page trains its phase 1. Every loop over the models iterates
:func:`model_names`.

The package registers its own networks when :mod:`ferlib.models` is imported. More can be
registered by any module that calls :func:`register_model`; the modules (or ``.py`` files)
named in the environment variable ``FERLIB_MODELS`` (separated by ``os.pathsep``) are
imported with the registry, so that a notebook kernel started by papermill sees them too.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ENV_MODELS = "FERLIB_MODELS"
FAMILIES = ("cnn", "transformer")

_REGISTRY: dict[str, "ModelSpec"] = {}
_PLUGINS_LOADED: set[str] = set()


@dataclass(frozen=True)
class ModelSpec:
    """One registered network."""

    name: str  # "cnn": folder names, metrics keys, glue keys
    display: str  # "CNN": how the book writes it
    build: Callable  # build(config, *, precision, name) -> keras.Model
    config: type  # a dataclass of its sizes; config() is the default network
    family: str  # "cnn" or "transformer": which of ferlib.features' readings apply
    readings: Mapping[str, dict] = field(default_factory=lambda: {"as-built": {}})  # reading -> config changes
    reading_notes: Mapping[str, str] = field(default_factory=lambda: {"as-built": "as built"})
    bfloat16: bool = False  # True: trains under mixed_bfloat16 where the device computes bfloat16 natively
    feature_layers: tuple[str, ...] = ()  # the early and the late layer whose maps the features page shows
    layer_groups: tuple[tuple[str, str], ...] = ()  # (regex on a layer name, box label with {}) for the architecture plot
    phase1_page: str | None = None  # the notebook that trains its phase 1; None: the first page that needs it does
    in_report: bool = True  # False: a later chapter's network, which the report's pages (02-07) leave out

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        if "as-built" not in self.readings or set(self.readings) != set(self.reading_notes):
            raise ValueError(f"model {self.name!r}: readings need an 'as-built' entry and one note per reading")
        known = {f.name for f in fields(self.config)}
        for reading, changes in self.readings.items():
            if set(changes) - known:
                raise ValueError(f"model {self.name!r}, reading {reading!r}: {sorted(set(changes) - known)} "
                                 f"are not fields of {self.config.__name__}")

    def make_config(self, reading: str = "as-built", config=None):
        """The sizes of `reading`: `config` (default: the default network) with the reading's changes."""
        if reading not in self.readings:
            raise ValueError(f"unknown {self.name} reading {reading!r}; use one of {', '.join(self.readings)}")
        return replace(config if config is not None else self.config(), **self.readings[reading])


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add `spec` to the registry (again under the same name: replace it)."""
    _REGISTRY[spec.name] = spec
    return spec


def unregister_model(name: str) -> None:
    """Remove a registered model (tests register toys and take them away again)."""
    _REGISTRY.pop(name, None)


def _load_plugins() -> None:
    for entry in filter(None, os.environ.get(ENV_MODELS, "").split(os.pathsep)):
        if entry in _PLUGINS_LOADED:
            continue
        _PLUGINS_LOADED.add(entry)
        path = Path(entry).expanduser()
        if entry.endswith(".py"):
            if not path.is_file():
                raise FileNotFoundError(f"{ENV_MODELS} names {entry}, which is not a file; "
                                        "name a module or an existing .py file that calls register_model")
            module_spec = importlib.util.spec_from_file_location(f"ferlib_plugin_{path.stem}", path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module  # dataclasses look their module up there
            module_spec.loader.exec_module(module)
        else:
            importlib.import_module(entry)


def model_names(*, every: bool = False) -> tuple[str, ...]:
    """The models the report's pages train and compare, in the order they were registered
    (the report's two first); with `every`, also the later chapters' networks."""
    _load_plugins()
    return tuple(name for name, spec in _REGISTRY.items() if every or spec.in_report)


def model_spec(name: str) -> ModelSpec:
    """The registered model `name`; an unknown name is refused with the list of known ones."""
    _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; the registered models are {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def display_name(name: str) -> str:
    """How the book writes model `name` ("CNN", "ViT"); an unregistered name stays as it is."""
    _load_plugins()
    spec = _REGISTRY.get(name)
    return spec.display if spec else name


class _ByModel(Mapping):
    """A read-only view of one field of every registered model: ``READINGS["cnn"]``."""

    def __init__(self, field_name: str):
        self._field = field_name

    def __getitem__(self, name):
        return getattr(model_spec(name), self._field)

    def __iter__(self):
        return iter(model_names())

    def __len__(self):
        return len(model_names())


#: model -> reading -> config changes, and model -> reading -> note, for every registered model.
READINGS: Mapping[str, Mapping[str, dict]] = _ByModel("readings")
READING_NOTES: Mapping[str, Mapping[str, str]] = _ByModel("reading_notes")
