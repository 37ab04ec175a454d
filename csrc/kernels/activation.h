// The activation set of the kernel core, with the formulas and parameters of
// keras.activations (Keras 3). Each activation has a forward f(z) and a
// derivative f'(z) written on the pre-activation z; both are scalar,
// branch-free and ZOO_HD so the CPU loops vectorise them and CUDA reuses them.
#pragma once

#include <cstring>
#include <string>
#include <type_traits>

#include "common.h"
#include "vmath.h"

namespace zoo {

enum class Act : int {
  linear = 0,
  relu,          // Keras relu(x, negative_slope, max_value, threshold); relu6, leaky_relu
  elu,           // alpha
  selu,
  gelu,          // exact: x * Phi(x) (keras.activations.gelu default)
  gelu_tanh,     // tanh approximation (keras.ops.gelu default)
  silu,          // = swish
  sigmoid,
  tanh,
  softplus,
  mish,
  hard_sigmoid,
  hard_silu,     // = hard_swish
  count_
};

struct ActParams {
  Act kind = Act::linear;
  float alpha = 0.0f;              // relu: negative_slope; elu: alpha
  float max_value = vm::kInf;      // relu only
  float threshold = 0.0f;          // relu only
};

// Canonical names, indexed by Act. The bindings parse user strings through
// act_from_name so there is one spelling table.
inline const char* act_name(Act a) {
  static const char* const names[] = {"linear",   "relu",    "elu",  "selu",     "gelu",
                                      "gelu_tanh", "silu",   "sigmoid", "tanh", "softplus",
                                      "mish",     "hard_sigmoid", "hard_silu"};
  const int i = static_cast<int>(a);
  return (i >= 0 && i < static_cast<int>(Act::count_)) ? names[i] : "unknown";
}

inline Act act_from_name(const std::string& name) {
  for (int i = 0; i < static_cast<int>(Act::count_); ++i)
    if (name == act_name(static_cast<Act>(i))) return static_cast<Act>(i);
  throw Error("unknown activation '" + name +
              "'; expected one of linear, relu, elu, selu, gelu, gelu_tanh, silu, sigmoid, "
              "tanh, softplus, mish, hard_sigmoid, hard_silu");
}

// Keras' default for `alpha` when a caller gives none: elu's alpha is 1.0,
// relu's negative_slope 0 (leaky_relu's 0.2 and relu6's cap are spellings the
// Python side resolves). The other activations ignore alpha. Every binding
// resolves a missing alpha through this, so a raw call means what Keras means.
constexpr float default_alpha(Act a) { return a == Act::elu ? 1.0f : 0.0f; }

inline bool is_finite(float v) { return v - v == 0.0f; }  // false for NaN and +-Inf

inline void check_act_params(const ActParams& p) {
  ZOO_CHECK(static_cast<int>(p.kind) >= 0 && p.kind < Act::count_, "activation kind out of range");
  if (p.kind == Act::relu) {
    ZOO_CHECK(p.max_value == p.max_value && p.max_value > 0.0f,
              "relu max_value must be positive (use infinity for no cap)");
    ZOO_CHECK(is_finite(p.alpha) && p.alpha >= 0.0f, "relu negative_slope must be a finite number >= 0");
    ZOO_CHECK(is_finite(p.threshold) && p.threshold >= 0.0f,
              "relu threshold must be a finite number >= 0");
  }
  if (p.kind == Act::elu) ZOO_CHECK(is_finite(p.alpha), "elu alpha must be a finite number");
}

namespace act {

constexpr float kSeluAlpha = 1.67326324235437728481f;
constexpr float kSeluScale = 1.05070098735548049342f;
constexpr float kSqrt2OverPi = 0.7978845608028654f;   // gelu_tanh
constexpr float kGeluCubic = 0.044715f;
constexpr float kInvSqrt2 = 0.7071067811865476f;       // gelu exact
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// Keras relu: x if x > threshold (capped at max_value) else
// negative_slope * (x - threshold). `z < t ? ... : z` keeps -0 and NaN as
// TensorFlow's Relu does.
ZOO_HD float relu(float z, float slope, float cap, float t) {
  const float pos = z > cap ? cap : z;
  // slope == 0 is tested so that relu(-inf) is 0, not 0 * -inf.
  return z < t ? (slope == 0.0f ? 0.0f : slope * (z - t)) : (z == t && t != 0.0f ? 0.0f : pos);
}
// An infinite cap is no cap: relu'(+inf) is 1 there, as on the plain-relu path.
ZOO_HD float relu_grad(float z, float slope, float cap, float t) {
  return z > t ? ((z < cap || cap == vm::kInf) ? 1.0f : 0.0f) : (z < t ? slope : 0.0f);
}

ZOO_HD float elu(float z, float alpha) { return z > 0.0f ? z : alpha * vm::expm1(z); }
ZOO_HD float elu_grad(float z, float alpha) { return z > 0.0f ? 1.0f : alpha * vm::exp(z); }

// Derivatives of the form f(z) + z * (something vanishing) clamp z in the
// second term: beyond the clamp it is below float32's resolution, and at
// z = +-inf it would be inf * 0 = NaN where the derivative's limit is 0 or 1.
ZOO_HD float clamp_abs(float z, float c) { return z > c ? c : (z < -c ? -c : z); }

ZOO_HD float gelu(float z) { return z * vm::phi(z); }
ZOO_HD float gelu_grad(float z) {
  const float zc = clamp_abs(z, 10.0f);
  return vm::phi(z) + zc * kInvSqrt2Pi * vm::exp(-0.5f * zc * zc);
}

// 0.5 z (1 + tanh(u)) == z * sigmoid(2u): same function, no cancellation for z << 0.
ZOO_HD float gelu_tanh(float z) {
  const float u2 = 2.0f * kSqrt2OverPi * (z + kGeluCubic * z * z * z);
  return z * vm::sigmoid(u2);
}
ZOO_HD float gelu_tanh_grad(float z) {
  // Beyond |z| = 10 the second term is below 1e-35 and the derivative is 0
  // or 1 to float32 precision; clamping keeps z^3 finite (for |z| > 7e12 it
  // overflowed and 0 * inf made the gradient NaN: found by the fuzz test).
  z = clamp_abs(z, 10.0f);
  const float u2 = 2.0f * kSqrt2OverPi * (z + kGeluCubic * z * z * z);
  const float s = vm::sigmoid(u2);
  const float du2 = 2.0f * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * z * z);
  return s + z * s * (1.0f - s) * du2;
}

ZOO_HD float silu(float z) { return z * vm::sigmoid(z); }
ZOO_HD float silu_grad(float z) {
  const float s = vm::sigmoid(z);
  return s + clamp_abs(z, 40.0f) * s * (1.0f - s);
}

ZOO_HD float mish(float z) { return z * vm::tanh(vm::softplus(z)); }
ZOO_HD float mish_grad(float z) {
  const float t = vm::tanh(vm::softplus(z));
  return t + clamp_abs(z, 40.0f) * vm::sigmoid(z) * (1.0f - t * t);
}

// Keras (TF backend): clip(x / 6 + 0.5, 0, 1).
ZOO_HD float hard_sigmoid(float z) {
  const float h = z / 6.0f + 0.5f;
  return h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
}
ZOO_HD float hard_sigmoid_grad(float z) {
  const float h = z / 6.0f + 0.5f;
  return (h > 0.0f && h < 1.0f) ? 1.0f / 6.0f : 0.0f;
}
// d/dz z * hard_sigmoid(z), piecewise, so that +-inf give 1 and 0, not inf * 0.
ZOO_HD float hard_silu_grad(float z) {
  const float h = z / 6.0f + 0.5f;
  return (h > 0.0f && h < 1.0f) ? z / 3.0f + 0.5f : (h >= 1.0f ? 1.0f : 0.0f);
}

template <Act K>
ZOO_HD float forward(float z, const ActParams& p) {
  if constexpr (K == Act::linear) return z;
  if constexpr (K == Act::relu) return relu(z, p.alpha, p.max_value, p.threshold);
  if constexpr (K == Act::elu) return elu(z, p.alpha);
  if constexpr (K == Act::selu) return kSeluScale * elu(z, kSeluAlpha);
  if constexpr (K == Act::gelu) return gelu(z);
  if constexpr (K == Act::gelu_tanh) return gelu_tanh(z);
  if constexpr (K == Act::silu) return silu(z);
  if constexpr (K == Act::sigmoid) return vm::sigmoid(z);
  if constexpr (K == Act::tanh) return vm::tanh(z);
  if constexpr (K == Act::softplus) return vm::softplus(z);
  if constexpr (K == Act::mish) return mish(z);
  if constexpr (K == Act::hard_sigmoid) return hard_sigmoid(z);
  if constexpr (K == Act::hard_silu) return z * hard_sigmoid(z);
  return z;
}

template <Act K>
ZOO_HD float derivative(float z, const ActParams& p) {
  if constexpr (K == Act::linear) return 1.0f;
  if constexpr (K == Act::relu) return relu_grad(z, p.alpha, p.max_value, p.threshold);
  if constexpr (K == Act::elu) return elu_grad(z, p.alpha);
  if constexpr (K == Act::selu) return kSeluScale * elu_grad(z, kSeluAlpha);
  if constexpr (K == Act::gelu) return gelu_grad(z);
  if constexpr (K == Act::gelu_tanh) return gelu_tanh_grad(z);
  if constexpr (K == Act::silu) return silu_grad(z);
  if constexpr (K == Act::sigmoid) {
    const float s = vm::sigmoid(z);
    return s * (1.0f - s);
  }
  if constexpr (K == Act::tanh) {
    const float t = vm::tanh(z);
    return 1.0f - t * t;
  }
  if constexpr (K == Act::softplus) return vm::sigmoid(z);
  if constexpr (K == Act::mish) return mish_grad(z);
  if constexpr (K == Act::hard_sigmoid) return hard_sigmoid_grad(z);
  if constexpr (K == Act::hard_silu) return hard_silu_grad(z);
  return 1.0f;
}

}  // namespace act

// Calls fn(std::integral_constant<Act, K>{}) with the compile-time activation
// kind, so each kernel loop is instantiated per activation with no switch inside.
template <typename Fn>
decltype(auto) dispatch_act(Act kind, Fn&& fn) {
  switch (kind) {
#define ZOO_ACT_CASE(k) \
  case Act::k: return fn(std::integral_constant<Act, Act::k>{});
    ZOO_ACT_CASE(linear) ZOO_ACT_CASE(relu) ZOO_ACT_CASE(elu) ZOO_ACT_CASE(selu)
    ZOO_ACT_CASE(gelu) ZOO_ACT_CASE(gelu_tanh) ZOO_ACT_CASE(silu) ZOO_ACT_CASE(sigmoid)
    ZOO_ACT_CASE(tanh) ZOO_ACT_CASE(softplus) ZOO_ACT_CASE(mish) ZOO_ACT_CASE(hard_sigmoid)
    ZOO_ACT_CASE(hard_silu)
#undef ZOO_ACT_CASE
    default: break;
  }
  throw Error("activation kind out of range");
}

}  // namespace zoo
