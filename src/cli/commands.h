// Each subcommand lives in its own cmd_*.cpp and registers itself with
// LINEAGE_COMMAND, so adding a command never touches a shared file.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace lineage {
struct LoadOptions;
struct SamplerParams;
}

namespace lineage::cli {

using AddCommandFn = void (*)(CLI::App& app);

// Registers a subcommand; `order` fixes its place in --help (lower first).
struct CommandRegistrar {
  CommandRegistrar(int order, AddCommandFn add);
};

// Adds every registered subcommand to the root app, in order.
void add_all_commands(CLI::App& app);

// --temp, --top-k, --top-p, --min-p and the penalties, bound to s (which
// must outlive the parse).
void add_sampling_options(CLI::App* c, SamplerParams& s);

// --gpu, -ngl/--n-gpu-layers and --device, bound to o (which must outlive
// the parse).
void add_device_options(CLI::App* c, LoadOptions& o);

// Parses "1,450,3681" (spaces allowed) into ids; Error on anything else.
std::vector<int32_t> parse_id_list(const std::string& s);

}  // namespace lineage::cli

#define LINEAGE_COMMAND_CAT2(a, b) a##b
#define LINEAGE_COMMAND_CAT(a, b) LINEAGE_COMMAND_CAT2(a, b)
// LINEAGE_COMMAND(20, add_run): call add_run(app) when the CLI is built.
#define LINEAGE_COMMAND(order, fn) \
  static const ::lineage::cli::CommandRegistrar LINEAGE_COMMAND_CAT(lineage_command_, __LINE__){order, fn}
