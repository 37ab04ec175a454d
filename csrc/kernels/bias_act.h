// Fused bias + activation:  y = act(x + bias),  bias broadcast on the last axis.
//
// Forward reads x once and writes y once. Backward recomputes z = x + bias and
// produces dx = dy * act'(z) and dbias = sum over rows of dx in the same pass.
// float32, float16 and bfloat16 in memory; arithmetic in float32. A tensor of
// any rank is seen as n elements whose last axis has `channels` entries.
#pragma once

#include <cstdint>

#include "activation.h"
#include "common.h"
#include "cpu_features.h"

namespace zoo {

struct BiasActForward {
  const void* x = nullptr;
  const void* bias = nullptr;  // channels values, or nullptr for no bias
  void* y = nullptr;           // may alias x
  int64_t n = 0;               // total elements
  int64_t channels = 1;        // length of the last axis (bias length)
  DType dtype = DType::f32;    // of x, bias and y
  ActParams act;
};

struct BiasActBackward {
  const void* dy = nullptr;
  const void* x = nullptr;
  const void* bias = nullptr;  // nullptr for no bias
  void* dx = nullptr;          // may alias dy
  void* dbias = nullptr;       // channels values (bias dtype), or nullptr to skip
  int64_t n = 0;
  int64_t channels = 1;
  DType dtype = DType::f32;
  ActParams act;
};

// The checks every bias_act implementation (CPU or CUDA) makes on its
// arguments; throws zoo::Error naming the problem.
void check_bias_act_args(const void* x, int64_t n, int64_t channels, DType dtype,
                         const ActParams& act);

// Validate everything, then run. Throw zoo::Error on bad arguments, before any
// memory is touched.
void bias_act_forward(const BiasActForward& args, const Parallel& par);
void bias_act_backward(const BiasActBackward& args, const Parallel& par);

// In-place activation on a float32 buffer, vectorised for the active ISA: the
// epilogue other kernels (fused dense) share.
void act_forward_f32(float* z, int64_t n, const ActParams& act);
// g <- g * act'(z)
void act_backward_f32(float* g, const float* z, int64_t n, const ActParams& act);

}  // namespace zoo
