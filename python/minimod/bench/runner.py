"""Timing the workloads: minimod and PyTorch interleaved in one process, medians and ratios.

Both runtimes get the same weights (torch's initialisation, BatchNorm statistics randomised so the
normalisation is not an identity) and the same seeded input. Calls alternate between the runtimes
round by round, so a noisy neighbour slows both alike; each sample times enough back-to-back calls
to last ~0.2 ms, so timer resolution does not dominate the sub-microsecond workloads.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

import minimod
from minimod.bench.workloads import WORKLOADS, Workload

_SAMPLE_SECONDS = 2e-4


@dataclass
class Timing:
    median_us: float
    p90_us: float
    first_us: float


@dataclass
class Result:
    id: str
    name: str
    minimod: Timing | None = None
    torch: Timing | None = None
    max_abs_diff: float | None = None
    error: str | None = None
    ratio: float | None = field(default=None)


def _try_import_torch() -> Any:
    try:
        import torch  # noqa: PLC0415  (optional peer, imported only when benchmarking)
    except ImportError:
        return None
    return torch


def _noop_hook(*_args: Any) -> None:
    return None


def _build_pair(w: Workload, torch: Any) -> tuple[Callable, Callable | None, Any]:
    """The minimod and torch callables for ``w`` with identical weights, and the input."""
    x = np.random.default_rng(0).standard_normal(w.input_shape, dtype=np.float32)
    mm_model = w.build(minimod.nn)
    torch_call = None
    if torch is not None:
        torch.manual_seed(0)
        t_model = w.build(torch.nn)
        gen = torch.Generator().manual_seed(1)
        for mod in t_model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) + 0.5)
        t_model.eval()
        mm_model.load_state_dict(t_model.state_dict())
        tx = torch.from_numpy(x)
        if w.hooks:
            t_model.register_forward_pre_hook(_noop_hook)
            t_model.register_forward_hook(_noop_hook)

        def torch_call() -> Any:
            with torch.inference_mode():
                return t_model(tx)

    mm_model.eval()
    if w.hooks:
        mm_model.register_forward_pre_hook(_noop_hook)
        mm_model.register_forward_hook(_noop_hook)
    return (lambda: mm_model(x)), torch_call, x


def _time_calls(fn: Callable, inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def _first_call_us(fn: Callable) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1e6, out


def _summary(samples: list[float], first_us: float) -> Timing:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return Timing(statistics.median(ordered) * 1e6, p90 * 1e6, first_us)


def _bench_one(w: Workload, torch: Any, repeats: int, warmup: int) -> Result:
    result = Result(w.id, w.name)
    try:
        mm_call, torch_call, _ = _build_pair(w, torch)
    except Exception as exc:  # a layer this build does not have yet: report, do not stop
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    calls = {"minimod": mm_call}
    if torch_call is not None:
        calls["torch"] = torch_call
    first, outputs, inner, samples = {}, {}, {}, {}
    for name, fn in calls.items():
        first[name], outputs[name] = _first_call_us(fn)
        for _ in range(warmup):
            fn()
        once = max(_time_calls(fn, 1), 1e-7)
        inner[name] = max(1, min(2000, int(_SAMPLE_SECONDS / once)))
        samples[name] = []
    for r in range(repeats):
        order = list(calls) if r % 2 == 0 else list(reversed(calls))
        for name in order:
            samples[name].append(_time_calls(calls[name], inner[name]))
    result.minimod = _summary(samples["minimod"], first["minimod"])
    if "torch" in calls:
        result.torch = _summary(samples["torch"], first["torch"])
        result.ratio = result.minimod.median_us / result.torch.median_us
        ref = outputs["torch"].detach().numpy()
        result.max_abs_diff = float(np.max(np.abs(np.asarray(outputs["minimod"]) - ref)))
    return result


def environment(torch: Any) -> dict:
    from minimod import _core  # noqa: PLC0415

    env = {
        "minimod": minimod.__version__,
        "isa": _core.active_isa(),
        "detected_isa": _core.detected_isa(),
        "threads": minimod.get_num_threads(),
        "threads_from": _core.num_threads_source(),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    return env


def run(
    only: list[str] | None = None,
    threads: int | None = None,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
) -> tuple[dict, list[Result]]:
    """Runs the workloads (all, or the ids in ``only``); returns the environment and results."""
    torch = _try_import_torch()
    if threads is not None:
        minimod.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(minimod.get_num_threads())
    ids = only or list(WORKLOADS)
    unknown = [i for i in ids if i not in WORKLOADS]
    if unknown:
        msg = f"unknown workload id(s) {unknown}; choose from {list(WORKLOADS)}"
        raise ValueError(msg)
    results = []
    for n, wid in enumerate(ids, 1):
        w = WORKLOADS[wid]
        if progress:
            bar = "#" * n + "." * (len(ids) - n)
            print(f"\r[{bar}] {n}/{len(ids)} {wid} {w.name:<22}", end="", file=sys.stderr, flush=True)
        results.append(_bench_one(w, torch, repeats, warmup))
    if progress:
        print(file=sys.stderr)
    return environment(torch), results


def format_table(env: dict, results: list[Result]) -> str:
    head = (
        f"minimod {env['minimod']} | kernels: {env['isa']} | threads: {env['threads']} "
        f"({env['threads_from']})"
    )
    if "torch" in env:
        head += f" | torch {env['torch']} ({env['torch_threads']} threads)"
    else:
        head += " | torch not installed: minimod only"
    lines = [head, ""]
    cols = f"{'id':<5}{'workload':<22}{'minimod med':>12}{'p90':>10}{'first':>10}"
    cols += f"{'torch med':>12}{'p90':>10}{'first':>10}{'ratio':>8}{'max|diff|':>11}"
    lines += [cols + "   (microseconds; ratio = minimod/torch median)", "-" * len(cols)]
    for r in results:
        row = f"{r.id:<5}{r.name:<22}"
        if r.error:
            lines.append(row + f"  not run: {r.error}")
            continue
        m = r.minimod
        row += f"{m.median_us:>12.1f}{m.p90_us:>10.1f}{m.first_us:>10.1f}"
        if r.torch:
            t = r.torch
            row += f"{t.median_us:>12.1f}{t.p90_us:>10.1f}{t.first_us:>10.1f}"
            row += f"{r.ratio:>8.3f}{r.max_abs_diff:>11.2e}"
        lines.append(row)
    return "\n".join(lines)


def write_json(path: str, env: dict, results: list[Result]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"environment": env, "results": [asdict(r) for r in results]}, f, indent=2)


def write_plot(path: str, results: list[Result]) -> None:
    try:
        import matplotlib  # noqa: PLC0415  (optional extra: pip install 'minimod[plot]')

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        msg = "--plot needs matplotlib: pip install 'minimod[plot]'"
        raise SystemExit(msg) from exc
    done = [r for r in results if r.ratio is not None]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(done) + 1.5))
    ax.barh([f"{r.id} {r.name}" for r in done], [r.ratio for r in done], color="tab:blue")
    ax.axvline(1.0, color="k", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("minimod / torch median latency (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
