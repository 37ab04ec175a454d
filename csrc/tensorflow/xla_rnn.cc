// XLA kernels of ZooRnn and ZooRnnGrad: inside TensorFlow's own XLA
// (tf.function(jit_compile=True), Keras' compile(jit_compile=True)) each op
// lowers to one custom call of the whole-sequence kernel (csrc/kernels/rnn.h),
// so a zoo model on TensorFlow compiles with XLA and keeps its recurrent
// layers native. The CPU kernels of the same ops are in rnn_op.cc.
//
// The custom calls use XLA's classic CPU ABI (API_VERSION_STATUS_RETURNING_UNIFIED):
//   void target(void* out, const void** in, const char* opaque, size_t len,
//               XlaCustomCallStatus* status)
// `in` holds the operand buffers, `out` the result tuple's buffers (void**).
// That ABI carries no shapes: the XLA kernel checks the static shapes at
// compile time (the same checks as the CPU kernels, rnn_attrs.h) and packs the
// configuration into `opaque`; the target unpacks it, and rnn_forward /
// rnn_backward validate it again before touching memory.
//
// Targets are registered, when the op library loads, in the
// CustomCallTargetRegistry of TensorFlow's XLA (exported by libtensorflow_cc).
// Errors go back through `status`. TensorFlow's wheel does not export
// XlaCustomCallStatusSetFailure, so set_failure() writes the status as XLA's
// own does (the struct is one std::optional<std::string>); a test raises an
// error through it, so a change of that layout fails loudly, not silently.
//
// The kernels run on zoo's own pool (csrc/python/thread_pool.h): the ABI
// passes no thread pool.
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "tensorflow/compiler/tf2xla/xla_op_kernel.h"
#include "tensorflow/compiler/tf2xla/xla_op_registry.h"
#include "xla/hlo/builder/xla_builder.h"
#include "xla/shape_util.h"
#include "rnn_attrs.h"
#include "../python/thread_pool.h"

// XLA's status struct (xla/service/custom_call_status_internal.h).
struct XlaCustomCallStatus_ {
  std::optional<std::string> message;
};

namespace xla {
// Exported by libtensorflow_cc; the CPU backend's platform is "Host".
class CustomCallTargetRegistry {
 public:
  static CustomCallTargetRegistry* Global();
  void Register(const std::string& symbol, void* address, const std::string& platform);
};
}  // namespace xla

