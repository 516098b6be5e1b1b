// Linear algebra ops: linear (GEMM) and N-d convolution, plus raw kernel entry points for tests.
//
// Every function validates every argument and shape before touching memory (a bad call from
// Python raises, never crashes), converts inputs with require_f32 (float32 only, contiguous copy
// only when needed), allocates the output with new_f32_output and releases the GIL around the
// kernel (linear has its own lean path and a work threshold for the GIL: see linear_fastcall).
// torch-compatible messages for user errors live in minimod.nn.functional, which checks first;
// the checks here are the safety net and name the op.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_util.h"
#include "bindings/bindings.h"
#include "bindings/kernel_call.h"
#include "bindings/linear_call.h"
#include "kernels/conv/conv.h"
#include "kernels/gemm/broadcast_weight.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_config.h"
#include "kernels/gemm/inner_product.h"

namespace py = pybind11;

namespace minimod::bindings {

namespace {

using kernels::GemmEpilogue;

std::string shape_str(const py::array& a) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  return s + "]";
}

// An optional float32 bias of `n` elements (None -> nullptr).
const float* optional_bias(const py::object& bias, std::int64_t n, const char* op,
                           py::array_t<float, py::array::c_style>* keep) {
  if (bias.is_none()) return nullptr;
  *keep = require_f32(bias, op);
  if (keep->ndim() != 1 || keep->shape(0) != n) {
    throw py::value_error(std::string(op) + ": expected bias of shape [" + std::to_string(n) +
                          "], but got " + shape_str(*keep));
  }
  return keep->data();
}

// ---- linear: the lean call path ------------------------------------------------------------
//
// Linear's forward is called per layer per sample, so at batch 1 the binding, not the GEMV, is
// most of the time (W6a: a 16x16 GEMV is ~50 ns of FMAs). `linear` is therefore a raw CPython
// METH_FASTCALL function, not a pybind11 def (whose argument casters and function records cost
// ~0.5 us): inputs that are native float32, C-contiguous and aligned are read in place, their
// shapes straight from the array struct; anything else takes the converting path (require_f32)
// with the same checks. The output is allocated once, in a Storage, without going through
// py::dtype / py::array constructors.
namespace npy = pybind11::detail;

// The operand as a float32 array the kernel reads in place: `o` itself when it already is one,
// otherwise a converted copy (raising the binding's dtype error).
py::object kernel_operand(PyObject* o) {
  if (is_plain_f32(o)) return py::reinterpret_borrow<py::object>(o);
  py::object a = require_f32(o, "linear");
  if (is_plain_f32(a.ptr())) return a;
  // C-contiguous but misaligned (a view at an odd byte offset): require_f32 (pybind11's ensure)
  // only asks for contiguity, and the kernels' scalar loads need float alignment. Copy.
  PyObject* copy = npy::npy_api::get().PyArray_NewCopy_(a.ptr(), /*NPY_CORDER=*/0);
  if (copy == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(copy);
}

// A new C-contiguous float32 array of shape lead_dims + (n,), owned by a Storage (its base).
py::object new_linear_output(int lead_ndim, const Py_intptr_t* lead_dims, std::int64_t n) {
  std::int64_t dims[kMaxDims];
  for (int i = 0; i < lead_ndim; ++i) dims[i] = lead_dims[i];
  dims[lead_ndim] = n;
  return new_f32_array(lead_ndim + 1, dims);
}

}  // namespace

// y = x W^T + b (then ReLU). x and w must already be float32 arrays of any layout; shapes and
// the bias are checked here with the binding's messages.
py::object linear_native(PyObject* x_in, PyObject* w_in, PyObject* bias_in, bool relu) {
  py::object x = kernel_operand(x_in);
  py::object w = kernel_operand(w_in);
  const int xnd = ndim_of(x.ptr());
  if (xnd < 1) throw py::value_error("linear: input must have at least 1 dimension");
  if (xnd > kMaxDims) throw py::value_error("linear: input has too many dimensions");
  if (ndim_of(w.ptr()) != 2) {
    throw py::value_error("linear: weight must be 2-D (out_features, in_features), but got " +
                          shape_str(py::reinterpret_borrow<py::array>(w)));
  }
  const Py_intptr_t* xd = dims_of(x.ptr());
  const Py_intptr_t* wd = dims_of(w.ptr());
  const std::int64_t K = xd[xnd - 1];
  const std::int64_t N = wd[0];
  std::int64_t M = 1;  // the leading dimensions, flattened (as torch reports them)
  for (int i = 0; i + 1 < xnd; ++i) M *= xd[i];
  if (wd[1] != K) {
    throw std::runtime_error("mat1 and mat2 shapes cannot be multiplied (" + std::to_string(M) +
                             "x" + std::to_string(K) + " and " + std::to_string(wd[1]) + "x" +
                             std::to_string(N) + ")");
  }
  py::object bias_keep;
  const float* bias = nullptr;
  if (bias_in != Py_None) {
    bias_keep = kernel_operand(bias_in);
    if (ndim_of(bias_keep.ptr()) != 1 || dims_of(bias_keep.ptr())[0] != N) {
      throw py::value_error("linear: expected bias of shape [" + std::to_string(N) +
                            "], but got " + shape_str(py::reinterpret_borrow<py::array>(bias_keep)));
    }
    bias = data_of(bias_keep.ptr());
  }
  py::object out = new_linear_output(xnd - 1, xd, N);
  float* y = data_of(out.ptr());
  const float* xp = data_of(x.ptr());
  const float* wp = data_of(w.ptr());
  GemmEpilogue ep;
  ep.bias = bias;
  ep.bias_kind = bias ? GemmEpilogue::Bias::PerCol : GemmEpilogue::Bias::None;
  ep.relu = relu;
  // y (M x N) = x (M x K) * W^T: W^T is read in place (row stride 1, column stride K).
  run_kernel(static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K),
             [&] { kernels::sgemm(M, N, K, xp, K, 1, wp, 1, K, y, N, ep); });
  return out;
}

