// XLA FFI handlers ZooRnnFwd / ZooRnnBwd over the whole-sequence LSTM/GRU
// kernels (csrc/kernels/rnn.h), float32, CPU: the JAX twin of
// csrc/tensorflow/rnn_op.cc, with the same argument order and conventions.
//
// Absent inputs are (0,) buffers: bias (use_bias=False), h0/c0 (zeros; c0
// always for GRU), mask. The forward's `reserve` output, B*T*(G+2)*H floats
// when training (else (0,)), is what the backward reads back; zoo/ops/_jax.py
// keeps it as the custom_vjp residual.
#include "ffi_common.h"
#include "op_args.h"
#include "../kernels/rnn.h"

namespace zoo::jaxffi {
namespace {

using F32 = ffi::Buffer<ffi::F32>;
using Pred = ffi::Buffer<ffi::PRED>;

struct RnnAttrs {
  int64_t cell, reset_after, go_backwards, zero_output_for_mask, return_sequences;
  std::string_view activation, recurrent_activation;
};

// The configuration from the attributes and the shapes, checking each shape
// before the kernel touches memory.
ffi::Error config(const RnnAttrs& at, const F32& x, const F32& w, const F32& u, const F32& b,
                  const Pred& mask, RnnConfig* cfg) {
  try {
    cfg->act.kind = act_from_name(std::string(at.activation));
    cfg->rec_act.kind = act_from_name(std::string(at.recurrent_activation));
  } catch (const Error& e) {
    return invalid(e.what());
  }
  if (!rnn_supports(cfg->act.kind, cfg->rec_act.kind))
    return invalid("recurrent kernels support activations linear, relu, sigmoid, tanh, "
                   "hard_sigmoid; got " + std::string(at.activation) + " and " +
                   std::string(at.recurrent_activation));
  if (at.cell != 0 && at.cell != 1) return invalid("cell must be 0 (lstm) or 1 (gru)");
  cfg->cell = at.cell == 0 ? RnnCell::lstm : RnnCell::gru;
  cfg->reset_after = at.reset_after != 0;
  cfg->go_backwards = at.go_backwards != 0;
  cfg->zero_output_for_mask = at.zero_output_for_mask != 0;
  cfg->return_sequences = at.return_sequences != 0;
  const auto xd = x.dimensions(), wd = w.dimensions(), ud = u.dimensions();
  if (xd.size() != 3)
    return invalid("x must be 3-D (batch, time, features), got shape " + dims_str(xd));
  if (ud.size() != 2)
    return invalid("recurrent_kernel must be 2-D (units, gates*units), got shape " + dims_str(ud));
  const int64_t g = cfg->cell == RnnCell::lstm ? 4 : 3, units = ud[0];
  cfg->batch = xd[0];
  cfg->time = xd[1];
  cfg->input = xd[2];
  cfg->units = units;
  if (cfg->time < 1) return invalid("x has no time steps (shape " + dims_str(xd) + ")");
  if (units < 1 || ud[1] != g * units)
    return invalid("recurrent_kernel must be (units, " + std::to_string(g) +
                   " * units), got shape " + dims_str(ud));
  if (wd.size() != 2 || wd[0] != cfg->input || wd[1] != g * units)
    return invalid("kernel must be (" + std::to_string(cfg->input) + ", " +
                   std::to_string(g * units) + "), got shape " + dims_str(wd));
  if (b.element_count() != 0 &&
      static_cast<int64_t>(b.element_count()) != rnn_bias_size(*cfg))
    return invalid("bias has shape " + dims_str(b.dimensions()) + " but " +
                   std::to_string(rnn_bias_size(*cfg)) + " values are needed");
  const auto md = mask.dimensions();
  if (mask.element_count() != 0 &&
      (md.size() != 2 || md[0] != cfg->batch || md[1] != cfg->time))
    return invalid("mask must be (batch, time), got shape " + dims_str(md));
  return ffi::Error::Success();
}

ffi::Error check_state(const char* what, const F32& s, const RnnConfig& c) {
  if (s.element_count() == 0) return ffi::Error::Success();
  const auto d = s.dimensions();
  if (d.size() != 2 || d[0] != c.batch || d[1] != c.units)
    return invalid(std::string(what) + " must be (batch, units), got shape " + dims_str(d));
  return ffi::Error::Success();
}

const float* opt(const F32& t) { return t.element_count() ? t.typed_data() : nullptr; }
float* opt(ffi::Result<F32>& t) { return t->element_count() ? t->typed_data() : nullptr; }
const uint8_t* opt_mask(const Pred& m) {
  return m.element_count() ? reinterpret_cast<const uint8_t*>(m.typed_data()) : nullptr;
}

int64_t out_floats(const RnnConfig& c) {
  return c.return_sequences ? c.batch * c.time * c.units : c.batch * c.units;
}

ffi::Error forward(F32 x, F32 w, F32 u, F32 b, F32 h0, F32 c0, Pred mask, ffi::Result<F32> y,
                   ffi::Result<F32> h, ffi::Result<F32> c, ffi::Result<F32> reserve,
                   int64_t cell, int64_t reset_after, std::string_view activation,
                   std::string_view recurrent_activation, int64_t go_backwards,
                   int64_t zero_output_for_mask, int64_t return_sequences) {
  const RnnAttrs at{cell, reset_after, go_backwards, zero_output_for_mask, return_sequences,
                    activation, recurrent_activation};
  RnnConfig cfg;
  if (auto e = config(at, x, w, u, b, mask, &cfg); e.failure()) return e;
  const bool lstm = cfg.cell == RnnCell::lstm;
  if (auto e = check_state("initial h", h0, cfg); e.failure()) return e;
  if (lstm)
    if (auto e = check_state("initial c", c0, cfg); e.failure()) return e;
  const int64_t state = cfg.batch * cfg.units;
  if (static_cast<int64_t>(y->element_count()) != out_floats(cfg) ||
      static_cast<int64_t>(h->element_count()) != state ||
      static_cast<int64_t>(c->element_count()) != (lstm ? state : 0))
    return invalid("output buffers do not match the configuration");
  const int64_t res = static_cast<int64_t>(reserve->element_count());
  if (res != 0 && res != rnn_reserve_floats(cfg))
    return invalid("reserve must hold " + std::to_string(rnn_reserve_floats(cfg)) +
                   " floats (training) or none");
  RnnForward f;
  f.cfg = cfg;
  f.x = x.typed_data();
  f.kernel = w.typed_data();
  f.recurrent = u.typed_data();
  f.bias = opt(b);
  f.h0 = opt(h0);
  f.c0 = lstm ? opt(c0) : nullptr;
  f.mask = opt_mask(mask);
  f.y = y->typed_data();
  f.h_out = h->typed_data();
  f.c_out = lstm ? c->typed_data() : nullptr;
  f.reserve = res ? reserve->typed_data() : nullptr;
  return run_checked([&] { rnn_forward(f, pool()); });
}

ffi::Error backward(F32 dy, F32 dh, F32 dc, F32 x, F32 w, F32 u, F32 b, Pred mask, F32 reserve,
                    ffi::Result<F32> dx, ffi::Result<F32> dw, ffi::Result<F32> du,
                    ffi::Result<F32> db, ffi::Result<F32> dh0, ffi::Result<F32> dc0,
                    int64_t cell, int64_t reset_after, std::string_view activation,
                    std::string_view recurrent_activation, int64_t go_backwards,
                    int64_t zero_output_for_mask, int64_t return_sequences) {
  const RnnAttrs at{cell, reset_after, go_backwards, zero_output_for_mask, return_sequences,
                    activation, recurrent_activation};
  RnnConfig cfg;
  if (auto e = config(at, x, w, u, b, mask, &cfg); e.failure()) return e;
  const bool lstm = cfg.cell == RnnCell::lstm;
  if (dy.element_count() != 0 && static_cast<int64_t>(dy.element_count()) != out_floats(cfg))
    return invalid("dy has shape " + dims_str(dy.dimensions()) + ", not the output's");
  if (auto e = check_state("dh", dh, cfg); e.failure()) return e;
  if (lstm)
    if (auto e = check_state("dc", dc, cfg); e.failure()) return e;
  if (static_cast<int64_t>(reserve.element_count()) != rnn_reserve_floats(cfg))
    return invalid("reserve has " + std::to_string(reserve.element_count()) + " values but " +
                   std::to_string(rnn_reserve_floats(cfg)) +
                   " are needed: take gradients of a forward run in training mode");
  RnnBackward a;
  a.cfg = cfg;
  a.dy = opt(dy);
  a.dh_out = opt(dh);
  a.dc_out = lstm ? opt(dc) : nullptr;
  a.x = x.typed_data();
  a.kernel = w.typed_data();
  a.recurrent = u.typed_data();
  a.bias = opt(b);
  a.mask = opt_mask(mask);
  a.reserve = reserve.typed_data();
  // Each gradient output holds its full size, written, or nothing, skipped;
  // a buffer of any other size is refused before the kernel writes into it.
  const int64_t gh = rnn_gates(cfg) * cfg.units, state = cfg.batch * cfg.units;
  if (auto e = optional_output(&*dx, cfg.batch * cfg.time * cfg.input, "dx", &a.dx); e.failure())
    return e;
  if (auto e = optional_output(&*dw, cfg.input * gh, "dkernel", &a.dkernel); e.failure())
    return e;
  if (auto e = optional_output(&*du, cfg.units * gh, "drecurrent_kernel", &a.drecurrent);
      e.failure())
    return e;
  if (auto e = optional_output(&*db, b.element_count() ? rnn_bias_size(cfg) : 0, "dbias",
                               &a.dbias);
      e.failure())
    return e;
  if (auto e = optional_output(&*dh0, state, "dh0", &a.dh0); e.failure()) return e;
  if (auto e = optional_output(&*dc0, lstm ? state : 0, "dc0", &a.dc0); e.failure()) return e;
  return run_checked([&] { rnn_backward(a, pool()); });
}

}  // namespace
}  // namespace zoo::jaxffi

