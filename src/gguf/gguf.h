// GGUF v2/v3 reader over a memory map. open() validates every count, string
// length, dimension, type, offset and size against the file length before
// anything is used, so a truncated or hostile file yields lineage::Error,
// never an out-of-bounds read.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "tensor/dtype.h"

namespace lineage {

enum class GGUFType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_type_name(GGUFType t);

// One metadata value. Scalars fill one of i/f/s; arrays fill the vector that
// matches their element type (integers and bools in ints, floats in floats,
// strings in strs, nested arrays in items).
struct GGUFValue {
  GGUFType type = GGUFType::U8;
  GGUFType elem_type = GGUFType::U8;  // arrays only
  int64_t i = 0;                      // every integer type and bool (U64 bit-cast)
  double f = 0;                       // F32, F64
  std::string s;                      // STRING
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strs;
  std::vector<GGUFValue> items;

  bool is_int() const;    // any integer type or bool
  bool is_float() const;  // F32/F64
  bool is_array() const { return type == GGUFType::ARRAY; }
  size_t array_size() const;
  // Human-readable rendering for `inspect` (arrays abbreviated past max_items).
  std::string to_string(size_t max_items = 8) const;
};

struct GGUFTensor {
  std::string name;
  std::vector<int64_t> dims;  // dims[0] is the contiguous one (row length)
  DType type = DType::F32;
  uint64_t offset = 0;        // relative to the data section
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t n_elements() const;
  int64_t rows() const;       // product of dims[1..]
};

class GGUFFile {
 public:
  // populate: read the whole file into memory now (for running a model);
  // off for tools that only look at the header.
  static std::unique_ptr<GGUFFile> open(const std::string& path, bool populate = false);
  // Parse an in-memory buffer (used by fuzzers and tests); the buffer must
  // outlive the returned object.
  static std::unique_ptr<GGUFFile> parse(const uint8_t* data, size_t size, const std::string& name);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t file_size() const { return size_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return kv_; }
  const GGUFValue* find(const std::string& key) const;
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Typed getters: nullopt when absent, Error when present with a wrong type.
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;  // accepts ints too
  std::optional<std::string> get_string(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  // Arrays: nullptr when absent, Error when present with a wrong element type.
  const std::vector<std::string>* get_str_array(const std::string& key) const;
  const std::vector<int64_t>* get_int_array(const std::string& key) const;
  const std::vector<double>* get_float_array(const std::string& key) const;

  // Parts of a split model (NAME-00001-of-0000N.gguf ...): opening the
  // first part opens the others beside it and lists their tensors here too,
  // each read from its own part's map; 1 for an ordinary file.
  int split_count() const { return static_cast<int>(parts_.size()) + 1; }

  const std::vector<GGUFTensor>& tensors() const { return tensors_; }
  const GGUFTensor* find_tensor(const std::string& name) const;
  // Error naming the tensor and the file when it is missing.
  const GGUFTensor& tensor(const std::string& name) const;

 private:
  GGUFFile() = default;
  static std::unique_ptr<GGUFFile> open_one(const std::string& path, bool populate);  // one file, split or not
  void load_split_parts(bool populate);  // gguf_split.cpp
  std::vector<std::unique_ptr<GGUFFile>> parts_;  // parts 2..N of a split model
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GGUFTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
  friend class GGUFParser;
};

// Writes GGUF v3 files: metadata in insertion order, tensors aligned to 32.
class GGUFWriter {
 public:
  void set(const std::string& key, const GGUFValue& v);
  void set_string(const std::string& key, const std::string& v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  // Tensor bytes are copied at write time from the pointer given here, which
  // must stay valid until write() returns.
  void add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, const void* data, size_t nbytes);
  // A tensor whose bytes are made only when write() reaches it, into a
  // buffer of exactly nbytes, so writing a converted model needs memory for
  // one tensor at a time rather than for the whole output.
  using Producer = std::function<void(uint8_t* dst)>;
  void add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, size_t nbytes, Producer produce);
  // Writes to path (through a temporary file renamed into place; on any
  // error, a producer's included, the temporary file is removed).
  void write(const std::string& path) const;

 private:
  void write_to(const std::string& tmp, const std::string& path) const;
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> dims;
    DType type;
    const void* data;
    size_t nbytes;
    Producer produce;  // set instead of data for lazily made tensors
  };
  std::vector<std::pair<std::string, GGUFValue>> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace lineage
