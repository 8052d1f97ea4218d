"""The repository around the package: CI, the GPU workflow, the README, packaging, hygiene."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "full-run.yml"
ALLOWED_ACTIONS = ("actions/checkout", "actions/setup-python", "actions/upload-artifact",
                   "actions/upload-pages-artifact", "actions/deploy-pages")
CORE = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "matplotlib", "seaborn")
DEV = ("pytest", "papermill", "jupyter-book", "myst-nb")


# --------------------------------------------------------------------------- the GPU workflow


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_workflow_is_started_by_hand(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers is not None, "the workflow has no `on:`"
    if isinstance(triggers, str):
        triggers = {triggers: None}
    assert "workflow_dispatch" in triggers
    assert workflow["jobs"], "no jobs"


def test_workflow_uses_only_pinned_official_actions(workflow):
    uses = [step["uses"] for step in _steps(workflow) if "uses" in step]
    assert uses, "the workflow uses no actions"
    for action in uses:
        name, _, version = action.partition("@")
        assert name in ALLOWED_ACTIONS, f"unexpected action {action}"
        assert re.fullmatch(r"v\d+", version), f"{action} is not pinned to a major version (@vN)"


def test_workflow_runs_the_full_profile_on_jax(workflow):
    commands = [" ".join(step["run"].split()) for step in _steps(workflow) if "run" in step]
    assert any("ferlib run --profile full --backend jax" in c for c in commands), commands
    assert any("ferlib publish" in c for c in commands), "the full run is never published into the book"
    assert any("jupyter-book build book/" in c for c in commands)


# --------------------------------------------------------------------------- CI and the README


def test_ci_script_runs_the_tests_with_the_real_data():
    script = REPO / ".ci" / "run"
    assert script.is_file()
    assert os.access(script, os.X_OK), ".ci/run is not executable"
    text = script.read_text()
    assert text.startswith("#!"), ".ci/run has no shebang"
    assert re.search(r"^\s*make test\b", text, re.M), ".ci/run does not call `make test`"
    assert re.search(r"^\s*export FER2013_PATH=", text, re.M), ".ci/run does not set FER2013_PATH"
    assert "set -e" in text or "set -euo pipefail" in text, ".ci/run would carry on after a failure"


def test_makefile_targets_match_the_readme():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    assert {"run", "test", "book"} <= targets, targets
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n?)+)", makefile, re.M).group(1)
    assert "pytest" in test_recipe
    run_recipe = re.search(r"^run:.*\n((?:\t.*\n?)+)", makefile, re.M).group(1)
    assert "ferlib run" in run_recipe


def test_readme_explains_running_testing_and_the_book():
    readme = (REPO / "README.md").read_text()
    for needle in ("make run", "make test", "jupyter-book build book/"):
        assert needle in readme, f"the README does not mention `{needle}`"
    assert "papermill" in readme.lower()
    assert "colab" in readme.lower()


# --------------------------------------------------------------------------- packaging


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirements(lines) -> dict[str, Requirement]:
    parsed = [Requirement(line) for line in lines]
    return {r.name.lower(): r for r in parsed}


def test_pyproject_declares_the_stack(pyproject):
    deps = _requirements(pyproject["project"]["dependencies"])
    missing = set(CORE) - set(deps)
    assert not missing, f"pyproject.toml does not declare {sorted(missing)}"
    tensorflow = deps["tensorflow"].specifier
    assert not tensorflow.contains("2.15.1") and tensorflow.contains("2.16.1"), f"tensorflow{tensorflow}: needs >=2.16"


def test_pyproject_dev_extra_has_the_book_toolchain(pyproject):
    dev = _requirements(pyproject["project"]["optional-dependencies"]["dev"])
    missing = set(DEV) - set(dev)
    assert not missing, f"the dev extra lacks {sorted(missing)}"
    book = dev["jupyter-book"].specifier
    assert book.contains("1.0.4.post1") or book.contains("1.1.0"), f"jupyter-book{book}: needs 1.x"
    assert not book.contains("2.0.0"), "Jupyter Book 2 ignores _config.yml: pin <2"
    assert pyproject["project"]["scripts"]["ferlib"] == "ferlib.tooling.cli:main"


def test_environment_yml_matches_pyproject(pyproject):
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    lines = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            lines += [p for p in entry.get("pip", []) if not p.startswith("-")]
        elif not re.match(r"^(python|pip)\b(?![-\w])", entry):
            lines.append(entry.replace(" ", ""))
    conda = _requirements(lines)
    project = pyproject["project"]
    declared = _requirements(project["dependencies"] + project["optional-dependencies"]["dev"]
                             + project["optional-dependencies"].get("jax", [])
                             + project["optional-dependencies"].get("opencv", []))
    assert set(CORE) <= set(conda), f"environment.yml lacks {sorted(set(CORE) - set(conda))}"
    assert set(conda) == set(declared), (
        f"only in environment.yml: {sorted(set(conda) - set(declared))}; "
        f"only in pyproject.toml: {sorted(set(declared) - set(conda))}")
    for name, requirement in declared.items():
        assert str(conda[name].specifier) == str(requirement.specifier), f"{name}: {conda[name]} vs {requirement}"


# --------------------------------------------------------------------------- hygiene


@pytest.fixture(scope="module")
def repo_files() -> list[str]:
    """Tracked files, plus untracked ones that are not ignored (what the next commit can hold)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                          cwd=REPO, capture_output=True, text=True, check=True)
    return [f for f in proc.stdout.split("\0") if f and (REPO / f).is_file()]


