"""What a results page asks of the library: one call that sets the page up, and glue.

The book's chapters quote numbers that the notebooks compute (myst-nb ``glue``); the
recipes name those numbers (``Comparison.glue_values``), so no page builds keys by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..display import GUESS, majority_label
from ..parameters import PageParameters
from .report import report_glue_values
from .run import Run, prepare_run


def glue(name: str, value, display: bool = False):
    """myst-nb's ``glue`` when it is installed (the book build); a no-op otherwise (Colab).

    NumPy scalars are glued as Python numbers: their text form (``np.float64(0.25)``) is one
    that a chapter's ``{glue:text}`...:.1%``` cannot format.
    """
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value


def glue_values(values: dict) -> None:
    """Glue every ``name: value`` of a dict, for the chapters to quote."""
    for name, value in values.items():
        glue(name, value)


def setup_notebook(namespace=None, *, precision_note: str | None = None, **values) -> Run:
    """Set a results page up: prepare the run (data, split, seeds, run card), glue the run's
    profile and data for the chapters, and show the banner that names the run.

    A page passes its ``globals()``, so the parameters cell above it is read whole
    (:class:`~ferlib.parameters.PageParameters`); keywords change single parameters.
    `precision_note` replaces, in the banner, the dtype policies of the run's CNN and ViT
    (pages 1 to 7), for a page whose networks each train in their own.
    """
    import logging

    # TensorFlow warns on a page's stderr each time predict meets a new model ("retracing"),
    # which is expected when a page scores several models; errors still show.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    parameters = PageParameters.from_namespace(namespace or {}).with_values(**values)
    run = prepare_run(parameters)
    glue_values(report_glue_values())  # the report's numbers, for the page's text
    glue("run_profile", run.profile_name)
    glue("run_data", run.dataset.name)
    try:
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - outside Jupyter there is no page to show it on
        return run
    display(Markdown(run.banner(precision_note)))
    return run


def with_baselines(table: pd.DataFrame, run: Run, part: str | None = None, columns=None,
                   label: str | None = None) -> pd.DataFrame:
    """`table` with two rows more: the accuracy of always answering the most common training
    emotion, and of guessing, in its accuracy columns, so a reader sees at once whether a
    model learned anything. The accuracy columns are `columns`, or else those whose name
    starts with a part (``train``, ``val``, ``test``: ``"test accuracy"``, ``"val_accuracy"``);
    a column's part is `part`, or else that first word. Other columns stay empty, except
    `label`, which names the two rows (for a table whose index does not show)."""
    rows = pd.DataFrame(np.nan, index=[majority_label(run.arrays["train"][1]), GUESS], columns=table.columns, dtype=object)
    for column in table.columns:
        words = str(column).replace("_", " ").split(" ")
        # "best_val_accuracy", "log_train_accuracy": their part is the second word
        first = words[1] if words[0] in ("best", "log") and len(words) > 1 else words[0]
        if columns is not None and column not in columns:
            continue
        which = part or (first if first in ("train", "val", "test") else None)
        if which is not None:
            rows[column] = list(run.baselines(which).values())
    if label is not None:
        rows[label] = rows.index
        return pd.concat([table, rows], ignore_index=True)
    return pd.concat([table, rows])
