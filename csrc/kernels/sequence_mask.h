// Keras' Masking layer in one pass over the data.
//
// x is rows x features (every axis but the last flattened into rows: for a
// (batch, time, features) sequence one row per step). A row is masked when all
// its features equal `value`; mask[r] is 1 where any feature differs (NaN
// differs from everything, as Keras' not_equal has it) and 0 otherwise. The
// optional output y is x with the masked rows zeroed: what the layer passes on.
// Keras builds the same from not_equal, any, where and squeeze, four ops whose
// boolean reduction alone costs TensorFlow ~0.2 ms on a (64, 50, 16) batch
// (benchmarks/RESULTS.md, "Masking in one op"); here it is one read and one write.
#pragma once

#include <cstdint>

#include "common.h"

namespace zoo {

struct SequenceMask {
  int64_t rows = 0, features = 0;
  float value = 0.0f;
  const float* x = nullptr;   // rows x features
  float* y = nullptr;         // rows x features, or nullptr for the mask alone
  uint8_t* mask = nullptr;    // rows
};

// Validate (zoo::Error before any memory is touched), then run on `par`.
void sequence_mask(const SequenceMask& args, const Parallel& par);

}  // namespace zoo
