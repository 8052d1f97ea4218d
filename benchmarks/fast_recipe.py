"""The chapter "Closing the gap"'s long run: the fast recipe's trainings, one after another.

    python benchmarks/fast_recipe.py --root ~/.cache/ferlib/closing-the-gap [--only NAME] [--data PATH]
    python benchmarks/fast_recipe.py --root ... --probe NAME [--seed 0] --set epochs=32 --set network.train_crop=40

Trains every run of :data:`ferlib.recipes.fast.PLAN` in its own folder under ``--root``, on
the standard protocol (Training / PublicTest / PrivateTest). The same command resumes: a
finished run is skipped, an unfinished one goes on from its last epoch. Each epoch prints one
line (training seconds so far, PublicTest and PrivateTest accuracy, plain and with flip TTA).

``--probe NAME`` trains one variant that the plan does not hold yet: the final recipe with the
``--set`` fields changed (``field=value``, ``network.field=value``), in ``--root/probes/NAME``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the folder that holds one folder per run")
    parser.add_argument("--only", action="append", help="run only this planned run (repeatable)")
    parser.add_argument("--data", default="auto", help="FER2013 source, as for `ferlib run --data`")
    parser.add_argument("--probe", help="train one variant of the final recipe, named NAME, instead of the plan")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="with --probe: a recipe field (epochs=32) or a network field (network.train_crop=40)")
    parser.add_argument("--seed", type=int, default=0, help="with --probe: its seed")
    args = parser.parse_args()
    if args.set and not args.probe:
        parser.error("--set changes a --probe's recipe; give --probe NAME too")

    from ferlib.data import load_data
    from ferlib.recipes.fast import PLAN, RECIPE, PlannedRun, planned_run, train_fast, with_overrides
    from ferlib.splits import standard_protocol_arrays

    if args.probe:  # checked before the data loads
        recipe = with_overrides(RECIPE, args.set)
        runs = [PlannedRun(f"probes/{args.probe}", recipe, seed=args.seed, group="probe", label=args.probe)]
    else:
        runs = [planned_run(name) for name in args.only] if args.only else PLAN
    arrays = standard_protocol_arrays(load_data(args.data))
    for run in runs:
        print(f"== {run.name}: {run.model}, seed {run.seed}, {run.recipe.epochs} epochs", flush=True)

        def progress(row, name=run.name):
            print(name, json.dumps(row), flush=True)

        result = train_fast(arrays, run.recipe, folder=args.root / run.name, seed=run.seed, model_name=run.model,
                            config=run.config, progress=progress, keep_model=False)
        print(f"== {run.name} done: {json.dumps({k: v for k, v in result.summary.items() if k != 'signature'})}",
              flush=True)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.exit(main())
