// XLA FFI handlers ZooBiasActFwd / ZooBiasActBwd over the fused bias +
// activation kernels (csrc/kernels/bias_act.h), CPU: float32, float16,
// bfloat16. A bias of shape (0,) means no bias. Gradients are wired in Python
// (zoo/ops/_jax.py, jax.custom_vjp). The CUDA twins are in cuda_ffi.cc.
#include <cstring>

#include "op_args.h"

namespace zoo::jaxffi {
namespace {

ffi::Error forward(ffi::AnyBuffer x, ffi::AnyBuffer bias, ffi::Result<ffi::AnyBuffer> y,
                   std::string_view activation, float alpha, float max_value, float threshold) {
  ActParams act;
  BiasActForward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_bias_act_forward(x, bias, &*y, act, &a); e.failure()) return e;
  return run_checked([&] { bias_act_forward(a, pool()); });
}

ffi::Error backward(ffi::AnyBuffer dy, ffi::AnyBuffer x, ffi::AnyBuffer bias,
                    ffi::Result<ffi::AnyBuffer> dx, ffi::Result<ffi::AnyBuffer> dbias,
                    std::string_view activation, float alpha, float max_value, float threshold) {
  ActParams act;
  BiasActBackward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_bias_act_backward(dy, x, bias, &*dx, &*dbias, act, &a); e.failure()) return e;
  // The sum over no rows is zero (the core writes nothing when n == 0).
  if (a.n == 0 && a.dbias) std::memset(dbias->untyped_data(), 0, dbias->size_bytes());
  return run_checked([&] { bias_act_backward(a, pool()); });
}

}  // namespace
}  // namespace zoo::jaxffi

namespace ffi = xla::ffi;

#pragma GCC visibility push(default)  // the handler symbols are the library's API

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooBiasActFwd, zoo::jaxffi::forward,
                              ffi::Ffi::Bind() ZOO_BIAS_ACT_FWD_OPERANDS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooBiasActBwd, zoo::jaxffi::backward,
                              ffi::Ffi::Bind() ZOO_BIAS_ACT_BWD_OPERANDS);

#pragma GCC visibility pop
