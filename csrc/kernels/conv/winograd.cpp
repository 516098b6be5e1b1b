// Winograd F(2x2, 3x3) driver: geometry, workspaces, the two phases and how threads share them.
//
//   phase 1 (over (image, input channel)): input transform into V, stored directly as the GEMM's
//           packed panels of tiles, so no packing happens later.
//   phase 2 (over units = (panel of output channels) x (range of tile panels)): the 16 GEMMs
//           M[xi] = U[xi] * V[xi] of this panel's weights (U: 16 packed panels) with the active
//           ISA's GEMM microkernels, then the output transform with bias and ReLU straight into y.
// The GEMMs run in one of two orientations (Orientation): output channels as the microkernel's
// rows (U as A panels of mr channels, V as B panels of nr tiles) or tiles as its rows (V as A
// panels of mr tiles, U as B panels of nr channels), whichever pads fewer multiply-adds.
// Images are processed in batches so that V stays within kVFloats.
//
// Cache reuse. Large images run in bands of tile rows (conv_winograd), so that the V a band's
// phase 1 writes is still in L2 when its phase 2 reads it. When U is shared (below) and there are
// bands enough, every band runs both phases on one thread (the band pipeline, conv_winograd);
// otherwise each phase is split across the threads. Within phase 2 the units are ordered tile range first:
// consecutive units read the same V range (at most kVRangeFloats) with every output-channel
// panel, instead of each panel streaming all of V. That needs U of every panel at hand: when all
// of U fits kUFloats it is transformed once per call, before any band, in parallel over panels;
// otherwise (very wide layers) each unit transforms its own panel's weights and units go panel
// first, so a panel's transform is shared by the tile ranges that follow it.
#include "kernels/conv/winograd.h"

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

#include "common/aligned.h"
#include "kernels/gemm/gemm_config.h"
#include "runtime/cpu_features.h"
#include "runtime/parallel.h"

namespace minimod::kernels {

namespace {

constexpr std::int64_t kVFloats = std::int64_t{1} << 22;  // 16 MiB of transformed input per batch
// The V range one phase-2 unit reads (1 MiB: half the L2 here, the rest for U and M), and the
// largest U transformed once up front (4 MiB: 256 x 256 channels).
constexpr std::int64_t kVRangeFloats = std::int64_t{1} << 18;
constexpr std::int64_t kUFloats = std::int64_t{1} << 20;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// The active ISA's transforms.
WinogradTransforms winograd_transforms() {
#if defined(MINIMOD_X86)
  switch (active_isa()) {
    case Isa::Avx512:
      return winograd_transforms_avx512();
    case Isa::Avx2:
      return winograd_transforms_avx2();
    default:
      break;
  }
#endif
  return winograd_transforms_generic();
}

// Runs fn(chunk, job) for every job in [0, jobs), jobs claimed dynamically by min(threads, jobs)
// chunks; `chunk` indexes a workspace the caller allocated before (no allocation in the bodies).
template <class Fn>
void for_each_job(std::int64_t jobs, std::int64_t chunks, const Fn& fn) {
  if (chunks <= 1) {
    for (std::int64_t j = 0; j < jobs; ++j) fn(0, j);
    return;
  }
  std::atomic<std::int64_t> next{0};
  parallel_for(chunks, 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t chunk = b; chunk < e; ++chunk) {
      for (std::int64_t j = next.fetch_add(1); j < jobs; j = next.fetch_add(1)) fn(chunk, j);
    }
  });
}

// Grow-only workspaces of the calling thread (the one that runs conv_winograd and hands parts
// of them to the pool's threads): no allocation and no page faults in steady state. Grown here,
// before any parallel region, so running out of memory throws in the caller.
float* workspace(int slot, std::size_t n) {
  thread_local AlignedPtr<float> bufs[3];
  thread_local std::size_t caps[3] = {0, 0, 0};
  if (n > caps[slot]) {
    bufs[slot].reset();
    caps[slot] = 0;
    bufs[slot] = aligned_array<float>(n);
    caps[slot] = n;
  }
  return bufs[slot].get();
}

}  // namespace

