// The im2col packer, included by im2col.cpp, im2col_avx2.cpp and im2col_avx512.cpp inside an
// anonymous namespace: each file keeps its own copy compiled with its own flags (no inline
// function or std:: template shared across ISA files, which the linker could merge).
//
// B of the convolution GEMM is the column matrix of one (image, group): row k = (c, kd, kh, kw)
// in weight order, column j = (od, oh, ow) in output order, value x[c, od*s + kd*d - p, ...] or 0
// in the padding. The packer writes the GEMM's NR-column panels directly from the image, so the
// K x P column matrix never exists in memory. Along one panel row, consecutive columns are runs of
// one output row: each run is a contiguous copy (stride 1) or a strided gather (stride 2 with
// vector permutes), with the zero padding at its ends computed once per run rather than tested
// per element.
#pragma once

#include <cstdint>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__AVX2__) && !defined(__AVX512F__)
#include "kernels/simd/vec_avx2.h"  // store_lanes, Avx2::first
#endif

#include "kernels/conv/conv.h"
#include "kernels/conv/im2col.h"

namespace minimod::kernels {
namespace {

inline std::int64_t lmin(std::int64_t a, std::int64_t b) { return a < b ? a : b; }
inline std::int64_t lmax(std::int64_t a, std::int64_t b) { return a > b ? a : b; }

// The runs are short (a panel is 8-32 columns): what matters is their ends, so each ISA build
// gets explicit copies with masked (AVX-512) ends instead of a vector loop plus scalar remainder.
// d[0, n) = s[0, n)
inline void copy_run(float* d, const float* s, std::int64_t n) {
  std::int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_loadu_ps(s + i));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
  }
  return;
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
  // The tail (a 7-pixel output row, say) as one masked load and a 4 + 2 + 1 store.
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    store_lanes(d + i, _mm256_maskload_ps(s + i, Avx2::first(rest)), rest);
  }
  return;
#endif
  for (; i < n; ++i) d[i] = s[i];
}

// d[0, n) = 0
inline void zero_run(float* d, std::int64_t n) {
  std::int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(d + i, static_cast<__mmask16>((1u << (n - i)) - 1u), _mm512_setzero_ps());
  return;
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_setzero_ps());
  store_lanes(d + i, _mm256_setzero_ps(), static_cast<int>(n - i));
  return;
#endif
  for (; i < n; ++i) d[i] = 0.0f;
}

