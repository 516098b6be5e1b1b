"""Plain vs ``minimod.optimize_for_inference`` vs torch eager, interleaved medians (not a test).

    python benchmarks/bench_optimize.py                      # W3 and W4, 2 threads
    python benchmarks/bench_optimize.py --only W1,W3 --repeats 41 --threads 1

Each workload is built once with random BatchNorm statistics; torch (when installed) gets the
same state_dict. Every round times all variants back to back, in rotating order, so machine noise
hits them alike; the table gives per-call medians and p90 in microseconds, and the ratios of the
medians. The optimized model's largest difference from the plain one is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

import minimod
from minimod.bench.workloads import WORKLOADS


class _Flatten(minimod.nn.Module):
    def forward(self, x: Any) -> Any:
        return x.reshape(x.shape[0], -1)


class _WithFlatten:
    """``nn`` plus a Flatten where the namespace has none yet (W3 uses one)."""

    def __init__(self, nn: Any) -> None:
        self._nn = nn

    def __getattr__(self, name: str) -> Any:
        if name == "Flatten" and not hasattr(self._nn, "Flatten"):
            return _Flatten
        return getattr(self._nn, name)


def _randomise_bn(model: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, minimod.nn.layers.batchnorm._BatchNorm):
            n = m.num_features
            np.asarray(m.running_mean)[...] = rng.normal(0, 0.5, n)
            np.asarray(m.running_var)[...] = rng.uniform(0.3, 2.0, n)
            np.asarray(m.weight)[...] = rng.uniform(0.5, 1.5, n)
            np.asarray(m.bias)[...] = rng.normal(0, 0.3, n)


def _variants(wid: str, torch: Any) -> tuple[dict[str, Callable[[], Any]], float]:
    w = WORKLOADS[wid]
    x = np.random.default_rng(0).standard_normal(w.input_shape, dtype=np.float32)
    plain = w.build(_WithFlatten(minimod.nn))
    _randomise_bn(plain, 1)
    plain.eval()
    optimized = minimod.optimize_for_inference(plain)
    diff = float(np.max(np.abs(optimized(x) - plain(x))))
    calls = {"plain": lambda: plain(x), "optimized": lambda: optimized(x)}
    if torch is not None:
        t_model = w.build(torch.nn)
        t_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in plain.state_dict().items()})
        t_model.eval()
        tx = torch.from_numpy(x)

        def torch_call() -> Any:
            with torch.inference_mode():
                return t_model(tx)

        calls["torch"] = torch_call
    return calls, diff


def _time(fn: Callable[[], Any], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def bench(wid: str, torch: Any, repeats: int) -> None:
    calls, diff = _variants(wid, torch)
    inner = {}
    for name, fn in calls.items():
        for _ in range(3):
            fn()
        inner[name] = max(1, min(500, int(0.02 / max(_time(fn, 1), 1e-7))))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            samples[name].append(_time(calls[name], inner[name]) * 1e6)
    med = {n: statistics.median(s) for n, s in samples.items()}
    p90 = {n: sorted(s)[int(round(0.9 * (len(s) - 1)))] for n, s in samples.items()}
    cells = "  ".join(f"{n} {med[n]:9.1f} (p90 {p90[n]:9.1f})" for n in names)
    ratios = f"opt/plain {med['optimized'] / med['plain']:.3f}"
    if "torch" in med:
        ratios += (f"  plain/torch {med['plain'] / med['torch']:.3f}"
                   f"  opt/torch {med['optimized'] / med['torch']:.3f}")
    print(f"{wid} {WORKLOADS[wid].name:14s} {cells}  | {ratios}  | max|opt-plain| {diff:.2e}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="W3,W4", help="comma-separated workload ids")
    parser.add_argument("--repeats", type=int, default=31, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    minimod.set_num_threads(args.threads)
    try:
        import torch  # noqa: PLC0415  (optional: the reference runtime)

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"minimod {minimod.__version__}  isa {minimod._core.active_isa()}  threads "
          f"{minimod.get_num_threads()}  torch {getattr(torch, '__version__', 'absent')}  "
          f"(medians in us, {args.repeats} interleaved rounds)")
    for wid in args.only.split(","):
        bench(wid.strip(), torch, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
