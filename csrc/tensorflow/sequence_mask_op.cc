// TensorFlow op ZooSequenceMask over the kernel core (sequence_mask.h): Keras'
// Masking layer in one op. Outputs y (x with the masked rows zeroed) and mask
// (x's shape without its last axis). The gradient is registered in Python
// (zoo/ops/sequence_mask.py). CPU only; under XLA the layer takes the keras.ops
// reference, which XLA fuses.
#include "tf_op.h"
#include "../kernels/sequence_mask.h"

namespace zoo::tf {

REGISTER_OP("ZooSequenceMask")
    .Input("x: float")
    .Output("y: float")
    .Output("mask: bool")
    .Attr("mask_value: float = 0.0")
    .SetShapeFn([](si::InferenceContext* c) {
      si::ShapeHandle x, rows;
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(0), 1, &x));
      c->set_output(0, x);
      TF_RETURN_IF_ERROR(c->Subshape(x, 0, -1, &rows));
      c->set_output(1, rows);
      return absl::OkStatus();
    });

namespace {

class SequenceMaskOp : public OpKernel {
 public:
  explicit SequenceMaskOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("mask_value", &value_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, x.dims() >= 1,
                InvalidArgument("masking needs x with a feature axis (rank >= 1), got shape ",
                                x.shape().DebugString()));
    TensorShape rows_shape = x.shape();
    rows_shape.RemoveLastDims(1);
    Tensor *y = nullptr, *mask = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, rows_shape, &mask));
    SequenceMask a;
    a.rows = rows_shape.num_elements();
    a.features = x.dim_size(x.dims() - 1);
    a.value = value_;
    a.x = x.flat<float>().data();
    a.y = y->flat<float>().data();
    a.mask = reinterpret_cast<uint8_t*>(mask->flat<bool>().data());
    run_checked(ctx, [&] { sequence_mask(a, TfParallel(ctx)); });
  }

 private:
  float value_ = 0.0f;
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("ZooSequenceMask").Device(DEVICE_CPU), SequenceMaskOp);

}  // namespace zoo::tf
