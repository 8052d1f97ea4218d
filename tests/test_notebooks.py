"""The notebooks, read statically: committed clean, parameterised, thin, Colab-ready.

Nothing here executes a notebook (the pipeline tests do that with tiny stand-ins, CI runs
the real ones); these tests read the committed ``.ipynb`` files and the book's Markdown.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from ferlib.notebooks import NOTEBOOKS
from ferlib.parameters import PageParameters, names as parameter_names

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
BOOK = REPO / "book"
EXPECTED = NOTEBOOKS  # the page list has one owner: ferlib.notebooks (the notebooks folder)
PENDING = ()
PARAMETERS = set(parameter_names())  # one owner: ferlib.parameters.PageParameters
ALLOWED_IMPORTS = {"ferlib", "pandas", "numpy", "IPython", "matplotlib", "seaborn", "importlib", "subprocess", "sys",
                   "keras", "sklearn", "keras_tuner", "dataclasses"}  # sklearn, keras_tuner: dependencies of ferlib that pages teach
# What a thin notebook leaves to ferlib: training loops, layer definitions, model fitting.
NOT_THIN = re.compile(r"\.fit\(|keras\.layers|\blayers\.\w+\(|Conv2D|Dense\(|for\s+epoch\b")
# {glue}`key`, {glue:text}`key:fmt`, {glue:figure}`key`, {glue:md}`key` and the cross-notebook
# form {glue:text}`results/05_comparison.ipynb::key:fmt`.
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")


def _load(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _python_source(cell) -> str:
    """A code cell's source without IPython magics and shell escapes (``%...``, ``!...``)."""
    return "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _role_key(target: str) -> tuple[str | None, str]:
    """``results/05_comparison.ipynb::cnn_p2_test_acc:.1%`` -> (``results/05_comparison.ipynb``, ``cnn_p2_test_acc``)."""
    notebook, _, rest = target.rpartition("::")
    return (notebook or None), rest.split(":")[0].strip()


def _comparison_keys() -> set[str]:
    """The names ``Comparison.glue_values`` gives, from a comparison of made-up numbers."""
    import pandas as pd

    from ferlib.fer2013 import EMOTIONS
    from ferlib.recipes.comparison import Comparison

    scores = {part: {"accuracy": 0.5, "loss": 1.0} for part in ("train", "val", "test")}
    per_class = pd.DataFrame({"correct": range(len(EMOTIONS))}, index=list(EMOTIONS))
    log = {"epochs": 3, "best_epoch": 2, "accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.4, "val_loss": 1.2}
    logs = {f"{m} {stage}": log for m in ("cnn", "vit") for stage in ("phase1", "augmentation")}
    sizes = {m: {"params": 100, "multiply_adds": 1000} for m in ("cnn", "vit")}
    comparison = Comparison(pd.DataFrame(), {m: {"phase1": scores, "phase2": scores} for m in ("cnn", "vit")},
                            {}, {"CNN": per_class, "ViT": per_class}, logs, sizes)
    return set(comparison.glue_values())


def _phase1_keys() -> set[str]:
    """The names ``Phase1Result.glue_values`` gives for each registered model (pages 2 and 3)."""
    from ferlib.models import model_names
    from ferlib.recipes.phase1 import Phase1Result

    scores = {part: {"accuracy": 0.5, "loss": 1.0} for part in ("train", "val", "test")}
    return {key for name in model_names() for key in Phase1Result(None, scores, name).glue_values()}


def _phase2_keys() -> set[str]:
    """The names ``Phase2Result.glue_values`` gives for each registered model (page 4)."""
    import numpy as np

    from ferlib.models import model_names
    from ferlib.recipes.phase2 import STEPS, Phase2Result

    scores = {step: {part: {"accuracy": 0.5, "loss": 1.0} for part in ("train", "val", "test")} for step in STEPS}
    keys = set()
    for name in model_names():
        keys |= set(Phase2Result(None, np.arange(3), scores, {}, name=name, display=name, n_train=10).glue_values())
    return keys


def _verdict_keys() -> set[str]:
    """The names ``comparison_verdicts`` and ``difference_verdicts`` give (the sentences the
    conclusion quotes; page 5 glues them as one dict, ``verdicts``)."""
    from ferlib.recipes.verdicts import comparison_verdicts, difference_verdicts

    scores = {part: {"accuracy": 0.5, "loss": 1.0} for part in ("train", "val", "test")}
    results = {m: {"phase1": scores, "phase2": scores} for m in ("cnn", "vit")}
    return set(comparison_verdicts(results, 0.25, "smoke")) | set(difference_verdicts(results, {}))


def _glued_keys(nb) -> tuple[set[str], list[re.Pattern]]:
    """The keys a notebook glues: literal names, and f-string names as regular expressions."""
    literal, patterns = set(), []
    for cell in _code_cells(nb):
        for node in ast.walk(ast.parse(_python_source(cell))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "glue_values" and node.args and "comparison.glue_values()" in ast.unparse(node.args[0]):
                literal |= _comparison_keys()
                continue
            if name == "glue_values" and node.args and ast.unparse(node.args[0]) == "phase1.glue_values()":
                literal |= _phase1_keys()
                continue
            if name == "glue_values" and node.args and ast.unparse(node.args[0]) == "fl.beyond.private_test_glue_values(tta)":
                from ferlib.models import model_names

                literal |= {f"{m}_private_{kind}" for m in model_names() for kind in ("plain", "tta")}
                continue
            if name == "glue_values" and node.args and ast.unparse(node.args[0]) == "fix.glue_values()":
                literal |= _phase2_keys()
                continue
            if name == "glue_values" and node.args and ast.unparse(node.args[0]).startswith(
                    "fl.closing_gap.gap_glue_values("):
                import pandas as pd

                from ferlib.recipes.closing_gap import PeerScores, gap_glue_values

                literal |= set(gap_glue_values(pd.DataFrame(), PeerScores(unavailable="offline")))
                continue
            if name == "glue_values" and node.args and ast.unparse(node.args[0]) == "verdict.glue_values()":
                from ferlib.recipes.verdicts import QuestionVerdict

                literal |= set(QuestionVerdict().glue_values())  # page 9: the whole and each part
                continue
            if name == "glue_values" and node.args and ast.unparse(node.args[0]) == "verdicts":
                literal |= _verdict_keys()
                continue
            if name == "setup_notebook":  # it glues the run's profile and data (ferlib.recipes.pages)
                from ferlib.recipes.report import report_glue_values

                literal |= {"run_profile", "run_data"} | set(report_glue_values())
                continue
            if name != "glue":
                continue
            if not node.args:
                continue
            key = node.args[0]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                literal.add(key.value)
            elif isinstance(key, ast.JoinedStr):
                pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant) else r"\w+" for part in key.values)
                patterns.append(re.compile(pattern))
            else:
                pytest.fail(f"a glue key that is neither a string nor an f-string: {ast.unparse(key)}")
    return literal, patterns


