// CUDA kernels for fused bias + activation (see bias_act.h for the contract).
//
//   forward            y  = act(x + bias)                     flat, grid-stride
//   backward           dx = dy * act'(x + bias)               flat, grid-stride
//   backward + dbias   the same, plus dbias = sum over rows of dx
//
// Memory holds float32, float16 or bfloat16; arithmetic is float32 through the
// very functions the CPU core uses (activation.h's act::forward<K> and
// act::derivative<K>), so the two back ends agree to float32 rounding of the
// same formulas. Each (dtype, activation) pair is its own kernel instance, so
// no per-element switch.
//
// Loads and stores are 16-byte packs (4 floats or 8 halves) when every
// streamed pointer is 16-byte aligned; otherwise a one-element variant runs.
// The bias is read per element through the cache: it is tiny and hot.
//
// dbias is reduced in two fixed-order levels so that it is bit-for-bit the same
// from run to run (no atomics): blocks own a (row slab, column tile) cell and
// write one float32 partial per column; a second kernel adds the partials of
// each column in slab order, in double. The slab split depends only on the
// shape, never on the GPU, so two GPUs of different size agree as well.
#include "bias_act.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "../kernels/activation.h"
#include "cuda_check.h"
#include "stream_buffer.h"

namespace zoo::cuda {
namespace {

// ----------------------------------------------------------------------------
// Element types.

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
// Round to nearest even, Inf on overflow: the CPU core's (and TF's) cast.
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// 16 bytes of T, moved with one vector instruction.
template <typename T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

// V elements at p into registers and back: one 16-byte access when V > 1
// (the host checked the alignment), a plain one otherwise.
template <typename T, int V>
__device__ __forceinline__ void load_pack(const T* p, T (&r)[V]) {
  if constexpr (V > 1) {
    static_assert(V == Pack<T>::kSize, "a pack is 16 bytes");
    const Pack<T> pk = *reinterpret_cast<const Pack<T>*>(p);
#pragma unroll
    for (int k = 0; k < V; ++k) r[k] = pk.v[k];
  } else {
    r[0] = p[0];
  }
}

template <typename T, int V>
__device__ __forceinline__ void store_pack(T* p, const T (&r)[V]) {
  if constexpr (V > 1) {
    Pack<T> pk;
#pragma unroll
    for (int k = 0; k < V; ++k) pk.v[k] = r[k];
    *reinterpret_cast<Pack<T>*>(p) = pk;
  } else {
    p[0] = r[0];
  }
}

template <typename Fn>
void dispatch_dtype(DType dt, Fn&& fn) {
  switch (dt) {
    case DType::f32: return fn(float{});
    case DType::f16: return fn(__half{});
    case DType::bf16: return fn(__nv_bfloat16{});
  }
  throw Error("dtype must be float32, float16 or bfloat16");
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Enough resident blocks to fill the GPU; grid-stride loops cover the rest.
int grid_for(int64_t work_items, int block) {
  int dev = 0, sms = 0;
  ZOO_CUDA_CHECK(cudaGetDevice(&dev));
  ZOO_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const int64_t want = (work_items + block - 1) / block;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(want, int64_t{sms} * 8)));
}

constexpr int kBlock = 256;

// ----------------------------------------------------------------------------
// Flat kernels. Element i has column i % channels; a pack of V elements starts
// at a multiple of V, so the column is computed once per pack and stepped.

template <typename T, Act K, int V>
__global__ void __launch_bounds__(kBlock)
forward_kernel(const T* x, const T* __restrict__ bias, T* y, int64_t n, int64_t channels,
               ActParams p) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int64_t packs = n / V;
  for (int64_t q = first; q < packs; q += stride) {
    const int64_t i = q * V;
    T in[V], out[V];
    load_pack<T, V>(x + i, in);
    int64_t c = i % channels;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float z = to_f32(in[k]) + (bias ? to_f32(bias[c]) : 0.0f);
      out[k] = from_f32<T>(act::forward<K>(z, p));
      c = c + 1 == channels ? 0 : c + 1;
    }
    store_pack<T, V>(y + i, out);
  }
  // The last n % V elements, one per thread.
  for (int64_t i = packs * V + first; i < n; i += stride) {
    const float z = to_f32(x[i]) + (bias ? to_f32(bias[i % channels]) : 0.0f);
    y[i] = from_f32<T>(act::forward<K>(z, p));
  }
}

template <typename T, Act K, int V>
__global__ void __launch_bounds__(kBlock)
backward_kernel(const T* dy, const T* x, const T* __restrict__ bias, T* dx, int64_t n,
                int64_t channels, ActParams p) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  const int64_t packs = n / V;
  for (int64_t q = first; q < packs; q += stride) {
    const int64_t i = q * V;
    T xin[V], gin[V], out[V];
    load_pack<T, V>(x + i, xin);
    load_pack<T, V>(dy + i, gin);
    int64_t c = i % channels;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float z = to_f32(xin[k]) + (bias ? to_f32(bias[c]) : 0.0f);
      out[k] = from_f32<T>(to_f32(gin[k]) * act::derivative<K>(z, p));
      c = c + 1 == channels ? 0 : c + 1;
    }
    store_pack<T, V>(dx + i, out);
  }
  for (int64_t i = packs * V + first; i < n; i += stride) {
    const float z = to_f32(x[i]) + (bias ? to_f32(bias[i % channels]) : 0.0f);
    dx[i] = from_f32<T>(to_f32(dy[i]) * act::derivative<K>(z, p));
  }
}

