#include "bindings/bindings.h"

namespace py = pybind11;

namespace minimod::bindings {

void init_linalg(py::module_& m) {}

}  // namespace minimod::bindings
