#include "quant/fit.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace lineage::quant {

namespace {

// Round to nearest even for |v| < 2^22 with plain SSE2 arithmetic, so loops
// using it vectorise (std::nearbyint is a library call on baseline x86-64).
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// Sums a short array in a fixed order.
inline float sum_of(const float* e, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += e[i];
  return s;
}

// Rounds v to the nearest integer in [lo, hi]; clamps in float first so a
// huge quotient never overflows the conversion.
inline int clamp_round(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;  // also catches NaN
  if (v >= static_cast<float>(hi)) return hi;
  return std::min(hi, std::max(lo, round_int(v)));
}

struct Event {
  float t;
  int i;
  bool operator<(const Event& o) const { return t < o.t || (t == o.t && i < o.i); }
};

// The sweep for a positive scale with codes in [lo, hi]: returns the best
// objective (sum wxq)^2 / (sum wq^2) (0 if none) and writes its codes.
// Wide code ranges sweep only 1/s in [0.7, 1.15] times the point where the
// first value reaches the end of its range: far below it the codes waste
// most of their range, far above it the clipping costs more than the
// finer step gains. Narrow ranges (3 bits) sweep everything.
double sweep_positive(const float* x, const float* w, int n, int lo, int hi, int8_t* q, double* scale) {
  float t_sat = INFINITY;
  int widest = 0;
  for (int i = 0; i < n; ++i) {
    if (x[i] == 0 || w[i] <= 0) continue;
    const int limit = x[i] > 0 ? hi : -lo;
    widest = std::max(widest, limit);
    t_sat = std::min(t_sat, (static_cast<float>(limit) + 0.5f) / std::fabs(x[i]));
  }
  std::fill(q, q + n, 0);
  if (widest == 0 || !std::isfinite(t_sat)) return 0;
  const bool windowed = widest >= 8;
  const float t_lo = windowed ? 0.7f * t_sat : 0.0f, t_hi = windowed ? 1.15f * t_sat : INFINITY;

  int mag[kMaxGroup];
  Event events[kMaxGroup * 130];
  int n_events = 0;
  double sxq = 0, sqq = 0;
  for (int i = 0; i < n; ++i) {
    mag[i] = 0;
    if (x[i] == 0 || w[i] <= 0) continue;
    const float ax = std::fabs(x[i]);
    const int limit = std::min(x[i] > 0 ? hi : -lo, 128);
    mag[i] = std::min(limit, static_cast<int>(std::floor(t_lo * ax + 0.5f)));
    sxq += static_cast<double>(w[i]) * ax * mag[i];
    sqq += static_cast<double>(w[i]) * mag[i] * mag[i];
    for (int k = mag[i] + 1; k <= limit; ++k) {
      const float t = (static_cast<float>(k) - 0.5f) / ax;
      if (t > t_hi) break;
      events[n_events++] = {t, i};
    }
  }
  std::sort(events, events + n_events);
  double best = sqq > 0 ? sxq * sxq / sqq : 0;
  *scale = sqq > 0 ? sxq / sqq : 0;
  int best_events = 0;
  for (int ev = 0; ev < n_events; ++ev) {
    const int i = events[ev].i;
    const int k = mag[i] + 1;  // events of one value come in code order
    mag[i] = k;
    sxq += w[i] * std::fabs(x[i]);
    sqq += w[i] * static_cast<double>(2 * k - 1);
    if (sxq * sxq > best * sqq) {
      best = sxq * sxq / sqq;
      best_events = ev + 1;
      *scale = sxq / sqq;
    }
  }
  // Replay: the starting codes, then the events up to the best state.
  for (int i = 0; i < n; ++i) {
    if (x[i] == 0 || w[i] <= 0) continue;
    const int limit = std::min(x[i] > 0 ? hi : -lo, 128);
    const int m = std::min(limit, static_cast<int>(std::floor(t_lo * std::fabs(x[i]) + 0.5f)));
    q[i] = static_cast<int8_t>(x[i] > 0 ? m : -m);
  }
  for (int ev = 0; ev < best_events; ++ev) {
    const int i = events[ev].i;
    q[i] = static_cast<int8_t>(q[i] + (x[i] > 0 ? 1 : -1));
  }
  return best;
}

// Weighted least-squares scale and offset for fixed codes.
bool refit_affine(const float* x, const float* w, int n, const uint8_t* q, bool nonpositive_offset, Affine* out) {
  double sw = 0, sx = 0, sq = 0, sqq = 0, sxq = 0;
  for (int i = 0; i < n; ++i) {
    sw += w[i];
    sx += w[i] * x[i];
    sq += w[i] * q[i];
    sqq += w[i] * q[i] * q[i];
    sxq += w[i] * x[i] * q[i];
  }
  const double det = sw * sqq - sq * sq;
  if (sw <= 0) return false;
  double a, b;
  if (det > 1e-12 * sw * sqq) {
    a = (sw * sxq - sx * sq) / det;
    b = (sqq * sx - sq * sxq) / det;
  } else {  // all codes equal: the offset alone
    a = 0;
    b = sx / sw;
  }
  if (nonpositive_offset && b > 0) {
    b = 0;
    a = sqq > 0 ? sxq / sqq : 0;
  }
  if (a < 0) {  // codes anti-correlated with x: a flat fit is better
    a = 0;
    b = sx / sw;
    if (nonpositive_offset && b > 0) b = 0;
  }
  out->scale = static_cast<float>(a);
  out->offset = static_cast<float>(b);
  return true;
}

}  // namespace

