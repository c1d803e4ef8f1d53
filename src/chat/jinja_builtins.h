// Lookup tables of the filters, tests and global functions the interpreter
// knows, shared by the parser (to resolve names) and the evaluator.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"

namespace lineage::chat::jinja {

FilterFn find_filter(std::string_view name);  // null if unknown
TestFn find_test(std::string_view name);      // null if unknown

}  // namespace lineage::chat::jinja

namespace lineage::chat::jinja {

class Interpreter;
struct CallArgs;

// Methods called on values: "a b".split(), d.items(), ... Sets *found to
// false when the type has no such method.
Value call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args, bool* found);
// Global functions: range, namespace, dict, raise_exception, strftime_now.
const Value* find_global(std::string_view name);
// Python's "fmt % args".
std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args);
// Python slice semantics on a sequence of n items: the selected indices.
std::vector<size_t> slice_indices(Interpreter& in, size_t n, const Value& start, const Value& stop, const Value& step);

}  // namespace lineage::chat::jinja
