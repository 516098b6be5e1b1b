"""Every distinct convolution of W3 (cnn-small-b1) and W4 (ResNet-18 b1), minimod vs torch (a script).

    python benchmarks/bench_conv_shapes.py                      # 1 and 2 threads, warm loops
    python benchmarks/bench_conv_shapes.py --threads 2 --cold   # one call after each idle pause
    python benchmarks/bench_conv_shapes.py --paths              # also every forced minimod path

Each row is one conv shape (with its count in the workload): the path minimod routes it to, the
median time per call of minimod's conv (through ``_core.conv_nd``, bias + the workload's ReLU
not fused: the plain conv) and of torch's ``F.conv2d``, useful GFLOP/s (2 * MACs of the real
outputs / time) and the ratio minimod / torch. ``weight`` is the share of the workload's total
minimod conv time the shape accounts for (time x count), so the rows to attack first are the ones
with a high ratio AND a high weight. Calls alternate between the runtimes round by round (a noisy
neighbour slows both alike), every sample after the process has gone idle (the bench's
``wait_for_quiet``: the other runtime's spinning threads have stopped); warm: ~20 ms of untimed
calls, then enough back-to-back calls to last ~1 ms; cold (--cold): one call right after the
pause, as a request arriving at an idle service sees.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import minimod
from minimod import _core
from minimod.bench.runner import wait_for_quiet, warm_up

T = _core._testing

# (workload, count, C_in, C_out, kernel, stride, padding, input H = W)
SHAPES = [
    ("W3", 1, 3, 32, 3, 1, 1, 32),
    ("W3", 1, 32, 64, 3, 1, 1, 16),
    ("W3", 1, 64, 128, 3, 1, 1, 8),
    ("W4", 1, 3, 64, 7, 2, 3, 224),
    ("W4", 4, 64, 64, 3, 1, 1, 56),
    ("W4", 1, 64, 128, 3, 2, 1, 56),
    ("W4", 1, 64, 128, 1, 2, 0, 56),
    ("W4", 3, 128, 128, 3, 1, 1, 28),
    ("W4", 1, 128, 256, 3, 2, 1, 28),
    ("W4", 1, 128, 256, 1, 2, 0, 28),
    ("W4", 3, 256, 256, 3, 1, 1, 14),
    ("W4", 1, 256, 512, 3, 2, 1, 14),
    ("W4", 1, 256, 512, 1, 2, 0, 14),
    ("W4", 3, 512, 512, 3, 1, 1, 7),
]

PATHS = ["shift_gemm", "shift_gemm_columns", "shift_gemm_pixel_rows", "im2col_gemm", "winograd"]
# Column headings (11 characters): the two shift orientations share their first 11.
LABELS = {"shift_gemm_columns": "shift cols", "shift_gemm_pixel_rows": "shift prows"}


# Before every sample: the peer's OpenMP workers spin for a while after each call (~10 ms for
# torch on the 2-core VM), and a sample started while they still hold the cores measures the
# contention, not the kernel (minimod's 2-thread 64->128 s2 conv: ~1.4 ms right after torch,
# ~0.55 ms alone); wait_for_quiet waits until they stop. Warm samples then make ~20 ms of untimed
# calls (warm_up: the host takes up to ~10 ms to give an idle vCPU back), so the pause leaves them
# warm.


def _median_us(fn, cold: bool, repeats: int, per_sample: int) -> float:
    samples = []
    for _ in range(repeats):
        wait_for_quiet()
        if not cold:
            warm_up(fn)
        t0 = time.perf_counter()
        for _ in range(per_sample):
            fn()
        samples.append((time.perf_counter() - t0) / per_sample * 1e6)
    return statistics.median(samples)


def _interleaved(fns: list, cold: bool, repeats: int) -> list[float]:
    for f in fns:  # warm-up, and an estimate of how many calls make ~1 ms
        for _ in range(3):
            f()
    per = []
    for f in fns:
        t0 = time.perf_counter()
        f()
        dt = time.perf_counter() - t0
        per.append(1 if cold else max(1, int(1e-3 / max(dt, 1e-7))))
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            samples[i].append(_median_us(f, cold, 1, per[i]))
    return [statistics.median(s) for s in samples]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--cold", action="store_true", help="time one call right after each idle pause")
    ap.add_argument("--paths", action="store_true", help="also time every forced minimod path")
    ap.add_argument("--only", default="", help="comma-separated workload ids (W3,W4)")
    args = ap.parse_args()

    import torch  # noqa: PLC0415  (the peer; a benchmark script, not a dependency)
    import torch.nn.functional as TF  # noqa: PLC0415

    rng = np.random.default_rng(0)
    only = set(filter(None, args.only.split(",")))
    shapes = [s for s in SHAPES if not only or s[0] in only]
    for threads in args.threads:
        minimod.set_num_threads(threads)
        torch.set_num_threads(threads)
        print(f"\n## {threads} thread(s), {'cold (call after idle)' if args.cold else 'warm loop'}, "
              f"isa {T.gemm_config()['isa']}")
        head = f"{'wl':3} {'n':>2} {'conv':32} {'path':12} {'mm us':>8} {'torch us':>9} " \
               f"{'mm GF/s':>8} {'th GF/s':>8} {'ratio':>6} {'weight':>6}"
        if args.paths:
            head += "".join(f" {LABELS.get(p, p)[:11]:>11}" for p in PATHS)
        print(head)
        rows = []
        for wl, count, cin, cout, k, s, pad, hw in shapes:
            x = rng.uniform(-1, 1, (1, cin, hw, hw)).astype(np.float32)
            w = (rng.uniform(-1, 1, (cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
            b = rng.uniform(-1, 1, cout).astype(np.float32)
            xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            geo = ([s, s], [pad, pad], [pad, pad], [1, 1], 1)
            path = T.conv_path(x, w, *geo)
            mm = lambda: _core.conv_nd(x, w, b, *geo)  # noqa: E731
            th = lambda: TF.conv2d(xt, wt, bt, s, pad)  # noqa: E731
            fns = [mm, th]
            extra = []
            if args.paths:
                for p in PATHS:
                    try:
                        T.conv_nd(x, w, b, *geo, path=p)
                    except ValueError:
                        extra.append(None)
                        continue
                    extra.append(len(fns))
                    fns.append(lambda p=p: T.conv_nd(x, w, b, *geo, path=p))
            with torch.inference_mode():
                times = _interleaved(fns, args.cold, args.repeats)
            out = (hw + 2 * pad - k) // s + 1
            flops = 2.0 * cout * cin * k * k * out * out
            rows.append((wl, count, f"{cin}->{cout} k{k} s{s} p{pad} @{hw}", path, times, flops, extra))
        total = {wl: sum(r[4][0] * r[1] for r in rows if r[0] == wl) for wl in {r[0] for r in rows}}
        for wl, count, name, path, times, flops, extra in rows:
            mm_us, th_us = times[0], times[1]
            line = (f"{wl:3} {count:>2} {name:32} {path:12} {mm_us:8.1f} {th_us:9.1f} "
                    f"{flops / mm_us / 1e3:8.1f} {flops / th_us / 1e3:8.1f} {mm_us / th_us:6.2f} "
                    f"{mm_us * count / total[wl]:6.2f}")
            if args.paths:
                line += "".join(f" {'-':>11}" if i is None else f" {times[i]:11.1f}" for i in extra)
            print(line)
        for wl in sorted(total):
            th_total = sum(r[4][1] * r[1] for r in rows if r[0] == wl)
            print(f"{wl} conv total: minimod {total[wl]:.0f} us, torch {th_total:.0f} us, "
                  f"ratio {total[wl] / th_total:.2f}")


if __name__ == "__main__":
    main()
