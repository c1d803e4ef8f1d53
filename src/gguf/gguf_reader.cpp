// GGUF parsing. Every read goes through Cursor, which checks the remaining
// length first; counts are checked against the bytes left before anything is
// allocated, so a hostile header cannot make us allocate or read past the end.
#include <cstring>

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {

namespace {

// Besides fitting in the file, every size a header sets has a fixed cap far
// above what real models use (Llama 4 Maverick: ~1,100 tensors, 200k-token
// vocabularies, templates of tens of KB), so a crafted multi-GB file cannot
// make the reader build a multi-GB table before any check can run.
constexpr int kMaxArrayDepth = 4;
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxTensors = 1u << 20;
constexpr uint64_t kMaxKeys = 1u << 16;
constexpr uint64_t kMaxKeyBytes = 1u << 16;
constexpr uint64_t kMaxStringBytes = 64u << 20;
constexpr uint64_t kMaxArrayLength = 1u << 26;

class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size, const std::string& name) : base_(base), size_(size), name_(name) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  void need(size_t n, const char* what) const {
    if (n > left())
      fail(name_, ": truncated file: ", what, " at byte ", pos_, " needs ", n, " bytes, only ", left(), " left");
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));  // unaligned-safe; files are little-endian like x86
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what, uint64_t max_bytes = kMaxStringBytes) {
    uint64_t n = read<uint64_t>(what);
    if (n > max_bytes)
      fail(name_, ": ", what, " at byte ", pos_, " is ", n, " bytes long (at most ", max_bytes, " allowed)");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(base_ + pos_), n);
    pos_ += n;
    return s;
  }
  [[noreturn]] void bad(const std::string& msg) const { fail(name_, ": ", msg, " (at byte ", pos_, ")"); }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& name_;
};

size_t scalar_size(GGUFType t) {
  switch (t) {
    case GGUFType::U8: case GGUFType::I8: case GGUFType::BOOL: return 1;
    case GGUFType::U16: case GGUFType::I16: return 2;
    case GGUFType::U32: case GGUFType::I32: case GGUFType::F32: return 4;
    case GGUFType::U64: case GGUFType::I64: case GGUFType::F64: return 8;
    case GGUFType::STRING: return 8;  // at least the length prefix
    case GGUFType::ARRAY: return 12;  // at least type + count
  }
  return 0;
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GGUFType::F64); }

void read_scalar(Cursor& c, GGUFType t, GGUFValue& v) {
  switch (t) {
    case GGUFType::U8: v.i = c.read<uint8_t>("u8 value"); break;
    case GGUFType::I8: v.i = c.read<int8_t>("i8 value"); break;
    case GGUFType::U16: v.i = c.read<uint16_t>("u16 value"); break;
    case GGUFType::I16: v.i = c.read<int16_t>("i16 value"); break;
    case GGUFType::U32: v.i = c.read<uint32_t>("u32 value"); break;
    case GGUFType::I32: v.i = c.read<int32_t>("i32 value"); break;
    case GGUFType::U64: v.i = static_cast<int64_t>(c.read<uint64_t>("u64 value")); break;
    case GGUFType::I64: v.i = c.read<int64_t>("i64 value"); break;
    case GGUFType::F32: v.f = c.read<float>("f32 value"); break;
    case GGUFType::F64: v.f = c.read<double>("f64 value"); break;
    case GGUFType::BOOL: {
      uint8_t b = c.read<uint8_t>("bool value");
      if (b > 1) c.bad("bool value " + std::to_string(b) + " is neither 0 nor 1");
      v.i = b;
      break;
    }
    case GGUFType::STRING: v.s = c.read_string("string value"); break;
    case GGUFType::ARRAY: c.bad("internal: array read as scalar");
  }
}

