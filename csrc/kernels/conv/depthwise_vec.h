// The depthwise kernel of the AVX2 and AVX-512 paths, written once over the vector type S
// (kernels/simd/vec_avx2.h or vec_avx512.h): register-blocked output rows over a zero-padded copy
// of the plane.
//
// The input plane is first copied into a per-thread buffer with its zero padding (vector copies,
// no library calls: a 56x56 plane with padding 1 becomes 58x58 floats = 13 KiB, L1-resident).
// Every tap of every output then reads the copy without a bounds test or a mask: two output rows
// are computed together in blocks of up to 4 vectors each, held in registers; per tap, one
// broadcast weight and up to 8 unaligned loads feed 8 independent FMAs; each block is stored
// once (masked at the row end). The copy costs one load and one store per input element against
// k-volume loads and FMAs per output element. Unit stride along W only; other strides use the
// generic loop of depthwise_impl.h, compiled in the including file.
//
// Included ONLY by depthwise_avx2.cpp and depthwise_avx512.cpp: anonymous namespace, so each ISA
// file keeps its own copy built with its own flags (see eltwise/vec_math.h for why).
#pragma once

#include <cstdint>

#include "common/aligned.h"
#include "kernels/conv/depthwise.h"
#include "kernels/conv/depthwise_impl.h"

namespace minimod::kernels {
namespace {

template <class S>
struct DepthwiseVec {
  using V = typename S::V;
  static constexpr int kLanes = S::W;
  static constexpr int kMaxVec = 4;
  static constexpr std::int64_t kBlockCols = kMaxVec * kLanes;
  static constexpr int kMaxTaps = 1024;

  // dst[0, n) = src[0, n) (src may be nullptr: zeros).
  static void copy_or_zero(float* dst, const float* src, std::int64_t n) {
    std::int64_t i = 0;
    if (src == nullptr) {
      for (; i + kLanes <= n; i += kLanes) S::store(dst + i, S::zero());
    } else {
      for (; i + kLanes <= n; i += kLanes) S::store(dst + i, S::load(src + i));
    }
    for (; i < n; ++i) dst[i] = src == nullptr ? 0.0f : src[i];
  }

  // The plane with its padding, then kBlockCols zeros of read slack (a block may read past the
  // last row by less than that; those lanes are never stored).
  static void pad_plane(const ConvParams& p, const float* x, std::int64_t Dp, std::int64_t Hp,
                        std::int64_t Wp, float* dst) {
    const std::int64_t Di = p.in_size[0], Hi = p.in_size[1], Wi = p.in_size[2];
    const std::int64_t left = p.pad_before[2], right = p.pad_after[2];
    for (std::int64_t d = 0; d < Dp; ++d) {
      const std::int64_t id = d - p.pad_before[0];
      for (std::int64_t h = 0; h < Hp; ++h) {
        const std::int64_t ih = h - p.pad_before[1];
        float* row = dst + (d * Hp + h) * Wp;
        if (id < 0 || id >= Di || ih < 0 || ih >= Hi) {
          copy_or_zero(row, nullptr, Wp);
          continue;
        }
        for (std::int64_t i = 0; i < left; ++i) row[i] = 0.0f;
        copy_or_zero(row + left, x + (id * Hi + ih) * Wi, Wi);
        for (std::int64_t i = 0; i < right; ++i) row[left + Wi + i] = 0.0f;
      }
    }
    copy_or_zero(dst + Dp * Hp * Wp, nullptr, kBlockCols);
  }

  // R output rows (R <= 2) x NV vectors: R*NV independent FMA chains, so the taps' dependent
  // FMAs overlap (one row of 4 vectors alone would be latency-bound at 4 chains).
  template <int R, int NV>
  static void row_block(const float* const (&base)[2], const std::int64_t* tap, const float* w,
                        int taps, float bias, bool relu, float* const (&y)[2], int valid) {
    V acc[R][NV];
#pragma GCC unroll 2
    for (int q = 0; q < R; ++q)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[q][v] = S::set1(bias);
    for (int t = 0; t < taps; ++t) {
      const V wv = S::set1(w[t]);
#pragma GCC unroll 2
      for (int q = 0; q < R; ++q) {
        const float* s = base[q] + tap[t];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[q][v] = S::fmadd(wv, S::load(s + v * kLanes), acc[q][v]);
      }
    }
#pragma GCC unroll 2
    for (int q = 0; q < R; ++q) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const V r = relu ? S::max(acc[q][v], S::zero()) : acc[q][v];
        const int n = valid - v * kLanes;
        if (n > 0) S::store_first(y[q] + v * kLanes, r, n);
      }
    }
  }

