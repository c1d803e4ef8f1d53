// Loading refuses malformed and unsupported models with an Error that names
// the tensor or key, and forward() refuses bad arguments.
#include <gtest/gtest.h>

#include "model_test_util.h"

namespace lineage::model_test {
namespace {

using Shape = SyntheticModel::Shape;

void expect_load_error(const SyntheticModel& m, const std::string& file, const std::vector<std::string>& parts) {
  std::string path = m.write(file);
  expect_error([&] { load_model(path); }, parts);
}

TEST(ModelLoad, EveryGoldenQuantTypeLoads) {
  for (const char* t : {"Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q5_K_M"}) {
    SCOPED_TRACE(t);
    auto model = load_model(shared_path(std::string("golden/llamacpp/tiny-11-") + t + ".gguf"));
    EXPECT_EQ(model->config().n_vocab, 512);
  }
}

TEST(ModelLoad, SyntheticModelLoads) {
  SyntheticModel m(Shape{});
  auto model = load_model(m.write("ok.gguf"));
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_vocab, 80);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rope_dim, 16);
  EXPECT_EQ(c.n_head, (std::vector<int>{4, 4}));
  EXPECT_EQ(c.n_head_kv, (std::vector<int>{2, 2}));
}

TEST(ModelLoad, WrongShapeNamesTensor) {
  SyntheticModel m(Shape{});
  m.add_f32("blk.1.attn_k.weight", {64, 64}, std::vector<float>(64 * 64));
  expect_load_error(m, "wrong-shape.gguf", {"blk.1.attn_k.weight", "[64, 64]", "expected [64, 32]"});
}

TEST(ModelLoad, MissingTensorNamed) {
  SyntheticModel m(Shape{});
  m.erase_tensor("blk.1.ffn_up.weight");
  expect_load_error(m, "missing.gguf", {"blk.1.ffn_up.weight", "missing"});
}

TEST(ModelLoad, HeadCountNotDividingEmbedding) {
  SyntheticModel m(Shape{});
  m.set("llama.attention.head_count", SyntheticModel::int_value(3));
  expect_load_error(m, "heads3.gguf", {"llama.attention.head_count", "does not divide"});
}

TEST(ModelLoad, AbsurdHeadCounts) {
  SyntheticModel m(Shape{});
  m.set("llama.attention.head_count", SyntheticModel::int_value(1u << 30));
  expect_load_error(m, "heads-huge.gguf", {"llama.attention.head_count", "outside"});
  SyntheticModel z(Shape{});
  z.set("llama.attention.head_count", SyntheticModel::int_value(0));
  expect_load_error(z, "heads-zero.gguf", {"llama.attention.head_count", "outside"});
  SyntheticModel kv(Shape{});
  kv.set("llama.attention.head_count_kv", SyntheticModel::int_value(3));
  expect_load_error(kv, "kv-heads3.gguf", {"llama.attention.head_count_kv", "does not divide"});
}

TEST(ModelLoad, PerLayerArrayOfWrongLength) {
  SyntheticModel m(Shape{});
  m.set("llama.attention.head_count", SyntheticModel::int_array({4, 4, 4}));
  expect_load_error(m, "array-len.gguf", {"llama.attention.head_count", "3 values", "block_count is 2"});
}

TEST(ModelLoad, OtherArchitectureRefused) {
  SyntheticModel m(Shape{});
  m.set("general.architecture", SyntheticModel::string_value("gpt2"));
  expect_load_error(m, "gpt2.gguf", {"gpt2", "not supported"});
}

TEST(ModelLoad, UnknownRopeScalingRefused) {
  SyntheticModel m(Shape{});
  m.set("llama.rope.scaling.type", SyntheticModel::string_value("yarn"));
  expect_load_error(m, "yarn.gguf", {"llama.rope.scaling.type", "yarn"});
}

TEST(ModelLoad, VocabSizeKeyMustMatchEmbedding) {
  SyntheticModel m(Shape{});
  m.set("llama.vocab_size", SyntheticModel::int_value(81));
  expect_load_error(m, "vocab.gguf", {"llama.vocab_size", "81", "80"});
}

TEST(ModelLoad, UnsupportedTypeInSyntheticFile) {
  SyntheticModel m(Shape{});
  SyntheticModel::Tensor* t = m.find("blk.0.attn_q.weight");
  t->type = DType::IQ4_NL;
  t->bytes.assign(dtype_row_bytes(DType::IQ4_NL, 64) * 64, 0);
  expect_load_error(m, "iq4_nl.gguf",
                    {"tensor blk.0.attn_q.weight has type IQ4_NL, which lineage cannot compute yet (supported: F32, "
                     "F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"});
}

TEST(ModelForward, BadArgumentsAreErrors) {
  SyntheticModel m(Shape{});
  auto model = load_model(m.write("fwd.gguf"));
  ThreadPool pool(1);
  KVCache cache(model->config(), 8);
  std::vector<float> logits(8 * 80);
  std::vector<int32_t> toks = {1, 2, 3};
  int32_t bad = 80, neg = -1;
  expect_error([&] { model->forward(&bad, 1, 0, cache, logits.data(), false, pool); }, {"token id 80", "[0, 80)"});
  expect_error([&] { model->forward(&neg, 1, 0, cache, logits.data(), false, pool); }, {"token id -1"});
  EXPECT_EQ(cache.n_past(), 0);
  model->forward(toks.data(), 3, 0, cache, logits.data(), false, pool);
  EXPECT_EQ(cache.n_past(), 3);
  // A gap between the cached positions and the new ones.
  expect_error([&] { model->forward(toks.data(), 1, 5, cache, logits.data(), false, pool); }, {"position 5"});
  // Past the end of the context.
  std::vector<int32_t> six(6, 1);
  expect_error([&] { model->forward(six.data(), 6, 3, cache, logits.data(), true, pool); }, {"do not fit", "8"});
  expect_error([&] { model->forward(toks.data(), 0, 3, cache, logits.data(), false, pool); }, {"at least one token"});
  // A cache sized for another model.
  SyntheticModel other(Shape{.n_layer = 3});
  auto model3 = load_model(other.write("fwd3.gguf"));
  KVCache cache3(model3->config(), 8);
  expect_error([&] { model->forward(toks.data(), 1, 0, cache3, logits.data(), false, pool); }, {"another model"});
  expect_error([&] { KVCache(model->config(), 0); }, {"KV cache"});
}

}  // namespace
}  // namespace lineage::model_test
