// Recurrent kernels compiled for the scalar path (flags set in CMakeLists.txt).
#define ZOO_ISA_NS scalar
#include "rnn_impl.h"

namespace zoo::scalar {
const RnnKernels rnn_kernels = {rnn_detail::forward_rows, rnn_detail::backward_rows,
                                  rnn_detail::column_sums_add};
}  // namespace zoo::scalar
