"""`python -m minimod bench`: runs, writes the promised JSON, refuses bad options clearly.

No timing assertions: only that the numbers exist, are positive and are consistent with each other,
and that the outputs of the runtimes agree (torch is the oracle for the workloads' results).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import minimod
import pytest
from minimod.__main__ import main
from minimod.bench import runner
from minimod.bench.progress import ProgressBar
from minimod.bench.workloads import WORKLOADS

TIMING_FIELDS = {"median_us", "p90_us", "first_us", "calls_per_sample"}


@pytest.fixture(autouse=True)
def _restore_threads():
    before = minimod.get_num_threads()
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch else None
    yield
    minimod.set_num_threads(before)
    if torch is not None:
        torch.set_num_threads(torch_before)


def _check_timing(timing: dict) -> None:
    assert set(timing) == TIMING_FIELDS
    assert 0 < timing["median_us"] <= timing["p90_us"]
    assert timing["first_us"] > 0
    assert timing["calls_per_sample"] >= 1


def test_cli_json_has_the_promised_fields(tmp_path, capsys):
    path = tmp_path / "bench.json"
    code = main(
        [
            "bench",
            "--only",
            "W6a,w1",
            "--repeats",
            "3",
            "--warmup",
            "1",
            "--quiet",
            "--json",
            str(path),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "W1" in table and "W6a" in table and "W2 " not in table
    data = json.loads(path.read_text())
    env = data["environment"]
    for key in ("minimod", "isa", "detected_isa", "threads", "threads_from", "numpy", "python"):
        assert key in env
    assert env["minimod"] == minimod.__version__
    assert [r["id"] for r in data["results"]] == ["W1", "W6a"]  # table order, ids case-insensitive
    for r in data["results"]:
        assert r["error"] is None
        assert r["name"] == WORKLOADS[r["id"]].name
        _check_timing(r["minimod"])
        if "torch" in env:
            _check_timing(r["torch"])
            assert r["ratio_torch"] == pytest.approx(
                r["minimod"]["median_us"] / r["torch"]["median_us"]
            )
            assert r["max_abs_diff_torch"] < 1e-4
        else:
            assert r["torch"] is None and r["ratio_torch"] is None
        if "onnxruntime" in env:
            _check_timing(r["ort"])
            assert r["ratio_ort"] == pytest.approx(
                r["minimod"]["median_us"] / r["ort"]["median_us"]
            )
            assert r["max_abs_diff_ort"] < 1e-4


def test_every_workload_runs_and_matches_torch():
    torch = pytest.importorskip("torch")
    env, results = runner.run(repeats=1, warmup=0, progress=False, use_ort=False)
    assert env["torch"] == torch.__version__
    assert [r.id for r in results] == list(WORKLOADS)
    for r in results:
        assert r.error is None, (r.id, r.error)
        assert r.minimod is not None and r.torch is not None, r.id
        assert r.max_abs_diff_torch < 1e-3, (r.id, r.max_abs_diff_torch)


def test_ort_column_when_onnxruntime_imports():
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    env, results = runner.run(only=["W5d", "W6b"], repeats=2, warmup=0, progress=False)
    assert env["onnxruntime"] == ort.__version__
    bn, hooked = results
    assert bn.ort is not None and bn.max_abs_diff_ort < 1e-4
    assert hooked.ort is None and any("hooks" in n for n in hooked.notes)


def test_threads_sets_every_runtime(tmp_path):
    path = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--only",
                "W6a",
                "--threads",
                "1",
                "--repeats",
                "1",
                "--quiet",
                "--json",
                str(path),
            ]
        )
        == 0
    )
    env = json.loads(path.read_text())["environment"]
    assert env["threads"] == 1
    assert env["threads_from"] == "set_num_threads"
    if "torch" in env:
        assert env["torch_threads"] == 1
    if "onnxruntime" in env:
        assert env["ort_threads"] == 1


def test_no_torch_runs_minimod_alone(tmp_path):
    path = tmp_path / "b.json"
    assert (
        main(
            [
                "bench",
                "--only",
                "W6a",
                "--no-torch",
                "--repeats",
                "1",
                "--quiet",
                "--json",
                str(path),
            ]
        )
        == 0
    )
    data = json.loads(path.read_text())
    assert "torch" not in data["environment"]
    assert data["results"][0]["torch"] is None
    _check_timing(data["results"][0]["minimod"])


def test_unknown_workload_is_a_clear_error(capsys):
    assert main(["bench", "--only", "W9", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown workload id(s) ['W9']" in err and "W6b" in err


@pytest.mark.parametrize("bad", ["0", "-2", "x"])
def test_bad_counts_are_refused_by_argparse(bad, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "--repeats", bad])
    assert info.value.code == 2
    assert "expected a positive integer" in capsys.readouterr().err


def test_plot_without_matplotlib_fails_before_benchmarking(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise
    monkeypatch.setattr(runner, "run", lambda **_: pytest.fail("benchmarked before the check"))
    with pytest.raises(SystemExit, match=r"--plot needs matplotlib: pip install 'minimod\[plot\]'"):
        main(["bench", "--plot", "x.png"])


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "ratios.png"
    assert main(["bench", "--only", "W6a", "--repeats", "1", "--quiet", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = ProgressBar(2, stream=out)
    bar.update(0, "W1 mlp-b1")
    bar.update(2, "done")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("[0/2]") and lines[0].endswith("W1 mlp-b1")
    assert lines[1].startswith("[2/2]")


def test_percentile_is_nearest_rank():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 6.0, 8.0, 7.0, 9.0, 11.0]
    assert runner.percentile(samples, 0.9) == 10.0  # rank round(0.9 * 10) = 9 of 1..11 sorted
    assert runner.percentile(samples, 0.5) == 6.0
    assert runner.percentile([3.0], 0.9) == 3.0


def test_module_entry_point_runs_as_a_subprocess(tmp_path):
    path = tmp_path / "b.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "minimod",
            "bench",
            "--only",
            "W6a",
            "--repeats",
            "1",
            "--no-ort",
            "--json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "W6a" in proc.stdout
    assert "[1/1]" in proc.stderr  # the progress bar goes to stderr, not into the table
    assert json.loads(path.read_text())["results"][0]["id"] == "W6a"
