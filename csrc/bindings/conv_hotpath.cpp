// Lean call paths of the conv-network layers: Conv{1,2,3}d and BatchNorm eval forwards, and a
// Conv -> BatchNorm (eval) [-> ReLU [-> MaxPool2d]] run inside Sequential computed as ONE
// convolution whose store applies BatchNorm's affine (and the ReLU), the pool reading its output
// from a per-thread scratch buffer. Likewise a Linear -> ReLU pair inside Sequential is one GEMM
// with the ReLU in its store (an MLP at batch 1 spends more on the ReLU module calls than on
// the ReLUs).
//
// Why: at batch 1 a small CNN spends as much time in per-module Python and binding work (~5 us per
// conv or BN call through F.conv2d's checks and pybind11's casters) and in whole-tensor memory
// passes (BN, then ReLU, each reading and writing the conv output) as in its convolutions. These
// entries follow linear's pattern (linalg.cpp): raw METH_FASTCALL functions that read numpy's
// array struct directly and compute only when every argument is a plain one they can check
// completely (C-contiguous aligned float32 arrays, int tuples, valid geometry). Anything else,
// valid or not, goes to the full Python path (F.conv*, BatchNorm's checked forward, or calling
// each module), so every error message and edge case is exactly that path's.
//
// The fused run is not weight folding (optimize_for_inference does that, once): the per-channel
// scale and shift are computed at every call from the live conv bias, BN weight, bias, running
// statistics and eps, so any write through any route is seen at the next call. It runs only when
// nothing could observe the difference: the three modules are exactly the library's classes
// (class methods as installed, no instance `forward`), in eval mode, with no hooks of their own
// and no global module hooks (the same eight registries Module.__call__ tests).
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bindings/array_util.h"
#include "bindings/bindings.h"
#include "bindings/kernel_call.h"
#include "bindings/linear_call.h"
#include "common/aligned.h"
#include "core/storage.h"
#include "kernels/conv/conv.h"
#include "kernels/norm/batchnorm.h"
#include "kernels/pool/pool.h"

namespace py = pybind11;

