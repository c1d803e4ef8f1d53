// `lineage perplexity`: a model's perplexity on a text file and, with
// --kl-base, how far its predictions are from a base model's.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <memory>
#include <sstream>
#include <vector>

#include "cli/commands.h"
#include "core/text_file.h"
#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/perplexity.h"

namespace lineage::cli {

namespace {

struct PerplexityArgs {
  std::vector<std::string> models;
  std::string text_file, kl_base;
  int ctx_size = 256;
  int batch = 0;
  int threads = 0;
  LoadOptions load;
  bool json = false;
};

std::vector<int32_t> tokenize(const Engine& e, const std::string& text) {
  const Tokenizer& tok = e.tokenizer();
  return tok.encode(text, tok.add_bos_default(), false);
}

void print_running(int chunk, double ppl) {
  std::fprintf(stdout, "[%d]%.4f,", chunk + 1, ppl);
  std::fflush(stdout);
}

nlohmann::json ppl_json(const PerplexityResult& r) {
  return {{"ppl", r.ppl}, {"ppl_err", r.ppl_err}, {"chunks", r.n_chunks}, {"tokens_scored", r.n_scored}};
}

nlohmann::json divergence_json(const std::string& file, const DivergenceResult& r) {
  nlohmann::json j = {{"file", file},
                      {"model", ppl_json(r.model)},
                      {"base", ppl_json(r.base)},
                      {"kl_mean", r.kl.mean},
                      {"kl_err", r.kl.err},
                      {"kl_median", r.kl_median},
                      {"kl_p99", r.kl_p99},
                      {"kl_max", r.kl_max},
                      {"top1", r.top1.mean},
                      {"top1_err", r.top1.err},
                      {"delta_p_mean", r.delta_p.mean},
                      {"delta_p_err", r.delta_p.err},
                      {"delta_p_rms", r.delta_p_rms},
                      {"ln_ppl_ratio", r.log_ppl_ratio.mean}};
  nlohmann::json pct = nlohmann::json::object();
  for (size_t i = 0; i < r.delta_p_percentiles.size(); ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "%g", kDeltaPPercentiles[i]);
    pct[key] = r.delta_p_percentiles[i];
  }
  j["delta_p_percentiles"] = pct;
  return j;
}

void print_divergence(const std::string& file, const std::string& base, const DivergenceResult& r) {
  std::printf("\n====== %s against %s ======\n", file.c_str(), base.c_str());
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r.model.ppl, r.model.ppl_err);
  std::printf("Mean PPL(model)          : %10.6f +/- %10.6f\n", r.model.ppl, r.model.ppl_err);
  std::printf("Mean PPL(base)           : %10.6f +/- %10.6f\n", r.base.ppl, r.base.ppl_err);
  std::printf("Mean ln(PPL(model/base)) : %10.6f +/- %10.6f\n", r.log_ppl_ratio.mean, r.log_ppl_ratio.err);
  std::printf("Mean KLD                 : %10.6f +/- %10.6f\n", r.kl.mean, r.kl.err);
  std::printf("Maximum KLD              : %10.6f\n", r.kl_max);
  std::printf("99.9%%   KLD              : %10.6f\n", r.kl_p999);
  std::printf("99.0%%   KLD              : %10.6f\n", r.kl_p99);
  std::printf("Median  KLD              : %10.6f\n", r.kl_median);
  std::printf("Same top-1               : %9.3f%% +/- %6.3f%%\n", 100 * r.top1.mean, 100 * r.top1.err);
  std::printf("Mean    delta-p          : %9.3f%% +/- %6.3f%%\n", 100 * r.delta_p.mean, 100 * r.delta_p.err);
  std::printf("RMS     delta-p          : %9.3f%%\n", 100 * r.delta_p_rms);
  for (size_t i = 0; i < r.delta_p_percentiles.size(); ++i) {
    const double p = kDeltaPPercentiles[i];
    char label[24];
    if (p == 100) std::snprintf(label, sizeof label, "Maximum");
    else if (p == 0) std::snprintf(label, sizeof label, "Minimum");
    else if (p == 50) std::snprintf(label, sizeof label, "Median");
    else std::snprintf(label, sizeof label, "%g%%", p);
    std::printf("%-8s delta-p         : %9.3f%%\n", label, 100 * r.delta_p_percentiles[i]);
  }
}

