"""How the book shows results: labels, sentences about sizes, and tables styled for a page.

The science modules return numbers and frames; this module alone decides how a page
writes them (percent or fractions, short names, the baseline rows' labels).
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from .evaluate import majority_class
from .fer2013 import EMOTIONS
from .models import count_params, display_name

#: The chance row's label in every table with baselines.
GUESS = "guessing"


class EpochLine(keras.callbacks.Callback):
    """One short line per epoch (``verbose=2``): Keras' own line lists every log and runs
    to 140 characters, wider than a book page."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        if "accuracy" in logs:
            parts.append(f"accuracy {logs['accuracy']:.3f}" + (
                f" (val {logs['val_accuracy']:.3f})" if "val_accuracy" in logs else ""))
        if "loss" in logs:
            parts.append(f"loss {logs['loss']:.3f}" + (f" (val {logs['val_loss']:.3f})" if "val_loss" in logs else ""))
        if "epoch_seconds" in logs:
            parts.append(f"{logs['epoch_seconds']:.0f} s")
        print(", ".join(parts), flush=True)


def epoch_lines(verbose: int, epochs: int) -> tuple[int, list]:
    """Keras's verbosity and the callbacks for a training shown on a page: ``verbose=2``
    becomes one :class:`EpochLine` per epoch (Keras's own line runs past the page)."""
    return (0, [EpochLine(epochs)]) if verbose == 2 else (verbose, [])


def majority_label(train_labels) -> str:
    """The majority-class row's label, from the training labels themselves: "always Happy"
    on FER2013, whatever emotion is most common elsewhere."""
    return f"always {EMOTIONS[majority_class(train_labels)]}"


def describe_params(model) -> str:
    """The parameter count in a sentence, saying which parameters training does not touch."""
    counts = count_params(model)
    if counts["non_trainable"]:
        return (f"**{counts['total']:,} parameters**, {counts['non_trainable']:,} of them statistics that batch "
                "normalisation keeps and gradient descent does not train.")
    return f"**{counts['total']:,} parameters**, all trained by gradient descent."


# "(log)": the last epoch's training log, dropout on for the training accuracy (how the report
# quotes its own); the others are measured after training.
_SHORT_COLUMNS = {"train_accuracy": "train", "val_accuracy": "val", "best_val_accuracy": "best val",
                  "log_train_accuracy": "train (log)", "log_val_accuracy": "val (log)",
                  "test_accuracy": "test", "seconds": "seconds", "params": "parameters", "config": "configuration"}


def style_table(frame: pd.DataFrame, intervals: dict[str, int] | None = None):
    """A results table as a book page shows it: short column names, accuracies in %,
    parameter counts with thousands separators, seconds rounded, no index.

    `intervals` maps accuracy columns to the number of images each was measured on; each such
    column gets a column beside it with its 95% Wilson interval (rows without an accuracy,
    and the baselines' rows, which are no measurement, stay empty)."""
    if intervals:
        frame = frame.copy()
        labels = [str(label) for label in frame.iloc[:, 0]]  # a row's name: its first column
        for column, n in intervals.items():
            cells = ["" if label == GUESS or label.startswith("always ") else _interval_cell(value, n)
                     for label, value in zip(labels, frame[column])]
            frame.insert(frame.columns.get_loc(column) + 1, f"{_SHORT_COLUMNS.get(column, column)} 95%", cells)
    table = frame.rename(columns=_SHORT_COLUMNS)
    percent = [_SHORT_COLUMNS[c] for c in frame.columns if c.endswith("accuracy")]
    formats = {**{c: "{:.1%}" for c in percent}, "parameters": "{:,}", "seconds": "{:,.0f}"}
    return table.style.format({c: f for c, f in formats.items() if c in table.columns}, na_rep="").hide(axis="index")


def interval_text(low: float, high: float) -> str:
    """An interval as a narrow table cell writes it: "35.2–38.4%"."""
    return f"{100 * low:.1f}–{high:.1%}"


