// The attributes and shape checks of ZooRnn / ZooRnnGrad, shared by their CPU
// kernels (rnn_op.cc) and their XLA kernels (xla_rnn.cc): both read the same
// attributes and check the same shapes with the same messages, from tensors'
// shapes at run time or from XLA's static shapes at compile time.
#pragma once

#include <string>
#include <vector>

#include "tensorflow/core/framework/op_kernel.h"
#include "../kernels/rnn.h"

namespace zoo::tf {

inline std::string shape_str(const tensorflow::TensorShape& s) { return s.DebugString(); }

#define ZOO_RNN_ATTRS                                  \
  Attr("cell: {'lstm', 'gru'}")                        \
      .Attr("reset_after: bool = true")                \
      .Attr("activation: string = 'tanh'")             \
      .Attr("recurrent_activation: string = 'sigmoid'") \
      .Attr("go_backwards: bool = false")              \
      .Attr("zero_output_for_mask: bool = false")      \
      .Attr("return_sequences: bool = false")

// ZooRnnGrad's: whether the input and the initial states need gradients (the
// layer's input is often the data, and Keras' initial states are zeros): the
// backward then skips the per-step dx GEMM, and those outputs are empty.
#define ZOO_RNN_GRAD_ATTRS                 \
  Attr("need_dx: bool = true")             \
      .Attr("need_dstates: bool = true")

struct RnnGradWants {
  bool need_dx = true, need_dstates = true;

  explicit RnnGradWants(tensorflow::OpKernelConstruction* ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("need_dx", &need_dx));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("need_dstates", &need_dstates));
  }
};

struct RnnAttrs {
  RnnConfig cfg;

  explicit RnnAttrs(tensorflow::OpKernelConstruction* ctx) {
    std::string cell, act, rec;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("cell", &cell));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("reset_after", &cfg.reset_after));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("activation", &act));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("recurrent_activation", &rec));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("go_backwards", &cfg.go_backwards));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("zero_output_for_mask", &cfg.zero_output_for_mask));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("return_sequences", &cfg.return_sequences));
    cfg.cell = cell == "lstm" ? RnnCell::lstm : RnnCell::gru;
    try {
      cfg.act.kind = act_from_name(act);
      cfg.rec_act.kind = act_from_name(rec);
      ZOO_CHECK(rnn_supports(cfg.act.kind, cfg.rec_act.kind),
                "recurrent kernels support activations linear, relu, sigmoid, tanh, "
                "hard_sigmoid; got " + act + " and " + rec);
    } catch (const Error& e) {
      ctx->CtxFailure(__FILE__, __LINE__, tensorflow::errors::InvalidArgument(e.what()));
    }
  }

  bool lstm() const { return cfg.cell == RnnCell::lstm; }

  // Fills cfg's sizes from the shapes of x, the kernels, the bias and the
  // mask, checking every one (an empty bias or mask means "absent").
  absl::Status dims(const tensorflow::TensorShape& x, const tensorflow::TensorShape& w,
                    const tensorflow::TensorShape& u, const tensorflow::TensorShape& b,
                    const tensorflow::TensorShape& mask, RnnConfig* out) const {
    using tensorflow::errors::InvalidArgument;
    *out = cfg;
    if (x.dims() != 3)
      return InvalidArgument("x must be 3-D (batch, time, features), got shape ", shape_str(x));
    if (u.dims() != 2)
      return InvalidArgument("recurrent_kernel must be 2-D (units, gates*units), got shape ",
                             shape_str(u));
    const int64_t units = u.dim_size(0), g = lstm() ? 4 : 3;
    out->batch = x.dim_size(0);
    out->time = x.dim_size(1);
    out->input = x.dim_size(2);
    out->units = units;
    if (out->time < 1) return InvalidArgument("x has no time steps (shape ", shape_str(x), ")");
    if (units < 1 || u.dim_size(1) != g * units)
      return InvalidArgument("recurrent_kernel must be (units, ", g, " * units), got shape ",
                             shape_str(u));
    if (w.dims() != 2 || w.dim_size(0) != out->input || w.dim_size(1) != g * units)
      return InvalidArgument("kernel must be (", out->input, ", ", g * units,
                             ") for x's last axis of ", out->input, " and ", units,
                             " units, got shape ", shape_str(w));
    if (b.num_elements() != 0) {
      const bool two_rows = !lstm() && cfg.reset_after;
      tensorflow::TensorShape want =
          two_rows ? tensorflow::TensorShape({2, g * units}) : tensorflow::TensorShape({g * units});
      if (b != want)
        return InvalidArgument("bias must have shape ", want.DebugString(), ", got ", shape_str(b));
    }
    if (mask.num_elements() != 0 &&
        (mask.dims() != 2 || mask.dim_size(0) != out->batch || mask.dim_size(1) != out->time))
      return InvalidArgument("mask must be (batch, time) = (", out->batch, ", ", out->time,
                             "), got shape ", shape_str(mask));
    return absl::OkStatus();
  }
};

