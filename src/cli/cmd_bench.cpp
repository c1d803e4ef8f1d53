// `lineage bench`: prompt processing (pp: one prompt of p tokens as a single
// batch into an empty cache) and generation (tg: n tokens one at a time from
// an empty cache) in tokens per second, averaged over repetitions after one
// warm-up run, like llama-bench. Token ids are random: speed does not depend
// on what the tokens say.
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "cli/commands.h"
#include "core/error.h"
#include "kernels/device.h"
#include "kernels/matmul.h"
#include "kernels/type_traits.h"
#include "runtime/engine.h"

namespace lineage::cli {

namespace {

struct BenchArgs {
  std::string model;
  std::vector<int> n_prompt{512};
  std::vector<int> n_gen{128};
  int threads = 0;
  LoadOptions load;
  int reps = 5;
  bool json = false;
};

struct TestResult {
  std::string name;
  int n_prompt = 0, n_gen = 0;
  std::vector<double> samples_ts;
  double avg = 0, stddev = 0;
  double cpu_ts = 0;  // tokens per second of process CPU time, over all runs
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of all the process's threads: on a machine shared with other
// jobs, tokens per CPU-second of a one-thread run still compare two builds
// when wall time mostly measures the neighbours.
double cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<size_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

// "1.10 B", "5.2 M": the parameter count as llama-bench prints it.
std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2f K", n / 1e3);
  return buf;
}

// The type holding most of the weight bytes among the matrices (norms and
// other vectors are usually F32 whatever the file's type).
std::string main_type(const GGUFFile& f) {
  std::map<std::string, size_t> bytes;
  for (const auto& t : f.tensors())
    if (t.dims.size() >= 2) bytes[dtype_name(t.type)] += t.nbytes;
  std::string best = "?";
  size_t most = 0;
  for (const auto& [name, b] : bytes)
    if (b > most) best = name, most = b;
  return best;
}

void summarize(TestResult& r) {
  double sum = 0;
  for (double v : r.samples_ts) sum += v;
  r.avg = sum / static_cast<double>(r.samples_ts.size());
  double var = 0;
  for (double v : r.samples_ts) var += (v - r.avg) * (v - r.avg);
  r.stddev = r.samples_ts.size() > 1 ? std::sqrt(var / static_cast<double>(r.samples_ts.size() - 1)) : 0.0;
}

void bench(const BenchArgs& a) {
  auto engine = Engine::load(a.model, a.threads, a.load);
  const Model& model = engine->model();
  const ModelConfig& c = engine->config();
  int max_p = 0, max_g = 0;
  for (int p : a.n_prompt) max_p = std::max(max_p, p);
  for (int g : a.n_gen) max_g = std::max(max_g, g);
  const int n_ctx = std::max({max_p, max_g, 1});
  KVCache cache(model, n_ctx);
  std::vector<float> logits(static_cast<size_t>(c.n_vocab));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, c.n_vocab - 1);
  auto random_tokens = [&](int n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& id : t) id = pick(rng);
    return t;
  };

  std::vector<TestResult> results;
  auto run_test = [&](int n_prompt, int n_gen) {
    TestResult r;
    r.n_prompt = n_prompt;
    r.n_gen = n_gen;
    r.name = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
    double cpu_total = 0;
    for (int rep = -1; rep < a.reps; ++rep) {  // rep -1 warms caches and page tables
      const auto toks = random_tokens(n_prompt > 0 ? n_prompt : n_gen);
      cache.clear();
      const double t0 = now_s(), c0 = cpu_s();
      if (n_prompt > 0) {
        model.forward(toks.data(), n_prompt, 0, cache, logits.data(), false, engine->pool());
      } else {
        for (int i = 0; i < n_gen; ++i) model.forward(&toks[i], 1, i, cache, logits.data(), false, engine->pool());
      }
      const double dt = now_s() - t0;
      if (rep >= 0) {
        r.samples_ts.push_back((n_prompt > 0 ? n_prompt : n_gen) / dt);
        cpu_total += cpu_s() - c0;
      }
    }
    r.cpu_ts = (n_prompt > 0 ? n_prompt : n_gen) * static_cast<double>(a.reps) / cpu_total;
    summarize(r);
    results.push_back(std::move(r));
  };
  for (int p : a.n_prompt)
    if (p > 0) run_test(p, 0);
  for (int g : a.n_gen)
    if (g > 0) run_test(0, g);

