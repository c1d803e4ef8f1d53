// GGUF v3 writer. Files are written to a temporary name and renamed into
// place, so an interrupted write never leaves a half file under the real name.
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {

namespace {

constexpr uint64_t kAlign = 32;

class Out {
 public:
  explicit Out(std::ofstream& f) : f_(f) {}
  template <typename T>
  void put(T v) {
    f_.write(reinterpret_cast<const char*>(&v), sizeof v);
    pos_ += sizeof v;
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void bytes(const void* p, size_t n) {
    f_.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    pos_ += n;
  }
  void pad_to(uint64_t align) {
    static const char zeros[64] = {};
    while (pos_ % align) bytes(zeros, std::min<uint64_t>(align - pos_ % align, sizeof zeros));
  }
  uint64_t pos() const { return pos_; }

 private:
  std::ofstream& f_;
  uint64_t pos_ = 0;
};

void put_scalar(Out& o, GGUFType t, int64_t i, double f) {
  switch (t) {
    case GGUFType::U8: case GGUFType::BOOL: o.put<uint8_t>(static_cast<uint8_t>(i)); break;
    case GGUFType::I8: o.put<int8_t>(static_cast<int8_t>(i)); break;
    case GGUFType::U16: o.put<uint16_t>(static_cast<uint16_t>(i)); break;
    case GGUFType::I16: o.put<int16_t>(static_cast<int16_t>(i)); break;
    case GGUFType::U32: o.put<uint32_t>(static_cast<uint32_t>(i)); break;
    case GGUFType::I32: o.put<int32_t>(static_cast<int32_t>(i)); break;
    case GGUFType::U64: o.put<uint64_t>(static_cast<uint64_t>(i)); break;
    case GGUFType::I64: o.put<int64_t>(i); break;
    case GGUFType::F32: o.put<float>(static_cast<float>(f)); break;
    case GGUFType::F64: o.put<double>(f); break;
    default: fail("internal: not a scalar GGUF type");
  }
}

void put_value(Out& o, const GGUFValue& v) {
  if (v.type == GGUFType::STRING) {
    o.put_string(v.s);
  } else if (v.type == GGUFType::ARRAY) {
    o.put<uint32_t>(static_cast<uint32_t>(v.elem_type));
    o.put<uint64_t>(v.array_size());
    if (v.elem_type == GGUFType::STRING)
      for (const auto& s : v.strs) o.put_string(s);
    else if (v.elem_type == GGUFType::ARRAY)
      for (const auto& it : v.items) put_value(o, it);  // elements carry no type tag of their own
    else if (v.elem_type == GGUFType::F32 || v.elem_type == GGUFType::F64)
      for (double f : v.floats) put_scalar(o, v.elem_type, 0, f);
    else
      for (int64_t i : v.ints) put_scalar(o, v.elem_type, i, 0);
  } else {
    put_scalar(o, v.type, v.i, v.f);
  }
}

}  // namespace

void GGUFWriter::set(const std::string& key, const GGUFValue& v) {
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = v;
      return;
    }
  kv_.emplace_back(key, v);
}

void GGUFWriter::set_string(const std::string& key, const std::string& v) {
  GGUFValue g;
  g.type = GGUFType::STRING;
  g.s = v;
  set(key, g);
}
void GGUFWriter::set_u32(const std::string& key, uint32_t v) {
  GGUFValue g;
  g.type = GGUFType::U32;
  g.i = v;
  set(key, g);
}
void GGUFWriter::set_i32(const std::string& key, int32_t v) {
  GGUFValue g;
  g.type = GGUFType::I32;
  g.i = v;
  set(key, g);
}
void GGUFWriter::set_f32(const std::string& key, float v) {
  GGUFValue g;
  g.type = GGUFType::F32;
  g.f = v;
  set(key, g);
}
void GGUFWriter::set_bool(const std::string& key, bool v) {
  GGUFValue g;
  g.type = GGUFType::BOOL;
  g.i = v;
  set(key, g);
}

void GGUFWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, const void* data,
                            size_t nbytes) {
  if (dims.empty() || dims.size() > 4) fail("tensor ", name, ": 1 to 4 dimensions allowed");
  int64_t ne = 1;
  for (int64_t d : dims) ne *= d;
  size_t expect = dtype_row_bytes(type, dims[0]) * static_cast<size_t>(ne / dims[0]);
  if (expect != nbytes) fail("tensor ", name, ": ", nbytes, " bytes given, its shape and type need ", expect);
  tensors_.push_back({name, dims, type, data, nbytes, nullptr});
}

void GGUFWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, DType type, size_t nbytes,
                            Producer produce) {
  add_tensor(name, dims, type, nullptr, nbytes);
  tensors_.back().produce = std::move(produce);
}

void GGUFWriter::write(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  try {
    write_to(tmp, path);
  } catch (...) {
    // A producer or the disk failed midway: the half-written file goes, so
    // an error never leaves output behind.
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, ": cannot rename the finished file into place");
  }
}

void GGUFWriter::write_to(const std::string& tmp, const std::string& path) const {
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail(path, ": cannot open for writing");
    Out o(f);
    o.bytes("GGUF", 4);
    o.put<uint32_t>(3);
    o.put<uint64_t>(tensors_.size());
    // Tensor offsets must respect the alignment the metadata announces.
    bool has_align = false;
    uint64_t align = kAlign;
    for (const auto& kv : kv_)
      if (kv.first == "general.alignment") {
        has_align = true;
        if (!kv.second.is_int() || kv.second.i <= 0 || (kv.second.i & (kv.second.i - 1)))
          fail(path, ": general.alignment must be a power of two");
        align = static_cast<uint64_t>(kv.second.i);
      }
    o.put<uint64_t>(kv_.size() + (has_align ? 0 : 1));
    for (const auto& [key, v] : kv_) {
      o.put_string(key);
      o.put<uint32_t>(static_cast<uint32_t>(v.type));
      put_value(o, v);
    }
    if (!has_align) {
      o.put_string("general.alignment");
      o.put<uint32_t>(static_cast<uint32_t>(GGUFType::U32));
      o.put<uint32_t>(kAlign);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
      o.put_string(t.name);
      o.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
      for (int64_t d : t.dims) o.put<uint64_t>(static_cast<uint64_t>(d));
      o.put<uint32_t>(static_cast<uint32_t>(t.type));
      o.put<uint64_t>(offset);
      offset += (t.nbytes + align - 1) / align * align;
    }
    o.pad_to(align);
    for (const auto& t : tensors_) {
      if (t.produce) {
        std::vector<uint8_t> buf(t.nbytes);
        t.produce(buf.data());
        o.bytes(buf.data(), buf.size());
      } else {
        o.bytes(t.data, t.nbytes);
      }
      o.pad_to(align);
    }
    f.flush();
    if (!f) fail(path, ": write failed (disk full?)");
  }
}

}  // namespace lineage