double symmetric_error(const float* x, const float* w, int n, float s, int qmin, int qmax, int8_t* q) {
  // Float arithmetic with a clamp before the conversion: branch-free, so the
  // compiler vectorises it; this loop is where the searches spend their time.
  const float inv = s != 0 ? 1.0f / s : 0.0f;
  const float lo = static_cast<float>(qmin), hi = static_cast<float>(qmax);
  float e[kMaxGroup], l[kMaxGroup];
  for (int i = 0; i < n; ++i) {
    l[i] = round_even(std::min(std::max(x[i] * inv, lo), hi));
    const float d = x[i] - s * l[i];
    e[i] = w[i] * d * d;
  }
  if (q)
    for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(l[i]);
  return sum_of(e, n);
}

float fit_symmetric(const float* x, const float* w, int n, int qmin, int qmax, int8_t* q) {
  int8_t qa[kMaxGroup], qb[kMaxGroup];
  double sa = 0, sb = 0;
  const double ba = sweep_positive(x, w, n, qmin, qmax, qa, &sa);
  // A negative scale is the positive sweep over the mirrored code range.
  const double bb = sweep_positive(x, w, n, -qmax, -qmin, qb, &sb);
  if (ba <= 0 && bb <= 0) {
    std::fill(q, q + n, 0);
    return 0;
  }
  if (ba >= bb) {
    std::copy_n(qa, n, q);
    return static_cast<float>(sa);
  }
  for (int i = 0; i < n; ++i) q[i] = static_cast<int8_t>(-qb[i]);
  return static_cast<float>(-sb);
}

double affine_error(const float* x, const float* w, int n, float scale, float offset, int qmax, uint8_t* q) {
  const float inv = scale > 0 ? 1.0f / scale : 0.0f;
  const float hi = static_cast<float>(qmax);
  float e[kMaxGroup], l[kMaxGroup];
  for (int i = 0; i < n; ++i) {
    l[i] = round_even(std::min(std::max((x[i] - offset) * inv, 0.0f), hi));
    const float d = x[i] - (scale * l[i] + offset);
    e[i] = w[i] * d * d;
  }
  if (q)
    for (int i = 0; i < n; ++i) q[i] = static_cast<uint8_t>(l[i]);
  return sum_of(e, n);
}

Affine fit_affine(const float* x, const float* w, int n, int qmax, bool nonpositive_offset, uint8_t* q) {
  float mn = x[0], mx = x[0];
  for (int i = 1; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
  }
  if (nonpositive_offset) mn = std::min(mn, 0.0f);
  Affine best{0, mn};
  if (!(mx > mn)) {
    // Constant values (or all >= 0 with a zero-only range): offset only.
    best.offset = nonpositive_offset ? std::min(mn, 0.0f) : mn;
    if (nonpositive_offset && mx > 0) best = Affine{mx / static_cast<float>(qmax), 0};
    affine_error(x, w, n, best.scale, best.offset, qmax, q);
    return best;
  }
  double best_err = affine_error(x, w, n, (mx - mn) / qmax, mn, qmax, q);
  best = Affine{(mx - mn) / qmax, mn};
  uint8_t cand[kMaxGroup], prev_start[kMaxGroup];
  bool have_prev = false;
  // Candidate steps: the range split into qmax - 1 .. qmax + 1.5 steps, each
  // rounded from the minimum, then refined by refit/re-round alternation.
  for (int k = -10; k <= 25; ++k) {
    const float steps = static_cast<float>(qmax) + 0.1f * static_cast<float>(k);
    if (steps <= 0) continue;
    Affine a{(mx - mn) / steps, mn};
    affine_error(x, w, n, a.scale, a.offset, qmax, cand);
    // Neighbouring candidates often round to the same codes, and equal codes
    // refine to the same fit: skip them.
    if (have_prev && std::equal(cand, cand + n, prev_start)) continue;
    std::copy_n(cand, n, prev_start);
    have_prev = true;
    double prev = INFINITY;
    for (int it = 0; it < 6; ++it) {
      Affine r;
      if (!refit_affine(x, w, n, cand, nonpositive_offset, &r)) break;
      const double err = affine_error(x, w, n, r.scale, r.offset, qmax, cand);
      if (err < best_err) {
        best_err = err;
        best = r;
        std::copy_n(cand, n, q);
      }
      if (err >= prev) break;
      prev = err;
    }
  }
  return best;
}

}  // namespace lineage::quant
