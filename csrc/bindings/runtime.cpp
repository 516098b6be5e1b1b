// Runtime controls: thread count.
#include "bindings/bindings.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

#include <string>

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

  m.def("detected_isa", [] { return std::string(isa_name(detected_isa())); },
        "The best kernel path this CPU supports: 'generic', 'avx2' or 'avx512'.");
  m.def("active_isa", [] { return std::string(isa_name(active_isa())); },
        "The kernel path in use (MINIMOD_ISA may lower it).");
  m.def(
      "_set_active_isa",
      [](const std::string& name) {
        Isa isa;
        if (name == "generic") isa = Isa::Generic;
        else if (name == "avx2") isa = Isa::Avx2;
        else if (name == "avx512") isa = Isa::Avx512;
        else throw py::value_error("unknown ISA '" + name + "': expected generic, avx2 or avx512");
        if (!set_active_isa(isa)) throw py::value_error("this CPU does not support the " + name + " path");
      },
      py::arg("name"), "Tests and benchmarks: force a kernel path this CPU supports.");
}

}  // namespace minimod::bindings