// A state (or state gradient) must be (batch, units), or empty where allowed.
inline absl::Status check_state(const char* what, const tensorflow::TensorShape& s,
                                const RnnConfig& c, bool allow_empty) {
  if (allow_empty && s.num_elements() == 0) return absl::OkStatus();
  if (s.dims() != 2 || s.dim_size(0) != c.batch || s.dim_size(1) != c.units)
    return tensorflow::errors::InvalidArgument(what, " must be (batch, units) = (", c.batch, ", ",
                                               c.units, "), got shape ", shape_str(s));
  return absl::OkStatus();
}

// The output's shape: (batch, time, units) with return_sequences, else (batch, units).
inline tensorflow::TensorShape rnn_output_shape(const RnnConfig& c) {
  return c.return_sequences ? tensorflow::TensorShape({c.batch, c.time, c.units})
                            : tensorflow::TensorShape({c.batch, c.units});
}

// ZooRnnGrad's incoming gradients and reserve: dy like the output or empty, dh
// (and dc for LSTM) like a state or empty, the reserve exactly as the forward
// in training wrote it.
inline absl::Status check_grad_inputs(const tensorflow::TensorShape& dy,
                                      const tensorflow::TensorShape& dh,
                                      const tensorflow::TensorShape& dc,
                                      const tensorflow::TensorShape& reserve, const RnnConfig& c) {
  using tensorflow::errors::InvalidArgument;
  if (dy != rnn_output_shape(c) && dy.num_elements() != 0)
    return InvalidArgument("dy has shape ", shape_str(dy), " but the output has ",
                           rnn_output_shape(c).DebugString());
  TF_RETURN_IF_ERROR(check_state("dh", dh, c, true));
  if (c.cell == RnnCell::lstm) TF_RETURN_IF_ERROR(check_state("dc", dc, c, true));
  if (reserve.dims() != 1 || reserve.dim_size(0) != rnn_reserve_floats(c))
    return InvalidArgument("reserve has ", reserve.num_elements(), " values but ",
                           rnn_reserve_floats(c),
                           " are needed: take gradients of a ZooRnn run with training=True");
  return absl::OkStatus();
}

// ----------------------------------------------------------------------------
// Each op's input checks and output shapes, in one place for its CPU kernel
// (tensors' shapes, rnn_op.cc) and its XLA kernel (static shapes, xla_rnn.cc),
// so that the two cannot drift apart. Shapes come in the op's input order.
using RnnShapes = std::vector<tensorflow::TensorShape>;

// ZooRnn: x, kernel, recurrent_kernel, bias, h0, c0, mask.
inline absl::Status check_forward(const RnnAttrs& at, const RnnShapes& in, RnnConfig* cfg) {
  TF_RETURN_IF_ERROR(at.dims(in[0], in[1], in[2], in[3], in[6], cfg));
  TF_RETURN_IF_ERROR(check_state("initial h", in[4], *cfg, true));
  if (at.lstm()) TF_RETURN_IF_ERROR(check_state("initial c", in[5], *cfg, true));
  return absl::OkStatus();
}

// ZooRnn's outputs: y, h, c (empty for GRU), reserve (empty unless training).
inline RnnShapes forward_outputs(const RnnConfig& c, bool training) {
  const tensorflow::TensorShape state({c.batch, c.units}), none({0});
  return {rnn_output_shape(c), state, c.cell == RnnCell::lstm ? state : none,
          tensorflow::TensorShape({training ? rnn_reserve_floats(c) : 0})};
}

// ZooRnnGrad: dy, dh, dc, x, kernel, recurrent_kernel, bias, mask, reserve.
inline absl::Status check_backward(const RnnAttrs& at, const RnnShapes& in, RnnConfig* cfg) {
  TF_RETURN_IF_ERROR(at.dims(in[3], in[4], in[5], in[6], in[7], cfg));
  return check_grad_inputs(in[0], in[1], in[2], in[8], *cfg);
}

// ZooRnnGrad's outputs: dx, dkernel, drecurrent_kernel, dbias, dh0, dc0, the
// ones not wanted (and dc0 for GRU) empty.
inline RnnShapes backward_outputs(const RnnShapes& in, const RnnConfig& c,
                                  const RnnGradWants& want) {
  const tensorflow::TensorShape none({0});
  const tensorflow::TensorShape dstate =
      want.need_dstates ? tensorflow::TensorShape({c.batch, c.units}) : none;
  return {want.need_dx ? in[3] : none, in[4], in[5], in[6], dstate,
          c.cell == RnnCell::lstm ? dstate : none};
}

}  // namespace zoo::tf
