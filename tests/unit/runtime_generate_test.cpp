// generate(): stops at end-of-generation tokens and stop strings, honours
// --ignore-eos and the length limit. The model is built so that its output
// is known: zero attention/FFN outputs leave the residual equal to the
// embedding (all ones), so the logits are the row sums of output.weight.
#include <gtest/gtest.h>

#include "model_test_util.h"
#include "runtime/engine.h"

namespace lineage {
namespace {

using model_test::SyntheticModel;

std::string write_model(const std::string& name, int favoured, const std::vector<std::pair<std::string, GGUFValue>>& extra) {
  SyntheticModel::Shape shape;
  shape.n_vocab = 8;
  SyntheticModel m(shape);
  const int64_t e = shape.n_embd, v = shape.n_vocab;
  m.add_f32("token_embd.weight", {e, v}, std::vector<float>(static_cast<size_t>(e * v), 1.0f));
  // Blocks add nothing to the residual stream.
  std::vector<std::pair<std::string, std::vector<int64_t>>> silenced;
  for (const auto& [name, t] : m.tensors)
    if (name.find("attn_output") != std::string::npos || name.find("ffn_down") != std::string::npos)
      silenced.emplace_back(name, t.dims);
  for (const auto& [name, dims] : silenced) m.add_f32(name, dims, std::vector<float>(static_cast<size_t>(dims[0] * dims[1]), 0.0f));
  m.add_f32("output_norm.weight", {e}, std::vector<float>(static_cast<size_t>(e), 1.0f));
  std::vector<float> out(static_cast<size_t>(e * v), 0.0f);
  for (int64_t k = 0; k < e; ++k) out[static_cast<size_t>(favoured * e + k)] = 1.0f;
  m.add_f32("output.weight", {e, v}, out);

  GGUFValue tokens;
  tokens.type = GGUFType::ARRAY;
  tokens.elem_type = GGUFType::STRING;
  tokens.strs = {"<unk>", "<s>", "</s>", "\xE2\x96\x81" "a", "b", "c", "<|eot|>", "d"};
  GGUFValue scores;
  scores.type = GGUFType::ARRAY;
  scores.elem_type = GGUFType::F32;
  scores.floats = std::vector<double>(8, 0.0);
  GGUFValue types = SyntheticModel::int_array({2, 3, 3, 1, 1, 1, 3, 1});
  m.set("tokenizer.ggml.model", SyntheticModel::string_value("llama"));
  m.set("tokenizer.ggml.tokens", tokens);
  m.set("tokenizer.ggml.scores", scores);
  m.set("tokenizer.ggml.token_type", types);
  m.set("tokenizer.ggml.bos_token_id", SyntheticModel::int_value(1));
  m.set("tokenizer.ggml.eos_token_id", SyntheticModel::int_value(2));
  for (const auto& kv : extra) m.set(kv.first, kv.second);
  return m.write(name);
}

GenerateResult run(const std::string& path, GenerateOptions opt, std::string* text) {
  auto e = Engine::load(path, 1);
  KVCache cache(e->config(), 64);
  std::vector<int32_t> prompt = e->tokenizer().encode("a", true, false);
  opt.sampling.temperature = 0;
  return generate(*e, cache, prompt, opt, [&](const std::string& s) { *text += s; });
}

TEST(RuntimeGenerate, StopsAtEos) {
  std::string path = write_model("gen_eos.gguf", 2, {});
  std::string text;
  GenerateOptions opt;
  opt.n_predict = 10;
  GenerateResult r = run(path, opt, &text);
  EXPECT_EQ(r.stop_reason, "eos");
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(text, "");

  opt.ignore_eos = true;  // EOS is a control token: generated but shows no text
  text.clear();
  r = run(path, opt, &text);
  EXPECT_EQ(r.stop_reason, "length");
  EXPECT_EQ(r.tokens, std::vector<int32_t>(10, 2));
}

TEST(RuntimeGenerate, StopsAtTurnTokenNamedByText) {
  std::string path = write_model("gen_eot.gguf", 6, {});  // "<|eot|>", no metadata key names it
  std::string text;
  GenerateOptions opt;
  opt.n_predict = 5;
  EXPECT_EQ(run(path, opt, &text).stop_reason, "eos");
}

TEST(RuntimeGenerate, LengthLimitAndStopStrings) {
  std::string path = write_model("gen_b.gguf", 4, {});  // always "b"
  std::string text;
  GenerateOptions opt;
  opt.n_predict = 5;
  GenerateResult r = run(path, opt, &text);
  EXPECT_EQ(r.stop_reason, "length");
  EXPECT_EQ(text, "bbbbb");

  text.clear();
  opt.stop = {"bbb"};
  r = run(path, opt, &text);
  EXPECT_EQ(r.stop_reason, "stop");
  EXPECT_EQ(text, "");  // everything so far was part of the stop string
  EXPECT_EQ(r.tokens.size(), 3u);
}

TEST(RuntimeGenerate, VocabularyMustMatchTheOutputLayer) {
  GGUFValue tokens;
  tokens.type = GGUFType::ARRAY;
  tokens.elem_type = GGUFType::STRING;
  tokens.strs = {"<unk>", "<s>", "</s>", "a", "b", "c", "d"};  // 7 tokens, the model has 8 outputs
  GGUFValue scores;
  scores.type = GGUFType::ARRAY;
  scores.elem_type = GGUFType::F32;
  scores.floats = std::vector<double>(7, 0.0);
  std::string path = write_model("gen_vocab.gguf", 4,
                                 {{"tokenizer.ggml.tokens", tokens},
                                  {"tokenizer.ggml.scores", scores},
                                  {"tokenizer.ggml.token_type", SyntheticModel::int_array({2, 3, 3, 1, 1, 1, 1})}});
  model_test::expect_error([&] { Engine::load(path, 1); }, {"7 tokens", "8"});
}

TEST(RuntimeGenerate, ModelStopStringsAndPromptTooLong) {
  GGUFValue stops;
  stops.type = GGUFType::ARRAY;
  stops.elem_type = GGUFType::STRING;
  stops.strs = {"bb"};
  std::string path = write_model("gen_stops.gguf", 4, {{"lineage.stop_strings", stops}});
  auto e = Engine::load(path, 1);
  EXPECT_EQ(e->default_stop_strings(), std::vector<std::string>{"bb"});
  KVCache cache(e->config(), 4);
  std::vector<int32_t> prompt(5, 3);
  EXPECT_THROW(generate(*e, cache, prompt, GenerateOptions{}, [](const std::string&) {}), Error);
}

}  // namespace
}  // namespace lineage
