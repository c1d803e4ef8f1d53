// The llama variants the golden files do not cover (sliding window, RoPE
// scaling and frequency factors, partial RoPE, tied output, per-layer head
// counts, per-expert MoE tensors, GQA), each checked against an equivalent
// model or a property that must hold, plus the nn blocks they rely on.
#include <gtest/gtest.h>

#include "model_test_util.h"
#include "nn/moe.h"
#include "nn/rope.h"

namespace lineage::model_test {
namespace {

using Shape = SyntheticModel::Shape;

const std::vector<int32_t> kTokens = {1, 17, 42, 5, 66, 23, 9, 71, 30, 2, 55, 12};

std::vector<float> run(const SyntheticModel& m, const std::string& file, const std::vector<int32_t>& toks = kTokens) {
  auto model = load_model(m.write(file));
  ThreadPool pool(2);
  std::vector<float> a = logits_batched(*model, toks, pool);
  EXPECT_LE(max_abs_diff(a, logits_stepwise(*model, toks, pool)), 1e-4f) << file;
  return a;
}

TEST(ModelRope, RotatesAdjacentPairsOfLeadingDims) {
  const int head_dim = 8, rope_dim = 4;
  std::vector<float> factors = {1.0f, 4.0f};
  Rope rope(rope_dim, 100.0, 0.5, factors);
  std::vector<float> table(rope_dim);
  rope.fill(7, 1, table.data());
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8};
  std::vector<float> y = x;
  Rope::apply(y.data(), 2, head_dim, rope_dim, table.data());
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < rope_dim / 2; ++i) {
      const double angle = 7 * 0.5 * std::pow(100.0, -2.0 * i / rope_dim) / factors[i];
      const float x0 = x[h * 8 + 2 * i], x1 = x[h * 8 + 2 * i + 1];
      EXPECT_NEAR(y[h * 8 + 2 * i], x0 * std::cos(angle) - x1 * std::sin(angle), 1e-5);
      EXPECT_NEAR(y[h * 8 + 2 * i + 1], x0 * std::sin(angle) + x1 * std::cos(angle), 1e-5);
    }
    for (int i = rope_dim; i < head_dim; ++i) EXPECT_EQ(y[h * 8 + i], x[h * 8 + i]);
  }
}

TEST(ModelMoe, SelectsTopKAndRenormalizes) {
  const float probs[] = {0.1f, 0.4f, 0.2f, 0.3f};
  int idx[2];
  float w[2];
  moe_select(probs, 4, 2, idx, w);
  EXPECT_EQ(idx[0], 1);
  EXPECT_EQ(idx[1], 3);
  EXPECT_NEAR(w[0], 0.4 / 0.7, 1e-6);
  EXPECT_NEAR(w[1], 0.3 / 0.7, 1e-6);
  const float tie[] = {0.25f, 0.25f, 0.25f, 0.25f};
  moe_select(tie, 4, 2, idx, w);
  EXPECT_EQ(idx[0], 0);
  EXPECT_EQ(idx[1], 1);
}

// RoPE makes attention depend only on relative positions, so in a
// one-layer model with window W the last position sees exactly what a
// fresh run of the last W tokens sees.
TEST(ModelVariants, SlidingWindowLimitsAttention) {
  const int W = 4;
  SyntheticModel m(Shape{.n_layer = 1});
  m.set("llama.attention.sliding_window", SyntheticModel::int_value(W));
  auto model = load_model(m.write("swa.gguf"));
  EXPECT_EQ(model->config().sliding_window, W);
  ThreadPool pool(2);
  const int nv = model->config().n_vocab;
  std::vector<float> full = logits_batched(*model, kTokens, pool);
  EXPECT_LE(max_abs_diff(full, logits_stepwise(*model, kTokens, pool)), 1e-4f);
  std::vector<int32_t> tail(kTokens.end() - W, kTokens.end());
  std::vector<float> fresh = logits_batched(*model, tail, pool);
  std::vector<float> last(full.end() - nv, full.end()), fresh_last(fresh.end() - nv, fresh.end());
  EXPECT_LE(max_abs_diff(last, fresh_last), 1e-4f);

  // Without the window the earlier tokens change the result.
  SyntheticModel plain(Shape{.n_layer = 1});
  std::vector<float> p = run(plain, "no-swa.gguf");
  std::vector<float> p_last(p.end() - nv, p.end());
  EXPECT_GT(max_abs_diff(p_last, fresh_last), 1e-3f);
}

// Linear scaling by s and frequency factors all equal to s divide every
// angle by s alike.
TEST(ModelVariants, LinearScalingEqualsUniformFrequencyFactors) {
  SyntheticModel scaled(Shape{});
  scaled.set("llama.rope.scaling.type", SyntheticModel::string_value("linear"));
  scaled.set("llama.rope.scaling.factor", SyntheticModel::float_value(4.0));
  SyntheticModel factors(Shape{});
  factors.add_f32("rope_freqs.weight", {8}, std::vector<float>(8, 4.0f));
  SyntheticModel plain(Shape{});
  std::vector<float> a = run(scaled, "rope-linear.gguf");
  std::vector<float> b = run(factors, "rope-factors.gguf");
  EXPECT_LE(max_abs_diff(a, b), 1e-4f);
  EXPECT_GT(max_abs_diff(a, run(plain, "rope-plain.gguf")), 1e-3f);
}

TEST(ModelVariants, PartialRopeDimension) {
  SyntheticModel m(Shape{});
  m.set("llama.rope.dimension_count", SyntheticModel::int_value(8));
  SyntheticModel plain(Shape{});
  std::vector<float> a = run(m, "rope-partial.gguf");
  EXPECT_GT(max_abs_diff(a, run(plain, "rope-full.gguf")), 1e-3f);
  SyntheticModel odd(Shape{});
  odd.set("llama.rope.dimension_count", SyntheticModel::int_value(32));
  expect_error([&] { load_model(odd.write("rope-too-wide.gguf")); }, {"llama.rope.dimension_count", "outside"});
}

