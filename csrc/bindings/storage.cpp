// Storage <-> numpy. A Storage exports itself through the buffer protocol, and `empty()` returns a
// numpy array whose `.base` is the Storage, so numpy holds the reference that keeps it alive.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "bindings/bindings.h"
#include "core/storage.h"

namespace py = pybind11;

namespace minimod::bindings {

namespace {

DType dtype_from_name(const std::string& name) {
  DType dt;
  if (!parse_dtype(name, &dt)) {
    throw py::type_error("minimod storage cannot hold dtype " + name +
                         "; supported: bool, int8, uint8, int16, int32, int64, float16, float32, "
                         "float64");
  }
  return dt;
}

std::vector<py::ssize_t> c_strides(const Storage& s) {
  const auto& shape = s.shape();
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t step = static_cast<py::ssize_t>(dtype_info(s.dtype()).itemsize);
  if (s.numel() == 0) {
    // An empty array may have any strides; the running product below could overflow for a
    // shape like (0, 2**63 - 1) (found by the UBSan fuzz run), so give every axis the itemsize.
    std::fill(strides.begin(), strides.end(), step);
    return strides;
  }
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= static_cast<py::ssize_t>(shape[i] > 0 ? shape[i] : 1);
  }
  return strides;
}

}  // namespace

py::array storage_as_array(const std::shared_ptr<Storage>& storage) {
  py::object owner = py::cast(storage);
  py::dtype dt(dtype_info(storage->dtype()).name);
  std::vector<py::ssize_t> shape(storage->shape().begin(), storage->shape().end());
  py::array arr(dt, shape, c_strides(*storage), storage->data(), owner);
  if (storage->read_only()) {
    arr.attr("flags").attr("writeable") = false;
  }
  return arr;
}

void init_storage(py::module_& m) {
  py::class_<Storage, std::shared_ptr<Storage>>(m, "Storage", py::buffer_protocol(), R"pbdoc(
Native tensor memory: contiguous, 64-byte aligned, C-ordered, reference counted.

Every parameter, buffer and forward output of minimod lives in a Storage. numpy views of it
(``np.asarray(storage)`` or the arrays minimod hands out) share its memory and keep it alive.
)pbdoc")
      .def(py::init([](const std::vector<std::int64_t>& shape, const std::string& dtype) {
             try {
               return std::make_shared<Storage>(shape, dtype_from_name(dtype));
             } catch (const std::invalid_argument& e) {
               throw py::value_error(e.what());
             } catch (const std::length_error& e) {
               throw py::value_error(e.what());
             }
           }),
           py::arg("shape"), py::arg("dtype") = "float32")
      .def_property_readonly("shape",
                             [](const Storage& s) {
                               py::tuple t(s.shape().size());
                               for (std::size_t i = 0; i < s.shape().size(); ++i)
                                 t[i] = s.shape()[i];
                               return t;
                             })
      .def_property_readonly("dtype",
                             [](const Storage& s) { return std::string(dtype_info(s.dtype()).name); })
      .def_property_readonly("nbytes", &Storage::nbytes)
      .def_property_readonly("data_ptr",
                             [](const Storage& s) { return reinterpret_cast<std::uintptr_t>(s.data()); })
      .def_property("read_only", &Storage::read_only, &Storage::set_read_only,
                    "When True, numpy views exported from now on are read-only.")
      .def("numpy", [](const std::shared_ptr<Storage>& s) { return storage_as_array(s); },
           "A numpy view (no copy) whose base is this Storage.")
      .def_buffer([](Storage& s) {
        const DTypeInfo& info = dtype_info(s.dtype());
        std::vector<py::ssize_t> shape(s.shape().begin(), s.shape().end());
        return py::buffer_info(s.data(), static_cast<py::ssize_t>(info.itemsize), info.format,
                               static_cast<py::ssize_t>(shape.size()), shape, c_strides(s),
                               s.read_only());
      })
      .def("__repr__", [](const Storage& s) {
        std::string r = "Storage(shape=(";
        for (std::size_t i = 0; i < s.shape().size(); ++i) {
          r += std::to_string(s.shape()[i]);
          if (i + 1 < s.shape().size() || s.shape().size() == 1) r += i + 1 < s.shape().size() ? ", " : ",";
        }
        return r + "), dtype=" + dtype_info(s.dtype()).name + ")";
      });

  m.def(
      "empty",
      [](const std::vector<std::int64_t>& shape, const std::string& dtype, bool zero) {
        std::shared_ptr<Storage> s;
        try {
          s = std::make_shared<Storage>(shape, dtype_from_name(dtype), zero);
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        } catch (const std::length_error& e) {
          throw py::value_error(e.what());
        }
        return storage_as_array(s);
      },
      py::arg("shape"), py::arg("dtype") = "float32", py::arg("zero") = true,
      "A new numpy array backed by native aligned Storage (zero-filled unless zero=False).");

  m.def(
      "_storage_stats",
      [] { return py::make_tuple(Storage::live_count(), Storage::live_bytes()); },
      "(live Storage objects, bytes they hold), process-wide: for leak and lifetime tests.");
}

}  // namespace minimod::bindings