// d[0, n) = s[0], s[2], ..., s[2n - 2]: stride-2 convolutions.
inline void gather2_run(float* d, const float* s, std::int64_t n) {
  std::int64_t i = 0;
#if defined(__AVX512F__)
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  // 16 outputs read 32 inputs, one past the last they need: full vectors only while another
  // output follows (so that input exists); the masked tail takes the last 1..16.
  for (; i + 16 < n; i += 16) {
    const __m512 lo = _mm512_loadu_ps(s + 2 * i), hi = _mm512_loadu_ps(s + 2 * i + 16);
    _mm512_storeu_ps(d + i, _mm512_permutex2var_ps(lo, even, hi));
  }
  if (i < n) {
    // 2*rem - 1 inputs are needed: never read past s[2n - 2].
    const std::int64_t need = 2 * (n - i) - 1;
    const __mmask16 mlo = static_cast<__mmask16>(need >= 16 ? 0xFFFFu : (1u << need) - 1u);
    const __mmask16 mhi = static_cast<__mmask16>(need > 16 ? (1u << (need - 16)) - 1u : 0u);
    const __m512 lo = _mm512_maskz_loadu_ps(mlo, s + 2 * i);
    const __m512 hi = _mm512_maskz_loadu_ps(mhi, s + 2 * i + 16);
    _mm512_mask_storeu_ps(d + i, static_cast<__mmask16>((1u << (n - i)) - 1u),
                          _mm512_permutex2var_ps(lo, even, hi));
  }
  return;
#elif defined(__AVX2__)
  for (; i + 8 < n; i += 8) {  // 8 outputs read 16 inputs: see the AVX-512 note
    // Even lanes of two vectors: [l0 l2 h0 h2 | l4 l6 h4 h6], then order the 64-bit pairs.
    const __m256 lo = _mm256_loadu_ps(s + 2 * i), hi = _mm256_loadu_ps(s + 2 * i + 8);
    const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    _mm256_storeu_ps(d + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
  }
#endif
  for (; i < n; ++i) d[i] = s[2 * i];
}

#if defined(__AVX512F__) || defined(__AVX2__)
// Both column phases of one zero-padded stride-2 row at once: even[q] = x[2q - pad],
// odd[q] = x[2q + 1 - pad] (0 outside [0, wi)), q in [0, qw). Each window of the input row (32
// floats on AVX-512, 16 on AVX2) is read once, masked loads supplying the padding, and split by
// two permutes, where copying the phases one at a time reads the row twice, with a pass of
// bookkeeping per phase row.
inline void deinterleave2_row(float* even, float* odd, const float* x, std::int64_t wi,
                              std::int64_t pad, std::int64_t qw) {
#if defined(__AVX512F__)
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  for (std::int64_t q0 = 0; q0 < qw; q0 += 16) {
    const std::int64_t first = 2 * q0 - pad;  // input column of window element 0
    const std::int64_t lo = lmax(0, -first), hi = lmin(32, wi - first);
    const std::uint64_t valid =
        hi > lo ? ((std::uint64_t{1} << hi) - 1) & ~((std::uint64_t{1} << lo) - 1) : 0;
    // Masked-off lanes are never read, so the window may start before or end after the row.
    const float* w = x + first;
    const __m512 a = _mm512_maskz_loadu_ps(static_cast<__mmask16>(valid & 0xFFFFu), w);
    const __m512 b = _mm512_maskz_loadu_ps(static_cast<__mmask16>((valid >> 16) & 0xFFFFu), w + 16);
    const std::int64_t n = lmin(16, qw - q0);
    const __mmask16 store = static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
    _mm512_mask_storeu_ps(even + q0, store, _mm512_permutex2var_ps(a, ie, b));
    _mm512_mask_storeu_ps(odd + q0, store, _mm512_permutex2var_ps(a, io, b));
  }
#elif defined(__AVX2__)
  // 8 outputs per phase from a 16-float window; the lane masks are the sign bits.
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (std::int64_t q0 = 0; q0 < qw; q0 += 8) {
    const std::int64_t first = 2 * q0 - pad;  // input column of window element 0
    const int lo = static_cast<int>(lmin(16, lmax(0, -first)));
    const int hi = static_cast<int>(lmax(0, lmin(16, wi - first)));
    // Window element i is read when lo <= i < hi (masked-off lanes are never read).
    auto valid = [&](int base) {
      const __m256i i = _mm256_add_epi32(lane, _mm256_set1_epi32(base));
      return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(lo), i),
                                 _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), i));
    };
    const float* w = x + first;
    const __m256 a = _mm256_maskload_ps(w, valid(0));
    const __m256 b = _mm256_maskload_ps(w + 8, valid(8));
    // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6] (and the odd lanes likewise).
    const __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
    const __m256 o = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
    const int n = static_cast<int>(lmin(8, qw - q0));
    store_lanes(even + q0, e, n);
    store_lanes(odd + q0, o, n);
  }
#endif
}
#endif

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
          zero_run(ds + ow, seg);
        } else {
          const float* xs = xc + (id * Hi + ih) * Wi + off;  // xs[o * sw] is column o's input
          const std::int64_t lo = lmin(lmax(first, ow), ow + seg);
          const std::int64_t hi = lmin(lmax(last, lo), ow + seg);
          zero_run(ds + ow, lo - ow);
          if (sw == 1) {
            copy_run(ds + lo, xs + lo, hi - lo);
          } else if (sw == 2) {
            gather2_run(ds + lo, xs + 2 * lo, hi - lo);
          } else {
            for (std::int64_t o = lo; o < hi; ++o) ds[o] = xs[o * sw];
          }
          zero_run(ds + hi, ow + seg - hi);
        }
        filled += seg;
        ow = 0;
        if (++oh == Ho) {
          oh = 0;
          ++od;
        }
      }
      zero_run(d + cols, nr - cols);
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

