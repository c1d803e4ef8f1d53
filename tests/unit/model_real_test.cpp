// Trained models: greedy decoding must reproduce the continuations their
// original implementations produced.
#include <gtest/gtest.h>

#include "model_test_util.h"
#include "tokenizer/tokenizer.h"

namespace lineage::model_test {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

TEST(ModelShakespeare, GreedyMatchesPyTorch) {
  auto model = load_model(shared_path("models/shakespeare-5M.gguf"));
  auto tok = Tokenizer::from_gguf(model->file());
  nlohmann::json expected = read_json(shared_path("models/shakespeare-5M.expected.json"));
  ThreadPool pool(2);
  ASSERT_FALSE(expected.at("cases").empty());
  for (const auto& c : expected.at("cases")) {
    std::vector<int32_t> prompt = c.at("prompt_ids_with_bos").get<std::vector<int32_t>>();
    std::vector<int32_t> want = c.at("greedy_ids").get<std::vector<int32_t>>();
    ASSERT_EQ(want.size(), 120u);
    std::vector<int32_t> got = greedy(*model, prompt, static_cast<int>(prompt.size()) + 120, pool);
    EXPECT_EQ(got, want) << "prompt " << c.at("prompt");
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), got.begin(), got.end());
    EXPECT_EQ(tok->decode(all), c.at("greedy_text").get<std::string>());
  }
}

TEST(ModelAidreams, GreedyMatchesLlama2c) {
  auto model = load_model(shared_path("models/aidreams260K.gguf"));
  auto tok = Tokenizer::from_gguf(model->file());
  nlohmann::json expected = read_json(shared_path("models/aidreams260K.expected.json"));
  ThreadPool one(1), two(2);
  // run.c -n 64 runs the model at 64 positions and prints the token chosen
  // at the last one too: 65 tokens in all.
  const int total = 65;
  for (const auto& c : expected.at("cases")) {
    std::vector<int32_t> prompt = c.at("prompt_ids_with_bos").get<std::vector<int32_t>>();
    std::vector<int32_t> a = greedy(*model, prompt, total, two);
    EXPECT_EQ(a.size(), total - prompt.size());
    EXPECT_EQ(a, greedy(*model, prompt, total, one));
    // run.c stops early at a BOS token, which ends a sequence there.
    std::vector<int32_t> all = prompt;
    for (int32_t id : a) {
      if (id == 1) break;
      all.push_back(id);
    }
    EXPECT_EQ(tok->decode(all), c.at("greedy_text_64_positions").get<std::string>());
    // Prompt fed one token at a time instead of in one batch.
    KVCache cache(model->config(), total);
    std::vector<float> logits(model->config().n_vocab);
    for (size_t i = 0; i < prompt.size(); ++i)
      model->forward(&prompt[i], 1, static_cast<int>(i), cache, logits.data(), false, two);
    EXPECT_EQ(argmax(logits.data(), model->config().n_vocab), a.front());
  }
}

}  // namespace
}  // namespace lineage::model_test
