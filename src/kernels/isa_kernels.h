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

}  // namespace lineage
