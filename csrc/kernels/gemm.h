// Packed, cache-blocked float32 GEMM with a fused bias + activation epilogue:
//
//     C = act(op(A) @ op(B) [+ C] + bias)  op(X) = X or X^T
//
// A is M x K, B is K x N, C is M x N, all row-major with leading dimensions.
// Transposed operands are handled by the packing routines, so the same core
// serves dense forward (x @ W), dx = dz @ W^T and dW = x^T @ dz.
//
// Structure (the BLIS loop nest, written for this project):
//   jc: NC columns of C   -> pack a KC x NC slab of B into NR-wide panels
//   pc: KC of the K axis  -> (A and B slabs stay in L2/L3 while reused)
//   ic: MC rows of C      -> pack an MC x KC block of A into MR-tall panels
//   jr, ir: one MR x NR register tile per microkernel call
// The bias starts the register tile's accumulators; the epilogue (optional
// pre-activation copy, activation) runs on each register tile right after its
// last K slab, while the tile is still in L1.
//
// Variants: one macro-kernel source (gemm_impl.h) compiled per ISA with its own
// register tile: AVX-512 8 x 32, AVX2 6 x 16, scalar 4 x 8 (plain C++, the
// compiler's baseline vectorisation only). The ISA is chosen at run time like
// bias_act (cpu_features.h). The K axis is never split across threads, so each
// element of C is summed in one fixed order: results do not depend on the
// thread count.
#pragma once

#include <cstdint>

#include "activation.h"
#include "common.h"
#include "cpu_features.h"

namespace zoo {

struct Gemm {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;   // A(i, p) = trans_a ? a[p * lda + i] : a[i * lda + p]
  int64_t lda = 0;
  bool trans_a = false;
  const float* b = nullptr;   // B(p, j) = trans_b ? b[j * ldb + p] : b[p * ldb + j]
  int64_t ldb = 0;
  bool trans_b = false;
  float* c = nullptr;         // C(i, j) = c[i * ldc + j]; must not overlap A or B
  int64_t ldc = 0;
  // C = A @ B + C (before the epilogue) instead of C = A @ B: the recurrent
  // layers add each step's h @ U onto the input projection already in C.
  bool accumulate = false;
  // Epilogue. bias: n values or nullptr. preact: if set, receives
  // z = A @ B + bias before the activation (preact[i * ldp + j]).
  const float* bias = nullptr;
  float* preact = nullptr;
  int64_t ldp = 0;
  ActParams act;
};

// Validate sizes, strides and pointers (throwing zoo::Error before any memory
// is touched), then compute on `par`.
void gemm(const Gemm& g, const Parallel& par);

// ----------------------------------------------------------------------------
// Per-ISA table (gemm_<isa>.cc), used by gemm.cc.

struct GemmKernels {
  int mr, nr;  // register tile
  // Computes the C block rows [i0, i1) x columns [j0, j1), the whole K axis.
  void (*block)(const Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1);
};

namespace scalar { extern const GemmKernels gemm_kernels; }
namespace avx2 { extern const GemmKernels gemm_kernels; }
namespace avx512 { extern const GemmKernels gemm_kernels; }

const GemmKernels& gemm_kernels_for(Isa isa);

// Row blocks up to this many rows read a row-major B in place instead of
// packing it (gemm_impl.h explains why); the task split (gemm.cc) counts on it.
constexpr int64_t kGemmDirectRows = 128;
// ... and a row-major A with K up to this is read in place instead of packed,
constexpr int64_t kGemmDirectDepth = 256;
// ... as is one of at most this many rows, at any K, with a register tile
// of this many rows (gemm_impl.h). The recurrent kernels cut the batch into
// chunks at least this tall (rnn.cc).
constexpr int64_t kGemmSmallRows = 4;

}  // namespace zoo
