// TensorFlow ops ZooDense and ZooDenseGrad over the fused dense kernels
// (csrc/kernels/dense.h), float32, CPU. The gradient is registered in Python
// (zoo/ops/dense.py). Not XLA-compilable: layers using it set supports_jit = False.
//
// ZooDense also returns the pre-activation z = x @ W + b when `save_preact` is
// set and the activation is not linear (else an empty [0] tensor); ZooDenseGrad
// takes it back, or recomputes it when given an empty tensor.
#include <cmath>
#include <cstring>
#include <string>

#include "tensorflow/core/util/overflow.h"
#include "act_attrs.h"
#include "tf_op.h"
#include "../kernels/dense.h"

namespace zoo::tf {

namespace {

// Output shape x.shape[:-1] + [units], checking x against kernel and bias.
absl::Status dense_out_shape(si::InferenceContext* c, si::ShapeHandle x, si::ShapeHandle w,
                             si::ShapeHandle b, bool use_bias, si::ShapeHandle* out) {
  TF_RETURN_IF_ERROR(c->WithRank(w, 2, &w));
  si::DimensionHandle units = c->Dim(w, 1);
  if (use_bias) {
    TF_RETURN_IF_ERROR(c->WithRank(b, 1, &b));
    TF_RETURN_IF_ERROR(c->Merge(units, c->Dim(b, 0), &units));
  }
  if (!c->RankKnown(x)) {
    *out = c->UnknownShape();
    return absl::OkStatus();
  }
  TF_RETURN_IF_ERROR(c->WithRankAtLeast(x, 1, &x));
  si::DimensionHandle in;
  TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, -1), c->Dim(w, 0), &in));
  si::ShapeHandle lead;
  TF_RETURN_IF_ERROR(c->Subshape(x, 0, -1, &lead));
  return c->Concatenate(lead, c->Vector(units), out);
}

}  // namespace

REGISTER_OP("ZooDense")
    .Input("x: float")
    .Input("kernel: float")
    .Input("bias: float")
    .Output("y: float")
    .Output("preact: float")
    .Attr("activation: string")
    .Attr("alpha: float = nan")      // NaN: the activation's Keras default (act_attrs.h)
    .Attr("max_value: float = 0.0")  // 0 or inf: no cap
    .Attr("threshold: float = 0.0")
    .Attr("use_bias: bool = true")
    .Attr("save_preact: bool = true")
    .SetShapeFn([](si::InferenceContext* c) {
      bool use_bias = true, save = true;
      std::string act;
      TF_RETURN_IF_ERROR(c->GetAttr("use_bias", &use_bias));
      TF_RETURN_IF_ERROR(c->GetAttr("save_preact", &save));
      TF_RETURN_IF_ERROR(c->GetAttr("activation", &act));
      si::ShapeHandle out;
      TF_RETURN_IF_ERROR(dense_out_shape(c, c->input(0), c->input(1), c->input(2), use_bias, &out));
      c->set_output(0, out);
      c->set_output(1, save && act != "linear" ? out : c->Vector(0));
      return absl::OkStatus();
    });

REGISTER_OP("ZooDenseGrad")
    .Input("dy: float")
    .Input("x: float")
    .Input("kernel: float")
    .Input("bias: float")
    .Input("preact: float")  // z from ZooDense, or shape [0] to recompute it
    .Output("dx: float")
    .Output("dkernel: float")
    .Output("dbias: float")
    .Attr("activation: string")
    .Attr("alpha: float = nan")
    .Attr("max_value: float = 0.0")
    .Attr("threshold: float = 0.0")
    .Attr("use_bias: bool = true")
    .SetShapeFn([](si::InferenceContext* c) {
      bool use_bias = true;
      TF_RETURN_IF_ERROR(c->GetAttr("use_bias", &use_bias));
      si::ShapeHandle out, dy;
      TF_RETURN_IF_ERROR(dense_out_shape(c, c->input(1), c->input(2), c->input(3), use_bias, &out));
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), out, &dy));
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      c->set_output(2, c->input(3));
      return absl::OkStatus();
    });

namespace {

struct DenseAttrs {
  ActParams act;
  bool use_bias = true;

  explicit DenseAttrs(OpKernelConstruction* ctx) { read_act_attrs(ctx, &act, &use_bias); }

