"""Winograd vs the GEMM conv paths on ResNet-18's 3x3 stride-1 shapes, cold-cache like the bench.

    .venv/bin/python benchmarks/bench_winograd.py [--threads 1,2] [--repeats 41] [--paths ...]
    
``--paths`` takes forced minimod conv paths and ``torch`` (F.conv2d, with torch's thread count
set to the same number), so ``--paths winograd,torch`` gives the minimod / torch ratio.

Each sample follows a 5 ms sleep (as `python -m minimod bench` does), so L1/L2 start cold; the
paths are interleaved sample by sample and the medians printed in microseconds, with GFLOP/s of
the direct convolution's 2*K*C*9*H*W multiply-adds and the ratio to the first path.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from minimod import _core

T = _core._testing

SHAPES = {  # name: (n, channels, size)
    "W5b/layer1": (1, 64, 56),
    "layer2": (1, 128, 28),
    "layer3": (1, 256, 14),
    "layer4": (1, 512, 7),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=41)
    ap.add_argument("--paths", default="winograd,shift_gemm")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--pause", type=float, default=5e-3)
    args = ap.parse_args()
    paths = args.paths.split(",")
    torch = None
    if "torch" in paths:
        import torch
        import torch.nn.functional as F
    rng = np.random.default_rng(0)
    for threads in [int(t) for t in args.threads.split(",")]:
        _core.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        print(f"threads {threads}  isa {_core.active_isa() if hasattr(_core, 'active_isa') else '?'}")
        for name in args.shapes.split(","):
            n, c, s = SHAPES[name]
            x = rng.standard_normal((n, c, s, s)).astype(np.float32)
            w = (rng.standard_normal((c, c, 3, 3)) * 0.05).astype(np.float32)
            flops = 2.0 * n * c * c * 9 * s * s
            times: dict[str, list[float]] = {p: [] for p in paths}
            calls = {}
            for p in paths:
                if p == "torch":
                    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
                    calls[p] = lambda xt=xt, wt=wt: F.conv2d(xt, wt, None, 1, 1)
                else:
                    calls[p] = lambda p=p: T.conv_nd(
                        x, w, None, [1, 1], [1, 1], [1, 1], [1, 1], 1, path=p
                    )
            for p in paths:  # warm up
                for _ in range(3):
                    calls[p]()
            for _ in range(args.repeats):
                for p in paths:
                    time.sleep(args.pause)
                    t0 = time.perf_counter()
                    calls[p]()
                    times[p].append(time.perf_counter() - t0)
            base = statistics.median(times[paths[0]])
            cells = []
            for p in paths:
                med = statistics.median(times[p])
                best = min(times[p])
                cells.append(
                    f"{p} {med * 1e6:8.1f} us (best {best * 1e6:7.1f}) "
                    f"{flops / med / 1e9:6.1f} GF/s x{med / base:.2f}"
                )
            print(f"  {name:11s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
