#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace lineage::server {

void RequestCounter::count(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(m_);
  ++counts_[{endpoint, status}];
}

void RequestCounter::count_finish(const std::string& stop_reason) {
  std::lock_guard<std::mutex> lock(m_);
  ++finishes_[stop_reason];
}

RequestCounter::HttpCounts RequestCounter::snapshot() const {
  std::lock_guard<std::mutex> lock(m_);
  return counts_;
}

RequestCounter::FinishCounts RequestCounter::finishes() const {
  std::lock_guard<std::mutex> lock(m_);
  return finishes_;
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  char line[64];
  std::snprintf(line, sizeof line, "%.17g", value);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + line + "\n";
}

// Label values are endpoint paths the server itself chose, but escape anyway.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string render_metrics(const SchedulerStats& s, const RequestCounter::HttpCounts& http,
                           const RequestCounter::FinishCounts& finishes) {
  std::string out;
  metric(out, "lineage_requests_total", "counter", "Generation requests finished (for any reason).",
         static_cast<double>(s.requests_total));
  metric(out, "lineage_prompt_tokens_total", "counter", "Prompt tokens read.", static_cast<double>(s.prompt_tokens_total));
  metric(out, "lineage_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache.",
         static_cast<double>(s.cached_tokens_total));
  metric(out, "lineage_generated_tokens_total", "counter", "Tokens generated.",
         static_cast<double>(s.generated_tokens_total));
  metric(out, "lineage_busy_seconds_total", "counter", "Seconds spent in forward passes.", s.busy_seconds_total);
  const double work = static_cast<double>(s.prompt_tokens_total - std::min(s.cached_tokens_total, s.prompt_tokens_total) +
                                          s.generated_tokens_total);
  metric(out, "lineage_tokens_per_second", "gauge",
         "Tokens processed (prompt and generated) per second of forward passes, since the start.",
         s.busy_seconds_total > 0 ? work / s.busy_seconds_total : 0.0);
  metric(out, "lineage_generated_tokens_per_second", "gauge",
         "Tokens generated per second of forward passes, since the start.",
         s.busy_seconds_total > 0 ? static_cast<double>(s.generated_tokens_total) / s.busy_seconds_total : 0.0);
  metric(out, "lineage_queue_depth", "gauge", "Requests waiting for a slot.", s.queue_depth);
  metric(out, "lineage_busy_slots", "gauge", "Slots serving a request.", s.busy_slots);
  metric(out, "lineage_slots", "gauge", "Slots (requests served at once).", s.n_slots);
  out += "# HELP lineage_http_requests_total HTTP requests answered, by endpoint and status.\n"
         "# TYPE lineage_http_requests_total counter\n";
  for (const auto& [key, n] : http)
    out += "lineage_http_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" + std::to_string(key.second) +
           "\"} " + std::to_string(n) + "\n";
  out += "# HELP lineage_requests_finished_total Generation requests finished, by stop reason "
         "(eos, stop, length, context, cancelled, shutdown, error).\n"
         "# TYPE lineage_requests_finished_total counter\n";
  for (const auto& [reason, n] : finishes)
    out += "lineage_requests_finished_total{reason=\"" + label(reason) + "\"} " + std::to_string(n) + "\n";
  return out;
}

}  // namespace lineage::server
