// Convolution forward: routing, the B packers (im2col, shifted rows) and the per-(image, group)
// GEMM drivers.
#include "kernels/conv/conv.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <functional>
#include <vector>

#include "common/aligned.h"
#include "kernels/conv/depthwise.h"
#include "kernels/conv/im2col.h"
#include "kernels/conv/winograd.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/parallel_slices.h"
#include "runtime/parallel.h"

namespace minimod::kernels {

// =================================================================================================
// Conv routing
//
//   condition (first match wins)                        path        how
//   ---------------------------------------------------------------------------------------------
//   in_channels / groups == 1 (depthwise, any           Depthwise   direct kernel per output
//     channel multiplier; also C_in == groups == 1)                 plane (depthwise.h)
//   kernel 1 (every dim), stride 1, no padding          Gemm1x1     per (n, g): W_g (C_out/g x
//                                                                   C_in/g) * X_g (C_in/g x HW),
//                                                                   the input planes ARE B
//   2-d 3x3, stride 1, dilation 1, groups 1, enough    Winograd    F(2x2, 3x3): 16 GEMMs on
//     tiles of 2x2 outputs and >= 16 channels in and                transformed tiles, 2.25x
//     out (winograd_wins)                                           fewer multiply-adds
//   strides <= 64 (and a kernel of more than one tap    ShiftGemm   per (n, g): GEMM on a zero-
//     if strided), and the phase-coordinate output                  padded (and, if strided,
//     grid at most twice the real one                               polyphase) copy; B row k is
//                                                                   the copy shifted by tap k;
//                                                                   small planes (>= 20% ragged
//                                                                   columns) swap the operands:
//                                                                   pixels as GEMM rows
//   anything else (strided 1x1, or a padded grid over   Im2colGemm  per (n, g): W_g * im2col(X_g),
//     twice the real one: large dilation and padding                the im2col panels packed
//     on small images)                                              straight from the image
//
// Bias (per output channel = per GEMM row) and ReLU are fused into the GEMM / kernel store.
// =================================================================================================

namespace {

bool is_pointwise(const ConvParams& p) {
  for (int i = 0; i < 3; ++i) {
    if (p.kernel[i] != 1 || p.stride[i] != 1 || p.pad_before[i] != 0 || p.pad_after[i] != 0) {
      return false;
    }
  }
  return true;
}

bool is_depthwise(const ConvParams& p) { return p.in_channels == p.groups; }

// The geometry of the shifted-row GEMM (ShiftGeometry) is in im2col.h, beside its copy kernels.

// Strides above this are left to im2col (the phase table is per residue).
constexpr std::int64_t kMaxShiftStride = 64;

bool shift_strides_ok(const ConvParams& p) {
  for (int i = 0; i < 3; ++i) {
    if (p.stride[i] > kMaxShiftStride) return false;
  }
  return true;
}

ShiftGeometry shift_geometry(const ConvParams& p) {
  ShiftGeometry g;
  g.copy = false;
  for (int i = 0; i < 3; ++i) {
    const std::int64_t s = p.stride[i];
    g.P[i] = p.in_size[i] + p.pad_before[i] + p.pad_after[i];
    g.Q[i] = (g.P[i] + s - 1) / s;
    for (std::int64_t r = 0; r < s; ++r) g.phase_of[i][r] = -1;
    for (std::int64_t k = 0; k < p.kernel[i]; ++k) g.phase_of[i][(k * p.dilation[i]) % s] = 0;
    g.phases[i] = 0;
    for (std::int64_t r = 0; r < s; ++r) {
      if (g.phase_of[i][r] == 0) g.phase_of[i][r] = static_cast<int>(g.phases[i]++);
    }
    g.copy = g.copy || s != 1 || p.pad_before[i] != 0 || p.pad_after[i] != 0;
  }
  g.phase_plane = g.Q[0] * g.Q[1] * g.Q[2];
  g.chan_plane = g.phases[0] * g.phases[1] * g.phases[2] * g.phase_plane;
  g.J = ((p.out_size[0] - 1) * g.Q[1] + (p.out_size[1] - 1)) * g.Q[2] + p.out_size[2];
  g.direct_out = g.Q[2] == p.out_size[2] && (p.out_size[0] == 1 || g.Q[1] == p.out_size[1]);
  return g;
}

bool shift_applies(const ConvParams& p) {
  // A strided 1x1 kernel has nothing to share between taps: im2col's strided gather packs it
  // straight from the input, without the copy (measured 7-10% faster on ResNet-18's downsample
  // convs). Otherwise: the discarded columns (ow >= Wo, oh >= Ho) at most double the work.
  const bool unit_stride = p.stride[0] == 1 && p.stride[1] == 1 && p.stride[2] == 1;
  return shift_strides_ok(p) && (unit_stride || p.kernel_volume() > 1) &&
         shift_geometry(p).J <= 2 * p.out_plane();
}

// Which orientation the shifted-row GEMM takes (the sections "Shifted-row GEMM" and "pixels as
// GEMM rows" below): pixels as rows when the column orientation would compute at least 20% more
// columns than there are outputs (P rounded up to whole 16-float vectors), and the gathered
// im2col^T stays a modest buffer (<= 4 MiB). Measured on AVX-512, 1 thread, pixel rows / columns:
// 512ch 7x7 (31% waste) 0.83; 64->128 8x8 (none) 1.16, 32->64 16x16 1.35, 256ch 14x14 (6%) 1.01.
bool shift_pixel_rows_wins(const ConvParams& p) {
  const std::int64_t K = p.in_channels / p.groups * p.kernel_volume();
  const std::int64_t P = p.out_plane();
  const std::int64_t computed = (P + 15) / 16 * 16;
  return 5 * computed >= 6 * P && K * P <= (std::int64_t{1} << 20);
}

}  // namespace

const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::Reference:
      return "reference";
    case ConvPath::Gemm1x1:
      return "gemm_1x1";
    case ConvPath::ShiftGemm:
      return "shift_gemm";
    case ConvPath::Depthwise:
      return "depthwise";
    case ConvPath::Im2colGemm:
      return "im2col_gemm";
    case ConvPath::Winograd:
      return "winograd";
    case ConvPath::WinogradTileRows:
      return "winograd_tile_rows";
    case ConvPath::WinogradChannelRows:
      return "winograd_channel_rows";
    case ConvPath::ShiftGemmColumns:
      return "shift_gemm_columns";
    case ConvPath::ShiftGemmPixelRows:
      return "shift_gemm_pixel_rows";
    default:
      return "auto";
  }
}

