#include "quant/importance.h"

#include <cmath>
#include <cstdlib>

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

namespace {
Importance from_env(const char* name, Importance fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return static_cast<Importance>(std::atoi(v));
}
}  // namespace

Importance importance_for_k_types() {
  static const Importance k = from_env("LINEAGE_QW_K", Importance::SigmaPlusAbs);
  return k;
}

Importance importance_for_32_block_types() {
  static const Importance k = from_env("LINEAGE_QW_32", Importance::SigmaPlusAbs);
  return k;
}

}  // namespace lineage::quant
