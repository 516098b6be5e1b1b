"""threadpoolctl support: ``threadpool_limits(1)`` caps minimod's thread pool too.

threadpoolctl is not a dependency of minimod, and importing it costs time, so nothing here imports
it. ``install()`` (run when minimod is imported) registers the controller at once if threadpoolctl
is already imported, and otherwise adds a post-import hook to ``sys.meta_path`` that registers it
right after the first ``import threadpoolctl`` anywhere in the process.

How threadpoolctl finds us: it walks the shared libraries loaded in the process and matches each
file name against the controllers' ``filename_prefixes``. Our extension is
``minimod/_core.cpython-*.so``, and ``_core.`` is a common name for extension modules, so the prefix
alone could match another package's library. The controller therefore also lists
``check_symbols``: threadpoolctl keeps a matched library only if it exports one of them, and only
minimod's extension exports ``minimod_threadpool_get_num_threads`` (csrc/runtime/threadpool_c_api.cpp).
The controller calls those two C functions, so it works on exactly the library it matched.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from typing import Any

_MODULE = "threadpoolctl"
_registered = False


def _make_controller_class(threadpoolctl: Any) -> type:
    from minimod._version import __version__

    class MinimodController(threadpoolctl.LibController):
        """Reads and sets minimod's thread count (the same as minimod.set_num_threads)."""

        user_api = "minimod"
        internal_api = "minimod"
        filename_prefixes = ("_core.",)
        check_symbols = ("minimod_threadpool_get_num_threads", "minimod_threadpool_set_num_threads")

        def get_num_threads(self) -> int:
            return int(self.dynlib.minimod_threadpool_get_num_threads())

        def set_num_threads(self, num_threads: int) -> None:
            self.dynlib.minimod_threadpool_set_num_threads(int(num_threads))

        def get_version(self) -> str:
            return __version__

    return MinimodController


def register(threadpoolctl: Any) -> bool:
    """Registers minimod's controller with an imported threadpoolctl (once); False if too old."""
    global _registered
    if _registered:
        return True
    if not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return False  # threadpoolctl < 3.5 has no public way to add a controller
    threadpoolctl.register(_make_controller_class(threadpoolctl))
    _registered = True
    return True


class _RegisterAfterExec(importlib.abc.Loader):
    """Wraps threadpoolctl's own loader: runs the module, then registers our controller."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        register(module)


class _PostImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when threadpoolctl is imported, wraps its loader, then leaves."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _MODULE:
            return None
        _uninstall_hook()  # one shot, and lets the real finders run below without recursion
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisterAfterExec(spec.loader)
        return spec


def _uninstall_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PostImportHook)]


def install() -> None:
    """Registers now if threadpoolctl is imported, else when it first is. Never imports it."""
    module = sys.modules.get(_MODULE)
    if module is not None:
        register(module)
    elif not any(isinstance(f, _PostImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportHook())