namespace {

// Fills out[0..n) from a vectorcall argument vector by position, then by keyword; raises
// TypeError like a Python def for unknown, repeated or missing arguments.
void parse_fastcall(const char* fname, const char* const* names, int n, int required,
                    PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, PyObject** out) {
  if (nargs > n) {
    throw py::type_error(std::string(fname) + "() takes at most " + std::to_string(n) +
                         " arguments (" + std::to_string(nargs) + " given)");
  }
  for (int i = 0; i < n; ++i) out[i] = i < nargs ? args[i] : nullptr;
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    int slot = -1;
    for (int i = 0; i < n && slot < 0; ++i) {
      if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) slot = i;
    }
    if (slot < 0) {
      throw py::type_error(std::string(fname) + "() got an unexpected keyword argument '" +
                           py::str(key).cast<std::string>() + "'");
    }
    if (out[slot] != nullptr) {
      throw py::type_error(std::string(fname) + "() got multiple values for argument '" +
                           names[slot] + "'");
    }
    out[slot] = args[nargs + k];
  }
  for (int i = 0; i < required; ++i) {
    if (out[i] == nullptr) {
      throw py::type_error(std::string(fname) + "() missing required argument '" + names[i] + "'");
    }
  }
}

PyObject* linear_fastcall(PyObject* /*module*/, PyObject* const* args, Py_ssize_t nargsf,
                          PyObject* kwnames) {
  try {
    static const char* const kNames[] = {"input", "weight", "bias", "relu"};
    PyObject* a[4];
    parse_fastcall("linear", kNames, 4, 2, args, PyVectorcall_NARGS(nargsf), kwnames, a);
    bool relu = false;
    if (a[3] != nullptr) {
      const int truth = PyObject_IsTrue(a[3]);
      if (truth < 0) throw py::error_already_set();
      relu = truth != 0;
    }
    return linear_native(a[0], a[1], a[2] == nullptr ? Py_None : a[2], relu).release().ptr();
  } catch (...) {
    npy::try_translate_exceptions();
    return nullptr;
  }
}