namespace minimod::bindings {

namespace {

namespace npy = pybind11::detail;

// ---- plain numpy operands ---------------------------------------------------------------------
// (is_plain_f32, ndim_of, dims_of, data_of, new_f32_array: bindings/array_util.h)

// A plain float32 vector of exactly n elements.
bool is_plain_vector(PyObject* o, std::int64_t n) {
  return is_plain_f32(o) && ndim_of(o) == 1 && dims_of(o)[0] == n;
}

// ---- plain conv arguments -----------------------------------------------------------------------

// An exact int (not bool, not a subclass) that fits in int64.
bool plain_int(PyObject* o, std::int64_t* out) {
  if (!PyLong_CheckExact(o)) return false;
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow != 0 || (v == -1 && PyErr_Occurred())) {
    PyErr_Clear();
    return false;
  }
  *out = v;
  return true;
}

// An int (repeated n times) or a tuple of n ints, as the layers store stride/padding/dilation.
bool plain_ints(PyObject* o, int n, std::int64_t* out) {
  if (PyLong_CheckExact(o)) {
    std::int64_t v;
    if (!plain_int(o, &v)) return false;
    for (int i = 0; i < n; ++i) out[i] = v;
    return true;
  }
  if (!PyTuple_CheckExact(o) || PyTuple_GET_SIZE(o) != n) return false;
  for (int i = 0; i < n; ++i) {
    if (!plain_int(PyTuple_GET_ITEM(o, i), &out[i])) return false;
  }
  return true;
}

// The parameters of conv(x, w, bias, stride, padding, dilation, groups) with `nd` spatial
// dimensions, when it is a plain batched call that the native kernel computes exactly as the
// checked path would; false for anything else (that path then converts or raises). The geometry
// is resolve_conv_geometry's, as in linalg.cpp's conv_inputs, which the checked path ends in.
bool plain_conv(int nd, PyObject* x, PyObject* w, PyObject* bias, PyObject* stride,
                PyObject* padding, PyObject* dilation, PyObject* groups, kernels::ConvParams* p) {
  if (!is_plain_f32(x) || !is_plain_f32(w) || ndim_of(x) != nd + 2 || ndim_of(w) != nd + 2) {
    return false;
  }
  const Py_intptr_t* xd = dims_of(x);
  const Py_intptr_t* wd = dims_of(w);
  for (int i = 0; i < nd + 2; ++i) {
    if (xd[i] < 1 || wd[i] < 1) return false;  // empty tensors: the checked path's business
  }
  std::int64_t s[3], pad[3], d[3], g;
  if (!plain_ints(stride, nd, s) || !plain_ints(padding, nd, pad) ||
      !plain_ints(dilation, nd, d) || !plain_int(groups, &g)) {
    return false;
  }
  if (g < 1 || wd[0] < g || wd[0] % g != 0 || wd[1] * g != xd[1]) return false;
  if (bias != Py_None && !is_plain_vector(bias, wd[0])) return false;
  p->ndim = nd;
  p->batch = xd[0];
  p->in_channels = xd[1];
  p->out_channels = wd[0];
  p->groups = g;
  const int off = 3 - nd;
  for (int i = 0; i < nd; ++i) {
    p->in_size[off + i] = xd[2 + i];
    p->kernel[off + i] = wd[2 + i];
    p->stride[off + i] = s[i];
    p->pad_before[off + i] = pad[i];
    p->pad_after[off + i] = pad[i];
    p->dilation[off + i] = d[i];
  }
  if (kernels::resolve_conv_geometry(*p) != kernels::ConvGeometry::Ok) return false;
  return true;
}

double conv_macs(const kernels::ConvParams& p) {
  return static_cast<double>(p.batch) * static_cast<double>(p.out_channels) *
         static_cast<double>(p.out_plane()) * static_cast<double>(p.in_channels / p.groups) *
         static_cast<double>(p.kernel_volume());
}

// y = conv(x, w) with the epilogue, into a new (N, C_out, *out) array.
py::object run_conv(const kernels::ConvParams& p, PyObject* x, PyObject* w,
                    const kernels::ConvEpilogue& ep) {
  std::int64_t dims[5] = {p.batch, p.out_channels, 0, 0, 0};
  for (int i = 0; i < p.ndim; ++i) dims[2 + i] = p.out_size[3 - p.ndim + i];
  py::object out = new_f32_array(p.ndim + 2, dims);
  const float* xp = data_of(x);
  const float* wp = data_of(w);
  float* y = data_of(out.ptr());
  run_kernel(conv_macs(p), [&] { kernels::conv_forward(p, xp, wp, ep, y); });
  return out;
}

// ---- Conv*d.forward: conv_or_fallback -------------------------------------------------------------

// self of the builtin: (fallback, nd). Called as f(input, weight, bias, stride, padding,
// dilation, groups), the argument order of F.conv*d.
PyObject* conv_or_fallback(PyObject* self, PyObject* const* args, Py_ssize_t nargsf) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  PyObject* fallback = PyTuple_GET_ITEM(self, 0);
  if (nargs != 7) return PyObject_Vectorcall(fallback, args, nargs, nullptr);
  const int nd = static_cast<int>(PyLong_AsLong(PyTuple_GET_ITEM(self, 1)));
  kernels::ConvParams p;
  if (!plain_conv(nd, args[0], args[1], args[2], args[3], args[4], args[5], args[6], &p)) {
    return PyObject_Vectorcall(fallback, args, nargs, nullptr);
  }
  try {
    kernels::ConvEpilogue ep;
    ep.bias = args[2] == Py_None ? nullptr : data_of(args[2]);
    return run_conv(p, args[0], args[1], ep).release().ptr();
  } catch (...) {
    npy::try_translate_exceptions();
    return nullptr;
  }
}

PyMethodDef g_conv_def = {
    "conv_or_fallback", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(conv_or_fallback)),
    METH_FASTCALL,
    "conv_or_fallback(input, weight, bias, stride, padding, dilation, groups): the native "
    "convolution for a plain batched float32 call, otherwise fallback(...)."};

// ---- BatchNorm eval ---------------------------------------------------------------------------------

// A Python float or exact int as a double.
bool plain_double(PyObject* o, double* out) {
  if (PyFloat_CheckExact(o)) {
    *out = PyFloat_AS_DOUBLE(o);
    return true;
  }
  std::int64_t v;
  if (!plain_int(o, &v)) return false;
  *out = static_cast<double>(v);
  return true;
}

// The per-channel statistics of an eval-mode batch norm over `c` channels, when all are plain.
struct BnStats {
  const float* mean = nullptr;
  const float* var = nullptr;
  const float* weight = nullptr;  // nullptr: 1
  const float* bias = nullptr;    // nullptr: 0
  double eps = 0.0;
};

bool plain_bn(PyObject* mean, PyObject* var, PyObject* weight, PyObject* bias, PyObject* eps,
              std::int64_t c, BnStats* out) {
  if (!is_plain_vector(mean, c) || !is_plain_vector(var, c)) return false;
  if (weight != Py_None && !is_plain_vector(weight, c)) return false;
  if (bias != Py_None && !is_plain_vector(bias, c)) return false;
  if (!plain_double(eps, &out->eps) || !(out->eps >= 0.0)) return false;
  out->mean = data_of(mean);
  out->var = data_of(var);
  out->weight = weight == Py_None ? nullptr : data_of(weight);
  out->bias = bias == Py_None ? nullptr : data_of(bias);
  return true;
}

