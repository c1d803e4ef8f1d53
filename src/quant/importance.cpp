#include "quant/importance.h"

#include <cmath>

namespace lineage::quant {

void importance_weights(const float* x, int n, Importance kind, float* w) {
  double s2 = 0;
  for (int i = 0; i < n; ++i) s2 += static_cast<double>(x[i]) * x[i];
  const float sigma2 = static_cast<float>(s2 / n);
  const float sigma = std::sqrt(sigma2);
  for (int i = 0; i < n; ++i) {
    switch (kind) {
      case Importance::Uniform: w[i] = 1; break;
      case Importance::SigmaPlusAbs: w[i] = sigma + std::fabs(x[i]); break;
      case Importance::SigmaSqPlusSq: w[i] = sigma2 + x[i] * x[i]; break;
      case Importance::Square: w[i] = x[i] * x[i]; break;
    }
  }
}

// sigma + |x| for both, the weighting the common quantizer's K types use
// without activation statistics. Other weightings were not compared on
// model KL yet.
Importance importance_for_k_types() { return Importance::SigmaPlusAbs; }

Importance importance_for_32_block_types() { return Importance::SigmaPlusAbs; }

}  // namespace lineage::quant
