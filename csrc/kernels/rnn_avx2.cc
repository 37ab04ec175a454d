// Recurrent kernels compiled for the avx2 path (flags set in CMakeLists.txt).
#define ZOO_ISA_NS avx2
#include "rnn_impl.h"

namespace zoo::avx2 {
const RnnKernels rnn_kernels = {rnn_detail::forward_rows, rnn_detail::backward_rows,
                                  rnn_detail::column_sums_add};
}  // namespace zoo::avx2