namespace {
constexpr ConvPath kAllPaths[] = {ConvPath::Auto,        ConvPath::Reference,
                                  ConvPath::Gemm1x1,     ConvPath::ShiftGemm,
                                  ConvPath::ShiftGemmColumns, ConvPath::ShiftGemmPixelRows,
                                  ConvPath::Depthwise,   ConvPath::Im2colGemm,
                                  ConvPath::Winograd,    ConvPath::WinogradTileRows,
                                  ConvPath::WinogradChannelRows};
}  // namespace

bool conv_path_from_name(const char* name, ConvPath* path) {
  for (ConvPath c : kAllPaths) {
    if (std::strcmp(name, conv_path_name(c)) == 0) {
      *path = c;
      return true;
    }
  }
  return false;
}

const char* conv_path_names() {
  static const std::string names = [] {
    std::string s;
    for (ConvPath c : kAllPaths) s += (s.empty() ? "" : ", ") + std::string(conv_path_name(c));
    return s;
  }();
  return names.c_str();
}

ConvPath conv_route(const ConvParams& p) {
  if (is_depthwise(p)) return ConvPath::Depthwise;
  if (is_pointwise(p)) return ConvPath::Gemm1x1;
  if (winograd_wins(p)) return ConvPath::Winograd;
  if (shift_applies(p)) return ConvPath::ShiftGemm;
  return ConvPath::Im2colGemm;
}