def _interval_cell(accuracy, n: int) -> str:
    """An accuracy's 95% Wilson interval on `n` images (:func:`interval_text`); empty for none."""
    from .evaluate import interval

    return "" if pd.isna(accuracy) else interval_text(*interval(float(accuracy), n))


_SITES = {"arxiv.org": "arXiv", "github.com": "GitHub", "ieeexplore.ieee.org": "IEEE"}


def style_literature_table(records: pd.DataFrame):
    """:func:`~ferlib.recipes.beyond.literature_table` as a page shows it: accuracies in %,
    each source a short link, this run's rows in bold."""

    def link(url: str) -> str:
        site = url.split("/")[2] if url.startswith("http") else ""
        return f'<a href="{url}">{_SITES.get(site, site)}</a>' if site else url

    return (records.style.format({"accuracy": "{:.1%}", "source": link})
            .apply(lambda row: ["font-weight: bold" if row["this run"] else ""] * len(row), axis=1)
            .hide(axis="index").hide(["this run"], axis="columns"))


def style_table1(table: pd.DataFrame):
    """Table 1 (:func:`~ferlib.recipes.report.table1`, with baseline rows or without) as a
    page shows it: short row names ("phase 1 train (log)", "phase 1 train (measured)"), the
    two models as column groups of *report*, *ours* and *Δ* (ours minus the report's), narrow
    enough for the book's column. Accuracies in percent as the book writes them (the report's
    to two decimals, as it printed them; ours to one) and Δ in percentage points, as on the
    reproduction page; the loss row in its own units."""
    rows = {name: name.replace("phase1", "phase 1").replace("phase2", "phase 2").replace(" accuracy", "")
            .replace(", test", " (test)")
            .replace(", last epoch's log", " (log)").replace(", measured after training", " (measured)")
            for name in table.index}
    frame = table.rename(index=rows)
    frame.columns = pd.MultiIndex.from_tuples(  # table1's "VIT ours" is the registry's "ViT"
        [(display_name(model.lower()), {"difference": "Δ"}.get(what, what))
         for model, what in (column.split(" ", 1) for column in frame.columns)])
    losses = [name for name in frame.index if "loss" in name]
    accuracies = [name for name in frame.index if name not in losses]
    columns = {what: [c for c in frame.columns if c[1] == what] for what in ("report", "ours", "Δ")}
    styler = frame.style.format("{:.4f}", na_rep="–")
    styler = styler.format("{:.2%}", na_rep="–", subset=pd.IndexSlice[accuracies, columns["report"]])
    styler = styler.format("{:.1%}", na_rep="–", subset=pd.IndexSlice[accuracies, columns["ours"]])
    styler = styler.format(lambda d: f"{100 * d:+.1f}", na_rep="–", subset=pd.IndexSlice[accuracies, columns["Δ"]])
    return styler.format("{:+.4f}", na_rep="–", subset=pd.IndexSlice[losses, columns["Δ"]])


# --------------------------------------------------------------------------- Table 1 in Markdown


def _table1_cells(table: pd.DataFrame, model: str, statistic: str, flag: float) -> list[str]:
    """The report's value, ours and the difference (⚠ above `flag`) of one statistic."""
    theirs, ours, diff = (table.loc[statistic, f"{model.upper()} {what}"] for what in ("report", "ours", "difference"))
    if statistic == "final test loss":
        text, difference = "{:.4f}".format, "{:+.4f}".format
    else:
        text = "{:.2%}".format

        def difference(d):
            return f"{100 * d:+.1f}" + (" ⚠" if abs(d) > flag else "")
    return ["–" if pd.isna(theirs) else text(theirs), "–" if pd.isna(ours) else text(ours),
            "–" if pd.isna(diff) else difference(diff)]


