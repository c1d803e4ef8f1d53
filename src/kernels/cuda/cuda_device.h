// The CUDA implementation of Device (kernels/device.h). Plain C++ header:
// the rest of the library includes it without the CUDA toolkit's headers.
#pragma once
#include <memory>

#include "kernels/device.h"

namespace lineage {

// GPU number `index`; Error when there is no such GPU or CUDA fails to start.
std::shared_ptr<Device> make_cuda_device(int index);
// Number of GPUs the CUDA driver reports (0 when none or no driver).
int cuda_device_count();

}  // namespace lineage
