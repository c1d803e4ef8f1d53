// The device forward pass (model/llama_device.cpp): on the reference device
// on every machine, and on the GPU where there is one (those cases skip
// otherwise). Truth: the golden logits of an independent engine, the CPU
// forward pass, and the rule that a row's result does not depend on what
// else is in the batch.
#include <gtest/gtest.h>

#include <cstdlib>

#include "kernels/device.h"
#include "model_test_util.h"

namespace lineage::model_test {
namespace {

std::string golden(const std::string& name, const char* ext) { return shared_path("golden/llamacpp/" + name + ext); }

LoadOptions on(const std::string& device, int n_gpu_layers = -1) {
  LoadOptions o;
  o.device = device;
  o.n_gpu_layers = n_gpu_layers;
  return o;
}

class ModelDevice : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "cuda" && !cuda_available()) GTEST_SKIP() << "no CUDA GPU (or a build without -DLINEAGE_CUDA=ON)";
  }
};

struct GoldenFile {
  const char* name;
  bool exact;
};

// Every weight type the device path supports, dense and MoE.
const GoldenFile kGolden[] = {{"tiny-11-F32", true},   {"tiny-11-F16", false},  {"tiny-11-BF16", false},
                              {"tiny-11-Q8_0", false}, {"tiny-11-Q4_0", false}, {"tiny-11-Q4_K_M", false},
                              {"tiny-11-Q6_K", false}, {"moe-13-F32", true}};

TEST_P(ModelDevice, MatchesGoldenLogitsBatchedAndStepwise) {
  ThreadPool pool(2);
  for (const GoldenFile& f : kGolden) {
    SCOPED_TRACE(f.name);
    auto model = load_model(golden(f.name, ".gguf"), on(GetParam()));
    Golden g = read_golden(golden(f.name, ".logits.jsonl"));
    const int nv = model->config().n_vocab;
    std::vector<float> batched = logits_batched(*model, g.tokens, pool);
    std::vector<float> stepwise = logits_stepwise(*model, g.tokens, pool);
    check_against_golden(f.exact, g, batched, nv, "batched");
    check_against_golden(f.exact, g, stepwise, nv, "token by token");
    // A row's arithmetic is fixed by its own position, so a prompt gives
    // the same logits in one call as token by token.
    EXPECT_EQ(batched, stepwise);
  }
}

// The same model on the CPU gives nearly the same logits, judged like the
// golden files (the device keeps keys and values in F16 and rounds
// quantized products' activations per 32 values, the CPU per block of its
// own kind).
TEST_P(ModelDevice, CloseToTheCpuForwardPass) {
  ThreadPool pool(2);
  for (const GoldenFile& f : {GoldenFile{"tiny-11-F32", true}, GoldenFile{"tiny-11-Q4_0", false},
                              GoldenFile{"tiny-11-Q4_K_M", false}, GoldenFile{"moe-13-F32", true}}) {
    SCOPED_TRACE(f.name);
    Golden g = read_golden(golden(f.name, ".logits.jsonl"));
    auto cpu = load_model(golden(f.name, ".gguf"));
    const int nv = cpu->config().n_vocab;
    const std::vector<float> want = logits_batched(*cpu, g.tokens, pool);
    for (size_t p = 0; p < g.tokens.size(); ++p) g.logits[p].assign(want.begin() + p * nv, want.begin() + (p + 1) * nv);
    check_against_golden(f.exact, g, logits_batched(*load_model(golden(f.name, ".gguf"), on(GetParam())), g.tokens, pool),
                         nv, "CPU vs device");
  }
}