// batch_norm_eval_or_none(input, running_mean, running_var, weight, bias, eps, ndims): the eval
// forward of a BatchNorm layer (nn_ops.cpp's batch_norm_eval, same coefficients and kernel) when
// input is a plain float32 array whose rank is in the bit mask `ndims` and every statistic is a
// plain vector of its channel count; None otherwise (the layer then runs its checked forward).
PyObject* batch_norm_eval_or_none(PyObject*, PyObject* const* args, Py_ssize_t nargsf) {
  if (PyVectorcall_NARGS(nargsf) != 7) {
    PyErr_SetString(PyExc_TypeError, "_batch_norm_eval_or_none() takes exactly 7 arguments");
    return nullptr;
  }
  PyObject* x = args[0];
  std::int64_t mask = 0;
  if (!plain_int(args[6], &mask) || !is_plain_f32(x)) Py_RETURN_NONE;
  const int nd = ndim_of(x);
  if (nd < 2 || nd > 62 || ((mask >> nd) & 1) == 0) Py_RETURN_NONE;
  const Py_intptr_t* xd = dims_of(x);
  std::int64_t n = xd[0], c = xd[1], s = 1;
  for (int i = 2; i < nd; ++i) s *= xd[i];
  if (n < 1 || c < 1 || s < 1) Py_RETURN_NONE;
  BnStats st;
  if (!plain_bn(args[1], args[2], args[3], args[4], args[5], c, &st)) Py_RETURN_NONE;
  try {
    std::int64_t dims[kMaxDims];
    for (int i = 0; i < nd; ++i) dims[i] = xd[i];
    py::object out = new_f32_array(nd, dims);
    const float* src = data_of(x);
    float* dst = data_of(out.ptr());
    std::vector<double> mean(st.mean, st.mean + c), var(st.var, st.var + c);
    std::vector<float> center(c), scale(c), shift(c);
    run_kernel(static_cast<double>(n) * c * s / 4, [&] {
      batchnorm_coefficients(mean.data(), var.data(), st.weight, st.bias, st.eps, c, center.data(),
                             scale.data(), shift.data());
      batchnorm_apply_f32(src, dst, n, c, s, center.data(), scale.data(), shift.data());
    });
    return out.release().ptr();
  } catch (...) {
    npy::try_translate_exceptions();
    return nullptr;
  }
}

PyMethodDef g_bn_def = {
    "_batch_norm_eval_or_none",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(batch_norm_eval_or_none)),
    METH_FASTCALL,
    "_batch_norm_eval_or_none(input: typing.Any, running_mean: typing.Any, running_var: "
    "typing.Any, weight: typing.Any, bias: typing.Any, eps: typing.Any, ranks: int) -> "
    "typing.Any\n\n"
    "BatchNorm's eval forward for plain float32 arguments (input rank r with bit r of ranks "
    "set), else None."};

// ---- Sequential: Conv -> BatchNorm (eval) [-> ReLU] as one convolution ---------------------------

struct FusionState {
  bool installed = false;
  std::int64_t fused_runs = 0;       // runs computed fused, for tests (under the GIL)
  std::int64_t linear_relu_runs = 0;  // Linear -> ReLU pairs computed fused, for tests
  PyTypeObject* conv_types[3] = {};  // Conv1d, Conv2d, Conv3d
  PyTypeObject* bn_types[3] = {};    // BatchNorm1d, 2d, 3d (same dimension as the conv)
  PyTypeObject* relu_type = nullptr;
  PyTypeObject* linear_type = nullptr;
  PyObject* linear_forward = nullptr;
  PyTypeObject* maxpool2d_type = nullptr;
  PyObject* maxpool2d_forward = nullptr;
  bool fuse_pool = true;  // tests and benchmarks can turn the MaxPool2d step off
  // Class attributes as they were at install: a class patched since is not fused.
  PyObject* conv_methods[3][2] = {};  // forward, _conv_forward
  PyObject* bn_methods[3][2] = {};    // forward, _check_input_dim
  PyObject* relu_forward = nullptr;
  PyObject* module_call = nullptr;    // Module.__call__
  PyObject* globals = nullptr;        // minimod.nn.module's __dict__ (global hook registries)
  PyObject* local_hooks[4] = {};      // the four per-module registries Module.__call__ tests
  PyObject* global_hooks[4] = {};     // and the four global ones
  PyObject* n_forward = nullptr;
  PyObject* n_conv_forward = nullptr;
  PyObject* n_check_input_dim = nullptr;
  PyObject* n_call = nullptr;
  PyObject* n_training = nullptr;
  PyObject* n_weight = nullptr;
  PyObject* n_bias = nullptr;
  PyObject* n_stride = nullptr;
  PyObject* n_padding = nullptr;
  PyObject* n_dilation = nullptr;
  PyObject* n_groups = nullptr;
  PyObject* n_padding_mode = nullptr;
  PyObject* n_running_mean = nullptr;
  PyObject* n_running_var = nullptr;
  PyObject* n_eps = nullptr;
  PyObject* n_kernel_size = nullptr;
  PyObject* n_ceil_mode = nullptr;
  PyObject* n_return_indices = nullptr;
};

