// lineage: one binary, one subcommand per task. Library code throws
// lineage::Error; this is the only place that turns it into an exit code.
#include <cstdio>
#include <cstring>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"lineage: run LLaMA-family models from GGUF files"};
  app.set_version_flag("--version", std::string("lineage ") + LINEAGE_VERSION);
  app.require_subcommand(1);
  lineage::cli::add_all_commands(app);
  // llama.cpp's users type -ngl N; the option parser takes single-dash
  // names of one letter only, so the spelling is mapped to --ngl.
  static char ngl[] = "--ngl";
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "-ngl") == 0) argv[i] = ngl;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lineage::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