// ----------------------------------------------------------------------------
// Backward with dbias: 2-D over (column tile, row slab). A block is kWarp x
// kRowsPerBlock threads; thread (tx, ty) owns V adjacent columns of the tile
// and walks rows ty, ty + kRowsPerBlock, ... of the slab. The per-thread sums
// are then added over ty in shared memory, in ty order.

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;

struct ReduceShape {
  int64_t rows, col_tiles, slabs, rows_per_slab;
};

// Depends on the shape and pack width only (see the file comment). About 1024
// cells in all, so every current GPU has several blocks per SM, and at least
// 64 rows a slab so a partial is worth its write.
ReduceShape reduce_shape(int64_t n, int64_t channels, int v) {
  ReduceShape s;
  s.rows = n / channels;
  s.col_tiles = (channels + int64_t{kWarp} * v - 1) / (int64_t{kWarp} * v);
  const int64_t by_rows = std::max<int64_t>(1, (s.rows + 63) / 64);
  const int64_t by_cells = std::max<int64_t>(1, 1024 / s.col_tiles);
  s.slabs = std::min(by_rows, by_cells);
  s.rows_per_slab = (s.rows + s.slabs - 1) / s.slabs;
  s.slabs = std::max<int64_t>(1, (s.rows + s.rows_per_slab - 1) / s.rows_per_slab);
  return s;
}

template <typename T, Act K, int V>
__global__ void __launch_bounds__(kWarp * kRowsPerBlock)
backward_dbias_kernel(const T* dy, const T* x, const T* __restrict__ bias, T* dx,
                      float* __restrict__ partial, int64_t rows, int64_t channels,
                      int64_t rows_per_slab, ActParams p) {
  __shared__ float sums[kRowsPerBlock][kWarp * V];
  const int64_t col0 = (int64_t{blockIdx.x} * kWarp + threadIdx.x) * V;
  const int64_t slab = blockIdx.y;
  const int64_t r_end = rows < (slab + 1) * rows_per_slab ? rows : (slab + 1) * rows_per_slab;
  float b[V], acc[V];
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const bool in = col0 + k < channels;
    b[k] = (bias && in) ? to_f32(bias[col0 + k]) : 0.0f;
    acc[k] = 0.0f;
  }
  // With V > 1 the host guarantees channels % V == 0, so a pack is either
  // wholly inside the row or wholly past its end.
  if (col0 < channels) {
    for (int64_t r = slab * rows_per_slab + threadIdx.y; r < r_end; r += kRowsPerBlock) {
      const int64_t i = r * channels + col0;
      T xin[V], gin[V], out[V];
      load_pack<T, V>(x + i, xin);
      load_pack<T, V>(dy + i, gin);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float g = to_f32(gin[k]) * act::derivative<K>(to_f32(xin[k]) + b[k], p);
        out[k] = from_f32<T>(g);
        acc[k] += g;
      }
      store_pack<T, V>(dx + i, out);
    }
  }
#pragma unroll
  for (int k = 0; k < V; ++k) sums[threadIdx.y][threadIdx.x * V + k] = acc[k];
  __syncthreads();
  // The first row of threads adds the column sums in ty order.
  if (threadIdx.y == 0) {
#pragma unroll
    for (int k = 0; k < V; ++k) {
      float s = 0.0f;
      for (int t = 0; t < kRowsPerBlock; ++t) s += sums[t][threadIdx.x * V + k];
      if (col0 + k < channels) partial[slab * channels + col0 + k] = s;
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
dbias_finish_kernel(const float* __restrict__ partial, T* __restrict__ dbias, int64_t slabs,
                    int64_t channels) {
  for (int64_t c = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; c < channels;
       c += int64_t{gridDim.x} * blockDim.x) {
    double s = 0.0;
    for (int64_t t = 0; t < slabs; ++t) s += partial[t * channels + c];
    dbias[c] = from_f32<T>(static_cast<float>(s));
  }
}

// ----------------------------------------------------------------------------
// Host side.


int pack_width(DType dt) { return 16 / static_cast<int>(dtype_size(dt)); }

}  // namespace

void bias_act_forward(const BiasActForward& a, cudaStream_t stream) {
  check_bias_act_args(a.x, a.n, a.channels, a.dtype, a.act);
  ZOO_CHECK(a.n == 0 || a.y != nullptr, "output pointer is null");
  if (a.n == 0) return;
  const bool vec = aligned16(a.x) && aligned16(a.y);
  dispatch_dtype(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* x = static_cast<const T*>(a.x);
    const auto* bias = static_cast<const T*>(a.bias);
    auto* y = static_cast<T*>(a.y);
    dispatch_act(a.act.kind, [&](auto k) {
      constexpr Act K = decltype(k)::value;
      constexpr int V = Pack<T>::kSize;
      if (vec) {
        forward_kernel<T, K, V><<</*grid=*/grid_for(a.n / V + 1, kBlock), /*block=*/kBlock,
                                  /*smem=*/0, stream>>>(x, bias, y, a.n, a.channels, a.act);
      } else {
        forward_kernel<T, K, 1><<</*grid=*/grid_for(a.n, kBlock), /*block=*/kBlock,
                                  /*smem=*/0, stream>>>(x, bias, y, a.n, a.channels, a.act);
      }
      ZOO_CUDA_CHECK_LAUNCH("bias_act forward_kernel");
    });
  });
}