bool conv_path_applies(ConvPath path, const ConvParams& p) {
  switch (path) {
    case ConvPath::Gemm1x1:
      return is_pointwise(p);
    case ConvPath::Depthwise:
      return is_depthwise(p);
    case ConvPath::ShiftGemm:
    case ConvPath::ShiftGemmColumns:
    case ConvPath::ShiftGemmPixelRows:
      return shift_strides_ok(p);
    case ConvPath::Winograd:
    case ConvPath::WinogradTileRows:
    case ConvPath::WinogradChannelRows:
      return winograd_applies(p);
    default:
      return true;
  }
}

// The im2col B packer: panels written straight from the image (im2col_impl.h), by the active ISA's
// build.
namespace {

class Im2colPacker final : public BPacker {
 public:
  Im2colPacker(const ConvParams& p, const float* x) : p_(p), x_(x), fn_(im2col_pack()) {}

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, int nr,
            float* dst) const override {
    fn_(p_, x_, k0, kc, j0, nc, nr, dst);
  }

 private:
  const ConvParams& p_;
  const float* x_;  // first input channel of this (image, group)
  Im2colPackFn fn_;
};

// Below this many multiply-adds per GEMM, many (image, group) GEMMs run one per thread rather
// than each being split across threads.
constexpr std::int64_t kSmallGemmWork = std::int64_t{1} << 22;

// Runs run(task, opt) for every (image, group) task = n * groups + g, whose GEMM does
// `gemm_work` multiply-adds: small GEMMs, when there are enough of them, one per thread (each
// serial); otherwise one after another, each GEMM split across the threads.
template <class Run>
void for_each_group_task(const ConvParams& p, std::int64_t gemm_work, const Run& run) {
  const std::int64_t tasks = p.batch * p.groups;
  const int T = get_num_threads();
  if (T > 1 && tasks >= T && gemm_work < kSmallGemmWork) {
    GemmOptions serial;
    serial.parallel = false;
    parallel_for(tasks, 1, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t t = b; t < e; ++t) run(t, serial);
    });
  } else {
    for (std::int64_t t = 0; t < tasks; ++t) run(t, GemmOptions{});
  }
}

void conv_gemm(const ConvParams& p, const float* x, const float* w, const float* bias, bool relu,
               float* y, bool pointwise, const float* scale = nullptr) {
  const std::int64_t cin_g = p.in_channels / p.groups;
  const std::int64_t cout_g = p.out_channels / p.groups;
  const std::int64_t K = cin_g * p.kernel_volume();
  const std::int64_t P = p.out_plane();
  const std::int64_t in_plane = p.in_plane();

  auto run = [&](std::int64_t task, const GemmOptions& opt) {
    const std::int64_t n = task / p.groups, g = task % p.groups;
    const float* xg = x + (n * p.in_channels + g * cin_g) * in_plane;
    const float* wg = w + g * cout_g * K;
    float* yg = y + (n * p.out_channels + g * cout_g) * P;
    GemmEpilogue ep;
    ep.bias = bias ? bias + g * cout_g : nullptr;
    ep.bias_kind = bias ? GemmEpilogue::Bias::PerRow : GemmEpilogue::Bias::None;
    ep.relu = relu;
    ep.scale = scale ? scale + g * cout_g : nullptr;
    if (pointwise) {
      sgemm(cout_g, P, K, wg, K, 1, xg, in_plane, 1, yg, P, ep, opt);
    } else {
      Im2colPacker bp(p, xg);
      sgemm_packed_b(cout_g, P, K, wg, K, 1, bp, yg, P, ep, opt);
    }
  };

  for_each_group_task(p, cout_g * P * K, run);
}

