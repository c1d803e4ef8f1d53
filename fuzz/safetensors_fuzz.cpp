// Fuzzes what `convert` reads from a downloaded checkpoint before touching
// weights: the safetensors header (lengths, JSON, dtypes, shapes, byte
// ranges) and config.json. The first byte picks which; the rest is the file.
// Any input must parse or throw lineage::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "convert/hf_config.h"
#include "convert/safetensors.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  try {
    if (data[0] & 1) {
      auto f = lineage::SafetensorsFile::parse(data + 1, size - 1, "fuzz.safetensors");
      // Every accepted range must lie inside the buffer.
      for (const auto& [name, t] : f->tensors()) {
        if (t.data < data + 1 || t.data + t.nbytes > data + size) __builtin_trap();
        if (static_cast<size_t>(t.n_elements()) * lineage::st_dtype_size(t.dtype) != t.nbytes) __builtin_trap();
      }
    } else {
      (void)lineage::parse_hf_config(std::string(reinterpret_cast<const char*>(data + 1), size - 1), "config.json");
    }
  } catch (const lineage::Error&) {
  }
  return 0;
}
