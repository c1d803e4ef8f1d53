// Hooks between the dispatcher and the per-ISA kernel files. Each per-ISA
// file overwrites the entries it accelerates in a table that starts as a copy
// of the scalar one (indexed by DType id), so a type without SIMD kernels
// still works on every ISA.
#pragma once
#include "kernels/type_traits.h"

namespace lineage {

constexpr int kTypeSlots = 40;  // > largest DType id

void install_avx2_kernels(TypeTraits* table);
void install_avx512_kernels(TypeTraits* table);
// The remaining GGUF weight types (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K) and
// the Q8_1 activations, from x86/quants_ext_*.cpp.
void install_avx2_ext_kernels(TypeTraits* table);
void install_avx512_ext_kernels(TypeTraits* table);

}  // namespace lineage
