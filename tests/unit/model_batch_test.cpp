// Model::forward_batch: several sequences of different lengths and
// positions (fresh, continuing a cache, overwriting a cache's tail) in one
// pass give, bit for bit and on every instruction set, the logits and the
// cache contents that separate forward() calls give; the hidden states it
// returns times the output matrix are the golden-tested logits; a bad
// sequence is an Error that writes nothing.
#include <gtest/gtest.h>

#include <cstring>

#include "kernels_test_util.h"
#include "model_test_util.h"

namespace lineage::model_test {
namespace {

std::vector<int32_t> some_tokens(int n, int n_vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab));
  return t;
}

// The first n positions of every layer's keys and values.
bool same_cache(const KVCache& a, const KVCache& b, int n) {
  if (a.n_past() != b.n_past()) return false;
  for (int l = 0; l < a.n_layer(); ++l)
    for (int h = 0; h < a.n_head_kv(l); ++h) {
      const size_t at = static_cast<size_t>(h) * a.n_ctx() * a.head_dim(), len = static_cast<size_t>(n) * a.head_dim();
      if (std::memcmp(a.k(l) + at, b.k(l) + at, len * sizeof(float)) != 0) return false;
      if (std::memcmp(a.v(l) + at, b.v(l) + at, len * sizeof(float)) != 0) return false;
    }
  return true;
}

struct Case {
  std::vector<int32_t> history;  // already in the cache before the call
  int pos;                       // where the call starts (<= history.size())
  std::vector<int32_t> tokens;
  bool all_logits;
};

// Runs the cases once together and once each alone, from identical caches,
// and compares everything bit for bit.
void check_batch_equals_alone(const Model& m, const std::vector<Case>& cases, ThreadPool& pool) {
  const int nv = m.config().n_vocab, n_ctx = 1024;
  std::vector<std::unique_ptr<KVCache>> together, alone;
  std::vector<std::vector<float>> lt(cases.size()), la(cases.size());
  std::vector<SeqBatch> batch;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    for (auto* v : {&together, &alone}) {
      v->push_back(std::make_unique<KVCache>(m.config(), n_ctx));
      std::vector<float> scratch(nv);
      if (!c.history.empty())
        m.forward(c.history.data(), static_cast<int>(c.history.size()), 0, *v->back(), scratch.data(), false, pool);
    }
    const size_t nl = c.all_logits ? c.tokens.size() * nv : nv;
    lt[i].assign(nl, 0.0f);
    la[i].assign(nl, 1.0f);
    SeqBatch b;
    b.tokens = c.tokens.data();
    b.n = static_cast<int>(c.tokens.size());
    b.pos = c.pos;
    b.cache = together[i].get();
    b.logits = lt[i].data();
    b.all_logits = c.all_logits;
    batch.push_back(b);
  }
  m.forward_batch(batch.data(), static_cast<int>(batch.size()), pool);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    m.forward(c.tokens.data(), static_cast<int>(c.tokens.size()), c.pos, *alone[i], la[i].data(), c.all_logits, pool);
    SCOPED_TRACE("sequence " + std::to_string(i));
    EXPECT_EQ(std::memcmp(lt[i].data(), la[i].data(), lt[i].size() * sizeof(float)), 0);
    const int n_past = c.pos + static_cast<int>(c.tokens.size());
    EXPECT_EQ(together[i]->n_past(), n_past);
    EXPECT_TRUE(same_cache(*together[i], *alone[i], n_past));
  }
}

std::vector<Case> mixed_cases(int nv) {
  return {
      {{}, 0, some_tokens(7, nv, 1), false},                              // a fresh prompt
      {some_tokens(5, nv, 2), 5, some_tokens(1, nv, 3), false},           // one token continuing a cache
      {{}, 0, some_tokens(12, nv, 4), true},                              // every position's logits
      {some_tokens(9, nv, 5), 4, some_tokens(3, nv, 6), true},            // overwriting a cache's tail
      {some_tokens(20, nv, 7), 20, some_tokens(2, nv, 8), false},         // a slice further on
  };
}

class ModelBatch : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelBatch, SequencesTogetherEqualEachAloneOnEveryIsa) {
  auto model = load_model(shared_path("golden/llamacpp/" + std::string(GetParam()) + ".gguf"));
  ThreadPool pool(2);
  test::for_each_isa([&](Isa) { check_batch_equals_alone(*model, mixed_cases(model->config().n_vocab), pool); });
}

