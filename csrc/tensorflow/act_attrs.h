// The activation attributes every zoo op carries (activation, alpha,
// max_value, threshold, use_bias), read once at kernel construction.
#pragma once

#include <cmath>
#include <string>

#include "tensorflow/core/framework/op_kernel.h"
#include "../kernels/activation.h"

namespace zoo::tf {

// Fills act and use_bias, or fails the construction context with a message
// naming the bad attribute. max_value <= 0 means no cap.
inline void read_act_attrs(tensorflow::OpKernelConstruction* ctx, ActParams* act, bool* use_bias) {
  std::string name;
  float max_value = 0.0f;
  OP_REQUIRES_OK(ctx, ctx->GetAttr("activation", &name));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &act->alpha));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("max_value", &max_value));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("threshold", &act->threshold));
  OP_REQUIRES_OK(ctx, ctx->GetAttr("use_bias", use_bias));
  act->max_value = max_value > 0.0f ? max_value : INFINITY;
  try {
    act->kind = act_from_name(name);
    check_act_params(*act);
  } catch (const Error& e) {
    ctx->CtxFailure(__FILE__, __LINE__, tensorflow::errors::InvalidArgument(e.what()));
  }
}

}  // namespace zoo::tf
