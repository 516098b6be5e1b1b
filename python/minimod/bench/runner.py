"""Timing the workloads: minimod, PyTorch and ONNX Runtime interleaved in one process.

All runtimes get the same weights (torch's initialisation, BatchNorm statistics randomised so the
normalisation is not an identity) and the same seeded input. Samples alternate between the runtimes
round by round (the order rotates), so a noisy neighbour slows all alike. Before every timed sample
the runner waits until no thread of the process burns CPU (`wait_for_quiet`): torch's OpenMP
workers spin ~10 ms after each call and ORT's intra-op pool 20-60 ms (measured on the 2-core
reference VM), so a fixed short pause let a peer's spinning thread take one of the two cores
from the next runtime's sample. Then untimed calls for ~20 ms (at least one) warm the runtime up:
after an idle pause the host takes up to ~10 ms to give the second vCPU back, and until then a
2-thread runtime runs at about one-thread speed (one interleaved run, medians in us, 5 ms vs
20 ms of warm-up: W2 minimod 1597 vs 826, torch 1515 vs 1087, ORT 783 vs 701), a lottery that
would otherwise decide every one-call sample of the millisecond workloads. The timed calls are
thus warm, back-to-back inference (what a serving loop sees, and what the reference numbers in
the speed issue are), with every core to itself; the `first` column keeps the cold first call.
Each sample times enough back-to-back calls to last ~0.2 ms, so timer resolution does not
dominate the microsecond workloads.
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
from minimod.bench import onnx_peer
from minimod.bench.progress import ProgressBar
from minimod.bench.workloads import WORKLOADS, Workload

_SAMPLE_SECONDS = 2e-4
# How long wait_for_quiet watches the process's CPU time at a time: longer than two scheduler ticks
# (4 ms at HZ=250), because the kernel adds another thread's running time to the process's CPU
# clock only at a tick or a context switch: a 2 ms slice could see no CPU used while another
# thread spun through all of it.
_QUIET_SLICE_SECONDS = 10e-3
_QUIET_CPU_FRACTION = 0.05  # a slice that used less CPU than this fraction of it counts as quiet
_QUIET_MAX_SECONDS = 0.25  # gives up waiting (a runtime that never stops spinning) after this
_WARM_SECONDS = 20e-3  # untimed calls before each sample, after the quiet pause
RUNTIMES = ("minimod", "torch", "ort")


@dataclass
class Timing:
    median_us: float
    p90_us: float
    first_us: float
    calls_per_sample: int


@dataclass
class Result:
    id: str
    name: str
    minimod: Timing | None = None
    torch: Timing | None = None
    ort: Timing | None = None
    ratio_torch: float | None = None  # minimod median / torch median
    ratio_ort: float | None = None  # minimod median / ORT median
    max_abs_diff_torch: float | None = None
    max_abs_diff_ort: float | None = None
    error: str | None = None  # minimod could not run the workload
    notes: list[str] = field(default_factory=list)  # a peer that could not run, and why


def _try_import_torch() -> Any:
    try:
        import torch  # noqa: PLC0415  (optional peer, imported only when benchmarking)
    except ImportError:
        return None
    return torch


def _noop_hook(*_args: Any) -> None:
    return None


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _torch_model(w: Workload, torch: Any) -> Any:
    torch.manual_seed(0)
    model = w.build(torch.nn)
    gen = torch.Generator().manual_seed(1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) + 0.5)
    return model.eval()


def _build_calls(
    w: Workload, torch: Any, ort: Any, threads: int, result: Result
) -> dict[str, Callable[[], Any]]:
    """The callables per runtime for ``w``, all with identical weights and input."""
    x = np.random.default_rng(0).standard_normal(w.input_shape, dtype=np.float32)
    calls: dict[str, Callable[[], Any]] = {}
    mm_model = w.build(minimod.nn)
    t_model = None
    if torch is not None:
        t_model = _torch_model(w, torch)
        mm_model.load_state_dict(t_model.state_dict())
    mm_model.eval()
    if w.hooks:
        mm_model.register_forward_pre_hook(_noop_hook)
        mm_model.register_forward_hook(_noop_hook)
    calls["minimod"] = lambda: mm_model(x)
    if t_model is None:
        return calls
    if ort is not None:
        if w.hooks:
            result.notes.append("ort: n/a (forward hooks are a Python-module feature)")
        else:
            try:
                path = onnx_peer.export(torch, t_model, x, w.id)
                calls["ort"] = onnx_peer.session_call(ort, path, x, threads)
            except Exception as exc:  # an exporter or ORT limitation: report it, keep the others
                result.notes.append(f"ort: {_error_text(exc)}")
    tx = torch.from_numpy(x)
    if w.hooks:
        t_model.register_forward_pre_hook(_noop_hook)
        t_model.register_forward_hook(_noop_hook)

    def torch_call() -> Any:
        with torch.inference_mode():
            return t_model(tx)

    calls["torch"] = torch_call
    return calls


def wait_for_quiet() -> float:
    """Sleeps until no thread of this process burns CPU; returns the seconds waited.

    Watches the process's CPU time (every thread: torch's and ORT's pool workers are in-process)
    over slices of 10 ms and returns after the first slice in which it barely grew, so the next
    sample starts with every core free of the previous runtime's spin-waiting workers. Gives up
    after 0.25 s, so a runtime that never sleeps slows the run down instead of hanging it.
    """
    start = time.perf_counter()
    while True:
        cpu = time.process_time()
        time.sleep(_QUIET_SLICE_SECONDS)
        if time.process_time() - cpu < _QUIET_SLICE_SECONDS * _QUIET_CPU_FRACTION:
            break
        if time.perf_counter() - start > _QUIET_MAX_SECONDS:
            break
    return time.perf_counter() - start


def warm_up(fn: Callable[[], Any]) -> None:
    """Untimed calls for ~20 ms (at least one): after them the runtime's workers are awake."""
    end = time.perf_counter() + _WARM_SECONDS
    fn()
    while time.perf_counter() < end:
        fn()


