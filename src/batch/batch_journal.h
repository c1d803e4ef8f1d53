// What makes `lineage batch` resumable: results go to append-only JSONL
// files, one complete line per write(), so a process killed at any moment
// leaves whole lines (at worst a partial last line from a crash of the
// machine, which the next run cuts off), and a sidecar records the settings
// that shape the answers so a resumed run never mixes two kinds of answers.
#pragma once
#include <cstddef>
#include <string>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace lineage::batch {

class LineFile {
 public:
  // Opens for appending, creating the file when missing.
  explicit LineFile(const std::string& path);
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;

  // Takes an exclusive lock on the file; false when another process holds
  // one (two runs appending to one output would each redo the other's rows).
  bool try_lock();

  // Appends line and a newline with one write() (retried for the rest only
  // when the kernel writes less, which a regular file does only on error).
  void append(const std::string& line);

 private:
  std::string path_;
  int fd_ = -1;
};

struct DoneRows {
  std::unordered_set<std::string> keys;  // id keys (see id_key)
  size_t lines = 0;
  size_t cut_bytes = 0;  // size of a trailing partial line that was removed
};

// Reads a results file left by an earlier run (nothing when it does not
// exist), first cutting off a trailing line that has no newline. Error for
// a line that is not a JSON object with an id: such a file was not written
// by this command and resuming into it would be guesswork.
DoneRows scan_done(const std::string& path);

// A file named after the output: out.jsonl + ".errors.jsonl" ->
// out.errors.jsonl (a .jsonl extension is replaced, any other name kept).
std::string beside_output(const std::string& output, const std::string& suffix);

// The sidecar next to the output (out.batch.json).
std::string settings_path(const std::string& output);

// Compares settings with the sidecar of an earlier run and writes the
// sidecar when there is none (atomically, before any row is written). Error
// naming what changed when they differ and the earlier run left rows; with
// no rows left the old sidecar is simply replaced.
void check_settings(const std::string& output, const nlohmann::ordered_json& settings, bool have_rows);

}  // namespace lineage::batch
