#include "model/forward_slices.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/type_traits.h"
#include "nn/rmsnorm.h"
#include "runtime/kv_cache.h"

namespace lineage {

ForwardScratch::ForwardScratch(const ModelConfig& c, int nb, bool dense_ffn)
    : x(static_cast<size_t>(nb) * c.n_embd),
      xn(x.size()),
      q(static_cast<size_t>(nb) * c.max_q_dim()),
      k(static_cast<size_t>(nb) * c.max_kv_dim()),
      v(k.size()),
      att(q.size()),
      tmp(x.size()),
      gate(dense_ffn ? static_cast<size_t>(nb) * c.max_ff() : 0),
      up(gate.size()),
      rope(static_cast<size_t>(nb) * c.rope_dim) {}

namespace {

// Final norm, then the output matrix once for every row that wants logits
// (the last row of a sequence, or all of its rows).
void write_outputs(const ModelConfig& c, const SeqBatch* seqs, const std::vector<Segment>& segs,
                   const std::vector<float>& output_norm, const Matrix& output, ForwardScratch& s,
                   std::vector<float>& staged, ThreadPool& pool) {
  const size_t ne = static_cast<size_t>(c.n_embd), nv = static_cast<size_t>(c.n_vocab);
  std::vector<std::pair<int, float*>> want;  // (row, destination)
  for (const Segment& g : segs) {
    const SeqBatch& b = seqs[g.seq];
    if (b.hidden)
      rmsnorm(s.x.data() + g.row0 * ne, output_norm.data(), b.hidden + g.off * ne, g.n, c.n_embd, c.norm_eps);
    if (!b.logits) continue;
    if (b.all_logits) {
      for (int t = 0; t < g.n; ++t) want.emplace_back(g.row0 + t, b.logits + (g.off + t) * nv);
    } else if (g.off + g.n == b.n) {
      want.emplace_back(g.row0 + g.n - 1, b.logits);
    }
  }
  if (want.empty()) return;
  const int m = static_cast<int>(want.size());
  bool contiguous = true;
  for (int k = 0; k < m; ++k) {
    rmsnorm(s.x.data() + want[k].first * ne, output_norm.data(), s.xn.data() + k * ne, 1, c.n_embd, c.norm_eps);
    contiguous = contiguous && want[k].second == want[0].second + k * nv;
  }
  if (contiguous) {
    apply(output, s.xn.data(), m, want[0].second, pool);
    return;
  }
  staged.resize(static_cast<size_t>(m) * nv);
  apply(output, s.xn.data(), m, staged.data(), pool);
  for (int k = 0; k < m; ++k) std::memcpy(want[k].second, staged.data() + k * nv, nv * sizeof(float));
}

}  // namespace

void run_slices(const ModelConfig& c, const SeqBatch* seqs, int n_seqs, bool dense_ffn,
                const std::vector<float>& output_norm, const Matrix& output, const SliceLayers& layers,
                ThreadPool& pool) {
  // Positions from pos on are about to be overwritten; should anything fail
  // midway the cache must not claim them.
  int64_t total = 0;
  for (int i = 0; i < n_seqs; ++i) {
    seqs[i].cache->truncate(seqs[i].pos);
    total += seqs[i].n;
  }
  ForwardScratch s(c, static_cast<int>(std::min<int64_t>(total, kMaxSliceRows)), dense_ffn);
  std::vector<float> staged;  // logits of rows bound for several buffers
  for_each_slice(seqs, n_seqs, [&](const std::vector<Segment>& segs, int rows) {
    layers(segs, rows, s);
    for (const Segment& g : segs) seqs[g.seq].cache->set_n_past(seqs[g.seq].pos + g.off + g.n);
    write_outputs(c, seqs, segs, output_norm, output, s, staged, pool);
  });
}

void for_each_slice(const SeqBatch* seqs, int n_seqs,
                    const std::function<void(const std::vector<Segment>& segs, int rows)>& slice) {
  std::vector<Segment> segs;
  int si = 0, off = 0;
  while (si < n_seqs) {
    segs.clear();
    int rows = 0;
    while (si < n_seqs && rows < kMaxSliceRows) {
      const int take = std::min(seqs[si].n - off, kMaxSliceRows - rows);
      segs.push_back(Segment{si, off, take, rows});
      rows += take;
      off += take;
      if (off == seqs[si].n) {
        ++si;
        off = 0;
      }
    }
    slice(segs, rows);
  }
}

void embed_rows(const Matrix& tok_embd, const int32_t* tokens, int n, float* x) {
  const TypeTraits* tr = type_traits(tok_embd.type);
  for (int t = 0; t < n; ++t) tr->to_float(tok_embd.row(tokens[t]), x + static_cast<size_t>(t) * tok_embd.cols, tok_embd.cols);
}

void store_kv(KVCache& cache, int layer, int n_head_kv, int64_t head_dim, int64_t pos, const float* k, const float* v) {
  float* kc = cache.k(layer);
  float* vc = cache.v(layer);
  const int64_t n_ctx = cache.n_ctx();
  for (int h = 0; h < n_head_kv; ++h) {
    const size_t at = static_cast<size_t>((h * n_ctx + pos) * head_dim);
    std::memcpy(kc + at, k + h * head_dim, static_cast<size_t>(head_dim) * sizeof(float));
    std::memcpy(vc + at, v + h * head_dim, static_cast<size_t>(head_dim) * sizeof(float));
  }
}

}  // namespace lineage
