"""Module call overhead: minimod.nn.Module vs torch.nn.Module, side by side in one process.

    python benchmarks/bench_module_overhead.py [--samples 41] [--calls 2000]

Each case times a do-nothing module (``forward(self, x): return x``), so what is measured is the
cost of ``Module.__call__`` itself: the hook checks and the dispatch to ``forward``. Rows:

- ``forward``: ``m.forward(x)`` called directly (the floor);
- ``call``: ``m(x)`` with no hooks anywhere (the fast path);
- ``call+2 hooks``: one forward pre-hook and one forward hook returning None (W6b's hooks);
- ``call, global hook``: one global forward hook registered (every module takes the slow path);
- ``tree of 10``: a parent calling 10 children, per child call.

Samples of ``--calls`` back-to-back calls alternate between minimod and torch, so a noisy
neighbour slows both alike; the table gives the median ns per call and the overhead over the
same runtime's direct ``forward`` call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import numpy as np

import minimod.nn as mnn
from minimod.nn import module as mm_module


def _noop_hook(*_args: Any) -> None:
    return None


def build(nn: Any) -> dict[str, Any]:
    class Nothing(nn.Module):
        def forward(self, x):
            return x

    class Tree(nn.Module):
        def __init__(self):
            super().__init__()
            self.kids = [Nothing() for _ in range(10)]
            for i, k in enumerate(self.kids):
                self.add_module(str(i), k)

        def forward(self, x):
            for k in self.kids:
                x = k(x)
            return x

    plain = Nothing()
    hooked = Nothing()
    hooked.register_forward_pre_hook(_noop_hook)
    hooked.register_forward_hook(_noop_hook)
    return {"plain": plain, "hooked": hooked, "tree": Tree()}


def time_call(fn: Callable[[], Any], calls: int) -> float:
    """ns per call for one sample of `calls` back-to-back calls."""
    loop = range(calls)
    t0 = time.perf_counter_ns()
    for _ in loop:
        fn()
    return (time.perf_counter_ns() - t0) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=41)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()

    try:
        import torch
        import torch.nn.modules.module as torch_module
    except ImportError:
        torch = None

    x = np.zeros((1, 16), np.float32)
    runtimes: dict[str, tuple[dict[str, Any], Any, Any]] = {
        "minimod": (build(mnn), x, mm_module.register_module_forward_hook)
    }
    if torch is not None:
        runtimes["torch"] = (build(torch.nn), torch.from_numpy(x), torch_module.register_module_forward_hook)

    def cases(models: dict[str, Any], inp: Any) -> dict[str, Callable[[], Any]]:
        plain, hooked, tree = models["plain"], models["hooked"], models["tree"]
        return {
            "forward": lambda: plain.forward(inp),
            "call": lambda: plain(inp),
            "call+2 hooks": lambda: hooked(inp),
            "tree of 10 (per child)": lambda: tree(inp),
        }

    results: dict[str, dict[str, list[float]]] = {rt: {} for rt in runtimes}
    for rt, (models, inp, _) in runtimes.items():
        for name, fn in cases(models, inp).items():
            for _ in range(200):  # warm-up (and specialisation of the bytecode)
                fn()
            results[rt][name] = []
    for _ in range(args.samples):
        for rt, (models, inp, _) in runtimes.items():
            for name, fn in cases(models, inp).items():
                calls = args.calls // 10 if name.startswith("tree") else args.calls
                ns = time_call(fn, calls)
                results[rt][name].append(ns / 10 if name.startswith("tree") else ns)

    # A global hook makes every module take the hooked path: measured separately, per runtime.
    for rt, (models, inp, register_global) in runtimes.items():
        handle = register_global(_noop_hook)
        try:
            fn = lambda: models["plain"](inp)  # noqa: E731
            results[rt]["call, global hook"] = [time_call(fn, args.calls) for _ in range(args.samples)]
        finally:
            handle.remove()

    names = list(next(iter(results.values())))
    header = f"{'case':<24}" + "".join(f"{rt + ' ns':>14}{rt + ' +ns':>14}" for rt in runtimes)
    print(f"median of {args.samples} samples x {args.calls} calls; +ns = over that runtime's forward()")
    print(header)
    for name in names:
        row = f"{name:<24}"
        for rt in runtimes:
            med = statistics.median(results[rt][name])
            base = statistics.median(results[rt]["forward"])
            row += f"{med:>14.0f}{med - base:>14.0f}"
        print(row)


if __name__ == "__main__":
    main()
