// XLA FFI handlers for the CUDA platform over zoo's CUDA kernels
// (csrc/cuda/bias_act.h, csrc/cuda/dense.h): the GPU twins of bias_act_ffi.cc
// and dense_ffi.cc, with the same operands, attributes and checks (op_args.h).
// zoo/_native.py registers each under the CPU handler's target name with
// platform="CUDA", so one ffi_call runs whichever the array's device needs.
//
// The work is queued on XLA's stream for the call (PlatformStream) and the
// handlers return without synchronising. Scratch memory (the dbias partial
// sums, cuBLASLt's workspace) comes from XLA's own allocator (ScratchAllocator),
// not from the CUDA stream pool: XLA preallocates most of the device's memory,
// and its allocator orders reuse on the same stream.
//
// The recurrent kernels have no CUDA implementation; zoo/ops/rnn.py leaves
// LSTM/GRU to Keras when JAX's default backend is not the CPU.
#include <cuda_runtime_api.h>

#include <optional>

#include "op_args.h"
#include "../cuda/bias_act.h"
#include "../cuda/cuda_check.h"
#include "../cuda/dense.h"

namespace zoo::jaxffi {
namespace {

using Stream = ffi::PlatformStream<cudaStream_t>;

// Runs fn: zoo::Error (bad arguments, raised before any launch) becomes
// InvalidArgument, a CUDA or cuBLASLt failure becomes Internal.
template <typename Fn>
ffi::Error run_cuda(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return invalid(e.what());
  } catch (const cuda::CudaError& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, e.what());
  }
  return ffi::Error::Success();
}

ffi::Error scratch(ffi::ScratchAllocator& alloc, size_t bytes, void** out) {
  *out = nullptr;
  if (bytes == 0) return ffi::Error::Success();
  std::optional<void*> p = alloc.Allocate(bytes, /*alignment=*/256);
  if (!p.has_value())
    return ffi::Error(ffi::ErrorCode::kResourceExhausted,
                      "could not allocate " + std::to_string(bytes) +
                          " bytes of GPU scratch memory from XLA");
  *out = *p;
  return ffi::Error::Success();
}

// ---- bias + activation ------------------------------------------------------

ffi::Error bias_act_fwd(cudaStream_t stream, ffi::AnyBuffer x, ffi::AnyBuffer bias,
                        ffi::Result<ffi::AnyBuffer> y, std::string_view activation, float alpha,
                        float max_value, float threshold) {
  ActParams act;
  BiasActForward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_bias_act_forward(x, bias, &*y, act, &a); e.failure()) return e;
  return run_cuda([&] { cuda::bias_act_forward(a, stream); });
}

ffi::Error bias_act_bwd(cudaStream_t stream, ffi::ScratchAllocator alloc, ffi::AnyBuffer dy,
                        ffi::AnyBuffer x, ffi::AnyBuffer bias, ffi::Result<ffi::AnyBuffer> dx,
                        ffi::Result<ffi::AnyBuffer> dbias, std::string_view activation,
                        float alpha, float max_value, float threshold) {
  ActParams act;
  BiasActBackward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_bias_act_backward(dy, x, bias, &*dx, &*dbias, act, &a); e.failure()) return e;
  size_t bytes = 0;
  if (auto e = run_cuda([&] { bytes = cuda::bias_act_backward_workspace(a); }); e.failure())
    return e;
  void* ws;
  if (auto e = scratch(alloc, bytes, &ws); e.failure()) return e;
  return run_cuda([&] { cuda::bias_act_backward(a, stream, ws, bytes); });
}

// ---- fused dense --------------------------------------------------------------

using F32 = ffi::Buffer<ffi::F32>;

ffi::Error dense_fwd(cudaStream_t stream, ffi::ScratchAllocator alloc, F32 x, F32 w, F32 b,
                     ffi::Result<F32> y, ffi::Result<F32> z, std::string_view activation,
                     float alpha, float max_value, float threshold) {
  ActParams act;
  cuda::DenseForward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_dense_forward(x, w, b, &*y, &*z, act, &a); e.failure()) return e;
  a.dtype = DType::f32;
  if (auto e = scratch(alloc, cuda::kDenseWorkspaceBytes, &a.workspace); e.failure()) return e;
  a.workspace_bytes = cuda::kDenseWorkspaceBytes;
  return run_cuda([&] { cuda::dense_forward(a, stream); });
}

ffi::Error dense_bwd(cudaStream_t stream, ffi::ScratchAllocator alloc, F32 dy, F32 x, F32 w,
                     F32 b, F32 z, ffi::Result<F32> dx, ffi::Result<F32> dw, ffi::Result<F32> db,
                     std::string_view activation, float alpha, float max_value,
                     float threshold) {
  ActParams act;
  cuda::DenseBackward a;
  if (auto e = read_act(activation, alpha, max_value, threshold, &act); e.failure()) return e;
  if (auto e = read_dense_backward(dy, x, w, b, z, &*dx, &*dw, &*db, act, &a); e.failure())
    return e;
  // The CPU core recomputes a missing z; the CUDA one needs it (zoo/ops/_jax.py
  // always saves it for a non-linear activation).
  if (!a.preact && act.kind != Act::linear && a.m * a.n > 0)
    return invalid("the CUDA dense backward needs the saved pre-activation for " +
                   std::string(activation));
  a.dtype = DType::f32;
  if (auto e = scratch(alloc, cuda::kDenseWorkspaceBytes, &a.workspace); e.failure()) return e;
  a.workspace_bytes = cuda::kDenseWorkspaceBytes;
  return run_cuda([&] { cuda::dense_backward(a, stream); });
}

}  // namespace
}  // namespace zoo::jaxffi

namespace ffi = xla::ffi;
using Stream = ffi::PlatformStream<cudaStream_t>;

#pragma GCC visibility push(default)  // the handler symbols are the library's API

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooBiasActFwdCuda, zoo::jaxffi::bias_act_fwd,
                              ffi::Ffi::Bind().Ctx<Stream>() ZOO_BIAS_ACT_FWD_OPERANDS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooBiasActBwdCuda, zoo::jaxffi::bias_act_bwd,
                              ffi::Ffi::Bind()
                                  .Ctx<Stream>()
                                  .Ctx<ffi::ScratchAllocator>() ZOO_BIAS_ACT_BWD_OPERANDS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDenseFwdCuda, zoo::jaxffi::dense_fwd,
                              ffi::Ffi::Bind()
                                  .Ctx<Stream>()
                                  .Ctx<ffi::ScratchAllocator>() ZOO_DENSE_FWD_OPERANDS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(ZooDenseBwdCuda, zoo::jaxffi::dense_bwd,
                              ffi::Ffi::Bind()
                                  .Ctx<Stream>()
                                  .Ctx<ffi::ScratchAllocator>() ZOO_DENSE_BWD_OPERANDS);

#pragma GCC visibility pop

