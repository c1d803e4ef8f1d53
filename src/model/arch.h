// Loaders of the architectures lineage implements, one per model/*.cpp.
#pragma once
#include <memory>

namespace lineage {

class GGUFFile;
class Model;

std::unique_ptr<Model> load_llama(std::shared_ptr<const GGUFFile> file);
std::unique_ptr<Model> load_llama4(std::shared_ptr<const GGUFFile> file);

}  // namespace lineage