  template <int R>
  static void row_blocks(const float* const (&base)[2], const std::int64_t* tap, const float* w,
                         int taps, float bias, bool relu, float* const (&y)[2], std::int64_t Wo) {
    for (std::int64_t ow = 0; ow < Wo; ow += kBlockCols) {
      const int valid = static_cast<int>(Wo - ow < kBlockCols ? Wo - ow : kBlockCols);
      const float* const b[2] = {base[0] + ow, base[1] + ow};
      float* const yy[2] = {y[0] + ow, y[1] + ow};
      switch ((valid + kLanes - 1) / kLanes) {
        case 1: row_block<R, 1>(b, tap, w, taps, bias, relu, yy, valid); break;
        case 2: row_block<R, 2>(b, tap, w, taps, bias, relu, yy, valid); break;
        case 3: row_block<R, 3>(b, tap, w, taps, bias, relu, yy, valid); break;
        default: row_block<R, 4>(b, tap, w, taps, bias, relu, yy, valid); break;
      }
    }
  }

  static void plane(const ConvParams& p, const float* x, const float* w, float bias, bool relu,
                    float* y) {
    if (p.stride[2] != 1 || p.kernel_volume() > kMaxTaps) {
      depthwise_plane_impl(p, x, w, bias, relu, y);
      return;
    }
    const std::int64_t Dp = p.in_size[0] + p.pad_before[0] + p.pad_after[0];
    const std::int64_t Hp = p.in_size[1] + p.pad_before[1] + p.pad_after[1];
    const std::int64_t Wp = p.in_size[2] + p.pad_before[2] + p.pad_after[2];
    // Per-thread buffer, grown on demand (constructed only on threads that run this kernel).
    thread_local AlignedPtr<float> buf;
    thread_local std::int64_t cap = 0;
    const std::int64_t need = Dp * Hp * Wp + kBlockCols;
    if (need > cap) {
      buf = aligned_array<float>(static_cast<std::size_t>(need));
      cap = need;
    }
    float* padded = buf.get();
    pad_plane(p, x, Dp, Hp, Wp, padded);

    std::int64_t tap[kMaxTaps];
    int taps = 0;
    for (std::int64_t kd = 0; kd < p.kernel[0]; ++kd)
      for (std::int64_t kh = 0; kh < p.kernel[1]; ++kh)
        for (std::int64_t kw = 0; kw < p.kernel[2]; ++kw)
          tap[taps++] = (kd * p.dilation[0] * Hp + kh * p.dilation[1]) * Wp + kw * p.dilation[2];
    const std::int64_t Do = p.out_size[0], Ho = p.out_size[1], Wo = p.out_size[2];
    for (std::int64_t od = 0; od < Do; ++od) {
      for (std::int64_t oh = 0; oh < Ho; oh += 2) {
        const std::int64_t rows = Ho - oh < 2 ? 1 : 2;
        const float* base = padded + (od * p.stride[0] * Hp + oh * p.stride[1]) * Wp;
        float* yrow = y + (od * Ho + oh) * Wo;
        const float* const b[2] = {base, base + (rows - 1) * p.stride[1] * Wp};
        float* const yy[2] = {yrow, yrow + (rows - 1) * Wo};
        if (rows == 2) {
          row_blocks<2>(b, tap, w, taps, bias, relu, yy, Wo);
        } else {
          row_blocks<1>(b, tap, w, taps, bias, relu, yy, Wo);
        }
      }
    }
  }
};

}  // namespace
}  // namespace minimod::kernels
