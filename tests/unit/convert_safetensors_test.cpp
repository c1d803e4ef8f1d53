// The safetensors header is hostile input: each way it can lie must be an
// Error naming the problem, never an out-of-bounds read. Files are built
// byte by byte here so each case breaks exactly one rule.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "convert/safetensors.h"
#include "core/error.h"

namespace lineage {
namespace {

// 8-byte length, header text, then `data_bytes` bytes of data.
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes, uint64_t claimed_len = UINT64_MAX) {
  const uint64_t n = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  std::vector<uint8_t> out(8 + header.size() + data_bytes);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = static_cast<uint8_t>(i);
  return out;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    SafetensorsFile::parse(bytes.data(), bytes.size(), "t.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void expect_error(const std::vector<uint8_t>& bytes, const std::string& part) {
  const std::string e = error_of(bytes);
  EXPECT_NE(e, "") << "accepted, expected an error mentioning: " << part;
  EXPECT_NE(e.find(part), std::string::npos) << e;
}

TEST(Safetensors, ReadsAWellFormedFile) {
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"c":{"dtype":"F16","shape":[],"data_offsets":[32,34]}})";
  std::vector<uint8_t> bytes = make_file(h, 34);
  auto f = SafetensorsFile::parse(bytes.data(), bytes.size(), "t.safetensors");
  ASSERT_EQ(f->tensors().size(), 3u);
  const StTensor* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, StDType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->nbytes, 24u);
  EXPECT_EQ(a->data, bytes.data() + 8 + h.size());
  EXPECT_EQ(f->find("b")->data, bytes.data() + 8 + h.size() + 24);
  EXPECT_EQ(f->find("c")->n_elements(), 1);  // a scalar
  EXPECT_EQ(f->find("missing"), nullptr);
}

TEST(Safetensors, HeaderLengthMustFitTheFile) {
  expect_error({1, 2, 3}, "too short");
  const std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  expect_error(make_file(h, 4, h.size() + 5), "runs past the end");
  expect_error(make_file(h, 4, UINT64_MAX - 1), "over the limit");
  expect_error(make_file(h, 4, SafetensorsFile::kMaxHeaderBytes + 1), "over the limit");
}

TEST(Safetensors, HeaderMustBeWellFormedJson) {
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],)", 4), "not well-formed JSON");
  expect_error(make_file(R"([1,2,3])", 0), "not a JSON object");
  expect_error(make_file("", 0), "not a JSON object");
  expect_error(make_file(R"({"a":5})", 0), "not an object");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "needs dtype, shape and data_offsets");
  expect_error(make_file(R"({"__metadata__":[1]})", 0), "__metadata__");
}

TEST(Safetensors, DeeplyNestedHeaderIsAnErrorNotAStackOverflow) {
  const std::string deep = R"({"a":)" + std::string(200000, '[') + std::string(200000, ']') + "}";
  expect_error(make_file(deep, 0), "not an object");
}

TEST(Safetensors, DtypeMustBeOneLineageReads) {
  expect_error(make_file(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8), "dtype F64");
  expect_error(make_file(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8), "dtype I64");
  expect_error(make_file(R"({"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,8]}})", 8), "unknown dtype");
  expect_error(make_file(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,8]}})", 8), "not a string");
}

TEST(Safetensors, ShapeTimesDtypeMustEqualTheByteRange) {
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24), "need 24");
  expect_error(make_file(R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", 8), "need 6");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,4]}})", 4), "shape is not an array");
  // Dimensions whose product overflows must not wrap around to a small size.
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}})", 4),
               "too many elements");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}})", 4),
               "too large");
}

TEST(Safetensors, OffsetsMustStayInsideTheData) {
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8), "past the end of the data");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8), "backwards");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 8), "[begin, end]");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 8), "non-negative");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}})", 8),
               "past the end of the data");
}

TEST(Safetensors, TensorsMustNotOverlap) {
  const std::string h =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  expect_error(make_file(h, 12), "overlap");
}

TEST(Safetensors, EveryTruncationIsAnErrorNotACrash) {
  const std::string h = R"({"w":{"dtype":"F16","shape":[4,4],"data_offsets":[0,32]}})";
  const std::vector<uint8_t> full = make_file(h, 32);
  ASSERT_EQ(error_of(full), "");
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(error_of(cut), "") << "a file cut to " << n << " bytes was accepted";
  }
}

TEST(Safetensors, MissingFileIsAnError) {
  EXPECT_THROW(SafetensorsFile::open("/nonexistent/model.safetensors"), Error);
}

}  // namespace
}  // namespace lineage
