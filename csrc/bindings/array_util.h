// Helpers every op binding uses to accept numpy inputs and hand back native outputs.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/storage.h"

namespace minimod::bindings {

// A numpy view of a Storage (defined in storage.cpp): the array's base is the Storage.
pybind11::array storage_as_array(const std::shared_ptr<Storage>& storage);

// A new, uninitialised float32 array in native storage, for a kernel to fill.
inline pybind11::array new_f32_output(const std::vector<std::int64_t>& shape) {
  return storage_as_array(std::make_shared<Storage>(shape, DType::Float32, /*zero_fill=*/false));
}

// True for native-byte-order float32. Not dtype identity alone: numpy makes a new dtype object
// when it unpickles an array (multiprocessing, pickle.load), which is still float32.
inline bool is_float32(const pybind11::dtype& dt) {
  const pybind11::dtype f32 = pybind11::dtype::of<float>();
  return dt.is(f32) || dt.equal(f32);
}

// The input as a float32, C-contiguous array. Raises RuntimeError naming the op and the dtype when
// it is not float32 (no silent cast, as torch refuses mixed dtypes); makes a contiguous copy only
// when the layout needs one. A C-contiguous view at an odd byte offset (a float32 view into a byte
// buffer) is copied too: reading floats through a misaligned pointer is undefined behaviour.
inline pybind11::array_t<float, pybind11::array::c_style> require_f32(const pybind11::handle& x,
                                                                      const char* op) {
  namespace py = pybind11;
  py::array arr = py::array::ensure(x);
  if (!arr) throw py::type_error(std::string(op) + ": expected a numpy array or array-like input");
  if (!is_float32(arr.dtype())) {
    throw std::runtime_error(std::string(op) + ": expected input of dtype float32, but got " +
                             py::str(arr.dtype()).cast<std::string>() +
                             "; minimod computes in float32: convert with x.astype(np.float32)");
  }
  auto out = py::array_t<float, py::array::c_style>::ensure(arr);
  if (!out) throw py::error_already_set();
  if (reinterpret_cast<std::uintptr_t>(out.data()) % alignof(float) != 0) {
    py::array_t<float, py::array::c_style> aligned(std::vector<py::ssize_t>(out.shape(), out.shape() + out.ndim()));
    std::memcpy(aligned.mutable_data(), out.data(), static_cast<std::size_t>(out.nbytes()));
    return aligned;
  }
  return out;
}

}  // namespace minimod::bindings
