"""The parameters of a results page, owned here once.

Every results notebook opens with a papermill ``parameters`` cell that assigns these names;
:func:`~ferlib.recipes.pages.setup_notebook` reads them from the notebook's namespace, the
pipeline passes them to papermill, and ``ferlib run`` offers each as an option. Adding a
parameter is a field here (with its help text) and a line in the notebooks' parameters
cells, which a test holds equal to these fields.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace


def _option(default, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


#: Where the training augmentation runs (``augment_on``; :func:`ferlib.augment.augments_in_step`).
AUGMENT_ON = ("auto", "host", "device")


@dataclass(frozen=True)
class PageParameters:
    """What a rerun of a page can change (``papermill -p profile full``)."""

    data: str = _option("auto", '"auto", a path, "kaggle" or "synthetic" (see the data chapter)')
    profile: str = _option("smoke", '"smoke" (minutes), "cpu" (a subset) or "full" (hours)', ("smoke", "cpu", "full"))
    subset: float | None = _option(None, "fraction of the split to use; None: the profile's")
    epochs: int | None = _option(None, "phase-1 epochs; None: the profile's (full: up to 100)")
    seed: int = _option(42, "seeds the split, the initial weights and every random draw")
    split: str = _option("report", '"report" (the report\'s split) or "official" (challenge\'s)', ("report", "official"))
    run_dir: str = _option("runs/latest", "where the notebooks keep their models and metrics")
    devices: int | None = _option(None, "devices to train on, data-parallel (JAX backend); None: one")
    batch_size: int | None = _option(None, "training batch (all devices together); None: the recipe's")
    augment_on: str = _option("auto", '"host", "device" (in the training step) or "auto"', AUGMENT_ON)

    @classmethod
    def from_namespace(cls, namespace: Mapping) -> "PageParameters":
        """The parameters a notebook's namespace holds (its ``globals()``); missing ones keep
        their defaults, and other names are ignored."""
        return cls(**{f.name: namespace[f.name] for f in fields(cls) if f.name in namespace})

    def with_values(self, **values) -> "PageParameters":
        """A copy with some parameters changed; an unknown name is refused with the known ones."""
        unknown = set(values) - set(names())
        if unknown:
            raise TypeError(f"unknown page parameter(s) {sorted(unknown)}; the parameters are {', '.join(names())}")
        return replace(self, **values)

    def as_dict(self) -> dict:
        return asdict(self)


def names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(PageParameters))


def types() -> dict[str, type]:
    """Each parameter's value type, from its annotation (``float | None`` gives float), for
    the command line's options."""
    hints = typing.get_type_hints(PageParameters)
    return {name: next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
            for name, hint in hints.items()}


def help_texts() -> dict[str, str]:
    """Each parameter's help text, as the notebooks' parameters cell comments it."""
    return {f.name: f.metadata["help"] for f in fields(PageParameters)}
