// Shared helpers for the kernel tests: random rows in every compute type and
// a way to run a check once per instruction set this CPU has.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "kernels/quant_blocks.h"
#include "kernels/type_traits.h"
#include "tensor/dtype.h"
#include "tensor/fp16.h"

namespace lineage::test {

inline std::vector<float> random_floats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

// A row of type t holding n values. Types with a quantizer quantize random
// floats; the K types get random bytes with sane scales, which covers every
// bit pattern of the packed fields.
inline std::vector<uint8_t> random_row(DType t, int64_t n, uint32_t seed) {
  std::vector<uint8_t> row(dtype_row_bytes(t, n));
  const TypeTraits* tt = type_traits_ref(t);
  if (tt && tt->from_float) {
    const auto f = random_floats(n, seed);
    tt->from_float(f.data(), row.data(), n);
    return row;
  }
  std::mt19937 rng(seed);
  for (auto& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  if (t == DType::Q4_K) {
    auto* b = reinterpret_cast<BlockQ4_K*>(row.data());
    for (int64_t i = 0; i < n / kQKK; ++i) {
      b[i].d = f32_to_fp16(scale(rng));
      b[i].dmin = f32_to_fp16(scale(rng));
    }
  } else if (t == DType::Q6_K) {
    auto* b = reinterpret_cast<BlockQ6_K*>(row.data());
    for (int64_t i = 0; i < n / kQKK; ++i) b[i].d = f32_to_fp16(scale(rng));
  }
  return row;
}

inline std::vector<float> dequantize(DType t, const void* row, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  type_traits_ref(t)->to_float(row, out.data(), n);
  return out;
}

// Runs body once per ISA up to what this CPU has, then restores the default.
inline void for_each_isa(const std::function<void(Isa)>& body) {
  const Isa saved = active_isa();
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(cpu_isa())) break;
    force_isa(isa);
    SCOPED_TRACE(isa_name(isa));
    body(isa);
  }
  force_isa(saved);
}

}  // namespace lineage::test
