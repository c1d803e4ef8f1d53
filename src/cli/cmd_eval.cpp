// `lineage eval`: the full logits of given token ids as JSON lines, in the
// format of the golden .logits.jsonl files, optionally followed by a greedy
// continuation.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "runtime/engine.h"

namespace lineage::cli {

namespace {

struct EvalArgs {
  std::string model, ids;
  int greedy = 0;
  int threads = 0;
  LoadOptions load;
};

void print_ids(const char* key, const std::vector<int32_t>& ids) {
  std::printf("{\"%s\":[", key);
  for (size_t k = 0; k < ids.size(); ++k) std::printf("%s%d", k ? "," : "", ids[k]);
  std::printf("]}\n");
}

void eval(const EvalArgs& a) {
  std::vector<int32_t> ids = parse_id_list(a.ids);
  if (ids.empty()) fail("--ids is empty");
  if (a.greedy < 0) fail("--greedy must be >= 0");
  auto engine = Engine::load(a.model, a.threads, a.load);
  const int n_vocab = engine->config().n_vocab;
  KVCache cache(engine->model(), static_cast<int>(ids.size()) + a.greedy);
  std::vector<float> logits(ids.size() * static_cast<size_t>(n_vocab));
  engine->model().forward(ids.data(), static_cast<int>(ids.size()), 0, cache, logits.data(), true, engine->pool());
  print_ids("tokens", ids);
  std::string line;
  char buf[32];
  for (size_t p = 0; p < ids.size(); ++p) {
    line = "{\"pos\":" + std::to_string(p) + ",\"logits\":[";
    for (int k = 0; k < n_vocab; ++k) {
      std::snprintf(buf, sizeof buf, "%s%.7g", k ? "," : "", logits[p * n_vocab + k]);
      line += buf;
    }
    line += "]}\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  if (a.greedy > 0) {
    std::vector<int32_t> out;
    const float* last = logits.data() + (ids.size() - 1) * n_vocab;
    std::vector<float> next(last, last + n_vocab);
    int pos = static_cast<int>(ids.size());
    for (int k = 0; k < a.greedy; ++k) {
      int32_t id = argmax(next.data(), n_vocab);
      out.push_back(id);
      if (k + 1 == a.greedy) break;
      engine->model().forward(&id, 1, pos++, cache, next.data(), false, engine->pool());
    }
    print_ids("greedy", out);
  }
}

}  // namespace

std::vector<int32_t> parse_id_list(const std::string& s) {
  std::vector<int32_t> ids;
  size_t at = 0;
  while (at < s.size()) {
    while (at < s.size() && (s[at] == ' ' || s[at] == ',' || s[at] == '[' || s[at] == ']')) ++at;
    if (at == s.size()) break;
    size_t end = at;
    if (s[end] == '-') ++end;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
    if (end == at || (end == at + 1 && s[at] == '-')) fail("bad token id list near '", s.substr(at, 10), "'");
    if (end - at > 10) fail("token id ", s.substr(at, end - at), " is too large");
    long long v = std::stoll(s.substr(at, end - at));
    if (v < INT32_MIN || v > INT32_MAX) fail("token id ", v, " is too large");
    ids.push_back(static_cast<int32_t>(v));
    at = end;
    if (at < s.size() && s[at] != ',' && s[at] != ' ' && s[at] != ']') fail("bad token id list near '", s.substr(at, 10), "'");
  }
  return ids;
}

void add_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* c = app.add_subcommand("eval", "print the logits of token ids as JSON lines");
  c->add_option("-m,--model", a->model, "GGUF model file")->required();
  c->add_option("--ids", a->ids, "comma-separated token ids")->required();
  c->add_option("--greedy", a->greedy, "then continue greedily for N tokens")->check(CLI::Range(0, 1 << 20));
  c->add_option("-t,--threads", a->threads, "threads (default: physical cores)")->check(CLI::Range(1, 256));
  add_device_options(c, a->load);
  c->callback([a] { eval(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(80, lineage::cli::add_eval);