FusionState g_fusion;

// 1 when every registry named in `names` is present in `dict` and empty, 0 when one holds
// something or is missing, -1 on error.
int registries_empty(PyObject* dict, PyObject* const* names) {
  for (int i = 0; i < 4; ++i) {
    PyObject* reg = PyDict_GetItemWithError(dict, names[i]);  // borrowed
    if (reg == nullptr) return PyErr_Occurred() ? -1 : 0;
    const int truth = PyObject_IsTrue(reg);
    if (truth != 0) return truth < 0 ? -1 : 0;
  }
  return 1;
}

// 1 when `m` runs exactly the library's forward with nothing to observe the call: its class is
// unpatched (`methods`, `count` of them), no instance `forward`, eval mode (unless `any_mode`:
// a module whose forward is the same in both), no hooks of its own. 0 otherwise, -1 on error.
int plain_module(PyObject* m, PyObject* const* names, PyObject* const* methods, int count,
                 bool any_mode = false) {
  const FusionState& st = g_fusion;
  PyTypeObject* type = Py_TYPE(m);
  if (_PyType_Lookup(type, st.n_call) != st.module_call) return 0;
  for (int i = 0; i < count; ++i) {
    if (_PyType_Lookup(type, names[i]) != methods[i]) return 0;
  }
  PyObject* dict = PyObject_GenericGetDict(m, nullptr);
  if (dict == nullptr) {
    PyErr_Clear();
    return 0;
  }
  int rc = 1;
  PyObject* inst_forward = PyDict_GetItemWithError(dict, st.n_forward);
  PyObject* training = inst_forward == nullptr ? PyDict_GetItemWithError(dict, st.n_training) : nullptr;
  if (PyErr_Occurred()) {
    rc = -1;
  } else if (inst_forward != nullptr || (training != Py_False && !(any_mode && training == Py_True))) {
    rc = 0;  // an instance forward, training mode (or a non-bool flag)
  } else {
    rc = registries_empty(dict, st.local_hooks);
  }
  Py_DECREF(dict);
  return rc;
}

// An attribute of a module as its forward reads it (self.name): a new reference or nullptr.
struct Attr {
  PyObject* v = nullptr;
  Attr(PyObject* m, PyObject* name) : v(PyObject_GetAttr(m, name)) {}
  ~Attr() { Py_XDECREF(v); }
  Attr(const Attr&) = delete;
  Attr& operator=(const Attr&) = delete;
};

// Index of `type` in `types` (3 entries), or -1.
int type_index(PyTypeObject* const* types, PyTypeObject* type) {
  for (int i = 0; i < 3; ++i) {
    if (types[i] == type) return i;
  }
  return -1;
}

// The window of a MaxPool2d whose forward is a plain unpadded, undilated pooling without
// indices: true with *w filled (kernel and stride >= 1), false for anything else.
bool plain_maxpool(PyObject* pool, Pool2dWindow* w) {
  const FusionState& st = g_fusion;
  Attr k(pool, st.n_kernel_size), s(pool, st.n_stride), pad(pool, st.n_padding),
      dil(pool, st.n_dilation), ceil(pool, st.n_ceil_mode), idx(pool, st.n_return_indices);
  if (!k.v || !s.v || !pad.v || !dil.v || !ceil.v || !idx.v) {
    PyErr_Clear();
    return false;
  }
  std::int64_t kk[2], ss[2], pp[2], dd[2];
  if (ceil.v != Py_False || idx.v != Py_False || !plain_ints(k.v, 2, kk) || !plain_ints(s.v, 2, ss) ||
      !plain_ints(pad.v, 2, pp) || !plain_ints(dil.v, 2, dd)) {
    return false;
  }
  if (pp[0] != 0 || pp[1] != 0 || dd[0] != 1 || dd[1] != 1) return false;
  if (kk[0] < 1 || kk[1] < 1 || ss[0] < 1 || ss[1] < 1) return false;
  *w = Pool2dWindow{kk[0], kk[1], ss[0], ss[1], 0, 0, 1, 1};
  return true;
}

// Grow-only scratch for the conv output a fused max pool reads (per thread: no page faults and
// no allocation in steady state, and it stays in cache between calls).
float* pool_scratch(std::size_t n) {
  thread_local AlignedPtr<float> buf;
  thread_local std::size_t cap = 0;
  if (n > cap) {
    buf = aligned_array<float>(n);
    cap = n;
  }
  return buf.get();
}

