#include "convert/safetensors.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lineage {

namespace {

using json = nlohmann::json;

// Dtypes the format defines that lineage does not convert; named in the
// error so the user learns what the file holds rather than "unknown".
constexpr const char* kOtherDtypes[] = {"F64", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL",
                                        "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};

// A dimension above this cannot be real, and keeps products of a few of them
// far from overflowing 64 bits.
constexpr int64_t kMaxDim = int64_t{1} << 40;

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

StDType parse_dtype(const std::string& file, const std::string& tensor, const json& v) {
  if (!v.is_string()) fail(file, ": tensor '", tensor, "': dtype is not a string");
  const std::string s = v.get<std::string>();
  if (s == "F32") return StDType::F32;
  if (s == "F16") return StDType::F16;
  if (s == "BF16") return StDType::BF16;
  for (const char* other : kOtherDtypes)
    if (s == other)
      fail(file, ": tensor '", tensor, "' has dtype ", s, ", which lineage convert does not read (it reads F32, F16 and BF16)");
  fail(file, ": tensor '", tensor, "' has an unknown dtype \"", s.substr(0, 32), "\"");
}

uint64_t non_negative(const std::string& file, const std::string& tensor, const char* what, const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  fail(file, ": tensor '", tensor, "': ", what, " must hold non-negative integers");
}

}  // namespace

const char* st_dtype_name(StDType t) {
  switch (t) {
    case StDType::F32: return "F32";
    case StDType::F16: return "F16";
    case StDType::BF16: return "BF16";
  }
  return "?";
}

size_t st_dtype_size(StDType t) { return t == StDType::F32 ? 4 : 2; }

int64_t StTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = std::make_unique<MappedFile>(path);
  f->parse_header(f->map_->data(), f->map_->size());
  return f;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::parse(const uint8_t* data, size_t size, const std::string& name) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  f->parse_header(data, size);
  return f;
}

void SafetensorsFile::parse_header(const uint8_t* data, size_t size) {
  const std::string& p = path_;
  if (size < 8) fail(p, ": ", size, " bytes is too short for a safetensors file (no header length)");
  const uint64_t n = read_u64_le(data);
  if (n > kMaxHeaderBytes) fail(p, ": safetensors header length ", n, " is over the limit of ", kMaxHeaderBytes, " bytes");
  if (n > size - 8) fail(p, ": safetensors header length ", n, " runs past the end of the file (", size, " bytes)");
  if (n < 2 || data[8] != '{') fail(p, ": safetensors header is not a JSON object");
  const char* text = reinterpret_cast<const char*>(data + 8);
  json header = json::parse(text, text + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) fail(p, ": safetensors header is not well-formed JSON");
  if (!header.is_object()) fail(p, ": safetensors header is not a JSON object");

  const uint8_t* base = data + 8 + n;
  const uint64_t data_size = size - 8 - n;
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) fail(p, ": safetensors __metadata__ is not an object");
      continue;
    }
    if (!v.is_object()) fail(p, ": tensor '", name, "': entry is not an object");
    if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(p, ": tensor '", name, "': entry needs dtype, shape and data_offsets");
    StTensor t;
    t.name = name;
    t.dtype = parse_dtype(p, name, v["dtype"]);
    const json& shape = v["shape"];
    if (!shape.is_array()) fail(p, ": tensor '", name, "': shape is not an array");
    if (shape.size() > 8) fail(p, ": tensor '", name, "': ", shape.size(), " dimensions is more than any model uses");
    uint64_t count = 1;
    for (const json& d : shape) {
      const uint64_t dim = non_negative(p, name, "shape", d);
      if (dim > static_cast<uint64_t>(kMaxDim)) fail(p, ": tensor '", name, "': dimension ", dim, " is too large");
      t.shape.push_back(static_cast<int64_t>(dim));
      if (dim != 0 && count > (uint64_t{1} << 62) / dim) fail(p, ": tensor '", name, "': shape has too many elements");
      count *= dim;
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2) fail(p, ": tensor '", name, "': data_offsets must be [begin, end]");
    const uint64_t begin = non_negative(p, name, "data_offsets", off[0]);
    const uint64_t end = non_negative(p, name, "data_offsets", off[1]);
    if (begin > end) fail(p, ": tensor '", name, "': data_offsets [", begin, ", ", end, "] run backwards");
    if (end > data_size)
      fail(p, ": tensor '", name, "': data_offsets [", begin, ", ", end, "] run past the end of the data (", data_size,
           " bytes)");
    const uint64_t need = count * st_dtype_size(t.dtype);
    if (end - begin != need)
      fail(p, ": tensor '", name, "': ", end - begin, " bytes in data_offsets, but its shape and dtype need ", need);
    t.data = base + begin;
    t.nbytes = static_cast<size_t>(need);
    auto [it, inserted] = tensors_.emplace(name, std::move(t));
    ranges.push_back({begin, end, &it->first});
  }
  // Two tensors sharing bytes would make a write through one change the
  // other in the model the file came from; no honest writer produces it.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const Range& a = ranges[i - 1];
    const Range& b = ranges[i];
    if (b.begin < a.end && b.begin != b.end)
      fail(p, ": tensors '", *a.name, "' and '", *b.name, "' overlap in the data section");
  }
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsFile::release(const StTensor& t) const {
  if (!map_ || t.nbytes == 0) return;
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t lo = reinterpret_cast<uintptr_t>(t.data);
  uintptr_t hi = lo + t.nbytes;
  lo = (lo + page - 1) / page * page;  // only whole pages that hold nothing else
  hi = hi / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

}  // namespace lineage
