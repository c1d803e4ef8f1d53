// `lineage quantize`: rewrite a model's matrices with a quantization preset.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "convert/quantize.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/presets.h"

namespace lineage::cli {

namespace {
struct QuantizeArgs {
  std::string in, out, preset;
  int threads = 0;
  bool pure = false;
  bool reference_rounding = false;
};

std::string preset_list() {
  std::string s;
  for (const auto& p : quant_presets()) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

void quantize(const QuantizeArgs& a) {
  const QuantPreset* p = find_quant_preset(a.preset);
  if (!p) fail("unknown quantization preset '", a.preset, "' (one of: ", preset_list(), ")");
  ThreadPool pool(a.threads > 0 ? a.threads : default_thread_count());
  QuantizeOptions opt;
  opt.pure = a.pure;
  opt.reference_rounding = a.reference_rounding;
  auto t0 = std::chrono::steady_clock::now();
  QuantizeReport r = quantize_file(a.in, a.out, *p, opt, pool);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string types;
  for (const auto& [name, n] : r.by_type) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + name;
  std::fprintf(stderr, "lineage: %s: %d tensors converted, %d kept (%s), %.2f MiB -> %.2f MiB in %.1f s\n", p->name,
               r.converted, r.kept, types.c_str(), r.bytes_in / 1048576.0, r.bytes_out / 1048576.0, s);
}
}  // namespace

void add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* c = app.add_subcommand("quantize", "convert a model's matrices with a quantization preset");
  c->add_option("input", a->in, "input GGUF file")->required();
  c->add_option("output", a->out, "output GGUF file")->required();
  c->add_option("preset", a->preset, "Q8_0, Q6_K, Q5_K_M, Q5_K_S, Q5_1, Q5_0, Q4_K_M, Q4_K_S, Q4_1, Q4_0, Q3_K_L, Q3_K_M, Q3_K_S or Q2_K")
      ->required();
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  c->add_flag("--pure", a->pure, "every matrix in the preset's main type (no per-tensor exceptions)");
  c->add_flag("--reference-rounding", a->reference_rounding,
              "Q8_0 and Q4_0 blocks by the common quantizer's fixed rule, byte for byte (default: searched scales, "
              "closer to the original)");
  c->callback([a] { quantize(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(50, lineage::cli::add_quantize);
