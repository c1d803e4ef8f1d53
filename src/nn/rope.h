// Rotary position embedding in the layout of GGUF arch `llama`: adjacent
// pairs (x[2i], x[2i+1]) of the first rope_dim dims of every head rotate by
// angle pos * freq_scale * base^(-2i/rope_dim) / factor[i]; the remaining
// dims of the head pass through unchanged.
#pragma once
#include <cstdint>
#include <vector>

namespace lineage {

class Rope {
 public:
  // freq_scale is 1 / (linear scaling factor); factors holds rope_dim/2
  // per-pair divisors (Llama 3.1 `rope_freqs.weight`) or is empty.
  Rope(int rope_dim, double freq_base, double freq_scale, const std::vector<float>& factors);

  int rope_dim() const { return rope_dim_; }
  // Radians per position of each pair (rope_dim / 2), factors applied.
  const std::vector<double>& inv_freq() const { return inv_freq_; }
  // table: [n][rope_dim] floats; row t holds cos of every pair angle at
  // position pos0 + t, then their sines.
  void fill(int64_t pos0, int64_t n, float* table) const;

  // Rotates every head of one token's vector x ([n_heads][head_dim]) with
  // one row of a table from fill().
  static void apply(float* x, int n_heads, int head_dim, int rope_dim, const float* table_row);

 private:
  int rope_dim_;
  std::vector<double> inv_freq_;  // [rope_dim/2] radians per position
};

}  // namespace lineage
