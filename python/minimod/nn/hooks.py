"""RemovableHandle: what every hook registration returns (torch ``torch/utils/hooks.py``).

A handle remembers its hook's id and a weak reference to the registry holding it, so keeping a
handle never keeps a module alive, and ``remove()`` after the module died is a no-op.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from minimod import _core

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """A handle that removes one hook: ``handle.remove()`` or ``with module.register_...(h):``.

    ``hooks_dict`` is the registry holding the hook; ``extra_dict`` is one registry or a list of
    registries (the with_kwargs / always_call sets) from which the id is also removed.
    """

    id: int
    # One counter for every hook kind, every module and the global hooks, so ids never collide:
    # the with_kwargs and always_call sets are keyed by id alone.
    next_id: int = 0

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1

        self.extra_dict_ref: tuple = ()
        if isinstance(extra_dict, (Mapping, _core.Registry)):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self) -> None:
        """Remove the hook (and its id from the extra dicts). Calling it again does nothing."""
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]
        for ref in self.extra_dict_ref:
            extra_dict = ref()
            if extra_dict is not None and self.id in extra_dict:
                del extra_dict[self.id]

    def __getstate__(self) -> tuple:
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state: tuple) -> None:
        if state[0] is None:
            # The registry was gone when pickled: a dead reference makes remove() a no-op.
            self.hooks_dict_ref = weakref.ref(_core.Registry())
        else:
            self.hooks_dict_ref = weakref.ref(state[0])
        self.id = state[1]
        # A handle unpickled into a fresh process must not be handed out again.
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        if len(state) < 3 or state[2] is None:
            self.extra_dict_ref = ()
        else:
            self.extra_dict_ref = tuple(weakref.ref(d) for d in state[2] if d is not None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, type: Any, value: Any, tb: Any) -> None:  # noqa: A002
        self.remove()
