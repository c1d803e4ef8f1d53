// GET /metrics in the Prometheus text exposition format (version 0.0.4).
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "runtime/scheduler.h"

namespace lineage::server {

// HTTP requests answered, by endpoint and status, and generations
// finished, by the scheduler's stop reason.
class RequestCounter {
 public:
  using HttpCounts = std::map<std::pair<std::string, int>, uint64_t>;
  using FinishCounts = std::map<std::string, uint64_t>;
  void count(const std::string& endpoint, int status);
  void count_finish(const std::string& stop_reason);
  HttpCounts snapshot() const;
  FinishCounts finishes() const;

 private:
  mutable std::mutex m_;
  HttpCounts counts_;
  FinishCounts finishes_;
};

std::string render_metrics(const SchedulerStats& s, const RequestCounter::HttpCounts& http,
                           const RequestCounter::FinishCounts& finishes = {});

}  // namespace lineage::server
