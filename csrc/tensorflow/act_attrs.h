// The activation attributes every zoo op carries (activation, alpha,
// max_value, threshold, use_bias), read once at kernel construction.
#pragma once

#include <cmath>
#include <string>

#include "tensorflow/core/framework/op_kernel.h"
#include "../kernels/activation.h"

namespace zoo::tf {

// Fills act and use_bias, or fails the construction context with a message
// naming the bad attribute. The attribute defaults mean what Keras means:
//   alpha      NaN (the default): the activation's Keras default
//              (default_alpha: elu 1.0, relu's negative_slope 0.0);
//   max_value  0 (the default) or +inf: no cap; NaN or negative: an error;
//   threshold  0 (the default).
// Values the kernels cannot take (a NaN slope, an infinite alpha, ...) are
// refused here, when the op is built, not when it runs.
inline void read_act_attrs(tensorflow::OpKernelConstruction* ctx, ActParams* act, bool* use_bias) {
  std::string name;
  float alpha = 0.0f, max_value = 0.0f;
  OP_REQUIRES_OK(ctx, ctx->GetAttr("activation", &name));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &alpha));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("max_value", &max_value));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("threshold", &act->threshold));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("use_bias", use_bias));
  try {
    act->kind = act_from_name(name);
    act->alpha = alpha == alpha ? alpha : default_alpha(act->kind);
    act->max_value = max_value == 0.0f ? INFINITY : max_value;
    check_act_params(*act);
  } catch (const Error& e) {
    ctx->CtxFailure(__FILE__, __LINE__, tensorflow::errors::InvalidArgument(e.what()));
  }
}

}  // namespace zoo::tf