// Runs conv -> bn [-> relu] on x as one convolution. Returns a new reference with *fused = true,
// or nullptr with *fused = false when the run is not plain (nothing was computed; the caller
// calls the modules one by one), or nullptr with an error set.
PyObject* try_fused(PyObject* conv, PyObject* bn, bool relu, int nd, PyObject* x, bool* fused,
                    const Pool2dWindow* pool = nullptr, bool* pooled = nullptr) {
  const FusionState& st = g_fusion;
  *fused = false;
  Attr mode(conv, st.n_padding_mode);
  if (mode.v == nullptr) return PyErr_Clear(), nullptr;
  if (!PyUnicode_Check(mode.v) || PyUnicode_CompareWithASCIIString(mode.v, "zeros") != 0) return nullptr;
  Attr w(conv, st.n_weight), b(conv, st.n_bias), stride(conv, st.n_stride),
      padding(conv, st.n_padding), dilation(conv, st.n_dilation), groups(conv, st.n_groups);
  // A failing attribute read is left to the module's own forward to report.
  if (!w.v || !b.v || !stride.v || !padding.v || !dilation.v || !groups.v) return PyErr_Clear(), nullptr;
  kernels::ConvParams p;
  if (!plain_conv(nd, x, w.v, b.v, stride.v, padding.v, dilation.v, groups.v, &p)) return nullptr;
  Attr mean(bn, st.n_running_mean), var(bn, st.n_running_var), gamma(bn, st.n_weight),
      beta(bn, st.n_bias), eps(bn, st.n_eps);
  if (!mean.v || !var.v || !gamma.v || !beta.v || !eps.v) return PyErr_Clear(), nullptr;
  BnStats bs;
  if (!plain_bn(mean.v, var.v, gamma.v, beta.v, eps.v, p.out_channels, &bs)) return nullptr;
  // y = BN(conv + b) = acc * s + t with s = gamma / sqrt(var + eps), t = beta + (b - mean) * s,
  // in double. A non-finite s or t (var + eps = 0, huge values) would turn the unfused path's
  // infinities into NaNs here: such a run is left unfused.
  const std::int64_t c = p.out_channels;
  std::vector<float> scale(static_cast<std::size_t>(c)), shift(static_cast<std::size_t>(c));
  const float* cb = b.v == Py_None ? nullptr : data_of(b.v);
  for (std::int64_t i = 0; i < c; ++i) {
    const double s = (bs.weight ? bs.weight[i] : 1.0) / std::sqrt(static_cast<double>(bs.var[i]) + bs.eps);
    const double t = (bs.bias ? bs.bias[i] : 0.0) + ((cb ? cb[i] : 0.0) - bs.mean[i]) * s;
    scale[i] = static_cast<float>(s);
    shift[i] = static_cast<float>(t);
    if (!std::isfinite(scale[i]) || !std::isfinite(shift[i])) return nullptr;
  }
  // A window larger than the conv output: the pool runs on its own (and raises its error).
  if (pool != nullptr && (p.out_size[1] < pool->kh || p.out_size[2] < pool->kw)) pool = nullptr;
  if (pooled != nullptr) *pooled = pool != nullptr;
  *fused = true;
  ++g_fusion.fused_runs;
  try {
    kernels::ConvEpilogue ep;
    ep.scale = scale.data();
    ep.bias = shift.data();
    ep.relu = relu;
    if (pool != nullptr) {
      // The conv output goes to scratch and the max pool writes the result: the conv output is
      // never a fresh array, and the pool reads it from cache.
      const std::int64_t H = p.out_size[1], W = p.out_size[2];
      const std::int64_t oh = (H - pool->kh) / pool->sh + 1, ow = (W - pool->kw) / pool->sw + 1;
      std::int64_t dims[4] = {p.batch, p.out_channels, oh, ow};
      py::object out = new_f32_array(4, dims);
      float* y = data_of(out.ptr());
      const float* xp = data_of(x);
      const float* wp = data_of(w.v);
      KernelCall call;
      float* tmp = pool_scratch(static_cast<std::size_t>(p.batch * p.out_channels * H * W));
      kernels::conv_forward(p, xp, wp, ep, tmp);
      max_pool2d_f32(tmp, y, nullptr, p.batch * p.out_channels, H, W, oh, ow, *pool);
      return out.release().ptr();
    }
    return run_conv(p, x, w.v, ep).release().ptr();
  } catch (...) {
    npy::try_translate_exceptions();
    return nullptr;
  }
}

