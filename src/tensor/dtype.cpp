#include "tensor/dtype.h"

#include <cctype>

#include "core/error.h"

namespace lineage {

namespace {
struct Row {
  uint32_t id;
  DTypeLayout layout;
};
// Block layouts from the public GGUF specification.
constexpr Row kLayouts[] = {
    {0, {"F32", 1, 4}},         {1, {"F16", 1, 2}},          {2, {"Q4_0", 32, 18}},
    {3, {"Q4_1", 32, 20}},      {6, {"Q5_0", 32, 22}},       {7, {"Q5_1", 32, 24}},
    {8, {"Q8_0", 32, 34}},      {9, {"Q8_1", 32, 36}},       {10, {"Q2_K", 256, 84}},
    {11, {"Q3_K", 256, 110}},   {12, {"Q4_K", 256, 144}},    {13, {"Q5_K", 256, 176}},
    {14, {"Q6_K", 256, 210}},   {15, {"Q8_K", 256, 292}},    {16, {"IQ2_XXS", 256, 66}},
    {17, {"IQ2_XS", 256, 74}},  {18, {"IQ3_XXS", 256, 98}},  {19, {"IQ1_S", 256, 50}},
    {20, {"IQ4_NL", 32, 18}},   {21, {"IQ3_S", 256, 110}},   {22, {"IQ2_S", 256, 82}},
    {23, {"IQ4_XS", 256, 136}}, {24, {"I8", 1, 1}},          {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},        {27, {"I64", 1, 8}},         {28, {"F64", 1, 8}},
    {29, {"IQ1_M", 256, 56}},   {30, {"BF16", 1, 2}},        {34, {"TQ1_0", 256, 54}},
    {35, {"TQ2_0", 256, 66}},
};
}  // namespace

const DTypeLayout* dtype_layout(uint32_t id) {
  for (const auto& r : kLayouts)
    if (r.id == id) return &r.layout;
  return nullptr;
}

const char* dtype_name(DType t) {
  const DTypeLayout* l = dtype_layout(static_cast<uint32_t>(t));
  return l ? l->name : "unknown";
}

bool dtype_from_name(const std::string& name, DType* out) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& r : kLayouts) {
    if (up == r.layout.name) {
      *out = static_cast<DType>(r.id);
      return true;
    }
  }
  return false;
}

int dtype_block_size(DType t) {
  const DTypeLayout* l = dtype_layout(static_cast<uint32_t>(t));
  if (!l) fail("unknown tensor type id ", static_cast<uint32_t>(t));
  return l->block_size;
}

size_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeLayout* l = dtype_layout(static_cast<uint32_t>(t));
  if (!l) fail("unknown tensor type id ", static_cast<uint32_t>(t));
  if (n % l->block_size != 0) fail("row of ", n, " elements is not a multiple of the ", l->name, " block size ", l->block_size);
  return static_cast<size_t>(n / l->block_size) * l->type_size;
}

}  // namespace lineage