namespace zoo::tf {
namespace {

constexpr char kForward[] = "zoo_rnn_forward";
constexpr char kBackward[] = "zoo_rnn_backward";
constexpr uint32_t kMagic = 0x7a726e32;  // "zrn2": a change of this struct changes it

// What the opaque carries: the configuration and which optional operands are
// present (an absent one is an empty buffer).
struct Packed {
  uint32_t magic = kMagic;
  RnnConfig cfg;
  bool bias = false, h0 = false, c0 = false, mask = false, training = false;
  bool dy = false, dh = false, dc = false;
  bool need_dx = true, need_dstates = true;  // ZooRnnGrad's outputs, else empty
};
static_assert(std::is_trivially_copyable_v<Packed>, "the opaque is a byte copy");

// ----------------------------------------------------------------------------
// The custom-call targets.

const Parallel& pool() {
  // Leaked on purpose, as in the JAX binding: joining threads at exit can deadlock.
  static Parallel* p = new ::zoo::threads::ThreadPool(
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return *p;
}

Packed unpack(const char* opaque, size_t len) {
  Packed p;
  ZOO_CHECK(len == sizeof(Packed), "zoo recurrent custom call: malformed configuration");
  std::memcpy(&p, opaque, sizeof(Packed));
  ZOO_CHECK(p.magic == kMagic, "zoo recurrent custom call: configuration of another build");
  return p;
}

template <typename Fn>
void run_status(XlaCustomCallStatus_* status, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    if (status) status->message = std::string(e.what());
  }
}

template <typename T>
const T* present(const void* p, bool is) {
  return is ? static_cast<const T*>(p) : nullptr;
}

// in: x, kernel, recurrent_kernel, bias, h0, c0, mask; out: y, h, c, reserve.
void forward_target(void* out, const void** in, const char* opaque, size_t len,
                    XlaCustomCallStatus_* status) {
  run_status(status, [&] {
    const Packed p = unpack(opaque, len);
    const bool lstm = p.cfg.cell == RnnCell::lstm;
    void** outs = static_cast<void**>(out);
    RnnForward f;
    f.cfg = p.cfg;
    f.x = static_cast<const float*>(in[0]);
    f.kernel = static_cast<const float*>(in[1]);
    f.recurrent = static_cast<const float*>(in[2]);
    f.bias = present<float>(in[3], p.bias);
    f.h0 = present<float>(in[4], p.h0);
    f.c0 = present<float>(in[5], p.c0 && lstm);
    f.mask = present<uint8_t>(in[6], p.mask);
    f.y = static_cast<float*>(outs[0]);
    f.h_out = static_cast<float*>(outs[1]);
    f.c_out = lstm ? static_cast<float*>(outs[2]) : nullptr;
    f.reserve = p.training ? static_cast<float*>(outs[3]) : nullptr;
    rnn_forward(f, pool());
  });
}

// in: dy, dh, dc, x, kernel, recurrent_kernel, bias, mask, reserve;
// out: dx, dkernel, drecurrent_kernel, dbias, dh0, dc0.
void backward_target(void* out, const void** in, const char* opaque, size_t len,
                     XlaCustomCallStatus_* status) {
  run_status(status, [&] {
    const Packed p = unpack(opaque, len);
    const bool lstm = p.cfg.cell == RnnCell::lstm;
    void** outs = static_cast<void**>(out);
    RnnBackward a;
    a.cfg = p.cfg;
    a.dy = present<float>(in[0], p.dy);
    a.dh_out = present<float>(in[1], p.dh);
    a.dc_out = present<float>(in[2], p.dc && lstm);
    a.x = static_cast<const float*>(in[3]);
    a.kernel = static_cast<const float*>(in[4]);
    a.recurrent = static_cast<const float*>(in[5]);
    a.bias = present<float>(in[6], p.bias);
    a.mask = present<uint8_t>(in[7], p.mask);
    a.reserve = static_cast<const float*>(in[8]);
    a.dx = p.need_dx ? static_cast<float*>(outs[0]) : nullptr;
    a.dkernel = static_cast<float*>(outs[1]);
    a.drecurrent = static_cast<float*>(outs[2]);
    a.dbias = p.bias ? static_cast<float*>(outs[3]) : nullptr;
    a.dh0 = p.need_dstates ? static_cast<float*>(outs[4]) : nullptr;
    a.dc0 = lstm && p.need_dstates ? static_cast<float*>(outs[5]) : nullptr;
    rnn_backward(a, pool());
  });
}

const bool registered = [] {
  auto* registry = xla::CustomCallTargetRegistry::Global();
  registry->Register(kForward, reinterpret_cast<void*>(&forward_target), "Host");
  registry->Register(kBackward, reinterpret_cast<void*>(&backward_target), "Host");
  return true;
}();

// ----------------------------------------------------------------------------
// The XLA kernels: check shapes, then emit the custom call.

using tensorflow::TensorShape;
using tensorflow::XlaOpKernel;
using tensorflow::XlaOpKernelContext;

xla::Shape row_major(xla::PrimitiveType type, const TensorShape& s) {
  const auto d = s.dim_sizes();
  return xla::ShapeUtil::MakeShapeWithDescendingLayout(type, std::vector<int64_t>(d.begin(), d.end()));
}

RnnShapes input_shapes(XlaOpKernelContext* ctx) {
  RnnShapes in;
  for (int i = 0; i < ctx->num_inputs(); ++i) in.push_back(ctx->InputShape(i));
  return in;
}

// Emits the call over the op's inputs (float32, but the bool mask at
// `mask_index`), with results of these shapes, and hands out the tuple's
// elements as the op's outputs.
void emit(XlaOpKernelContext* ctx, const char* target, const Packed& p, const RnnShapes& in,
          int mask_index, const RnnShapes& out) {
  std::vector<xla::XlaOp> operands;
  std::vector<xla::Shape> operand_shapes, results;
  for (int i = 0; i < static_cast<int>(in.size()); ++i) {
    operands.push_back(ctx->Input(i));
    operand_shapes.push_back(row_major(i == mask_index ? xla::PRED : xla::F32, in[i]));
  }
  for (const TensorShape& s : out) results.push_back(row_major(xla::F32, s));
  const std::string opaque(reinterpret_cast<const char*>(&p), sizeof(Packed));
  xla::XlaOp call = xla::CustomCallWithLayout(
      ctx->builder(), target, operands, xla::ShapeUtil::MakeTupleShape(results), operand_shapes,
      opaque, /*has_side_effect=*/false, /*output_operand_aliasing=*/{}, /*literal=*/nullptr,
      xla::CustomCallSchedule::SCHEDULE_NONE,
      xla::CustomCallApiVersion::API_VERSION_STATUS_RETURNING_UNIFIED);
  for (int i = 0; i < static_cast<int>(results.size()); ++i)
    ctx->SetOutput(i, xla::GetTupleElement(call, i));
}

class RnnXlaOp : public XlaOpKernel {
 public:
  explicit RnnXlaOp(tensorflow::OpKernelConstruction* ctx) : XlaOpKernel(ctx), attrs_(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("training", &training_));
  }

