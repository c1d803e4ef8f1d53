// Causal multi-head attention with grouped KV heads (GQA/MQA) over a KV
// cache laid out per layer as [n_head_kv][n_ctx][head_dim], so that the
// keys one head reads are contiguous.
#pragma once
#include <cstdint>

namespace lineage {

class ThreadPool;

struct AttentionShape {
  int n_head = 0;
  int n_head_kv = 0;  // divides n_head; query head h reads KV head h / (n_head / n_head_kv)
  int head_dim = 0;
  int sliding_window = 0;  // W > 0: position i sees j iff i - W < j <= i
};

// q:   [n][n_head * head_dim], roped, for positions pos0 .. pos0 + n - 1
// k,v: one layer of the cache, [n_head_kv][n_ctx][head_dim], filled
//      through position pos0 + n - 1
// out: [n][n_head * head_dim]
// scores: scratch of pool.size() * (pos0 + n) floats
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, int64_t n_ctx, int64_t pos0,
               int64_t n, float* out, float* scores, ThreadPool& pool);

// One sequence of a multi-sequence attention call: the arguments of
// attention() above, each sequence with its own cache and positions.
struct AttentionSeq {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t n_ctx = 0;
  int64_t pos0 = 0;
  int64_t n = 0;
  float* out = nullptr;
};

// Every sequence's attention with one hand-out of work to the pool (a batch
// of many one-token sequences would otherwise wake it once per sequence).
// Each row's result is the one attention() gives it.
void attention_multi(const AttentionShape& s, const AttentionSeq* seqs, int n_seqs, ThreadPool& pool);

}  // namespace lineage
