// The chat page's static files, built into the binary: cmake/embed_files.cmake
// generates webui_files() from src/server/webui/ at build time.
#pragma once
#include <cstddef>
#include <span>
#include <string_view>

namespace lineage::server {

struct EmbeddedFile {
  std::string_view name;  // path under src/server/webui/, e.g. "app.js"
  const char* data;
  size_t size;
};

std::span<const EmbeddedFile> webui_files();

}  // namespace lineage::server
