"""``python -m minimod``: the command line (bench, info, convert)."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import minimod


def _cmd_bench(args: argparse.Namespace) -> int:
    from minimod.bench import runner  # noqa: PLC0415  (keeps `import minimod` light)

    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    if args.plot:
        runner.import_pyplot()  # fail before minutes of benchmarking, not after
    try:
        env, results = runner.run(
            only=only,
            threads=args.threads,
            repeats=args.repeats,
            warmup=args.warmup,
            progress=not args.quiet,
            use_torch=not args.no_torch,
            use_ort=not args.no_ort,
        )
    except ValueError as exc:
        print(f"python -m minimod bench: error: {exc}", file=sys.stderr)
        return 2
    print(runner.format_table(env, results))
    if args.json:
        runner.write_json(args.json, env, results)
    if args.plot:
        runner.write_plot(args.plot, results)
    return 0


# The CPU flags that decide minimod's kernel paths, as the OS names them (Linux /proc/cpuinfo).
_KERNEL_FLAGS = (
    "sse2",
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
)


def cpu_flags() -> list[str] | None:
    """The kernel-relevant CPU flags the OS reports, or None where we cannot ask it cheaply.

    Informational only: the kernel path itself comes from minimod's own CPUID/XGETBV check.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in _KERNEL_FLAGS if flag in present]
    except OSError:
        pass
    return None


_THREAD_SOURCES = {
    "set_num_threads": "set_num_threads()",
    "MINIMOD_NUM_THREADS": "env var MINIMOD_NUM_THREADS",
    "OMP_NUM_THREADS": "env var OMP_NUM_THREADS",
    "cpus available": "default: the CPUs this process may use",
}


def _cmd_info(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415
    import platform  # noqa: PLC0415

    from minimod import _core  # noqa: PLC0415

    if args.threads is not None:
        minimod.set_num_threads(args.threads)
    source = _core.num_threads_source()
    where = _THREAD_SOURCES.get(source, source)
    if args.threads is not None:
        where = "argument --threads"
    flags = cpu_flags()
    forced = os.environ.get("MINIMOD_ISA")
    print(
        f"minimod {minimod.__version__} "
        f"(numpy {np.__version__}, python {platform.python_version()})"
    )
    print(f"cpu: {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cpu features: {' '.join(flags) if flags is not None else 'not reported by this OS'}")
    print(f"best kernel path for this cpu: {_core.detected_isa()}")
    chosen = "MINIMOD_ISA=" + forced if forced else "the best this cpu supports"
    print(f"kernel path in use: {_core.active_isa()} ({chosen})")
    print(f"threads: {minimod.get_num_threads()} ({where})")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from minimod.serialization import CheckpointError  # noqa: PLC0415

    try:
        state_dict = minimod.load(args.input, key=args.key)
        minimod.save(state_dict, args.output)
    except (CheckpointError, OSError, TypeError) as exc:
        print(f"python -m minimod convert: error: {exc}", file=sys.stderr)
        return 1
    nbytes = sum(v.nbytes for v in state_dict.values())
    print(f"wrote {len(state_dict)} tensors ({nbytes / 2**20:.1f} MiB) to {args.output}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a positive integer, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minimod", description=minimod.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="run the fixed workloads, minimod beside PyTorch")
    bench.add_argument("--only", help="comma-separated workload ids, e.g. W1,W4")
    bench.add_argument(
        "--threads",
        type=_positive_int,
        help="threads for every runtime: minimod, torch and ORT (default: minimod's choice, "
        "see `python -m minimod info`)",
    )
    bench.add_argument(
        "--repeats",
        type=_positive_int,
        default=30,
        help="timed samples per runtime (default 30; quote medians of >= 30)",
    )
    bench.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument(
        "--plot", metavar="PATH.png", help="also draw the ratios (needs matplotlib: minimod[plot])"
    )
    bench.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    bench.add_argument(
        "--no-torch", action="store_true", help="minimod only, even if torch imports"
    )
    bench.add_argument(
        "--no-ort", action="store_true", help="no ONNX Runtime column, even if onnxruntime imports"
    )
    bench.set_defaults(func=_cmd_bench)

    info = sub.add_parser("info", help="version, CPU features, kernel path and threads")
    info.add_argument(
        "--threads",
        type=_positive_int,
        help="show the result of set_num_threads(N) (as bench does)",
    )
    info.set_defaults(func=_cmd_info)

    convert = sub.add_parser(
        "convert",
        help="convert a torch.save checkpoint to safetensors (torch-free reader)",
        description="Reads IN (a torch.save .pt/.pth checkpoint or a safetensors file) without "
        "torch and writes its state_dict to OUT as safetensors (float16/bfloat16 become float32).",
    )
    convert.add_argument("input", metavar="IN.pt", help="torch.save checkpoint to read")
    convert.add_argument("output", metavar="OUT.safetensors", help="safetensors file to write")
    convert.add_argument(
        "--key", help="entry of a nested checkpoint holding the state_dict, e.g. state_dict"
    )
    convert.set_defaults(func=_cmd_convert)

    args = parser.parse_args(argv)
    return args.func(args)


def _run_from_shell() -> int:
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`python -m minimod info | head -1`): that is not an error worth a
        # traceback. Point stdout at devnull so the interpreter's final flush stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell tool killed by the closed pipe would return


if __name__ == "__main__":
    sys.exit(_run_from_shell())
