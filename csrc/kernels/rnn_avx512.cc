// Recurrent kernels compiled for the avx512 path (flags set in CMakeLists.txt).
#define ZOO_ISA_NS avx512
#include "rnn_impl.h"

namespace zoo::avx512 {
const RnnKernels rnn_kernels = {rnn_detail::forward_rows, rnn_detail::backward_rows,
                                  rnn_detail::column_sums_add};
}  // namespace zoo::avx512
