// The rows of a JSONL dataset, read once at the start of `lineage batch`:
// each non-blank line is one row, known by its `id` field or, when it has
// none, by its 1-based line number. Ids are settled before any work starts
// so a resumed run can tell which rows are already done.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lineage::batch {

struct InputRow {
  int line = 0;                  // 1-based line number in the input file
  nlohmann::ordered_json id;     // the row's id as written in the output
  std::string key;               // id in canonical text form (compact JSON)
  std::string text;              // the line as read (without the newline)
  std::string bad;               // why the line is not a usable row (empty: fine)
};

// The canonical text of an id: the form used to match rows across runs.
std::string id_key(const nlohmann::ordered_json& id);

// Reads every row. Error for a missing or unreadable file, an id that is
// not a string or an integer, and two rows with the same id. A line that is
// not JSON or not an object is kept as a row with `bad` set (it goes to the
// errors file; the rest of the run goes on).
std::vector<InputRow> read_rows(const std::string& path);

// Writes a JSON value on one line; invalid UTF-8 in strings (a model may
// stop in the middle of a character) becomes U+FFFD instead of an error.
std::string to_line(const nlohmann::ordered_json& j);

}  // namespace lineage::batch