def table1_markdown(table: pd.DataFrame, models, baselines: dict[str, float], flag: float) -> list[str]:
    """Table 1 (:func:`~ferlib.recipes.report.table1`) as Markdown lines for the reproduction
    page: each of `models` as report / ours / difference, a difference above `flag` marked
    ⚠, then the `baselines` rows."""
    header = " | ".join(f"{display_name(m)} report | {display_name(m)} ours | difference" for m in models)
    lines = [f"| Statistic | {header} |", "|---|" + "---:|" * (3 * len(models))]
    for statistic in table.index:
        # a row the report does not give (our accuracies measured after training) in italics
        name = statistic if table.loc[statistic, [f"{m.upper()} report" for m in models]].notna().any() \
            else f"*{statistic}*"
        cells = [name] + [cell for m in models for cell in _table1_cells(table, m, statistic, flag)]
        lines.append("| " + " | ".join(cells) + " |")
    for name, value in baselines.items():  # a model below these has learned nothing
        lines.append(f"| *baseline: {name}, test accuracy* |" + f" – | {value:.2%} | – |" * len(models))
    flagged = [table.loc[s, f"{m.upper()} difference"] for m in models for s in table.index if s != "final test loss"]
    if any(abs(d) > flag for d in flagged if not pd.isna(d)):
        lines += ["", "Where a difference is flagged, the conclusion says why we think it arises "
                  "({ref}`reproduction-differences`)."]
    return lines


