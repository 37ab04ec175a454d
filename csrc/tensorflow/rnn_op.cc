// TensorFlow ops ZooRnn and ZooRnnGrad over the whole-sequence LSTM/GRU
// kernels (csrc/kernels/rnn.h), float32, CPU. The gradient is registered in
// Python (zoo/ops/rnn.py). Their XLA kernels, for jit_compile=True, are in
// xla_rnn.cc; both share the checks and output shapes of rnn_attrs.h.
//
// Absent inputs are empty [0] tensors: bias (use_bias=False), c0 (GRU), mask.
// ZooRnn's `reserve` output (training=True) holds what ZooRnnGrad reads back;
// with training=False it is empty and no gradient can be taken.
#include <string>

#include "rnn_attrs.h"
#include "tf_op.h"

namespace zoo::tf {

REGISTER_OP("ZooRnn")
    .Input("x: float")
    .Input("kernel: float")
    .Input("recurrent_kernel: float")
    .Input("bias: float")
    .Input("h0: float")
    .Input("c0: float")
    .Input("mask: bool")
    .Output("y: float")
    .Output("h: float")
    .Output("c: float")
    .Output("reserve: float")
    .ZOO_RNN_ATTRS
    .Attr("training: bool = true")
    .SetShapeFn([](si::InferenceContext* c) {
      bool rs = false;
      std::string cell;
      TF_RETURN_IF_ERROR(c->GetAttr("return_sequences", &rs));
      TF_RETURN_IF_ERROR(c->GetAttr("cell", &cell));
      si::ShapeHandle x, u;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &x));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(2), 2, &u));
      si::DimensionHandle b = c->Dim(x, 0), t = c->Dim(x, 1), h = c->Dim(u, 0);
      c->set_output(0, rs ? c->MakeShape({b, t, h}) : c->MakeShape({b, h}));
      c->set_output(1, c->MakeShape({b, h}));
      c->set_output(2, cell == "lstm" ? c->MakeShape({b, h}) : c->Vector(0));
      c->set_output(3, c->Vector(c->UnknownDim()));
      return absl::OkStatus();
    });

REGISTER_OP("ZooRnnGrad")
    .Input("dy: float")
    .Input("dh: float")
    .Input("dc: float")
    .Input("x: float")
    .Input("kernel: float")
    .Input("recurrent_kernel: float")
    .Input("bias: float")
    .Input("mask: bool")
    .Input("reserve: float")
    .Output("dx: float")
    .Output("dkernel: float")
    .Output("drecurrent_kernel: float")
    .Output("dbias: float")
    .Output("dh0: float")
    .Output("dc0: float")
    .ZOO_RNN_ATTRS
    .ZOO_RNN_GRAD_ATTRS
    .SetShapeFn([](si::InferenceContext* c) {
      std::string cell;
      bool need_dx = true, need_dstates = true;
      TF_RETURN_IF_ERROR(c->GetAttr("cell", &cell));
      TF_RETURN_IF_ERROR(c->GetAttr("need_dx", &need_dx));
      TF_RETURN_IF_ERROR(c->GetAttr("need_dstates", &need_dstates));
      si::ShapeHandle x, u;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(3), 3, &x));
      TF_RETURN_IF_ERROR(c->WithRank(c->input(5), 2, &u));
      si::DimensionHandle b = c->Dim(x, 0), h = c->Dim(u, 0);
      c->set_output(0, need_dx ? c->input(3) : c->Vector(0));
      c->set_output(1, c->input(4));
      c->set_output(2, c->input(5));
      c->set_output(3, c->input(6));
      c->set_output(4, need_dstates ? c->MakeShape({b, h}) : c->Vector(0));
      c->set_output(5, cell == "lstm" && need_dstates ? c->MakeShape({b, h}) : c->Vector(0));
      return absl::OkStatus();
    });

