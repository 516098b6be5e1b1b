// 2-D pooling over float32 planes (1-D pooling is the H = 1 case). Input is `planes` contiguous
// ih x iw planes (N * C of them, NCHW), output `planes` contiguous oh x ow planes. Callers check
// every size and argument first (see pool_output_size); the kernels assume valid arguments.
#pragma once

#include <cstdint>

namespace minimod {

struct Pool2dWindow {
  std::int64_t kh, kw;  // kernel
  std::int64_t sh, sw;  // stride
  std::int64_t ph, pw;  // padding (both sides)
  std::int64_t dh, dw;  // dilation (1 for average pooling)
};

// torch's output-size rule: floor((in + 2 pad - dil (k - 1) - 1 [+ stride - 1 if ceil]) / stride)
// + 1, and with ceil_mode one less when the last window would start in the right padding.
// Division rounds toward -infinity, so a too-small input gives a size <= 0 for the caller to
// reject. Requires stride > 0.
std::int64_t pool_output_size(std::int64_t in, std::int64_t k, std::int64_t pad, std::int64_t stride,
                              std::int64_t dilation, bool ceil_mode);

// Max over each window; padding counts as -inf. `indices` (may be null) receives the flat
// position ih * iw_size + iw of the maximum inside its plane, torch's convention. A NaN wins
// (the last NaN of the window, as in torch), and an all -inf window reports its first in-bounds
// element.
void max_pool2d_f32(const float* x, float* y, std::int64_t* indices, std::int64_t planes,
                    std::int64_t ih, std::int64_t iw, std::int64_t oh, std::int64_t ow,
                    const Pool2dWindow& w);

// Mean over each window. The divisor is `divisor` when > 0; otherwise the window clipped to the
// padded input (count_include_pad) or to the input itself.
void avg_pool2d_f32(const float* x, float* y, std::int64_t planes, std::int64_t ih, std::int64_t iw,
                    std::int64_t oh, std::int64_t ow, const Pool2dWindow& w, bool count_include_pad,
                    std::int64_t divisor);

// Adaptive pooling: output cell i covers [floor(i * in / out), ceil((i + 1) * in / out)) along
// each axis (in, out >= 1).
void adaptive_avg_pool2d_f32(const float* x, float* y, std::int64_t planes, std::int64_t ih,
                             std::int64_t iw, std::int64_t oh, std::int64_t ow);
void adaptive_max_pool2d_f32(const float* x, float* y, std::int64_t* indices, std::int64_t planes,
                             std::int64_t ih, std::int64_t iw, std::int64_t oh, std::int64_t ow);

}  // namespace minimod