def training_logs_markdown(logs: dict[str, dict], report_logs: dict[str, dict]) -> list[str]:
    """The trainings beside the report's (`report_logs`, by training), like with like: epochs,
    and the last epoch's log."""
    if not logs:
        return []
    lines = ["", "## The trainings, log against log", "",
             "Each training beside the report's: the epochs it ran (ours stop early, and keep the weights of "
             "the best epoch, in brackets, which the test rows score) and its log's last epoch, the figures "
             "Table 1's logged rows compare:", "",
             "| Training | epochs: report | epochs: ours (best) | training accuracy: report | ours "
             "| validation accuracy: report | ours |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, theirs in report_logs.items():
        ours = logs.get(name)
        if ours is None:
            continue
        best = f" ({ours['best_epoch']})" if ours.get("best_epoch") else ""
        model, stage = name.split()
        label = display_name(model) + (", phase 1" if stage == "phase1" else ", phase 2 augmentation round")
        lines.append(f"| {label} "
                     f"| {theirs['epochs']} | {ours['epochs']}{best} | {theirs['accuracy']:.2%} | {ours['accuracy']:.2%} "
                     f"| {theirs['val_accuracy']:.2%} | {ours['val_accuracy']:.2%} |")
    return lines + [""]


_ABBREVIATED = {"PrivateTest": "Private", "PublicTest": "Public", "PublicTest + PrivateTest": "Public+Private",
                "the same set (early stopping)": "same set", "PrivateTest (schedule and checkpoint)": "Private",
                "not stated in the paper": "not stated", "a sample of the images": "a sample", "": "–"}


def style_published(frame: pd.DataFrame):
    """:func:`~ferlib.literature.literature_frame` as a page shows it, narrow enough for the
    book's column: short names, the test sets abbreviated, pretraining as yes or no, the
    paper and the code as short links in one column (the chapter text and
    ``closing_the_gap.json`` keep the full wording)."""

    def link(url: str) -> str:
        site = url.split("/")[2] if isinstance(url, str) and url.startswith("http") else ""
        return f'<a href="{url}">{_SITES.get(site, site)}</a>' if site else ""

    table = pd.DataFrame({
        "network": [short or model.split(" (")[0] for short, model in zip(frame["short"], frame["model"])],
        "accuracy": frame["accuracy"],
        "scored on": [_ABBREVIATED.get(v, v) for v in frame["scored_on"]],
        "chosen on": [_ABBREVIATED.get(v, v) for v in frame["chosen_on"]],
        "ImageNet": ["yes" if v.startswith("ImageNet") else ("no" if v == "none" else "–") for v in frame["pretraining"]],
        "source": ["·".join(filter(None, (link(p), link(c)))) for p, c in zip(frame["paper"], frame["code"])],
    })
    return table.style.format({"accuracy": "{:.1%}"}).hide(axis="index")


def seeds_text(seeds) -> str:
    """Seeds as a narrow table cell writes them: "0, 1", and a run of three or more as "0–3"."""
    seeds = sorted(int(s) for s in seeds)
    runs, start = [], 0
    for i in range(1, len(seeds) + 1):
        if i == len(seeds) or seeds[i] != seeds[i - 1] + 1:
            run = seeds[start:i]
            runs.append(f"{run[0]}–{run[-1]}" if len(run) >= 3 else ", ".join(map(str, run)))
            start = i
    return ", ".join(runs)


def _over_seeds(frame: pd.DataFrame) -> dict[str, list[str]]:
    """The columns a table over seeds shares: the seeds, PrivateTest as mean ± standard
    deviation, and the mean's 95% interval (headed "interval": the tables must fit the page)."""
    return {
        "seeds": [seeds_text(seeds) for seeds in frame["seeds"]],
        "PrivateTest": [f"{m:.1%}" + ("" if pd.isna(sd) else f" ± {sd:.1%}")
                        for m, sd in zip(frame["private_test"], frame["private_test_sd"])],
        "interval": [interval_text(lo, hi) for lo, hi in zip(frame["private_test_low"], frame["private_test_high"])],
    }


def style_seeds(frame: pd.DataFrame):
    """:func:`~ferlib.recipes.closing_gap.seeds_table` as a page shows it: the mean ± the
    standard deviation over seeds, the 95% interval, with flip averaging, training minutes
    rather than seconds, and the precision trained in (PublicTest, which chose nothing here
    but the final model, is in the plan's table)."""
    if frame.empty:
        return frame.style
    table = pd.DataFrame({
        "recipe": frame["recipe"], **_over_seeds(frame),
        "flip": [f"{v:.1%}" for v in frame["private_test_tta"]],
        "min": [f"{v / 60:.0f}" for v in frame["train_seconds"]],
        "dtype": _dtypes(frame["precisions"]),
    })
    return table.style.hide(axis="index")


#: Keras's dtype policies as a narrow table column names them.
_PRECISION = {"mixed_bfloat16": "bf16", "float32": "fp32", "mixed_float16": "fp16"}


def _dtypes(precisions) -> list[str]:
    """Each row's dtype policies, short, for a table's ``dtype`` column."""
    return [", ".join(_PRECISION.get(p, p) for p in policies) for policies in precisions]


def signed(value: float) -> str:
    """A difference to one decimal with its sign, and a true minus sign: "+1.2", "−3.1"."""
    return f"{value:+.1f}".replace("-", "\N{MINUS SIGN}")


def style_ablation(frame: pd.DataFrame, level: float = 0.05):
    """:func:`~ferlib.recipes.closing_gap.ablation_table` as a page shows it: each ablation's
    PrivateTest accuracy as mean ± standard deviation over its seeds, its means' difference
    from the full recipe in percentage points (Δ) with Welch's t-test over the seeds (p
    seeds), the paired pair's own difference with its two seeds (the ablation's against the
    recipe's; pair Δ), and the exact McNemar test's p value (p pair), each p starred below `level`. Headers are short, and the page's text names
    the test: seven columns must fit the page's column (the accuracies' intervals are in the
    frame, not shown)."""
    if frame.empty:
        return frame.style
    pairs = frame["paired_seeds"] if "paired_seeds" in frame else [None] * len(frame)
    paired = frame["paired_difference"] if "paired_difference" in frame else [np.nan] * len(frame)
    over_seeds = _over_seeds(frame)
    over_seeds_p = frame["seeds_p_value"] if "seeds_p_value" in frame else [np.nan] * len(frame)

    def p_cell(p: float) -> str:
        return "–" if np.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:#.2g}") + (" *" if p < level else "")

    table = pd.DataFrame({
        "removed or changed": frame["ablation"], "seeds": over_seeds["seeds"], "PrivateTest": over_seeds["PrivateTest"],
        "Δ": [signed(100 * d) for d in frame["difference"]],
        "p seeds": [p_cell(p) for p in over_seeds_p],
        "pair Δ": ["–" if pair is None or np.isnan(d) else f"{signed(100 * d)} ({pair[0]} vs {pair[1]})"
                   for d, pair in zip(paired, pairs)],
        "p pair": [p_cell(p) for p in frame["p_value"]],
    })
    # Numbers kept on one line each ("69.1% ± 0.8%"); the row's label is the column that wraps.
    numbers = list(table.columns[1:])
    return table.style.hide(axis="index").set_properties(subset=numbers, **{"white-space": "nowrap"})


def training_progress(name: str):
    """A progress callback for :func:`~ferlib.recipes.fast.train_fast` that prints one short
    line per epoch (a page that trains for an hour should show that it is alive)."""

    def show(row: dict) -> None:
        print(f"{name}: epoch {row['epoch']}, PublicTest {row['public']:.1%}, "
              f"{row['train_seconds'] / 60:.1f} training minutes so far", flush=True)

    return show


def duration(seconds: float) -> str:
    """A wall or CPU time as the book writes it: "22 s", "17 min", "3 h 07 min"."""
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def style_contenders(frame: pd.DataFrame):
    """Page 9's contenders (columns ``name``, ``question``, ``weights``, ``multiply-adds``) as
    a narrow table: the short name, the question, and the sizes with thousands separators."""
    table = frame[["name", "question", "weights", "multiply-adds"]].rename(columns={"name": "contender"})
    return table.style.format({"weights": "{:,}", "multiply-adds": "{:,}"}).hide(axis="index")


def style_question(frame: pd.DataFrame):
    """:func:`~ferlib.recipes.vit_question.summary_table` as page 9 shows it: each contender's
    PublicTest and PrivateTest accuracy (means over its seeds), the 95% interval, the spread
    between seeds, PrivateTest with flip averaging, its epochs, training minutes and precision."""
    if frame.empty:
        return frame.style
    table = pd.DataFrame({
        "contender": list(frame["name"]),
        "Public": [f"{v:.1%}" for v in frame["PublicTest"]],
        "Private": [f"{v:.1%}" for v in frame["PrivateTest"]],
        "95% interval": [interval_text(low, high) for low, high in zip(frame["interval low"], frame["interval high"])],
        "spread": ["–" if v != v else f"{v:.1%}" for v in frame["seed spread"]],
        "flip": [f"{v:.1%}" for v in frame["flip TTA"]],
        "epochs": frame["epochs"], "min": [f"{v:.1f}" for v in frame["minutes"]],
        **({"dtype": _dtypes(frame["precisions"])} if "precisions" in frame else {}),
    })
    return table.style.hide(axis="index")


#: The transformer search's hyperparameters as a narrow table names them.
_SEARCH_COLUMNS = {"patch_size": "patch", "transformer_layers": "layers", "num_heads": "heads",
                   "projection_dim": "width", "public_test": "PublicTest", "continues": "continues"}


def style_trials(frame: pd.DataFrame, rows: int | None = None):
    """The finished trials of the transformer search (:func:`~ferlib.recipes.tuning.trials_frame`),
    the longest-trained first and the best first within each length, so that the rows a reader
    compares (trials trained as long as each other) sit together; `rows` keeps only the first."""
    if "epochs" in frame:
        frame = frame.sort_values(["epochs", "public_test"], ascending=False, kind="stable")
    table = frame.head(rows).rename(columns=_SEARCH_COLUMNS)
    return table.style.format({"PublicTest": "{:.1%}"}).hide(axis="index")
