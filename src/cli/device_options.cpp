// The options that put a model's layers on a GPU, shared by every command
// that loads a model.
#include "cli/commands.h"
#include "model/model.h"

namespace lineage::cli {

void add_device_options(CLI::App* c, LoadOptions& o) {
  c->add_flag_callback("--gpu", [&o] { o.n_gpu_layers = -1; }, "run every layer on the GPU (same as -ngl 999)");
  c->add_option("--ngl,--n-gpu-layers", o.n_gpu_layers,
                "layers to run on the GPU (-ngl works too), counted from the last; the output layer goes with them; 0 = CPU only")
      ->check(CLI::Range(0, 100000));
  c->add_option("--device", o.device, "GPU to use: cuda, cuda:N (default cuda); ref runs the device path on the CPU");
}

}  // namespace lineage::cli