// =================================================================================================
// Shifted-row GEMM
//
// With unit strides, output (od, oh, ow) reads padded input (od + kd*dd, oh + kh*dh, ow + kw*dw).
// Index the outputs in the padded image's coordinates, j = (od*Hp + oh)*Wp + ow: tap
// k = (c, kd, kh, kw) then reads padded[j + off(k)] with off(k) = c*plane + (kd*dd*Hp + kh*dh)*Wp
// + kw*dw, so row k of B is the contiguous run of the padded image that starts at off(k). Packing
// a panel row is a straight copy: no bounds, no padding tests, and each input element is read
// from one small copy instead of being expanded k-volume times as im2col does. The columns with
// ow >= Wo (or oh >= Ho) are not computed: with padding the packer drops them, copying each run
// as one segment per output row it touches (ShiftedRowsPacker), so the GEMM stores the
// output planes directly. (Computing them and compacting C afterwards measured 25-30% slower on
// ResNet-18's 3x3 convs at 28x28 and 56x56: the wider C went through a scratch buffer twice.)
//
// Strides reduce to the same thing on a polyphase copy: with stride s, output ow reads padded
// column s*ow + kw*dw = s*(ow + t/s) + t%s for t = kw*dw, i.e. column ow + t/s of phase t%s (the
// padded columns congruent to t%s mod s). Each phase a tap reads is stored as its own image of
// ceil(Wp/s) columns (and likewise rows, depth), outputs are indexed in phase coordinates, and
// every B row is again one contiguous run: a stride-2 3x3 conv packs like a stride-1 one instead
// of through im2col's strided gathers, and a 1x1 stride-2 conv keeps phase 0 only (a subsampled
// copy). The copy is no bigger than the padded image.
// =================================================================================================

// The shifted rows as GEMM B panels, packed by the active ISA's build (im2col.h): one contiguous
// run per panel row, or (padding, strides) one segment per output row the panel touches.
class ShiftedRowsPacker final : public BPacker {
 public:
  ShiftedRowsPacker(const ConvParams& p, const ShiftGeometry& g, const float* base,
                    const std::int64_t* off)
      : fn_(shift_rows_pack()) {
    src_.base = base;
    src_.off = off;
    src_.Ho = p.out_size[1];
    src_.Wo = p.out_size[2];
    src_.Qh = g.Q[1];
    src_.Qw = g.Q[2];
    src_.contiguous = g.direct_out;
  }

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t j0, std::int64_t nc, int nr,
            float* dst) const override {
    fn_(src_, k0, kc, j0, nc, nr, dst);
  }

 private:
  ShiftRows src_;
  ShiftRowsPackFn fn_;
};

// Grow-only per-thread scratch (padded copies, uncompacted outputs): no allocation and no page
// faults in steady state.
float* scratch(int slot, std::size_t n) {
  thread_local AlignedPtr<float> bufs[3];
  thread_local std::size_t caps[3] = {0, 0, 0};
  if (n > caps[slot]) {
    bufs[slot] = aligned_array<float>(n);
    caps[slot] = n;
  }
  return bufs[slot].get();
}

// The copy, gather and output passes around a GEMM are split across threads (by phase image,
// input channel or output channel) when the GEMM itself is (`parallel`) and there is enough to
// copy: at batch 1 they would otherwise run on one core while the other waits for the GEMM.
constexpr std::int64_t kMinParallelCopy = std::int64_t{1} << 15;  // floats

void split_rows(bool parallel, std::int64_t rows, std::int64_t floats_per_row,
                const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (parallel && rows > 1 && rows * floats_per_row >= kMinParallelCopy && get_num_threads() > 1) {
    parallel_for(rows, 1, body);
  } else {
    body(0, rows);
  }
}

// Per GEMM row k = (c, kd, kh, kw): where its run starts in the (polyphase) copy, or in the input
// itself when there is no copy (`plane` floats per channel).
std::vector<std::int64_t> shift_offsets(const ConvParams& p, const ShiftGeometry& g,
                                        std::int64_t plane) {
  const std::int64_t cin_g = p.in_channels / p.groups;
  std::vector<std::int64_t> off(static_cast<std::size_t>(cin_g * p.kernel_volume()));
  // Tap (c, kd, kh, kw) reads padded offset t = k*dilation, i.e. phase t % stride at phase
  // position t / stride.
  auto phase = [&](int i, std::int64_t k) { return g.phase_of[i][(k * p.dilation[i]) % p.stride[i]]; };
  auto shift = [&](int i, std::int64_t k) { return k * p.dilation[i] / p.stride[i]; };
  std::size_t k = 0;
  for (std::int64_t c = 0; c < cin_g; ++c)
    for (std::int64_t kd = 0; kd < p.kernel[0]; ++kd)
      for (std::int64_t kh = 0; kh < p.kernel[1]; ++kh)
        for (std::int64_t kw = 0; kw < p.kernel[2]; ++kw) {
          const std::int64_t ph =
              (phase(0, kd) * g.phases[1] + phase(1, kh)) * g.phases[2] + phase(2, kw);
          off[k++] = c * plane + ph * g.phase_plane +
                     (shift(0, kd) * g.Q[1] + shift(1, kh)) * g.Q[2] + shift(2, kw);
        }
  return off;
}

