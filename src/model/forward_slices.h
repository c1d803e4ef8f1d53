// The architecture-neutral frame of a forward pass: rows of one or more
// sequences cut into slices of bounded size, each slice run through an
// architecture's layers, then the final norm and output matrix for the rows
// that want logits. Each architecture file supplies only its layers.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"
#include "model/model_config.h"
#include "nn/matrix.h"

namespace lineage {

class KVCache;
class ThreadPool;

// Prompts longer than this go through the layers in slices of this many
// rows; results do not change (every kernel reduces in a fixed order per
// row) and activation memory stays bounded.
constexpr int kMaxSliceRows = 512;

// Activations of one slice, allocated once per forward call.
struct ForwardScratch {
  std::vector<float> x;     // [nb][n_embd] residual stream
  std::vector<float> xn;    // [nb][n_embd] normed input of a block
  std::vector<float> q;     // [nb][max_q_dim]
  std::vector<float> k;     // [nb][max_kv_dim]
  std::vector<float> v;     // [nb][max_kv_dim]
  std::vector<float> att;   // [nb][max_q_dim]
  std::vector<float> tmp;   // [nb][n_embd] output of a block
  std::vector<float> gate;  // [nb][max_ff] when the model has dense FFN layers
  std::vector<float> up;    // [nb][max_ff]
  std::vector<float> rope;  // [nb][rope_dim] cos/sin table

  ForwardScratch(const ModelConfig& c, int nb, bool dense_ffn);
};

// Rows [row0, row0 + n) of a slice: positions pos + off .. pos + off + n - 1
// of sequence seq.
struct Segment {
  int seq, off, n, row0;
};

// Cuts every sequence's rows, in order, into slices of at most
// kMaxSliceRows (a sequence may straddle two slices) and calls slice(segs,
// rows) for each.
void for_each_slice(const SeqBatch* seqs, int n_seqs,
                    const std::function<void(const std::vector<Segment>& segs, int rows)>& slice);

// The layers of one slice: leave the residual stream of its `rows` rows in
// s.x (row order as in segs), keys and values in each sequence's cache.
using SliceLayers = std::function<void(const std::vector<Segment>& segs, int rows, ForwardScratch& s)>;

// Runs every sequence's rows, in order, through `layers` in slices of at
// most kMaxSliceRows (a sequence may straddle two slices, its earlier
// positions then reach the cache first), then writes logits and hidden
// states as SeqBatch asks, through output_norm and output.
void run_slices(const ModelConfig& c, const SeqBatch* seqs, int n_seqs, bool dense_ffn,
                const std::vector<float>& output_norm, const Matrix& output, const SliceLayers& layers,
                ThreadPool& pool);

// Token embeddings of tokens[0..n) into x ([n][tok_embd.cols]).
void embed_rows(const Matrix& tok_embd, const int32_t* tokens, int n, float* x);

// One position's keys and values (k, v: [n_head_kv][head_dim]) into layer l
// of the cache.
void store_kv(KVCache& cache, int layer, int n_head_kv, int64_t head_dim, int64_t pos, const float* k, const float* v);

}  // namespace lineage
