// A read-only memory map of a whole file. Weights are used in place from it,
// so a model's resident memory is its file plus the KV cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lineage {

class MappedFile {
 public:
  MappedFile() = default;
  // populate: fault every page in now (the cost moves into load time, and
  // the first forward pass no longer pays a page fault per 4 KiB of weights).
  explicit MappedFile(const std::string& path, bool populate = false);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Lets the kernel drop the whole pages of [p, p + n) inside a read-only file
// mapping from this process's memory, once their contents live elsewhere
// (repacked, or copied to a GPU). Never loses data: clean file pages are
// read again if touched.
void release_file_pages(const void* p, size_t n);

}  // namespace lineage
