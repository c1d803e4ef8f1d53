// Random corruption of real model files: every mutated file must either load
// and run, or fail with lineage::Error. Run under ASan/UBSan in CI, this is
// what shows that no byte of a hostile header can crash or read out of
// bounds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "runtime/kv_cache.h"
#include "tokenizer/tokenizer.h"

namespace lineage {
namespace {

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Loads the model and vocabulary from a buffer and runs two tokens.
// Returns true when it worked, false when it was refused with an Error.
bool try_everything(const std::vector<uint8_t>& bytes) {
  try {
    std::shared_ptr<const GGUFFile> f = GGUFFile::parse(bytes.data(), bytes.size(), "mutated.gguf");
    if (f->has("tokenizer.ggml.model")) {
      auto tok = Tokenizer::from_gguf(*f);
      std::vector<int32_t> ids = tok->encode("Hello, world! <s> \xE6\x97\xA5", true, true);
      (void)tok->decode(ids);
    }
    auto model = Model::load(f);
    ThreadPool pool(1);
    KVCache cache(model->config(), 4);
    std::vector<float> logits(static_cast<size_t>(model->config().n_vocab) * 2);
    const int32_t ids[2] = {1, 2 % model->config().n_vocab};
    model->forward(ids, 2, 0, cache, logits.data(), true, pool);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// LINEAGE_HOSTILE_ROUNDS=N runs N mutations per file instead (long runs);
// LINEAGE_HOSTILE_SEED varies them.
int rounds_from_env(int fallback) {
  const char* v = std::getenv("LINEAGE_HOSTILE_ROUNDS");
  return v && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}
uint32_t seed_from_env(uint32_t base) {
  const char* v = std::getenv("LINEAGE_HOSTILE_SEED");
  return base + (v ? static_cast<uint32_t>(std::strtoul(v, nullptr, 10)) * 1000u : 0u);
}

void mutate_and_load(const std::string& rel, int rounds, uint32_t seed) {
  rounds = rounds_from_env(rounds);
  seed = seed_from_env(seed);
  const std::vector<uint8_t> good = read_bytes(std::string(LINEAGE_SHARED_DIR) + "/" + rel);
  ASSERT_FALSE(good.empty()) << rel;
  ASSERT_TRUE(try_everything(good)) << rel;
  const size_t header = GGUFFile::parse(good.data(), good.size(), rel)->data_offset();
  std::mt19937 rng(seed);
  int refused = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<uint8_t> bad = good;
    // Mostly the header (counts, lengths, types, offsets, metadata values),
    // where a lie changes how the rest is read.
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % header;
      switch (rng() % 4) {
        case 0: bad[at] = static_cast<uint8_t>(rng()); break;
        case 1: bad[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 2: bad[at] = 0xFF; break;
        default: bad[at] = 0; break;
      }
    }
    refused += !try_everything(bad);
  }
  // Most random header edits must be caught; a few land in harmless places
  // (a name's letters, a float's low bits).
  EXPECT_GT(refused, rounds / 10) << rel;
}

TEST(HostileFile, MutatedGoldenModels) {
  mutate_and_load("golden/llamacpp/tiny-11-Q4_K_M.gguf", 150, 1);
  mutate_and_load("golden/llamacpp/moe-13-F32.gguf", 150, 2);
}

TEST(HostileFile, MutatedDemoModel) { mutate_and_load("models/shakespeare-5M.gguf", 150, 3); }

}  // namespace
}  // namespace lineage
