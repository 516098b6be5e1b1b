"""Files written by torch itself, read without torch, compared with what torch reads back."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from ckpt_writer import rewrite_zip

import minimod
from minimod._arrays import is_native
from minimod.serialization import CheckpointError

torch = pytest.importorskip("torch")


def expected(t) -> np.ndarray:
    """What load must return for tensor ``t``: its values, half precisions widened to float32."""
    t = t.detach().resolve_conj().resolve_neg()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.numpy()


def assert_state_dicts_equal(out, ref) -> None:
    assert list(out) == list(ref)
    for k, t in ref.items():
        e = expected(t)
        assert out[k].dtype == e.dtype and out[k].shape == e.shape, k
        np.testing.assert_array_equal(out[k], e, err_msg=k)
        assert out[k].flags.c_contiguous and out[k].flags.writeable


def trained_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 5 * 5, 6),
    )
    model(torch.randn(2, 3, 5, 5))  # training mode: running stats and num_batches_tracked move
    return model


def test_real_model_state_dict(tmp_path):
    model = trained_model()
    sd = model.state_dict()
    torch.save(sd, tmp_path / "model.pt")
    out = minimod.load(tmp_path / "model.pt")
    assert_state_dicts_equal(out, sd)
    assert out["1.num_batches_tracked"].dtype == np.int64 and out["1.num_batches_tracked"] == 1
    assert out._metadata == sd._metadata
    assert all(is_native(v) for v in out.values())


def test_every_dtype_and_layout_torch_writes(tmp_path):
    torch.manual_seed(1)
    base = torch.arange(60, dtype=torch.float32)
    sd = OrderedDict()
    for dt in (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
               torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64,
               torch.complex128, torch.uint16, torch.uint32, torch.uint64):  # fmt: skip
        values = (torch.randn(3, 4) * 50).to(dt) if dt.is_floating_point or dt.is_complex else (
            torch.randint(0, 100, (3, 4)).to(dt))  # fmt: skip
        sd[f"{dt}".replace("torch.", "")] = values
    sd["scalar"] = torch.tensor(3.25)
    sd["scalar_int"] = torch.tensor(7)
    sd["transposed"] = torch.randn(3, 5).t()
    sd["offset_view"] = base[7:19].view(3, 4)
    sd["stepped"] = base[1::3]
    sd["column"] = base.view(6, 10)[:, 2]
    sd["permuted"] = torch.randn(2, 3, 4).permute(2, 0, 1)
    sd["expanded"] = torch.randn(3, 1).expand(3, 4)
    sd["empty"] = torch.empty(0, 3)
    sd["shared_a"] = base.view(10, 6)  # two keys over one storage
    sd["shared_b"] = base[30:40]
    sd["half_view"] = torch.randn(8).half()[2:6]
    sd["bf16_t"] = torch.randn(2, 3).bfloat16().t()
    sd["conj"] = torch.randn(3, dtype=torch.complex64).conj()
    sd["requires_grad"] = torch.randn(2, requires_grad=True)
    torch.save(sd, tmp_path / "all.pt")
    out = minimod.load(tmp_path / "all.pt")
    assert_state_dicts_equal(out, sd)
    out["shared_a"][5, 0] = -1.0  # storage element 30: shared_b is an independent copy
    assert out["shared_b"][0] == 30.0


def test_parameters_saved_with_keep_vars(tmp_path):
    model = torch.nn.Linear(3, 2)
    sd = model.state_dict(keep_vars=True)
    torch.save(sd, tmp_path / "p.pt")
    out = minimod.load(tmp_path / "p.pt")
    assert_state_dicts_equal(out, sd)
    assert type(out["weight"]) is np.ndarray


def test_nested_training_checkpoint(tmp_path):
    model = trained_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(1, 3, 5, 5)).sum().backward()
    opt.step()
    ckpt = {"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}
    torch.save(ckpt, tmp_path / "ckpt.pth")
    with pytest.raises(CheckpointError, match=r"holding a state_dict are \['state_dict'\]"):
        minimod.load(tmp_path / "ckpt.pth")
    out = minimod.load(tmp_path / "ckpt.pth", key="state_dict")
    assert_state_dicts_equal(out, ckpt["state_dict"])


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_archive_is_refused(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match="TorchScript"):
        minimod.load(tmp_path / "s.pt")


def test_legacy_format_is_refused(tmp_path):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "old.pt",
               _use_new_zipfile_serialization=False)  # fmt: skip
    with pytest.raises(CheckpointError, match="legacy"):
        minimod.load(tmp_path / "old.pt")


def test_whole_module_pickle_is_refused_naming_the_class(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(CheckpointError, match=r"torch\.nn\.modules\.linear\.Linear"):
        minimod.load(tmp_path / "module.pt")


def test_byteorder_record_absent_or_big(tmp_path):
    sd = torch.nn.Linear(2, 2).state_dict()
    torch.save(sd, tmp_path / "nomark.pt", _disable_byteorder_record=True)
    assert_state_dicts_equal(minimod.load(tmp_path / "nomark.pt"), sd)
    torch.save(sd, tmp_path / "w.pt")
    rewrite_zip(tmp_path / "w.pt", tmp_path / "big.pt", {"w/byteorder": b"big"})
    with pytest.raises(CheckpointError, match="big-endian"):
        minimod.load(tmp_path / "big.pt")


def test_truncated_storage_in_a_torch_file(tmp_path):
    torch.save({"w": torch.randn(4, 4)}, tmp_path / "w.pt")
    with zipfile.ZipFile(tmp_path / "w.pt") as zf:
        data = zf.read("w/data/0")
    rewrite_zip(tmp_path / "w.pt", tmp_path / "t.pt", {"w/data/0": data[:-4]})
    with pytest.raises(CheckpointError, match="truncated"):
        minimod.load(tmp_path / "t.pt")


def test_safetensors_interop_both_ways(tmp_path):
    from safetensors.torch import load_file, save_file

    sd = {"w": torch.randn(3, 4), "h": torch.randn(5).half(), "b": torch.randn(2, 2).bfloat16(),
          "n": torch.tensor(4)}  # fmt: skip
    save_file(sd, str(tmp_path / "t.safetensors"))
    out = minimod.load(tmp_path / "t.safetensors")
    for k, t in sd.items():
        np.testing.assert_array_equal(out[k], expected(t))
        assert out[k].dtype == expected(t).dtype
    minimod.save(out, tmp_path / "m.safetensors")
    back = load_file(str(tmp_path / "m.safetensors"))
    for k, t in sd.items():
        assert torch.equal(back[k], torch.from_numpy(expected(t)))


def test_convert_cli_on_a_torch_file(tmp_path):
    model = trained_model()
    torch.save({"model": model.state_dict(), "step": 10}, tmp_path / "in.pt")
    res = subprocess.run(
        [sys.executable, "-m", "minimod", "convert", str(tmp_path / "in.pt"),
         str(tmp_path / "out.safetensors"), "--key", "model"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    from safetensors.torch import load_file

    back = load_file(str(tmp_path / "out.safetensors"))
    sd = model.state_dict()
    assert set(back) == set(sd)
    for k, t in sd.items():
        assert torch.equal(back[k], t), k
