// Progress of `lineage batch` on stderr: a bar redrawn in place on a
// terminal, plain lines every few seconds otherwise (logs, pipes).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace lineage::batch {

class Progress {
 public:
  // total: rows in the input; already: rows done by earlier runs.
  Progress(size_t total, size_t already);
  // Redraws (at most a few times a second) after rows finished.
  void update(size_t done_now, size_t errors_now, uint64_t tokens_now);
  // The last line, always printed.
  void finish(size_t done_now, size_t errors_now, uint64_t tokens_now);

 private:
  void draw(size_t done_now, size_t errors_now, uint64_t tokens_now, bool last);

  size_t total_, already_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace lineage::batch