// What both shift orientations read: the GEMM's extents, the geometry, each GEMM row's run
// offset, and per task the input those offsets index (the polyphase copy, made in scratch slot 0,
// or the input itself).
struct ShiftInput {
  const ConvParams& p;
  const std::int64_t cin_g, cout_g;  // channels per group
  const std::int64_t K;              // GEMM depth: cin_g * kernel volume
  const std::int64_t P;              // output pixels per plane
  const ShiftGeometry g;
  const std::int64_t plane;  // floats per channel of what the offsets index
  const std::vector<std::int64_t> off;

  explicit ShiftInput(const ConvParams& params)
      : p(params),
        cin_g(params.in_channels / params.groups),
        cout_g(params.out_channels / params.groups),
        K(cin_g * params.kernel_volume()),
        P(params.out_plane()),
        g(shift_geometry(params)),
        plane(g.copy ? g.chan_plane : params.in_plane()),
        off(shift_offsets(params, g, plane)) {}

  // The first input channel of task (n, gi).
  const float* task_input(const float* x, std::int64_t n, std::int64_t gi) const {
    return x + (n * p.in_channels + gi * cin_g) * p.in_plane();
  }

  // The polyphase copy buffer (the calling thread's scratch slot 0), when there is a copy.
  float* copy_buffer() const { return scratch(0, static_cast<std::size_t>(cin_g * plane)); }

  // Phase images [u0, u1) of the copy into buf (unit u: channel u / phase_images, phase
  // u % phase_images).
  std::int64_t phase_images() const { return plane / g.phase_plane; }
  void copy_units(const float* xg, float* buf, std::int64_t u0, std::int64_t u1) const {
    polyphase_copy()(p, g, xg, u0, u1, buf);
  }

  // What the offsets index for task (n, gi): the input itself, or the polyphase copy, made here
  // (split across threads when `parallel`).
  const float* task_base(const float* x, std::int64_t n, std::int64_t gi, bool parallel) const {
    const float* xg = task_input(x, n, gi);
    if (!g.copy) return xg;
    float* buf = copy_buffer();
    // Split by (channel, phase) image rather than by channel: the stem's 3 channels are 12
    // phase images at stride 2, an even share for each thread.
    split_rows(parallel, cin_g * phase_images(), g.phase_plane,
               [&](std::int64_t u0, std::int64_t u1) { copy_units(xg, buf, u0, u1); });
    return buf;
  }
};

void conv_shift_columns(const ConvParams& p, const float* x, const float* w, const float* bias,
                        bool relu, float* y, const float* scale = nullptr) {
  const ShiftInput in(p);
  const std::int64_t cout_g = in.cout_g, K = in.K, P = in.P;
  const ShiftGeometry& g = in.g;

  auto run = [&](std::int64_t task, const GemmOptions& opt) {
    const std::int64_t n = task / p.groups, gi = task % p.groups;
    const float* base = in.task_base(x, n, gi, opt.parallel);
    float* yg = y + (n * p.out_channels + gi * cout_g) * P;
    GemmEpilogue ep;
    ep.bias = bias ? bias + gi * cout_g : nullptr;
    ep.bias_kind = bias ? GemmEpilogue::Bias::PerRow : GemmEpilogue::Bias::None;
    ep.relu = relu;
    ep.scale = scale ? scale + gi * cout_g : nullptr;
    // The GEMM columns are the output pixels (no phase columns to drop): the packer reads the
    // runs whole when they are the output rows themselves, else one segment per output row.
    ShiftedRowsPacker bp(p, g, base, in.off.data());
    sgemm_packed_b(cout_g, P, K, w + gi * cout_g * K, K, 1, bp, yg, P, ep, opt);
  };

  for_each_group_task(p, cout_g * P * K, run);
}

