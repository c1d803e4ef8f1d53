#include "batch/batch_input.h"

#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "core/error.h"

namespace lineage::batch {

std::string id_key(const nlohmann::ordered_json& id) { return to_line(id); }

std::string to_line(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

namespace {

bool blank(const std::string& s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

std::vector<InputRow> read_rows(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(path, ": no such input file");
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, ": the input is not a regular file");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot open the input file");

  std::vector<InputRow> rows;
  std::unordered_map<std::string, int> seen;  // id key -> line
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (blank(line)) continue;
    InputRow r;
    r.line = n;
    r.text = line;
    r.id = n;
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      r.bad = "the line is not valid JSON";
    } else if (!j.is_object()) {
      r.bad = std::string("the line is a JSON ") + j.type_name() + ", not an object";
    } else if (auto it = j.find("id"); it != j.end()) {
      if (!it->is_string() && !it->is_number_integer())
        fail(path, ":", n, ": the id must be a string or an integer, not a ", it->type_name());
      r.id = *it;
    }
    r.key = id_key(r.id);
    auto [it, fresh] = seen.emplace(r.key, n);
    if (!fresh)
      fail(path, ":", n, ": id ", r.key, " already used on line ", it->second,
           " (rows without an id are known by their line number)");
    rows.push_back(std::move(r));
  }
  if (f.bad()) fail(path, ": read error");
  return rows;
}

}  // namespace lineage::batch