bool winograd_applies(const ConvParams& p) {
  return p.groups == 1 && p.kernel[0] == 1 && p.kernel[1] == 3 && p.kernel[2] == 3 &&
         p.stride[0] == 1 && p.stride[1] == 1 && p.stride[2] == 1 && p.dilation[1] == 1 &&
         p.dilation[2] == 1 && p.in_size[0] == 1 && p.pad_before[0] == 0 && p.pad_after[0] == 0;
}

bool winograd_wins(const ConvParams& p) {
  if (!winograd_applies(p)) return false;
  const std::int64_t tiles = p.batch * ceil_div(p.out_size[1], 2) * ceil_div(p.out_size[2], 2);
  const std::int64_t channels = std::min(p.in_channels, p.out_channels);
  // Each weight transform (per output/input channel pair) is shared by `tiles` tiles, and the
  // transforms' fixed costs by the channel counts. No limit on the image size: a large image runs
  // in bands of tile rows (conv_winograd), whose V is bounded whatever the image (64ch 224x224 ran
  // 0.53 of the shift GEMM path's time, 128x128 0.56).
  if (active_isa() == Isa::Avx2) {
    // Measured on AMD Zen3 (AVX2, 2 threads, Winograd / shift GEMM, paired in one process):
    // 32->32ch 16x16 (64 tiles) 0.81, 48->64ch 16x16 0.74, 32->64ch 32x32 0.75, 32->64ch 16x16
    // 0.83-1.05; at 16 tiles 512ch 7x7 0.80-0.90 and 256ch 7x7 0.77-0.92, but 128ch 7x7 0.84-1.2
    // and 9 or 4 tiles (256ch 6x6, 512ch 5x5 or 4x4) 1.07-1.8. W3 (cnn-small) ran 0.93-0.96 and
    // ResNet-18 0.97-0.98 of their time with this rule against the AVX-512 one below.
    return (channels >= 32 && tiles >= 36) || (channels >= 256 && tiles >= 16);
  }
  // Measured on ResNet-18 shapes (1 thread, AVX-512, ratio to the shift GEMM path): 64ch 56x56
  // (784 tiles) 0.93, 128ch 28x28 (196) 0.82, 256ch 14x14 (49) 0.78, 512ch 7x7 (16) 1.18, and
  // 32->64ch 16x16 (64 tiles) 1.6. (The generic path keeps this rule: not measured apart.)
  return channels >= 64 && tiles >= 36;
}