// Linear.forward's entry: `self` of this builtin is the fallback (F.linear). The native kernel
// runs when input and weight are float32 arrays whose shapes multiply and the bias is None or a
// float32 vector of out_features; anything else, valid or not, goes to the fallback, which
// converts or raises torch's errors. So the Python layer needs no checks of its own.
PyObject* linear_or_fallback(PyObject* fallback, PyObject* const* args, Py_ssize_t nargsf) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "linear_or_fallback() takes exactly 3 arguments (input, weight, bias)");
    return nullptr;
  }
  PyObject* x = args[0];
  PyObject* w = args[1];
  PyObject* b = args[2];
  if (!linear_args_native(x, w, b)) return PyObject_Vectorcall(fallback, args, nargs, nullptr);
  try {
    return linear_native(x, w, b, /*relu=*/false).release().ptr();
  } catch (...) {
    npy::try_translate_exceptions();
    return nullptr;
  }
}

PyMethodDef g_linear_def = {
    "linear", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(linear_fastcall)),
    METH_FASTCALL | METH_KEYWORDS,
    "linear(input: typing.Any, weight: typing.Any, bias: typing.Any = None, relu: bool = False) "
    "-> numpy.ndarray\n\n"
    "y = input @ weight.T + bias (then ReLU if relu), float32.\n\n"
    "input is (*, in_features), weight (out_features, in_features) as stored by Linear (read in "
    "place,\nnever transposed), bias (out_features,) or None. Returns a new (*, out_features) "
    "array.\nfloat32 inputs that are C-contiguous and aligned are read in place; others are "
    "copied.\n"};

PyMethodDef g_linear_or_fallback_def = {
    "linear_or_fallback",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(linear_or_fallback)),
    METH_FASTCALL,
    "linear_or_fallback(input, weight, bias): the native linear when the arguments are float32 "
    "arrays\nwhose shapes match, otherwise fallback(input, weight, bias)."};

std::vector<std::int64_t> int_list(const std::vector<std::int64_t>& v, std::size_t n,
                                   const char* what) {
  if (v.size() != n) {
    throw py::value_error("conv_nd: expected " + std::to_string(n) + " values for " + what +
                          ", but got " + std::to_string(v.size()));
  }
  return v;
}

struct ConvInputs {
  py::array_t<float, py::array::c_style> x, w, bias;
  kernels::ConvParams p;
  const float* bias_ptr = nullptr;
};

