// A GGUF file is written under a temporary name and renamed when complete;
// when making a tensor fails midway, neither the temporary file nor the
// output may remain (a converter error must never leave a partial model).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "gguf/gguf.h"

namespace lineage {
namespace {

TEST(GgufWriterCleanup, FailingProducerLeavesNoFile) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("lineage_writer_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "model.gguf").string();
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  const float ok[4] = {1, 2, 3, 4};
  w.add_tensor("a", {4}, DType::F32, ok, sizeof ok);
  w.add_tensor("b", {4}, DType::F32, 16, [](uint8_t*) { fail("the source tensor went bad"); });
  EXPECT_THROW(w.write(out), Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "a failed write left " << std::filesystem::directory_iterator(dir)->path();

  // The same writer with a working producer completes and leaves one file.
  GGUFWriter good;
  good.add_tensor("b", {4}, DType::F32, 16, [&](uint8_t* dst) { std::memcpy(dst, ok, sizeof ok); });
  good.write(out);
  auto f = GGUFFile::open(out);
  EXPECT_EQ(f->tensor("b").nbytes, 16u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lineage
