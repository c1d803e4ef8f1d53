// Metadata access: typed getters that tell the user which key had which
// wrong type, and a printable form of values for `inspect`.
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {

const char* gguf_type_name(GGUFType t) {
  switch (t) {
    case GGUFType::U8: return "u8";
    case GGUFType::I8: return "i8";
    case GGUFType::U16: return "u16";
    case GGUFType::I16: return "i16";
    case GGUFType::U32: return "u32";
    case GGUFType::I32: return "i32";
    case GGUFType::F32: return "f32";
    case GGUFType::BOOL: return "bool";
    case GGUFType::STRING: return "string";
    case GGUFType::ARRAY: return "array";
    case GGUFType::U64: return "u64";
    case GGUFType::I64: return "i64";
    case GGUFType::F64: return "f64";
  }
  return "?";
}

namespace {
bool int_type(GGUFType t) {
  return t != GGUFType::F32 && t != GGUFType::F64 && t != GGUFType::STRING && t != GGUFType::ARRAY;
}
bool float_type(GGUFType t) { return t == GGUFType::F32 || t == GGUFType::F64; }

std::string quote(const std::string& s, size_t max_len = 60) {
  std::string out = "\"";
  for (size_t k = 0; k < s.size() && k < max_len; ++k) {
    unsigned char c = static_cast<unsigned char>(s[k]);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  if (s.size() > max_len) out += "...";
  return out + "\"";
}
}  // namespace

bool GGUFValue::is_int() const { return int_type(type); }
bool GGUFValue::is_float() const { return float_type(type); }

size_t GGUFValue::array_size() const {
  if (type != GGUFType::ARRAY) return 0;
  return strs.size() + ints.size() + floats.size() + items.size();
}

std::string GGUFValue::to_string(size_t max_items) const {
  std::ostringstream os;
  switch (type) {
    case GGUFType::STRING: return quote(s);
    case GGUFType::BOOL: return i ? "true" : "false";
    case GGUFType::F32: case GGUFType::F64: os << f; return os.str();
    case GGUFType::U64: os << static_cast<uint64_t>(i); return os.str();
    case GGUFType::ARRAY: break;
    default: os << i; return os.str();
  }
  size_t n = array_size();
  os << "[" << gguf_type_name(elem_type) << " x " << n << "] [";
  for (size_t k = 0; k < n && k < max_items; ++k) {
    if (k) os << ", ";
    if (!strs.empty()) os << quote(strs[k], 24);
    else if (!floats.empty()) os << floats[k];
    else if (!ints.empty()) os << ints[k];
    else os << items[k].to_string(2);
  }
  if (n > max_items) os << ", ...";
  os << "]";
  return os.str();
}

int64_t GGUFTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t GGUFTensor::rows() const {
  int64_t n = 1;
  for (size_t k = 1; k < dims.size(); ++k) n *= dims[k];
  return n;
}

const GGUFValue* GGUFFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

std::optional<int64_t> GGUFFile::get_int(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_int()) fail(path_, ": metadata key ", key, " should be an integer, found ", gguf_type_name(v->type));
  return v->i;
}

std::optional<double> GGUFFile::get_float(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f;
  if (v->is_int() && v->type != GGUFType::BOOL) return static_cast<double>(v->i);
  fail(path_, ": metadata key ", key, " should be a number, found ", gguf_type_name(v->type));
}

std::optional<std::string> GGUFFile::get_string(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GGUFType::STRING) fail(path_, ": metadata key ", key, " should be a string, found ", gguf_type_name(v->type));
  return v->s;
}

std::optional<bool> GGUFFile::get_bool(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_int()) fail(path_, ": metadata key ", key, " should be a bool, found ", gguf_type_name(v->type));
  return v->i != 0;
}

const std::vector<std::string>* GGUFFile::get_str_array(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return nullptr;
  if (!v->is_array() || v->elem_type != GGUFType::STRING)
    fail(path_, ": metadata key ", key, " should be an array of strings");
  return &v->strs;
}

const std::vector<int64_t>* GGUFFile::get_int_array(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return nullptr;
  if (!v->is_array() || !int_type(v->elem_type)) fail(path_, ": metadata key ", key, " should be an array of integers");
  return &v->ints;
}

const std::vector<double>* GGUFFile::get_float_array(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) return nullptr;
  if (!v->is_array() || !float_type(v->elem_type)) fail(path_, ": metadata key ", key, " should be an array of floats");
  return &v->floats;
}

const GGUFTensor* GGUFFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GGUFTensor& GGUFFile::tensor(const std::string& name) const {
  const GGUFTensor* t = find_tensor(name);
  if (!t) fail(path_, ": missing tensor ", name);
  return *t;
}

}  // namespace lineage
