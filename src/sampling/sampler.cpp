#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/error.h"

namespace lineage {

int32_t argmax(const float* logits, int n) {
  int32_t best = 0;
  for (int k = 1; k < n; ++k)
    if (logits[k] > logits[best]) best = k;
  return best;
}

void apply_penalties(float* logits, int n_vocab, const std::vector<int32_t>& history, const SamplerParams& p) {
  if (p.repeat_penalty == 1.0f && p.frequency_penalty == 0.0f && p.presence_penalty == 0.0f) return;
  size_t start = p.repeat_last_n < 0 || history.size() < static_cast<size_t>(p.repeat_last_n)
                     ? 0
                     : history.size() - static_cast<size_t>(p.repeat_last_n);
  std::unordered_map<int32_t, int> counts;
  for (size_t k = start; k < history.size(); ++k)
    if (history[k] >= 0 && history[k] < n_vocab) ++counts[history[k]];
  for (const auto& [id, count] : counts) {
    float& l = logits[id];
    if (p.repeat_penalty != 1.0f) l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
    l -= static_cast<float>(count) * p.frequency_penalty + p.presence_penalty;
  }
}

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

namespace {
// Ties are broken by id so the order (and so the draw) is reproducible.
bool by_logit(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

[[noreturn]] void nothing_allowed() {
  fail("grammar: no token of the vocabulary can continue the output from here");
}
}  // namespace

void Sampler::constrained_candidates(const float* logits, int n_vocab, TokenConstraint& c) {
  const size_t n = static_cast<size_t>(n_vocab);
  const size_t k = p_.top_k > 0 ? std::min(static_cast<size_t>(p_.top_k), n) : n;
  cand_.resize(n);
  for (size_t i = 0; i < n; ++i) cand_[i] = {logits[i], static_cast<int32_t>(i)};
  if (k < n) {
    // The k best allowed tokens are usually among the few best overall:
    // look at those one by one before paying for the whole mask.
    const size_t m = std::min(n, std::max<size_t>(4 * k, 64));
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(m), cand_.end(), by_logit);
    size_t got = 0;
    for (size_t i = 0; i < m && got < k; ++i)
      if (c.allows(cand_[i].second)) cand_[got++] = cand_[i];
    if (got == k || m == n) {
      if (got == 0) nothing_allowed();
      cand_.resize(got);
      return;
    }
    for (size_t i = 0; i < n; ++i) cand_[i] = {logits[i], static_cast<int32_t>(i)};
  }
  c.fill_mask(mask_);
  size_t got = 0;
  for (size_t i = 0; i < n; ++i)
    if (mask_[i]) cand_[got++] = cand_[i];
  if (got == 0) nothing_allowed();
  cand_.resize(got);
  const size_t keep = std::min(k, got);
  std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(), by_logit);
  cand_.resize(keep);
}

int32_t Sampler::sample(float* logits, int n_vocab, const std::vector<int32_t>& history, TokenConstraint* constraint) {
  // A NaN would break the sort order below and every probability after it;
  // such a token is simply never chosen.
  for (int k = 0; k < n_vocab; ++k)
    if (std::isnan(logits[k])) logits[k] = -INFINITY;
  apply_penalties(logits, n_vocab, history, p_);
  if (p_.temperature <= 0.0f) {
    int32_t best = argmax(logits, n_vocab);
    if (!constraint || constraint->allows(best)) return best;
    // The best allowed token: the same as the argmax of the masked logits.
    constraint->fill_mask(mask_);
    best = -1;
    for (int k = 0; k < n_vocab; ++k)
      if (mask_[k] && (best < 0 || logits[k] > logits[best])) best = k;
    if (best < 0) nothing_allowed();
    return best;
  }

  size_t keep = 0;
  if (constraint) {
    constrained_candidates(logits, n_vocab, *constraint);
    keep = cand_.size();
  } else {
    cand_.resize(static_cast<size_t>(n_vocab));
    for (int k = 0; k < n_vocab; ++k) cand_[k] = {logits[k], k};
    keep = cand_.size();
    if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < keep) {
      keep = static_cast<size_t>(p_.top_k);
      std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(), by_logit);
    } else {
      std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    cand_.resize(keep);
  }
  // Every allowed token may have an infinitely small logit (all the others were NaN).
  if (constraint && cand_[0].first == -INFINITY) return cand_[0].second;

  // Probabilities at temperature 1 decide what survives top-p and min-p.
  std::vector<double> prob(keep);
  double sum = 0;
  for (size_t k = 0; k < keep; ++k) sum += prob[k] = std::exp(static_cast<double>(cand_[k].first - cand_[0].first));
  for (double& q : prob) q /= sum;
  if (p_.top_p < 1.0f) {
    double acc = 0;
    size_t n = 0;
    while (n < keep) {
      acc += prob[n++];
      if (acc >= p_.top_p) break;
    }
    keep = n;
  }
  if (p_.min_p > 0.0f) {
    size_t n = 1;
    while (n < keep && prob[n] >= p_.min_p * prob[0]) ++n;
    keep = n;
  }

  sum = 0;
  for (size_t k = 0; k < keep; ++k)
    sum += prob[k] = std::exp(static_cast<double>(cand_[k].first - cand_[0].first) / p_.temperature);
  // A draw from our own uniform mapping: std::*_distribution is allowed to
  // differ between standard libraries, which would break reproducibility.
  double u = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0) * sum;
  for (size_t k = 0; k < keep; ++k) {
    if (u < prob[k]) return cand_[k].second;
    u -= prob[k];
  }
  return cand_[keep - 1].second;
}

}  // namespace lineage
