// `lineage convert`: a Hugging Face LLaMA / Mistral / Mixtral checkpoint to
// a GGUF file with the key and tensor names the common converter
// (llama.cpp's convert_hf_to_gguf.py) writes, so any GGUF reader takes it.
// Tensors are produced one at a time from the mapped safetensors while the
// file is written, so memory stays near the size of the largest tensor.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "tensor/dtype.h"

namespace lineage {

struct ConvertProgress {
  size_t done = 0;   // tensors written so far
  size_t total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  std::string name;  // the tensor just written
};

struct ConvertOptions {
  DType type = DType::F16;  // matrices; norms and other 1-D tensors stay F32
  std::function<void(const ConvertProgress&)> on_tensor;
};

struct ConvertReport {
  size_t n_tensors = 0;
  uint64_t bytes = 0;
  bool has_vocab = false;
};

// Converts the model in dir. Without tokenizer files the output has no
// vocabulary (it still evaluates token ids). Errors leave no output file.
ConvertReport convert_hf_model(const std::string& dir, const std::string& out, const ConvertOptions& opt);

// Writes only the vocabulary of dir (tokenizer.json + tokenizer_config.json).
void convert_hf_vocab(const std::string& dir, const std::string& out);

}  // namespace lineage
