// Split models, as the common engine's gguf-split tool writes them: parts
// NAME-00001-of-0000N.gguf .. NAME-0000N-of-0000N.gguf, each a complete
// GGUF file. The first holds all metadata; every part states split.no (0
// based), split.count and split.tensors.count (the total over all parts),
// and holds its own tensors with offsets into its own data section.
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {

namespace {

constexpr int64_t kMaxParts = 99999;  // the name has five digits

int64_t split_key(const GGUFFile& f, const char* key, int64_t lo, int64_t hi) {
  std::optional<int64_t> v = f.get_int(key);
  if (!v) fail(f.path(), ": missing metadata key ", key, " (every part of a split model states it)");
  if (*v < lo || *v > hi) fail(f.path(), ": metadata key ", key, " is ", *v, ", outside [", lo, ", ", hi, "]");
  return *v;
}

std::string part_suffix(int64_t no, int64_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%05lld-of-%05lld.gguf", static_cast<long long>(no), static_cast<long long>(count));
  return buf;
}

}  // namespace

void GGUFFile::load_split_parts(bool populate) {
  const int64_t count = split_key(*this, "split.count", 1, kMaxParts);
  const int64_t no = split_key(*this, "split.no", 0, count - 1);
  const int64_t total = split_key(*this, "split.tensors.count", 0, int64_t{1} << 20);
  const std::string first = part_suffix(1, count);
  if (no != 0) {
    const std::string mine = part_suffix(no + 1, count);
    std::string hint;
    if (path_.size() > mine.size() && path_.compare(path_.size() - mine.size(), mine.size(), mine) == 0)
      hint = " (" + path_.substr(0, path_.size() - mine.size()) + first + ")";
    fail(path_, ": is part ", no + 1, " of ", count, " of a split model; open the first part", hint);
  }
  if (count > 1) {
    if (path_.size() <= first.size() || path_.compare(path_.size() - first.size(), first.size(), first) != 0)
      fail(path_, ": is the first of ", count, " parts of a split model, but its name does not end in ", first,
           ", so the other parts cannot be found");
    const std::string prefix = path_.substr(0, path_.size() - first.size());
    for (int64_t i = 1; i < count; ++i) {
      const std::string path = prefix + part_suffix(i + 1, count);
      std::error_code ec;
      if (!std::filesystem::exists(path, ec))
        fail(path_, ": part ", i + 1, " of ", count, " of this split model is missing (", path, ")");
      std::unique_ptr<GGUFFile> part = open_one(path, populate);
      const int64_t part_count = split_key(*part, "split.count", 1, kMaxParts);
      if (part_count != count)
        fail(path, ": metadata key split.count is ", part_count, ", but the first part says ", count);
      const int64_t part_no = split_key(*part, "split.no", 0, count - 1);
      if (part_no != i) fail(path, ": metadata key split.no is ", part_no, ", expected ", i, " for this file name");
      for (const GGUFTensor& t : part->tensors()) {
        if (tensor_index_.count(t.name))
          fail(path, ": tensor '", t.name, "' is also in another part of the split model");
        tensor_index_[t.name] = tensors_.size();
        tensors_.push_back(t);  // data points into the part's map, which parts_ keeps
      }
      parts_.push_back(std::move(part));
    }
  }
  if (static_cast<int64_t>(tensors_.size()) != total)
    fail(path_, ": the split model's parts hold ", tensors_.size(), " tensors, but split.tensors.count is ", total);
}

}  // namespace lineage
