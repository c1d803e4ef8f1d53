#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"

using namespace lineage;

namespace {

std::string shared(const std::string& rel) { return std::string(LINEAGE_SHARED_DIR) + "/" + rel; }

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("lineage_gguf_" + std::to_string(::getpid()) + "_" + name)).string();
}

// A small file with every metadata type and two tensors.
std::string write_sample(const std::string& name) {
  static std::vector<float> w(64 * 3);
  for (size_t k = 0; k < w.size(); ++k) w[k] = static_cast<float>(k) * 0.5f;
  static std::vector<uint16_t> h(32, 0x3c00);  // F16 ones
  GGUFWriter g;
  g.set_string("general.architecture", "llama");
  g.set_u32("llama.block_count", 7);
  g.set_i32("test.i32", -5);
  g.set_f32("test.f32", 1.25f);
  g.set_bool("test.bool", true);
  GGUFValue arr;
  arr.type = GGUFType::ARRAY;
  arr.elem_type = GGUFType::STRING;
  arr.strs = {"a", "bc", ""};
  g.set("test.strs", arr);
  GGUFValue ints;
  ints.type = GGUFType::ARRAY;
  ints.elem_type = GGUFType::I32;
  ints.ints = {1, -2, 3};
  g.set("test.ints", ints);
  GGUFValue u64;
  u64.type = GGUFType::U64;
  u64.i = 1234567890123LL;
  g.set("test.u64", u64);
  GGUFValue nested;
  nested.type = GGUFType::ARRAY;
  nested.elem_type = GGUFType::ARRAY;
  nested.items = {ints, ints};
  g.set("test.nested", nested);
  g.add_tensor("w", {64, 3}, DType::F32, w.data(), w.size() * 4);
  g.add_tensor("h", {32}, DType::F16, h.data(), h.size() * 2);
  std::string p = temp_path(name);
  g.write(p);
  return p;
}

}  // namespace

TEST(Gguf, RoundTripEveryType) {
  std::string p = write_sample("rt.gguf");
  auto f = GGUFFile::open(p);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_int("llama.block_count"), 7);
  EXPECT_EQ(*f->get_int("test.i32"), -5);
  EXPECT_FLOAT_EQ(*f->get_float("test.f32"), 1.25f);
  EXPECT_TRUE(*f->get_bool("test.bool"));
  EXPECT_EQ(*f->get_int("test.u64"), 1234567890123LL);
  ASSERT_NE(f->get_str_array("test.strs"), nullptr);
  EXPECT_EQ((*f->get_str_array("test.strs")), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ((*f->get_int_array("test.ints")), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->find("test.nested")->items.size(), 2u);
  EXPECT_FALSE(f->get_int("absent").has_value());
  EXPECT_THROW(f->get_int("general.architecture"), Error);
  const GGUFTensor& w = f->tensor("w");
  EXPECT_EQ(w.dims, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(w.nbytes, 64u * 3 * 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 32, 0u);
  float v;
  std::memcpy(&v, w.data + 4 * 10, 4);
  EXPECT_EQ(v, 5.0f);
  EXPECT_EQ(f->tensor("h").type, DType::F16);
  EXPECT_THROW(f->tensor("missing"), Error);
  std::remove(p.c_str());
}

TEST(Gguf, ReadsGoldenFiles) {
  auto f = GGUFFile::open(shared("golden/llamacpp/tiny-11-Q4_K_M.gguf"));
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_int("llama.embedding_length"), 256);
  EXPECT_EQ(f->tensor("output.weight").type, DType::Q6_K);
  EXPECT_EQ(f->tensor("blk.0.attn_k.weight").type, DType::Q4_K);
  EXPECT_EQ(f->tensor("blk.0.attn_k.weight").dims, (std::vector<int64_t>{256, 128}));
  EXPECT_EQ(f->get_str_array("tokenizer.ggml.tokens")->size(), 512u);
}

// Every prefix of a valid file must be rejected cleanly: that covers a
// truncated header, metadata, tensor table and data section.
TEST(Gguf, EveryTruncationIsAnError) {
  std::string p = write_sample("trunc.gguf");
  std::vector<uint8_t> bytes = read_all(p);
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_NO_THROW(GGUFFile::parse(bytes.data(), bytes.size(), "full"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(n));
    EXPECT_THROW(GGUFFile::parse(prefix.data(), prefix.size(), "prefix"), Error) << "prefix of " << n << " bytes";
  }
  std::remove(p.c_str());
}

