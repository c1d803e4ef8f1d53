// Weighted least-squares fits of a group of values to integer codes: the
// search every weight quantizer is built from. The error of a fit is
// sum_i w[i] * (x[i] - y[i])^2 where y is the reconstruction. Groups hold at
// most kMaxGroup values (the types use 16 or 32).
#pragma once
#include <cstdint>

namespace lineage::quant {

constexpr int kMaxGroup = 64;

// y = s * q with integer q in [qmin, qmax] (qmin <= 0 <= qmax) and any real s.
// For a fixed s the best codes are round(x / s) clamped, so the optimum is
// among the code vectors met while 1/s sweeps upwards (each value's code
// steps at (k + 1/2) / |x|); each is scored with its own least-squares scale.
// Narrow code ranges sweep everything (the exact optimum); wide ones a window
// around the point where codes start to clip. Returns s (0 when all x or all
// w are 0) and writes the codes.
float fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int8_t* q);

// Error of y = s * clamp(round(x / s)); writes the codes when q is given.
double symmetric_error(const float* x, const float* w, int n, float s, int qmin, int qmax, int8_t* q = nullptr);

// y = scale * q + offset with q in [0, qmax] and scale >= 0.
struct Affine {
  float scale = 0;
  float offset = 0;
};

// Searches candidate scales around (max - min) / qmax, refits scale and
// offset jointly on each candidate's codes, then alternates rounding and
// refitting until nothing improves. With nonpositive_offset the offset is
// kept <= 0 (the K types store it as a subtracted min).
Affine fit_affine(const float* x, const float* w, int n, int qmax, bool nonpositive_offset, uint8_t* q);

// Error of y = scale * clamp(round((x - offset) / scale)) + offset; writes
// the codes when q is given. A zero scale reconstructs every value as offset.
double affine_error(const float* x, const float* w, int n, float scale, float offset, int qmax, uint8_t* q = nullptr);

// Round to nearest, halfway cases away from zero, as an int.
inline int round_int(float v) { return static_cast<int>(v < 0 ? v - 0.5f : v + 0.5f); }

}  // namespace lineage::quant