INSTANTIATE_TEST_SUITE_P(Model, ModelBatch,
                         // Each kernel's rows are independent of the batch (model_isa_test); these
                         // cover a float, a block and a K-quant type, and the expert path.
                         ::testing::Values("tiny-11-F32", "tiny-11-Q4_0", "tiny-11-Q4_K_M", "moe-13-F32"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// More rows than one slice of the layers holds: sequences straddle slices.
TEST(ModelBatchLarge, RowsBeyondOneSliceEqualEachAlone) {
  auto model = load_model(shared_path("golden/llamacpp/tiny-11-Q8_0.gguf"));
  const int nv = model->config().n_vocab;
  ThreadPool pool(2);
  check_batch_equals_alone(*model,
                           {{{}, 0, some_tokens(300, nv, 11), false},
                            {some_tokens(10, nv, 12), 10, some_tokens(400, nv, 13), true},
                            {{}, 0, some_tokens(1, nv, 14), false}},
                           pool);
}

// A small random Llama 4 (interleaved MoE with a shared expert, chunked
// RoPE layers with QK norm, a NoPE layer with temperature tuning), written
// with chunks of 8 positions so the cases above cross chunk boundaries.
std::string write_random_llama4(const std::string& path) {
  const int embd = 64, n_head = 4, n_kv = 2, hd = 16, ff = 96, ff_e = 48, n_exp = 4, n_layer = 4, nv = 80;
  GGUFWriter w;
  w.set_string("general.architecture", "llama4");
  w.set_u32("llama4.embedding_length", embd);
  w.set_u32("llama4.block_count", n_layer);
  w.set_u32("llama4.context_length", 1024);
  w.set_u32("llama4.attention.head_count", n_head);
  w.set_u32("llama4.attention.head_count_kv", n_kv);
  w.set_u32("llama4.feed_forward_length", ff);
  w.set_u32("llama4.expert_count", n_exp);
  w.set_u32("llama4.expert_used_count", 1);
  w.set_u32("llama4.interleave_moe_layer_step", 2);
  w.set_u32("llama4.expert_feed_forward_length", ff_e);
  w.set_u32("llama4.attention.chunk_size", 8);
  GGUFValue rope_layers;
  rope_layers.type = GGUFType::ARRAY;
  rope_layers.elem_type = GGUFType::U32;
  rope_layers.ints = {1, 1, 1, 0};
  w.set("llama4.no_rope_layers", rope_layers);
  w.set_f32("llama4.attention.floor_scale", 4.0f);  // the NoPE scale changes every few positions
  w.set_f32("llama4.attention.layer_norm_rms_epsilon", 1e-5f);
  static std::vector<std::vector<float>> store;  // alive until write() returns
  store.clear();
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  auto add = [&](const std::string& name, std::vector<int64_t> dims, float base = 0) {
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    store.emplace_back(n);
    for (float& x : store.back()) x = base + u(rng);
    w.add_tensor(name, dims, DType::F32, store.back().data(), n * sizeof(float));
  };
  add("token_embd.weight", {embd, nv});
  add("output_norm.weight", {embd}, 1.0f);
  add("output.weight", {embd, nv});
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {embd}, 1.0f);
    add(p + "attn_q.weight", {embd, n_head * hd});
    add(p + "attn_k.weight", {embd, n_kv * hd});
    add(p + "attn_v.weight", {embd, n_kv * hd});
    add(p + "attn_output.weight", {n_head * hd, embd});
    add(p + "ffn_norm.weight", {embd}, 1.0f);
    if ((l + 1) % 2 != 0) {
      add(p + "ffn_gate.weight", {embd, ff});
      add(p + "ffn_up.weight", {embd, ff});
      add(p + "ffn_down.weight", {ff, embd});
      continue;
    }
    add(p + "ffn_gate_inp.weight", {embd, n_exp});
    add(p + "ffn_gate_exps.weight", {embd, ff_e, n_exp});
    add(p + "ffn_up_exps.weight", {embd, ff_e, n_exp});
    add(p + "ffn_down_exps.weight", {ff_e, embd, n_exp});
    add(p + "ffn_gate_shexp.weight", {embd, ff_e});
    add(p + "ffn_up_shexp.weight", {embd, ff_e});
    add(p + "ffn_down_shexp.weight", {ff_e, embd});
  }
  w.write(path);
  store.clear();
  return path;
}

TEST(ModelBatchLlama4, SequencesTogetherEqualEachAloneAcrossChunks) {
  auto model = load_model(write_random_llama4(::testing::TempDir() + "lineage_batch_llama4.gguf"));
  ASSERT_EQ(model->config().arch, "llama4");
  ThreadPool pool(2);
  std::vector<Case> cases = mixed_cases(model->config().n_vocab);
  cases.push_back({some_tokens(6, 80, 9), 6, some_tokens(5, 80, 10), true});  // from inside a chunk into the next
  test::for_each_isa([&](Isa) { check_batch_equals_alone(*model, cases, pool); });
}