// Sequences of different lengths and positions in one call, one of them
// continuing an earlier prompt, each equal bit for bit to the sequence run
// alone.
TEST_P(ModelDevice, BatchMembersEqualTheSequenceAlone) {
  ThreadPool pool(2);
  auto model = load_model(golden("tiny-11-Q4_0", ".gguf"), on(GetParam()));
  const int nv = model->config().n_vocab;
  Golden g = read_golden(golden("tiny-11-Q4_0", ".logits.jsonl"));
  const std::vector<int32_t>& t = g.tokens;
  ASSERT_GE(t.size(), 12u);

  struct Case {
    int start, n, pos;  // tokens t[start .. start + n) at positions pos.., after t[start - pos .. start)
    bool all;
  };
  const Case cases[] = {{0, 7, 0, true}, {5, 1, 5, false}, {3, 6, 3, true}, {0, 1, 0, false}};
  const int ns = static_cast<int>(std::size(cases));

  std::vector<std::unique_ptr<KVCache>> caches;
  std::vector<std::vector<float>> outs(ns);
  std::vector<SeqBatch> batch(ns);
  std::vector<float> scratch(nv);
  for (int i = 0; i < ns; ++i) {
    const Case& c = cases[i];
    caches.push_back(std::make_unique<KVCache>(*model, 32));
    if (c.pos > 0) model->forward(t.data() + c.start - c.pos, c.pos, 0, *caches[i], scratch.data(), false, pool);
    outs[i].resize(static_cast<size_t>(c.all ? c.n : 1) * nv);
    batch[i] = SeqBatch{t.data() + c.start, c.n, c.pos, caches[i].get(), outs[i].data(), c.all, nullptr};
  }
  model->forward_batch(batch.data(), ns, pool);

  for (int i = 0; i < ns; ++i) {
    const Case& c = cases[i];
    KVCache alone(*model, 32);
    std::vector<float> want(outs[i].size());
    if (c.pos > 0) model->forward(t.data() + c.start - c.pos, c.pos, 0, alone, scratch.data(), false, pool);
    model->forward(t.data() + c.start, c.n, c.pos, alone, want.data(), c.all, pool);
    EXPECT_EQ(outs[i], want) << "sequence " << i;
    EXPECT_EQ(caches[i]->n_past(), c.pos + c.n);
  }
}

// Layers split between the CPU and the device give logits close to both.
TEST_P(ModelDevice, PartialOffloadMatchesGolden) {
  ThreadPool pool(2);
  for (const GoldenFile& f : {GoldenFile{"tiny-11-Q4_0", false}, GoldenFile{"moe-13-F32", true}}) {
    SCOPED_TRACE(f.name);
    Golden g = read_golden(golden(f.name, ".logits.jsonl"));
    auto model = load_model(golden(f.name, ".gguf"), on(GetParam(), 1));
    EXPECT_EQ(model->placement().first_layer, model->config().n_layer - 1);
    const int nv = model->config().n_vocab;
    check_against_golden(f.exact, g, logits_batched(*model, g.tokens, pool), nv, "batched");
    check_against_golden(f.exact, g, logits_stepwise(*model, g.tokens, pool), nv, "token by token");
  }
}

// Decode steps replayed from a recorded graph equal the same steps run
// operation by operation, across several batch shapes.
TEST_P(ModelDevice, RecordedDecodeEqualsDirect) {
  ThreadPool pool(2);
  auto model = load_model(golden("tiny-11-Q8_0", ".gguf"), on(GetParam()));
  Golden g = read_golden(golden("tiny-11-Q8_0", ".logits.jsonl"));
  auto run = [&] {
    std::vector<float> all;
    for (int n_seqs : {1, 3, 1}) {
      std::vector<std::unique_ptr<KVCache>> caches;
      std::vector<std::vector<float>> outs(n_seqs, std::vector<float>(model->config().n_vocab));
      for (int i = 0; i < n_seqs; ++i) caches.push_back(std::make_unique<KVCache>(*model, 64));
      for (int p = 0; p < 10; ++p) {
        std::vector<SeqBatch> b(n_seqs);
        for (int i = 0; i < n_seqs; ++i)
          b[i] = SeqBatch{&g.tokens[(p + i) % g.tokens.size()], 1, p, caches[i].get(), outs[i].data(), false, nullptr};
        model->forward_batch(b.data(), n_seqs, pool);
        for (auto& o : outs) all.insert(all.end(), o.begin(), o.end());
      }
    }
    return all;
  };
  const std::vector<float> recorded = run();
  setenv("LINEAGE_DEVICE_GRAPHS", "0", 1);
  const std::vector<float> direct = run();
  unsetenv("LINEAGE_DEVICE_GRAPHS");
  EXPECT_EQ(recorded, direct);
}

