// Rewrites a GGUF file with its weight matrices quantized by a preset.
#pragma once
#include <map>
#include <string>

#include "tensor/dtype.h"

namespace lineage {

class ThreadPool;
struct QuantPreset;

struct QuantizeOptions {
  bool pure = false;  // every quantizable matrix in the preset's base type, no exceptions
  // Q8_0/Q4_0 blocks by the common quantizer's fixed rule (byte-identical
  // files) instead of the searched scales.
  bool reference_rounding = false;
};

struct QuantizeReport {
  int converted = 0;  // tensors written in a new type
  int kept = 0;       // tensors copied as they were (norms, router, already that type)
  size_t bytes_in = 0, bytes_out = 0;
  std::map<std::string, int> by_type;  // tensors written per type name
};

// Every weight matrix gets the type the preset's plan chooses for it; all
// other tensors and all metadata are copied unchanged, and general.file_type
// is set to the preset's number. One tensor is in memory at a time.
QuantizeReport quantize_file(const std::string& in, const std::string& out, const QuantPreset& preset,
                             const QuantizeOptions& opt, ThreadPool& pool);

}  // namespace lineage
