#include "nn/rope.h"

#include <cmath>

namespace lineage {

Rope::Rope(int rope_dim, double freq_base, double freq_scale, const std::vector<float>& factors)
    : rope_dim_(rope_dim), inv_freq_(rope_dim / 2) {
  for (int i = 0; i < rope_dim / 2; ++i) {
    double f = freq_scale * std::pow(freq_base, -2.0 * i / rope_dim);
    if (!factors.empty()) f /= factors[i];
    inv_freq_[i] = f;
  }
}

void Rope::fill(int64_t pos0, int64_t n, float* table) const {
  const int half = rope_dim_ / 2;
  for (int64_t t = 0; t < n; ++t) {
    float* row = table + t * rope_dim_;
    // Angles in double: at positions past ~10^4 a float angle has lost the
    // digits that decide the rotation of the fast pairs.
    const double pos = static_cast<double>(pos0 + t);
    for (int i = 0; i < half; ++i) {
      const double a = pos * inv_freq_[i];
      row[i] = static_cast<float>(std::cos(a));
      row[half + i] = static_cast<float>(std::sin(a));
    }
  }
}

void Rope::apply(float* x, int n_heads, int head_dim, int rope_dim, const float* table_row) {
  const int half = rope_dim / 2;
  const float* c = table_row;
  const float* s = table_row + half;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float x0 = v[2 * i], x1 = v[2 * i + 1];
      v[2 * i] = x0 * c[i] - x1 * s[i];
      v[2 * i + 1] = x0 * s[i] + x1 * c[i];
    }
  }
}

}  // namespace lineage