  int64_t params = 0;
  size_t model_bytes = 0;
  for (const auto& t : engine->file().tensors()) {
    params += t.n_elements();
    model_bytes += t.nbytes;
  }
  const std::string type = main_type(engine->file());
  const std::string model_type = c.arch + " " + human_count(static_cast<double>(params)) + " " + type;
  const size_t rss = peak_rss_bytes();
  const int threads = engine->pool().size();
  // Where the layers ran: the CPU's instruction set, or the device (with the
  // number of layers on it when some stayed on the CPU).
  const DevicePlacement place = model.placement();
  std::string backend = isa_name(active_isa());
  if (place.device) {
    backend = place.device->name();
    if (place.first_layer > 0) backend += " ngl " + std::to_string(c.n_layer - place.first_layer);
  }
  const int bw = std::max<int>(6, static_cast<int>(backend.size()));

  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : results) {
      out.push_back({{"model_filename", a.model},
                     {"model_type", model_type},
                     {"model_size", model_bytes},
                     {"model_n_params", params},
                     {"n_threads", threads},
                     {"isa", isa_name(active_isa())},
                     {"backend", backend},
                     {"n_gpu_layers", place.device ? c.n_layer - place.first_layer : 0},
                     {"test", r.name},
                     {"n_prompt", r.n_prompt},
                     {"n_gen", r.n_gen},
                     {"avg_ts", r.avg},
                     {"stddev_ts", r.stddev},
                     {"samples_ts", r.samples_ts},
                     {"cpu_ts", r.cpu_ts},
                     {"peak_rss_bytes", rss},
                     {"repacked_bytes", packed_bytes_in_use()}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("| %-24s | %10s | %9s | %-*s | %7s | %6s | %18s |\n", "model", "size", "params", bw, "backend",
              "threads", "test", "t/s");
  std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", std::string(24, '-').c_str(), std::string(10, '-').c_str(),
              std::string(9, '-').c_str(), std::string(bw, '-').c_str(), std::string(7, '-').c_str(),
              std::string(6, '-').c_str(), std::string(18, '-').c_str());
  for (const auto& r : results) {
    char size[32], ts[48];
    std::snprintf(size, sizeof size, "%.2f MiB", static_cast<double>(model_bytes) / (1 << 20));
    std::snprintf(ts, sizeof ts, "%.2f +- %.2f", r.avg, r.stddev);
    std::printf("| %-24s | %10s | %9s | %-*s | %7d | %6s | %18s |\n", model_type.c_str(), size,
                human_count(static_cast<double>(params)).c_str(), bw, backend.c_str(), threads, r.name.c_str(), ts);
  }
  std::printf("\npeak RSS %.1f MiB (weights repacked for the kernels: %.1f MiB)\n", static_cast<double>(rss) / (1 << 20),
              static_cast<double>(packed_bytes_in_use()) / (1 << 20));
  if (place.device) {
    size_t free_b = 0, total_b = 0;
    place.device->memory(free_b, total_b);
    std::printf("%s: %.1f of %.1f GiB in use\n", place.device->name().c_str(),
                static_cast<double>(total_b - free_b) / (1 << 30), static_cast<double>(total_b) / (1 << 30));
  }
}

}  // namespace

void add_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* c = app.add_subcommand("bench", "measure prompt processing and generation speed (tokens/s)");
  c->add_option("-m,--model", a->model, "GGUF model file")->required();
  c->add_option("-p,--n-prompt", a->n_prompt, "prompt lengths to test (0 skips)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  c->add_option("-n,--n-gen", a->n_gen, "generation lengths to test (0 skips)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  c->add_option("-r,--repetitions", a->reps, "timed runs per test")->capture_default_str()->check(CLI::Range(1, 1000));
  c->add_flag("--json", a->json, "print the results as a JSON array");
  c->callback([a] { bench(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(70, lineage::cli::add_bench);