namespace {

// Which operand of the GEMMs M[xi] = U[xi] * V[xi] the microkernel's rows walk. The microkernel
// costs in proportion to its rows (each row count has its own instantiation) but to its columns
// rounded up to a SIMD vector (nr_step), so the side with the awkward count belongs on the rows:
//   channel rows: U as A panels of mr output channels, V as B panels of nr tiles (M: channel x tile);
//   tile rows:    V as A panels of mr tiles, U as B panels of nr output channels (M: tile x channel).
// ResNet-18's 256ch 14x14 has 49 tiles: as columns, 64 (32 + 17 rounded to 2 vectors), 30% more
// multiply-adds than the 49 rows it takes as rows, with its 256 channels as exact columns.
struct Orientation {
  bool tile_rows;
  int tile_panel;  // tiles per V panel (g.nr)
  int chan_panel;  // output channels per U panel (one unit's channels)
};

Orientation orientation(bool tile_rows) {
  const GemmKernels& kt = gemm_kernels();
  return tile_rows ? Orientation{true, kt.mr, kt.nr} : Orientation{false, kt.nr, kt.mr};
}

// Multiply-add lanes of the GEMMs for `tiles` tiles (in GEMM panels of at most nr tiles when they
// are columns) and K output channels, per input channel and xi, in either orientation.
std::int64_t padded_gemm_lanes(std::int64_t tiles, std::int64_t K, bool tile_rows) {
  const GemmKernels& kt = gemm_kernels();
  auto columns = [&](std::int64_t n) {
    const std::int64_t full = n / kt.nr, rest = n % kt.nr;
    return full * kt.nr + ceil_div(rest, kt.nr_step) * kt.nr_step;
  };
  return tile_rows ? tiles * columns(K) : K * columns(tiles);
}

// Everything the driver derives from p, the variant and the thread count, and the workspace it
// needs.
struct DriverPlan {
  WinogradTransforms tf;  // the variant: F(m x m, 3x3), with xis = (m + 2)^2 tile matrices
  int m, xis;
  Orientation o;
  WinogradGeometry g;
  std::int64_t tiles_image, images_per_batch, max_panels, kpanels, range_panels;
  std::int64_t tsplit_max, m_floats, own_u, per_chunk, chunks, v_floats;
};

DriverPlan driver_plan(const ConvParams& p, const WinogradTransforms& tf, const Orientation& o,
                       bool u_shared, int threads) {
  const std::int64_t C = p.in_channels, K = p.out_channels;
  const int tp = o.tile_panel, cp = o.chan_panel;
  DriverPlan d;
  d.tf = tf;
  d.m = tf.m;
  d.o = o;
  d.xis = (tf.m + 2) * (tf.m + 2);
  const std::int64_t xis = d.xis;
  WinogradGeometry& g = d.g;
  g.channels = C;
  g.in_h = p.in_size[1];
  g.in_w = p.in_size[2];
  g.out_h = p.out_size[1];
  g.out_w = p.out_size[2];
  g.pad_top = p.pad_before[1];
  g.pad_left = p.pad_before[2];
  g.tiles_h = ceil_div(g.out_h, d.m);
  g.tiles_w = ceil_div(g.out_w, d.m);
  g.nr = tp;
  d.tiles_image = g.tiles_h * g.tiles_w;
  d.images_per_batch =
      std::clamp<std::int64_t>(kVFloats / std::max<std::int64_t>(1, xis * C * d.tiles_image), 1,
                               p.batch);
  d.max_panels = ceil_div(d.images_per_batch * d.tiles_image, tp);

  // Units of phase 2: output-channel panels, each split into tile ranges when there are too few
  // panels to keep every thread busy (each split repeats its panel's weight transform).
  d.kpanels = ceil_div(K, cp);
  const std::int64_t want = threads > 1 ? 4 * threads : 1;
  d.range_panels = std::max<std::int64_t>(1, kVRangeFloats / (xis * C * tp));
  d.tsplit_max = std::clamp<std::int64_t>(
      std::max(ceil_div(want, d.kpanels), u_shared ? ceil_div(d.max_panels, d.range_panels) : 1),
      1, d.max_panels);
  const std::int64_t unit_panels_max = ceil_div(d.max_panels, d.tsplit_max);

  const std::int64_t in_work = WinogradTransforms::input_work(g, d.m);
  // Output transform: one channel at a time (channel rows), or all the unit's channels at once.
  const std::int64_t out_work = WinogradTransforms::output_work(unit_panels_max * tp, d.m) *
                                (o.tile_rows ? cp : 1);
  d.m_floats = xis * (cp * unit_panels_max * tp + 16);
  d.own_u = u_shared ? 0 : xis * winograd_u_stride(C, cp);
  d.per_chunk = ceil_div(std::max(in_work, d.own_u + d.m_floats + out_work), 16) * 16;
  d.chunks = std::max<std::int64_t>(1, threads);
  d.v_floats = ceil_div(xis * (d.max_panels * C * tp + 16), 16) * 16;
  return d;
}

// U of output-channel panel kp (chan_panel channels per input channel; at most 16 per call).
void transform_weight_panel(const WinogradTransforms& tf, const Orientation& o, const float* w,
                            std::int64_t C, std::int64_t K, std::int64_t kp, float* u) {
  const std::int64_t k0 = kp * o.chan_panel;
  const int rows = static_cast<int>(std::min<std::int64_t>(o.chan_panel, K - k0));
  for (int off = 0; off < rows; off += 16) {
    tf.weight(w, C, k0 + off, std::min(16, rows - off), o.chan_panel, u + off);
  }
}

// The two phases for p, whose image planes lie x_plane / y_plane floats apart (p may be a band of
// rows of a taller image, see conv_winograd), on `d.chunks` threads (1: the calling thread only).
// u_all: every panel's transformed weights, or nullptr to transform them per unit. v: d.v_floats
// floats, work: d.chunks * d.per_chunk floats.
void winograd_driver(const ConvParams& p, const DriverPlan& d, const float* x,
                     std::int64_t x_plane, const float* w, const float* u_all, const float* bias,
                     const float* scale, bool relu, float* y, std::int64_t y_plane, float* v,
                     float* work) {
  const GemmKernels& kt = gemm_kernels();
  const WinogradTransforms& tf = d.tf;
  const Orientation& o = d.o;
  const int xis = d.xis;
  const std::int64_t C = p.in_channels, K = p.out_channels;
  const int tp = o.tile_panel, cp = o.chan_panel;
  WinogradGeometry g = d.g;
  const std::int64_t tiles_image = d.tiles_image, images_per_batch = d.images_per_batch;
  const std::int64_t kpanels = d.kpanels, tsplit_max = d.tsplit_max;
  const std::int64_t m_floats = d.m_floats, own_u = d.own_u, per_chunk = d.per_chunk;
  const std::int64_t chunks = d.chunks;
  const std::int64_t u_xs = winograd_u_stride(C, cp);
  const std::int64_t u_floats = xis * u_xs;
  const bool u_shared = u_all != nullptr;
  for (std::int64_t n0 = 0; n0 < p.batch; n0 += images_per_batch) {
    const std::int64_t images = std::min(images_per_batch, p.batch - n0);
    const std::int64_t tiles = images * tiles_image;
    const std::int64_t panels = ceil_div(tiles, tp);
    g.xi_stride = panels * C * tp + 16;
    float* vp = v;

    // Phase 1: input transform, one (image, channel) per job.
    for_each_job(images * C, std::min<std::int64_t>(chunks, images * C),
                 [&](std::int64_t chunk, std::int64_t job) {
                   const std::int64_t n = job / C, c = job % C;
                   tf.input(g, x + ((n0 + n) * C + c) * x_plane, c, n * tiles_image, vp,
                            work + chunk * per_chunk);
                   // Tiles past the end in the last panel: defined zeros (read, never stored).
                   if (n == images - 1 && tiles % tp != 0) {
                     for (int xi = 0; xi < xis; ++xi) {
                       float* lane = vp + xi * g.xi_stride + (panels - 1) * C * tp + c * tp;
                       for (std::int64_t t = tiles % tp; t < tp; ++t) lane[t] = 0.0f;
                     }
                   }
                 });

    // Phase 2: per unit, weight transform, 16 GEMMs, output transform.
    const std::int64_t tsplit = std::min(tsplit_max, panels);
    const std::int64_t units = kpanels * tsplit;
    for_each_job(units, std::min(chunks, units), [&](std::int64_t chunk, std::int64_t unit) {
      const std::int64_t kp = u_shared ? unit % kpanels : unit / tsplit;
      const std::int64_t ts = u_shared ? unit / kpanels : unit % tsplit;
      const std::int64_t k0 = kp * cp;
      const int kcount = static_cast<int>(std::min<std::int64_t>(cp, K - k0));
      const std::int64_t pa = panels * ts / tsplit, pb = panels * (ts + 1) / tsplit;
      if (pb <= pa) return;
      const std::int64_t ta = pa * tp, tb = std::min(tiles, pb * tp);
      const std::int64_t ldm = (pb - pa) * tp;  // tiles of M per channel (channel rows)
      float* m = work + chunk * per_chunk + own_u;
      float* owork = m + m_floats;
      const float* u = u_all ? u_all + kp * u_floats : work + chunk * per_chunk;
      if (!u_shared) transform_weight_panel(tf, o, w, C, K, kp, work + chunk * per_chunk);

      UkernelTile tile;
      tile.accumulate = false;
      tile.finish = true;
      tile.relu = false;
      tile.bias_row = nullptr;
      tile.bias_col = nullptr;
      const std::int64_t xs = cp * ldm + 16;  // floats between M[xi]
      for (int xi = 0; xi < xis; ++xi) {
        const float* ux = u + xi * u_xs;
        const float* vx = vp + xi * g.xi_stride;
        float* mx = m + xi * xs;
        for (std::int64_t pnl = pa; pnl < pb; ++pnl) {
          const int count = static_cast<int>(std::min<std::int64_t>(tp, tiles - pnl * tp));
          if (o.tile_rows) {  // M^T (tiles x cp channels) += V^T panel * U^T panel
            const int vsel = (kcount + kt.nr_step - 1) / kt.nr_step - 1;
            kt.ukernel[count - 1][vsel](C, vx + pnl * C * tp, ux, mx + (pnl - pa) * tp * cp, cp,
                                        kcount, tile);
          } else {  // M (kcount channels x tiles) = U panel * V panel
            const int vsel = (count + kt.nr_step - 1) / kt.nr_step - 1;
            kt.ukernel[kcount - 1][vsel](C, ux, vx + pnl * C * tp, mx + (pnl - pa) * tp, ldm,
                                         count, tile);
          }
        }
      }

      // Output transform: A^T M A over the unit's whole tile range per output channel, then
      // stored one tile-row segment at a time.
      const std::int64_t span = tb - ta;
      if (o.tile_rows) tf.output_columns(m, xs, cp, span, kcount, owork);
      for (int r = 0; r < kcount; ++r) {
        const std::int64_t k = k0 + r;
        const float b = bias ? bias[k] : 0.0f;
        const float s = scale ? scale[k] : 1.0f;
        float* y4 = owork;
        if (o.tile_rows) {
          y4 += 4 * span * r;
        } else {
          tf.output_tiles(m + r * ldm, xs, span, owork);
        }
        for (std::int64_t t = ta; t < tb;) {
          const std::int64_t n = t / tiles_image, rem = t % tiles_image;
          const std::int64_t ty = rem / g.tiles_w, tx = rem % g.tiles_w;
          const std::int64_t count = std::min(g.tiles_w - tx, tb - t);
          tf.store_tiles(g, y4 + (t - ta), span, count, ty, tx, y + ((n0 + n) * K + k) * y_plane,
                         s, b, relu);
          t += count;
        }
      }
    });
  }
}

}  // namespace

