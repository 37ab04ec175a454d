// Fused dense layer on CUDA:  y = act(x @ w + bias).
//
//   x [m, k], w [k, n], bias [n], y [m, n], all row-major (Keras Dense layout),
//   float32 / float16 / bfloat16 in memory, float32 accumulation (no TF32).
//
// Forward is one cuBLASLt matmul whose epilogue adds the bias and, for relu
// (Keras defaults) and gelu_tanh, applies the activation too; gelu_tanh can
// also write the pre-activation z = x @ w + bias for the backward pass in the
// same call (GELU_AUX_BIAS). Every other case, exact gelu included (cuBLASLt's
// GELU is the tanh form), runs the matmul with the bias epilogue and then our
// bias_act kernel. A fused epilogue that cuBLASLt declines for a given shape,
// dtype or alignment falls back to that same path, so results never depend on
// what the library supports.
//
// Backward, given dy and the saved z:
//   dz = dy * act'(z);  dx = dz @ w^T;  dw = x^T @ dz;  db = sum over rows of dz.
// For a nonlinear act our kernel forms dz and db in one pass (db reduced in a
// fixed order). For linear, dz is dy and db comes from the weight-gradient
// matmul's BGRADA epilogue (dz is that matmul's A operand in cuBLASLt's
// column-major view). Optionally the dx matmul also applies the derivative of
// the activation that produced x (the previous layer), giving the gradient at
// that layer's pre-activation and its bias gradient: DGELU_BGRAD for
// gelu_tanh, our kernel for the rest.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "../kernels/activation.h"
#include "../kernels/common.h"

namespace zoo::cuda {

struct DenseForward {
  const void* x = nullptr;     // [m, k]
  const void* w = nullptr;     // [k, n]
  const void* bias = nullptr;  // [n], or nullptr
  void* y = nullptr;           // [m, n]
  void* preact = nullptr;     // [m, n]: z saved for the backward pass, or nullptr
  int64_t m = 0, k = 0, n = 0;
  DType dtype = DType::f32;    // of every tensor
  ActParams act;
  void* workspace = nullptr;   // cuBLASLt workspace; nullptr: taken from the stream pool
  size_t workspace_bytes = 0;
};

struct DenseBackward {
  const void* dy = nullptr;       // [m, n]
  const void* x = nullptr;        // [m, k]   needed for dw
  const void* w = nullptr;        // [k, n]   needed for dx
  const void* preact = nullptr;  // [m, n]   z from the forward pass; unused for linear
  void* dx = nullptr;             // [m, k], or nullptr to skip
  void* dw = nullptr;             // [k, n], or nullptr to skip
  void* db = nullptr;             // [n],    or nullptr to skip
  // Fusion with the activation that produced x: when x_act is not linear, dx
  // receives dx * x_act'(x_preact) and x_db (if given) its sum over rows.
  const void* x_preact = nullptr;  // [m, k]
  ActParams x_act;
  void* x_db = nullptr;             // [k]
  int64_t m = 0, k = 0, n = 0;
  DType dtype = DType::f32;
  ActParams act;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// cuBLASLt workspace the calls ask for (32 MiB, enough for Hopper's kernels).
constexpr size_t kDenseWorkspaceBytes = size_t{32} << 20;

// Both return how the work was done, for tests and benchmarks: the cuBLASLt
// epilogue names of the matmuls, "+bias_act" where our kernel ran, e.g.
// "GELU_AUX_BIAS" or "BIAS+bias_act" (forward), "bias_act|DEFAULT|DEFAULT"
// (backward: dz | dx matmul | dw matmul).
std::string dense_forward(const DenseForward& args, cudaStream_t stream);
std::string dense_backward(const DenseBackward& args, cudaStream_t stream);

}  // namespace zoo::cuda
