// Turns the token stream into statements and expressions. Filters and tests
// are resolved here, so an unknown name fails at parse time with its line.
#pragma once
#include <string_view>

#include "chat/jinja_ast.h"

namespace lineage::chat::jinja {

// Nesting deeper than this (blocks, or brackets within one expression) is
// refused: hostile templates must not exhaust the stack.
inline constexpr int kMaxParseDepth = 128;

Body parse_template(std::string_view source);

}  // namespace lineage::chat::jinja
