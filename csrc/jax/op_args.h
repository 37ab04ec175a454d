// Reading the bias_act and dense handlers' buffers and attributes into the
// kernel core's argument structs: one set of checks for the CPU handlers
// (bias_act_ffi.cc, dense_ffi.cc) and the CUDA handlers (cuda_ffi.cc), so both
// platforms reject the same bad input with the same message before any memory
// is touched.
#pragma once

#include <string>

#include "ffi_common.h"
#include "../kernels/bias_act.h"

namespace zoo::jaxffi {

// ---- bias + activation ------------------------------------------------------

inline ffi::Error bias_act_dtype(ffi::DataType t, DType* out) {
  switch (t) {
    case ffi::DataType::F32: *out = DType::f32; return ffi::Error::Success();
    case ffi::DataType::F16: *out = DType::f16; return ffi::Error::Success();
    case ffi::DataType::BF16: *out = DType::bf16; return ffi::Error::Success();
    default: return invalid("bias_act takes float32, float16 or bfloat16");
  }
}

// Channels (the bias length) for x and bias, or why they do not fit. A bias
// of shape (0,) means no bias (one channel).
inline ffi::Error bias_channels(const ffi::AnyBuffer& x, const ffi::AnyBuffer& bias, int64_t* c) {
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

inline ffi::Error read_bias_act_forward(const ffi::AnyBuffer& x, const ffi::AnyBuffer& bias,
                                        ffi::AnyBuffer* y, const ActParams& act,
                                        BiasActForward* a) {
  int64_t c;
  DType dt;
  if (auto e = bias_channels(x, bias, &c); e.failure()) return e;
  if (auto e = bias_act_dtype(x.element_type(), &dt); e.failure()) return e;
  if (y->element_count() != x.element_count() || y->element_type() != x.element_type())
    return invalid("y must have x's shape and dtype");
  a->x = x.untyped_data();
  a->bias = bias.element_count() && x.element_count() ? bias.untyped_data() : nullptr;
  a->y = y->untyped_data();
  a->n = static_cast<int64_t>(x.element_count());
  a->channels = c;
  a->dtype = dt;
  a->act = act;
  return ffi::Error::Success();
}

inline ffi::Error read_bias_act_backward(const ffi::AnyBuffer& dy, const ffi::AnyBuffer& x,
                                         const ffi::AnyBuffer& bias, ffi::AnyBuffer* dx,
                                         ffi::AnyBuffer* dbias, const ActParams& act,
                                         BiasActBackward* a) {
  int64_t c;
  DType dt;
  if (auto e = bias_channels(x, bias, &c); e.failure()) return e;
  if (auto e = bias_act_dtype(x.element_type(), &dt); e.failure()) return e;
  if (dy.element_count() != x.element_count() || dy.element_type() != x.element_type())
    return invalid("dy has shape " + dims_str(dy.dimensions()) + " but x has " +
                   dims_str(x.dimensions()));
  if (dx->element_count() != x.element_count() || dx->element_type() != x.element_type())
    return invalid("dx must have x's shape and dtype");
  if (dbias->element_count() != bias.element_count())
    return invalid("dbias must have bias's shape");
  const bool reduce = bias.element_count() > 0;
  a->dy = dy.untyped_data();
  a->x = x.untyped_data();
  a->bias = reduce ? bias.untyped_data() : nullptr;
  a->dx = dx->untyped_data();
  a->dbias = reduce ? dbias->untyped_data() : nullptr;
  a->n = static_cast<int64_t>(x.element_count());
  a->channels = c;
  a->dtype = dt;
  a->act = act;
  return ffi::Error::Success();
}

// ---- fused dense ------------------------------------------------------------

// M, K, N from x, kernel and bias, or why they do not fit. Leading axes of x
// are batch (M = their product); a bias of shape (0,) means no bias.
template <typename Buf>
ffi::Error dense_dims(const Buf& x, const Buf& w, const Buf& b, int64_t* m, int64_t* k,
                      int64_t* n) {
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

// The forward's outputs: y (M x N) and the optional pre-activation z (y's
// size, or empty). Sets *save when z is to be written.
template <typename Buf>
ffi::Error dense_forward_outputs(const Buf& y, const Buf& z, int64_t m, int64_t n, bool* save) {
  if (static_cast<int64_t>(y.element_count()) != m * n) return invalid("y must be (..., units)");
  *save = z.element_count() != 0;
  if (*save && z.element_count() != y.element_count())
    return invalid("preact must have y's shape or be empty");
  return ffi::Error::Success();
}

// The backward's inputs dy and z (dy's size, or empty). Sets *have_z.
template <typename Buf>
ffi::Error dense_backward_inputs(const Buf& dy, const Buf& z, int64_t m, int64_t n,
                                 bool* have_z) {
  if (static_cast<int64_t>(dy.element_count()) != m * n)
    return invalid("dy has shape " + dims_str(dy.dimensions()) + " but the output has " +
                   std::to_string(m) + " x " + std::to_string(n) + " values");
  *have_z = z.element_count() != 0;
  if (*have_z && z.element_count() != dy.element_count())
    return invalid("preact must have dy's shape or be empty");
  return ffi::Error::Success();
}

// The dense forward's operands read into a core argument struct: the CPU
// core's DenseForward or the CUDA one's (same field names, float* or void*).
template <typename Args>
ffi::Error read_dense_forward(const ffi::Buffer<ffi::F32>& x, const ffi::Buffer<ffi::F32>& w,
                              const ffi::Buffer<ffi::F32>& b, ffi::Buffer<ffi::F32>* y,
                              ffi::Buffer<ffi::F32>* z, const ActParams& act, Args* a) {
  int64_t m, k, n;
  bool save;
  if (auto e = dense_dims(x, w, b, &m, &k, &n); e.failure()) return e;
  if (auto e = dense_forward_outputs(*y, *z, m, n, &save); e.failure()) return e;
  a->x = x.typed_data();
  a->w = w.typed_data();
  a->bias = b.element_count() ? b.typed_data() : nullptr;
  a->y = y->typed_data();
  a->preact = save ? z->typed_data() : nullptr;
  a->m = m;
  a->k = k;
  a->n = n;
  a->act = act;
  return ffi::Error::Success();
}

// A gradient output of a backward handler (dense, recurrent): its full size
// (`count` values), written, or empty, skipped (nullptr). The JAX binding asks
// for the dense input gradient in a call of its own, which XLA drops when
// nothing reads dx.
template <typename Buf, typename Ptr>
ffi::Error optional_output(Buf* out, int64_t count, const char* what, Ptr* ptr) {
  const auto have = static_cast<int64_t>(out->element_count());
  if (have != 0 && have != count)
    return invalid(std::string(what) + " must have " + std::to_string(count) +
                   " values or none (skipped), got shape " + dims_str(out->dimensions()));
  *ptr = have != 0 ? out->typed_data() : nullptr;
  return ffi::Error::Success();
}

// Likewise for the backward; z may be empty (the CPU core then recomputes it),
// and each gradient output is written or, when empty, skipped.
template <typename Args>
ffi::Error read_dense_backward(const ffi::Buffer<ffi::F32>& dy, const ffi::Buffer<ffi::F32>& x,
                               const ffi::Buffer<ffi::F32>& w, const ffi::Buffer<ffi::F32>& b,
                               const ffi::Buffer<ffi::F32>& z, ffi::Buffer<ffi::F32>* dx,
                               ffi::Buffer<ffi::F32>* dw, ffi::Buffer<ffi::F32>* db,
                               const ActParams& act, Args* a) {
  int64_t m, k, n;
  bool have_z;
  if (auto e = dense_dims(x, w, b, &m, &k, &n); e.failure()) return e;
  if (auto e = dense_backward_inputs(dy, z, m, n, &have_z); e.failure()) return e;
  a->dy = dy.typed_data();
  a->x = x.typed_data();
  a->w = w.typed_data();
  if (auto e = optional_output(dx, m * k, "dx", &a->dx); e.failure()) return e;
  if (auto e = optional_output(dw, k * n, "dkernel", &a->dw); e.failure()) return e;
  if (auto e = optional_output(db, b.element_count() ? n : 0, "dbias", &a->db); e.failure())
    return e;
  a->preact = have_z ? z.typed_data() : nullptr;
  a->m = m;
  a->k = k;
  a->n = n;
  a->act = act;
  return ffi::Error::Success();
}

}  // namespace zoo::jaxffi

// The activation attributes every bias_act and dense handler takes, in order.
#define ZOO_ACT_FFI_ATTRS                         \
  .Attr<std::string_view>("activation")           \
      .Attr<float>("alpha")                       \
      .Attr<float>("max_value")                   \
      .Attr<float>("threshold")

// The operands of each handler, the same on every platform (a platform's
// context, such as the CUDA stream, comes before them in its Bind chain).
#define ZOO_BIAS_ACT_FWD_OPERANDS \
  .Arg<ffi::AnyBuffer>()          \
      .Arg<ffi::AnyBuffer>()      \
      .Ret<ffi::AnyBuffer>() ZOO_ACT_FFI_ATTRS
#define ZOO_BIAS_ACT_BWD_OPERANDS \
  .Arg<ffi::AnyBuffer>()          \
      .Arg<ffi::AnyBuffer>()      \
      .Arg<ffi::AnyBuffer>()      \
      .Ret<ffi::AnyBuffer>()      \
      .Ret<ffi::AnyBuffer>() ZOO_ACT_FFI_ATTRS
#define ZOO_DENSE_FWD_OPERANDS                                                    \
  .Arg<ffi::Buffer<ffi::F32>>()                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                               \
      .Arg<ffi::Buffer<ffi::F32>>()                                               \
      .Ret<ffi::Buffer<ffi::F32>>()                                               \
      .Ret<ffi::Buffer<ffi::F32>>() ZOO_ACT_FFI_ATTRS
#define ZOO_DENSE_BWD_OPERANDS                                                    \
  .Arg<ffi::Buffer<ffi::F32>>()                                                   \
      .Arg<ffi::Buffer<ffi::F32>>()                                               \
      .Arg<ffi::Buffer<ffi::F32>>()                                               \
      .Arg<ffi::Buffer<ffi::F32>>()                                               \
      .Arg<ffi::Buffer<ffi::F32>>()                                               \
      .Ret<ffi::Buffer<ffi::F32>>()                                               \
      .Ret<ffi::Buffer<ffi::F32>>()                                               \
      .Ret<ffi::Buffer<ffi::F32>>() ZOO_ACT_FFI_ATTRS
