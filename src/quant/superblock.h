// Scale searches for the K types' super-blocks: sub-blocks each fitted on
// their own, then one F16 super-scale (and super-min) with small integer
// sub-scales, chosen by the error that remains once those integers are
// rounded and every value is re-coded with the scales it will really get.
#pragma once
#include <cstdint>

namespace lineage::quant {

struct SymmetricLayout {
  int n_sub, sub;      // sub-blocks and values in each
  int qmin, qmax;      // value codes
  int scmin, scmax;    // integer sub-scales
};

// y[j*sub + i] = d * sc[j] * q[j*sub + i]; returns d (exactly representable in
// F16). All zero when x is.
float fit_symmetric_superblock(const float* x, const float* w, const SymmetricLayout& l, int* sc, int8_t* q);

struct AffineLayout {
  int n_sub, sub;
  int qmax;   // codes 0..qmax
  int scmax;  // sub-scales and sub-mins 0..scmax
};

struct AffineSuper {
  float d = 0, dmin = 0;  // exactly representable in F16
};

// y[j*sub + i] = d * sc[j] * q[j*sub + i] - dmin * mn[j].
AffineSuper fit_affine_superblock(const float* x, const float* w, const AffineLayout& l, int* sc, int* mn, uint8_t* q);

}  // namespace lineage::quant
