"""The W1-W6 workloads of shared/WORKLOADS.md, minimod beside PyTorch (same as `python -m minimod bench`).

    python benchmarks/bench_workloads.py --only W1,W4 --threads 2 --json out.json
"""

from __future__ import annotations

import sys

from minimod.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
