// Fuzzes the grammar front ends: the first byte picks GBNF or JSON Schema,
// the rest is the text. What parses is then run: the matcher reads the input
// bytes (as a candidate output) until it rejects one. Oracles beyond "no
// crash": only lineage::Error escapes; a schema's grammar always parses; a
// live matcher state can always be completed (need() is finite) and is
// complete exactly when need() is 0.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "sampling/grammar.h"
#include "sampling/grammar_matcher.h"
#include "sampling/json_schema.h"

using namespace lineage;

namespace {

void walk(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  GrammarMatcher m(g);
  for (size_t i = 0; i <= text.size(); ++i) {
    const uint32_t need = m.need();
    if (need == GrammarMatcher::kNever) std::abort();
    if ((need == 0) != m.accepting()) std::abort();
    if (i == text.size() || !m.accept(text.substr(i, 1))) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      // Small limits keep each input fast; the defaults are tested in the unit tests.
      GrammarLimits lim;
      lim.max_rules = 4000;
      lim.max_elems = 1 << 16;
      lim.max_repeat = 300;
      walk(parse_grammar(text, lim), text);
    } else {
      const auto schema = nlohmann::ordered_json::parse(text, nullptr, false);
      if (schema.is_discarded()) return 0;
      const std::string gbnf = json_schema_to_gbnf(schema);
      std::shared_ptr<const Grammar> g;
      try {
        g = parse_grammar(gbnf);
      } catch (const Error&) {
        std::abort();  // the compiler promised a usable grammar
      }
      walk(g, text);
    }
  } catch (const Error&) {
  }
  return 0;
}
