// Per-ISA body of the bias+activation kernels. Included by bias_act_scalar.cc,
// bias_act_avx2.cc and bias_act_avx512.cc, each compiled with its own -m flags
// and defining ZOO_ISA_NS, so the same loops are vectorised three ways and
// picked at run time by bias_act.cc.
//
// Work is done on stack tiles of kTile float32 values: load (and convert) a
// tile, add the bias, apply the activation, convert and store. The bias comes
// pre-tiled to a float32 pattern whose length is a multiple of `channels` and
// at least 64, so short last axes do not cost one loop per row.
#pragma once

#include <algorithm>

#include "activation.h"
#include "bias_act.h"
#include "convert.h"
#include "stream.h"

#ifndef ZOO_ISA_NS
#error "define ZOO_ISA_NS before including bias_act_impl.h"
#endif

namespace zoo::ZOO_ISA_NS {

constexpr int64_t kTile = 512;

// ----------------------------------------------------------------------------
// Activation over a float32 buffer.

// Plain relu (no slope, cap or threshold) is by far the most common relu:
// it gets a one-instruction loop instead of the general formula's selects.
inline bool plain_relu(const ActParams& p) {
  return p.alpha == 0.0f && p.threshold == 0.0f && p.max_value == vm::kInf;
}

template <Act K>
void act_forward_t(float* __restrict z, int64_t n, const ActParams& p) {
  if (K == Act::relu && plain_relu(p)) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) z[i] = z[i] < 0.0f ? 0.0f : z[i];
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) z[i] = act::forward<K>(z[i], p);
}

template <Act K>
void act_backward_t(float* __restrict g, const float* __restrict z, int64_t n, const ActParams& p) {
  if (K == Act::relu && plain_relu(p)) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) g[i] = z[i] > 0.0f ? g[i] : 0.0f;
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] * act::derivative<K>(z[i], p);
}

inline void act_forward(float* z, int64_t n, const ActParams& p) {
  dispatch_act(p.kind, [&](auto k) { act_forward_t<decltype(k)::value>(z, n, p); });
}

inline void act_backward(float* g, const float* z, int64_t n, const ActParams& p) {
  dispatch_act(p.kind, [&](auto k) { act_backward_t<decltype(k)::value>(g, z, n, p); });
}

// z[0..len) += pattern, starting at phase `pos` of a bias pattern of length plen.
inline void add_bias(float* __restrict z, int64_t len, const float* __restrict pattern,
                     int64_t plen, int64_t pos) {
  int64_t j = 0, col = pos % plen;
  while (j < len) {
    const int64_t seg = std::min(len - j, plen - col);
#pragma omp simd
    for (int64_t k = 0; k < seg; ++k) z[j + k] += pattern[col + k];
    j += seg;
    col = 0;
  }
}

inline void accumulate_bias_grad(const float* __restrict g, int64_t len, float* __restrict acc,
                                 int64_t plen, int64_t pos) {
  int64_t j = 0, col = pos % plen;
  while (j < len) {
    const int64_t seg = std::min(len - j, plen - col);
#pragma omp simd
    for (int64_t k = 0; k < seg; ++k) acc[col + k] += g[j + k];
    j += seg;
    col = 0;
  }
}

// ----------------------------------------------------------------------------
// Chunks of the flat element range [begin, end).
//
// With `stream` set the finished tile is converted into a second stack tile
// and written out with streaming stores (see stream.h); the caller sets it for
// outputs larger than the last-level cache.

// Converts the float32 tile and writes it to dst, directly or streamed.
inline void store_tile(const float* z, int64_t len, DType dt, void* dst, bool stream) {
  if (!stream) {
    cvt::store(z, len, dt, dst);
    return;
  }
  alignas(64) char out[kTile * sizeof(float)];
  cvt::store(z, len, dt, out);
  stream::copy(dst, out, len * dtype_size(dt));
}

// ----------------------------------------------------------------------------
// float32 in memory: bias, activation (and backward's bias gradient) fused into
// one pass per bias segment, from the input straight to the output, which may
// alias the input (same index in and out). Half-precision tensors take the
// tile path below, which converts on load and store.

// out[k] = act(x[k] + b[k]) (b may be null) for k < m.
template <Act K>
void fused_forward_segment(const float* x, const float* b, float* out, int64_t m,
                           const ActParams& p) {
  if (K == Act::relu && plain_relu(p)) {
    if (b) {
#pragma omp simd
      for (int64_t k = 0; k < m; ++k) {
        const float v = x[k] + b[k];
        out[k] = v < 0.0f ? 0.0f : v;
      }
    } else {
#pragma omp simd
      for (int64_t k = 0; k < m; ++k) out[k] = x[k] < 0.0f ? 0.0f : x[k];
    }
    return;
  }
  if (b) {
#pragma omp simd
    for (int64_t k = 0; k < m; ++k) out[k] = act::forward<K>(x[k] + b[k], p);
  } else {
#pragma omp simd
    for (int64_t k = 0; k < m; ++k) out[k] = act::forward<K>(x[k], p);
  }
}

// out[k] = dy[k] * act'(x[k] + b[k]); acc[k] += out[k] (b, acc may be null).
template <Act K>
void fused_backward_segment(const float* dy, const float* x, const float* b, float* out,
                            float* __restrict acc, int64_t m, const ActParams& p) {
  if (b && acc) {
#pragma omp simd
    for (int64_t k = 0; k < m; ++k) {
      const float g = dy[k] * act::derivative<K>(x[k] + b[k], p);
      acc[k] += g;
      out[k] = g;
    }
  } else if (b) {
#pragma omp simd
    for (int64_t k = 0; k < m; ++k) out[k] = dy[k] * act::derivative<K>(x[k] + b[k], p);
  } else {
#pragma omp simd
    for (int64_t k = 0; k < m; ++k) out[k] = dy[k] * act::derivative<K>(x[k], p);
  }
}

