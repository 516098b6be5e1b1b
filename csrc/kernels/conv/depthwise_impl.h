// The depthwise plane kernel, included by depthwise.cpp, depthwise_avx2.cpp and
// depthwise_avx512.cpp. Everything is in an anonymous namespace so each file keeps its own copy
// compiled with its own flags (no inline function shared across ISA files: the linker could
// otherwise keep the AVX-512 copy for everyone).
//
// Output rows are computed in blocks of kBlock columns held in a small accumulator array; for
// every kernel tap the valid column range is computed once, so the inner loop is a branch-free
// `acc[i] += w * x[i * stride + off]` (unit stride for stride 1) that the compiler vectorises.
#pragma once

#include <cstdint>

#include "kernels/conv/conv.h"

namespace minimod::kernels {
namespace {

constexpr std::int64_t kBlock = 64;

// Local min/max: no std:: template instantiated under these flags (see the note above).
inline std::int64_t imin(std::int64_t a, std::int64_t b) { return a < b ? a : b; }
inline std::int64_t imax(std::int64_t a, std::int64_t b) { return a > b ? a : b; }

void depthwise_plane_impl(const ConvParams& p, const float* x, const float* w, float bias,
                          bool relu, float* y) {
  const std::int64_t Di = p.in_size[0], Hi = p.in_size[1], Wi = p.in_size[2];
  const std::int64_t Do = p.out_size[0], Ho = p.out_size[1], Wo = p.out_size[2];
  const std::int64_t KD = p.kernel[0], KH = p.kernel[1], KW = p.kernel[2];
  const std::int64_t sw = p.stride[2];
  alignas(64) float acc[kBlock];
  for (std::int64_t od = 0; od < Do; ++od) {
    for (std::int64_t oh = 0; oh < Ho; ++oh) {
      float* yrow = y + (od * Ho + oh) * Wo;
      for (std::int64_t ow0 = 0; ow0 < Wo; ow0 += kBlock) {
        const std::int64_t nb = imin(kBlock, Wo - ow0);
        for (std::int64_t i = 0; i < kBlock; ++i) acc[i] = bias;
        for (std::int64_t kd = 0; kd < KD; ++kd) {
          const std::int64_t id = od * p.stride[0] + kd * p.dilation[0] - p.pad_before[0];
          if (id < 0 || id >= Di) continue;
          for (std::int64_t kh = 0; kh < KH; ++kh) {
            const std::int64_t ih = oh * p.stride[1] + kh * p.dilation[1] - p.pad_before[1];
            if (ih < 0 || ih >= Hi) continue;
            const float* xrow = x + (id * Hi + ih) * Wi;
            const float* wk = w + (kd * KH + kh) * KW;
            for (std::int64_t kw = 0; kw < KW; ++kw) {
              const float wv = wk[kw];
              const std::int64_t off = kw * p.dilation[2] - p.pad_before[2];  // iw = ow*sw + off
              // Columns whose input index lies in [0, Wi): ow in [first, last).
              const std::int64_t first = off >= 0 ? 0 : (-off + sw - 1) / sw;
              const std::int64_t last = Wi - 1 - off < 0 ? 0 : (Wi - 1 - off) / sw + 1;
              const std::int64_t lo = imax(first, ow0) - ow0;
              const std::int64_t hi = imin(last, ow0 + nb) - ow0;
              if (lo >= hi) continue;
              const float* xs = xrow + ow0 * sw + off;
              if (sw == 1) {
                for (std::int64_t i = lo; i < hi; ++i) acc[i] += wv * xs[i];
              } else {
                for (std::int64_t i = lo; i < hi; ++i) acc[i] += wv * xs[i * sw];
              }
            }
          }
        }
        if (relu) {
          for (std::int64_t i = 0; i < nb; ++i) yrow[ow0 + i] = acc[i] > 0.0f ? acc[i] : 0.0f;
        } else {
          for (std::int64_t i = 0; i < nb; ++i) yrow[ow0 + i] = acc[i];
        }
      }
    }
  }
}

}  // namespace
}  // namespace minimod::kernels