// Converts and validates everything conv needs; throws before any memory is read.
ConvInputs conv_inputs(const py::handle& x_in, const py::handle& w_in, const py::object& bias_in,
                       const std::vector<std::int64_t>& stride,
                       const std::vector<std::int64_t>& pad_before,
                       const std::vector<std::int64_t>& pad_after,
                       const std::vector<std::int64_t>& dilation, std::int64_t groups) {
  ConvInputs in;
  in.x = require_f32(x_in, "conv");
  in.w = require_f32(w_in, "conv");
  const auto& x = in.x;
  const auto& w = in.w;
  const py::ssize_t nd = x.ndim() - 2;
  if (nd < 1 || nd > 3) {
    throw py::value_error("conv_nd: expected input of shape (N, C, *spatial) with 1 to 3 spatial "
                          "dimensions, but got " + shape_str(x));
  }
  if (w.ndim() != x.ndim()) {
    throw py::value_error("conv_nd: weight must have shape (C_out, C_in / groups, *kernel) with " +
                          std::to_string(nd) + " kernel dimensions, but got " + shape_str(w));
  }
  const std::size_t n = static_cast<std::size_t>(nd);
  kernels::ConvParams& p = in.p;
  p.ndim = static_cast<int>(nd);
  p.batch = x.shape(0);
  p.in_channels = x.shape(1);
  p.out_channels = w.shape(0);
  p.groups = groups;
  const auto s = int_list(stride, n, "stride");
  const auto pb = int_list(pad_before, n, "pad_before");
  const auto pa = int_list(pad_after, n, "pad_after");
  const auto d = int_list(dilation, n, "dilation");
  // Spatial dimensions are stored right-aligned in 3 slots (D, H, W): a 1-d conv has D = H = 1.
  const int off = 3 - p.ndim;
  for (int i = 0; i < p.ndim; ++i) {
    p.in_size[off + i] = x.shape(2 + i);
    p.kernel[off + i] = w.shape(2 + i);
    p.stride[off + i] = s[i];
    p.pad_before[off + i] = pb[i];
    p.pad_after[off + i] = pa[i];
    p.dilation[off + i] = d[i];
  }
  if (groups < 1) throw py::value_error("conv_nd: groups must be a positive integer");
  if (p.out_channels % groups != 0) {
    throw py::value_error("conv_nd: out_channels must be divisible by groups");
  }
  if (w.shape(1) * groups != p.in_channels) {
    throw std::runtime_error("Given groups=" + std::to_string(groups) + ", weight of size " +
                             shape_str(w) + ", expected input" + shape_str(x) + " to have " +
                             std::to_string(w.shape(1) * groups) + " channels, but got " +
                             std::to_string(p.in_channels) + " channels instead");
  }
  switch (kernels::resolve_conv_geometry(p)) {
    case kernels::ConvGeometry::Ok:
      break;
    case kernels::ConvGeometry::NonPositiveStride:
      throw std::runtime_error("non-positive stride is not supported");
    case kernels::ConvGeometry::NegativePadding:
      throw std::runtime_error("negative padding is not supported");
    case kernels::ConvGeometry::NonPositiveDilation:
      throw py::value_error("conv_nd: dilation must be positive");
    case kernels::ConvGeometry::NonPositiveKernel:
      throw py::value_error("conv_nd: kernel size must be positive");
    case kernels::ConvGeometry::TooLarge:
      throw std::runtime_error("conv_nd: padding or dilation is too large: the padded input or the dilated "
                               "kernel size exceeds 2^62");
    case kernels::ConvGeometry::KernelExceedsInput:
      throw std::runtime_error("conv_nd: kernel (with dilation) is larger than the padded input");
  }
  in.bias_ptr = optional_bias(bias_in, p.out_channels, "conv", &in.bias);
  return in;
}

py::array conv_run(const ConvInputs& in, bool relu, kernels::ConvPath path) {
  const kernels::ConvParams& p = in.p;
  if (!kernels::conv_path_applies(path, p)) {
    throw py::value_error(std::string("conv path '") + kernels::conv_path_name(path) +
                          "' does not apply to this convolution");
  }
  std::vector<std::int64_t> out_shape{p.batch, p.out_channels};
  for (int i = 3 - p.ndim; i < 3; ++i) out_shape.push_back(p.out_size[i]);
  py::array out = new_f32_output(out_shape);
  // [reliability] Nothing to compute (zero batch or channels): the kernels would still size
  // scratch from the spatial extent, which padding can make arbitrarily large.
  if (out.size() == 0) return out;
  float* y = static_cast<float*>(out.mutable_data());
  const float* xp = in.x.data();
  const float* wp = in.w.data();
  {
    KernelCall call;
    kernels::conv_forward(p, xp, wp, in.bias_ptr, relu, y, path);
  }
  return out;
}

kernels::ConvPath parse_conv_path(const std::string& name) {
  kernels::ConvPath path;
  if (!kernels::conv_path_from_name(name.c_str(), &path)) {
    throw py::value_error("unknown conv path '" + name + "': expected one of " +
                          kernels::conv_path_names());
  }
  return path;
}

// --- test-only entry points ------------------------------------------------------------------

// A float32 array of exactly `ndim` dimensions, any strides (in elements).
struct StridedView {
  py::array arr;
  const float* data;
  std::vector<std::int64_t> stride;
};

StridedView strided_f32(const py::handle& h, int ndim, const char* what) {
  py::array arr = py::array::ensure(h);
  if (!arr || !is_float32(arr.dtype())) {  // [reliability] unpickled float32 too
    throw py::type_error(std::string(what) + " must be a float32 numpy array");
  }
  if (arr.ndim() != ndim) {
    throw py::value_error(std::string(what) + " must have " + std::to_string(ndim) + " dimensions");
  }
  StridedView v{arr, static_cast<const float*>(arr.data()), {}};
  for (int i = 0; i < ndim; ++i) {
    if (arr.strides(i) % static_cast<py::ssize_t>(sizeof(float)) != 0) {
      throw py::value_error(std::string(what) + " strides must be multiples of 4 bytes");
    }
    v.stride.push_back(arr.strides(i) / static_cast<py::ssize_t>(sizeof(float)));
  }
  return v;
}

