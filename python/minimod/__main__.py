"""``python -m minimod``: the command line (bench, info)."""

from __future__ import annotations

import argparse
import sys

import minimod


def _cmd_bench(args: argparse.Namespace) -> int:
    from minimod.bench import runner  # noqa: PLC0415  (keeps `import minimod` light)

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    env, results = runner.run(
        only=only, threads=args.threads, repeats=args.repeats, progress=not args.quiet
    )
    print(runner.format_table(env, results))
    if args.json:
        runner.write_json(args.json, env, results)
    if args.plot:
        runner.write_plot(args.plot, results)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from minimod import _core  # noqa: PLC0415

    print(f"minimod {minimod.__version__}")
    print(f"cpu features: best kernel path {_core.detected_isa()}")
    print(f"kernel path in use: {_core.active_isa()} (MINIMOD_ISA may lower it)")
    print(f"threads: {minimod.get_num_threads()} (from {_core.num_threads_source()})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minimod", description=minimod.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="run the fixed workloads, minimod beside PyTorch")
    bench.add_argument("--only", help="comma-separated workload ids, e.g. W1,W4")
    bench.add_argument("--threads", type=int, help="threads for both runtimes (default: all CPUs)")
    bench.add_argument("--repeats", type=int, default=30, help="timed samples per runtime (>= 30)")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument("--plot", metavar="PATH.png", help="also draw the ratios (needs matplotlib)")
    bench.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    bench.set_defaults(func=_cmd_bench)

    info = sub.add_parser("info", help="version, CPU features, kernel path and threads")
    info.set_defaults(func=_cmd_info)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
