// Where the parts of an activation buffer lie, shared by the kernels that
// write activations (convert, rmsnorm, swiglu) and those that read them
// (matmul). Plain C++ usable on host and device.
//
// Q8 rows (cols a multiple of 32): every 32 consecutive values of a row
// form a block with a float scale d = max|x| / 127 (0 for an all-zero
// block), int8 q = x / d rounded to nearest, ties to even, and s = the sum
// of its 32 q values. Three planes, each starting 256-byte aligned:
//   q: int8  [n][cols]        (row t at t * cols)
//   d: float [n][cols / 32]
//   s: int32 [n][cols / 32]
// F16 / BF16 / F32 rows: [n][cols] of that type.
#pragma once
#include <cstddef>
#include <cstdint>

#ifdef __CUDACC__
#define LINEAGE_HD __host__ __device__
#else
#define LINEAGE_HD
#endif

namespace lineage::cuda {

LINEAGE_HD inline size_t align256(size_t b) { return (b + 255) & ~static_cast<size_t>(255); }

struct Q8Planes {
  int8_t* q;
  float* d;
  int32_t* s;
};

LINEAGE_HD inline size_t q8_bytes(int64_t n, int64_t cols) {
  const size_t nb = static_cast<size_t>(n) * static_cast<size_t>(cols / 32);
  return align256(static_cast<size_t>(n) * cols) + align256(nb * 4) + align256(nb * 4);
}

LINEAGE_HD inline Q8Planes q8_planes(void* base, int64_t n, int64_t cols) {
  const size_t nb = static_cast<size_t>(n) * static_cast<size_t>(cols / 32);
  char* p = static_cast<char*>(base);
  Q8Planes v;
  v.q = reinterpret_cast<int8_t*>(p);
  p += align256(static_cast<size_t>(n) * cols);
  v.d = reinterpret_cast<float*>(p);
  p += align256(nb * 4);
  v.s = reinterpret_cast<int32_t*>(p);
  return v;
}

}  // namespace lineage::cuda
