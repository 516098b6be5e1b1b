"""Every layer of minimod.nn timed beside the same torch.nn layer: medians and ratios (a script, not a test).

    python benchmarks/bench_layers.py                  # all layers, markdown table
    python benchmarks/bench_layers.py --only Conv,BatchNorm --repeats 50 --threads 1

Both runtimes get the same weights (torch's initialisation copied into minimod; BatchNorm running
statistics randomised) and the same seeded float32 input. Calls alternate between the runtimes
round by round, so a noisy neighbour slows both alike; each sample times enough back-to-back calls
to last about 1 ms. Modules are in eval mode except the rows marked "train". ``ratio`` is
minimod's median over torch's (below 1: minimod faster). ``max|diff|`` is the largest absolute
difference of the two outputs, a check that both computed the same thing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

import minimod
import minimod.nn as mnn

# (label, constructor, input shape, train mode)
CASES: list[tuple[str, Callable[[Any], Any], tuple[int, ...], bool]] = [
    ("Linear(1024,1024) b256", lambda nn: nn.Linear(1024, 1024), (256, 1024), False),
    ("Linear(512,512) b1", lambda nn: nn.Linear(512, 512), (1, 512), False),
    ("Linear(16,16) b1", lambda nn: nn.Linear(16, 16), (1, 16), False),
    ("Conv1d(64,64,3,p=1)", lambda nn: nn.Conv1d(64, 64, 3, padding=1), (1, 64, 1024), False),
    ("Conv2d(3,64,7,s=2,p=3)", lambda nn: nn.Conv2d(3, 64, 7, 2, 3, bias=False), (1, 3, 224, 224), False),
    ("Conv2d(64,64,3,p=1)", lambda nn: nn.Conv2d(64, 64, 3, padding=1, bias=False), (1, 64, 56, 56), False),
    ("Conv2d(256,64,1)", lambda nn: nn.Conv2d(256, 64, 1, bias=False), (1, 256, 56, 56), False),
    ("Conv2d(128,128,3,g=128)", lambda nn: nn.Conv2d(128, 128, 3, padding=1, groups=128), (1, 128, 56, 56), False),
    ("Conv2d(64,64,3,p=1,reflect)", lambda nn: nn.Conv2d(64, 64, 3, padding=1, padding_mode="reflect"), (1, 64, 56, 56), False),
    ("Conv3d(16,16,3,p=1)", lambda nn: nn.Conv3d(16, 16, 3, padding=1), (1, 16, 16, 32, 32), False),
    ("BatchNorm1d(256)", lambda nn: nn.BatchNorm1d(256), (64, 256), False),
    ("BatchNorm2d(64)", lambda nn: nn.BatchNorm2d(64), (1, 64, 56, 56), False),
    ("BatchNorm2d(64) train", lambda nn: nn.BatchNorm2d(64), (8, 64, 28, 28), True),
    ("BatchNorm3d(16)", lambda nn: nn.BatchNorm3d(16), (1, 16, 16, 32, 32), False),
    ("ReLU", lambda nn: nn.ReLU(), (1, 64, 112, 112), False),
    ("ReLU6", lambda nn: nn.ReLU6(), (1, 64, 112, 112), False),
    ("LeakyReLU", lambda nn: nn.LeakyReLU(0.1), (1, 64, 112, 112), False),
    ("GELU", lambda nn: nn.GELU(), (1, 64, 112, 112), False),
    ("GELU(tanh)", lambda nn: nn.GELU("tanh"), (1, 64, 112, 112), False),
    ("SiLU", lambda nn: nn.SiLU(), (1, 64, 112, 112), False),
    ("Sigmoid", lambda nn: nn.Sigmoid(), (1, 64, 112, 112), False),
    ("Tanh", lambda nn: nn.Tanh(), (1, 64, 112, 112), False),
    ("Hardswish", lambda nn: nn.Hardswish(), (1, 64, 112, 112), False),
    ("Softmax(dim=-1)", lambda nn: nn.Softmax(dim=-1), (64, 1000), False),
    ("Softmax(dim=1) NCHW", lambda nn: nn.Softmax(dim=1), (4, 64, 28, 28), False),
    ("MaxPool1d(2)", lambda nn: nn.MaxPool1d(2), (1, 64, 4096), False),
    ("MaxPool2d(2)", lambda nn: nn.MaxPool2d(2), (1, 64, 112, 112), False),
    ("MaxPool2d(3,2,1)", lambda nn: nn.MaxPool2d(3, 2, 1), (1, 64, 112, 112), False),
    ("MaxPool2d(2) indices", lambda nn: nn.MaxPool2d(2, return_indices=True), (1, 64, 112, 112), False),
    ("AvgPool1d(2)", lambda nn: nn.AvgPool1d(2), (1, 64, 4096), False),
    ("AvgPool2d(2)", lambda nn: nn.AvgPool2d(2), (1, 64, 112, 112), False),
    ("AvgPool2d(3,1,1)", lambda nn: nn.AvgPool2d(3, 1, 1), (1, 64, 56, 56), False),
    ("AdaptiveAvgPool1d(8)", lambda nn: nn.AdaptiveAvgPool1d(8), (1, 64, 4096), False),
    ("AdaptiveAvgPool2d(1)", lambda nn: nn.AdaptiveAvgPool2d(1), (1, 512, 7, 7), False),
    ("AdaptiveAvgPool2d(7)", lambda nn: nn.AdaptiveAvgPool2d(7), (1, 64, 56, 56), False),
    ("Flatten", lambda nn: nn.Flatten(), (8, 64, 7, 7), False),
    ("Dropout eval", lambda nn: nn.Dropout(), (1, 64, 56, 56), False),
    ("Identity", lambda nn: nn.Identity(), (1, 16), False),
]

_SAMPLE_SECONDS = 1e-3


def _time(fn: Callable[[], Any], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def _pair(torch: Any, build: Callable, shape: tuple[int, ...], train: bool) -> tuple[Callable, Callable, Any, Any]:
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    torch.manual_seed(0)
    theirs = build(torch.nn)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    ours = build(mnn)
    ours.load_state_dict(theirs.state_dict())
    ours.train(train)
    theirs.train(train)
    tx = torch.from_numpy(x)

    def torch_call() -> Any:
        with torch.inference_mode():
            return theirs(tx)

    return (lambda: ours(x)), torch_call, ours, theirs


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


def bench(only: list[str] | None, repeats: int, warmup: int) -> list[dict]:
    import torch  # noqa: PLC0415 (the peer; required for this script)

    rows = []
    for label, build, shape, train in CASES:
        if only and not any(o.lower() in label.lower() for o in only):
            continue
        mm_call, torch_call, _, _ = _pair(torch, build, shape, train)
        calls = {"minimod": mm_call, "torch": torch_call}
        inner, samples = {}, {}
        for name, fn in calls.items():
            for _ in range(warmup):
                fn()
            inner[name] = max(1, min(5000, int(_SAMPLE_SECONDS / max(_time(fn, 1), 1e-7))))
            samples[name] = []
        for r in range(repeats):
            for name in (list(calls) if r % 2 == 0 else list(reversed(calls))):
                samples[name].append(_time(calls[name], inner[name]))
        mm_med, t_med = statistics.median(samples["minimod"]), statistics.median(samples["torch"])
        got = np.asarray(_first(mm_call()), np.float64)
        want = _first(torch_call()).numpy().astype(np.float64)
        rows.append({
            "layer": label, "input": "x".join(map(str, shape)),
            "minimod_us": mm_med * 1e6, "torch_us": t_med * 1e6, "ratio": mm_med / t_med,
            "max_abs_diff": float(np.max(np.abs(got - want))) if got.size else 0.0,
        })  # fmt: skip
        print(f"  {label:32s} {rows[-1]['ratio']:.2f}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated substrings of layer labels")
    parser.add_argument("--repeats", type=int, default=30, help="timed samples per runtime (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, help="threads for both runtimes (default: their own defaults)")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        print("bench_layers.py compares against torch; install torch==2.13.0", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
        minimod.set_num_threads(args.threads)
    rows = bench(args.only.split(",") if args.only else None, args.repeats, args.warmup)
    print(f"minimod {minimod.__version__} (threads {minimod.get_num_threads()}), torch {torch.__version__} "
          f"(threads {torch.get_num_threads()}); medians of {args.repeats} samples\n")  # fmt: skip
    print("| layer | input | minimod µs | torch µs | ratio | max abs diff |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['input']} | {r['minimod_us']:.1f} | {r['torch_us']:.1f} | {r['ratio']:.2f} | {r['max_abs_diff']:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
