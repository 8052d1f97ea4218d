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