namespace {

const float* opt(const Tensor& t) { return t.NumElements() ? t.flat<float>().data() : nullptr; }

const uint8_t* opt_mask(const Tensor& t) {
  return t.NumElements() ? reinterpret_cast<const uint8_t*>(t.flat<bool>().data()) : nullptr;
}

RnnShapes input_shapes(OpKernelContext* ctx) {
  RnnShapes in;
  for (int i = 0; i < ctx->num_inputs(); ++i) in.push_back(ctx->input(i).shape());
  return in;
}

// Allocates the op's outputs with these shapes.
absl::Status allocate(OpKernelContext* ctx, const RnnShapes& shapes, Tensor** out) {
  for (int i = 0; i < static_cast<int>(shapes.size()); ++i)
    TF_RETURN_IF_ERROR(ctx->allocate_output(i, shapes[i], &out[i]));
  return absl::OkStatus();
}

class RnnOp : public OpKernel {
 public:
  explicit RnnOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("training", &training_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor &x = ctx->input(0), &w = ctx->input(1), &u = ctx->input(2), &b = ctx->input(3);
    const Tensor &h0 = ctx->input(4), &c0 = ctx->input(5), &mask = ctx->input(6);
    RnnConfig cfg;
    OP_REQUIRES_OK(ctx, check_forward(attrs_, input_shapes(ctx), &cfg));
    Tensor* out[4] = {};
    OP_REQUIRES_OK(ctx, allocate(ctx, forward_outputs(cfg, training_), out));
    Tensor *y = out[0], *h = out[1], *c = out[2], *reserve = out[3];
    RnnForward f;
    f.cfg = cfg;
    f.x = x.flat<float>().data();
    f.kernel = w.flat<float>().data();
    f.recurrent = u.flat<float>().data();
    f.bias = opt(b);
    f.h0 = opt(h0);
    f.c0 = attrs_.lstm() ? opt(c0) : nullptr;
    f.mask = opt_mask(mask);
    f.y = y->flat<float>().data();
    f.h_out = h->flat<float>().data();
    f.c_out = attrs_.lstm() ? c->flat<float>().data() : nullptr;
    f.reserve = training_ ? reserve->flat<float>().data() : nullptr;
    run_checked(ctx, [&] { rnn_forward(f, TfParallel(ctx)); });
  }

 private:
  RnnAttrs attrs_;
  bool training_ = true;
};

class RnnGradOp : public OpKernel {
 public:
  explicit RnnGradOp(OpKernelConstruction* ctx) : OpKernel(ctx), attrs_(ctx), grads_(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor &dy = ctx->input(0), &dh = ctx->input(1), &dc = ctx->input(2);
    const Tensor &x = ctx->input(3), &w = ctx->input(4), &u = ctx->input(5), &b = ctx->input(6);
    const Tensor &mask = ctx->input(7), &reserve = ctx->input(8);
    RnnConfig cfg;
    const RnnShapes in = input_shapes(ctx);
    OP_REQUIRES_OK(ctx, check_backward(attrs_, in, &cfg));
    Tensor* out[6] = {};
    OP_REQUIRES_OK(ctx, allocate(ctx, backward_outputs(in, cfg, grads_), out));
    Tensor *dx = out[0], *dw = out[1], *du = out[2], *db = out[3], *dh0 = out[4], *dc0 = out[5];
    RnnBackward a;
    a.cfg = cfg;
    a.dy = opt(dy);
    a.dh_out = opt(dh);
    a.dc_out = attrs_.lstm() ? opt(dc) : nullptr;
    a.x = x.flat<float>().data();
    a.kernel = w.flat<float>().data();
    a.recurrent = u.flat<float>().data();
    a.bias = opt(b);
    a.mask = opt_mask(mask);
    a.reserve = reserve.flat<float>().data();
    a.dx = grads_.need_dx ? dx->flat<float>().data() : nullptr;
    a.dkernel = dw->flat<float>().data();
    a.drecurrent = du->flat<float>().data();
    a.dbias = b.NumElements() ? db->flat<float>().data() : nullptr;
    a.dh0 = grads_.need_dstates ? dh0->flat<float>().data() : nullptr;
    a.dc0 = attrs_.lstm() && grads_.need_dstates ? dc0->flat<float>().data() : nullptr;
    run_checked(ctx, [&] { rnn_backward(a, TfParallel(ctx)); });
  }

 private:
  RnnAttrs attrs_;
  RnnGradWants grads_;
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("ZooRnn").Device(DEVICE_CPU), RnnOp);
REGISTER_KERNEL_BUILDER(Name("ZooRnnGrad").Device(DEVICE_CPU), RnnGradOp);

}  // namespace zoo::tf
