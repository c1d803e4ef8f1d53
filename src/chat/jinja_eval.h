// Walks the parsed template and writes its output. One Interpreter renders
// one template once; the parsed Body is shared and never modified.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"

namespace lineage::chat::jinja {

struct Limits {
  size_t max_output = size_t{64} << 20;   // bytes of output, and of any one string or list built
  uint64_t max_steps = 20'000'000;         // loop iterations + statements + calls in one render
  size_t max_items = 1'000'000;            // elements of any one list built (range, +, *)
  int max_call_depth = 64;                 // nested macro calls
};

// Arguments of a call, filter or test after the subject.
struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  int line = 0;
  const char* what = "";  // "filter 'join'": used in error messages

  // Takes argument `index` (positional) or keyword `name`; Undefined if absent.
  Value take(size_t index, const char* name);
  bool has(size_t index, const char* name) const;
  // Error if positional arguments past `max_pos` or unused keywords remain.
  void done(size_t max_pos);

 private:
  std::vector<bool> used_kw_;
};

struct Callable {
  virtual ~Callable() = default;
  virtual Value call(Interpreter& in, CallArgs& args) const = 0;
};

class Interpreter {
 public:
  Interpreter(const Limits& limits, std::vector<std::pair<std::string, Value>> globals);

  std::string render(const Body& body);

  [[noreturn]] void error(int line, const std::string& what) const;
  // Counts work done, failing past Limits::max_steps.
  void step(int line);
  // Fails if a string or list about to be built would exceed the output limit.
  void check_size(size_t n, int line) const;
  void check_items(size_t n, int line) const;

  // Filter and test helpers: apply a named filter or test to a value (for
  // map/select with a name).
  Value apply_filter(const std::string& name, const Value& v, CallArgs& args);
  bool apply_test(const std::string& name, const Value& v, CallArgs& args);

  Value call_value(const Value& fn, CallArgs& args);
  Value render_macro(const Stmt& macro, CallArgs& args, const Value* caller);

  const Limits& limits() const { return limits_; }
  int current_line() const { return line_; }

 private:
  enum class Flow { Normal, Break, Continue };
  using Frame = std::vector<std::pair<std::string, Value>>;

  Limits limits_;
  std::vector<Frame> frames_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  int line_ = 0;

  Flow exec(const Body& body, std::string& out);
  Flow exec_stmt(const Stmt& s, std::string& out);
  void exec_for(const Stmt& s, std::string& out);
  void exec_set(const Stmt& s);
  void append_checked(std::string& out, const Value& v, int line);

  Value eval(const Expr& e);
  Value eval_name(const Expr& e);
  Value eval_attr(const Value& obj, const std::string& name, int line);
  Value eval_index(const Value& obj, const Value& key, int line);
  Value eval_slice(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_binary(const Expr& e);
  CallArgs eval_args(const Expr& e, size_t first);

  void assign(const std::string& name, Value v);
  const Value* lookup(const std::string& name) const;

  friend struct MacroFn;
};

}  // namespace lineage::chat::jinja
