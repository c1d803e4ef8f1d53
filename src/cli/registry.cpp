// The list of subcommands, filled by static registrars in each cmd_*.cpp
// (they are linked into the executable directly, so none is dropped).
#include <algorithm>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace lineage::cli {

namespace {
std::vector<std::pair<int, AddCommandFn>>& registry() {
  static std::vector<std::pair<int, AddCommandFn>> r;  // built on first use: no init-order issue
  return r;
}
}  // namespace

CommandRegistrar::CommandRegistrar(int order, AddCommandFn add) { registry().emplace_back(order, add); }

void add_all_commands(CLI::App& app) {
  auto cmds = registry();
  std::stable_sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& c : cmds) c.second(app);
}

}  // namespace lineage::cli
