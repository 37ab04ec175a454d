// TensorFlow ops ZooBiasAct and ZooBiasActGrad over the kernel core. The
// gradient is registered in Python (zoo/ops/bias_act.py). CPU only: these ops
// are not XLA-compilable, so layers using them set supports_jit = False.
#include <cmath>
#include <cstring>

#include "act_attrs.h"
#include "tf_op.h"
#include "../kernels/bias_act.h"

namespace zoo::tf {

// `bias` is always an input; with use_bias=false it is ignored (pass shape [0]).
// alpha NaN: the activation's Keras default; max_value 0 or inf: no cap (act_attrs.h).
#define ZOO_ACT_ATTRS                                                              \
  Attr("T: {float, half, bfloat16}")                                              \
      .Attr("activation: string")                                                  \
      .Attr("alpha: float = nan")                                                  \
      .Attr("max_value: float = 0.0")                                              \
      .Attr("threshold: float = 0.0")                                              \
      .Attr("use_bias: bool = true")

absl::Status bias_shape_check(si::InferenceContext* c, int x_idx, int b_idx) {
  bool use_bias = true;
  TF_RETURN_IF_ERROR(c->GetAttr("use_bias", &use_bias));
  if (!use_bias) return absl::OkStatus();
  si::ShapeHandle x = c->input(x_idx), b;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(b_idx), 1, &b));
  if (c->RankKnown(x)) {
    TF_RETURN_IF_ERROR(c->WithRankAtLeast(x, 1, &x));
    si::DimensionHandle merged;
    TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, -1), c->Dim(b, 0), &merged));
  }
  return absl::OkStatus();
}

REGISTER_OP("ZooBiasAct")
    .Input("x: T")
    .Input("bias: T")
    .Output("y: T")
    .ZOO_ACT_ATTRS
    .SetShapeFn([](si::InferenceContext* c) {
      TF_RETURN_IF_ERROR(bias_shape_check(c, 0, 1));
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    });

REGISTER_OP("ZooBiasActGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("bias: T")
    .Output("dx: T")
    .Output("dbias: T")
    .ZOO_ACT_ATTRS
    .SetShapeFn([](si::InferenceContext* c) {
      TF_RETURN_IF_ERROR(bias_shape_check(c, 1, 2));
      si::ShapeHandle dy;
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), c->input(1), &dy));
      c->set_output(0, dy);
      c->set_output(1, c->input(2));
      return absl::OkStatus();
    });

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<Eigen::half>() { return DType::f16; }
template <> constexpr DType dtype_of<Eigen::bfloat16>() { return DType::bf16; }

// Attributes shared by both kernels.
struct ActAttrs {
  ActParams act;
  bool use_bias = true;

  explicit ActAttrs(OpKernelConstruction* ctx) { read_act_attrs(ctx, &act, &use_bias); }

  // Channels (last-axis length) for x and bias, or why they do not fit.
  absl::Status channels(const Tensor& x, const Tensor& bias, int64_t* c) const {
    *c = 1;
    if (!use_bias) return absl::OkStatus();
    if (bias.dims() != 1)
      return InvalidArgument("bias must be 1-D, got shape ", bias.shape().DebugString());
    if (x.dims() < 1) return InvalidArgument("x must have at least one axis when a bias is used");
    const int64_t last = x.dim_size(x.dims() - 1);
    if (bias.dim_size(0) != last)
      return InvalidArgument("bias has ", bias.dim_size(0), " values but x's last axis is ", last);
    *c = last > 0 ? last : 1;
    return absl::OkStatus();
  }
};

template <typename T>
class BiasActOp : public OpKernel {
 public:
  explicit BiasActOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& bias = ctx->input(1);
    int64_t channels;
    OP_REQUIRES_OK(ctx, attrs_.channels(x, bias, &channels));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
    BiasActForward a;
    a.x = x.data();
    a.bias = attrs_.use_bias && x.NumElements() ? bias.data() : nullptr;
    a.y = y->data();
    a.n = x.NumElements();
    a.channels = channels;
    a.dtype = dtype_of<T>();
    a.act = attrs_.act;
    run_checked(ctx, [&] { bias_act_forward(a, TfParallel(ctx)); });
  }

 private:
  ActAttrs attrs_;
};

template <typename T>
class BiasActGradOp : public OpKernel {
 public:
  explicit BiasActGradOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& bias = ctx->input(2);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                InvalidArgument("dy has shape ", dy.shape().DebugString(), " but x has ",
                                x.shape().DebugString()));
    int64_t channels;
    OP_REQUIRES_OK(ctx, attrs_.channels(x, bias, &channels));
    Tensor* dx = nullptr;
    Tensor* dbias = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, bias.shape(), &dbias));
    const bool reduce = attrs_.use_bias && bias.NumElements() > 0;
    // Without a bias the dbias output is still returned: zeros, never
    // uninitialised memory.
    if (!reduce && dbias->NumElements() > 0) std::memset(dbias->data(), 0, dbias->TotalBytes());
    BiasActBackward a;
    a.dy = dy.data();
    a.x = x.data();
    a.bias = reduce ? bias.data() : nullptr;
    a.dx = dx->data();
    a.dbias = reduce ? dbias->data() : nullptr;
    a.n = x.NumElements();
    a.channels = channels;
    a.dtype = dtype_of<T>();
    a.act = attrs_.act;
    run_checked(ctx, [&] { bias_act_backward(a, TfParallel(ctx)); });
  }

 private:
  ActAttrs attrs_;
};

#define ZOO_REGISTER(T)                                                                   \
  REGISTER_KERNEL_BUILDER(Name("ZooBiasAct").Device(DEVICE_CPU).TypeConstraint<T>("T"),     \
                          BiasActOp<T>);                                                  \
  REGISTER_KERNEL_BUILDER(Name("ZooBiasActGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"), \
                          BiasActGradOp<T>);
ZOO_REGISTER(float)
ZOO_REGISTER(Eigen::half)
ZOO_REGISTER(Eigen::bfloat16)
#undef ZOO_REGISTER

}  // namespace zoo::tf