namespace {
int dbias_pack_width(const BiasActBackward& a) {
  const int v = pack_width(a.dtype);
  const bool ok = a.channels % v == 0 && aligned16(a.x) && aligned16(a.dy) && aligned16(a.dx);
  return ok ? v : 1;
}
}  // namespace

size_t bias_act_backward_workspace(const BiasActBackward& a) {
  if (!a.dbias || a.n == 0 || a.channels < 1) return 0;
  const ReduceShape s = reduce_shape(a.n, a.channels, dbias_pack_width(a));
  return static_cast<size_t>(s.slabs * a.channels) * sizeof(float);
}

void bias_act_backward(const BiasActBackward& a, cudaStream_t stream, void* workspace,
                       size_t workspace_bytes) {
  check_bias_act_args(a.x, a.n, a.channels, a.dtype, a.act);
  ZOO_CHECK(a.n == 0 || (a.dy != nullptr && a.dx != nullptr), "gradient pointer is null");
  if (a.n == 0) {
    // The sum over no rows is zero; all-zero bits are +0 in every dtype.
    if (a.dbias)
      ZOO_CUDA_CHECK(cudaMemsetAsync(a.dbias, 0, a.channels * dtype_size(a.dtype), stream));
    return;
  }
  dispatch_dtype(a.dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* dy = static_cast<const T*>(a.dy);
    const auto* x = static_cast<const T*>(a.x);
    const auto* bias = static_cast<const T*>(a.bias);
    auto* dx = static_cast<T*>(a.dx);
    constexpr int V = Pack<T>::kSize;
    if (!a.dbias) {
      const bool vec = aligned16(a.x) && aligned16(a.dy) && aligned16(a.dx);
      dispatch_act(a.act.kind, [&](auto k) {
        constexpr Act K = decltype(k)::value;
        if (vec) {
          backward_kernel<T, K, V><<</*grid=*/grid_for(a.n / V + 1, kBlock), /*block=*/kBlock,
                                     /*smem=*/0, stream>>>(dy, x, bias, dx, a.n, a.channels,
                                                           a.act);
        } else {
          backward_kernel<T, K, 1><<</*grid=*/grid_for(a.n, kBlock), /*block=*/kBlock,
                                     /*smem=*/0, stream>>>(dy, x, bias, dx, a.n, a.channels,
                                                           a.act);
        }
        ZOO_CUDA_CHECK_LAUNCH("bias_act backward_kernel");
      });
      return;
    }
    const int v = dbias_pack_width(a);
    const ReduceShape s = reduce_shape(a.n, a.channels, v);
    const size_t need = static_cast<size_t>(s.slabs * a.channels) * sizeof(float);
    ZOO_CHECK(s.col_tiles <= 0x7fffffff, "last axis too long for the dbias reduction");
    Scratch scratch(need, workspace, workspace_bytes, stream);
    auto* partial = static_cast<float*>(scratch.get());
    const dim3 grid(static_cast<unsigned>(s.col_tiles), static_cast<unsigned>(s.slabs));
    const dim3 block(kWarp, kRowsPerBlock);
    dispatch_act(a.act.kind, [&](auto k) {
      constexpr Act K = decltype(k)::value;
      if (v > 1) {
        backward_dbias_kernel<T, K, V><<<grid, block, /*smem=*/0, stream>>>(
            dy, x, bias, dx, partial, s.rows, a.channels, s.rows_per_slab, a.act);
      } else {
        backward_dbias_kernel<T, K, 1><<<grid, block, /*smem=*/0, stream>>>(
            dy, x, bias, dx, partial, s.rows, a.channels, s.rows_per_slab, a.act);
      }
      ZOO_CUDA_CHECK_LAUNCH("bias_act backward_dbias_kernel");
    });
    dbias_finish_kernel<T><<</*grid=*/grid_for(a.channels, kBlock), /*block=*/kBlock,
                             /*smem=*/0, stream>>>(partial, static_cast<T*>(a.dbias), s.slabs,
                                                   a.channels);
    ZOO_CUDA_CHECK_LAUNCH("bias_act dbias_finish_kernel");
  });
}

}  // namespace zoo::cuda
