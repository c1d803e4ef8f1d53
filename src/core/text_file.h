// Reading a whole small text file (a prompt, a template, a schema) with the
// one error wording every command uses.
#pragma once
#include <string>
#include <string_view>

namespace lineage {

// The file's bytes. Error "PATH: no such WHAT file (or not a regular file)"
// or "PATH: cannot read the WHAT file"; an empty file is fine.
std::string read_text_file(const std::string& path, std::string_view what);

}  // namespace lineage
