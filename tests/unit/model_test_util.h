// Shared pieces of the Model* tests: golden-file reading, greedy decoding
// and a writer of small random-weight llama models for the shape tests.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "runtime/kv_cache.h"

namespace lineage::model_test {

// The environment's LINEAGE_SHARED_DIR (ctest sets it; a test binary copied
// to another machine is pointed at the data there) or the build's.
inline std::string shared_path(const std::string& rel) {
  const char* env = std::getenv("LINEAGE_SHARED_DIR");
  return std::string(env && *env ? env : LINEAGE_SHARED_DIR) + "/" + rel;
}

inline std::unique_ptr<Model> load_model(const std::string& path, const LoadOptions& options = {}) {
  return Model::load(std::shared_ptr<const GGUFFile>(GGUFFile::open(path)), options);
}

struct Golden {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // [position][n_vocab]
};

inline Golden read_golden(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  Golden g;
  std::string line;
  std::getline(in, line);
  g.tokens = nlohmann::json::parse(line).at("tokens").get<std::vector<int32_t>>();
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("pos").get<size_t>() != g.logits.size()) throw std::runtime_error("positions out of order in " + path);
    g.logits.push_back(j.at("logits").get<std::vector<float>>());
  }
  return g;
}

inline int argmax(const float* v, int n) { return static_cast<int>(std::max_element(v, v + n) - v); }

// All positions of `tokens` in one forward call.
inline std::vector<float> logits_batched(const Model& m, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  const int nv = m.config().n_vocab;
  KVCache cache(m, static_cast<int>(tokens.size()));
  std::vector<float> out(tokens.size() * nv);
  m.forward(tokens.data(), static_cast<int>(tokens.size()), 0, cache, out.data(), true, pool);
  return out;
}

// The same positions one token at a time through the KV cache.
inline std::vector<float> logits_stepwise(const Model& m, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  const int nv = m.config().n_vocab;
  KVCache cache(m, static_cast<int>(tokens.size()));
  std::vector<float> out(tokens.size() * nv);
  for (size_t i = 0; i < tokens.size(); ++i)
    m.forward(&tokens[i], 1, static_cast<int>(i), cache, out.data() + i * nv, false, pool);
  return out;
}