void read_value(Cursor& c, GGUFType t, GGUFValue& v, int depth) {
  v.type = t;
  if (t != GGUFType::ARRAY) {
    read_scalar(c, t, v);
    return;
  }
  if (depth >= kMaxArrayDepth) c.bad("arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  uint32_t et = c.read<uint32_t>("array element type");
  if (!valid_type(et)) c.bad("unknown array element type " + std::to_string(et));
  v.elem_type = static_cast<GGUFType>(et);
  uint64_t n = c.read<uint64_t>("array length");
  if (n > kMaxArrayLength)
    c.bad("array of " + std::to_string(n) + " elements (at most " + std::to_string(kMaxArrayLength) + " allowed)");
  // Every element takes at least scalar_size bytes, so a count larger than
  // the rest of the file is a lie; reject it before reserving memory.
  if (n > c.left() / scalar_size(v.elem_type))
    c.bad("array of " + std::to_string(n) + " elements cannot fit in the " + std::to_string(c.left()) + " bytes left");
  GGUFValue tmp;
  switch (v.elem_type) {
    case GGUFType::STRING:
      v.strs.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.strs.push_back(c.read_string("array string"));
      break;
    case GGUFType::F32: case GGUFType::F64:
      v.floats.reserve(n);
      for (uint64_t k = 0; k < n; ++k) {
        read_scalar(c, v.elem_type, tmp);
        v.floats.push_back(tmp.f);
      }
      break;
    case GGUFType::ARRAY:
      v.items.reserve(n);
      for (uint64_t k = 0; k < n; ++k) {
        v.items.emplace_back();
        read_value(c, GGUFType::ARRAY, v.items.back(), depth + 1);
      }
      break;
    default:
      v.ints.reserve(n);
      for (uint64_t k = 0; k < n; ++k) {
        read_scalar(c, v.elem_type, tmp);
        v.ints.push_back(tmp.i);
      }
  }
}

}  // namespace