// The hidden states, times the output matrix in double precision here,
// give the logits forward() computes, which match the independent engine's.
TEST(ModelBatchHidden, HiddenTimesOutputMatrixIsTheGoldenLogits) {
  const std::string path = shared_path("golden/llamacpp/tiny-11-F32.gguf");
  auto file = std::shared_ptr<const GGUFFile>(GGUFFile::open(path));
  auto model = Model::load(file);
  Golden g = read_golden(shared_path("golden/llamacpp/tiny-11-F32.logits.jsonl"));
  const ModelConfig& c = model->config();
  const GGUFTensor* out = file->find_tensor("output.weight");
  if (!out) out = &file->tensor("token_embd.weight");
  ASSERT_EQ(out->type, DType::F32);
  const float* w = reinterpret_cast<const float*>(out->data);
  const int n = static_cast<int>(g.tokens.size());
  ThreadPool pool(2);

  KVCache cache(c, n);
  std::vector<float> hidden(static_cast<size_t>(n) * c.n_embd), logits(static_cast<size_t>(n) * c.n_vocab);
  SeqBatch b;
  b.tokens = g.tokens.data();
  b.n = n;
  b.cache = &cache;
  b.logits = logits.data();
  b.all_logits = true;
  b.hidden = hidden.data();
  model->forward_batch(&b, 1, pool);
  EXPECT_EQ(logits, logits_batched(*model, g.tokens, pool));

  for (int p = 0; p < n; ++p) {
    double worst = 0, dot = 0, na = 0, nb = 0;
    for (int v = 0; v < c.n_vocab; ++v) {
      double acc = 0;
      for (int j = 0; j < c.n_embd; ++j)
        acc += static_cast<double>(hidden[static_cast<size_t>(p) * c.n_embd + j]) * w[static_cast<size_t>(v) * c.n_embd + j];
      const double mine = logits[static_cast<size_t>(p) * c.n_vocab + v], gold = g.logits[p][v];
      worst = std::max(worst, std::abs(acc - mine) / (1.0 + std::abs(mine)));
      dot += acc * gold;
      na += acc * acc;
      nb += gold * gold;
    }
    EXPECT_LT(worst, 1e-4) << "position " << p;
    EXPECT_GE(dot / std::sqrt(na * nb), 0.999) << "position " << p;
  }
}

// An architecture that only implements forward() gets the default
// forward_batch, which runs the sequences one after another.
class ForwardOnly final : public Model {
 public:
  explicit ForwardOnly(std::unique_ptr<Model> inner)
      : Model(inner->file_ptr(), inner->config()), inner_(std::move(inner)) {}
  void forward(const int32_t* tokens, int n, int pos, KVCache& cache, float* logits, bool all_logits,
               ThreadPool& pool) const override {
    inner_->forward(tokens, n, pos, cache, logits, all_logits, pool);
  }

 private:
  std::unique_ptr<Model> inner_;
};

TEST(ModelBatchDefault, LoopsForwardAndRefusesHiddenStates) {
  ForwardOnly model(load_model(shared_path("golden/llamacpp/tiny-11-Q4_0.gguf")));
  const int nv = model.config().n_vocab;
  ThreadPool pool(2);
  check_batch_equals_alone(model, mixed_cases(nv), pool);
  KVCache cache(model.config(), 8);
  std::vector<float> hidden(static_cast<size_t>(model.config().n_embd));
  const int32_t t = 1;
  SeqBatch b;
  b.tokens = &t;
  b.n = 1;
  b.cache = &cache;
  b.hidden = hidden.data();
  EXPECT_THROW(model.forward_batch(&b, 1, pool), Error);
  EXPECT_EQ(cache.n_past(), 0);
}

TEST(ModelBatchErrors, ABadSequenceIsAnErrorAndWritesNothing) {
  auto model = load_model(shared_path("golden/llamacpp/tiny-11-F32.gguf"));
  const int nv = model->config().n_vocab;
  ThreadPool pool(1);
  KVCache a(model->config(), 32), b(model->config(), 32);
  std::vector<float> la(nv), lb(nv);
  const auto good = some_tokens(4, nv, 1);
  model->forward(good.data(), 4, 0, a, la.data(), false, pool);
  const std::vector<float> before(a.k(0), a.k(0) + 4 * a.head_dim());
  std::vector<int32_t> bad = {1, nv, 2};
  SeqBatch seqs[2];
  seqs[0].tokens = good.data();
  seqs[0].n = 4;
  seqs[0].pos = 2;
  seqs[0].cache = &a;
  seqs[0].logits = la.data();
  seqs[1].tokens = bad.data();
  seqs[1].n = 3;
  seqs[1].cache = &b;
  seqs[1].logits = lb.data();
  try {
    model->forward_batch(seqs, 2, pool);
    FAIL() << "no error for a token outside the vocabulary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(a.n_past(), 4);
  EXPECT_EQ(std::memcmp(before.data(), a.k(0), before.size() * sizeof(float)), 0);
  EXPECT_EQ(b.n_past(), 0);

  seqs[1] = seqs[0];  // the same cache twice
  EXPECT_THROW(model->forward_batch(seqs, 2, pool), Error);
  EXPECT_THROW(model->forward_batch(seqs, 0, pool), Error);
  seqs[0].pos = 5;  // past what the cache holds
  EXPECT_THROW(model->forward_batch(seqs, 1, pool), Error);
  EXPECT_EQ(a.n_past(), 4);
}

}  // namespace
}  // namespace lineage::model_test
