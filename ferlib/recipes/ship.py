"""``ferlib ship``: make the model the package ships, from scratch or from the long run's trainings.

The final fast recipe (:data:`~ferlib.recipes.fast.RECIPE`) is trained for each seed asked for,
in the same folders the chapter's long run uses (a finished training is read back, not
repeated); the run with the best ``PublicTest`` accuracy is kept (never chosen on
``PrivateTest``), rounded to float16 as it will be stored, scored on both test sets, and
written with its card (:mod:`ferlib.shipped`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..data import load_data
from ..models import load_model
from ..provenance import git_commit
from ..runfolder import default_runs_dir
from ..shipped import FOLDER, as_stored, card_for, export_model
from ..splits import standard_protocol_arrays
from .closing_gap import FOLDER as GAP_FOLDER
from .fast import PLAN, accuracy, train_fast


def default_root() -> Path:
    """Where the long run keeps page 8's trainings: ``ship`` reuses the ones it finished."""
    return default_runs_dir() / "full" / GAP_FOLDER


def ship(data: str = "auto", *, seeds: tuple[int, ...] = (0, 1, 2), epochs: int | None = None,
         root: str | Path | None = None, out: str | Path = FOLDER, progress=None) -> dict:
    """Train (or read back) the final recipe for `seeds` (with `epochs`, if given, instead of
    the recipe's), export the best on PublicTest into `out`, and return its card."""
    dataset = load_data(data)
    arrays = standard_protocol_arrays(dataset)
    root = Path(root) if root is not None else default_root()
    planned = [p for p in PLAN if p.group == "seeds" and p.seed in seeds]
    if not planned:
        raise ValueError(f"the final recipe is planned for seeds {[p.seed for p in PLAN if p.group == 'seeds']}, "
                         f"not {list(seeds)}")
    if epochs is not None:
        planned = [replace(p, name=f"fast-{epochs}ep-seed{p.seed}", recipe=replace(p.recipe, epochs=epochs))
                   for p in planned]
    runs = {p.name: train_fast(arrays, p.recipe, folder=root / p.name, seed=p.seed, progress=progress,
                               keep_model=False) for p in planned}
    best = max(runs, key=lambda name: runs[name].summary["public_test"])
    # Scored as it will be stored and loaded: weights rounded to float16, computed in float32.
    model = as_stored(load_model(runs[best].folder / "model.keras"), runs[best].summary["signature"]["recipe"])
    x, y = arrays["test"]
    right = int(round(accuracy(model, x, y, flip=False) * len(y)))
    card = card_for(runs[best], private=(right, len(y)), private_tta=accuracy(model, x, y, flip=True),
                    public=accuracy(model, *arrays["val"], flip=False), seed=next(p.seed for p in planned if p.name == best),
                    chosen=f"the best PublicTest accuracy among seeds {', '.join(str(p.seed) for p in planned)}",
                    dataset=dataset, commit=git_commit(Path(__file__).resolve().parents[2]))
    export_model(model, out, card)
    return card