// Large images run in bands of tile rows, each a convolution of its own (the input rows it reads,
// padding where the band touches the image edge) through the two phases: a band's V (at most
// kVRangeFloats) is written by phase 1 and read by phase 2 while it is still in L2. Unbanded, V
// of one 64-channel 56x56 image is 3.5 MiB: phase 1 wrote it out to L3 and phase 2 read it back
// (the input transform took 2/3 of the GEMM time). U is shared by all bands.
//
// When there are bands enough, each band runs whole on one thread (band pipeline):
// input transform, the GEMMs per output-channel panel and output transform, in that thread's own
// workspace, bands claimed dynamically in one parallel region. A band's V then never leaves the
// L2 of the core that wrote it, and there is no barrier between the phases. Splitting each band's
// phases across threads instead (the driver's own parallel mode) made every core read V the
// other wrote, through L3, and put two barriers per band: 2 threads ran W5b no faster than 1.
namespace {

// A band of output tile rows [ty0, ty1) of image n as a convolution of its own.
struct Band {
  ConvParams p;
  std::int64_t x_offset, y_offset;  // of its first input / output row
};

Band band_of(const ConvParams& p, int m, std::int64_t n, std::int64_t ty0, std::int64_t ty1) {
  // Output rows [o0, o1) read padded rows [o0, o1 + 2), i.e. input rows
  // [o0 - pad_top, o1 + 2 - pad_top), of which [i0, i1) exist; the rest is padding.
  const std::int64_t in_h = p.in_size[1], in_w = p.in_size[2], out_w = p.out_size[2];
  const std::int64_t pad_top = p.pad_before[1];
  const std::int64_t o0 = m * ty0, o1 = std::min(p.out_size[1], m * ty1);
  const std::int64_t i0 = std::clamp<std::int64_t>(o0 - pad_top, 0, in_h);
  const std::int64_t i1 = std::clamp<std::int64_t>(o1 + 2 - pad_top, i0, in_h);
  Band b;
  b.p = p;
  b.p.batch = 1;
  b.p.in_size[1] = i1 - i0;
  b.p.pad_before[1] = i0 - (o0 - pad_top);
  b.p.pad_after[1] = (o1 + 2 - pad_top) - i1;
  b.p.out_size[1] = o1 - o0;
  b.x_offset = n * p.in_channels * p.in_plane() + i0 * in_w;
  b.y_offset = n * p.out_channels * p.out_plane() + o0 * out_w;
  return b;
}

// V of one band in the pipeline: small enough that V, U's share the GEMMs stream and M stay in
// the 2 MiB L2 together.
constexpr std::int64_t kPipelineBandFloats = std::int64_t{1} << 17;

}  // namespace

