// Linear's native forward, shared by Linear.forward's entry (linalg.cpp) and the fused
// Linear -> ReLU step of Sequential (conv_hotpath.cpp), so both take the same arguments natively
// and compute them the same way.
#pragma once

#include <pybind11/pybind11.h>

namespace minimod::bindings {

// True when linear(x, w, b) runs natively: x and w float32 arrays, w 2-D with w.shape[1] ==
// x.shape[-1], b None or a float32 vector of w.shape[0]. Anything else goes to F.linear.
bool linear_args_native(PyObject* x, PyObject* w, PyObject* b);

// y = x W^T + b (then ReLU): a new array. Raises (a C++ exception pybind11 translates) with the
// binding's messages; the GIL is released around the kernel when the work is large enough.
pybind11::object linear_native(PyObject* x, PyObject* w, PyObject* b, bool relu);

}  // namespace minimod::bindings
