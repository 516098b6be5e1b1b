// Each binding file registers one area of the _core module. module.cpp is the table of contents.
#pragma once

#include <pybind11/pybind11.h>

namespace minimod::bindings {

void init_storage(pybind11::module_& m);
void init_registry(pybind11::module_& m);
void init_module_hotpath(pybind11::module_& m);  // Module.__call__, getattr (module_hotpath.cpp)
void init_runtime(pybind11::module_& m);  // threads, CPU features (runtime.cpp)
void init_linalg(pybind11::module_& m);   // linear, conv (linalg.cpp)
void init_nn_ops(pybind11::module_& m);   // batch_norm, activations, pooling (nn_ops.cpp)
void init_conv_hotpath(pybind11::module_& m);  // lean conv / BN forwards, fused runs (conv_hotpath.cpp)

}  // namespace minimod::bindings
