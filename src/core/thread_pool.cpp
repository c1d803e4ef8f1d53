// Persistent workers woken by a generation counter. Workers and the caller
// spin briefly before sleeping (atomic wait = futex), because in token
// generation the next run() usually follows within microseconds and a
// futex wake-up costs more than the kernel between them.
#include "core/thread_pool.h"

#include <sched.h>

#include <atomic>
#include <exception>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace lineage {

namespace {

// About 20-40 us of pause instructions: longer than the gaps between the
// kernels of one token, short enough not to starve neighbours when idle.
constexpr int kSpinRounds = 2000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins on `word` until it differs from `old`, then sleeps on it.
template <typename T>
T wait_change(const std::atomic<T>& word, T old) {
  for (int i = 0; i < kSpinRounds; ++i) {
    const T v = word.load(std::memory_order_acquire);
    if (v != old) return v;
    cpu_relax();
  }
  for (;;) {
    word.wait(old, std::memory_order_acquire);
    const T v = word.load(std::memory_order_acquire);
    if (v != old) return v;
  }
}

}  // namespace

// Each run() hands out the task indices 1..n-1 through a counter. Workers
// claim them when they wake, and so does the caller once its own share is
// done: on a loaded machine a worker that has not been scheduled yet simply
// finds nothing left, instead of making the caller wait for it.
struct ThreadPool::State {
  std::vector<std::thread> workers;
  std::atomic<uint32_t> generation{0};
  std::atomic<int> next_task{0};
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  std::atomic<const std::function<void(int, int)>*> fn{nullptr};
  int n_tasks = 0;
  std::mutex error_mu;
  std::exception_ptr error;

  void record(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (!error) error = std::move(e);
  }

  void run_claimed_tasks() {
    for (;;) {
      const int task = next_task.fetch_add(1, std::memory_order_acq_rel);
      if (task >= n_tasks) return;
      try {
        (*fn.load(std::memory_order_acquire))(task, n_tasks);
      } catch (...) {
        record(std::current_exception());
      }
      if (done.fetch_add(1, std::memory_order_acq_rel) + 1 == n_tasks - 1) done.notify_one();
    }
  }

  void worker() {
    uint32_t seen = 0;
    for (;;) {
      seen = wait_change(generation, seen);
      if (stop.load(std::memory_order_acquire)) return;
      run_claimed_tasks();
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads), state_(new State) {
  state_->n_tasks = n_threads_;
  state_->next_task.store(n_threads_);
  for (int i = 1; i < n_threads_; ++i) state_->workers.emplace_back([this] { state_->worker(); });
}

ThreadPool::~ThreadPool() {
  state_->stop.store(true, std::memory_order_release);
  state_->generation.fetch_add(1, std::memory_order_acq_rel);
  state_->generation.notify_all();
  for (auto& t : state_->workers) t.join();
  delete state_;
}

void ThreadPool::run(const std::function<void(int ith, int nth)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  State& s = *state_;
  s.error = nullptr;
  s.done.store(0, std::memory_order_relaxed);
  s.fn.store(&fn, std::memory_order_relaxed);
  // Publishing the counter releases fn and done to whoever claims a task.
  s.next_task.store(1, std::memory_order_release);
  s.generation.fetch_add(1, std::memory_order_acq_rel);
  s.generation.notify_all();
  try {
    fn(0, n_threads_);
  } catch (...) {
    s.record(std::current_exception());
  }
  s.run_claimed_tasks();
  int finished = s.done.load(std::memory_order_acquire);
  while (finished != n_threads_ - 1) finished = wait_change(s.done, finished);
  if (s.error) std::rethrow_exception(s.error);
}

int default_thread_count() {
  // Distinct (package, core) pairs are the physical cores.
  std::set<std::pair<int, int>> cores;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  int package = 0;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = line.substr(colon + 1);
    try {
      if (key == "physical id") package = std::stoi(value);
      else if (key == "core id") cores.insert({package, std::stoi(value)});
    } catch (...) {
    }
  }
  int n = static_cast<int>(cores.size());
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  // A container or taskset may allow fewer CPUs than the machine has.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int allowed = CPU_COUNT(&set);
    if (allowed > 0 && allowed < n) n = allowed;
  }
  return n < 1 ? 1 : n;
}

}  // namespace lineage