// Shifted-row panels: each panel's columns are a few segments of output rows (the same for every
// k), each copied from its run with copy_run (one masked vector per row of <= 16 pixels on
// AVX-512). Segments are tabled per block of up to kBlock columns (a whole panel: NR is 8-32).
void shift_rows_pack_impl(const ShiftRows& s, std::int64_t k0, std::int64_t kc, std::int64_t j0,
                          std::int64_t nc, int nr, float* dst) {
  struct Segment {
    std::int64_t to, len, from;
  };
  constexpr std::int64_t kBlock = 64;
  for (std::int64_t pj = 0; pj < nc; pj += nr) {
    const std::int64_t cols = lmin(nr, nc - pj);
    float* d = dst + pj * kc;
    for (std::int64_t b0 = 0; b0 < cols; b0 += kBlock) {
      const std::int64_t b1 = lmin(cols, b0 + kBlock);
      Segment seg[kBlock];  // at most one per column
      int nseg = 0;
      if (s.contiguous) {
        seg[nseg++] = {b0, b1 - b0, j0 + pj + b0};
      } else {
        for (std::int64_t filled = b0; filled < b1;) {
          const std::int64_t j = j0 + pj + filled;
          const std::int64_t ow = j % s.Wo, r = j / s.Wo;
          const std::int64_t len = lmin(s.Wo - ow, b1 - filled);
          seg[nseg++] = {filled, len, ((r / s.Ho) * s.Qh + r % s.Ho) * s.Qw + ow};
          filled += len;
        }
      }
      for (std::int64_t k = 0; k < kc; ++k) {
        const float* src = s.base + s.off[k0 + k];
        float* row = d + k * nr;
        for (int i = 0; i < nseg; ++i) copy_run(row + seg[i].to, src + seg[i].from, seg[i].len);
      }
    }
    if (cols < nr) {
      for (std::int64_t k = 0; k < kc; ++k) zero_run(d + k * nr + cols, nr - cols);
    }
  }
}