void perplexity(const PerplexityArgs& a) {
  if (a.models.size() > 1 && a.kl_base.empty()) fail("several models (-m) can only be compared against --kl-base");
  const std::string text = read_text_file(a.text_file, "text");
  std::vector<std::unique_ptr<Engine>> engines;
  for (const auto& m : a.models) engines.push_back(Engine::load(m, a.threads, a.load));
  const Engine& first = *engines.front();
  const std::vector<int32_t> tokens = tokenize(first, text);
  PerplexityOptions opt;
  opt.n_ctx = a.ctx_size;
  opt.n_batch = a.batch;
  const int n_chunks = perplexity_chunks(tokens.size(), opt.n_ctx);
  if (first.config().n_ctx_train > 0 && opt.n_ctx > first.config().n_ctx_train)
    std::fprintf(stderr, "lineage: warning: context %d is longer than the model was trained on (%d)\n", opt.n_ctx,
                 first.config().n_ctx_train);
  std::fprintf(stderr, "lineage: %zu tokens, %d chunks of %d, scoring the second half of each\n", tokens.size(),
               n_chunks, opt.n_ctx);
  auto progress = a.json ? std::function<void(int, double)>() : print_running;

  if (a.kl_base.empty()) {
    const PerplexityResult r = compute_perplexity(first, tokens, opt, progress);
    if (a.json) std::printf("%s\n", ppl_json(r).dump().c_str());
    else std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", r.ppl, r.ppl_err);
    return;
  }

  auto base = Engine::load(a.kl_base, a.threads, a.load);
  if (tokenize(*base, text) != tokens)
    fail(a.kl_base, " tokenizes the text differently from ", a.models.front(),
         "; compare models that share a vocabulary");
  std::vector<const Engine*> models;
  for (size_t k = 0; k < engines.size(); ++k) {
    if (k > 0 && tokenize(*engines[k], text) != tokens)
      fail(a.models[k], " tokenizes the text differently from ", a.models.front());
    models.push_back(engines[k].get());
  }
  const std::vector<DivergenceResult> rs = compare_to_base(models, *base, tokens, opt, progress);
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t k = 0; k < rs.size(); ++k) out.push_back(divergence_json(a.models[k], rs[k]));
    std::printf("%s\n", (rs.size() == 1 ? out[0] : out).dump().c_str());
    return;
  }
  std::printf("\n");
  for (size_t k = 0; k < rs.size(); ++k) print_divergence(a.models[k], a.kl_base, rs[k]);
}

}  // namespace

void add_perplexity(CLI::App& app) {
  auto a = std::make_shared<PerplexityArgs>();
  CLI::App* c = app.add_subcommand("perplexity", "perplexity on a text file; with --kl-base, divergence from a base model");
  c->add_option("-m,--model", a->models, "GGUF model file (repeat to compare several with --kl-base)")->required();
  c->add_option("-f,--file", a->text_file, "text file to score")->required();
  c->add_option("-c,--ctx-size", a->ctx_size, "tokens per chunk (default 256)")->check(CLI::Range(4, 1 << 20));
  c->add_option("-b,--batch-size", a->batch, "tokens per forward pass (default: the chunk)")->check(CLI::Range(1, 1 << 20));
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  c->add_option("--kl-base", a->kl_base, "base model (e.g. the F16 file) to compare the model's predictions with");
  c->add_flag("--json", a->json, "print the result as one JSON object");
  c->callback([a] { perplexity(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(60, lineage::cli::add_perplexity);