// Calls fn(offset, bias segment or null, length) over [0, len) split where the
// bias pattern (phase pos, length plen) wraps around.
template <typename Fn>
void for_bias_segments(const float* pattern, int64_t plen, int64_t pos, int64_t len, Fn&& fn) {
  if (!pattern) {
    fn(int64_t{0}, static_cast<const float*>(nullptr), len);
    return;
  }
  int64_t j = 0, col = pos % plen;
  while (j < len) {
    const int64_t seg = std::min(len - j, plen - col);
    fn(j, pattern + col, seg);
    j += seg;
    col = 0;
  }
}

// Runs body(t, len, out) over the tiles [t, t + len) of [begin, end), with out
// the destination dst + t, or with streaming stores a stack tile that is then
// streamed to dst + t.
template <typename Body>
void for_output_tiles(float* dst, int64_t begin, int64_t end, bool stream, Body&& body) {
  alignas(64) float tile[kTile];
  for (int64_t t = begin; t < end; t += kTile) {
    const int64_t len = std::min(kTile, end - t);
    body(t, len, stream ? tile : dst + t);
    if (stream) stream::copy(dst + t, tile, len * 4);
  }
  if (stream) stream::fence();
}

template <Act K>
void forward_chunk_f32(const BiasActForward& a, const float* pattern, int64_t plen,
                       int64_t begin, int64_t end, bool stream) {
  const float* x = static_cast<const float*>(a.x);
  for_output_tiles(static_cast<float*>(a.y), begin, end, stream,
                   [&](int64_t t, int64_t len, float* out) {
    for_bias_segments(pattern, plen, t, len, [&](int64_t j, const float* b, int64_t m) {
      fused_forward_segment<K>(x + t + j, b, out + j, m, a.act);
    });
  });
}

template <Act K>
void backward_chunk_f32(const BiasActBackward& a, const float* pattern, int64_t plen,
                        int64_t begin, int64_t end, float* dbias_acc, bool stream) {
  const float* x = static_cast<const float*>(a.x);
  const float* dy = static_cast<const float*>(a.dy);
  for_output_tiles(static_cast<float*>(a.dx), begin, end, stream,
                   [&](int64_t t, int64_t len, float* out) {
    for_bias_segments(pattern, plen, t, len, [&](int64_t j, const float* b, int64_t m) {
      float* acc = (dbias_acc && b) ? dbias_acc + (b - pattern) : nullptr;
      fused_backward_segment<K>(dy + t + j, x + t + j, b, out + j, acc, m, a.act);
    });
  });
}

// ----------------------------------------------------------------------------
// Tile path for float16 / bfloat16: convert a tile to float32, add the bias,
// apply the activation, convert back.

template <Act K>
void forward_chunk_t(const BiasActForward& a, const float* pattern, int64_t plen, int64_t begin,
                     int64_t end, bool stream) {
  if (a.dtype == DType::f32) return forward_chunk_f32<K>(a, pattern, plen, begin, end, stream);
  alignas(64) float z[kTile];
  const int64_t es = dtype_size(a.dtype);
  for (int64_t t = begin; t < end; t += kTile) {
    const int64_t len = std::min(kTile, end - t);
    cvt::load(static_cast<const char*>(a.x) + t * es, a.dtype, len, z);
    if (pattern) add_bias(z, len, pattern, plen, t);
    act_forward_t<K>(z, len, a.act);
    store_tile(z, len, a.dtype, static_cast<char*>(a.y) + t * es, stream);
  }
  if (stream) stream::fence();
}

template <Act K>
void backward_chunk_t(const BiasActBackward& a, const float* pattern, int64_t plen,
                      int64_t begin, int64_t end, float* dbias_acc, bool stream) {
  if (a.dtype == DType::f32)
    return backward_chunk_f32<K>(a, pattern, plen, begin, end, dbias_acc, stream);
  alignas(64) float z[kTile];
  alignas(64) float g[kTile];
  const int64_t es = dtype_size(a.dtype);
  for (int64_t t = begin; t < end; t += kTile) {
    const int64_t len = std::min(kTile, end - t);
    cvt::load(static_cast<const char*>(a.x) + t * es, a.dtype, len, z);
    cvt::load(static_cast<const char*>(a.dy) + t * es, a.dtype, len, g);
    if (pattern) add_bias(z, len, pattern, plen, t);
    act_backward_t<K>(g, z, len, a.act);
    if (dbias_acc) accumulate_bias_grad(g, len, dbias_acc, plen, t);
    store_tile(g, len, a.dtype, static_cast<char*>(a.dx) + t * es, stream);
  }
  if (stream) stream::fence();
}

inline void forward_chunk(const BiasActForward& a, const float* pattern, int64_t plen,
                          int64_t begin, int64_t end, bool stream) {
  dispatch_act(a.act.kind, [&](auto k) {
    forward_chunk_t<decltype(k)::value>(a, pattern, plen, begin, end, stream);
  });
}

inline void backward_chunk(const BiasActBackward& a, const float* pattern, int64_t plen,
                           int64_t begin, int64_t end, float* dbias_acc, bool stream) {
  dispatch_act(a.act.kind, [&](auto k) {
    backward_chunk_t<decltype(k)::value>(a, pattern, plen, begin, end, dbias_acc, stream);
  });
}

}  // namespace zoo::ZOO_ISA_NS
