// Bindings for the nn ops family: batch norm, activations, softmax, pooling.
//
// Each function checks every argument and shape before any memory is touched, raising torch's
// exception type and message (the Python wrappers check the argument forms first, so these
// checks are the last line of defence and also make direct _core calls safe). Kernel loops run
// with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bindings/array_util.h"
#include "bindings/bindings.h"
#include "bindings/kernel_call.h"
#include "kernels/eltwise/activation.h"
#include "kernels/norm/batchnorm.h"
#include "kernels/pool/pool.h"

namespace py = pybind11;

namespace minimod::bindings {

namespace {

using F32Array = py::array_t<float, py::array::c_style>;
using Shape = std::vector<std::int64_t>;

Shape shape_of(const py::array& a) {
  Shape s(static_cast<std::size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[static_cast<std::size_t>(i)] = a.shape(i);
  return s;
}

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// torch prints sizes as [2, 3, 0, 4].
std::string sizes_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

// Index outputs live in native storage too, like every other array minimod hands out.
py::array new_i64_output(const Shape& shape) {
  return storage_as_array(std::make_shared<Storage>(shape, DType::Int64, /*zero_fill=*/false));
}

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }

// torch narrows pooling arguments to int and refuses values that do not fit; that also keeps
// every size product below in int64 range.
std::int64_t as_int32(std::int64_t v) {
  if (v > std::numeric_limits<std::int32_t>::max() || v < std::numeric_limits<std::int32_t>::min())
    fail("value cannot be converted to type int without overflow");
  return v;
}

// ---------------------------------------------------------------------------------------------
// Activations and softmax
// ---------------------------------------------------------------------------------------------

py::array activation(const py::handle& x_in, Activation op, float a, float b) {
  F32Array x = require_f32(x_in, "activation");
  const Shape shape = shape_of(x);
  py::array out = new_f32_output(shape);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  const std::int64_t n = numel(shape);
  KernelCall call;
  activation_f32(op, src, dst, n, ActivationArgs{a, b});
  return out;
}

void activation_inplace(py::array x, Activation op, float a, float b) {
  if (!is_float32(x.dtype()) || !(x.flags() & py::array::c_style) || !x.writeable())  // [reliability]
    throw py::value_error("in-place activation needs a writeable C-contiguous float32 array");
  float* data = static_cast<float*>(x.mutable_data());
  const std::int64_t n = numel(shape_of(x));
  KernelCall call;
  activation_f32(op, data, data, n, ActivationArgs{a, b});
}

// torch's dim wrapping: a 0-d tensor accepts dims -1 and 0.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim) {
  const std::int64_t lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
  if (dim < lo || dim > hi) {
    throw py::index_error("Dimension out of range (expected to be in range of [" + std::to_string(lo) +
                          ", " + std::to_string(hi) + "], but got " + std::to_string(dim) + ")");
  }
  return dim < 0 ? dim + std::max<std::int64_t>(ndim, 1) : dim;
}

py::array softmax(const py::handle& x_in, std::int64_t dim, bool log) {
  F32Array x = require_f32(x_in, log ? "log_softmax" : "softmax");
  const Shape shape = shape_of(x);
  const std::int64_t ndim = static_cast<std::int64_t>(shape.size());
  const std::int64_t d = wrap_dim(dim, ndim);
  std::int64_t outer = 1, size = 1, inner = 1;
  if (ndim > 0) {
    for (std::int64_t i = 0; i < d; ++i) outer *= shape[i];
    size = shape[d];
    for (std::int64_t i = d + 1; i < ndim; ++i) inner *= shape[i];
  }
  py::array out = new_f32_output(shape);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  KernelCall call;
  softmax_f32(src, dst, outer, size, inner, log);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Batch norm
// ---------------------------------------------------------------------------------------------

// An optional per-channel float32 vector: None, or exactly `c` elements.
std::optional<F32Array> channel_vector(const py::object& v, const char* name, std::int64_t c) {
  if (v.is_none()) return std::nullopt;
  F32Array a = require_f32(v, name);
  const std::int64_t n = numel(shape_of(a));
  if (n != c) fail(std::string(name) + " should contain " + std::to_string(c) + " elements not " + std::to_string(n));
  return a;
}

struct NcsView {
  std::int64_t n, c, s;
};

NcsView ncs_of(const Shape& shape) {
  if (shape.size() < 2) fail("batch_norm: expected input of shape (N, C) or (N, C, *), got " + sizes_str(shape));
  NcsView v{shape[0], shape[1], 1};
  for (std::size_t i = 2; i < shape.size(); ++i) v.s *= shape[i];
  return v;
}

// Training mode: normalise with the batch statistics; returns (y, mean, biased var), the
// statistics as float64 (C,) arrays for the caller's running-average update.
py::tuple batch_norm_train(const py::handle& x_in, const py::object& weight, const py::object& bias, double eps) {
  F32Array x = require_f32(x_in, "batch_norm");
  const Shape shape = shape_of(x);
  const NcsView v = ncs_of(shape);
  auto w = channel_vector(weight, "weight", v.c);
  auto b = channel_vector(bias, "bias", v.c);
  if (!(eps > 0.0)) throw py::value_error("batch_norm eps must be positive during training, but got " + py::repr(py::float_(eps)).cast<std::string>());
  if (v.n * v.s <= 1 && v.n * v.c * v.s > 0)
    throw py::value_error("Expected more than 1 value per channel when training");
  py::array out = new_f32_output(shape);
  py::array_t<double> mean(v.c), var(v.c);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  double* pm = mean.mutable_data();
  double* pv = var.mutable_data();
  const float* pw = w ? w->data() : nullptr;
  const float* pb = b ? b->data() : nullptr;
  {
    KernelCall call;
    if (v.n * v.s > 0) {
      std::vector<float> center(v.c), scale(v.c), shift(v.c);
      batchnorm_stats_f32(src, v.n, v.c, v.s, pm, pv);
      batchnorm_coefficients(pm, pv, pw, pb, eps, v.c, center.data(), scale.data(), shift.data());
      batchnorm_apply_f32(src, dst, v.n, v.c, v.s, center.data(), scale.data(), shift.data());
    } else {
      for (std::int64_t ch = 0; ch < v.c; ++ch) pm[ch] = pv[ch] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  return py::make_tuple(out, mean, var);
}

// Inference with given statistics: y = (x - mean) / sqrt(var + eps) * weight + bias.
py::array batch_norm_eval(const py::handle& x_in, const py::handle& running_mean, const py::handle& running_var,
                          const py::object& weight, const py::object& bias, double eps) {
  F32Array x = require_f32(x_in, "batch_norm");
  const Shape shape = shape_of(x);
  const NcsView v = ncs_of(shape);
  auto rm = channel_vector(py::reinterpret_borrow<py::object>(running_mean), "running_mean", v.c);
  auto rv = channel_vector(py::reinterpret_borrow<py::object>(running_var), "running_var", v.c);
  if (!rm) fail("running_mean must be defined in evaluation mode");
  if (!rv) fail("running_var must be defined in evaluation mode");
  auto w = channel_vector(weight, "weight", v.c);
  auto b = channel_vector(bias, "bias", v.c);
  if (eps < 0.0) throw py::value_error("batch_norm eps must be non-negative, but got " + py::repr(py::float_(eps)).cast<std::string>());
  py::array out = new_f32_output(shape);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  const float* pm = rm->data();
  const float* pv = rv->data();
  const float* pw = w ? w->data() : nullptr;
  const float* pb = b ? b->data() : nullptr;
  KernelCall call;
  std::vector<double> mean(pm, pm + v.c), var(pv, pv + v.c);
  std::vector<float> center(v.c), scale(v.c), shift(v.c);
  batchnorm_coefficients(mean.data(), var.data(), pw, pb, eps, v.c, center.data(), scale.data(), shift.data());
  batchnorm_apply_f32(src, dst, v.n, v.c, v.s, center.data(), scale.data(), shift.data());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pooling (torch's checks from ATen/native/Pool.h, in torch's order)
// ---------------------------------------------------------------------------------------------

// pooling_output_shape: stride, then padding, then the effective-kernel bound.
std::int64_t checked_output_size(std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t stride,
                                 std::int64_t dil, bool ceil_mode) {
  if (stride == 0) fail("stride should not be zero");
  if (pad < 0) fail("pad must be non-negative, but got pad: " + std::to_string(pad));
  if (pad > ((k - 1) * dil + 1) / 2) {
    fail("pad should be at most half of effective kernel size, but got pad=" + std::to_string(pad) +
         ", kernel_size=" + std::to_string(k) + " and dilation=" + std::to_string(dil));
  }
  return pool_output_size(in, k, pad, stride, dil, ceil_mode);
}

struct Pool2dGeometry {
  Shape out_shape;
  std::int64_t planes, ih, iw, oh, ow;
};

// The shared check of max_pool2d and avg_pool2d (torch's pool2d_shape_check after the two output
// sizes). `x` is already known to be 3-D or 4-D.
Pool2dGeometry pool2d_geometry(const Shape& shape, const Pool2dWindow& w, bool ceil_mode) {
  const std::size_t nd = shape.size();
  const std::int64_t ih = shape[nd - 2], iw = shape[nd - 1], channels = shape[nd - 3];
  const std::int64_t oh = checked_output_size(ih, w.kh, w.ph, w.sh, w.dh, ceil_mode);
  const std::int64_t ow = checked_output_size(iw, w.kw, w.pw, w.sw, w.dw, ceil_mode);
  if (!(w.kw > 0 && w.kh > 0))
    fail("kernel size should be greater than zero, but got kH: " + std::to_string(w.kh) + " kW: " + std::to_string(w.kw));
  if (!(w.sw > 0 && w.sh > 0))
    fail("stride should be greater than zero, but got dH: " + std::to_string(w.sh) + " dW: " + std::to_string(w.sw));
  if (!(w.dh > 0 && w.dw > 0))
    fail("dilation should be greater than zero, but got dilationH: " + std::to_string(w.dh) + " dilationW: " + std::to_string(w.dw));
  const bool valid_dims = shape[1] != 0 && shape[2] != 0;
  if (!((nd == 3 && shape[0] != 0 && valid_dims) || (nd == 4 && valid_dims && shape[3] != 0)))
    fail("Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:" + sizes_str(shape));
  if (!(w.kw / 2 >= w.pw && w.kh / 2 >= w.ph)) {
    fail("pad should be smaller than or equal to half of kernel size, but got padW = " + std::to_string(w.pw) +
         ", padH = " + std::to_string(w.ph) + ", kW = " + std::to_string(w.kw) + ", kH = " + std::to_string(w.kh));
  }
  if (!(ow >= 1 && oh >= 1)) {
    const std::string c = std::to_string(channels);
    fail("Given input size: (" + c + "x" + std::to_string(ih) + "x" + std::to_string(iw) + "). Calculated output size: (" +
         c + "x" + std::to_string(oh) + "x" + std::to_string(ow) + "). Output size is too small");
  }
  Shape out(shape);
  out[nd - 2] = oh;
  out[nd - 1] = ow;
  std::int64_t planes = 1;
  for (std::size_t i = 0; i + 2 < nd; ++i) planes *= shape[i];
  return {out, planes, ih, iw, oh, ow};
}

Pool2dWindow make_window(const std::vector<std::int64_t>& k, const std::vector<std::int64_t>& s,
                         const std::vector<std::int64_t>& p, const std::vector<std::int64_t>& d) {
  for (const auto* v : {&k, &s, &p, &d})
    if (v->size() != 2) throw py::value_error("pooling arguments must be pairs (H, W)");
  return {as_int32(k[0]), as_int32(k[1]), as_int32(s[0]), as_int32(s[1]),
          as_int32(p[0]), as_int32(p[1]), as_int32(d[0]), as_int32(d[1])};
}

py::object max_pool2d(const py::handle& x_in, const std::vector<std::int64_t>& kernel,
                      const std::vector<std::int64_t>& stride, const std::vector<std::int64_t>& padding,
                      const std::vector<std::int64_t>& dilation, bool ceil_mode, bool return_indices) {
  F32Array x = require_f32(x_in, "max_pool2d");
  const Shape shape = shape_of(x);
  const Pool2dWindow w = make_window(kernel, stride, padding, dilation);
  if (shape.size() != 3 && shape.size() != 4) fail("non-empty 3D or 4D (batch mode) tensor expected for input");
  const Pool2dGeometry g = pool2d_geometry(shape, w, ceil_mode);
  py::array out = new_f32_output(g.out_shape);
  py::array idx;
  std::int64_t* pidx = nullptr;
  if (return_indices) {
    idx = new_i64_output(g.out_shape);
    pidx = static_cast<std::int64_t*>(idx.mutable_data());
  }
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  {
    KernelCall call;
    max_pool2d_f32(src, dst, pidx, g.planes, g.ih, g.iw, g.oh, g.ow, w);
  }
  if (return_indices) return py::make_tuple(out, idx);
  return std::move(out);
}

py::array avg_pool2d(const py::handle& x_in, const std::vector<std::int64_t>& kernel,
                     const std::vector<std::int64_t>& stride, const std::vector<std::int64_t>& padding,
                     bool ceil_mode, bool count_include_pad, std::optional<std::int64_t> divisor_override) {
  F32Array x = require_f32(x_in, "avg_pool2d");
  const Shape shape = shape_of(x);
  const Pool2dWindow w = make_window(kernel, stride, padding, {1, 1});
  if (divisor_override && *divisor_override == 0) fail("divisor must be not zero");
  const std::int64_t nd = static_cast<std::int64_t>(shape.size());
  if (nd < 3) {
    if (nd == 0) throw py::index_error("Dimension specified as -3 but tensor has no dimensions");
    throw py::index_error("Dimension out of range (expected to be in range of [" + std::to_string(-nd) + ", " +
                          std::to_string(nd - 1) + "], but got -3)");
  }
  if (nd > 4) {  // torch reaches its shape check with the last three dims, which then rejects the rank
    checked_output_size(shape[nd - 2], w.kh, w.ph, w.sh, 1, ceil_mode);
    checked_output_size(shape[nd - 1], w.kw, w.pw, w.sw, 1, ceil_mode);
    fail("Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:" + sizes_str(shape));
  }
  const Pool2dGeometry g = pool2d_geometry(shape, w, ceil_mode);
  py::array out = new_f32_output(g.out_shape);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  const std::int64_t divisor = divisor_override ? *divisor_override : 0;
  KernelCall call;
  if (divisor < 0) {
    // torch divides by a negative override as given; the kernel treats divisor <= 0 as "none",
    // so fold the sign in afterwards.
    // [reliability] -INT64_MIN overflows; INT64_MAX rounds to the same float divisor (2^63).
    const std::int64_t magnitude = divisor == std::numeric_limits<std::int64_t>::min()
                                       ? std::numeric_limits<std::int64_t>::max()
                                       : -divisor;
    avg_pool2d_f32(src, dst, g.planes, g.ih, g.iw, g.oh, g.ow, w, count_include_pad, magnitude);
    const std::int64_t n = numel(g.out_shape);
    for (std::int64_t i = 0; i < n; ++i) dst[i] = -dst[i];
  } else {
    avg_pool2d_f32(src, dst, g.planes, g.ih, g.iw, g.oh, g.ow, w, count_include_pad, divisor);
  }
  return out;
}

py::array adaptive_avg_pool2d(const py::handle& x_in, std::int64_t oh, std::int64_t ow) {
  F32Array x = require_f32(x_in, "adaptive_avg_pool2d");
  const Shape shape = shape_of(x);
  if (oh < 0 || ow < 0) {
    fail("adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {" +
         std::to_string(oh) + ", " + std::to_string(ow) + "}");
  }
  const std::int64_t nd = static_cast<std::int64_t>(shape.size());
  if (nd != 3 && nd != 4) fail("adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got " + sizes_str(shape));
  for (std::int64_t i : {nd - 2, nd - 1}) {
    if (shape[i] <= 0) {
      fail("adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes " +
           sizes_str(shape) + " with dimension " + std::to_string(i) + " being empty");
    }
  }
  Shape out_shape(shape);
  out_shape[nd - 2] = oh;
  out_shape[nd - 1] = ow;
  std::int64_t planes = 1;
  for (std::int64_t i = 0; i < nd - 2; ++i) planes *= shape[i];
  py::array out = new_f32_output(out_shape);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  const std::int64_t ih = shape[nd - 2], iw = shape[nd - 1];
  KernelCall call;
  if (oh > 0 && ow > 0) adaptive_avg_pool2d_f32(src, dst, planes, ih, iw, oh, ow);
  return out;
}

py::tuple adaptive_max_pool2d(const py::handle& x_in, std::int64_t oh, std::int64_t ow) {
  F32Array x = require_f32(x_in, "adaptive_max_pool2d");
  const Shape shape = shape_of(x);
  const std::int64_t nd = static_cast<std::int64_t>(shape.size());
  if (nd != 3 && nd != 4) fail("adaptive_max_pool2d(): Expected 3D or 4D tensor, but got: " + sizes_str(shape));
  for (std::int64_t i = 1; i < nd; ++i) {
    if (shape[i] <= 0) {
      fail("adaptive_max_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes " +
           sizes_str(shape) + " with dimension " + std::to_string(i) + " being empty");
    }
  }
  Shape out_shape(shape);
  out_shape[nd - 2] = oh;
  out_shape[nd - 1] = ow;
  if (oh < 0 || ow < 0) {
    fail("Trying to create tensor with negative dimension " + std::to_string(oh < 0 ? oh : ow) + ": " + sizes_str(out_shape));
  }
  std::int64_t planes = 1;
  for (std::int64_t i = 0; i < nd - 2; ++i) planes *= shape[i];
  py::array out = new_f32_output(out_shape);
  py::array idx = new_i64_output(out_shape);
  const float* src = x.data();
  float* dst = static_cast<float*>(out.mutable_data());
  std::int64_t* pidx = static_cast<std::int64_t*>(idx.mutable_data());
  const std::int64_t ih = shape[nd - 2], iw = shape[nd - 1];
  {
    KernelCall call;
    if (oh > 0 && ow > 0) adaptive_max_pool2d_f32(src, dst, pidx, planes, ih, iw, oh, ow);
  }
  return py::make_tuple(out, idx);
}

}  // namespace

void init_nn_ops(py::module_& m) {
  py::enum_<Activation>(m, "Activation", "Elementwise activation selector for _core.activation.")
      .value("relu", Activation::Relu)
      .value("hardtanh", Activation::Hardtanh)
      .value("leaky_relu", Activation::LeakyRelu)
      .value("gelu", Activation::GeluErf)
      .value("gelu_tanh", Activation::GeluTanh)
      .value("silu", Activation::Silu)
      .value("sigmoid", Activation::Sigmoid)
      .value("tanh", Activation::Tanh)
      .value("hardswish", Activation::Hardswish);

  m.def("activation", &activation, py::arg("x"), py::arg("op"), py::arg("a") = 0.0f, py::arg("b") = 0.0f,
        R"pbdoc(op(x) into a new native float32 array (x: float32, any layout). a, b: hardtanh's
min/max, leaky_relu's slope.)pbdoc");
  m.def("activation_", &activation_inplace, py::arg("x"), py::arg("op"), py::arg("a") = 0.0f,
        py::arg("b") = 0.0f, "op(x) in place; x must be a writeable C-contiguous float32 array.");
  m.def("softmax", &softmax, py::arg("x"), py::arg("dim"), py::arg("log") = false,
        "Softmax (or log-softmax) of float32 x along dim, into a new native array.");

  m.def("batch_norm_train", &batch_norm_train, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
        R"pbdoc(Normalise x (N, C, *) with its own per-channel statistics.

Returns (y, mean, var): var is the biased batch variance; mean and var are float64 (C,) arrays
(NaN when the batch is empty, in which case y is empty too).)pbdoc");
  m.def("batch_norm_eval", &batch_norm_eval, py::arg("x"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("weight"), py::arg("bias"), py::arg("eps"),
        "(x - mean) / sqrt(var + eps) * weight + bias with the given per-channel statistics.");

  m.def("max_pool2d", &max_pool2d, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("ceil_mode"), py::arg("return_indices"),
        "2-D max pooling of a (C, H, W) or (N, C, H, W) float32 array; pairs are (H, W).");
  m.def("avg_pool2d", &avg_pool2d, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
        py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"),
        "2-D average pooling of a (C, H, W) or (N, C, H, W) float32 array; pairs are (H, W).");
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d, py::arg("x"), py::arg("oh"), py::arg("ow"),
        "Adaptive 2-D average pooling to (oh, ow).");
  m.def("adaptive_max_pool2d", &adaptive_max_pool2d, py::arg("x"), py::arg("oh"), py::arg("ow"),
        "Adaptive 2-D max pooling to (oh, ow); returns (values, flat indices per plane).");
}

}  // namespace minimod::bindings
