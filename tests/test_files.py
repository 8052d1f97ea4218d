"""Tests of ferlib.files: writing that never leaves half a file behind."""

import pytest

from ferlib.files import atomic_write


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "file.bin"

    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert list((tmp_path / "out").iterdir()) == []
    atomic_write(target, lambda f: f.write(b"whole"))
    assert target.read_bytes() == b"whole"
    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"whole"  # the old file survives a failed rewrite
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["file.bin"]


def test_commit_dir_replaces_a_folder_whole_and_clears_a_killed_commits_leftover(tmp_path):
    from ferlib.files import commit_dir

    final = tmp_path / "code"
    for version in ("one", "two"):
        tmp = tmp_path / f".tmp-{version}"
        tmp.mkdir()
        (tmp / "COMMIT").write_text(version)
        commit_dir(tmp, final)
        assert (final / "COMMIT").read_text() == version and not tmp.exists()
    # a commit killed between its two renames left the old folder aside and none in place
    aside = tmp_path / ".code.old"
    final.rename(aside)
    tmp = tmp_path / ".tmp-three"
    tmp.mkdir()
    (tmp / "COMMIT").write_text("three")
    commit_dir(tmp, final)
    assert (final / "COMMIT").read_text() == "three" and not aside.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary or aside folder left