TEST(ModelVariants, TiedOutputUsesTokenEmbedding) {
  SyntheticModel tied(Shape{});
  tied.erase_tensor("output.weight");
  SyntheticModel untied = tied;
  untied.add_f32("output.weight", {64, 80}, tied.floats("token_embd.weight"));
  EXPECT_EQ(run(tied, "tied.gguf"), run(untied, "untied.gguf"));
}

TEST(ModelVariants, PerLayerHeadCounts) {
  SyntheticModel scalar(Shape{});
  SyntheticModel arrays = scalar;
  arrays.set("llama.attention.head_count", SyntheticModel::int_array({4, 4}));
  arrays.set("llama.attention.head_count_kv", SyntheticModel::int_array({2, 2}));
  arrays.set("llama.feed_forward_length", SyntheticModel::int_array({96, 96}));
  EXPECT_EQ(run(scalar, "heads-scalar.gguf"), run(arrays, "heads-array.gguf"));

  // Layer 1 with one KV head (MQA) and a narrower FFN.
  SyntheticModel mixed = scalar;
  mixed.set("llama.attention.head_count_kv", SyntheticModel::int_array({2, 1}));
  mixed.set("llama.feed_forward_length", SyntheticModel::int_array({96, 48}));
  mixed.add_f32("blk.1.attn_k.weight", {64, 16}, std::vector<float>(64 * 16, 0.01f));
  mixed.add_f32("blk.1.attn_v.weight", {64, 16}, std::vector<float>(64 * 16, 0.02f));
  mixed.add_f32("blk.1.ffn_gate.weight", {64, 48}, std::vector<float>(64 * 48, 0.01f));
  mixed.add_f32("blk.1.ffn_up.weight", {64, 48}, std::vector<float>(64 * 48, 0.01f));
  mixed.add_f32("blk.1.ffn_down.weight", {48, 64}, std::vector<float>(48 * 64, 0.01f));
  auto model = load_model(mixed.write("heads-mixed.gguf"));
  EXPECT_EQ(model->config().n_head_kv, (std::vector<int>{2, 1}));
  EXPECT_EQ(model->config().n_ff, (std::vector<int>{96, 48}));
  run(mixed, "heads-mixed.gguf");
}

// Query head h reads KV head h / (n_head / n_head_kv): a GQA model equals
// the MHA model whose K and V rows repeat each KV head for its group.
TEST(ModelVariants, GroupedQueryAttentionMapsHeads) {
  SyntheticModel gqa(Shape{});
  SyntheticModel mha = gqa;
  mha.set("llama.attention.head_count_kv", SyntheticModel::int_value(4));
  const int hd = 16, n_embd = 64;
  for (int l = 0; l < 2; ++l)
    for (const char* w : {"attn_k", "attn_v"}) {
      const std::string name = "blk." + std::to_string(l) + "." + w + ".weight";
      std::vector<float> src = gqa.floats(name), dst;
      for (int h = 0; h < 4; ++h)
        dst.insert(dst.end(), src.begin() + (h / 2) * hd * n_embd, src.begin() + (h / 2 + 1) * hd * n_embd);
      mha.add_f32(name, {n_embd, 4 * hd}, dst);
    }
  EXPECT_LE(max_abs_diff(run(gqa, "gqa.gguf"), run(mha, "mha.gguf")), 1e-5f);
}

// Older Mixtral files keep one tensor per expert; they must compute the
// same as the stacked layout.
TEST(ModelVariants, PerExpertTensorsEqualStacked) {
  Shape s{.n_expert = 4, .n_expert_used = 2};
  SyntheticModel stacked(s);
  SyntheticModel split = stacked;
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    for (const char* w : {"ffn_gate", "ffn_up", "ffn_down"}) {
      const std::string name = p + w + "_exps.weight";
      std::vector<int64_t> dims = split.find(name)->dims;
      std::vector<float> all = split.floats(name);
      const size_t per = all.size() / 4;
      split.erase_tensor(name);
      for (int e = 0; e < 4; ++e)
        split.add_f32(p + w + "." + std::to_string(e) + ".weight", {dims[0], dims[1]},
                      std::vector<float>(all.begin() + e * per, all.begin() + (e + 1) * per));
    }
  }
  EXPECT_EQ(run(stacked, "moe-stacked.gguf"), run(split, "moe-split.gguf"));
  split.erase_tensor("blk.1.ffn_up.3.weight");
  expect_error([&] { load_model(split.write("moe-split-missing.gguf")); }, {"blk.1.ffn_up.3.weight", "missing"});
}

// Prompts longer than the internal slice of 512 tokens are cut in slices;
// the logits must not notice, and the last-only output is the last row.
TEST(ModelVariants, LongPromptSlicedWithoutChange) {
  SyntheticModel m(Shape{.n_layer = 1, .n_ctx = 1024});
  auto model = load_model(m.write("long.gguf"));
  const int nv = model->config().n_vocab;
  std::vector<int32_t> toks(700);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<int32_t>((i * 37 + 11) % nv);
  ThreadPool pool(2);
  std::vector<float> all = logits_batched(*model, toks, pool);
  EXPECT_LE(max_abs_diff(all, logits_stepwise(*model, toks, pool)), 1e-4f);
  KVCache cache(model->config(), 700);
  std::vector<float> last(nv);
  model->forward(toks.data(), 700, 0, cache, last.data(), false, pool);
  EXPECT_EQ(last, std::vector<float>(all.end() - nv, all.end()));
}

}  // namespace
}  // namespace lineage::model_test
