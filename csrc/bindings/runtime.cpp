// Runtime controls: thread count.
#include "bindings/bindings.h"
#include "runtime/cpu_features.h"
#include "runtime/cpu_quota.h"
#include "runtime/parallel.h"

#include <cstdint>
#include <new>
#include <string>
#include <vector>

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

  m.def("num_threads_source", &num_threads_source,
        "Where the thread count came from: set_num_threads, MINIMOD_NUM_THREADS, OMP_NUM_THREADS or "
        "cpus available.");
  m.def("_cgroup_cpu_limit", &cgroup_cpu_limit, py::arg("root"),
        "The CPU limit of the cgroup quota under the filesystem root `root` (tests), 0 if none.");
  m.def("_pool_size", &pool_size, "Worker threads currently running (tests).");
  m.def("set_flush_denormal", &set_flush_denormal, py::arg("on"),
        "Flush denormals to zero inside minimod kernels only; the caller's FP mode is untouched.");
  m.def("get_flush_denormal", &get_flush_denormal);
  m.def(
      "_parallel_sum_test",
      [](std::int64_t n, std::int64_t grain) {
        // Exercises the pool from Python tests: each chunk writes its own slots.
        std::vector<std::int64_t> out(static_cast<std::size_t>(n), 0);
        {
          py::gil_scoped_release release;
          parallel_for(n, grain, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) out[static_cast<std::size_t>(i)] = i * i;
          });
        }
        std::int64_t total = 0;
        for (auto v : out) total += v;
        return total;
      },
      py::arg("n"), py::arg("grain"));
  m.def(
      "_parallel_fail_test",
      [](std::int64_t n, std::int64_t grain, std::int64_t failing_item, bool propagate) {
        // A chunk that runs out of memory. parallel_for must finish the other chunks, then rethrow
        // in the caller: with propagate=True the std::bad_alloc reaches Python (a MemoryError);
        // otherwise it is caught here and the number of items the other chunks wrote is returned.
        std::vector<char> ran(static_cast<std::size_t>(n), 0);  // each item written by one chunk
        auto run = [&] {
          py::gil_scoped_release release;
          parallel_for(n, grain, [&](std::int64_t b, std::int64_t e) {
            if (b <= failing_item && failing_item < e) throw std::bad_alloc();
            for (std::int64_t i = b; i < e; ++i) ran[static_cast<std::size_t>(i)] = 1;
          });
        };
        if (propagate) {
          run();
          return std::int64_t{-1};
        }
        try {
          run();
        } catch (const std::bad_alloc&) {
          std::int64_t done = 0;
          for (char r : ran) done += r;
          return done;
        }
        return std::int64_t{-1};  // nothing failed
      },
      py::arg("n"), py::arg("grain"), py::arg("failing_item"), py::arg("propagate"));
  m.def("_denormal_probe", [] {
    // A denormal product computed inside minimod's kernel context: 0 when flush-to-zero is on.
    float result = 0.0f;
    parallel_for(1, 1, [&](std::int64_t, std::int64_t) {
      volatile float tiny = 1e-39f;
      volatile float one = 1.0f;
      result = tiny * one;
    });
    return result;
  });
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
