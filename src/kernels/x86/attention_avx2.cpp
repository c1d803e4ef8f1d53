// The attention kernels compiled with this file's instruction-set flags.
#include "kernels/attention_kernels.h"

namespace lineage {

namespace {
#include "kernels/attention_impl.inc"
}  // namespace

const AttnKernels& attn_kernels_avx2() { return kAttnKernels; }

}  // namespace lineage
