// XLA FFI handlers ZooDenseFwd / ZooDenseBwd over the fused dense kernels
// (csrc/kernels/dense.h), float32. Leading axes of x are batch (M = their
// product). A bias of shape (0,) means no bias. The forward's second output
// is the pre-activation z for the backward pass when `save_preact` is set
// (else a (0,) buffer, and the backward recomputes z if it needs it).
#include <cstring>

#include "ffi_common.h"
#include "../kernels/dense.h"

namespace zoo::jaxffi {
namespace {

using F32 = ffi::Buffer<ffi::F32>;

// M, K, N from x, kernel and bias, or why they do not fit.
ffi::Error dims(const F32& x, const F32& w, const F32& b, int64_t* m, int64_t* k, int64_t* n) {
  const auto xd = x.dimensions(), wd = w.dimensions(), bd = b.dimensions();
  if (xd.size() < 1) return invalid("x must have at least one axis, got a scalar");
  if (wd.size() != 2) return invalid("kernel must be 2-D (in, units), got shape " + dims_str(wd));
  *k = xd.back();
  *n = wd[1];
  if (wd[0] != *k)
    return invalid("x's last axis is " + std::to_string(*k) + " but kernel expects " +
                   std::to_string(wd[0]) + " inputs (kernel shape " + dims_str(wd) + ")");
  if (b.element_count() != 0 && (bd.size() != 1 || bd[0] != *n))
    return invalid("bias must be (" + std::to_string(*n) + ",), got shape " + dims_str(bd));
  *m = product(xd, 0, xd.size() - 1);
  return ffi::Error::Success();
}

ffi::Error forward(F32 x, F32 w, F32 b, ffi::Result<F32> y, ffi::Result<F32> z,
                   std::string_view activation, float alpha, float max_value, float threshold) {
  ActParams act;
  int64_t m, k, n;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = dims(x, w, b, &m, &k, &n); e.failure()) return e;
  if (static_cast<int64_t>(y->element_count()) != m * n) return invalid("y must be (..., units)");
  const bool save = z->element_count() != 0;
  if (save && z->element_count() != y->element_count())
    return invalid("preact must have y's shape or be empty");
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
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = dims(x, w, b, &m, &k, &n); e.failure()) return e;
  if (static_cast<int64_t>(dy.element_count()) != m * n)
    return invalid("dy has shape " + dims_str(dy.dimensions()) + " but the output has " +
                   std::to_string(m) + " x " + std::to_string(n) + " values");
  const bool have_z = z.element_count() != 0;
  if (have_z && z.element_count() != dy.element_count())
    return invalid("preact must have dy's shape or be empty");
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
using F32 = ffi::Buffer<ffi::F32>;

#pragma GCC visibility push(default)  // the handler symbols are the library's API

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDenseFwd, zoo::jaxffi::forward,
                              ffi::Ffi::Bind()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Ret<F32>()
                                  .Ret<F32>()
                                  .Attr<std::string_view>("activation")
                                  .Attr<float>("alpha")
                                  .Attr<float>("max_value")
                                  .Attr<float>("threshold"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDenseBwd, zoo::jaxffi::backward,
                              ffi::Ffi::Bind()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Ret<F32>()
                                  .Ret<F32>()
                                  .Ret<F32>()
                                  .Attr<std::string_view>("activation")
                                  .Attr<float>("alpha")
                                  .Attr<float>("max_value")
                                  .Attr<float>("threshold"));

#pragma GCC visibility pop