py::array testing_sgemm(const py::handle& a_in, const py::handle& b_in, const py::object& bias_in,
                        bool bias_per_row, bool relu, bool reference, bool parallel) {
  StridedView a = strided_f32(a_in, 2, "a");
  StridedView b = strided_f32(b_in, 2, "b");
  const std::int64_t M = a.arr.shape(0), K = a.arr.shape(1), N = b.arr.shape(1);
  if (b.arr.shape(0) != K) throw py::value_error("sgemm: a is M x K but b is not K x N");
  py::array_t<float, py::array::c_style> bias_keep;
  const float* bias = optional_bias(bias_in, bias_per_row ? M : N, "sgemm", &bias_keep);
  py::array out = new_f32_output({M, N});
  float* c = static_cast<float*>(out.mutable_data());
  {
    KernelCall call;
    GemmEpilogue ep;
    ep.bias = bias;
    ep.bias_kind = bias == nullptr ? GemmEpilogue::Bias::None
                   : bias_per_row  ? GemmEpilogue::Bias::PerRow
                                   : GemmEpilogue::Bias::PerCol;
    ep.relu = relu;
    if (reference) {
      kernels::sgemm_ref(M, N, K, a.data, a.stride[0], a.stride[1], b.data, b.stride[0],
                         b.stride[1], c, N, ep);
    } else {
      kernels::GemmOptions opt;
      opt.parallel = parallel;
      kernels::sgemm(M, N, K, a.data, a.stride[0], a.stride[1], b.data, b.stride[0], b.stride[1],
                     c, N, ep, opt);
    }
  }
  return out;
}

}  // namespace

bool linear_args_native(PyObject* x, PyObject* w, PyObject* b) {
  return is_f32_array(x) && is_f32_array(w) && ndim_of(x) >= 1 && ndim_of(x) <= kMaxDims &&
         ndim_of(w) == 2 && dims_of(w)[1] == dims_of(x)[ndim_of(x) - 1] &&
         (b == Py_None || (is_f32_array(b) && ndim_of(b) == 1 && dims_of(b)[0] == dims_of(w)[0]));
}