// The polyphase copy (im2col.h): per kept phase (rd, rh, rw) of a channel, each phase row is
// zeros, then the input columns rw - pad + s*q that exist (a copy, or a stride-2 gather with
// vector permutes), then zeros.
void polyphase_copy_impl(const ConvParams& p, const ShiftGeometry& g, const float* x,
                         std::int64_t u0, std::int64_t u1, float* dst) {
  const std::int64_t Di = p.in_size[0], Hi = p.in_size[1], Wi = p.in_size[2];
  const std::int64_t sd = p.stride[0], sh = p.stride[1], sw = p.stride[2];
  const std::int64_t Qd = g.Q[0], Qh = g.Q[1], Qw = g.Q[2];
  const std::int64_t nph = g.phases[0] * g.phases[1] * g.phases[2];
  // residue[i][idx]: the residue whose phase is kept as index idx along dimension i.
  std::int64_t residue[3][64];
  for (int i = 0; i < 3; ++i) {
    for (std::int64_t r = 0; r < p.stride[i]; ++r) {
      if (g.phase_of[i][r] >= 0) residue[i][g.phase_of[i][r]] = r;
    }
  }
  for (std::int64_t u = u0; u < u1; ++u) {
    const std::int64_t c = u / nph, ph = u % nph;
#if defined(__AVX512F__) || defined(__AVX2__)
    // Stride 2 along W with both column phases kept (units u, u + 1): one pass for the pair.
    if (sw == 2 && g.phases[2] == 2 && ph % 2 == 0 && u + 1 < u1) {
      const std::int64_t rd = residue[0][ph / (g.phases[1] * g.phases[2])];
      const std::int64_t rh = residue[1][(ph / g.phases[2]) % g.phases[1]];
      const float* xc = x + c * p.in_plane();
      float* even = dst + c * g.chan_plane + ph * g.phase_plane;
      float* odd = even + g.phase_plane;
      for (std::int64_t qd = 0; qd < Qd; ++qd) {
        const std::int64_t id = rd + sd * qd - p.pad_before[0];
        for (std::int64_t qh = 0; qh < Qh; ++qh) {
          const std::int64_t ih = rh + sh * qh - p.pad_before[1];
          const std::int64_t r = (qd * Qh + qh) * Qw;
          if (id < 0 || id >= Di || ih < 0 || ih >= Hi) {
            zero_run(even + r, Qw);
            zero_run(odd + r, Qw);
          } else {
            deinterleave2_row(even + r, odd + r, xc + (id * Hi + ih) * Wi, Wi, p.pad_before[2], Qw);
          }
        }
      }
      ++u;
      continue;
    }
#endif
    const std::int64_t rd = residue[0][ph / (g.phases[1] * g.phases[2])];
    const std::int64_t rh = residue[1][(ph / g.phases[2]) % g.phases[1]];
    const std::int64_t rw = residue[2][ph % g.phases[2]];
    const float* xc = x + c * p.in_plane();
    float* dp = dst + c * g.chan_plane + ph * g.phase_plane;
    // Phase columns qw whose input column iw = rw + sw*qw - left lies in [0, Wi).
    const std::int64_t first_iw = rw - p.pad_before[2];
    const std::int64_t q_lo = first_iw >= 0 ? 0 : lmin(Qw, (-first_iw + sw - 1) / sw);
    const std::int64_t q_hi =
        lmax(q_lo, lmin(Qw, first_iw >= Wi ? 0 : (Wi - 1 - first_iw) / sw + 1));
    for (std::int64_t qd = 0; qd < Qd; ++qd) {
      const std::int64_t id = rd + sd * qd - p.pad_before[0];
      for (std::int64_t qh = 0; qh < Qh; ++qh) {
        const std::int64_t ih = rh + sh * qh - p.pad_before[1];
        float* row = dp + (qd * Qh + qh) * Qw;
        if (id < 0 || id >= Di || ih < 0 || ih >= Hi) {
          zero_run(row, Qw);
          continue;
        }
        const float* src = xc + (id * Hi + ih) * Wi + first_iw;  // src[q * sw]: column q
        zero_run(row, q_lo);
        if (sw == 1) {
          copy_run(row + q_lo, src + q_lo, q_hi - q_lo);
        } else if (sw == 2) {
          gather2_run(row + q_lo, src + 2 * q_lo, q_hi - q_lo);
        } else {
          for (std::int64_t q = q_lo; q < q_hi; ++q) row[q] = src[q * sw];
        }
        zero_run(row + q_hi, Qw - q_hi);
      }
    }
  }
}

// The pixel-rows gather (im2col.h): one copy per output row of each shifted run, or the whole
// run when its positions are the output pixels themselves.
void pixel_rows_gather_impl(const ConvParams& p, const ShiftGeometry& g, const float* base,
                            const std::int64_t* off, std::int64_t k0, std::int64_t k1,
                            float* col) {
  const std::int64_t Do = p.out_size[0], Ho = p.out_size[1], Wo = p.out_size[2];
  const std::int64_t P = Do * Ho * Wo;
  for (std::int64_t k = k0; k < k1; ++k) {
    const float* src = base + off[k];
    float* dst = col + k * P;
    if (g.direct_out) {
      copy_run(dst, src, P);
      continue;
    }
    for (std::int64_t od = 0; od < Do; ++od) {
      for (std::int64_t oh = 0; oh < Ho; ++oh) {
        copy_run(dst + (od * Ho + oh) * Wo, src + (od * g.Q[1] + oh) * g.Q[2], Wo);
      }
    }
  }
}

}  // namespace
}  // namespace minimod::kernels