void conv_winograd(const ConvParams& p, const float* x, const float* w, const float* bias,
                   bool relu, float* y, WinogradGemmRows gemm_rows, const float* scale) {
  const WinogradTransforms tf = winograd_transforms();
  const int m = tf.m;
  const std::int64_t xis = (m + 2) * (m + 2);
  const std::int64_t C = p.in_channels, K = p.out_channels;
  const int threads = std::max(1, get_num_threads());
  const std::int64_t in_plane = p.in_plane(), out_plane = p.out_plane();
  const std::int64_t tiles_h = ceil_div(p.out_size[1], m), tiles_w = ceil_div(p.out_size[2], m);
  const std::int64_t row_v = xis * C * tiles_w;  // V of one tile row

  // The band pipeline's bands (used whenever U is shared, below): on one thread it is just the
  // loop over the bands (whose V is half the size of the split path's bands: 0.87 of its time on
  // W5b and ResNet-18's layer2, 1 thread; 256 KiB or 1 MiB bands ran 1.06 and 1.15 of the
  // 512 KiB ones). Bands of at most kPipelineBandFloats of V. With one image the tile rows are
  // first cut into one equal contiguous share per thread, so the threads finish together, and
  // each share into bands of max_rows from its start; only a share's last band is shorter. (Equal
  // bands instead, e.g. W5b's 28 rows as 8 bands of 3 or 4, left the 3-row bands' 84 tiles
  // padded to 96 GEMM columns; as 4 + 4 + 4 + 2 per share only the 2-row band pads, 56 to 64.)
  const std::int64_t max_rows = std::max<std::int64_t>(1, kPipelineBandFloats / row_v);
  const std::int64_t shares = p.batch == 1 ? std::min<std::int64_t>(threads, tiles_h) : 1;
  std::vector<std::pair<std::int64_t, std::int64_t>> rows;  // [ty0, ty1) of each band
  for (std::int64_t sh = 0; sh < shares; ++sh) {
    const std::int64_t end = tiles_h * (sh + 1) / shares;
    for (std::int64_t ty = tiles_h * sh / shares; ty < end; ty += max_rows) {
      rows.emplace_back(ty, std::min(end, ty + max_rows));
    }
  }
  const std::int64_t bands = static_cast<std::int64_t>(rows.size());
  const std::int64_t jobs = p.batch * bands;
  // (Several small images, one band each, stay together in the split path: their tiles share
  // GEMM panels.)
  const bool pipeline_fits = (bands > 1 || p.batch == 1) && (threads == 1 || jobs >= 2 * threads);
  // The split path's bands (large images) or the whole batch.
  const std::int64_t band_rows = std::max<std::int64_t>(1, kVRangeFloats / row_v);
  const std::int64_t split_bands = band_rows >= tiles_h ? 1 : ceil_div(tiles_h, band_rows);

  // The orientation with fewer padded multiply-adds over the GEMMs this call will run (the tile
  // rows variant's output transform stores lane by lane, so it needs a clear margin).
  auto u_fits = [&](const Orientation& o) {
    return ceil_div(K, o.chan_panel) * xis * winograd_u_stride(C, o.chan_panel) <= kUFloats;
  };
  auto gemm_lanes = [&](bool tile_rows) {
    std::int64_t lanes = 0;
    if (u_fits(orientation(tile_rows)) && pipeline_fits) {
      for (const auto& [ty0, ty1] : rows) {
        lanes += p.batch * padded_gemm_lanes((ty1 - ty0) * tiles_w, K, tile_rows);
      }
    } else if (split_bands == 1) {
      lanes = padded_gemm_lanes(p.batch * tiles_h * tiles_w, K, tile_rows);
    } else {
      for (std::int64_t band = 0; band < split_bands; ++band) {
        const std::int64_t th = tiles_h * (band + 1) / split_bands - tiles_h * band / split_bands;
        lanes += p.batch * padded_gemm_lanes(th * tiles_w, K, tile_rows);
      }
    }
    return lanes;
  };
  const Orientation o = orientation(gemm_rows == WinogradGemmRows::Auto
                                        ? 20 * gemm_lanes(true) < 19 * gemm_lanes(false)
                                        : gemm_rows == WinogradGemmRows::Tiles);

  const std::int64_t kpanels = ceil_div(K, o.chan_panel);
  const std::int64_t u_floats = xis * winograd_u_stride(C, o.chan_panel);
  float* u_all = nullptr;
  if (u_fits(o)) {
    u_all = workspace(2, static_cast<std::size_t>(kpanels * u_floats));
    const std::int64_t chunks = std::min<std::int64_t>(threads, kpanels);
    for_each_job(kpanels, chunks, [&](std::int64_t, std::int64_t kp) {
      transform_weight_panel(tf, o, w, C, K, kp, u_all + kp * u_floats);
    });
  }

  // The band pipeline, whenever U is shared.
  if (u_all != nullptr && pipeline_fits) {
    const std::int64_t chunks = std::min<std::int64_t>(threads, jobs);
    // The largest band's plan sizes every thread's workspace (one chunk each: serial driver).
    std::int64_t v_floats = 0, per_chunk = 0;
    for (const auto& [ty0, ty1] : rows) {
      const DriverPlan d = driver_plan(band_of(p, m, 0, ty0, ty1).p, tf, o, true, 1);
      v_floats = std::max(v_floats, d.v_floats);
      per_chunk = std::max(per_chunk, d.per_chunk);
    }
    const std::int64_t slab = v_floats + per_chunk;
    float* slabs = workspace(0, static_cast<std::size_t>(chunks * slab));
    for_each_job(jobs, chunks, [&](std::int64_t chunk, std::int64_t job) {
      const auto& [ty0, ty1] = rows[static_cast<std::size_t>(job % bands)];
      const Band b = band_of(p, m, job / bands, ty0, ty1);
      const DriverPlan d = driver_plan(b.p, tf, o, true, 1);
      float* v = slabs + chunk * slab;
      winograd_driver(b.p, d, x + b.x_offset, in_plane, w, u_all, bias, scale, relu,
                      y + b.y_offset, out_plane, v, v + v_floats);
    });
    return;
  }

  // Otherwise (U per unit, or too few bands for the threads) each band, or the whole batch, runs
  // its phases split across the threads.
  auto run = [&](const ConvParams& q, const float* xq, float* yq) {
    const DriverPlan d = driver_plan(q, tf, o, u_all != nullptr, threads);
    float* v = workspace(0, static_cast<std::size_t>(d.v_floats));
    float* work = workspace(1, static_cast<std::size_t>(d.chunks * d.per_chunk));
    winograd_driver(q, d, xq, in_plane, w, u_all, bias, scale, relu, yq, out_plane, v, work);
  };
  if (split_bands == 1) {
    run(p, x, y);
    return;
  }
  for (std::int64_t n = 0; n < p.batch; ++n) {
    for (std::int64_t band = 0; band < split_bands; ++band) {
      const Band b = band_of(p, m, n, tiles_h * band / split_bands,
                             tiles_h * (band + 1) / split_bands);
      run(b.p, x + b.x_offset, y + b.y_offset);
    }
  }
}

}  // namespace minimod::kernels