// Feeds the prompt in one call, then appends argmax tokens one at a time
// until the sequence holds `total` tokens; returns only the generated ones.
inline std::vector<int32_t> greedy(const Model& m, const std::vector<int32_t>& prompt, int total, ThreadPool& pool) {
  const int nv = m.config().n_vocab;
  KVCache cache(m, total);
  std::vector<float> logits(nv);
  m.forward(prompt.data(), static_cast<int>(prompt.size()), 0, cache, logits.data(), false, pool);
  std::vector<int32_t> out;
  int pos = static_cast<int>(prompt.size());
  while (pos < total) {
    int32_t next = argmax(logits.data(), nv);
    out.push_back(next);
    if (pos + 1 == total) break;
    m.forward(&next, 1, pos, cache, logits.data(), false, pool);
    ++pos;
  }
  return out;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

// The tolerances of DESIGN.md against shared/golden/llamacpp logits: F32
// weights (exact) every logit within 1e-3 of the largest; other types a
// cosine >= 0.999 at every position and the same argmax wherever the golden
// top two differ by more than 0.1.
inline void check_against_golden(bool exact, const Golden& g, const std::vector<float>& got, int nv, const char* how) {
  for (size_t p = 0; p < g.logits.size(); ++p) {
    const std::vector<float>& ref = g.logits[p];
    ASSERT_EQ(ref.size(), static_cast<size_t>(nv));
    const float* out = got.data() + p * nv;
    if (exact) {
      float max_ref = 0;
      for (float r : ref) max_ref = std::max(max_ref, std::fabs(r));
      float worst = 0;
      for (int i = 0; i < nv; ++i) worst = std::max(worst, std::fabs(out[i] - ref[i]));
      EXPECT_LE(worst, 1e-3f * max_ref) << how << " position " << p;
    } else {
      double dot = 0, na = 0, nb = 0;
      for (int i = 0; i < nv; ++i) {
        dot += static_cast<double>(out[i]) * ref[i];
        na += static_cast<double>(out[i]) * out[i];
        nb += static_cast<double>(ref[i]) * ref[i];
      }
      const double cosine = dot / std::sqrt(na * nb);
      EXPECT_GE(cosine, 0.999) << how << " position " << p;
      std::vector<float> sorted = ref;
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      if (sorted[0] - sorted[1] > 0.1f) {
        EXPECT_EQ(argmax(out, nv), argmax(ref.data(), nv)) << how << " position " << p;
      }
    }
  }
}

// A small llama model with random F32 weights, described as metadata and
// tensors that a test may change before writing it.
struct SyntheticModel {
  struct Tensor {
    std::vector<int64_t> dims;
    DType type = DType::F32;
    std::vector<uint8_t> bytes;
  };
  std::vector<std::pair<std::string, GGUFValue>> meta;
  std::vector<std::pair<std::string, Tensor>> tensors;

  struct Shape {
    int n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 96, n_vocab = 80, n_ctx = 128;
    int n_expert = 0, n_expert_used = 0;
    uint32_t seed = 7;
  };

  static GGUFValue int_value(int64_t v) {
    GGUFValue x;
    x.type = GGUFType::U32;
    x.i = v;
    return x;
  }
  static GGUFValue float_value(double v) {
    GGUFValue x;
    x.type = GGUFType::F32;
    x.f = v;
    return x;
  }
  static GGUFValue string_value(const std::string& v) {
    GGUFValue x;
    x.type = GGUFType::STRING;
    x.s = v;
    return x;
  }
  static GGUFValue int_array(const std::vector<int64_t>& v) {
    GGUFValue x;
    x.type = GGUFType::ARRAY;
    x.elem_type = GGUFType::I32;
    x.ints = v;
    return x;
  }

  explicit SyntheticModel(const Shape& s) {
    set("general.architecture", string_value("llama"));
    set("general.name", string_value("synthetic"));
    set("llama.context_length", int_value(s.n_ctx));
    set("llama.embedding_length", int_value(s.n_embd));
    set("llama.block_count", int_value(s.n_layer));
    set("llama.feed_forward_length", int_value(s.n_ff));
    set("llama.attention.head_count", int_value(s.n_head));
    set("llama.attention.head_count_kv", int_value(s.n_head_kv));
    set("llama.rope.freq_base", float_value(10000.0));
    set("llama.attention.layer_norm_rms_epsilon", float_value(1e-5));
    if (s.n_expert > 0) {
      set("llama.expert_count", int_value(s.n_expert));
      set("llama.expert_used_count", int_value(s.n_expert_used));
    }
    std::mt19937 rng(s.seed);
    const int hd = s.n_embd / std::max(1, s.n_head);
    auto mat = [&](const std::string& name, std::vector<int64_t> dims, float scale) {
      int64_t n = 1;
      for (int64_t d : dims) n *= d;
      std::normal_distribution<float> nd(0.0f, scale);
      std::vector<float> v(n);
      for (float& x : v) x = nd(rng);
      add_f32(name, dims, v);
    };
    auto norm = [&](const std::string& name, int64_t n) {
      std::uniform_real_distribution<float> ud(0.8f, 1.2f);
      std::vector<float> v(n);
      for (float& x : v) x = ud(rng);
      add_f32(name, {n}, v);
    };
    const float in_scale = 1.0f / std::sqrt(static_cast<float>(s.n_embd));
    mat("token_embd.weight", {s.n_embd, s.n_vocab}, 1.0f);
    for (int l = 0; l < s.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      norm(p + "attn_norm.weight", s.n_embd);
      mat(p + "attn_q.weight", {s.n_embd, int64_t{s.n_head} * hd}, in_scale);
      mat(p + "attn_k.weight", {s.n_embd, int64_t{s.n_head_kv} * hd}, in_scale);
      mat(p + "attn_v.weight", {s.n_embd, int64_t{s.n_head_kv} * hd}, in_scale);
      mat(p + "attn_output.weight", {int64_t{s.n_head} * hd, s.n_embd}, in_scale);
      norm(p + "ffn_norm.weight", s.n_embd);
      const float ff_scale = 1.0f / std::sqrt(static_cast<float>(s.n_ff));
      if (s.n_expert == 0) {
        mat(p + "ffn_gate.weight", {s.n_embd, s.n_ff}, in_scale);
        mat(p + "ffn_up.weight", {s.n_embd, s.n_ff}, in_scale);
        mat(p + "ffn_down.weight", {s.n_ff, s.n_embd}, ff_scale);
      } else {
        mat(p + "ffn_gate_inp.weight", {s.n_embd, s.n_expert}, in_scale);
        mat(p + "ffn_gate_exps.weight", {s.n_embd, s.n_ff, s.n_expert}, in_scale);
        mat(p + "ffn_up_exps.weight", {s.n_embd, s.n_ff, s.n_expert}, in_scale);
        mat(p + "ffn_down_exps.weight", {s.n_ff, s.n_embd, s.n_expert}, ff_scale);
      }
    }
    norm("output_norm.weight", s.n_embd);
    mat("output.weight", {s.n_embd, s.n_vocab}, in_scale);
  }

  void set(const std::string& key, const GGUFValue& v) {
    for (auto& kv : meta)
      if (kv.first == key) {
        kv.second = v;
        return;
      }
    meta.emplace_back(key, v);
  }
  void erase_key(const std::string& key) {
    std::erase_if(meta, [&](const auto& kv) { return kv.first == key; });
  }
  void add_f32(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
    Tensor t;
    t.dims = dims;
    t.bytes.resize(v.size() * sizeof(float));
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    erase_tensor(name);
    tensors.emplace_back(name, std::move(t));
  }
  Tensor* find(const std::string& name) {
    for (auto& nt : tensors)
      if (nt.first == name) return &nt.second;
    return nullptr;
  }
  void erase_tensor(const std::string& name) {
    std::erase_if(tensors, [&](const auto& nt) { return nt.first == name; });
  }
  std::vector<float> floats(const std::string& name) {
    Tensor* t = find(name);
    std::vector<float> v(t->bytes.size() / sizeof(float));
    std::memcpy(v.data(), t->bytes.data(), t->bytes.size());
    return v;
  }

  std::string write(const std::string& file_name) const {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / "lineage-model-tests";
    std::filesystem::create_directories(dir);
    std::string path = (dir / file_name).string();
    GGUFWriter w;
    for (const auto& kv : meta) w.set(kv.first, kv.second);
    for (const auto& nt : tensors) w.add_tensor(nt.first, nt.second.dims, nt.second.type, nt.second.bytes.data(), nt.second.bytes.size());
    w.write(path);
    return path;
  }
};

// Expects `fn` to throw lineage::Error whose message contains every part.
template <typename Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no Error thrown; expected one mentioning " << parts.front();
  } catch (const Error& e) {
    for (const std::string& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "message: " << e.what() << "\nlacks: " << p;
  }
}

}  // namespace lineage::model_test
