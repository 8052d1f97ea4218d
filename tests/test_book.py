"""The Jupyter Book: its configuration, and a build of the committed book with its published run.

The build test copies ``book/`` (following the links to ``_config.yml`` and ``_toc.yml``)
and runs ``jupyter-book build -W -n --keep-going --all`` on the copy, once per session. It
needs a published run in ``book/results`` (``ferlib publish RUN_DIR``) and is skipped,
saying so, while there is none.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ferlib.notebooks import NOTEBOOKS

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
RESULTS = BOOK / "results"  # the published run the committed book is built from
CHAPTERS = ("intro", "data", "architecture", "training", "experiments", "comparison", "conclusion", "future_work",
            "closing_the_gap", "vit_question", "reproduce", "references")
# The report's Table 1 numbers that the comparison page prints beside ours.
REPORT_NUMBERS = ("98.32%", "62.89%", "64.72%", "39.62%", "41.87%")  # as the comparison page prints them
GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")


# --------------------------------------------------------------------------- configuration


def test_config_never_executes_and_names_the_repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off", "the book must show the papermill run, not rerun it"
    url = config["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/?", url), url
    assert config["repository"].get("path_to_book") == "book"
    # no launch button into the executed copies: their injected-parameters cell would undo a reader's edits
    assert not any(config.get("launch_buttons", {}).get(key) for key in ("colab_url", "binderhub_url", "jupyterhub_url"))
    assert config.get("only_build_toc_files") is True


def test_book_config_and_toc_are_the_top_level_files():
    for name in ("_config.yml", "_toc.yml"):
        link = BOOK / name
        assert link.is_symlink(), f"book/{name} should link to the top-level {name}"
        assert link.resolve() == (REPO / name).resolve()
        assert link.read_text() == (REPO / name).read_text()


def test_toc_lists_every_chapter_and_results_page_once(toc_files):
    files = toc_files
    assert len(files) == len(set(files)), files
    assert set(files) == set(CHAPTERS) | {f"results/{n}" for n in NOTEBOOKS} | {"results/reproduction"}
    assert files[0] == "intro"
    for name in CHAPTERS:
        assert (BOOK / f"{name}.md").is_file(), f"book/{name}.md is missing"


# --------------------------------------------------------------------------- the built book


def _jupyter_book() -> str:
    executable = Path(sys.executable).with_name("jupyter-book")
    if executable.exists():
        return str(executable)
    found = shutil.which("jupyter-book")
    if not found:
        pytest.fail("jupyter-book is not installed (pip install -e '.[dev]')")
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The committed book, built once from a copy (links followed) into a temporary folder."""
    if not (RESULTS / "01_data.ipynb").is_file():
        pytest.skip("book/results/01_data.ipynb is absent: no run has been published into the book yet "
                    "(ferlib publish RUN_DIR), so there is nothing to build the results pages from")
    root = tmp_path_factory.mktemp("book-build")
    book = root / "book"
    shutil.copytree(BOOK, book, symlinks=False, ignore=shutil.ignore_patterns("_build", ".results-*", "results"))
    shutil.copytree(RESULTS, book / "results", symlinks=False, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    proc = subprocess.run([_jupyter_book(), "build", str(book), "-W", "-n", "--keep-going", "--all"],
                          capture_output=True, text=True, timeout=900, cwd=root)
    output = proc.stdout + proc.stderr
    run = json.loads((book / "results" / "run.json").read_text())
    comparison_path = book / "results" / "comparison.json"
    comparison = json.loads(comparison_path.read_text()) if comparison_path.exists() else None
    return SimpleNamespace(book=book, html=book / "_build" / "html", proc=proc, output=output, run=run,
                           comparison=comparison)


def _page(built, name: str) -> str:
    path = built.html / f"{name}.html"
    assert path.is_file(), f"the built book has no page {name}.html"
    return path.read_text()


def _text(page: str) -> str:
    """The visible text of a page (tags dropped, entities decoded, spaces collapsed, and
    Sphinx's typographic quotes read as the plain ones the code writes)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    return text.translate(str.maketrans("‘’“”", "''\"\""))


def test_the_book_builds_without_warnings(built):
    tail = built.output[-6000:]
    assert built.proc.returncode == 0, f"jupyter-book build failed:\n{tail}"
    assert "WARNING" not in built.output, f"the build warned:\n{tail}"
    assert (built.html / "index.html").is_file()


def test_every_toc_entry_has_a_titled_page(built, toc_files):
    for name in toc_files:
        page = _page(built, name)
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        assert title and html.unescape(title.group(1)).split("\u2014")[0].strip(), f"{name}.html has no <title>"
        headings = [_text(h).replace("#", "").strip() for h in re.findall(r"<h1\b.*?</h1>", page, re.S)]
        assert any(headings), f"{name}.html has no non-empty <h1>"


def test_results_pages_carry_the_run_banner(built):
    for name in NOTEBOOKS:
        text = _text(_page(built, f"results/{name}"))
        assert "Run:" in text, f"results/{name}.html does not say which run made it"
        if built.run.get("profile") == "smoke":
            assert "smoke" in text, f"results/{name}.html hides that it shows a smoke run"
        if built.run.get("synthetic"):
            assert "Synthetic data" in text, f"results/{name}.html hides that the run used synthetic data"


def test_the_published_run_is_described(built):
    run = built.run
    assert run["profile"] in ("smoke", "cpu", "full")
    assert isinstance(run["synthetic"], bool) and run["data"]
    # a page published from a run at another profile (a standalone page) has its time apart
    timed = set(run.get("notebook_seconds", {})) | set(run.get("other_profiles", {}))
    assert timed == set(NOTEBOOKS), "run.json should list every notebook's time"
    assert not set(run.get("notebook_seconds", {})) & set(run.get("other_profiles", {}))


def _table1(built):
    if built.comparison is None:
        pytest.fail("book/results/comparison.json is missing: publish copies it from run_dir/metrics")
    table = built.comparison["table1"]
    return {column: dict(zip(table["index"], (row[i] for row in table["data"]))) for i, column in enumerate(table["columns"])}


def test_table1_holds_this_runs_numbers_and_the_reports(built):
    table = _table1(built)
    assert {"CNN ours", "VIT ours", "CNN report", "VIT report"} <= set(table)
    text = _text(_page(built, "results/05_comparison"))
    for column in ("CNN ours", "VIT ours"):
        values = {statistic: v for statistic, v in table[column].items() if v is not None}
        assert len(values) == len(table[column]), f"Table 1 column {column!r} has empty cells: {table[column]}"
        for statistic, value in values.items():
            # the page prints our accuracies in percent to one decimal, the loss to four
            shown = f"{value:.4f}" if "loss" in statistic else f"{value:.1%}"
            assert shown in text, f"Table 1 {column} {statistic} = {shown} is not on the comparison page"
    for number in REPORT_NUMBERS:
        assert number in text, f"the report's {number} is missing from the comparison page"


def test_the_conclusion_quotes_the_phase2_test_accuracies(built):
    if built.comparison is None:
        pytest.fail("book/results/comparison.json is missing")
    text = _text(_page(built, "conclusion"))
    for model in ("cnn", "vit"):
        accuracy = built.comparison["results"][model]["phase2"]["test"]["accuracy"]
        assert f"{accuracy:.1%}" in text, f"the conclusion does not show the {model} phase-2 test accuracy {accuracy:.1%}"


def _glued_values(notebook: Path) -> dict[str, str]:
    """``name -> text/plain`` of everything a published notebook glued."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                plain = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
                if plain is not None:
                    values[scrap["name"]] = "".join(plain)
    return values


def test_every_glued_number_on_a_page_is_the_published_runs(built):
    """Each {glue:text} role, in the chapters and on the results pages, shows the published value."""
    from myst_nb.core.variables import format_plain_text

    glued = {name: _glued_values(built.book / "results" / f"{name}.ipynb") for name in NOTEBOOKS}
    pages = {name: (BOOK / f"{name}.md").read_text() for name in CHAPTERS}
    for name in NOTEBOOKS:
        cells = json.loads((built.book / "results" / f"{name}.ipynb").read_text())["cells"]
        pages[f"results/{name}"] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    checked = 0
    for page, source in pages.items():
        text = _text(_page(built, page))
        for target in GLUE_ROLE.findall(source):
            notebook, _, rest = target.rpartition("::")
            key, _, fmt = rest.partition(":")
            owner = Path(notebook).stem if notebook else page.removeprefix("results/")
            assert key in glued[owner], f"{page}: {owner} glued no {key!r}"
            expected = format_plain_text(glued[owner][key], fmt)
            assert expected in text, f"{page}: {target} should read {expected!r}"
            checked += 1
    assert checked > 10


def test_no_machine_paths_in_the_published_run_or_the_built_pages(built, toc_files):
    for path in sorted(p for p in (built.book / "results").rglob("*") if p.is_file()):
        text = path.read_text()
        for marker in ("/work/", "/root/", "/home/", "/tmp/", "../shared"):
            assert marker not in text, f"{path.relative_to(built.book)} contains {marker!r}"
    for name in toc_files:
        page = _page(built, name)
        for marker in ("/work/", "/root/", "/tmp/", str(built.book)):
            assert marker not in page, f"{name}.html contains {marker!r}"


def test_published_notebooks_have_no_cell_that_overrides_their_parameters():
    for path in sorted(RESULTS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        tags = [c.get("metadata", {}).get("tags", []) for c in cells]
        assert not any("injected-parameters" in t for t in tags), f"{path.name}: a cell overrides the parameters cell"
        assert sum("parameters" in t for t in tags) == 1, path.name


def test_every_image_a_page_references_exists(built):
    for page in sorted(built.html.rglob("*.html")):
        for source in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text()):
            if source.startswith(("http://", "https://", "data:")):
                continue
            target = (page.parent / source.split("#")[0].split("?")[0]).resolve()
            assert target.is_file(), f"{page.relative_to(built.html)} shows a missing image {source}"


def test_the_reproduction_page_is_written_from_the_published_run():
    """Publishing writes results/reproduction.md from the run's own files; nothing typed."""
    from ferlib.tooling.publish import reproduction_page

    results = BOOK / "results"
    summary = json.loads((results / "run.json").read_text())
    comparison = json.loads((results / "comparison.json").read_text())
    page = (results / "reproduction.md").read_text()
    assert page == reproduction_page(summary, comparison["results"], comparison.get("baselines"))
    assert "| *baseline: majority class, test accuracy* |" in page
    cnn_test = comparison["results"]["cnn"]["phase2"]["test"]["accuracy"]
    assert f"| phase2 test accuracy | 64.72% | {cnn_test:.2%} |" in page
    for name, seconds in summary["notebook_seconds"].items():
        assert f"| {name} |" in page


def test_no_published_output_is_wider_than_the_page():
    """Every text output fits the book's 80-character code box and every table its column."""
    from page_width import too_wide

    problems = {}
    for name in NOTEBOOKS:
        cells = json.loads((RESULTS / f"{name}.ipynb").read_text())["cells"]
        if found := too_wide(cells):
            problems[name] = found
    assert not problems, problems


def test_the_published_verdicts_are_those_the_published_numbers_give():
    """The conclusion quotes page 5's sentences; they must follow from the run's own numbers."""
    import ast

    glued = {key: ast.literal_eval(text) for key, text in _glued_values(RESULTS / "05_comparison.ipynb").items()
             if key.startswith(("verdict_", "difference_"))}
    assert glued == _verdicts_from_numbers(RESULTS)


def _verdicts_from_numbers(results: Path) -> dict[str, str]:
    """The sentences page 5 glues, as the current code writes them from a published run's numbers."""
    from ferlib.tooling.publish import published_sentences

    return published_sentences(results)


def test_rewriting_the_sentences_changes_only_the_sentences(tmp_path):
    """`ferlib rewrite-sentences` replaces page 5's glued sentences by what the current code
    writes from the published numbers; every other output of the page stays as executed."""
    from ferlib.tooling.publish import rewrite_sentences

    shutil.copytree(RESULTS, tmp_path / "results")
    page = tmp_path / "results" / "05_comparison.ipynb"
    before = _glued_values(page)
    stale = {name: "'an old sentence'" for name in before if name.startswith(("verdict_", "difference_"))}
    notebook = json.loads(page.read_text())
    for cell in notebook["cells"]:  # as if an older release of the code had worded them
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") in stale:
                output["data"][scrap["mime_prefix"] + "text/plain"] = stale[scrap["name"]]
    page.write_text(json.dumps(notebook))
    names = rewrite_sentences(tmp_path, commit="abc123")
    assert sorted(names) == sorted(stale) and len(names) >= 8
    after = _glued_values(page)
    expected = _verdicts_from_numbers(tmp_path / "results")
    run = json.loads((tmp_path / "results" / "run.json").read_text())
    import ast

    assert {name: ast.literal_eval(after[name]) for name in names} == {name: expected[name] for name in names}
    assert {k: v for k, v in after.items() if k not in stale} == {k: v for k, v in before.items() if k not in stale}
    assert run["sentences_rewritten"]["commit"] == "abc123"
    assert "(commit `abc123`)" in (tmp_path / "results" / "reproduction.md").read_text()


def test_every_paper_the_book_names_is_in_the_references():
    """A name cited as "X et al." on a chapter or a page is listed, with a link, in references.md."""
    import re

    references = (BOOK / "references.md").read_text()
    texts = [p.read_text() for p in BOOK.glob("*.md") if p.name != "references.md"]
    texts += [p.read_text() for p in (BOOK.parent / "notebooks").glob("*.ipynb")]
    cited = {name for text in texts for name in re.findall(r"\b([A-Z][a-z]+) et al\.", text)}
    cited |= {"Goodfellow", "Dosovitskiy", "Jordan", "Page", "McNemar", "Wilson", "Welch"}
    missing = sorted(name for name in cited if name not in references)
    assert not missing, f"references.md lacks {missing}"
    entries = [line for line in references.splitlines() if line.startswith("- ")]
    linked = references.count("](http")
    assert linked >= len(entries) - 1, "every reference but the report has a link"


@pytest.mark.slow
def test_the_maths_is_typeset_without_a_network(built):
    """MathJax ships with the book: every page loads it from _static, none from a CDN."""
    pages = list(built.html.rglob("*.html"))
    scripts = [src for page in pages for src in re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page.read_text())]
    assert scripts, "no page loads MathJax"
    assert all(not src.startswith("http") and src.endswith("_static/mathjax/tex-chtml.js") for src in scripts), set(scripts)
    assert (built.html / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.slow
def test_no_empty_index_page(built):
    assert not (built.html / "genindex.html").exists()
    assert "genindex" not in _page(built, "intro")


def test_every_figure_a_chapter_includes_is_drawn_by_the_figures_script():
    import re

    script = (BOOK / "figures" / "make_figures.py").read_text()
    included = {name for p in BOOK.glob("*.md") for name in re.findall(r"```\{figure\} figures/([\w.]+)", p.read_text())}
    assert {"patches.png", "transformer_block.png", "two_phases.png", "plateau.png", "cnn.png"} <= included
    for name in included:
        assert (BOOK / "figures" / name).is_file(), f"book/figures/{name} is missing: run book/figures/make_figures.py"
        assert f'"{name}"' in script, f"{name} is not drawn by make_figures.py"


def test_the_plateau_diagram_uses_keras_own_rule():
    import numpy as np

    from ferlib.plots.diagrams import plateau_rates

    loss = [1.0, 0.9, 0.8] + [0.85] * 12  # a best at epoch 3, then twelve epochs without a better one
    rates = plateau_rates(loss, factor=0.5, patience=5, learning_rate=1.0)
    assert rates[0] == 1.0 and rates[-1] == 0.25  # lowered after 5 and again after 10 epochs without a new best
    assert np.all(np.diff(rates) <= 0)
