"""``python -m ferlib``: the ``ferlib`` command (see :mod:`ferlib.tooling.cli`)."""

from .tooling.cli import main

raise SystemExit(main())
