// Fuzzes the GGUF reader with arbitrary bytes, then everything that reads a
// parsed header: the model loader (hyper-parameters, tensor shapes and types)
// and the tokenizer (vocabulary arrays, merges, special ids). Any input must
// either load or throw lineage::Error; a crash, leak or sanitizer report is a
// bug.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<const lineage::GGUFFile> file;
  try {
    file = lineage::GGUFFile::parse(data, size, "fuzz.gguf");
  } catch (const lineage::Error&) {
    return 0;
  }
  try {
    auto tok = lineage::Tokenizer::from_gguf(*file);
    // A vocabulary that loads must also tokenize.
    auto ids = tok->encode("Hello world <s> \xe4\xb8\xad 123", true, true);
    (void)tok->decode(ids);
  } catch (const lineage::Error&) {
  }
  try {
    // Loading validates shapes and types against the hyper-parameters; the
    // weights themselves are never read here.
    (void)lineage::Model::load(file);
  } catch (const lineage::Error&) {
  }
  return 0;
}
