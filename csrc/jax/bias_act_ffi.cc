// XLA FFI handlers ZooBiasActFwd / ZooBiasActBwd over the fused bias +
// activation kernels (csrc/kernels/bias_act.h): float32, float16, bfloat16.
// A bias of shape (0,) means no bias. Gradients are wired in Python
// (zoo/ops/_jax.py, jax.custom_vjp).
#include <cstring>

#include "ffi_common.h"
#include "../kernels/bias_act.h"

namespace zoo::jaxffi {
namespace {

ffi::Error dtype_of(ffi::DataType t, DType* out) {
  switch (t) {
    case ffi::DataType::F32: *out = DType::f32; return ffi::Error::Success();
    case ffi::DataType::F16: *out = DType::f16; return ffi::Error::Success();
    case ffi::DataType::BF16: *out = DType::bf16; return ffi::Error::Success();
    default: return invalid("bias_act takes float32, float16 or bfloat16");
  }
}

// Channels (the bias length) for x and bias, or why they do not fit.
ffi::Error channels(const ffi::AnyBuffer& x, const ffi::AnyBuffer& bias, int64_t* c) {
  *c = 1;
  if (bias.element_count() == 0) return ffi::Error::Success();
  if (bias.element_type() != x.element_type()) return invalid("bias dtype differs from x dtype");
  const auto xd = x.dimensions(), bd = bias.dimensions();
  if (bd.size() != 1) return invalid("bias must be 1-D, got shape " + dims_str(bd));
  if (xd.size() < 1) return invalid("x must have at least one axis when a bias is used");
  if (bd[0] != xd.back())
    return invalid("bias has " + std::to_string(bd[0]) + " values but x's last axis is " +
                   std::to_string(xd.back()));
  *c = bd[0];
  return ffi::Error::Success();
}

ffi::Error forward(ffi::AnyBuffer x, ffi::AnyBuffer bias, ffi::Result<ffi::AnyBuffer> y,
                   std::string_view activation, float alpha, float max_value, float threshold) {
  ActParams act;
  int64_t c;
  DType dt;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = channels(x, bias, &c); e.failure()) return e;
  if (auto e = dtype_of(x.element_type(), &dt); e.failure()) return e;
  if (y->element_count() != x.element_count() || y->element_type() != x.element_type())
    return invalid("y must have x's shape and dtype");
  BiasActForward a;
  a.x = x.untyped_data();
  a.bias = bias.element_count() && x.element_count() ? bias.untyped_data() : nullptr;
  a.y = y->untyped_data();
  a.n = static_cast<int64_t>(x.element_count());
  a.channels = c;
  a.dtype = dt;
  a.act = act;
  return run_checked([&] { bias_act_forward(a, pool()); });
}

ffi::Error backward(ffi::AnyBuffer dy, ffi::AnyBuffer x, ffi::AnyBuffer bias,
                    ffi::Result<ffi::AnyBuffer> dx, ffi::Result<ffi::AnyBuffer> dbias,
                    std::string_view activation, float alpha, float max_value, float threshold) {
  ActParams act;
  int64_t c;
  DType dt;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = channels(x, bias, &c); e.failure()) return e;
  if (auto e = dtype_of(x.element_type(), &dt); e.failure()) return e;
  if (dy.element_count() != x.element_count() || dy.element_type() != x.element_type())
    return invalid("dy has shape " + dims_str(dy.dimensions()) + " but x has " +
                   dims_str(x.dimensions()));
  if (dbias->element_count() != bias.element_count())
    return invalid("dbias must have bias's shape");
  const bool reduce = bias.element_count() > 0;
  BiasActBackward a;
  a.dy = dy.untyped_data();
  a.x = x.untyped_data();
  a.bias = reduce ? bias.untyped_data() : nullptr;
  a.dx = dx->untyped_data();
  a.dbias = reduce ? dbias->untyped_data() : nullptr;
  a.n = static_cast<int64_t>(x.element_count());
  a.channels = c;
  a.dtype = dt;
  a.act = act;
  if (a.n == 0 && reduce) std::memset(dbias->untyped_data(), 0, dbias->size_bytes());
  return run_checked([&] { bias_act_backward(a, pool()); });
}

}  // namespace
}  // namespace zoo::jaxffi

namespace ffi = xla::ffi;

#pragma GCC visibility push(default)  // the handler symbols are the library's API

#define ZOO_ACT_FFI_ATTRS                         \
  .Attr<std::string_view>("activation")           \
      .Attr<float>("alpha")                       \
      .Attr<float>("max_value")                   \
      .Attr<float>("threshold")

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooBiasActFwd, zoo::jaxffi::forward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() ZOO_ACT_FFI_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooBiasActBwd, zoo::jaxffi::backward,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>() ZOO_ACT_FFI_ATTRS);

#pragma GCC visibility pop