  // Inputs x, kernel, recurrent_kernel, bias, h0, c0, mask.
  void Compile(XlaOpKernelContext* ctx) override {
    const RnnShapes in = input_shapes(ctx);
    Packed p;
    OP_REQUIRES_OK(ctx, check_forward(attrs_, in, &p.cfg));
    p.bias = in[3].num_elements() != 0;
    p.h0 = in[4].num_elements() != 0;
    p.c0 = in[5].num_elements() != 0;
    p.mask = in[6].num_elements() != 0;
    p.training = training_;
    emit(ctx, kForward, p, in, /*mask_index=*/6, forward_outputs(p.cfg, training_));
  }

 private:
  RnnAttrs attrs_;
  bool training_ = true;
};

class RnnGradXlaOp : public XlaOpKernel {
 public:
  explicit RnnGradXlaOp(tensorflow::OpKernelConstruction* ctx)
      : XlaOpKernel(ctx), attrs_(ctx), grads_(ctx) {}

  // Inputs dy, dh, dc, x, kernel, recurrent_kernel, bias, mask, reserve.
  void Compile(XlaOpKernelContext* ctx) override {
    const RnnShapes in = input_shapes(ctx);
    Packed p;
    OP_REQUIRES_OK(ctx, check_backward(attrs_, in, &p.cfg));
    p.dy = in[0].num_elements() != 0;
    p.dh = in[1].num_elements() != 0;
    p.dc = in[2].num_elements() != 0;
    p.bias = in[6].num_elements() != 0;
    p.mask = in[7].num_elements() != 0;
    p.training = true;
    p.need_dx = grads_.need_dx;
    p.need_dstates = grads_.need_dstates;
    emit(ctx, kBackward, p, in, /*mask_index=*/7, backward_outputs(in, p.cfg, grads_));
  }

 private:
  RnnAttrs attrs_;
  RnnGradWants grads_;
};

}  // namespace

// Registered as kernels of the XLA CPU compilation device directly, which is
// what XlaOpRegistry::RegisterCompilationKernels() does for TF's own ops: that
// runs once, when TF sets up XLA, before an op library is loaded, so
// REGISTER_XLA_OP here would come too late to be seen.
REGISTER_KERNEL_BUILDER(Name("ZooRnn").Device(tensorflow::DEVICE_CPU_XLA_JIT), RnnXlaOp);
REGISTER_KERNEL_BUILDER(Name("ZooRnnGrad").Device(tensorflow::DEVICE_CPU_XLA_JIT), RnnGradXlaOp);

}  // namespace zoo::tf

// Whether this library has the XLA kernels (zoo/_native.py asks through ctypes).
extern "C" __attribute__((visibility("default"))) int zoo_tf_has_xla_kernels() { return 1; }