// =================================================================================================
// Shifted rows, pixels as GEMM rows (small output planes)
//
// The column orientation above computes C (C_out x P) in panels of NR = 32 columns (AVX-512;
// whole vectors of 16 at the edge): a 7x7 output plane is 49 columns computed as 64 (31% waste).
// Swapping the operands removes it: C^T (P x C_out) = im2col^T (P x K) * W^T (K x C_out). The
// GEMM rows are the output pixels, and a ragged last row panel costs only its rows (the
// microkernels are instantiated per row count), while C_out (the new N) is a multiple of the
// vector width in every real network. The price: im2col^T is gathered into a buffer (K x P, the
// copy's shifted runs with the discarded columns dropped), the weights are packed transposed,
// and C^T is transposed into the output. All three are O(K*P + C_out*K) against the GEMM's
// O(C_out*K*P), which is why this orientation is only routed for small planes.
// =================================================================================================

// y[co][j] = ct[j][co] for co in [c0, c1), j in [0, P): C^T (P x C_out) back to channel planes,
// in 8 x 8 blocks so both sides are read and written a cache line at a time.
void transpose_block(const float* ct, std::int64_t cout, std::int64_t P, std::int64_t c0,
                     std::int64_t c1, float* y) {
  constexpr std::int64_t B = 8;
  for (std::int64_t cb = c0; cb < c1; cb += B) {
    const std::int64_t ce = std::min(c1, cb + B);
    for (std::int64_t jb = 0; jb < P; jb += B) {
      const std::int64_t je = std::min(P, jb + B);
      for (std::int64_t co = cb; co < ce; ++co)
        for (std::int64_t j = jb; j < je; ++j) y[co * P + j] = ct[j * cout + co];
    }
  }
}

// The same, applying a scaled epilogue on the way: y = ct * scale[co] + bias[co] (then ReLU). The
// GEMM's epilogue scales rows, and here the output channels are its columns, so the per-channel
// scale is applied in this pass instead (which reads every output once anyway).
void transpose_block_scaled(const float* ct, std::int64_t cout, std::int64_t P, std::int64_t c0,
                            std::int64_t c1, const float* scale, const float* bias, bool relu,
                            float* y) {
  constexpr std::int64_t B = 8;
  for (std::int64_t cb = c0; cb < c1; cb += B) {
    const std::int64_t ce = std::min(c1, cb + B);
    for (std::int64_t jb = 0; jb < P; jb += B) {
      const std::int64_t je = std::min(P, jb + B);
      for (std::int64_t co = cb; co < ce; ++co) {
        const float s = scale[co], b = bias ? bias[co] : 0.0f;
        for (std::int64_t j = jb; j < je; ++j) {
          const float v = ct[j * cout + co] * s + b;
          y[co * P + j] = relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN, as torch's relu
        }
      }
    }
  }
}