// Embeddings (final hidden states) from the device equal the CPU's within
// float rounding.
TEST_P(ModelDevice, HiddenStatesMatchTheCpu) {
  ThreadPool pool(2);
  const std::string path = golden("tiny-11-F32", ".gguf");
  Golden g = read_golden(golden("tiny-11-F32", ".logits.jsonl"));
  auto hidden_of = [&](const Model& m) {
    KVCache cache(m, 64);
    std::vector<float> h(g.tokens.size() * m.config().n_embd);
    SeqBatch b{g.tokens.data(), static_cast<int>(g.tokens.size()), 0, &cache, nullptr, false, h.data()};
    m.forward_batch(&b, 1, pool);
    return h;
  };
  const std::vector<float> cpu = hidden_of(*load_model(path)), dev = hidden_of(*load_model(path, on(GetParam())));
  EXPECT_LE(max_abs_diff(cpu, dev), 2e-3f);
}

INSTANTIATE_TEST_SUITE_P(Device, ModelDevice, ::testing::Values("ref", "cuda"),
                         [](const auto& info) { return info.param; });

TEST(ModelDeviceErrors, UnsupportedTypeIsNamed) {
  try {
    load_model(golden("tiny-11-Q4_1", ".gguf"), on("ref"));
    FAIL() << "loaded a Q4_1 model onto the device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_1"), std::string::npos) << e.what();
  }
  // The same file runs on the CPU, and with no layer on the device.
  EXPECT_NO_THROW(load_model(golden("tiny-11-Q4_1", ".gguf"), on("ref", 0)));
}

TEST(ModelDeviceErrors, CacheOfAnotherPlacementIsRefused) {
  ThreadPool pool(2);
  auto dev = load_model(golden("tiny-11-F32", ".gguf"), on("ref"));
  auto cpu = load_model(golden("tiny-11-F32", ".gguf"));
  std::vector<float> logits(dev->config().n_vocab);
  const int32_t tok = 1;
  KVCache host_cache(*cpu, 8), dev_cache(*dev, 8);
  EXPECT_THROW(dev->forward(&tok, 1, 0, host_cache, logits.data(), false, pool), Error);
  EXPECT_THROW(cpu->forward(&tok, 1, 0, dev_cache, logits.data(), false, pool), Error);
  EXPECT_EQ(host_cache.n_past(), 0);
  EXPECT_EQ(dev_cache.n_past(), 0);
}

TEST(ModelDeviceErrors, DeviceNamesAreChecked) {
  EXPECT_THROW(open_device("tpu"), Error);
  EXPECT_THROW(open_device("cuda:x"), Error);
#ifndef LINEAGE_HAVE_CUDA
  if (!std::getenv("LINEAGE_DEVICE")) {
    try {
      open_device("cuda");
      FAIL() << "a build without CUDA opened a GPU";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("LINEAGE_CUDA"), std::string::npos) << e.what();
    }
  }
#endif
}

// Prefix reuse copies keys and values between device caches: the copy
// continues exactly like the original.
TEST(ModelDeviceCache, CopiedPositionsContinueLikeTheOriginal) {
  ThreadPool pool(2);
  auto model = load_model(golden("tiny-11-Q4_0", ".gguf"), on("ref", 1));  // one CPU layer, one device layer
  Golden g = read_golden(golden("tiny-11-Q4_0", ".logits.jsonl"));
  const int nv = model->config().n_vocab;
  KVCache a(*model, 32), b(*model, 32);
  std::vector<float> la(nv), lb(nv);
  model->forward(g.tokens.data(), 8, 0, a, la.data(), false, pool);
  b.copy_positions(a, 0, 6);
  EXPECT_EQ(b.n_past(), 6);
  model->forward(g.tokens.data() + 6, 3, 6, a, la.data(), false, pool);
  model->forward(g.tokens.data() + 6, 3, 6, b, lb.data(), false, pool);
  EXPECT_EQ(la, lb);
}

}  // namespace
}  // namespace lineage::model_test
