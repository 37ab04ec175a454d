// Fused dense layer on the GEMM core (gemm.h), float32:
//
//   forward   z = x @ W + b,  y = act(z)                       x: M x K, W: K x N
//   backward  dz = dy * act'(z)      (db = sum over rows of dz, in the same pass)
//             dx = dz @ W^T          (GEMM with B transposed by its packing)
//             dW = x^T @ dz          (GEMM with A transposed by its packing)
//
// Forward applies bias and activation to each output tile while it is in L1
// and can also write z for the backward pass. Backward needs z for non-linear
// activations: pass the forward's `preact`, or nullptr to have it recomputed
// (one more GEMM). For linear activations dz is dy itself, with no pass.
// Leading axes of x are flattened by the caller (M = product of them).
#pragma once

#include <cstdint>

#include "activation.h"
#include "common.h"

namespace zoo {

struct DenseForward {
  const float* x = nullptr;     // M x K
  const float* w = nullptr;     // K x N
  const float* bias = nullptr;  // N, or nullptr
  float* y = nullptr;           // M x N
  float* preact = nullptr;      // M x N (z), or nullptr to skip
  int64_t m = 0, k = 0, n = 0;
  ActParams act;
};

struct DenseBackward {
  const float* dy = nullptr;      // M x N
  const float* x = nullptr;       // M x K
  const float* w = nullptr;       // K x N
  const float* bias = nullptr;    // N or nullptr; read only when z is recomputed
  const float* preact = nullptr;  // z (M x N); nullptr: recomputed if act is non-linear
  float* dx = nullptr;            // M x K, or nullptr to skip
  float* dw = nullptr;            // K x N, or nullptr to skip
  float* db = nullptr;            // N, or nullptr to skip
  int64_t m = 0, k = 0, n = 0;
  ActParams act;
};

// Validate everything (zoo::Error before any memory is touched), then run.
// Outputs must not overlap inputs. Deterministic for any thread count.
void dense_forward(const DenseForward& args, const Parallel& par);
void dense_backward(const DenseBackward& args, const Parallel& par);

}  // namespace zoo
