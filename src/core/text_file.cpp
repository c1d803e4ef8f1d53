#include "core/text_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace lineage {

std::string read_text_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, ": no such ", what, " file (or not a regular file)");
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  // Streaming an empty file's rdbuf sets failbit; only a file with bytes
  // that could not be read is an error.
  if (!f || !(os << f.rdbuf())) {
    if (std::filesystem::file_size(path, ec) != 0) fail(path, ": cannot read the ", what, " file");
  }
  return os.str();
}

}  // namespace lineage