void conv_shift_pixel_rows(const ConvParams& p, const float* x, const float* w, const float* bias,
                           bool relu, float* y, const float* scale = nullptr) {
  const ShiftInput in(p);
  const std::int64_t cout_g = in.cout_g, K = in.K, P = in.P;
  const ShiftGeometry& g = in.g;
  const PixelRowsGatherFn gather = pixel_rows_gather();

  auto run = [&](std::int64_t task, const GemmOptions& opt) {
    const std::int64_t n = task / p.groups, gi = task % p.groups;
    const float* xg = in.task_input(x, n, gi);
    float* buf = g.copy ? in.copy_buffer() : nullptr;
    const float* base = g.copy ? buf : xg;
    float* col = scratch(1, static_cast<std::size_t>(K * P));
    // Copy and gather in one pass per channel range: the rows of channel c read only channel
    // c's copy, so each thread gathers from what it has just copied (in its own cache), with
    // one fork-join instead of two.
    const std::int64_t kvol = p.kernel_volume();
    split_rows(opt.parallel, in.cin_g, kvol * P, [&](std::int64_t c0, std::int64_t c1) {
      if (g.copy) in.copy_units(xg, buf, c0 * in.phase_images(), c1 * in.phase_images());
      gather(p, g, base, in.off.data(), c0 * kvol, c1 * kvol, col);
    });
    float* ct = scratch(2, static_cast<std::size_t>(P * cout_g));
    GemmEpilogue ep;  // with a scale, the whole epilogue runs in the transpose below
    if (scale == nullptr) {
      ep.bias = bias ? bias + gi * cout_g : nullptr;
      ep.bias_kind = bias ? GemmEpilogue::Bias::PerCol : GemmEpilogue::Bias::None;
      ep.relu = relu;
    }
    // A = col^T (P x K: row stride 1, column stride P), B = W_g^T (K x C_out: row stride 1,
    // column stride K), C^T row-major (P x C_out).
    sgemm(P, cout_g, K, col, 1, P, w + gi * cout_g * K, 1, K, ct, cout_g, ep, opt);
    float* yg = y + (n * p.out_channels + gi * cout_g) * P;
    split_rows(opt.parallel, cout_g, P, [&](std::int64_t c0, std::int64_t c1) {
      if (scale == nullptr) {
        transpose_block(ct, cout_g, P, c0, c1, yg);
      } else {
        transpose_block_scaled(ct, cout_g, P, c0, c1, scale + gi * cout_g,
                               bias ? bias + gi * cout_g : nullptr, relu, yg);
      }
    });
  };

  for_each_group_task(p, cout_g * P * K, run);
}

void conv_shift(const ConvParams& p, const float* x, const float* w, const float* bias, bool relu,
                float* y, const float* scale = nullptr) {
  if (shift_pixel_rows_wins(p)) {
    conv_shift_pixel_rows(p, x, w, bias, relu, y, scale);
  } else {
    conv_shift_columns(p, x, w, bias, relu, y, scale);
  }
}

void conv_depthwise(const ConvParams& p, const float* x, const float* w, const float* bias,
                    bool relu, float* y) {
  const DepthwisePlaneFn plane = depthwise_plane();
  const std::int64_t cout_g = p.out_channels / p.groups;  // the channel multiplier
  const std::int64_t kvol = p.kernel_volume();
  const std::int64_t in_plane = p.in_plane(), out_plane = p.out_plane();
  const std::int64_t planes = p.batch * p.out_channels;
  auto run = [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t n = t / p.out_channels, co = t % p.out_channels;
      const std::int64_t ci = co / cout_g;
      plane(p, x + (n * p.in_channels + ci) * in_plane, w + co * kvol, bias ? bias[co] : 0.0f,
            relu, y + t * out_plane);
    }
  };
  // Planes in a few slices per thread, claimed dynamically; one thread for tiny convolutions.
  const int T = get_num_threads();
  if (T <= 1 || planes * out_plane * kvol < (std::int64_t{1} << 16)) {
    run(0, planes);
    return;
  }
  const std::int64_t slices = std::min<std::int64_t>(planes, std::int64_t{kSlicesPerThread} * T);
  parallel_slices(slices, [&](std::int64_t s) { run(planes * s / slices, planes * (s + 1) / slices); });
}

WinogradGemmRows winograd_rows(ConvPath path) {
  return path == ConvPath::WinogradTileRows      ? WinogradGemmRows::Tiles
         : path == ConvPath::WinogradChannelRows ? WinogradGemmRows::Channels
                                                 : WinogradGemmRows::Auto;
}

}  // namespace

