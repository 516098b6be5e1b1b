// Helpers every op binding uses to accept numpy inputs and hand back native outputs.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/storage.h"

namespace minimod::bindings {

// A numpy view of a Storage (defined in storage.cpp): the array's base is the Storage.
pybind11::array storage_as_array(const std::shared_ptr<Storage>& storage);

// ---- numpy arrays read straight from their struct ------------------------------------------------
// The op bindings' common case (a native float32 array, C-contiguous and aligned, in; a new one
// out) checked and built with numpy's C API through pybind11's proxies, not through
// py::array::ensure / py::dtype / py::array constructors: those cost ~2 us per op call, more than
// a small op's kernel.

inline constexpr int kMaxDims = 64;  // numpy 2's limit (numpy 1: 32)

// True when `o` is a numpy array (any subclass: Parameter) of native-order float32, any layout.
inline bool is_f32_array(PyObject* o) {
  namespace npy = pybind11::detail;
  const auto& api = npy::npy_api::get();
  if (o == nullptr || !api.PyArray_Check_(o)) return false;
  const auto* d = npy::array_descriptor_proxy(npy::array_proxy(o)->descr);
  constexpr char kNative = PY_LITTLE_ENDIAN ? '<' : '>';
  return d->type_num == npy::npy_api::NPY_FLOAT_ && (d->byteorder == '=' || d->byteorder == kNative);
}

// ... and a kernel can read it in place (C-contiguous and aligned).
inline bool is_plain_f32(PyObject* o) {
  namespace npy = pybind11::detail;
  constexpr int kNeed = npy::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | npy::npy_api::NPY_ARRAY_ALIGNED_;
  return is_f32_array(o) && (npy::array_proxy(o)->flags & kNeed) == kNeed;
}

inline int ndim_of(PyObject* a) { return pybind11::detail::array_proxy(a)->nd; }
inline const Py_intptr_t* dims_of(PyObject* a) { return pybind11::detail::array_proxy(a)->dimensions; }
inline float* data_of(PyObject* a) { return reinterpret_cast<float*>(pybind11::detail::array_proxy(a)->data); }

// A new, uninitialised, C-contiguous float32 array (ndim <= kMaxDims) whose memory and base are a
// Storage, for a kernel to fill.
inline pybind11::array new_f32_array(int ndim, const std::int64_t* dims) {
  namespace py = pybind11;
  namespace npy = pybind11::detail;
  auto storage = std::make_shared<Storage>(std::vector<std::int64_t>(dims, dims + ndim), DType::Float32,
                                           /*zero_fill=*/false);
  py::object owner = py::cast(storage);
  const auto& api = npy::npy_api::get();
  Py_intptr_t d[kMaxDims];
  for (int i = 0; i < ndim; ++i) d[i] = static_cast<Py_intptr_t>(dims[i]);
  PyObject* descr = api.PyArray_DescrFromType_(npy::npy_api::NPY_FLOAT_);  // stolen below
  if (descr == nullptr) throw py::error_already_set();
  constexpr int kFlags = npy::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | npy::npy_api::NPY_ARRAY_ALIGNED_ |
                         npy::npy_api::NPY_ARRAY_WRITEABLE_;
  PyObject* arr = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, ndim, d, nullptr,
                                            storage->data(), kFlags, nullptr);
  if (arr == nullptr) throw py::error_already_set();
  auto result = py::reinterpret_steal<py::array>(arr);
  if (api.PyArray_SetBaseObject_(arr, owner.release().ptr()) != 0) throw py::error_already_set();
  return result;
}

inline pybind11::array new_f32_output(const std::vector<std::int64_t>& shape) {
  if (shape.size() > static_cast<std::size_t>(kMaxDims)) {
    throw std::invalid_argument("too many dimensions for a numpy array: " + std::to_string(shape.size()));
  }
  return new_f32_array(static_cast<int>(shape.size()), shape.data());
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
  if (is_plain_f32(x.ptr())) return py::reinterpret_borrow<py::array_t<float, py::array::c_style>>(x);
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
