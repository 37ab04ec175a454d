// XLA FFI handlers ZooDenseFwd / ZooDenseBwd over the fused dense kernels
// (csrc/kernels/dense.h), CPU, float32. Leading axes of x are batch (M = their
// product). A bias of shape (0,) means no bias; an empty gradient output is
// not computed (zoo/ops/_jax.py asks for dx in a call of its own). The forward's second output
// is the pre-activation z for the backward pass when `save_preact` is set
// (else a (0,) buffer, and the backward recomputes z if it needs it). The
// CUDA twins are in cuda_ffi.cc.
#include "op_args.h"
#include "../kernels/dense.h"

namespace zoo::jaxffi {
namespace {

using F32 = ffi::Buffer<ffi::F32>;

ffi::Error forward(F32 x, F32 w, F32 b, ffi::Result<F32> y, ffi::Result<F32> z,
                   std::string_view activation, float alpha, float max_value, float threshold) {
  ActParams act;
  DenseForward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_dense_forward(x, w, b, &*y, &*z, act, &a); e.failure()) return e;
  return run_checked([&] { dense_forward(a, pool()); });
}

ffi::Error backward(F32 dy, F32 x, F32 w, F32 b, F32 z, ffi::Result<F32> dx,
                    ffi::Result<F32> dw, ffi::Result<F32> db, std::string_view activation,
                    float alpha, float max_value, float threshold) {
  ActParams act;
  DenseBackward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_dense_backward(dy, x, w, b, z, &*dx, &*dw, &*db, act, &a); e.failure())
    return e;
  a.bias = b.element_count() ? b.typed_data() : nullptr;  // read when z is recomputed
  return run_checked([&] { dense_backward(a, pool()); });
}

}  // namespace
}  // namespace zoo::jaxffi

namespace ffi = xla::ffi;

#pragma GCC visibility push(default)  // the handler symbols are the library's API

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDenseFwd, zoo::jaxffi::forward,
                              ffi::Ffi::Bind() ZOO_DENSE_FWD_OPERANDS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDenseBwd, zoo::jaxffi::backward,
                              ffi::Ffi::Bind() ZOO_DENSE_BWD_OPERANDS);

#pragma GCC visibility pop
