// `lineage quantize`: rewrite a model's matrices in a smaller type.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "convert/quantize.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace lineage::cli {

namespace {
struct QuantizeArgs {
  std::string in, out, type;
  int threads = 0;
};

void quantize(const QuantizeArgs& a) {
  DType t;
  if (!dtype_from_name(a.type, &t)) fail("unknown type '", a.type, "' (supported: Q8_0, Q4_0)");
  ThreadPool pool(a.threads > 0 ? a.threads : default_thread_count());
  auto t0 = std::chrono::steady_clock::now();
  QuantizeReport r = quantize_file(a.in, a.out, t, pool);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "lineage: %d tensors converted to %s, %d kept, %.2f MiB -> %.2f MiB in %.1f s\n", r.converted,
               dtype_name(t), r.kept, r.bytes_in / 1048576.0, r.bytes_out / 1048576.0, s);
}
}  // namespace

void add_quantize(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* c = app.add_subcommand("quantize", "convert a model's matrices to another type");
  c->add_option("input", a->in, "input GGUF file")->required();
  c->add_option("output", a->out, "output GGUF file")->required();
  c->add_option("type", a->type, "Q8_0 or Q4_0")->required();
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  c->callback([a] { quantize(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(50, lineage::cli::add_quantize);