// Runs linear -> relu on x as one GEMM with the ReLU in its store when both modules are plain
// (either mode: neither forward depends on it) and Linear's own forward would run natively.
// Returns a new reference with *fused = true, nullptr with *fused = false when not (nothing was
// computed), or nullptr with an error set.
PyObject* try_linear_relu(PyObject* linear, PyObject* relu, PyObject* x, bool* fused) {
  const FusionState& st = g_fusion;
  *fused = false;
  PyObject* linear_names[1] = {st.n_forward};
  PyObject* relu_names[1] = {st.n_forward};
  int ok = plain_module(linear, linear_names, &st.linear_forward, 1, /*any_mode=*/true);
  if (ok == 1) ok = plain_module(relu, relu_names, &st.relu_forward, 1, /*any_mode=*/true);
  if (ok != 1) return nullptr;  // -1: the error stays set
  Attr w(linear, st.n_weight), b(linear, st.n_bias);
  if (!w.v || !b.v) return PyErr_Clear(), nullptr;  // left to Linear's forward to report
  if (!linear_args_native(x, w.v, b.v)) return nullptr;
  *fused = true;
  ++g_fusion.linear_relu_runs;
  try {
    return linear_native(x, w.v, b.v, /*relu=*/true).release().ptr();
  } catch (...) {
    npy::try_translate_exceptions();
    return nullptr;
  }
}

// sequential_forward(modules, input): `for m in modules: input = m(input)`, except that a run
// Conv -> BatchNorm [-> ReLU] that is plain (see the file comment) is one fused convolution, and
// a plain Linear -> ReLU pair one GEMM.
PyObject* sequential_forward(PyObject*, PyObject* const* args, Py_ssize_t nargsf) {
  const FusionState& st = g_fusion;
  if (PyVectorcall_NARGS(nargsf) != 2 || !PyTuple_CheckExact(args[0])) {
    PyErr_SetString(PyExc_TypeError, "_sequential_forward(modules: tuple, input)");
    return nullptr;
  }
  PyObject* modules = args[0];
  const Py_ssize_t n = PyTuple_GET_SIZE(modules);
  PyObject* x = args[1];
  Py_INCREF(x);
  // Global hooks see every call: with any present nothing is fused (checked once per forward;
  // a hook that registers a global hook mid-forward runs through a module call, after which the
  // check is repeated).
  int globals_clear = -2;
  for (Py_ssize_t i = 0; i < n;) {
    PyObject* m = PyTuple_GET_ITEM(modules, i);
    if (st.installed && i + 1 < n && Py_TYPE(m) == st.linear_type &&
        Py_TYPE(PyTuple_GET_ITEM(modules, i + 1)) == st.relu_type) {
      if (globals_clear == -2) globals_clear = registries_empty(st.globals, st.global_hooks);
      if (globals_clear < 0) {
        Py_DECREF(x);
        return nullptr;
      }
      if (globals_clear == 1) {
        bool fused = false;
        PyObject* y = try_linear_relu(m, PyTuple_GET_ITEM(modules, i + 1), x, &fused);
        if (fused || PyErr_Occurred()) {
          Py_DECREF(x);
          if (y == nullptr) return nullptr;
          x = y;
          i += 2;
          continue;
        }
      }
    }
    const int ci = st.installed && i + 1 < n ? type_index(st.conv_types, Py_TYPE(m)) : -1;
    if (ci >= 0 && Py_TYPE(PyTuple_GET_ITEM(modules, i + 1)) == st.bn_types[ci]) {
      PyObject* bn = PyTuple_GET_ITEM(modules, i + 1);
      PyObject* r = i + 2 < n ? PyTuple_GET_ITEM(modules, i + 2) : nullptr;
      if (globals_clear == -2) globals_clear = registries_empty(st.globals, st.global_hooks);
      int ok = globals_clear;
      if (ok == 1) {
        PyObject* conv_names[2] = {st.n_forward, st.n_conv_forward};
        ok = plain_module(m, conv_names, st.conv_methods[ci], 2);
      }
      if (ok == 1) {
        PyObject* bn_names[2] = {st.n_forward, st.n_check_input_dim};
        ok = plain_module(bn, bn_names, st.bn_methods[ci], 2);
      }
      int relu = 0;
      if (ok == 1 && r != nullptr && Py_TYPE(r) == st.relu_type) {
        PyObject* relu_names[1] = {st.n_forward};
        relu = plain_module(r, relu_names, &st.relu_forward, 1);
      }
      if (ok < 0 || relu < 0) {
        Py_DECREF(x);
        return nullptr;
      }
      // ... [-> MaxPool2d] after a 2-d run with its ReLU, when the pool fits (a window that
      // fits the conv output).
      Pool2dWindow window;
      bool pool = false;
      if (ok == 1 && relu == 1 && ci == 1 && st.fuse_pool && i + 3 < n) {
        PyObject* mp = PyTuple_GET_ITEM(modules, i + 3);
        if (Py_TYPE(mp) == st.maxpool2d_type) {
          PyObject* mp_names[1] = {st.n_forward};
          const int plain = plain_module(mp, mp_names, &st.maxpool2d_forward, 1);
          if (plain < 0) {
            Py_DECREF(x);
            return nullptr;
          }
          pool = plain == 1 && plain_maxpool(mp, &window);
        }
      }
      if (ok == 1) {
        bool fused = false;
        PyObject* y = try_fused(m, bn, relu == 1, ci + 1, x, &fused, pool ? &window : nullptr, &pool);
        if (fused) {
          Py_DECREF(x);
          if (y == nullptr) return nullptr;
          x = y;
          i += pool ? 4 : relu == 1 ? 3 : 2;
          continue;
        }
      }
    }
    PyObject* y = PyObject_Vectorcall(m, &x, 1, nullptr);
    Py_DECREF(x);
    if (y == nullptr) return nullptr;
    x = y;
    globals_clear = -2;  // the call may have registered a global hook
    ++i;
  }
  return x;
}