class GGUFParser {
 public:
  static void parse(GGUFFile& g) {
    Cursor c(g.base_, g.size_, g.path_);
    c.need(4, "magic");
    uint32_t magic = c.read<uint32_t>("magic");
    if (std::memcmp(&magic, "GGUF", 4) != 0) fail(g.path_, ": not a GGUF file (bad magic)");
    g.version_ = c.read<uint32_t>("version");
    if (g.version_ != 2 && g.version_ != 3)
      fail(g.path_, ": unsupported GGUF version ", g.version_, " (lineage reads versions 2 and 3)");
    uint64_t n_tensors = c.read<uint64_t>("tensor count");
    uint64_t n_kv = c.read<uint64_t>("metadata count");
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes,
    // a tensor info at least 8 + 4 + 8 + 4 + 8.
    if (n_kv > kMaxKeys)
      c.bad("metadata count " + std::to_string(n_kv) + " (at most " + std::to_string(kMaxKeys) + " allowed)");
    if (n_tensors > kMaxTensors)
      c.bad("tensor count " + std::to_string(n_tensors) + " (at most " + std::to_string(kMaxTensors) + " allowed)");
    if (n_kv > c.left() / 13) c.bad("metadata count " + std::to_string(n_kv) + " is larger than the file allows");
    if (n_tensors > c.left() / 32) c.bad("tensor count " + std::to_string(n_tensors) + " is larger than the file allows");

    g.kv_.reserve(n_kv);
    for (uint64_t k = 0; k < n_kv; ++k) {
      std::string key = c.read_string("metadata key", kMaxKeyBytes);
      uint32_t t = c.read<uint32_t>("metadata type");
      if (!valid_type(t)) c.bad("key '" + key + "' has unknown value type " + std::to_string(t));
      GGUFValue v;
      read_value(c, static_cast<GGUFType>(t), v, 0);
      if (g.kv_index_.count(key)) c.bad("duplicate metadata key '" + key + "'");
      g.kv_index_[key] = g.kv_.size();
      g.kv_.emplace_back(std::move(key), std::move(v));
    }

    if (const GGUFValue* a = g.find("general.alignment")) {
      // At least 8 (as the format requires) so that every tensor starts on
      // a boundary its element type can be read from directly.
      if (!a->is_int() || a->i < 8 || a->i > (1 << 30) || (a->i & (a->i - 1)) != 0)
        fail(g.path_, ": general.alignment must be a power of two of at least 8, got ", a->to_string());
      g.alignment_ = static_cast<uint64_t>(a->i);
    }

    g.tensors_.reserve(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) {
      GGUFTensor t;
      t.name = c.read_string("tensor name", kMaxKeyBytes);
      uint32_t nd = c.read<uint32_t>("tensor dimension count");
      if (nd == 0 || nd > kMaxDims)
        c.bad("tensor '" + t.name + "' has " + std::to_string(nd) + " dimensions (1 to 4 allowed)");
      int64_t ne = 1;
      for (uint32_t d = 0; d < nd; ++d) {
        uint64_t dim = c.read<uint64_t>("tensor dimension");
        if (dim == 0 || dim > (uint64_t{1} << 40)) c.bad("tensor '" + t.name + "' has dimension " + std::to_string(dim));
        if (__builtin_mul_overflow(ne, static_cast<int64_t>(dim), &ne) || ne > (int64_t{1} << 42))
          c.bad("tensor '" + t.name + "' has an absurd element count");
        t.dims.push_back(static_cast<int64_t>(dim));
      }
      uint32_t type = c.read<uint32_t>("tensor type");
      const DTypeLayout* layout = dtype_layout(type);
      if (!layout) c.bad("tensor '" + t.name + "' has unknown type id " + std::to_string(type));
      t.type = static_cast<DType>(type);
      if (t.dims[0] % layout->block_size != 0)
        c.bad("tensor '" + t.name + "' row length " + std::to_string(t.dims[0]) + " is not a multiple of the " +
              layout->name + " block size");
      t.nbytes = static_cast<size_t>(ne / layout->block_size) * layout->type_size;
      t.offset = c.read<uint64_t>("tensor offset");
      if (t.offset % g.alignment_ != 0) c.bad("tensor '" + t.name + "' offset is not aligned");
      if (g.tensor_index_.count(t.name)) c.bad("duplicate tensor name '" + t.name + "'");
      g.tensor_index_[t.name] = g.tensors_.size();
      g.tensors_.push_back(std::move(t));
    }

    uint64_t data_off = (c.pos() + g.alignment_ - 1) / g.alignment_ * g.alignment_;
    if (!g.tensors_.empty() && data_off > g.size_) fail(g.path_, ": truncated file: data section starts past the end");
    g.data_offset_ = data_off;
    uint64_t data_size = g.size_ > data_off ? g.size_ - data_off : 0;
    for (GGUFTensor& t : g.tensors_) {
      if (t.offset > data_size || t.nbytes > data_size - t.offset)
        fail(g.path_, ": truncated file: tensor '", t.name, "' (", t.nbytes, " bytes at data offset ", t.offset,
             ") extends past the end of the file");
      t.data = g.base_ + data_off + t.offset;
    }
  }
};

std::unique_ptr<GGUFFile> GGUFFile::open_one(const std::string& path, bool populate) {
  auto map = std::make_unique<MappedFile>(path, populate);
  std::unique_ptr<GGUFFile> g(new GGUFFile());
  g->path_ = path;
  g->base_ = map->data();
  g->size_ = map->size();
  g->map_ = std::move(map);
  GGUFParser::parse(*g);
  return g;
}

std::unique_ptr<GGUFFile> GGUFFile::open(const std::string& path, bool populate) {
  std::unique_ptr<GGUFFile> g = open_one(path, populate);
  if (g->has("split.count")) g->load_split_parts(populate);
  return g;
}

std::unique_ptr<GGUFFile> GGUFFile::parse(const uint8_t* data, size_t size, const std::string& name) {
  std::unique_ptr<GGUFFile> g(new GGUFFile());
  g->path_ = name;
  g->base_ = data;
  g->size_ = size;
  GGUFParser::parse(*g);
  return g;
}

}  // namespace lineage
