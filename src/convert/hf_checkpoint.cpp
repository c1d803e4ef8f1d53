#include "convert/hf_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"

namespace lineage {

namespace fs = std::filesystem;

namespace {

// Shard names from the index, which must be plain file names in the same
// directory (a hostile index must not point the reader elsewhere).
std::vector<std::string> shards_from_index(const std::string& index_path, std::map<std::string, std::string>& weight_map) {
  std::ifstream f(index_path, std::ios::binary);
  if (!f) fail(index_path, ": cannot open");
  std::ostringstream os;
  os << f.rdbuf();
  auto j = nlohmann::json::parse(os.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) fail(index_path, ": not a well-formed JSON object");
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object() || wm->empty()) fail(index_path, ": no weight_map object");
  std::set<std::string> shards;
  for (const auto& [name, file] : wm->items()) {
    if (!file.is_string()) fail(index_path, ": weight_map entry for '", name, "' is not a file name");
    const std::string s = file.get<std::string>();
    if (s.empty() || s.find('/') != std::string::npos || s == "." || s == "..")
      fail(index_path, ": weight_map names the file \"", s, "\", which is not a plain file name in the model directory");
    weight_map[name] = s;
    shards.insert(s);
  }
  return {shards.begin(), shards.end()};
}

}  // namespace

HfCheckpoint HfCheckpoint::open(const std::string& dir) {
  HfCheckpoint c;
  c.dir_ = dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, ": not a directory");

  std::map<std::string, std::string> weight_map;
  std::vector<std::string> shards;
  const std::string index = dir + "/model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    shards = shards_from_index(index, weight_map);
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) shards.push_back(name);
    }
    if (ec) fail(dir, ": cannot list the directory: ", ec.message());
    std::sort(shards.begin(), shards.end());
    if (shards.size() > 1 && std::find(shards.begin(), shards.end(), "model.safetensors") != shards.end())
      shards = {"model.safetensors"};  // other .safetensors files are not the model's weights
    if (shards.empty()) fail(dir, ": no model.safetensors (nor a model.safetensors.index.json) in the directory");
  }

  for (const std::string& s : shards) {
    c.files_.push_back(SafetensorsFile::open(dir + "/" + s));
    const SafetensorsFile& f = *c.files_.back();
    for (const auto& [name, t] : f.tensors()) {
      if (!weight_map.empty()) {
        auto it = weight_map.find(name);
        if (it == weight_map.end() || it->second != s) continue;  // the index says it lives elsewhere
      }
      if (!c.index_.emplace(name, &t).second) fail(dir, ": tensor '", name, "' is in more than one shard");
      c.owner_[&t] = &f;
    }
  }
  for (const auto& [name, file] : weight_map)
    if (!c.index_.count(name)) fail(index, ": tensor '", name, "' is not in ", file, " (incomplete download?)");
  return c;
}

const StTensor* HfCheckpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const StTensor& HfCheckpoint::get(const std::string& name) const {
  const StTensor* t = find(name);
  if (!t) fail(dir_, ": the checkpoint has no tensor '", name, "'");
  return *t;
}

void HfCheckpoint::release(const StTensor& t) const {
  auto it = owner_.find(&t);
  if (it != owner_.end()) it->second->release(t);
}

}  // namespace lineage
