"""Finding the state_dict inside a training checkpoint: ``key``, and the errors without it."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from ckpt_writer import dumps, le_bytes, storage_ref, tensor, write_archive

import minimod
from minimod.serialization import CheckpointError

W = np.arange(6, dtype=np.float32).reshape(2, 3)


def state_dict(key: str = "0") -> OrderedDict:
    sd = OrderedDict(
        weight=tensor(storage_ref("FloatStorage", key, 6), 0, (2, 3), (3, 1)),
        bias=tensor(storage_ref("FloatStorage", key, 6), 4, (2,), (1,)),
    )
    sd._metadata = OrderedDict([("", {"version": 1})])
    return sd


def write(path, obj) -> str:
    write_archive(path, dumps(obj), {"0": le_bytes(W), "1": le_bytes(W * 2)})
    return str(path)


def test_flat_state_dict_is_returned_directly(tmp_path):
    out = minimod.load(write(tmp_path / "f.pt", state_dict()))
    assert type(out) is OrderedDict and list(out) == ["weight", "bias"]
    np.testing.assert_array_equal(out["weight"], W)
    np.testing.assert_array_equal(out["bias"], W.ravel()[4:])
    assert out._metadata == {"": {"version": 1}}


def test_plain_dict_and_empty_state_dicts_are_state_dicts(tmp_path):
    plain = {"w": tensor(storage_ref("FloatStorage", "0", 6), 0, (6,), (1,))}
    out = minimod.load(write(tmp_path / "d.pt", plain))
    assert type(out) is OrderedDict and not hasattr(out, "_metadata")
    assert minimod.load(write(tmp_path / "e.pt", OrderedDict())) == OrderedDict()


def test_nested_checkpoint_without_key_names_the_candidates(tmp_path):
    ckpt = {"state_dict": state_dict(), "epoch": 3, "optimizer": {"lr": 0.1, "state": {}}}
    path = write(tmp_path / "n.pt", ckpt)
    with pytest.raises(CheckpointError) as info:
        minimod.load(path)
    msg = str(info.value)
    assert "['state_dict', 'epoch', 'optimizer']" in msg
    assert "holding a state_dict are ['state_dict']" in msg
    assert "key='state_dict'" in msg


def test_key_selects_the_sub_state_dict_with_its_metadata(tmp_path):
    ckpt = {"model": state_dict("0"), "ema": state_dict("1"), "epoch": 3}
    path = write(tmp_path / "n.pt", ckpt)
    with pytest.raises(CheckpointError, match=r"are \['model', 'ema'\]"):
        minimod.load(path)
    model, ema = minimod.load(path, key="model"), minimod.load(path, key="ema")
    np.testing.assert_array_equal(model["weight"], W)
    np.testing.assert_array_equal(ema["weight"], W * 2)
    assert model._metadata == {"": {"version": 1}}


def test_bad_keys_and_non_state_dicts(tmp_path):
    path = write(tmp_path / "n.pt", {"state_dict": state_dict(), "epoch": 3})
    with pytest.raises(CheckpointError, match=r"no key 'model'.*\['state_dict', 'epoch'\]"):
        minimod.load(path, key="model")
    with pytest.raises(CheckpointError, match=r"\['epoch'\] holds a int"):
        minimod.load(path, key="epoch")
    with pytest.raises(TypeError, match="key must be a str"):
        minimod.load(path, key=0)
    flat = write(tmp_path / "f.pt", state_dict())
    with pytest.raises(CheckpointError, match="no key 'state_dict'"):
        minimod.load(flat, key="state_dict")


def test_mapping_with_non_tensor_values_and_no_candidate_is_refused(tmp_path):
    mixed = OrderedDict(w=tensor(storage_ref("FloatStorage", "0", 6), 0, (6,), (1,)), step=7)
    with pytest.raises(CheckpointError, match=r"not a state_dict.*'step': int"):
        minimod.load(write(tmp_path / "m.pt", mixed))
    with pytest.raises(CheckpointError, match="holds a list"):
        minimod.load(write(tmp_path / "l.pt", [state_dict()]))
    with pytest.raises(CheckpointError, match="the non-str key 0"):
        minimod.load(write(tmp_path / "o.pt", {0: {"step": 1}}))


def test_empty_mappings_are_not_offered_as_candidates(tmp_path):
    ckpt = {"model": state_dict(), "optimizer": {"state": {}, "param_groups": []}, "extra": {}}
    with pytest.raises(CheckpointError, match=r"holding a state_dict are \['model'\]"):
        minimod.load(write(tmp_path / "n.pt", ckpt))
