"""The book's results pages: the notebooks a run executes, listed in one place.

The list is the notebooks folder itself: every ``NN_name.ipynb`` in it is a page, run in
the order of its number. A new page is its notebook, its entry in ``_toc.yml`` and its
chapter text; nothing in the package names the pages one by one.
"""

from __future__ import annotations

import re
from pathlib import Path

#: The repository's notebooks folder (next to the package in a clone).
NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
_PAGE = re.compile(r"^\d\d_[a-z0-9_]+$")


def notebook_names(folder: str | Path | None = None) -> tuple[str, ...]:
    """The pages in `folder` (default: :data:`NOTEBOOKS_DIR`), in order: ``("01_data", ...)``.

    Two pages with the same number are refused, since their order would be a guess.
    """
    folder = Path(folder) if folder is not None else NOTEBOOKS_DIR
    names = sorted(p.stem for p in folder.glob("*.ipynb") if _PAGE.match(p.stem))
    numbers = [name[:2] for name in names]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        raise ValueError(f"{folder}: more than one notebook numbered {', '.join(twice)}; "
                         "give each page its own number")
    return tuple(names)


#: The repository's pages, in order.
NOTEBOOKS = notebook_names()
