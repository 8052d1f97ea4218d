"""The chapter "Why the ViT loses, tested"'s long run: every contender, every seed, one budget.

    python benchmarks/vit_question.py --root ~/.cache/ferlib/vit-question [--budget-minutes 15]
        [--seeds 0 1] [--only NAME] [--data PATH]

Trains each contender of :data:`ferlib.recipes.vit_question.CONTENDERS` for the same training
time on the standard protocol (Training / PublicTest / PrivateTest), each in its own folder
under ``--root``. The same command resumes: a finished training is skipped, an unfinished one
goes on from its last epoch with the epochs its budget gave it. Each training prints one line
when it ends, and the fast-recipe ones one line per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the folder that holds one folder per training")
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="training minutes per contender and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--only", action="append", help="train only this contender (repeatable)")
    parser.add_argument("--data", default="auto", help="FER2013 source, as for `ferlib run --data`")
    args = parser.parse_args()

    from ferlib.data import load_data
    from ferlib.recipes.vit_question import CONTENDERS, contender, train_contender
    from ferlib.splits import standard_protocol_arrays

    arrays = standard_protocol_arrays(load_data(args.data))
    chosen = [contender(name) for name in args.only] if args.only else CONTENDERS
    for seed in args.seeds:  # every contender's first seed before any second one
        for c in chosen:
            print(f"== {c.name}, seed {seed}: {c.label}", flush=True)
            record = train_contender(c, arrays, root=args.root, seed=seed, budget_seconds=args.budget_minutes * 60,
                                     progress=lambda row, name=c.name: print(name, json.dumps(row), flush=True))
            if not record.get("trained", True):
                print(f"== {c.name}, seed {seed} over the budget, not trained: one epoch would take "
                      f"{record['minutes_per_epoch']:.1f} minutes", flush=True)
                continue
            print(f"== {c.name}, seed {seed} done: " + json.dumps(
                {k: record[k] for k in ("private_test", "public_test", "epochs", "train_seconds", "params")}),
                flush=True)


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.exit(main())
