// N-d convolution forward (1 to 3 spatial dimensions), float32, NC* layout, zero padding.
//
// Spatial extents are stored right-aligned in three slots (D, H, W): a 1-d convolution has
// D = H = 1, kernel 1, stride 1, no padding, dilation 1 in the unused slots. One implementation
// serves Conv1d/2d/3d; the 2-d case is what the benchmarks stress.
#pragma once

#include <cstdint>

namespace minimod::kernels {

struct ConvParams {
  int ndim = 2;                       // spatial dimensions, 1..3 (informational)
  std::int64_t batch = 0;
  std::int64_t in_channels = 0;
  std::int64_t out_channels = 0;
  std::int64_t groups = 1;
  std::int64_t in_size[3] = {1, 1, 1};
  std::int64_t kernel[3] = {1, 1, 1};
  std::int64_t stride[3] = {1, 1, 1};
  std::int64_t pad_before[3] = {0, 0, 0};  // may differ from pad_after ('same' with an even
  std::int64_t pad_after[3] = {0, 0, 0};   // kernel pads one more at the end)
  std::int64_t dilation[3] = {1, 1, 1};
  std::int64_t out_size[3] = {1, 1, 1};    // floor((in + pb + pa - d*(k-1) - 1) / s) + 1

  std::int64_t in_plane() const { return in_size[0] * in_size[1] * in_size[2]; }
  std::int64_t out_plane() const { return out_size[0] * out_size[1] * out_size[2]; }
  std::int64_t kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// What is wrong with a convolution's spatial geometry, if anything (conv_params.cpp).
enum class ConvGeometry : int {
  Ok = 0,
  NonPositiveStride,
  NegativePadding,
  NonPositiveDilation,
  NonPositiveKernel,
  TooLarge,           // padded input or dilated kernel beyond 2^62: int64 index arithmetic overflows
  KernelExceedsInput, // dilated kernel larger than the padded input: no output position
};

// Validates in_size, kernel, stride, padding and dilation of every slot (in D, H, W order, the
// first problem wins), then clamps each stride to the padded size (a larger stride gives the
// same single output position, and keeps the kernels' position * stride arithmetic in range) and
// sets out_size. The one place conv geometry is computed: the checked binding (linalg.cpp)
// turns a problem into torch's error, the lean hot path (conv_hotpath.cpp) into its fallback.
ConvGeometry resolve_conv_geometry(ConvParams& p);

// How a convolution is computed (see the routing table in conv.cpp).
enum class ConvPath : int {
  Auto = 0,     // choose by shape
  Reference,    // naive loops (tests)
  Gemm1x1,      // 1x1, stride 1, no padding: GEMM directly on the input planes
  ShiftGemm,    // stride 1: GEMM on a zero-padded copy, each B row a shifted run of it
  Depthwise,    // one input channel per group: direct kernel
  Im2colGemm,   // im2col panels packed straight from the image + packed GEMM
  Winograd,     // 3x3, unit stride and dilation, groups 1: Winograd F(2x2, 3x3) (winograd.h)
  // Winograd with its GEMMs in one orientation, whatever it would pick (tests; see winograd.cpp):
  WinogradTileRows,     // M^T (tiles x C_out) = V^T * U^T
  WinogradChannelRows,  // M (C_out x tiles) = U * V
  // ShiftGemm in one orientation, whatever it would pick (tests; conv_route never returns these):
  ShiftGemmColumns,    // C (C_out x phase columns) = W * shifted rows
  ShiftGemmPixelRows,  // C^T (output pixels x C_out) = gathered im2col^T * W^T
};

const char* conv_path_name(ConvPath path);

// The path called `name` (conv_path_name's spelling); false for an unknown name.
bool conv_path_from_name(const char* name, ConvPath* path);

// Every path name, comma-separated, for error messages.
const char* conv_path_names();

// The path Auto picks for these parameters.
ConvPath conv_route(const ConvParams& p);

// Whether `path` can compute this convolution (Reference and Im2colGemm always can).
bool conv_path_applies(ConvPath path, const ConvParams& p);

// y (batch, out_channels, *out_size) = conv(x, w) + bias (per output channel), then ReLU if
// `relu`. Parameters must already be validated (sizes, divisibility, out_size >= 1); `path`
// must apply (checked by the caller).
void conv_forward(const ConvParams& p, const float* x, const float* w, const float* bias,
                  bool relu, float* y, ConvPath path = ConvPath::Auto);

// What a convolution applies to each output value acc of channel c as it stores it:
// y = acc * scale[c] + bias[c] (scale nullptr: 1; bias nullptr: 0), then ReLU if `relu`. With
// a scale this is BatchNorm's eval affine (and a preceding conv bias) fused into the conv
// (nn/_fusion.py: per call, from the live parameters). The GEMM paths apply it in the
// microkernel store; the others in one pass over the output right after computing it.
struct ConvEpilogue {
  const float* scale = nullptr;
  const float* bias = nullptr;
  bool relu = false;
};

void conv_forward(const ConvParams& p, const float* x, const float* w, const ConvEpilogue& ep,
                  float* y, ConvPath path = ConvPath::Auto);

// Naive reference (direct loops, float64 accumulation).
void conv_forward_ref(const ConvParams& p, const float* x, const float* w, const float* bias,
                      bool relu, float* y);

}  // namespace minimod::kernels
