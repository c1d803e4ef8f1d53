// --grammar FILE and --json-schema FILE, for the commands that generate.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace lineage::cli {

struct GrammarArgs {
  std::string grammar_file;  // GBNF
  std::string schema_file;   // JSON Schema
};

// Adds both options (they exclude each other), bound to g.
void add_grammar_options(CLI::App* c, GrammarArgs& g);

// The GBNF text for GenerateOptions::grammar ("" when neither option was
// given). Error when a file cannot be read, is not JSON, or does not turn
// into a grammar, naming the file.
std::string load_grammar(const GrammarArgs& g);

}  // namespace lineage::cli
