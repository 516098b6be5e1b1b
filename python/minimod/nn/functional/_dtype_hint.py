"""The fix for a wrong input dtype, attached to torch's own dtype-mismatch error.

Linear and Conv raise torch's exact RuntimeError text for a float64/float16/int/bool input (code
that matches on it keeps working), and that text names the dtype but not what to do. minimod only
computes in float32, so the error carries the fix as a PEP 678 note: ``str(err)`` stays torch's
message and a traceback prints the note under it. Python < 3.11 has no notes; there the message is
torch's alone.
"""

from __future__ import annotations

import numpy as np


def float32_input_error(message: str, input_dtype: np.dtype) -> RuntimeError:
    err = RuntimeError(message)
    if hasattr(err, "add_note"):
        err.add_note(
            f"minimod computes in float32 only, and the input is {np.dtype(input_dtype).name}: "
            "convert it with x.astype(np.float32) (module.double()/.half() are not supported)"
        )
    return err
