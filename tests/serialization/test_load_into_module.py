"""End to end: a checkpoint on disk -> minimod.load -> Module.load_state_dict -> same outputs."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from ckpt_writer import dumps, le_bytes, storage_ref, tensor, write_archive

import minimod
from minimod import nn

# TEMPORARY: Module and Linear are being written on other branches; remove once they are on main.
if not hasattr(nn, "Linear") or not hasattr(nn, "Module"):
    pytest.skip("minimod.nn.Module / Linear have not landed yet", allow_module_level=True)


def two_linear(nn_mod):
    """The same two-layer model, written against torch.nn or minimod.nn."""

    class TwoLinear(nn_mod.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn_mod.Linear(5, 7)
            self.fc2 = nn_mod.Linear(7, 3, bias=False)

        def forward(self, x):
            return self.fc2(self.fc1(x))

    return TwoLinear()


def test_hand_written_checkpoint_into_a_linear_model(tmp_path):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((7, 5)).astype(np.float32)
    b1 = rng.standard_normal(7).astype(np.float32)
    w2 = rng.standard_normal((3, 7)).astype(np.float32)
    # fc2.weight stored transposed, as a view: torch writes such layouts for tied/permuted weights.
    sd = OrderedDict([
        ("fc1.weight", tensor(storage_ref("FloatStorage", "0", 35), 0, (7, 5), (5, 1))),
        ("fc1.bias", tensor(storage_ref("FloatStorage", "1", 7), 0, (7,), (1,))),
        ("fc2.weight", tensor(storage_ref("FloatStorage", "2", 21), 0, (3, 7), (1, 3))),
    ])  # fmt: skip
    sd._metadata = OrderedDict([("", {"version": 1}), ("fc1", {"version": 1}),
                                ("fc2", {"version": 1})])  # fmt: skip
    storages = {"0": le_bytes(w1), "1": le_bytes(b1), "2": le_bytes(np.ascontiguousarray(w2.T))}
    write_archive(tmp_path / "m.pt", dumps(sd), storages)

    model = two_linear(nn)
    result = model.load_state_dict(minimod.load(tmp_path / "m.pt"))
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []

    x = rng.standard_normal((4, 5)).astype(np.float32)
    x64 = x.astype(np.float64)
    reference = (x64 @ w1.T.astype(np.float64) + b1) @ w2.T.astype(np.float64)
    np.testing.assert_allclose(model(x), reference, rtol=1e-5, atol=1e-5)


def test_torch_model_through_a_file_gives_identical_outputs(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = two_linear(torch.nn).eval()
    torch.save(reference.state_dict(), tmp_path / "model.pt")

    model = two_linear(nn)
    model.load_state_dict(minimod.load(tmp_path / "model.pt"))
    for name, p in reference.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[name], p.numpy())

    x = torch.randn(6, 5)
    with torch.no_grad():
        expected = reference(x).numpy()
    np.testing.assert_allclose(model(x.numpy()), expected, rtol=1e-5, atol=1e-6)

    # And through safetensors: convert, reload, same outputs.
    minimod.save(model.state_dict(), tmp_path / "model.safetensors")
    again = two_linear(nn)
    again.load_state_dict(minimod.load(tmp_path / "model.safetensors"))
    np.testing.assert_array_equal(again(x.numpy()), model(x.numpy()))
