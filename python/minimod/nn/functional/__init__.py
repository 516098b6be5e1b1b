"""minimod.nn.functional: the stateless forms of the layers (``import minimod.nn.functional as F``).

Each function checks its arguments with torch's messages, then calls one native kernel with the
GIL released. Inputs are numpy arrays or tensor-likes; outputs are float32 numpy arrays in native
memory.
"""

from __future__ import annotations

from minimod.nn.functional._activation import *  # noqa: F403
from minimod.nn.functional._conv import *  # noqa: F403
from minimod.nn.functional._dropout import *  # noqa: F403
from minimod.nn.functional._flatten import *  # noqa: F403
from minimod.nn.functional._linear import *  # noqa: F403
from minimod.nn.functional._norm import *  # noqa: F403
from minimod.nn.functional._pooling import *  # noqa: F403
