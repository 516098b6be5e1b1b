// Convolution geometry: validation and output sizes, shared by every entry point.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "kernels/conv/conv.h"

namespace minimod::kernels {

ConvGeometry resolve_conv_geometry(ConvParams& p) {
  // Keep padded sizes and dilated spans below 2^62: the kernels' index arithmetic adds up to two
  // such values, which must not overflow int64 (undefined behaviour, then a wrong size).
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 2;
  for (int i = 0; i < 3; ++i) {
    if (p.stride[i] < 1) return ConvGeometry::NonPositiveStride;
    if (p.pad_before[i] < 0 || p.pad_after[i] < 0) return ConvGeometry::NegativePadding;
    if (p.dilation[i] < 1) return ConvGeometry::NonPositiveDilation;
    if (p.kernel[i] < 1) return ConvGeometry::NonPositiveKernel;
    // Every value is non-negative here, so compare against the remaining headroom.
    if (p.pad_before[i] > kMax - p.in_size[i] ||
        p.pad_after[i] > kMax - p.in_size[i] - p.pad_before[i] || p.dilation[i] > kMax / p.kernel[i]) {
      return ConvGeometry::TooLarge;
    }
    const std::int64_t padded = p.in_size[i] + p.pad_before[i] + p.pad_after[i];
    const std::int64_t span = p.dilation[i] * (p.kernel[i] - 1) + 1;
    if (padded < span) return ConvGeometry::KernelExceedsInput;
    p.stride[i] = std::min(p.stride[i], padded);
    p.out_size[i] = (padded - span) / p.stride[i] + 1;
  }
  return ConvGeometry::Ok;
}

}  // namespace minimod::kernels
