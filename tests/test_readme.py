"""The README's porting example runs as printed and matches the torch model it was ported from."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading!r}"
    return match.group(1)


def test_porting_example_runs_and_matches_torch(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    block = _python_block_after("## Porting a PyTorch model")
    assert len(block.strip().splitlines()) < 20, "the porting story must stay under 20 lines"
    assert "import minimod.nn as nn" in block

    # The torch twin: the same class text with torch's nn, as the user had it before porting.
    class_text = block[: block.index("model = Net()")].replace("import minimod.nn as nn", "import torch.nn as nn")
    torch_ns: dict = {}
    exec(compile(class_text, "README-torch", "exec"), torch_ns)
    torch.manual_seed(0)
    torch_net = torch_ns["Net"]()
    bn = torch_net.features[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 1.5)
    torch.save(torch_net.state_dict(), tmp_path / "net.pt")

    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block, "README", "exec"), ns)
    assert isinstance(ns["logits"], np.ndarray) and ns["logits"].shape == (1, 10)
    with torch.no_grad():
        expected = torch_net.eval()(torch.from_numpy(ns["images"])).numpy()
    np.testing.assert_allclose(ns["logits"], expected, rtol=1e-4, atol=1e-5)