namespace ffi = xla::ffi;
using F32 = ffi::Buffer<ffi::F32>;
using Pred = ffi::Buffer<ffi::PRED>;

#pragma GCC visibility push(default)  // the handler symbols are the library's API

#define ZOO_RNN_FFI_ATTRS                             \
  .Attr<int64_t>("cell")                              \
      .Attr<int64_t>("reset_after")                   \
      .Attr<std::string_view>("activation")           \
      .Attr<std::string_view>("recurrent_activation") \
      .Attr<int64_t>("go_backwards")                  \
      .Attr<int64_t>("zero_output_for_mask")          \
      .Attr<int64_t>("return_sequences")

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooRnnFwd, zoo::jaxffi::forward,
                              ffi::Ffi::Bind()
                                  .Arg<F32>()   // x
                                  .Arg<F32>()   // kernel
                                  .Arg<F32>()   // recurrent kernel
                                  .Arg<F32>()   // bias
                                  .Arg<F32>()   // h0
                                  .Arg<F32>()   // c0
                                  .Arg<Pred>()  // mask
                                  .Ret<F32>()   // y
                                  .Ret<F32>()   // h
                                  .Ret<F32>()   // c
                                  .Ret<F32>()   // reserve
                                  ZOO_RNN_FFI_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooRnnBwd, zoo::jaxffi::backward,
                              ffi::Ffi::Bind()
                                  .Arg<F32>()   // dy
                                  .Arg<F32>()   // dh
                                  .Arg<F32>()   // dc
                                  .Arg<F32>()   // x
                                  .Arg<F32>()   // kernel
                                  .Arg<F32>()   // recurrent kernel
                                  .Arg<F32>()   // bias
                                  .Arg<Pred>()  // mask
                                  .Arg<F32>()   // reserve
                                  .Ret<F32>()   // dx
                                  .Ret<F32>()   // dkernel
                                  .Ret<F32>()   // drecurrent
                                  .Ret<F32>()   // dbias
                                  .Ret<F32>()   // dh0
                                  .Ret<F32>()   // dc0
                                  ZOO_RNN_FFI_ATTRS);

#pragma GCC visibility pop
