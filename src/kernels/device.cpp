#include "kernels/device.h"

#include <cstdlib>

#include "core/error.h"
#include "kernels/cuda/act_layout.h"
#ifdef LINEAGE_HAVE_CUDA
#include "kernels/cuda/cuda_device.h"
#endif

namespace lineage {

std::shared_ptr<Device> make_ref_device();

ActFormat act_format(DType t) {
  switch (t) {
    case DType::F32: return ActFormat::F32;
    case DType::F16: return ActFormat::F16;
    case DType::BF16: return ActFormat::BF16;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K: return ActFormat::Q8;
    default: fail("tensor type ", dtype_name(t), " has no GPU kernels (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
  }
}

size_t Device::act_bytes(ActFormat f, int64_t n, int64_t cols) const {
  const size_t values = static_cast<size_t>(n) * static_cast<size_t>(cols);
  switch (f) {
    case ActFormat::Q8: return cuda::q8_bytes(n, cols);
    case ActFormat::F32: return values * 4;
    case ActFormat::F16:
    case ActFormat::BF16: return values * 2;
  }
  return 0;
}

bool cuda_available() {
#ifdef LINEAGE_HAVE_CUDA
  return cuda_device_count() > 0;
#else
  return false;
#endif
}

std::shared_ptr<Device> open_device(const std::string& spec) {
  std::string s = spec;
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    // Lets the whole device path run on the host reference, for tests and
    // for machines without a GPU.
    if (const char* env = std::getenv("LINEAGE_DEVICE"); env && *env) s = env;
  }
  if (s == "ref") return make_ref_device();
  if (s == "cuda" || s.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (s.size() > 5) {
      const std::string n = s.substr(5);
      if (n.empty() || n.size() > 3 || n.find_first_not_of("0123456789") != std::string::npos)
        fail("device \"", spec, "\": expected cuda or cuda:N");
      index = std::stoi(n);
    }
#ifdef LINEAGE_HAVE_CUDA
    const int count = cuda_device_count();
    if (count == 0) fail("no CUDA GPU found (is the NVIDIA driver loaded? nvidia-smi shows what the driver sees)");
    if (index >= count) fail("device cuda:", index, " does not exist: this machine has ", count, " GPU(s)");
    return make_cuda_device(index);
#else
    (void)index;
    fail("this build of lineage has no GPU support: rebuild with cmake -DLINEAGE_CUDA=ON (needs the CUDA toolkit)");
#endif
  }
  fail("unknown device \"", spec, "\" (expected cuda, cuda:N or ref)");
}

}  // namespace lineage
