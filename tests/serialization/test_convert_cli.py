"""``python -m minimod convert IN.pt OUT.safetensors [--key K]``, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import numpy as np
from ckpt_writer import dumps, le_bytes, storage_ref, tensor, write_archive
from safetensors.numpy import load_file

import minimod

W = np.arange(12, dtype=np.float32).reshape(3, 4)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "minimod", "convert", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def tiny_checkpoint(path, nested: bool) -> None:
    sd = OrderedDict(
        weight=tensor(storage_ref("FloatStorage", "0", 12), 0, (4, 3), (1, 4)),  # W.T
        steps=tensor(storage_ref("LongStorage", "1", 1), 0, (), ()),
    )
    obj = {"state_dict": sd, "epoch": 3} if nested else sd
    write_archive(path, dumps(obj), {"0": le_bytes(W), "1": le_bytes(np.array([5], np.int64))})


def test_convert_flat_checkpoint(tmp_path):
    tiny_checkpoint(tmp_path / "in.pt", nested=False)
    res = run(str(tmp_path / "in.pt"), str(tmp_path / "out.safetensors"))
    assert res.returncode == 0, res.stderr
    assert "wrote 2 tensors" in res.stdout
    out = load_file(str(tmp_path / "out.safetensors"))  # readable by the package itself
    np.testing.assert_array_equal(out["weight"], W.T)
    assert out["steps"].shape == () and out["steps"] == 5
    assert list(minimod.load(tmp_path / "out.safetensors")) == ["weight", "steps"]


def test_convert_nested_checkpoint_needs_key(tmp_path):
    tiny_checkpoint(tmp_path / "in.pt", nested=True)
    out = tmp_path / "out.safetensors"
    res = run(str(tmp_path / "in.pt"), str(out))
    assert res.returncode == 1
    assert "error:" in res.stderr and "key='state_dict'" in res.stderr
    assert not out.exists()
    res = run(str(tmp_path / "in.pt"), str(out), "--key", "state_dict")
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(minimod.load(out)["weight"], W.T)


def test_convert_reports_unreadable_input(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    res = run(str(tmp_path / "bad.pt"), str(tmp_path / "out.safetensors"))
    assert res.returncode == 1 and "neither" in res.stderr
    res = run(str(tmp_path / "missing.pt"), str(tmp_path / "out.safetensors"))
    assert res.returncode == 1 and "No such file" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]
