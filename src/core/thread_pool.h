// A fixed pool of worker threads for data-parallel kernels. The calling
// thread takes part as thread 0, so a pool of 1 runs everything inline.
#pragma once
#include <functional>

namespace lineage {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Runs fn(ith, nth) once for every ith < nth (the caller runs ith 0) and
  // returns when all have finished. Not reentrant. A share whose worker has
  // not woken up by the time the caller is done is run by the caller, so the
  // calls must not wait on one another.
  void run(const std::function<void(int ith, int nth)>& fn);

 private:
  struct State;
  int n_threads_;
  State* state_;
};

// Physical cores of this machine (hyper-threads share the FMA units and the
// memory bandwidth, so extra threads on them only add contention).
int default_thread_count();

}  // namespace lineage
