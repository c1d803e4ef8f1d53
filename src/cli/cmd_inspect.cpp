// `lineage inspect`: what a GGUF file holds, without loading the model, so
// it also works on files with types lineage cannot compute.
#include <cstdio>

#include "cli/commands.h"
#include "gguf/gguf.h"

namespace lineage::cli {

namespace {

std::string shape(const GGUFTensor& t) {
  std::string s;
  for (size_t k = 0; k < t.dims.size(); ++k) s += (k ? " x " : "") + std::to_string(t.dims[k]);
  return s;
}

void inspect(const std::string& path, bool all_values) {
  auto f = GGUFFile::open(path);
  std::printf("file: %s\n", path.c_str());
  std::printf("GGUF version %u, %zu metadata keys, %zu tensors, %zu bytes, data at %llu (alignment %llu)\n\n",
              f->version(), f->metadata().size(), f->tensors().size(), f->file_size(),
              static_cast<unsigned long long>(f->data_offset()), static_cast<unsigned long long>(f->alignment()));
  std::printf("metadata:\n");
  for (const auto& [key, v] : f->metadata())
    std::printf("  %-45s %-7s %s\n", key.c_str(), gguf_type_name(v.type), v.to_string(all_values ? SIZE_MAX : 8).c_str());
  std::printf("\ntensors:\n  %-40s %-6s %-24s %12s\n", "name", "type", "shape", "bytes");
  int64_t params = 0;
  size_t bytes = 0;
  for (const auto& t : f->tensors()) {
    std::printf("  %-40s %-6s %-24s %12zu\n", t.name.c_str(), dtype_name(t.type), shape(t).c_str(), t.nbytes);
    params += t.n_elements();
    bytes += t.nbytes;
  }
  std::printf("\n%zu tensors, %lld parameters, %.2f MiB of weights (%.2f bits per weight)\n", f->tensors().size(),
              static_cast<long long>(params), static_cast<double>(bytes) / (1 << 20),
              params ? 8.0 * static_cast<double>(bytes) / static_cast<double>(params) : 0.0);
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand("inspect", "print a GGUF file's metadata and tensor table");
  c->add_option("file", *path, "GGUF file")->required();
  c->add_flag("--all", *all, "print arrays in full");
  c->callback([path, all] { inspect(*path, *all); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(60, lineage::cli::add_inspect);
