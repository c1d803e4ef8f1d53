// How much each weight's rounding error counts in the fits. Without
// activation statistics the best guide is the weight itself: large weights
// meet the same activations as small ones but carry more of the output, so
// their error is weighted up, on top of a floor (the group's mean square)
// that keeps small weights from being ignored.
#pragma once
#include <cstdint>

namespace lineage::quant {

enum class Importance {
  Uniform,       // w = 1: plain squared error
  SigmaPlusAbs,  // w = sigma + |x|
  SigmaSqPlusSq, // w = sigma^2 + x^2
  Square,        // w = x^2
};

// Weights for a group of n values; sigma^2 is the group's mean square.
void importance_weights(const float* x, int n, Importance kind, float* w);

// The weighting each family of types uses.
Importance importance_for_k_types();
Importance importance_for_32_block_types();

}  // namespace lineage::quant
