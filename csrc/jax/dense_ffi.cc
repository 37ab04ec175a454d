// XLA FFI handlers ZooDenseFwd / ZooDenseBwd over the fused dense kernels
// (csrc/kernels/dense.h), CPU, float32. Leading axes of x are batch (M = their
// product). A bias of shape (0,) means no bias. The forward's second output
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
  int64_t m, k, n;
  bool save;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = dense_dims(x, w, b, &m, &k, &n); e.failure()) return e;
  if (auto e = dense_forward_outputs(*y, *z, m, n, &save); e.failure()) return e;
  DenseForward a;
  a.x = x.typed_data();
  a.w = w.typed_data();
  a.bias = b.element_count() ? b.typed_data() : nullptr;
  a.y = y->typed_data();
  a.preact = save ? z->typed_data() : nullptr;
  a.m = m;
  a.k = k;
  a.n = n;
  a.act = act;
  return run_checked([&] { dense_forward(a, pool()); });
}

ffi::Error backward(F32 dy, F32 x, F32 w, F32 b, F32 z, ffi::Result<F32> dx,
                    ffi::Result<F32> dw, ffi::Result<F32> db, std::string_view activation,
                    float alpha, float max_value, float threshold) {
  ActParams act;
  int64_t m, k, n;
  bool have_z;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = dense_dims(x, w, b, &m, &k, &n); e.failure()) return e;
  if (auto e = dense_backward_inputs(dy, z, m, n, &have_z); e.failure()) return e;
  const bool use_bias = b.element_count() != 0;
  DenseBackward a;
  a.dy = dy.typed_data();
  a.x = x.typed_data();
  a.w = w.typed_data();
  a.bias = use_bias ? b.typed_data() : nullptr;
  a.preact = have_z ? z.typed_data() : nullptr;
  a.dx = dx->typed_data();
  a.dw = dw->typed_data();
  a.db = use_bias ? db->typed_data() : nullptr;
  a.m = m;
  a.k = k;
  a.n = n;
  a.act = act;
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
