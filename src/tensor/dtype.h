// Storage facts of every GGUF tensor type: block size and bytes per block.
// Compute support (dequantize, dot products) lives in kernels/type_traits.h;
// this table knows only layouts, so the file reader can validate sizes of
// types lineage cannot compute yet.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lineage {

enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35,
};

struct DTypeLayout {
  const char* name;  // nullptr for ids no GGUF writer uses
  int block_size;    // elements per block
  int type_size;     // bytes per block
};

// Layout of a raw type id from a file; nullptr when the id is unknown.
const DTypeLayout* dtype_layout(uint32_t id);
const char* dtype_name(DType t);
// Parse "Q4_0", "q8_0", "F16", ...; returns false when unknown.
bool dtype_from_name(const std::string& name, DType* out);
// Bytes of a row of n elements (n must be a multiple of the block size).
size_t dtype_row_bytes(DType t, int64_t n);
int dtype_block_size(DType t);

}  // namespace lineage
