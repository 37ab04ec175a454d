// Fused bias + activation on CUDA:  y = act(x + bias),  bias on the last axis.
//
// The same argument structs, activation set and semantics as the CPU core
// (csrc/kernels/bias_act.h); here every pointer is a device pointer and the
// work is queued on `stream` (the calls return before it finishes). Arguments
// are validated on the host before anything is launched (zoo::Error); CUDA
// failures raise zoo::cuda::CudaError.
//
// One difference from the CPU core: dbias may be requested without a bias. The
// gradient of the bias does not depend on the bias, and the fused dense
// backward uses this to reduce dz when x already holds the pre-activation.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "../kernels/bias_act.h"

namespace zoo::cuda {

void bias_act_forward(const BiasActForward& args, cudaStream_t stream);

// Bytes of float32 scratch the dbias reduction needs (0 when dbias is not
// requested). Pass at least that much as `workspace`, or nullptr to have the
// call take it from the device's stream-ordered memory pool.
size_t bias_act_backward_workspace(const BiasActBackward& args);
void bias_act_backward(const BiasActBackward& args, cudaStream_t stream,
                       void* workspace = nullptr, size_t workspace_bytes = 0);

}  // namespace zoo::cuda
