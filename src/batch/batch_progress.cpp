#include "batch/batch_progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace lineage::batch {

namespace {

std::string duration(double s) {
  if (s < 0) return "?";
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

}  // namespace

Progress::Progress(size_t total, size_t already)
    : total_(total), already_(already), tty_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {
  last_draw_ = start_;
}

void Progress::update(size_t done_now, size_t errors_now, uint64_t tokens_now) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal gets a live bar; a log gets a line every few seconds.
  if (since < (tty_ ? 0.2 : 5.0) && drawn_) return;
  if (!drawn_ && !tty_ && since < 5.0) return;
  draw(done_now, errors_now, tokens_now, false);
}

void Progress::finish(size_t done_now, size_t errors_now, uint64_t tokens_now) {
  draw(done_now, errors_now, tokens_now, true);
}

void Progress::draw(size_t done_now, size_t errors_now, uint64_t tokens_now, bool last) {
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  drawn_ = true;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const size_t done = already_ + done_now;
  const double rate = secs > 0 ? static_cast<double>(done_now) / secs : 0;
  const double tok_rate = secs > 0 ? static_cast<double>(tokens_now) / secs : 0;
  const size_t left = total_ > done ? total_ - done : 0;
  const double eta = left == 0 ? 0 : rate > 0 ? static_cast<double>(left) / rate : -1;
  const char* when = last ? "elapsed" : "ETA";
  const std::string eta_text = duration(last ? secs : eta);
  char buf[240];
  if (already_)
    std::snprintf(buf, sizeof buf, "%zu/%zu rows (%zu from before), %zu errors | %.2f rows/s, %.1f tok/s | %s %s",
                  done, total_, already_, errors_now, rate, tok_rate, when, eta_text.c_str());
  else
    std::snprintf(buf, sizeof buf, "%zu/%zu rows, %zu errors | %.2f rows/s, %.1f tok/s | %s %s", done, total_,
                  errors_now, rate, tok_rate, when, eta_text.c_str());
  const std::string text = buf;
  if (tty_) {
    const int width = 24;
    const int fill = total_ ? static_cast<int>(width * static_cast<double>(done) / static_cast<double>(total_)) : width;
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\033[Kbatch [%s] %s%s", bar.c_str(), text.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(stderr, "batch: %s\n", text.c_str());
  }
  std::fflush(stderr);
}

}  // namespace lineage::batch
