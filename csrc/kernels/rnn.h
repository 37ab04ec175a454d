// Whole-sequence LSTM and GRU with Keras' semantics, float32, on the GEMM core.
//
// Forward, one call for all T steps, per chunk of batch rows:
//   per step s (time t = go_backwards ? T-1-s : s):
//     P_t = x_t @ W + b                the input projection of this step's rows
//     P_t += h @ U                     the recurrent GEMM, onto the same block
//     one fused pass: gates, state update, output, mask
//   (Projecting per step rather than all steps at once keeps P_t in cache
//   between the two GEMMs and the pass, and inference needs no B*T*G*H buffer.)
// Backward (BPTT), one call:
//   per step, in reverse: one fused pass giving dG[t] (the gate
//   pre-activation gradients) and the state gradients, then dh += dG @ U^T
//   and dx_t = dG[t] @ W^T; then dW = X^T @ dG, dU = Hprev^T @ dG and
//   db = column sums of dG, in one pass over dG (rnn.cc, weight_gradients:
//   columns split across threads, rows in L2-sized blocks).
// Cells (Keras' LSTMCell / GRUCell, implementation 2):
//   LSTM   z = x W + h U + b, gates i, f, c, o (in that order along 4H)
//          c' = rec(f) c + rec(i) act(z_c),  h' = rec(o) act(c')
//   GRU, reset_after (Keras' default; bias (2, 3H): input row, recurrent row)
//          a = x W + b_in, r_ = h U + b_rec, gates z, r, h along 3H
//          z = rec(a_z + r_z), r = rec(a_r + r_r), hh = act(a_h + r * r_h)
//          h' = z h + (1 - z) hh
//   GRU, reset_after=False (bias (3H,))
//          z = rec(a_z + h U_z), r = rec(a_r + h U_r), hh = act(a_h + (r h) U_h)
// Masks (Keras' backend.rnn): at a masked step the states carry over and the
// output repeats the previous output (zeros before the first step), or is zero
// with zero_output_for_mask. Outputs are in processing order (reversed under
// go_backwards), as Keras returns them.
//
// Layout: x (B, T, I) and the sequence output (B, T, H) are batch-major as in
// Keras; kernel (I, G*H), recurrent kernel (H, G*H) with G = 4 (LSTM) or 3.
// Training keeps a "reserve" buffer (rnn_reserve_floats) that the backward
// pass reads: the gate pre-activations, the state before each step, and a
// cell-specific extra (LSTM: c before each step; GRU: the recurrent h-part or
// r * h), all time-major: row (b, t) at t * B + b, so one step's rows are
// contiguous.
//
// Threads: batch rows never interact in the recurrence, so the batch is cut
// into chunks that each run all T steps on one thread with no synchronisation
// per step (a 64 x 64 x 256 step is ~20 us, too short to split). A row's
// arithmetic is the same whichever chunk holds it, and the large GEMMs never
// split their K axis, so results do not depend on the thread count.
#pragma once

#include <cstdint>

#include "activation.h"
#include "common.h"

