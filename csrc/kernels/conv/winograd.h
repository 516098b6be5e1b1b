// Winograd F(2x2, 3x3) convolution for 2-d 3x3 kernels with unit stride and dilation, groups = 1.
//
// Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch under it in a
// transformed domain where the 3x3 correlation becomes 16 element-wise products:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A        (Lavin & Gray, 2015)
// Summed over input channels, the 16 element-wise products are 16 independent GEMMs
//   M[xi] (C_out x tiles) = U[xi] (C_out x C_in) * V[xi] (C_in x tiles),   xi = 0..15
// with 16 multiply-adds per tile and channel pair instead of the direct 9 x 4 = 36: 2.25x less.
// F(2x2)'s coefficients are 0, +-1 and 1/2: its result stays within a few ulps of direct
// convolution, inside the auto path's elementwise tolerance.
//
// F(4x4, 3x3) (36 GEMMs on 4x4 output tiles, 4x fewer multiply-adds than direct) was tried and
// removed in session 11: its transform coefficients (up to 8) cost about 6x F(2x2)'s rounding
// error, outside the elementwise tolerance the auto path promises (test_conv_kernels.py,
// test_workload_shapes: W5b 8.6e-5 against 4.9e-5; the best points found, {0, +-1, 1/2, -2},
// simulate at 1.3x the bound), and on ResNet-18's shapes it was no faster at 1 thread (ratio to
// F(2x2): 256ch 14x14 1.21, 128ch 28x28 1.26, 64ch 56x56 1.06), so no route could use it.
//
// The 16 GEMMs run with either the output channels or the tiles as the microkernel's rows,
// whichever pads less (winograd.cpp, Orientation; ResNet-18's 256ch 14x14, 49 tiles, runs 0.78
// of the other orientation's time at 1 thread, AVX-512; 0.67 on AVX2).
//
// Weights are transformed on every call (U is never cached: a plain module must see every weight
// write at its next forward): all of U once per call when it fits 4 MiB, otherwise one
// microkernel panel of output channels at a time right before that panel's GEMMs; either way its
// cost is amortised over all tiles, and conv.cpp routes here only when there are enough tiles
// for that to pay. Large images run in bands of tile rows (winograd.cpp).
#pragma once

#include <cstdint>

#include "kernels/conv/conv.h"

namespace minimod::kernels {

// Whether the Winograd path can compute this convolution (any padding, any batch).
bool winograd_applies(const ConvParams& p);

// Whether it is expected to beat the GEMM paths (enough tiles per weight transform).
bool winograd_wins(const ConvParams& p);

// y = conv(x, w) * scale[c] + bias[c], then ReLU if `relu` (scale / bias per output channel; a
// null one is 1 / 0); `winograd_applies(p)` must hold. Workspaces are allocated before any
// thread starts, so running out of memory throws std::bad_alloc here.
// rows: which operand the GEMM microkernel's rows walk (winograd.cpp, Orientation); Auto picks
// the one with fewer padded multiply-adds, the others are for tests.
enum class WinogradGemmRows { Auto, Tiles, Channels };
void conv_winograd(const ConvParams& p, const float* x, const float* w, const float* bias,
                   bool relu, float* y, WinogradGemmRows rows = WinogradGemmRows::Auto,
                   const float* scale = nullptr);

// ---- the per-ISA transforms (winograd_impl.h), for the driver ----

// One batch of images in tile space: tile t = (image * tiles_h + ty) * tiles_w + tx; the tile
// matrices V[xi] are stored as GEMM B panels of nr tiles: element (xi, c, t) at
// v + xi * xi_stride + (t / nr) * channels * nr + c * nr + t % nr.
struct WinogradGeometry {
  std::int64_t channels;        // C_in
  std::int64_t in_h, in_w;      // input extents
  std::int64_t out_h, out_w;    // output extents
  std::int64_t pad_top, pad_left;
  std::int64_t tiles_h, tiles_w;  // ceil(out / m)
  std::int64_t nr;              // GEMM B panel width
  std::int64_t xi_stride;       // floats between consecutive V[xi]
};

// Floats between consecutive U[xi] (and, likewise padded, V[xi] and M[xi]): one cache line more
// than the data, so the 16 streams a transform writes at once do not all map to the same L1 sets
// (an unpadded stride is often a multiple of 4 KiB). The AVX2 weight panel's whole-vector stores
// reach up to 7 floats past a plane's last channel, into this padding: keep it >= 8.
inline std::int64_t winograd_u_stride(std::int64_t channels, int mr) { return channels * mr + 16; }

struct WinogradTransforms {
  int m;  // output tile side: F(m x m, 3x3) reads (m + 2) x (m + 2) input tiles, (m + 2)^2 GEMMs

  // Floats of work buffer the input transform needs: the padded plane (m * tiles_h + 2 rows) and
  // the transform along H ((m + 2) * tiles_h rows), rows of m * (tiles_w + 1).
  static std::int64_t input_work(const WinogradGeometry& g, int m) {
    return (m * g.tiles_h + 2 + (m + 2) * g.tiles_h) * (m * g.tiles_w + m) + 16;
  }
  // Floats of work buffer the output transform of `tiles` tiles needs.
  static std::int64_t output_work(std::int64_t tiles, int m) { return m * m * tiles; }

  // Channel c of one image (plane xc) into V, its tiles starting at tile index `tile0`.
  void (*input)(const WinogradGeometry& g, const float* xc, std::int64_t c, std::int64_t tile0,
                float* v, float* work);
  // U[xi] for output channels [k0, k0 + rows) as one packed A panel of mr rows per xi:
  // element (xi, c, r) at u + xi * winograd_u_stride(channels, mr) + c * mr + r;
  // rows past `rows` hold finite filler (the microkernel for `rows` rows never reads them).
  // mr may also be a B panel width (U transposed, output channels as the GEMM's columns): then
  // min(mr, 16) floats per input channel are written and rows <= 16 (wider panels: two calls).
  // w is the (C_out, C_in, 3, 3) weight.
  void (*weight)(const float* w, std::int64_t channels, std::int64_t k0, int rows, int mr,
                 float* u);
  // A^T M A of `count` consecutive tiles of one output channel (M[xi] of the first tile at
  // m + xi * xs) into y4: m * m rows of `count` floats, row m * a + b holding output
  // (m * ty + a, m * tx + b) of each tile.
  void (*output_tiles)(const float* m, std::int64_t xs, std::int64_t count, float* y4);
  // output_tiles for M stored transposed (tiles as the GEMM's rows): element (channel r, tile t)
  // of M[xi] at m + xi * xs + t * ts + r; `channels` channels, each into y4 + 4 * count * r.
  void (*output_columns)(const float* m, std::int64_t xs, std::int64_t ts, std::int64_t count,
                         int channels, float* y4);
  // Tiles [tx0, tx0 + count) of tile row ty from y4 (rows ys floats apart) into the output plane
  // yc, clipped to the output's extent, times scale plus bias, then ReLU. (scale 1 changes
  // nothing: v * 1 is v exactly, so an unscaled conv's bits do not depend on this.)
  void (*store_tiles)(const WinogradGeometry& g, const float* y4, std::int64_t ys,
                      std::int64_t count, std::int64_t ty, std::int64_t tx0, float* yc,
                      float scale, float bias, bool relu);
};

WinogradTransforms winograd_transforms_generic();
WinogradTransforms winograd_transforms_avx2();
WinogradTransforms winograd_transforms_avx512();

}  // namespace minimod::kernels
