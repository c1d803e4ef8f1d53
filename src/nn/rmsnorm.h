#pragma once
#include <cstdint>

namespace lineage {

// y = x / sqrt(mean(x^2) + eps) * w, for each of `rows` rows of n floats.
// y may alias x.
void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps);

}  // namespace lineage
