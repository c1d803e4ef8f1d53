// The quantizers against files written by the reference quantizer: the same
// tiny model in F32 and quantized. Q8_0 and Q4_0 must match byte for byte;
// K-type tensors (no quantizer here) must dequantize close to the F32 values,
// which pins their bit layouts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "gguf/gguf.h"
#include "kernels/type_traits.h"

namespace lineage {
namespace {

std::string golden(const std::string& name) { return std::string(LINEAGE_SHARED_DIR) + "/golden/llamacpp/" + name; }

void expect_quantizer_matches(const std::string& quant_file, DType type) {
  if (!std::filesystem::exists(golden(quant_file))) GTEST_SKIP() << "missing " << quant_file;
  auto f32 = GGUFFile::open(golden("tiny-11-F32.gguf"));
  auto q = GGUFFile::open(golden(quant_file));
  const TypeTraits* tt = type_traits(type);
  int checked = 0;
  for (const GGUFTensor& t : q->tensors()) {
    if (t.type != type) continue;
    const GGUFTensor& src = f32->tensor(t.name);
    ASSERT_EQ(src.type, DType::F32) << t.name;
    ASSERT_EQ(src.n_elements(), t.n_elements()) << t.name;
    std::vector<uint8_t> mine(t.nbytes);
    const int64_t cols = t.dims[0];
    const size_t row_bytes = dtype_row_bytes(type, cols);
    for (int64_t r = 0; r < t.rows(); ++r)
      tt->from_float(reinterpret_cast<const float*>(src.data) + r * cols, mine.data() + r * row_bytes, cols);
    EXPECT_EQ(std::memcmp(mine.data(), t.data, t.nbytes), 0) << t.name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(KernelGolden, Q8_0QuantizerIsBitIdentical) { expect_quantizer_matches("tiny-11-Q8_0.gguf", DType::Q8_0); }
TEST(KernelGolden, Q4_0QuantizerIsBitIdentical) { expect_quantizer_matches("tiny-11-Q4_0.gguf", DType::Q4_0); }

// Relative RMS error of dequantized K-type tensors against the F32 source.
void expect_dequant_close(const std::string& quant_file, DType type, double max_rel_rms) {
  if (!std::filesystem::exists(golden(quant_file))) GTEST_SKIP() << "missing " << quant_file;
  auto f32 = GGUFFile::open(golden("tiny-11-F32.gguf"));
  auto q = GGUFFile::open(golden(quant_file));
  int checked = 0;
  for (const GGUFTensor& t : q->tensors()) {
    if (t.type != type) continue;
    const GGUFTensor& src = f32->tensor(t.name);
    std::vector<float> y(static_cast<size_t>(t.n_elements()));
    type_traits(type)->to_float(t.data, y.data(), t.n_elements());
    const float* x = reinterpret_cast<const float*>(src.data);
    double err = 0, ref = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      err += (y[i] - x[i]) * static_cast<double>(y[i] - x[i]);
      ref += x[i] * static_cast<double>(x[i]);
    }
    EXPECT_LT(std::sqrt(err / ref), max_rel_rms) << t.name;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(KernelGolden, Q6_KLayoutDequantizesClose) { expect_dequant_close("tiny-11-Q6_K.gguf", DType::Q6_K, 0.02); }
TEST(KernelGolden, Q4_KLayoutDequantizesClose) { expect_dequant_close("tiny-11-Q4_K_M.gguf", DType::Q4_K, 0.12); }
TEST(KernelGolden, Q6_KOutputInQ4_0File) { expect_dequant_close("tiny-11-Q4_0.gguf", DType::Q6_K, 0.02); }

}  // namespace
}  // namespace lineage
