// Rewrites a GGUF file with its weight matrices in another type.
#pragma once
#include <string>

#include "tensor/dtype.h"

namespace lineage {

class ThreadPool;

struct QuantizeReport {
  int converted = 0;  // tensors written in the target type
  int kept = 0;       // tensors kept as they were (norms, router, odd sizes)
  size_t bytes_in = 0, bytes_out = 0;
};

// Every matrix (a 2-D or 3-D `.weight` tensor other than the MoE router)
// whose rows fit the type's blocks is converted to `type`; everything else,
// and all metadata, is copied unchanged.
QuantizeReport quantize_file(const std::string& in, const std::string& out, DType type, ThreadPool& pool);

// The llama_ftype number other tools expect in general.file_type.
int file_type_for(DType type);

}  // namespace lineage
