// The sampling options `run` and `chat` share, with one set of ranges, and
// the options that constrain the output with a grammar.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/grammar_options.h"
#include "core/text_file.h"
#include "core/error.h"
#include "sampling/grammar.h"
#include "sampling/json_schema.h"
#include "sampling/sampler.h"

namespace lineage::cli {

void add_sampling_options(CLI::App* c, SamplerParams& s) {
  c->add_option("--temp", s.temperature, "temperature (0: greedy)")->capture_default_str()->check(CLI::Range(0.0f, 100.0f));
  c->add_option("--top-k", s.top_k, "top-k (0: off)")->capture_default_str();
  c->add_option("--top-p", s.top_p, "top-p (1: off)")->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  c->add_option("--min-p", s.min_p, "min-p (0: off)")->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  c->add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.01f, 100.0f));
  c->add_option("--repeat-last-n", s.repeat_last_n, "tokens the penalties look back over")->capture_default_str();
  c->add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty")
      ->capture_default_str()
      ->check(CLI::Range(-100.0f, 100.0f));
  c->add_option("--presence-penalty", s.presence_penalty, "presence penalty")
      ->capture_default_str()
      ->check(CLI::Range(-100.0f, 100.0f));
}

}  // namespace lineage::cli

namespace lineage::cli {


void add_grammar_options(CLI::App* c, GrammarArgs& g) {
  auto* gr = c->add_option("--grammar", g.grammar_file, "GBNF grammar file the output must match (rule 'root')");
  auto* js = c->add_option("--json-schema", g.schema_file, "JSON Schema file the output must be a valid document of");
  gr->excludes(js);
  js->excludes(gr);
}

std::string load_grammar(const GrammarArgs& g) {
  if (!g.grammar_file.empty()) {
    std::string text = read_text_file(g.grammar_file, "grammar");
    try {
      parse_grammar(text);
    } catch (const Error& e) {
      fail(g.grammar_file, ": ", e.what());
    }
    return text;
  }
  if (!g.schema_file.empty()) {
    const std::string text = read_text_file(g.schema_file, "JSON schema");
    nlohmann::ordered_json schema;  // keeps the properties in the file's order
    try {
      schema = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail(g.schema_file, ": not valid JSON (", e.what(), ")");
    }
    try {
      return json_schema_to_gbnf(schema);
    } catch (const Error& e) {
      fail(g.schema_file, ": ", e.what());
    }
  }
  return "";
}

}  // namespace lineage::cli
