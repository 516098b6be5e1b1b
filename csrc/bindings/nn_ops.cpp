#include "bindings/bindings.h"

namespace py = pybind11;

namespace minimod::bindings {

void init_nn_ops(py::module_& m) {}

}  // namespace minimod::bindings