PyMethodDef g_sequential_def = {
    "_sequential_forward",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(sequential_forward)),
    METH_FASTCALL,
    "_sequential_forward(modules: tuple, input: typing.Any) -> typing.Any\n\n"
    "Sequential.forward over a tuple of modules, running each plain eval-mode Conv -> BatchNorm "
    "[-> ReLU] run as one fused convolution and each plain Linear -> ReLU pair as one GEMM."};

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

PyObject* class_attr(py::handle type, PyObject* name) {
  PyObject* v = _PyType_Lookup(reinterpret_cast<PyTypeObject*>(type.ptr()), name);
  Py_XINCREF(v);  // kept for the process's life
  return v;
}

// Converts `x, w, scale, shift` and the conv arguments for the _testing entry.
py::array testing_conv_affine(py::handle x_in, py::handle w_in, py::object scale, py::object shift,
                              py::object stride, py::object padding, py::object dilation,
                              py::object groups, bool relu, const std::string& path_name) {
  kernels::ConvPath path;
  if (!kernels::conv_path_from_name(path_name.c_str(), &path)) {
    throw py::value_error("unknown conv path '" + path_name + "': expected one of " +
                          kernels::conv_path_names());
  }
  py::object x = require_f32(x_in, "conv_affine");
  py::object w = require_f32(w_in, "conv_affine");
  py::object s = require_f32(scale, "conv_affine");
  py::object t = shift.is_none() ? shift : py::object(require_f32(shift, "conv_affine"));
  const int nd = ndim_of(x.ptr()) - 2;
  kernels::ConvParams p;
  if (nd < 1 || nd > 3 ||
      !plain_conv(nd, x.ptr(), w.ptr(), t.ptr(), stride.ptr(), padding.ptr(), dilation.ptr(),
                  groups.ptr(), &p) ||
      !is_plain_vector(s.ptr(), p.out_channels)) {
    throw py::value_error("conv_affine: not a plain batched convolution");
  }
  if (!kernels::conv_path_applies(path, p)) {
    throw py::value_error(std::string("conv path '") + path_name + "' does not apply");
  }
  std::int64_t dims[5] = {p.batch, p.out_channels, 0, 0, 0};
  for (int i = 0; i < nd; ++i) dims[2 + i] = p.out_size[3 - nd + i];
  py::object out = new_f32_array(nd + 2, dims);
  kernels::ConvEpilogue ep;
  ep.scale = data_of(s.ptr());
  ep.bias = t.is_none() ? nullptr : data_of(t.ptr());
  ep.relu = relu;
  {
    KernelCall call;
    kernels::conv_forward(p, data_of(x.ptr()), data_of(w.ptr()), ep, data_of(out.ptr()), path);
  }
  return py::reinterpret_steal<py::array>(out.release());
}

}  // namespace

