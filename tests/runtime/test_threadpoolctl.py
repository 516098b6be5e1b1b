"""threadpoolctl can see and cap minimod's thread pool, whichever is imported first.

Each case runs in a fresh interpreter: import order is the point (minimod registers its controller
at import if threadpoolctl is loaded, else right after threadpoolctl's first import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("threadpoolctl")

_PROBE = """
import json, threadpoolctl
import minimod
def ours():
    return [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "minimod"]
info = ours()
outer = minimod.get_num_threads()
with threadpoolctl.threadpool_limits(limits=1):
    inside = minimod.get_num_threads()
    inside_info = [i["num_threads"] for i in ours()]
with threadpoolctl.threadpool_limits(limits=1, user_api="minimod"):
    by_api = minimod.get_num_threads()
after = minimod.get_num_threads()
print(json.dumps({"info": info, "outer": outer, "inside": inside, "inside_info": inside_info,
                  "by_api": by_api, "after": after}))
"""


def _run(code: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MINIMOD_NUM_THREADS", "OMP_NUM_THREADS")}
    env["MINIMOD_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", ["minimod first", "threadpoolctl first"])
def test_threadpool_limits_caps_minimod(order):
    code = _PROBE if order == "threadpoolctl first" else "import minimod\n" + _PROBE
    r = _run(code)
    assert len(r["info"]) == 1, r["info"]  # exactly one library matched: ours
    lib = r["info"][0]
    assert lib["user_api"] == "minimod" and lib["num_threads"] == 2
    assert os.path.basename(lib["filepath"]).startswith("_core.")
    assert os.path.basename(os.path.dirname(lib["filepath"])) == "minimod"
    assert r["outer"] == 2 and r["inside"] == 1 and r["inside_info"] == [1] and r["by_api"] == 1
    assert r["after"] == 2  # restored on exit


def test_importing_minimod_does_not_import_threadpoolctl():
    out = subprocess.run([sys.executable, "-c", "import sys, minimod; print('threadpoolctl' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_library_with_our_file_name_but_not_our_symbols_is_not_taken(tmp_path):
    # Another package's extension called _core.*.so (a common name) must not be mistaken for
    # minimod: threadpoolctl keeps a match only if it exports our C entry points.
    cc = "cc"
    src = tmp_path / "other.c"
    src.write_text("int some_function(void) { return 3; }\n")
    lib = tmp_path / "_core.cpython-other.so"
    try:
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True)
    except (FileNotFoundError, subprocess.CalledProcessError):
        pytest.skip("no C compiler")
    code = f"import ctypes; ctypes.CDLL({str(lib)!r})\n" + _PROBE
    r = _run(code)
    assert [os.path.basename(os.path.dirname(i["filepath"])) for i in r["info"]] == ["minimod"]
