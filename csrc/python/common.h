// Helpers the pybind11 binding files share (defined in module.cc).
#pragma once

#include <pybind11/numpy.h>

#include <optional>
#include <string>

#include "../kernels/activation.h"
#include "../kernels/common.h"

namespace zoo::py_binding {

// The module's thread pool for the CPU kernels.
const Parallel& pool();
// `a` itself when C-contiguous, else a C-contiguous copy.
pybind11::array contiguous(const pybind11::array& a);
// Kernel activation parameters from the Python arguments, validated
// (max_value None: no cap).
ActParams act_params(const std::string& activation, std::optional<float> alpha, std::optional<float> max_value,
                     float threshold);

}  // namespace zoo::py_binding