namespace {
std::vector<uint8_t> header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  auto put = [&](const void* p, size_t n) { b.insert(b.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
  put(&version, 4);
  put(&n_tensors, 8);
  put(&n_kv, 8);
  return b;
}
template <typename T>
void put(std::vector<uint8_t>& b, T v) {
  b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + sizeof v);
}
void put_str(std::vector<uint8_t>& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}
std::string error_of(const std::vector<uint8_t>& b) {
  try {
    GGUFFile::parse(b.data(), b.size(), "x.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Gguf, HostileHeaders) {
  std::vector<uint8_t> bad_magic = {'G', 'G', 'M', 'L', 3, 0, 0, 0};
  EXPECT_NE(error_of(bad_magic).find("bad magic"), std::string::npos);
  EXPECT_NE(error_of(header(1, 0, 0)).find("version 1"), std::string::npos);
  EXPECT_NE(error_of(header(3, 0, ~0ULL)).find("metadata count"), std::string::npos);
  EXPECT_NE(error_of(header(3, ~0ULL >> 1, 0)).find("tensor count"), std::string::npos);

  // An array that claims more strings than the file has room for (and one
  // past the fixed cap).
  auto b = header(3, 0, 1);
  put_str(b, "k");
  put<uint32_t>(b, 9);
  put<uint32_t>(b, 8);
  put<uint64_t>(b, 1000);
  EXPECT_NE(error_of(b).find("cannot fit"), std::string::npos);
  b.resize(b.size() - 8);
  put<uint64_t>(b, 1ULL << 60);
  EXPECT_NE(error_of(b).find("at most"), std::string::npos);

  // A string whose length runs past the end.
  b = header(3, 0, 1);
  put<uint64_t>(b, 1000);
  b.resize(b.size() + 16);
  EXPECT_NE(error_of(b).find("truncated"), std::string::npos);

  // Unknown value type.
  b = header(3, 0, 1);
  put_str(b, "k");
  put<uint32_t>(b, 99);
  EXPECT_NE(error_of(b).find("unknown value type"), std::string::npos);

  // A bool that is neither 0 nor 1.
  b = header(3, 0, 1);
  put_str(b, "k");
  put<uint32_t>(b, 7);
  put<uint8_t>(b, 7);
  EXPECT_NE(error_of(b).find("bool"), std::string::npos);
}

// The fixed caps hold even when the file is large enough for the claim.
TEST(Gguf, SizeCapsHoldInsideLargeFiles) {
  EXPECT_NE(error_of(header(3, (1ULL << 20) + 1, 0)).find("at most 1048576"), std::string::npos);
  EXPECT_NE(error_of(header(3, 0, (1ULL << 16) + 1)).find("at most 65536"), std::string::npos);

  // A 65 KiB key, really present in the file.
  auto b = header(3, 0, 1);
  put_str(b, std::string((1 << 16) + 1, 'k'));
  put<uint32_t>(b, 4);
  put<uint32_t>(b, 1);
  EXPECT_NE(error_of(b).find("metadata key"), std::string::npos);

  // A 64 MiB + 1 string value, really present.
  b = header(3, 0, 1);
  put_str(b, "k");
  put<uint32_t>(b, 8);
  put_str(b, std::string((64u << 20) + 1, 'x'));
  EXPECT_NE(error_of(b).find("at most 67108864"), std::string::npos);

  // An array of 2^26 + 1 bytes, really present.
  b = header(3, 0, 1);
  put_str(b, "k");
  put<uint32_t>(b, 9);
  put<uint32_t>(b, 0);
  put<uint64_t>(b, (1ULL << 26) + 1);
  b.resize(b.size() + (1u << 26) + 1);
  EXPECT_NE(error_of(b).find("at most 67108864"), std::string::npos);
}

TEST(Gguf, HostileTensorInfos) {
  auto tensor = [](uint32_t nd, std::vector<uint64_t> dims, uint32_t type, uint64_t offset, size_t data_bytes) {
    auto b = header(3, 1, 0);
    put_str(b, "t");
    put<uint32_t>(b, nd);
    for (uint64_t d : dims) put<uint64_t>(b, d);
    put<uint32_t>(b, type);
    put<uint64_t>(b, offset);
    while (b.size() % 32) b.push_back(0);
    b.resize(b.size() + data_bytes);
    return b;
  };
  EXPECT_EQ(error_of(tensor(1, {8}, 0, 0, 32)), "");
  EXPECT_NE(error_of(tensor(5, {1, 1, 1, 1, 1}, 0, 0, 32)).find("dimensions"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {0}, 0, 0, 32)).find("dimension 0"), std::string::npos);
  EXPECT_NE(error_of(tensor(2, {1ULL << 39, 1ULL << 39}, 0, 0, 32)).find("absurd"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {8}, 77, 0, 32)).find("unknown type id 77"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {8}, 0, 64, 32)).find("past the end"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {8}, 0, 3, 32)).find("not aligned"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {9}, 0, 0, 31)).find("past the end"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {40}, 2, 0, 64)).find("block size"), std::string::npos);
  EXPECT_NE(error_of(tensor(1, {8}, 0, 0x7fffffffffffffe0ULL, 32)).find("past the end"), std::string::npos);
}

TEST(Gguf, AlignmentBelowEightIsRefused) {
  static const float w[8] = {};
  GGUFWriter g;
  g.set_u32("general.alignment", 4);
  g.add_tensor("w", {8}, DType::F32, w, sizeof w);
  std::string p = temp_path("align4.gguf");
  g.write(p);
  EXPECT_THROW(GGUFFile::open(p), Error);
  std::remove(p.c_str());
}

TEST(Gguf, MissingFileIsAnError) {
  EXPECT_THROW(GGUFFile::open("/nonexistent/file.gguf"), Error);
  EXPECT_THROW(GGUFFile::open("/tmp"), Error);
}
