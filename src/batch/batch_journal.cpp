#include "batch/batch_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "batch/batch_input.h"
#include "core/error.h"

namespace lineage::batch {

LineFile::LineFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path, ": cannot open for appending: ", std::strerror(errno));
}

LineFile::~LineFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineFile::try_lock() { return ::flock(fd_, LOCK_EX | LOCK_NB) == 0; }

void LineFile::append(const std::string& line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf += line;
  buf += '\n';
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path_, ": write failed: ", std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
}

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot read");
  std::ostringstream os;
  os << f.rdbuf();
  if (f.bad()) fail(path, ": read error");
  return os.str();
}

}  // namespace

DoneRows scan_done(const std::string& path) {
  DoneRows d;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return d;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, ": not a regular file");
  std::string data = read_all(path);
  const size_t end = data.rfind('\n');
  const size_t keep = end == std::string::npos ? 0 : end + 1;
  if (keep < data.size()) {
    d.cut_bytes = data.size() - keep;
    if (::truncate(path.c_str(), static_cast<off_t>(keep)) != 0)
      fail(path, ": cannot cut off the partial last line: ", std::strerror(errno));
    data.resize(keep);
  }
  size_t pos = 0;
  int n = 0;
  while (pos < data.size()) {
    const size_t nl = data.find('\n', pos);
    const std::string line = data.substr(pos, nl - pos);
    pos = nl + 1;
    ++n;
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id"))
      fail(path, ":", n, ": not a result line (a JSON object with an id); this file was not written by "
                         "`lineage batch`, so it cannot be resumed");
    d.keys.insert(id_key(j["id"]));
    ++d.lines;
  }
  return d;
}

std::string beside_output(const std::string& output, const std::string& suffix) {
  const std::string ext = ".jsonl";
  std::string stem = output;
  if (stem.size() > ext.size() && stem.compare(stem.size() - ext.size(), ext.size(), ext) == 0)
    stem.resize(stem.size() - ext.size());
  return stem + suffix;
}

std::string settings_path(const std::string& output) { return beside_output(output, ".batch.json"); }

namespace {

// Every leaf that differs, as "path: old -> new".
void diff(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b, const std::string& at,
          std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto& [k, v] : a.items()) {
      const std::string p = at.empty() ? k : at + "." + k;
      if (!b.contains(k))
        out.push_back(p + ": " + to_line(v) + " before, absent now");
      else
        diff(v, b[k], p, out);
    }
    for (auto& [k, v] : b.items())
      if (!a.contains(k)) out.push_back((at.empty() ? k : at + "." + k) + ": absent before, " + to_line(v) + " now");
    return;
  }
  if (a != b) out.push_back(at + ": " + to_line(a) + " before, " + to_line(b) + " now");
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !(f << text) || !f.flush()) fail(tmp, ": cannot write");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail(path, ": cannot write: ", ec.message());
}

}  // namespace

void check_settings(const std::string& output, const nlohmann::ordered_json& settings, bool have_rows) {
  const std::string path = settings_path(output);
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (exists && have_rows) {
    auto old = nlohmann::ordered_json::parse(read_all(path), nullptr, false);
    if (old.is_discarded() || !old.is_object())
      fail(path, ": not a settings file of `lineage batch`; cannot tell whether ", output, " can be resumed");
    std::vector<std::string> changes;
    diff(old, settings, "", changes);
    if (!changes.empty()) {
      std::string msg;
      for (size_t i = 0; i < changes.size() && i < 6; ++i) msg += (i ? "; " : "") + changes[i];
      if (changes.size() > 6) msg += "; ...";
      fail("cannot resume ", output, ": it was written with other settings (", msg,
           "). Use the same arguments, or another --output to start over");
    }
    return;
  }
  if (!exists && have_rows)
    fail("cannot resume ", output, ": it has rows but no ", path,
         " recording the settings they were made with; move it away to start over");
  write_atomically(path, settings.dump(2) + "\n");
}

}  // namespace lineage::batch