def test_no_data_or_weights_are_committed(repo_files):
    heavy = [f for f in repo_files if re.search(r"\.csv(\.\w+)?$|\.npz$|\.npy$|\.keras$|\.h5$|\.pkl$", f)]
    # the one exception: the small model the package ships, with its card (tests/test_shipped.py)
    assert heavy == ["ferlib/shipped/fastcnn.weights.h5"], f"data or weight files in the repository: {heavy}"
    assert (REPO / heavy[0]).stat().st_size <= 4 * 2**20
    big = [f for f in repo_files if (REPO / f).stat().st_size > 5_000_000]
    assert big == [], f"files over 5 MB in the repository: {big}"


def test_no_machine_paths_in_the_book_notebooks_or_docs(repo_files):
    scoped = [f for f in repo_files if f.startswith(("book/", "notebooks/")) or f.endswith(".md")]
    assert any(f.startswith("notebooks/") for f in scoped)
    offenders = []
    for name in scoped:
        text = (REPO / name).read_text(errors="replace")
        offenders += [f"{name}: {marker}" for marker in ("/work/", "/root/", "../shared") if marker in text]
    assert offenders == [], offenders


def test_gitignore_keeps_runs_and_builds_out(repo_files):
    ignored = (REPO / ".gitignore").read_text().split()
    for pattern in ("runs/", "_build/", "*.keras", "*.npz"):
        assert pattern in ignored, f".gitignore lacks {pattern}"
    assert not [f for f in repo_files if f.startswith("runs/") or "/_build/" in f]


def test_the_repository_address_is_the_one_in_pyproject():
    import json

    url = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    owner_name = url.removeprefix("https://github.com/")
    assert yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"] == url
    from ferlib.tooling.pipeline import REPOSITORY

    assert REPOSITORY == url  # what `ferlib run` tells an installed package's user to clone
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        text = "".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        assert f"git+{url}.git" in text, f"{path.name}: the install cell names another address"
        assert f"colab.research.google.com/github/{owner_name}/blob/main/notebooks/{path.name}" in text, path.name
        others = set(re.findall(r"github\.com/(?:github/)?([\w.-]+/[\w.-]+?)(?:\.git|/|\))", text)) - {owner_name}
        assert not others, f"{path.name} names other repositories: {others}"


def test_every_name_the_notebooks_call_on_fl_exists():
    """The notebooks reach the library through ``fl.NAME``; each name must resolve (the
    lazy package would otherwise fail only when a notebook runs)."""
    import json
    import re

    import ferlib

    names = set()
    for path in (REPO / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                names |= set(re.findall(r"\bfl\.([A-Za-z_]\w*)", "".join(cell["source"])))
    missing = sorted(n for n in names if not hasattr(ferlib, n))
    assert missing == [], f"the notebooks call fl.{missing} that ferlib does not have"