void init_linalg(py::module_& m) {
  // Raw CPython functions (see linear_fastcall): added as module attributes, not pybind11 defs.
  py::object mod_name = m.attr("__name__");
  PyObject* lin = PyCFunction_NewEx(&g_linear_def, nullptr, mod_name.ptr());
  if (lin == nullptr) throw py::error_already_set();
  m.add_object("linear", py::reinterpret_steal<py::object>(lin));
  m.def(
      "_linear_or_fallback",
      [](py::object fallback) {
        PyObject* f = PyCFunction_NewEx(&g_linear_or_fallback_def, fallback.ptr(), nullptr);
        if (f == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(f);
      },
      py::arg("fallback"),
      "f(input, weight, bias): the native linear for float32 arrays whose shapes match, else "
      "fallback(input, weight, bias) (Linear.forward's whole body).");

  m.def(
      "conv_nd",
      [](const py::handle& x, const py::handle& w, const py::object& bias,
         const std::vector<std::int64_t>& stride, const std::vector<std::int64_t>& pad_before,
         const std::vector<std::int64_t>& pad_after, const std::vector<std::int64_t>& dilation,
         std::int64_t groups, bool relu) {
        return conv_run(conv_inputs(x, w, bias, stride, pad_before, pad_after, dilation, groups),
                        relu, kernels::ConvPath::Auto);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
      py::arg("pad_before"), py::arg("pad_after"), py::arg("dilation"), py::arg("groups"),
      py::arg("relu") = false, R"pbdoc(
N-d convolution (1 to 3 spatial dimensions), NC* layout, float32, zero padding.

input (N, C_in, *S), weight (C_out, C_in / groups, *k), bias (C_out,) or None. stride,
pad_before, pad_after and dilation have one value per spatial dimension (pad_before/pad_after may
differ: padding='same' with an even kernel pads more at the end). Routing: kernels/conv/conv.cpp.
)pbdoc");

  py::module_ t = m.def_submodule("_testing", "Raw kernel entry points for tests and benchmarks.");
  t.def("sgemm", &testing_sgemm, py::arg("a"), py::arg("b"), py::arg("bias") = py::none(),
        py::arg("bias_per_row") = false, py::arg("relu") = false, py::arg("reference") = false,
        py::arg("parallel") = true, R"pbdoc(
C = a @ b (+ bias per column, or per row with bias_per_row) (then ReLU), through the dispatched
GEMM (the active ISA; the inner-product path for M <= 32, or M <= 64 with N <= 128, and the
broadcast-weight path (AVX2/AVX-512) for other M <= 64, when a has unit column stride and b unit
row stride; the small-M path for M <= 8 when a and b have unit column strides) or, with
reference=True, the naive float64-accumulating loops. a and b may have any strides (their
transposes, slices and negative strides are read in place: this tests the packing routines).
)pbdoc");
  t.def(
      "gemm_config",
      [] {
        const kernels::GemmKernels& k = kernels::gemm_kernels();
        py::dict d;
        d["isa"] = k.name;
        d["mr"] = k.mr;
        d["nr"] = k.nr;
        d["mc"] = k.mc;
        d["kc"] = k.kc;
        d["nc"] = k.nc;
        d["small_m"] = kernels::kSmallM;
        d["inner_product_m"] = kernels::kInnerProductM;
        d["inner_product_narrow_m"] = kernels::kInnerProductNarrowM;
        d["inner_product_narrow_n"] = kernels::kInnerProductNarrowN;
        d["broadcast_weight_m"] = k.bw_nt != nullptr ? kernels::kBroadcastWeightM : 0;
        return d;
      },
      "The GEMM table of the active ISA: microkernel tile (mr x nr) and cache blocks.");
  t.def("fma_peak_gflops", &kernels::fma_peak_gflops,
        "Measured multiply-add peak of the active ISA path on one core, GFLOP/s (~0.1 s).");
  t.def(
      "conv_nd",
      [](const py::handle& x, const py::handle& w, const py::object& bias,
         const std::vector<std::int64_t>& stride, const std::vector<std::int64_t>& pad_before,
         const std::vector<std::int64_t>& pad_after, const std::vector<std::int64_t>& dilation,
         std::int64_t groups, bool relu, const std::string& path) {
        return conv_run(conv_inputs(x, w, bias, stride, pad_before, pad_after, dilation, groups),
                        relu, parse_conv_path(path));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("stride"),
      py::arg("pad_before"), py::arg("pad_after"), py::arg("dilation"), py::arg("groups"),
      py::arg("relu") = false, py::arg("path") = "auto",
      "conv_nd through a forced path: auto, reference (naive loops), gemm_1x1, shift_gemm "
      "(shift_gemm_columns / shift_gemm_pixel_rows: one orientation), depthwise, im2col_gemm, "
      "winograd (winograd_tile_rows / winograd_channel_rows: one GEMM orientation) (ValueError "
      "when the path does not apply).");
  t.def(
      "conv_path",
      [](const py::handle& x, const py::handle& w, const std::vector<std::int64_t>& stride,
         const std::vector<std::int64_t>& pad_before, const std::vector<std::int64_t>& pad_after,
         const std::vector<std::int64_t>& dilation, std::int64_t groups) {
        ConvInputs in =
            conv_inputs(x, w, py::none(), stride, pad_before, pad_after, dilation, groups);
        return std::string(kernels::conv_path_name(kernels::conv_route(in.p)));
      },
      py::arg("input"), py::arg("weight"), py::arg("stride"), py::arg("pad_before"),
      py::arg("pad_after"), py::arg("dilation"), py::arg("groups"),
      "The path conv_nd routes these arguments to.");
}

}  // namespace minimod::bindings