namespace zoo {

enum class RnnCell : int { lstm = 0, gru = 1 };

// What the kernel is asked to compute; shared by forward and backward.
struct RnnConfig {
  RnnCell cell = RnnCell::lstm;
  bool reset_after = true;        // GRU only
  int64_t batch = 0, time = 0, input = 0, units = 0;
  ActParams act{Act::tanh};           // Keras `activation`
  ActParams rec_act{Act::sigmoid};    // Keras `recurrent_activation`
  bool go_backwards = false;
  bool zero_output_for_mask = false;
  bool return_sequences = false;      // y is (B, T, H) rather than (B, H)
};

struct RnnForward {
  RnnConfig cfg;
  const float* x = nullptr;       // B x T x I
  const float* kernel = nullptr;  // I x G*H
  const float* recurrent = nullptr;  // H x G*H
  const float* bias = nullptr;    // LSTM 4H; GRU reset_after 2 x 3H; GRU 3H; or nullptr
  const float* h0 = nullptr;      // B x H, or nullptr for zeros
  const float* c0 = nullptr;      // B x H (LSTM), or nullptr for zeros
  const uint8_t* mask = nullptr;  // B x T (nonzero = step is valid), or nullptr
  float* y = nullptr;             // B x T x H (return_sequences) or B x H (last output)
  float* h_out = nullptr;         // B x H final h, or nullptr
  float* c_out = nullptr;         // B x H final c (LSTM), or nullptr
  float* reserve = nullptr;       // rnn_reserve_floats(cfg) floats for backward, or nullptr
};

struct RnnBackward {
  RnnConfig cfg;
  const float* dy = nullptr;      // like y, or nullptr for zeros
  const float* dh_out = nullptr;  // B x H, or nullptr
  const float* dc_out = nullptr;  // B x H (LSTM), or nullptr
  const float* x = nullptr;
  const float* kernel = nullptr;
  const float* recurrent = nullptr;
  const float* bias = nullptr;    // only whether it is present matters
  const float* c0 = nullptr;      // unused (the reserve holds the states); kept for symmetry
  const uint8_t* mask = nullptr;
  const float* reserve = nullptr;  // written by the forward with the same cfg and inputs
  float* dx = nullptr;            // B x T x I, or nullptr to skip
  float* dkernel = nullptr;       // I x G*H, or nullptr
  float* drecurrent = nullptr;    // H x G*H, or nullptr
  float* dbias = nullptr;         // like bias, or nullptr
  float* dh0 = nullptr;           // B x H, or nullptr
  float* dc0 = nullptr;           // B x H (LSTM), or nullptr
};

int64_t rnn_gates(const RnnConfig& cfg);          // 4 or 3
int64_t rnn_bias_size(const RnnConfig& cfg);      // 4H, 6H or 3H
int64_t rnn_reserve_floats(const RnnConfig& cfg);

// Whether the kernel core has fused loops for this pair of activations
// (linear, relu, sigmoid, tanh, hard_sigmoid with Keras' default parameters).
bool rnn_supports(Act activation, Act recurrent_activation);

// Validate (zoo::Error before any memory is touched), then run on `par`.
void rnn_forward(const RnnForward& args, const Parallel& par);
void rnn_backward(const RnnBackward& args, const Parallel& par);

// ----------------------------------------------------------------------------
// Per-ISA loops (rnn_<isa>.cc), used by rnn.cc.

// Scratch and derived pointers the driver prepares for the per-chunk loops.
struct RnnPlan {
  int64_t gh = 0;                 // G * H
  float* p = nullptr;             // B x T x GH pre-activations (reserve or scratch)
  float* hprev = nullptr;         // B x T x H state before each step (training), or nullptr
  float* extra = nullptr;         // B x T x H: LSTM c before each step, GRU r_h or r*h (training)
  const float* rec_bias = nullptr;   // GRU reset_after: the recurrent bias row
  const float* ut = nullptr;      // GH x H transposed recurrent kernel (backward)
  const float* wt = nullptr;      // GH x I transposed kernel (backward, for dx)
  float* dg = nullptr;            // B x T x GH gate gradients (backward)
  float* dg2 = nullptr;           // GRU reset_after: B x T x GH recurrent-side gradients
  float* scratch = nullptr;       // per-chunk state buffers, rnn.cc decides the size
  int64_t scratch_per_row = 0;    // floats per batch row of `scratch`
};

// Rows per float partial sum of the bias gradients (rnn_impl.h, column_sums_add).
constexpr int64_t kColumnSumRows = 64;

struct RnnKernels {
  // Rows [b0, b1) of the batch, all T steps. May call gemm() with Serial.
  void (*forward_rows)(const RnnForward&, const RnnPlan&, int64_t b0, int64_t b1);
  void (*backward_rows)(const RnnBackward&, const RnnPlan&, int64_t b0, int64_t b1);
  // acc[j] += sum over rows r of m[r * ld + j], j < cols (the bias gradients),
  // in groups of kColumnSumRows rows (rnn_impl.h).
  void (*column_sums_add)(const float* m, int64_t rows, int64_t cols, int64_t ld, double* acc);
};

namespace scalar { extern const RnnKernels rnn_kernels; }
namespace avx2 { extern const RnnKernels rnn_kernels; }
namespace avx512 { extern const RnnKernels rnn_kernels; }

}  // namespace zoo
