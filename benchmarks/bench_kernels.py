"""GFLOP/s of minimod's GEMM and convolution kernels per ISA path, torch side by side.

    python benchmarks/bench_kernels.py                       # every case, every ISA, 1 and 2 threads
    python benchmarks/bench_kernels.py --only W5a,W5b --isa avx512 --threads 2 --repeat 50

Cases are the kernel-level workloads of shared/WORKLOADS.md (W5a GEMM, W5b/W5c/W5e convolutions)
plus the batch-1 GEMV of W1 and the ResNet-18 stem. Each timing is the median of --repeat calls
after --warmup calls, and both runtimes use the same thread count (torch.set_num_threads).

The %peak column is the kernel's GFLOP/s over the ISA path's multiply-add peak on this machine
(`_core._testing.fma_peak_gflops()`: registers-only FMA chains on one core, times the thread
count), so the same table reads right on any CPU or clock. The peak is probed again before every
row and the best probe so far is used: a probe that shared its core with another process reads
low, and the peak never changes.

Calls alternate in blocks of --block (minimod x block, torch x block, ...), not one by one.
Before each block the script waits until the process is idle (the bench's wait_for_quiet: torch's
OpenMP workers spin ~10 ms after a call, minimod's 3 ms) and then warms up for ~20 ms (warm_up),
so a block neither shares a CPU with the other runtime's spinning threads nor starts while the host
is still giving an idle vCPU back (minimod's 2-thread W5c once measured 0.86 ms call-by-call after
torch, 0.58 ms alone). The machine is shared: quote medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from minimod import _core
from minimod.bench.runner import wait_for_quiet, warm_up

ISAS = ["generic", "avx2", "avx512"]


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    flops: float
    make: Callable[[np.random.Generator], tuple[Callable[[], Any], Callable[[Any], Callable[[], Any]]]]


def _linear(m: int, n: int, k: int):
    def make(rng):
        x = rng.standard_normal((m, k)).astype(np.float32)
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)

        def torch_fn(torch):
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            return lambda: torch.nn.functional.linear(tx, tw, tb)

        return (lambda: _core.linear(x, w, b)), torch_fn

    return make


def _conv(cin: int, cout: int, k: int, size: int, stride: int = 1, pad: int = 0, groups: int = 1,
          bias: bool = False, path: str = "auto"):
    def make(rng):
        x = rng.standard_normal((1, cin, size, size)).astype(np.float32)
        w = (rng.standard_normal((cout, cin // groups, k, k)) / np.sqrt(cin // groups * k * k)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32) if bias else None
        s, p = [stride, stride], [pad, pad]

        def torch_fn(torch):
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)
            tb = None if b is None else torch.from_numpy(b)
            return lambda: torch.nn.functional.conv2d(tx, tw, tb, stride, pad, 1, groups)

        if path != "auto":  # a forced route, to compare paths on one shape in one run
            return (lambda: _core._testing.conv_nd(x, w, b, s, p, p, [1, 1], groups, path=path)), torch_fn
        return (lambda: _core.conv_nd(x, w, b, s, p, p, [1, 1], groups)), torch_fn

    return make


def _conv_flops(cin, cout, k, size, stride=1, pad=0, groups=1):
    out = (size + 2 * pad - k) // stride + 1
    return 2.0 * cout * out * out * (cin // groups) * k * k


CASES = [
    Case("W5a", "linear 256x1024 @ 1024x1024^T + b", 2.0 * 256 * 1024 * 1024, _linear(256, 1024, 1024)),
    Case("W1-fc1", "linear 1x784 @ 512x784^T + b (inner-product path)", 2.0 * 784 * 512, _linear(1, 512, 784)),
    Case("b16-fc1", "linear 16x784 @ 512x784^T + b (inner-product path)", 2.0 * 16 * 784 * 512,
         _linear(16, 512, 784)),
    Case("W2-fc3", "linear 64x512 @ 10x512^T + b (inner-product path, narrow N)", 2.0 * 64 * 512 * 10,
         _linear(64, 10, 512)),
    Case("W2-fc1", "linear 64x784 @ 512x784^T + b (broadcast-weight path; generic: packed)",
         2.0 * 64 * 784 * 512, _linear(64, 512, 784)),
    Case("W2-fc2", "linear 64x512 @ 512x512^T + b (broadcast-weight path; generic: packed)",
         2.0 * 64 * 512 * 512, _linear(64, 512, 512)),
    Case("W5b", "conv 64->64 3x3 p1 @ 56x56", _conv_flops(64, 64, 3, 56, pad=1), _conv(64, 64, 3, 56, pad=1)),
    Case("W5b-shift", "W5b through the shift GEMM path (its route before Winograd)",
         _conv_flops(64, 64, 3, 56, pad=1), _conv(64, 64, 3, 56, pad=1, path="shift_gemm")),
    Case("r18-l2", "conv 128->128 3x3 p1 @ 28x28 (ResNet-18 layer2)", _conv_flops(128, 128, 3, 28, pad=1),
         _conv(128, 128, 3, 28, pad=1)),
    Case("r18-l3", "conv 256->256 3x3 p1 @ 14x14 (ResNet-18 layer3)", _conv_flops(256, 256, 3, 14, pad=1),
         _conv(256, 256, 3, 14, pad=1)),
    Case("r18-l3-shift", "r18-l3 through the shift GEMM path", _conv_flops(256, 256, 3, 14, pad=1),
         _conv(256, 256, 3, 14, pad=1, path="shift_gemm")),
    Case("r18-l4", "conv 512->512 3x3 p1 @ 7x7 (ResNet-18 layer4, GEMM path)", _conv_flops(512, 512, 3, 7, pad=1),
         _conv(512, 512, 3, 7, pad=1)),
    Case("W5c", "conv 256->64 1x1 @ 56x56", _conv_flops(256, 64, 1, 56), _conv(256, 64, 1, 56)),
    Case("W5e", "conv dw 128 3x3 p1 @ 56x56 + b", _conv_flops(128, 128, 3, 56, pad=1, groups=128),
         _conv(128, 128, 3, 56, pad=1, groups=128, bias=True)),
    Case("stem", "conv 3->64 7x7 s2 p3 @ 224x224", _conv_flops(3, 64, 7, 224, 2, 3), _conv(3, 64, 7, 224, 2, 3)),
]


def _median_ms(fns: list[Callable[[], Any]], warmup: int, repeat: int, block: int) -> list[float]:
    times: list[list[float]] = [[] for _ in fns]
    done = 0
    while done < repeat:
        n = min(block, repeat - done)
        for i, f in enumerate(fns):  # alternating blocks: noise drifts hit every runtime alike
            wait_for_quiet()  # the other runtime's spinning workers go idle
            for _ in range(warmup if done == 0 else 1):
                f()
            warm_up(f)  # ~20 ms more: the host takes up to ~10 ms to give an idle vCPU back
            for _ in range(n):
                t0 = time.perf_counter()
                f()
                times[i].append(time.perf_counter() - t0)
        done += n
    return [statistics.median(t) * 1e3 for t in times]


def _probe_peak(peaks: dict[str, float], isa: str) -> float:
    """The best multiply-add peak of `isa` (the active path) seen so far, one core, GFLOP/s."""
    peaks[isa] = max(peaks.get(isa, 0.0), _core._testing.fma_peak_gflops())
    return peaks[isa]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated case ids (default: all)")
    ap.add_argument("--isa", default="", help="comma-separated ISA paths (default: all the CPU has)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--block", type=int, default=5, help="calls per runtime before switching")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)

    torch = None
    if not args.no_torch:
        try:
            import torch  # noqa: PLC0415
        except ImportError:
            torch = None
    available = ISAS[: ISAS.index(_core.detected_isa()) + 1]
    isas = [i for i in (args.isa.split(",") if args.isa else available) if i in available]
    cases = [c for c in CASES if not args.only or c.id in args.only.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    print(f"minimod kernels, detected ISA {_core.detected_isa()}; median of {args.repeat} calls "
          f"after {args.warmup} warm-up calls" + ("; torch " + torch.__version__ if torch else ""))
    before_isa, before_threads = _core.active_isa(), _core.get_num_threads()
    peaks: dict[str, float] = {}
    header = f"{'case':8} {'thr':>3} {'isa':8} {'ms':>9} {'GFLOP/s':>9} {'%peak':>6}"
    if torch:
        header += f" {'torch ms':>9} {'GFLOP/s':>9} {'torch/mm':>9}"
    print(header)
    try:
        for case in cases:
            mm_fn, torch_factory = case.make(np.random.default_rng(0))
            for t in threads:
                _core.set_num_threads(t)
                tfn = None
                if torch:
                    torch.set_num_threads(t)
                    tfn = torch_factory(torch)
                for isa in isas:
                    _core._set_active_isa(isa)
                    _probe_peak(peaks, isa)
                    fns = [mm_fn] + ([tfn] if tfn else [])
                    ms = _median_ms(fns, args.warmup, args.repeat, args.block)
                    peak = _probe_peak(peaks, isa)
                    gflops = case.flops / ms[0] / 1e6
                    line = (f"{case.id:8} {t:>3} {isa:8} {ms[0]:9.3f} {gflops:9.1f} "
                            f"{100 * gflops / (peak * t):6.1f}")
                    if tfn:
                        line += f" {ms[1]:9.3f} {case.flops / ms[1] / 1e6:9.1f} {ms[1] / ms[0]:9.2f}"
                    print(line, flush=True)
    finally:
        _core._set_active_isa(before_isa)
        _core.set_num_threads(before_threads)
    print("multiply-add peak per core (best probe): "
          + ", ".join(f"{i} {p:.1f} GFLOP/s" for i, p in peaks.items()))


if __name__ == "__main__":
    main()