def _is_glued(key: str, glued: tuple[set[str], list[re.Pattern]]) -> bool:
    literal, patterns = glued
    return key in literal or any(p.fullmatch(key) for p in patterns)


def test_the_notebooks_exist_in_order_and_match_the_pipeline():
    # the report's seven pages at least, numbered 01, 02, ... without a gap
    assert NOTEBOOKS[:7] == ("01_data", "02_cnn", "03_vit_tuning", "04_phase2", "05_comparison", "06_features",
                             "07_beyond")
    assert [int(name[:2]) for name in NOTEBOOKS] == list(range(1, len(NOTEBOOKS) + 1))
    found = tuple(sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")))
    assert found == EXPECTED + PENDING, f"notebooks/ holds {found}: each page is named NN_name.ipynb"


@pytest.fixture(params=EXPECTED + PENDING)
def notebook(request):
    return request.param, _load(request.param)


def test_valid_nbformat_with_a_python3_kernelspec(notebook):
    name, nb = notebook
    nbformat.validate(nb)
    assert nb.nbformat == 4
    kernelspec = nb.metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{name}: kernelspec {kernelspec}"
    assert kernelspec.get("language", "python") == "python"


def test_exactly_one_parameters_cell_with_every_parameter(notebook):
    name, nb = notebook
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged 'parameters'"
    cell = tagged[0]
    assert cell.cell_type == "code"
    assigned = {}
    for node in ast.parse(cell.source).body:
        assert isinstance(node, ast.Assign), f"{name}: the parameters cell should only assign: {ast.unparse(node)}"
        assert isinstance(node.value, ast.Constant), f"{name}: parameters should be literals: {ast.unparse(node)}"
        assigned |= {t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)}
    assert PARAMETERS <= set(assigned), f"{name}: the parameters cell lacks {sorted(PARAMETERS - set(assigned))}"
    # the cell's defaults are the dataclass's: one owner, the notebooks follow it
    defaults = PageParameters().as_dict()
    assert {k: assigned[k] for k in PARAMETERS} == defaults, f"{name}: parameters cell defaults differ from PageParameters"
    # The parameters come before any cell that uses them (papermill injects right after this one).
    first_use = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "setup_notebook(" in c.source)
    assert nb.cells.index(cell) < first_use


def test_committed_without_outputs_or_execution_counts(notebook):
    name, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        assert cell.get("outputs", []) == [], f"{name}: code cell {i} has outputs"
        assert cell.get("execution_count") is None, f"{name}: code cell {i} has an execution count"
    assert "papermill" not in nb.metadata, f"{name}: committed from an executed run (papermill metadata)"


def test_title_and_colab_badge(notebook):
    name, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert re.match(r"# \S", first.source), f"{name}: the first cell should start with a '# ' title"
    badge = re.search(r"\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)", first.source)
    assert badge, f"{name}: no 'Open in Colab' link in the first cell"
    assert badge.group(1).endswith(f"/notebooks/{name}.ipynb"), badge.group(1)
    assert "colab-badge" in first.source or "Open In Colab" in first.source or "Open in Colab" in first.source