void conv_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                  bool relu, float* y, ConvPath path) {
  if (p.batch == 0 || p.out_channels == 0 || p.out_plane() == 0) return;
  if (path == ConvPath::Auto) path = conv_route(p);
  switch (path) {
    case ConvPath::Reference:
      conv_forward_ref(p, x, w, bias, relu, y);
      return;
    case ConvPath::Depthwise:
      conv_depthwise(p, x, w, bias, relu, y);
      return;
    case ConvPath::Gemm1x1:
      conv_gemm(p, x, w, bias, relu, y, /*pointwise=*/true);
      return;
    case ConvPath::ShiftGemm:
      conv_shift(p, x, w, bias, relu, y);
      return;
    case ConvPath::ShiftGemmColumns:
      conv_shift_columns(p, x, w, bias, relu, y);
      return;
    case ConvPath::ShiftGemmPixelRows:
      conv_shift_pixel_rows(p, x, w, bias, relu, y);
      return;
    case ConvPath::Winograd:
    case ConvPath::WinogradTileRows:
    case ConvPath::WinogradChannelRows:
      conv_winograd(p, x, w, bias, relu, y, winograd_rows(path));
      return;
    default:
      conv_gemm(p, x, w, bias, relu, y, /*pointwise=*/false);
      return;
  }
}

// =================================================================================================
// Scaled epilogue (conv + BatchNorm eval affine [+ ReLU], nn/_fusion.py)
//
// The GEMM paths take the scale into their microkernel store, Winograd into its output store
// (W3's 32->64 conv: the separate pass was ~6 us of serial work per call). The others (depthwise,
// reference) compute into y with no epilogue, then rescale the whole output in one pass right
// after, while it is still in L2 at batch 1. (Depthwise could scale its few taps per plane, if
// that path ever carries fused runs.)
// =================================================================================================

namespace {

void scale_planes(const ConvParams& p, const ConvEpilogue& ep, float* y) {
  const std::int64_t plane = p.out_plane();
  const std::int64_t planes = p.batch * p.out_channels;
  auto run = [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t c = t % p.out_channels;
      const float s = ep.scale[c], b = ep.bias ? ep.bias[c] : 0.0f;
      float* yp = y + t * plane;
      for (std::int64_t i = 0; i < plane; ++i) {
        const float v = yp[i] * s + b;
        yp[i] = ep.relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN, as torch's relu
      }
    }
  };
  if (get_num_threads() <= 1 || planes * plane < (std::int64_t{1} << 15)) {
    run(0, planes);
    return;
  }
  parallel_for(planes, 1, run);
}

}  // namespace

void conv_forward(const ConvParams& p, const float* x, const float* w, const ConvEpilogue& ep,
                  float* y, ConvPath path) {
  if (ep.scale == nullptr) return conv_forward(p, x, w, ep.bias, ep.relu, y, path);
  if (p.batch == 0 || p.out_channels == 0 || p.out_plane() == 0) return;
  if (path == ConvPath::Auto) path = conv_route(p);
  switch (path) {
    case ConvPath::Gemm1x1:
      conv_gemm(p, x, w, ep.bias, ep.relu, y, /*pointwise=*/true, ep.scale);
      return;
    case ConvPath::ShiftGemm:
      conv_shift(p, x, w, ep.bias, ep.relu, y, ep.scale);
      return;
    case ConvPath::ShiftGemmColumns:
      conv_shift_columns(p, x, w, ep.bias, ep.relu, y, ep.scale);
      return;
    case ConvPath::ShiftGemmPixelRows:
      conv_shift_pixel_rows(p, x, w, ep.bias, ep.relu, y, ep.scale);
      return;
    case ConvPath::Im2colGemm:
      conv_gemm(p, x, w, ep.bias, ep.relu, y, /*pointwise=*/false, ep.scale);
      return;
    case ConvPath::Winograd:
    case ConvPath::WinogradTileRows:
    case ConvPath::WinogradChannelRows:
      conv_winograd(p, x, w, ep.bias, ep.relu, y, winograd_rows(path), ep.scale);
      return;
    default:  // Reference, Depthwise: compute, then rescale
      conv_forward(p, x, w, nullptr, false, y, path);
      scale_planes(p, ep, y);
      return;
  }
}

}  // namespace minimod::kernels