def _time_calls(fn: Callable[[], Any], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def _first_call(fn: Callable[[], Any]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    elapsed_us = (time.perf_counter() - start) * 1e6
    if hasattr(out, "detach"):
        out = out.detach().numpy()
    return elapsed_us, np.asarray(out)


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 <= q <= 1) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(samples: list[float], first_us: float, inner: int) -> Timing:
    return Timing(statistics.median(samples) * 1e6, percentile(samples, 0.9) * 1e6, first_us, inner)


def _bench_one(
    w: Workload, torch: Any, ort: Any, threads: int, repeats: int, warmup: int
) -> Result:
    result = Result(w.id, w.name)
    try:
        calls = _build_calls(w, torch, ort, threads, result)
    except Exception as exc:  # a layer this build does not have yet: report, do not stop
        result.error = _error_text(exc)
        return result
    first, outputs, inner, samples = {}, {}, {}, {}
    for name, fn in list(calls.items()):
        try:
            wait_for_quiet()
            first[name], outputs[name] = _first_call(fn)
            for _ in range(warmup):
                fn()
        except Exception as exc:
            if name == "minimod":
                result.error = _error_text(exc)
                return result
            result.notes.append(f"{name}: {_error_text(exc)}")
            del calls[name]
            continue
        once = max(_time_calls(fn, 1), 1e-7)
        inner[name] = max(1, min(2000, int(_SAMPLE_SECONDS / once)))
        samples[name] = []
    names = list(calls)
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            wait_for_quiet()
            warm_up(calls[name])
            samples[name].append(_time_calls(calls[name], inner[name]))
    result.minimod = _summary(samples["minimod"], first["minimod"], inner["minimod"])
    mm_out = outputs["minimod"]
    if "torch" in calls:
        result.torch = _summary(samples["torch"], first["torch"], inner["torch"])
        result.ratio_torch = result.minimod.median_us / result.torch.median_us
        result.max_abs_diff_torch = float(np.max(np.abs(mm_out - outputs["torch"])))
    if "ort" in calls:
        result.ort = _summary(samples["ort"], first["ort"], inner["ort"])
        result.ratio_ort = result.minimod.median_us / result.ort.median_us
        result.max_abs_diff_ort = float(np.max(np.abs(mm_out - outputs["ort"])))
    return result


def environment(torch: Any, ort: Any) -> dict:
    from minimod import _core  # noqa: PLC0415

    env = {
        "minimod": minimod.__version__,
        "isa": _core.active_isa(),
        "detected_isa": _core.detected_isa(),
        "threads": minimod.get_num_threads(),
        "threads_from": _core.num_threads_source(),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "pause": "until the process is idle (wait_for_quiet)",
    }
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    if ort is not None and torch is not None:
        env["onnxruntime"] = ort.__version__
        env["ort_threads"] = minimod.get_num_threads()
    return env


def select(only: list[str] | None) -> list[str]:
    """The workload ids to run: all, or those in ``only`` (case-insensitive), in table order."""
    if not only:
        return list(WORKLOADS)
    by_lower = {wid.lower(): wid for wid in WORKLOADS}
    unknown = [i for i in only if i.lower() not in by_lower]
    if unknown:
        msg = f"unknown workload id(s) {unknown}; choose from {', '.join(WORKLOADS)}"
        raise ValueError(msg)
    wanted = {by_lower[i.lower()] for i in only}
    return [wid for wid in WORKLOADS if wid in wanted]


def run(
    only: list[str] | None = None,
    threads: int | None = None,
    repeats: int = 30,
    warmup: int = 5,
    progress: bool = True,
    use_torch: bool = True,
    use_ort: bool = True,
) -> tuple[dict, list[Result]]:
    """Runs the workloads (all, or the ids in ``only``); returns the environment and results.

    ``threads`` sets minimod's, torch's and ORT's thread counts alike (default: minimod's own
    choice, see ``python -m minimod info``).
    """
    if repeats < 1 or warmup < 0:
        msg = f"repeats must be >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}"
        raise ValueError(msg)
    ids = select(only)
    if threads is not None:
        minimod.set_num_threads(threads)
    n_threads = minimod.get_num_threads()
    torch = _try_import_torch() if use_torch else None
    ort = onnx_peer.available() if (use_ort and torch is not None) else None
    if torch is not None:
        torch.set_num_threads(n_threads)
    bar = ProgressBar(len(ids)) if progress else None
    results = []
    for n, wid in enumerate(ids):
        w = WORKLOADS[wid]
        if bar:
            bar.update(n, f"{wid} {w.name}")
        results.append(_bench_one(w, torch, ort, n_threads, repeats, warmup))
    if bar:
        bar.update(len(ids), "done")
        bar.close()
    env = environment(torch, ort)
    if torch is None:
        env["torch_absent"] = "not installed" if use_torch else "disabled by --no-torch"
    return env, results


def _fmt(value: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def format_table(env: dict, results: list[Result]) -> str:
    head = (
        f"minimod {env['minimod']} | kernels: {env['isa']} | threads: {env['threads']} "
        f"({env['threads_from']})"
    )
    head += (
        f" | torch {env['torch']} ({env['torch_threads']} threads)"
        if "torch" in env
        else f" | torch {env.get('torch_absent', 'not installed')}: minimod only"
    )
    if "onnxruntime" in env:
        head += f" | onnxruntime {env['onnxruntime']} ({env['ort_threads']} threads)"
    peers = [p for p, key in (("torch", "torch"), ("ort", "onnxruntime")) if key in env]
    cols = f"{'id':<5}{'workload':<22}{'minimod med':>12}{'p90':>11}{'first':>11}"
    for p in peers:
        cols += f"{p + ' med':>12}{'p90':>11}{'first':>11}"
    for p in peers:
        cols += f"{'mm/' + p:>9}"
    lines = [head, "", cols, "-" * len(cols)]
    notes = []
    for r in results:
        row = f"{r.id:<5}{r.name:<22}"
        if r.error or r.minimod is None:
            lines.append(row + f"  not run: {r.error}")
            continue
        for t in [r.minimod] + [getattr(r, p) for p in peers]:
            row += _fmt(t and t.median_us, ".1f", 12)
            row += _fmt(t and t.p90_us, ".1f", 11) + _fmt(t and t.first_us, ".1f", 11)
        for p in peers:
            row += _fmt(getattr(r, f"ratio_{p}"), ".3f", 9)
        lines.append(row)
        notes += [f"{r.id}: {note}" for note in r.notes]
        for p in peers:
            diff = getattr(r, f"max_abs_diff_{p}")
            if diff is not None and diff > 1e-3:
                notes.append(f"{r.id}: outputs differ from {p} by up to {diff:.2e}")
    lines.append("")
    legend = "microseconds per call; med = median, p90 = 90th percentile, first = first call"
    if peers:
        legend += "; mm/X = minimod median / X median (below 1: minimod is faster)"
    lines.append(legend)
    lines += notes
    return "\n".join(lines)


def to_json(env: dict, results: list[Result]) -> dict:
    return {"environment": env, "results": [asdict(r) for r in results]}


def write_json(path: str, env: dict, results: list[Result]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_json(env, results), f, indent=2)
        f.write("\n")


def import_pyplot() -> Any:
    """matplotlib.pyplot on a file-only backend, or SystemExit saying how to install it."""
    try:
        import matplotlib  # noqa: PLC0415  (optional extra: pip install 'minimod[plot]')

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError as exc:
        msg = "python -m minimod bench: error: --plot needs matplotlib: pip install 'minimod[plot]'"
        raise SystemExit(msg) from exc
    return plt


def write_plot(path: str, results: list[Result]) -> None:
    plt = import_pyplot()
    done = [r for r in results if r.ratio_torch is not None or r.ratio_ort is not None]
    labels = [f"{r.id} {r.name}" for r in done]
    ys = np.arange(len(done))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(done) + 1.5))
    for offset, peer, color in ((-0.2, "torch", "tab:blue"), (0.2, "ort", "tab:orange")):
        ratios = [getattr(r, f"ratio_{peer}") for r in done]
        if any(v is not None for v in ratios):
            values = [np.nan if v is None else v for v in ratios]
            ax.barh(ys + offset, values, height=0.4, color=color, label=f"minimod / {peer}")
    ax.set_yticks(ys, labels)
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("median latency ratio, log scale (below 1: minimod is faster)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
