// Runtime controls: thread count.
#include "bindings/bindings.h"
#include "runtime/parallel.h"

namespace py = pybind11;

namespace minimod::bindings {

void init_runtime(py::module_& m) {
  m.def("get_num_threads", &get_num_threads, "The number of threads minimod kernels may use.");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw py::value_error("set_num_threads expects a positive integer, got " + std::to_string(n));
        set_num_threads(n);
      },
      py::arg("n"), "Sets the number of threads minimod kernels may use (n >= 1).");
}

}  // namespace minimod::bindings
