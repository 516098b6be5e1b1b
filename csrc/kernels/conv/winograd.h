// Winograd F(2x2, 3x3) convolution for 2-d 3x3 kernels with unit stride and dilation, groups = 1.
//
// Each 2x2 block of outputs ("tile") is computed from the 4x4 input patch under it in a
// transformed domain where the 3x3 correlation becomes 16 element-wise products:
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A        (Lavin & Gray, 2015)
// Summed over input channels, the 16 element-wise products are 16 independent GEMMs
//   M[xi] (C_out x tiles) = U[xi] (C_out x C_in) * V[xi] (C_in x tiles),   xi = 0..15
// with 16 multiply-adds per tile and channel pair instead of the direct 9 x 4 = 36: 2.25x less.
// F(2x2) rather than F(4x4) (4x less) for accuracy: its transforms' coefficients are 0, +-1 and
// 1/2, and the result stays within the direct path's elementwise tolerances; F(4x4)'s did not.
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

// y = conv(x, w) + bias, then ReLU if `relu`; `winograd_applies(p)` must hold. Workspaces are
// allocated before any thread starts, so running out of memory throws std::bad_alloc here.
void conv_winograd(const ConvParams& p, const float* x, const float* w, const float* bias,
                   bool relu, float* y);

// ---- the per-ISA transforms (winograd_impl.h), for the driver ----

// One batch of images in tile space: tile t = (image * tiles_h + ty) * (tiles_w + 1) + tx, where
// tx = tiles_w is a dummy column (computed, never stored) that lets every transform run over a
// whole image's tiles as one contiguous vector loop instead of rows of a few tiles; the tile
// matrices V[xi] are stored as GEMM B panels of nr tiles: element (xi, c, t) at
// v + xi * xi_stride + (t / nr) * channels * nr + c * nr + t % nr.
struct WinogradGeometry {
  std::int64_t channels;        // C_in
  std::int64_t in_h, in_w;      // input extents
  std::int64_t out_h, out_w;    // output extents
  std::int64_t pad_top, pad_left;
  std::int64_t tiles_h, tiles_w;  // ceil(out / 2)
  std::int64_t nr;              // GEMM B panel width
  std::int64_t xi_stride;       // floats between consecutive V[xi]
};

// Floats between consecutive U[xi] (and, likewise padded, V[xi] and M[xi]): one cache line more
// than the data, so the 16 streams a transform writes at once do not all map to the same L1 sets
// (an unpadded stride is often a multiple of 4 KiB).
inline std::int64_t winograd_u_stride(std::int64_t channels, int mr) { return channels * mr + 16; }

struct WinogradTransforms {
  // Floats of work buffer the input / output transforms need.
  static std::int64_t input_work(const WinogradGeometry& g) {
    return (2 * g.tiles_h + 2 + 4 * g.tiles_h) * (2 * g.tiles_w + 2) +
           2 * (g.tiles_h * (g.tiles_w + 1) + 1) + 16;
  }
  static std::int64_t output_work(const WinogradGeometry& g) { return 12 * g.tiles_w; }

  // Channel c of one image (plane xc) into V, its tiles starting at tile index `tile0`.
  void (*input)(const WinogradGeometry& g, const float* xc, std::int64_t c, std::int64_t tile0,
                float* v, float* work);
  // U[xi] for output channels [k0, k0 + rows) as one packed A panel of mr rows per xi:
  // element (xi, c, r) at u + xi * winograd_u_stride(channels, mr) + c * mr + r;
  // rows past `rows` hold finite filler (the microkernel for `rows` rows never reads them).
  // w is the (C_out, C_in, 3, 3) weight.
  void (*weight)(const float* w, std::int64_t channels, std::int64_t k0, int rows, int mr,
                 float* u);
  // Output transform of `count` tiles of one tile row (image plane yc, tile row ty, first tile
  // column tx0); m points at M[0] of the first tile, xi_stride floats between M[xi]. Adds bias,
  // then ReLU.
  void (*output)(const WinogradGeometry& g, const float* m, std::int64_t xi_stride,
                 std::int64_t count, std::int64_t ty, std::int64_t tx0, float* yc, float bias,
                 bool relu, float* work);
};

WinogradTransforms winograd_transforms_generic();
WinogradTransforms winograd_transforms_avx2();
WinogradTransforms winograd_transforms_avx512();

}  // namespace minimod::kernels
