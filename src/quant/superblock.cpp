#include "quant/superblock.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/fit.h"
#include "tensor/fp16.h"

namespace lineage::quant {

namespace {

constexpr int kMaxSub = 16;
constexpr int kMaxValues = 256;

float to_f16_value(float v) { return fp16_to_f32(f32_to_fp16(v)); }

int clamp_int(double v, int lo, int hi) {
  if (!(v > lo)) return lo;
  if (v >= hi) return hi;
  return static_cast<int>(v);
}

struct SymState {
  float d = 0;
  int sc[kMaxSub] = {};
  int8_t q[kMaxValues] = {};
  double err = INFINITY;
};

// Rounds each sub-scale to the better of its two neighbouring integers
// under super-scale d (made F16 first), re-coding the values.
void choose_symmetric(const float* x, const float* w, const SymmetricLayout& l, const float* s, float d, SymState& st) {
  st.d = to_f16_value(d);
  st.err = INFINITY;
  if (!(st.d != 0) || !std::isfinite(st.d)) return;
  double total = 0;
  int8_t tmp[kMaxValues];
  for (int j = 0; j < l.n_sub; ++j) {
    const float* xj = x + j * l.sub;
    const float* wj = w + j * l.sub;
    const double c = s[j] / st.d;
    const int lo = clamp_int(std::floor(c), l.scmin, l.scmax), hi = clamp_int(std::ceil(c), l.scmin, l.scmax);
    double best = symmetric_error(xj, wj, l.sub, st.d * lo, l.qmin, l.qmax, st.q + j * l.sub);
    st.sc[j] = lo;
    if (hi != lo) {
      const double e = symmetric_error(xj, wj, l.sub, st.d * hi, l.qmin, l.qmax, tmp);
      if (e < best) {
        best = e;
        st.sc[j] = hi;
        std::copy_n(tmp, l.sub, st.q + j * l.sub);
      }
    }
    total += best;
  }
  st.err = total;
}

// Least-squares super-scale for fixed sub-scales and codes.
float refit_symmetric(const float* x, const float* w, const SymmetricLayout& l, const SymState& st) {
  double num = 0, den = 0;
  for (int j = 0; j < l.n_sub; ++j)
    for (int i = 0; i < l.sub; ++i) {
      const int k = j * l.sub + i;
      const double a = static_cast<double>(st.sc[j]) * st.q[k];
      num += w[k] * x[k] * a;
      den += w[k] * a * a;
    }
  return den > 0 ? static_cast<float>(num / den) : 0.0f;
}

struct AffState {
  AffineSuper s;
  int sc[kMaxSub] = {}, mn[kMaxSub] = {};
  uint8_t q[kMaxValues] = {};
  double err = INFINITY;
};

void choose_affine(const float* x, const float* w, const AffineLayout& l, const float* scale, const float* min,
                   float d, float dmin, AffState& st) {
  st.s.d = to_f16_value(d);
  st.s.dmin = to_f16_value(dmin);
  st.err = INFINITY;
  if (!(st.s.d > 0) || !std::isfinite(st.s.d) || !(st.s.dmin >= 0) || !std::isfinite(st.s.dmin)) return;
  double total = 0;
  uint8_t tmp[kMaxValues];
  for (int j = 0; j < l.n_sub; ++j) {
    const float* xj = x + j * l.sub;
    const float* wj = w + j * l.sub;
    const double cs = scale[j] / st.s.d;
    const double cm = st.s.dmin > 0 ? min[j] / st.s.dmin : 0;
    const int s_lo = clamp_int(std::floor(cs), 0, l.scmax), s_hi = clamp_int(std::ceil(cs), 0, l.scmax);
    const int m_lo = clamp_int(std::floor(cm), 0, l.scmax), m_hi = clamp_int(std::ceil(cm), 0, l.scmax);
    double best = INFINITY;
    for (int sc : {s_lo, s_hi}) {
      for (int mn : {m_lo, m_hi}) {
        const double e = affine_error(xj, wj, l.sub, st.s.d * sc, -st.s.dmin * mn, l.qmax, tmp);
        if (e < best) {
          best = e;
          st.sc[j] = sc;
          st.mn[j] = mn;
          std::copy_n(tmp, l.sub, st.q + j * l.sub);
        }
        if (m_hi == m_lo) break;
      }
      if (s_hi == s_lo) break;
    }
    total += best;
  }
  st.err = total;
}

// Least-squares (d, dmin) for fixed sub-scales, sub-mins and codes: the
// model is linear in both, y = d * (sc * q) - dmin * mn.
void refit_affine_super(const float* x, const float* w, const AffineLayout& l, const AffState& st, float* d,
                        float* dmin) {
  double aa = 0, ab = 0, bb = 0, xa = 0, xb = 0;
  for (int j = 0; j < l.n_sub; ++j)
    for (int i = 0; i < l.sub; ++i) {
      const int k = j * l.sub + i;
      const double a = static_cast<double>(st.sc[j]) * st.q[k], b = -static_cast<double>(st.mn[j]);
      aa += w[k] * a * a;
      ab += w[k] * a * b;
      bb += w[k] * b * b;
      xa += w[k] * x[k] * a;
      xb += w[k] * x[k] * b;
    }
  const double det = aa * bb - ab * ab;
  double nd = st.s.d, nm = st.s.dmin;
  if (bb > 0 && det > 1e-12 * aa * bb) {
    nd = (xa * bb - xb * ab) / det;
    nm = (aa * xb - ab * xa) / det;
  } else if (aa > 0) {
    nd = xa / aa;
  }
  if (nm < 0) {  // the mins only subtract
    nm = 0;
    if (aa > 0) nd = xa / aa;
  }
  *d = static_cast<float>(nd);
  *dmin = static_cast<float>(nm);
}

}  // namespace

float fit_symmetric_superblock(const float* x, const float* w, const SymmetricLayout& l, int* sc, int8_t* q) {
  float s[kMaxSub];
  for (int j = 0; j < l.n_sub; ++j)
    s[j] = fit_symmetric(x + j * l.sub, w + j * l.sub, l.sub, l.qmin, l.qmax, q + j * l.sub);
  float smax = 0;
  for (int j = 0; j < l.n_sub; ++j)
    if (std::fabs(s[j]) > std::fabs(smax)) smax = s[j];
  const int n = l.n_sub * l.sub;
  if (smax == 0) {
    std::fill(sc, sc + l.n_sub, 0);
    std::fill(q, q + n, 0);
    return 0;
  }
  SymState best, cur, next;
  // The largest sub-scale mapped to (near) either end of the integer range.
  for (float delta : {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f}) {
    for (float end : {static_cast<float>(l.scmax) - delta, static_cast<float>(l.scmin) + delta}) {
      if (end == 0) continue;
      choose_symmetric(x, w, l, s, smax / end, cur);
      for (int it = 0; it < 3 && std::isfinite(cur.err); ++it) {
        choose_symmetric(x, w, l, s, refit_symmetric(x, w, l, cur), next);
        if (!(next.err < cur.err)) break;
        cur = next;
      }
      if (cur.err < best.err) best = cur;
    }
  }
  if (!std::isfinite(best.err)) {  // every candidate overflowed F16
    std::fill(sc, sc + l.n_sub, 0);
    std::fill(q, q + n, 0);
    return 0;
  }
  std::copy_n(best.sc, l.n_sub, sc);
  std::copy_n(best.q, n, q);
  return best.d;
}

AffineSuper fit_affine_superblock(const float* x, const float* w, const AffineLayout& l, int* sc, int* mn,
                                  uint8_t* q) {
  float scale[kMaxSub], min[kMaxSub];
  float smax = 0, mmax = 0;
  for (int j = 0; j < l.n_sub; ++j) {
    const Affine a = fit_affine(x + j * l.sub, w + j * l.sub, l.sub, l.qmax, true, q + j * l.sub);
    scale[j] = a.scale;
    min[j] = -a.offset;
    smax = std::max(smax, scale[j]);
    mmax = std::max(mmax, min[j]);
  }
  const int n = l.n_sub * l.sub;
  AffState best, cur, next;
  if (smax == 0) {
    // Only a min: every value reconstructs to -dmin * mn.
    choose_affine(x, w, l, scale, min, 1.0f, mmax / l.scmax, cur);
    std::fill(sc, sc + l.n_sub, 0);
    std::copy_n(cur.mn, l.n_sub, mn);
    std::fill(q, q + n, 0);
    return AffineSuper{0, cur.s.dmin};
  }
  const float steps[] = {0.0f, 0.5f, 1.0f, 2.0f};
  for (float ds : steps) {
    for (float dm : steps) {
      if (mmax == 0 && dm != 0) continue;
      choose_affine(x, w, l, scale, min, smax / (l.scmax - ds), mmax / (l.scmax - dm), cur);
      for (int it = 0; it < 3 && std::isfinite(cur.err); ++it) {
        float d, dmin;
        refit_affine_super(x, w, l, cur, &d, &dmin);
        choose_affine(x, w, l, scale, min, d, dmin, next);
        if (!(next.err < cur.err)) break;
        cur = next;
      }
      if (cur.err < best.err) best = cur;
    }
  }
  if (!std::isfinite(best.err)) {
    std::fill(sc, sc + l.n_sub, 0);
    std::fill(mn, mn + l.n_sub, 0);
    std::fill(q, q + n, 0);
    return AffineSuper{};
  }
  std::copy_n(best.sc, l.n_sub, sc);
  std::copy_n(best.mn, l.n_sub, mn);
  std::copy_n(best.q, n, q);
  return best.s;
}

}  // namespace lineage::quant