void init_conv_hotpath(py::module_& m) {
  m.def(
      "_conv_or_fallback",
      [](py::object fallback, int nd) {
        if (nd < 1 || nd > 3) throw py::value_error("nd must be 1, 2 or 3");
        py::tuple self = py::make_tuple(fallback, nd);
        PyObject* f = PyCFunction_NewEx(&g_conv_def, self.ptr(), nullptr);
        if (f == nullptr) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(f);
      },
      py::arg("fallback"), py::arg("nd"),
      "f(input, weight, bias, stride, padding, dilation, groups): the native nd-d convolution for "
      "a plain batched float32 call, else fallback(...) (Conv*d's forward).");

  py::object mod_name = m.attr("__name__");
  for (PyMethodDef* def : {&g_bn_def, &g_sequential_def}) {
    PyObject* f = PyCFunction_NewEx(def, nullptr, mod_name.ptr());
    if (f == nullptr) throw py::error_already_set();
    m.add_object(def->ml_name, py::reinterpret_steal<py::object>(f));
  }

  m.def(
      "_install_conv_bn_fusion",
      [](py::tuple conv_types, py::tuple bn_types, py::type relu_type, py::type maxpool2d_type,
         py::type linear_type, py::object module_call, py::dict globals) {
        FusionState& st = g_fusion;
        if (st.installed) throw py::value_error("the conv-BN fusion is already installed");
        if (conv_types.size() != 3 || bn_types.size() != 3) {
          throw py::value_error("expected three conv and three batch norm classes");
        }
        st.n_forward = intern("forward");
        st.n_conv_forward = intern("_conv_forward");
        st.n_check_input_dim = intern("_check_input_dim");
        st.n_call = intern("__call__");
        st.n_training = intern("training");
        st.n_weight = intern("weight");
        st.n_bias = intern("bias");
        st.n_stride = intern("stride");
        st.n_padding = intern("padding");
        st.n_dilation = intern("dilation");
        st.n_groups = intern("groups");
        st.n_padding_mode = intern("padding_mode");
        st.n_running_mean = intern("running_mean");
        st.n_running_var = intern("running_var");
        st.n_eps = intern("eps");
        st.n_kernel_size = intern("kernel_size");
        st.n_ceil_mode = intern("ceil_mode");
        st.n_return_indices = intern("return_indices");
        const char* locals[4] = {"_backward_hooks", "_backward_pre_hooks", "_forward_hooks",
                                 "_forward_pre_hooks"};
        const char* globs[4] = {"_global_backward_pre_hooks", "_global_backward_hooks",
                                "_global_forward_hooks", "_global_forward_pre_hooks"};
        for (int i = 0; i < 4; ++i) {
          st.local_hooks[i] = intern(locals[i]);
          st.global_hooks[i] = intern(globs[i]);
        }
        for (int i = 0; i < 3; ++i) {
          py::type ct = conv_types[i].cast<py::type>();
          py::type bt = bn_types[i].cast<py::type>();
          st.conv_types[i] = reinterpret_cast<PyTypeObject*>(ct.inc_ref().ptr());
          st.bn_types[i] = reinterpret_cast<PyTypeObject*>(bt.inc_ref().ptr());
          st.conv_methods[i][0] = class_attr(ct, st.n_forward);
          st.conv_methods[i][1] = class_attr(ct, st.n_conv_forward);
          st.bn_methods[i][0] = class_attr(bt, st.n_forward);
          st.bn_methods[i][1] = class_attr(bt, st.n_check_input_dim);
        }
        st.relu_type = reinterpret_cast<PyTypeObject*>(relu_type.inc_ref().ptr());
        st.relu_forward = class_attr(relu_type, st.n_forward);
        st.maxpool2d_type = reinterpret_cast<PyTypeObject*>(maxpool2d_type.inc_ref().ptr());
        st.maxpool2d_forward = class_attr(maxpool2d_type, st.n_forward);
        st.linear_type = reinterpret_cast<PyTypeObject*>(linear_type.inc_ref().ptr());
        st.linear_forward = class_attr(linear_type, st.n_forward);
        st.module_call = module_call.inc_ref().ptr();
        st.globals = globals.inc_ref().ptr();
        st.installed = true;
      },
      py::arg("conv_types"), py::arg("bn_types"), py::arg("relu_type"),
      py::arg("maxpool2d_type"), py::arg("linear_type"), py::arg("module_call"),
      py::arg("globals"),
      "Enable the fused Conv -> BatchNorm [-> ReLU] runs and Linear -> ReLU pairs of "
      "_sequential_forward (nn-internal; installed once).");

  py::module_ t = m.attr("_testing").cast<py::module_>();
  t.def(
      "conv_bn_fused_runs", [] { return g_fusion.fused_runs; },
      "How many Conv -> BatchNorm [-> ReLU] runs Sequential has computed fused so far.");
  t.def(
      "linear_relu_fused_runs", [] { return g_fusion.linear_relu_runs; },
      "How many Linear -> ReLU pairs Sequential has computed fused so far.");
  t.def(
      "set_conv_bn_pool_fusion", [](bool on) { g_fusion.fuse_pool = on; }, py::arg("on"),
      "Whether a fused Conv2d -> BatchNorm2d -> ReLU run also takes a following MaxPool2d "
      "(default on; tests and benchmarks compare both).");
  t.def("conv_affine", &testing_conv_affine, py::arg("input"), py::arg("weight"), py::arg("scale"),
        py::arg("shift"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("relu") = false, py::arg("path") = "auto", R"pbdoc(
y = conv(input, weight) * scale[c] + shift[c] (then ReLU) through a forced path (auto, reference,
gemm_1x1, shift_gemm, depthwise, im2col_gemm or winograd): the scaled epilogue of the fused
Conv -> BatchNorm runs. stride/padding/dilation are ints or tuples; ValueError when the call is
not plain or the path does not apply.)pbdoc");
}

}  // namespace minimod::bindings
