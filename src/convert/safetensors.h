// Reader for .safetensors files (Hugging Face's weight format): an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw data. The header is hostile input:
// open() checks its length against the file, the JSON, every dtype, shape
// and range (inside the data section, sized exactly as shape and dtype say,
// no two overlapping) before any tensor byte is touched.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace lineage {

// The float types lineage converts from; any other dtype is an Error naming it.
enum class StDType { F32, F16, BF16 };
const char* st_dtype_name(StDType t);
size_t st_dtype_size(StDType t);

struct StTensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // outermost first, as PyTorch writes it
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t n_elements() const;
};

class SafetensorsFile {
 public:
  // Headers above this are refused (the format's own reader uses the same cap).
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;

  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  // Parses a buffer that must outlive the result (tests use this).
  static std::unique_ptr<SafetensorsFile> parse(const uint8_t* data, size_t size, const std::string& name);

  const std::string& path() const { return path_; }
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const StTensor* find(const std::string& name) const;
  // Tells the kernel the pages under t are no longer needed, so converting a
  // model larger than memory keeps the resident set near one tensor.
  void release(const StTensor& t) const;

 private:
  SafetensorsFile() = default;
  void parse_header(const uint8_t* data, size_t size);
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  std::map<std::string, StTensor> tensors_;
};

}  // namespace lineage
