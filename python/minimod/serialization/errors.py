"""The exceptions a checkpoint that cannot be read raises.

Every failure of ``minimod.load`` to understand a file is a ``CheckpointError`` (a ValueError: the
file's content, not the call, is wrong). A pickle that asks for anything beyond what a tensor
state_dict needs is an ``UnsafeCheckpointError``, which is also a ``pickle.UnpicklingError`` so code
written against ``torch.load(weights_only=True)``'s refusals catches it too. A missing file stays
the ``FileNotFoundError`` that opening it raised.
"""

from __future__ import annotations

import pickle


class CheckpointError(ValueError):
    """A checkpoint file minimod cannot read: wrong format, corrupted, or not a state_dict."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A pickle asked for a global or construct minimod refuses to run; nothing was executed."""