  // M, K, N and the output shape from x, kernel and bias, or why they do not fit.
  absl::Status dims(const Tensor& x, const Tensor& w, const Tensor& b, int64_t* m, int64_t* k,
                    int64_t* n, TensorShape* out) const {
    if (x.dims() < 1) return InvalidArgument("x must have at least one axis, got a scalar");
    if (w.dims() != 2)
      return InvalidArgument("kernel must be 2-D (in, units), got shape ", w.shape().DebugString());
    *k = x.dim_size(x.dims() - 1);
    *n = w.dim_size(1);
    if (w.dim_size(0) != *k)
      return InvalidArgument("x's last axis is ", *k, " but kernel expects ", w.dim_size(0),
                             " inputs (kernel shape ", w.shape().DebugString(), ")");
    if (use_bias) {
      if (b.dims() != 1) return InvalidArgument("bias must be 1-D, got shape ", b.shape().DebugString());
      if (b.dim_size(0) != *n)
        return InvalidArgument("bias has ", b.dim_size(0), " values but kernel has ", *n, " units");
    }
    // x.shape[:-1] + [n], built with overflow checks: an empty x may have
    // leading axes whose product exceeds int64 (shape [2^40, 2^40, 0]), which
    // set_dim would turn into a CHECK failure, i.e. a crash.
    *out = TensorShape();
    *m = 1;  // product of the leading axes (x.NumElements() / k fails for k == 0)
    for (int i = 0; i + 1 < x.dims(); ++i) {
      TF_RETURN_IF_ERROR(out->AddDimWithStatus(x.dim_size(i)));
      *m = tensorflow::MultiplyWithoutOverflow(*m, x.dim_size(i));
      if (*m < 0)
        return InvalidArgument("x has shape ", x.shape().DebugString(),
                               ": its leading axes hold more than 2^63 rows");
    }
    TF_RETURN_IF_ERROR(out->AddDimWithStatus(*n));
    return absl::OkStatus();
  }
};

class DenseOp : public OpKernel {
 public:
  explicit DenseOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("save_preact", &save_));
    save_ = save_ && attrs_.act.kind != Act::linear;
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& w = ctx->input(1);
    const Tensor& b = ctx->input(2);
    int64_t m, k, n;
    TensorShape out;
    OP_REQUIRES_OK(ctx, attrs_.dims(x, w, b, &m, &k, &n, &out));
    Tensor *y = nullptr, *z = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out, &y));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, save_ ? out : TensorShape({0}), &z));
    DenseForward a;
    a.x = x.flat<float>().data();
    a.w = w.flat<float>().data();
    a.bias = attrs_.use_bias ? b.flat<float>().data() : nullptr;
    a.y = y->flat<float>().data();
    a.preact = save_ ? z->flat<float>().data() : nullptr;
    a.m = m;
    a.k = k;
    a.n = n;
    a.act = attrs_.act;
    run_checked(ctx, [&] { dense_forward(a, TfParallel(ctx)); });
  }

 private:
  DenseAttrs attrs_;
  bool save_ = true;
};

class DenseGradOp : public OpKernel {
 public:
  explicit DenseGradOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& w = ctx->input(2);
    const Tensor& b = ctx->input(3);
    const Tensor& z = ctx->input(4);
    int64_t m, k, n;
    TensorShape out;
    OP_REQUIRES_OK(ctx, attrs_.dims(x, w, b, &m, &k, &n, &out));
    OP_REQUIRES(ctx, dy.shape() == out,
                InvalidArgument("dy has shape ", dy.shape().DebugString(), " but the output has ",
                                out.DebugString()));
    const bool have_z = z.shape() == out && z.NumElements() > 0;
    OP_REQUIRES(ctx, have_z || z.NumElements() == 0,
                InvalidArgument("preact has shape ", z.shape().DebugString(), " but the output has ",
                                out.DebugString()));
    Tensor *dx = nullptr, *dw = nullptr, *db = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, w.shape(), &dw));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, b.shape(), &db));
    // Without a bias the dbias output is still returned: zeros, never
    // uninitialised memory.
    if (!attrs_.use_bias && db->NumElements() > 0) std::memset(db->data(), 0, db->TotalBytes());
    DenseBackward a;
    a.dy = dy.flat<float>().data();
    a.x = x.flat<float>().data();
    a.w = w.flat<float>().data();
    a.bias = attrs_.use_bias ? b.flat<float>().data() : nullptr;
    a.preact = have_z ? z.flat<float>().data() : nullptr;
    a.dx = dx->flat<float>().data();
    a.dw = dw->flat<float>().data();
    a.db = attrs_.use_bias ? db->flat<float>().data() : nullptr;
    a.m = m;
    a.k = k;
    a.n = n;
    a.act = attrs_.act;
    run_checked(ctx, [&] { dense_backward(a, TfParallel(ctx)); });
  }

 private:
  DenseAttrs attrs_;
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("ZooDense").Device(DEVICE_CPU), DenseOp);
REGISTER_KERNEL_BUILDER(Name("ZooDenseGrad").Device(DEVICE_CPU), DenseGradOp);

}  // namespace zoo::tf
