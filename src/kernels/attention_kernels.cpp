// Baseline copy of the attention kernels and the choice by instruction set.
#include "kernels/attention_kernels.h"

#include "kernels/type_traits.h"

namespace lineage {

namespace {
#include "kernels/attention_impl.inc"
}  // namespace

const AttnKernels& attn_kernels() {
  switch (active_isa()) {
    case Isa::Avx512: return attn_kernels_avx512();
    case Isa::Avx2: return attn_kernels_avx2();
    default: return kAttnKernels;
  }
}

}  // namespace lineage
