// Naive reference convolution: one float64 sum per output, every tap bounds-checked. The oracle
// the tests compare the routed paths against (_core._testing.conv_nd(..., path="reference")).
#include "kernels/conv/conv.h"

namespace minimod::kernels {

void conv_forward_ref(const ConvParams& p, const float* x, const float* w, const float* bias,
                      bool relu, float* y) {
  const std::int64_t cin_g = p.in_channels / p.groups;
  const std::int64_t cout_g = p.out_channels / p.groups;
  const std::int64_t kvol = p.kernel_volume();
  for (std::int64_t n = 0; n < p.batch; ++n) {
    for (std::int64_t co = 0; co < p.out_channels; ++co) {
      const std::int64_t g = co / cout_g;
      const float* wk = w + co * cin_g * kvol;
      for (std::int64_t od = 0; od < p.out_size[0]; ++od) {
        for (std::int64_t oh = 0; oh < p.out_size[1]; ++oh) {
          for (std::int64_t ow = 0; ow < p.out_size[2]; ++ow) {
            double s = bias ? bias[co] : 0.0;
            for (std::int64_t c = 0; c < cin_g; ++c) {
              const float* xc = x + (n * p.in_channels + g * cin_g + c) * p.in_plane();
              for (std::int64_t kd = 0; kd < p.kernel[0]; ++kd) {
                const std::int64_t id = od * p.stride[0] + kd * p.dilation[0] - p.pad_before[0];
                if (id < 0 || id >= p.in_size[0]) continue;
                for (std::int64_t kh = 0; kh < p.kernel[1]; ++kh) {
                  const std::int64_t ih = oh * p.stride[1] + kh * p.dilation[1] - p.pad_before[1];
                  if (ih < 0 || ih >= p.in_size[1]) continue;
                  for (std::int64_t kw = 0; kw < p.kernel[2]; ++kw) {
                    const std::int64_t iw =
                        ow * p.stride[2] + kw * p.dilation[2] - p.pad_before[2];
                    if (iw < 0 || iw >= p.in_size[2]) continue;
                    const double xv = xc[(id * p.in_size[1] + ih) * p.in_size[2] + iw];
                    const double wv =
                        wk[((c * p.kernel[0] + kd) * p.kernel[1] + kh) * p.kernel[2] + kw];
                    s += xv * wv;
                  }
                }
              }
            }
            if (relu && s < 0.0) s = 0.0;
            y[((n * p.out_channels + co) * p.out_size[0] + od) * p.out_size[1] * p.out_size[2] +
              oh * p.out_size[2] + ow] = static_cast<float>(s);
          }
        }
      }
    }
  }
}

}  // namespace minimod::kernels