def test_colab_badges_point_at_the_books_repository():
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    repo_url = config["repository"]["url"].rstrip("/")
    slug = repo_url.removeprefix("https://github.com/")
    branch = config["repository"].get("branch", "main")
    for name in EXPECTED:
        first = _load(name).cells[0].source
        assert f"colab.research.google.com/github/{slug}/blob/{branch}/notebooks/{name}.ipynb" in first, name


def test_set_up_cell_installs_ferlib_when_missing(notebook):
    name, nb = notebook
    setup = [c for c in _code_cells(nb) if 'find_spec("ferlib")' in c.source]
    assert setup, f"{name}: no cell checks importlib.util.find_spec(\"ferlib\")"
    assert "pip" in setup[0].source and "install" in setup[0].source
    first_import = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "import ferlib" in c.source)
    assert nb.cells.index(setup[0]) < first_import, f"{name}: ferlib is imported before it is installed"


def test_imports_only_allowed_packages(notebook):
    name, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        tree = ast.parse(_python_source(cell))  # a syntax error fails here, naming the notebook in the traceback
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: relative import in cell {i}"
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_IMPORTS, f"{name}: cell {i} imports {module}"


# A page that teaches Keras shows the layers and the compile call itself; a later cell then
# checks them against the ferlib code that trains (check_same_network, check_same_compile).
TAUGHT_CHECK = re.compile(r"\bcheck_same_\w+\(")


def test_notebooks_are_thin(notebook):
    """Keras code on a page is either ferlib's business or taught, and then checked: every
    cell that defines layers or compiles is followed by a cell checking it equals ferlib's."""
    name, nb = notebook
    cells = _code_cells(nb)
    for i, cell in enumerate(cells):
        match = NOT_THIN.search(cell.source)
        if match and match.group(0) == ".fit(":
            pytest.fail(f"{name}: code cell {i} trains by itself ({match.group(0)!r}); ferlib's trainings resume")
        checked = any(TAUGHT_CHECK.search(later.source) for later in cells[i + 1:])
        assert not match or checked, (f"{name}: code cell {i} does ferlib's work itself ({match.group(0)!r}) "
                                      "and no later cell checks it against ferlib (check_same_...)")


def test_every_glue_reference_in_a_notebook_is_glued_there(notebook):
    name, nb = notebook
    glued = _glued_keys(nb)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for target in GLUE_ROLE.findall(cell.source):
            other, key = _role_key(target)
            assert other is None, f"{name}: a cross-notebook glue reference inside a notebook: {target}"
            assert _is_glued(key, glued), f"{name}: {{glue}} reference {key!r} is never glued in {name}"


def test_glue_key_patterns_are_expanded_correctly():
    """The f-string keys of 05_comparison are the ones the book's conclusion reads."""
    glued = _glued_keys(_load("05_comparison"))
    for key in ("cnn_p1_train_acc", "vit_p2_test_acc", "cnn_test_loss", "vit_disgust_correct", "cnn_angry_correct"):
        assert _is_glued(key, glued), key
    assert not _is_glued("cnn p2 test acc", glued)


def test_every_notebook_is_a_results_page_in_the_toc(toc_files):
    files = toc_files
    notebooks = [f for f in files if f.startswith("results/") and f != "results/reproduction"]
    assert notebooks == [f"results/{n}" for n in EXPECTED]


def test_cross_notebook_glue_references_in_the_book_resolve(toc_files):
    toc = set(toc_files)
    references = 0
    for page in sorted(BOOK.glob("*.md")):
        for target in GLUE_ROLE.findall(page.read_text()):
            notebook, key = _role_key(target)
            if notebook is None:
                continue
            references += 1
            path = Path(notebook)
            assert path.suffix == ".ipynb" and path.parent.as_posix() == "results", f"{page.name}: {target}"
            assert f"results/{path.stem}" in toc, f"{page.name}: {notebook} is not in _toc.yml"
            assert path.stem in EXPECTED, f"{page.name}: {notebook} is not one of the registered notebooks"
            assert _is_glued(key, _glued_keys(_load(path.stem))), f"{page.name}: {path.stem} never glues {key!r}"
    assert references > 0, "the book reads no numbers from the notebooks"


def test_every_hidden_cell_has_a_labelled_toggle(notebook):
    """A reader sees what a toggle reveals ("Show the parameters of this run"), not the
    theme's generic "Show code cell source"."""
    name, nb = notebook
    for cell in _code_cells(nb):
        if "hide-input" in cell.metadata.get("tags", []) or "hide-cell" in cell.metadata.get("tags", []):
            labels = cell.metadata.get("mystnb", {})
            assert labels.get("code_prompt_show", "").startswith("Show "), f"{name}: an unlabelled toggle"
            assert labels.get("code_prompt_hide", "").startswith("Hide "), f"{name}: an unlabelled toggle"


def test_visible_code_fits_the_books_code_box(notebook):
    """The book's code boxes hold 80 characters; longer lines scroll sideways."""
    name, nb = notebook
    for i, cell in enumerate(_code_cells(nb)):
        tags = cell.metadata.get("tags", [])
        if "remove-cell" in tags or "remove-input" in tags:
            continue
        for line in cell.source.splitlines():
            assert len(line) <= 80, f"{name}, code cell {i}: {len(line)} characters: {line[:50]}..."
