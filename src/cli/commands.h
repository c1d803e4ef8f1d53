// Each subcommand registers its options and callback on the root app.
#pragma once
#include <CLI/CLI.hpp>

namespace lineage::cli {

void add_run(CLI::App& app);
void add_inspect(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_eval(CLI::App& app);
void add_quantize(CLI::App& app);

// Parses "1,450,3681" (spaces allowed) into ids; Error on anything else.
std::vector<int32_t> parse_id_list(const std::string& s);

}  // namespace lineage::cli
