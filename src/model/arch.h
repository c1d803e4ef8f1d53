// Loaders of the architectures lineage implements, one per model/*.cpp.
#pragma once
#include <memory>

namespace lineage {

class GGUFFile;
class Model;
struct LoadOptions;

std::unique_ptr<Model> load_llama(std::shared_ptr<const GGUFFile> file, const LoadOptions& options);
std::unique_ptr<Model> load_llama4(std::shared_ptr<const GGUFFile> file, const LoadOptions& options);

}  // namespace lineage
