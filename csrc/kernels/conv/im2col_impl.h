// The im2col packer, included by im2col.cpp, im2col_avx2.cpp and im2col_avx512.cpp inside an
// anonymous namespace: each file keeps its own copy compiled with its own flags (no inline
// function or std:: template shared across ISA files, which the linker could merge).
//
// B of the convolution GEMM is the column matrix of one (image, group): row k = (c, kd, kh, kw)
// in weight order, column j = (od, oh, ow) in output order, value x[c, od*s + kd*d - p, ...] or 0
// in the padding. The packer writes the GEMM's NR-column panels directly from the image, so the
// K x P column matrix never exists in memory. Along one panel row, consecutive columns are runs of
// one output row: each run is a contiguous copy (stride 1) or a strided gather (stride 2 has its
// own loop so the compiler can vectorise it with permutes), with the zero padding at its ends
// computed once per run rather than tested per element.
#pragma once

#include <cstdint>

#include "kernels/conv/conv.h"

namespace minimod::kernels {
namespace {

inline std::int64_t lmin(std::int64_t a, std::int64_t b) { return a < b ? a : b; }
inline std::int64_t lmax(std::int64_t a, std::int64_t b) { return a > b ? a : b; }

void im2col_pack_impl(const ConvParams& p, const float* x, std::int64_t k0, std::int64_t kc,
                      std::int64_t j0, std::int64_t nc, int nr, float* dst) {
  const std::int64_t Hi = p.in_size[1], Wi = p.in_size[2];
  const std::int64_t Ho = p.out_size[1], Wo = p.out_size[2];
  const std::int64_t KD = p.kernel[0], KH = p.kernel[1], KW = p.kernel[2];
  const std::int64_t sw = p.stride[2];
  const std::int64_t in_plane = p.in_size[0] * Hi * Wi;
  for (std::int64_t pj = 0; pj < nc; pj += nr) {
    const std::int64_t cols = lmin(nr, nc - pj);
    const std::int64_t jstart = j0 + pj;
    const std::int64_t od0 = jstart / (Ho * Wo);
    const std::int64_t oh0 = (jstart / Wo) % Ho;
    const std::int64_t ow0 = jstart % Wo;
    float* panel = dst + pj * kc;
    // (c, kd, kh, kw) of row k0, advanced like an odometer.
    std::int64_t kw = k0 % KW, kh = (k0 / KW) % KH, kd = (k0 / (KW * KH)) % KD;
    std::int64_t c = k0 / (KW * KH * KD);
    for (std::int64_t k = 0; k < kc; ++k) {
      float* d = panel + k * nr;
      const float* xc = x + c * in_plane;
      const std::int64_t off = kw * p.dilation[2] - p.pad_before[2];  // iw = ow*sw + off
      // Output columns whose input column lies in [0, Wi): ow in [first, last).
      const std::int64_t first = off >= 0 ? 0 : (-off + sw - 1) / sw;
      const std::int64_t last = Wi - 1 - off < 0 ? 0 : (Wi - 1 - off) / sw + 1;
      std::int64_t od = od0, oh = oh0, ow = ow0, filled = 0;
      while (filled < cols) {
        const std::int64_t seg = lmin(cols - filled, Wo - ow);
        const std::int64_t id = od * p.stride[0] + kd * p.dilation[0] - p.pad_before[0];
        const std::int64_t ih = oh * p.stride[1] + kh * p.dilation[1] - p.pad_before[1];
        float* ds = d + filled - ow;  // ds[o] is output column o of this run
        if (id < 0 || id >= p.in_size[0] || ih < 0 || ih >= Hi) {
          for (std::int64_t o = ow; o < ow + seg; ++o) ds[o] = 0.0f;
        } else {
          const float* xs = xc + (id * Hi + ih) * Wi + off;  // xs[o * sw] is column o's input
          const std::int64_t lo = lmin(lmax(first, ow), ow + seg);
          const std::int64_t hi = lmin(lmax(last, lo), ow + seg);
          for (std::int64_t o = ow; o < lo; ++o) ds[o] = 0.0f;
          if (sw == 1) {
            for (std::int64_t o = lo; o < hi; ++o) ds[o] = xs[o];
          } else if (sw == 2) {
            for (std::int64_t o = lo; o < hi; ++o) ds[o] = xs[2 * o];
          } else {
            for (std::int64_t o = lo; o < hi; ++o) ds[o] = xs[o * sw];
          }
          for (std::int64_t o = hi; o < ow + seg; ++o) ds[o] = 0.0f;
        }
        filled += seg;
        ow = 0;
        if (++oh == Ho) {
          oh = 0;
          ++od;
        }
      }
      for (std::int64_t i = cols; i < nr; ++i) d[i] = 0.0f;
      if (++kw == KW) {
        kw = 0;
        if (++kh == KH) {
          kh = 0;
          if (++kd == KD) {
            kd = 0;
            ++c;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace minimod::kernels
