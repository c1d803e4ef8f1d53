#include "chat/jinja_eval.h"

#include <cmath>

#include "chat/jinja_builtins.h"
#include "core/error.h"

namespace lineage::chat::jinja {

// ---- CallArgs ----

Value CallArgs::take(size_t index, const char* name) {
  if (index < pos.size()) return pos[index];
  used_kw_.resize(kw.size(), false);
  for (size_t k = 0; k < kw.size(); ++k)
    if (kw[k].first == name) {
      used_kw_[k] = true;
      return kw[k].second;
    }
  return Value();
}

bool CallArgs::has(size_t index, const char* name) const {
  if (index < pos.size()) return true;
  for (const auto& kv : kw)
    if (kv.first == name) return true;
  return false;
}

void CallArgs::done(size_t max_pos) {
  if (pos.size() > max_pos)
    fail("line ", line, ": ", what, " takes at most ", max_pos, " positional argument", max_pos == 1 ? "" : "s",
         ", got ", pos.size());
  used_kw_.resize(kw.size(), false);
  for (size_t k = 0; k < kw.size(); ++k)
    if (!used_kw_[k]) fail("line ", line, ": ", what, " got an unexpected keyword argument '", kw[k].first, "'");
}

// ---- callables defined by templates ----

struct MacroFn : Callable {
  const Stmt* macro;
  explicit MacroFn(const Stmt* m) : macro(m) {}
  Value call(Interpreter& in, CallArgs& args) const override { return in.render_macro(*macro, args, nullptr); }
};

// `caller` inside a macro invoked by {% call %}: renders the call block's body.
struct CallerFn : Callable {
  const Stmt* block;
  explicit CallerFn(const Stmt* b) : block(b) {}
  Value call(Interpreter& in, CallArgs& args) const override { return in.render_macro(*block, args, nullptr); }
};

struct CycleFn : Callable {
  size_t index;
  explicit CycleFn(size_t i) : index(i) {}
  Value call(Interpreter& in, CallArgs& args) const override {
    if (args.pos.empty()) in.error(args.line, "loop.cycle needs at least one argument");
    return args.pos[index % args.pos.size()];
  }
};

// ---- Interpreter ----

Interpreter::Interpreter(const Limits& limits, std::vector<std::pair<std::string, Value>> globals)
    : limits_(limits) {
  frames_.push_back(std::move(globals));
}

void Interpreter::error(int line, const std::string& what) const { fail("line ", line, ": ", what); }

void Interpreter::step(int line) {
  if (++steps_ > limits_.max_steps)
    error(line, "template did too much work (more than " + std::to_string(limits_.max_steps) +
                    " steps: an endless or huge loop?)");
}

void Interpreter::check_size(size_t n, int line) const {
  if (n > limits_.max_output)
    error(line, "output would exceed " + std::to_string(limits_.max_output) + " bytes");
}

void Interpreter::check_items(size_t n, int line) const {
  if (n > limits_.max_items) error(line, "list would exceed " + std::to_string(limits_.max_items) + " items");
}

std::string Interpreter::render(const Body& body) {
  std::string out;
  Flow f = exec(body, out);
  if (f != Flow::Normal) error(line_, "'break' or 'continue' outside a loop");
  return out;
}

void Interpreter::append_checked(std::string& out, const Value& v, int line) {
  append_str(out, v);
  check_size(out.size(), line);
}

Interpreter::Flow Interpreter::exec(const Body& body, std::string& out) {
  for (const auto& s : body) {
    Flow f = exec_stmt(*s, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

const Value* Interpreter::lookup(const std::string& name) const {
  for (size_t f = frames_.size(); f-- > 0;)
    for (const auto& kv : frames_[f])
      if (kv.first == name) return &kv.second;
  return nullptr;
}

void Interpreter::assign(const std::string& name, Value v) {
  for (auto& kv : frames_.back())
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  frames_.back().emplace_back(name, std::move(v));
}

Interpreter::Flow Interpreter::exec_stmt(const Stmt& s, std::string& out) {
  line_ = s.line;
  step(s.line);
  switch (s.kind) {
    case StmtKind::Text:
      out += s.text;
      check_size(out.size(), s.line);
      return Flow::Normal;
    case StmtKind::Output: append_checked(out, eval(*s.expr), s.line); return Flow::Normal;
    case StmtKind::If:
      for (const auto& [cond, body] : s.branches)
        if (!cond || eval(*cond).truthy()) return exec(body, out);
      return Flow::Normal;
    case StmtKind::For: exec_for(s, out); return Flow::Normal;
    case StmtKind::Set: exec_set(s); return Flow::Normal;
    case StmtKind::SetBlock: {
      std::string text;
      Flow f = exec(s.body, text);
      if (f != Flow::Normal) error(s.line, "'break' or 'continue' outside a loop");
      Value v = Value::string(std::move(text));
      if (s.expr) {
        // The filter chain was parsed with a null innermost operand.
        const Expr* inner = s.expr.get();
        std::vector<const Expr*> chain;
        while (inner) {
          chain.push_back(inner);
          inner = inner->kids[0].get();
        }
        for (size_t k = chain.size(); k-- > 0;) {
          CallArgs args = eval_args(*chain[k], 1);
          args.what = "filter";
          v = chain[k]->filter(*this, v, args);
        }
      }
      assign(s.targets[0], std::move(v));
      return Flow::Normal;
    }
    case StmtKind::Macro:
      assign(s.text, Value::callable(std::make_shared<MacroFn>(&s)));
      return Flow::Normal;
    case StmtKind::CallBlock: {
      const Expr& call = *s.expr;
      Value fn = eval(*call.kids[0]);
      if (!fn.is_callable()) error(s.line, "a call block must call a macro");
      CallArgs args = eval_args(call, 1);
      auto caller = Value::callable(std::make_shared<CallerFn>(&s));
      const auto* macro = dynamic_cast<const MacroFn*>(&fn.fn());
      Value r = macro ? render_macro(*macro->macro, args, &caller) : fn.fn().call(*this, args);
      append_checked(out, r, s.line);
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      std::string text;
      if (exec(s.body, text) != Flow::Normal) error(s.line, "'break' or 'continue' outside a loop");
      Value v = Value::string(std::move(text));
      std::vector<const Expr*> chain;
      for (const Expr* e = s.expr.get(); e; e = e->kids[0].get()) chain.push_back(e);
      for (size_t k = chain.size(); k-- > 0;) {
        CallArgs args = eval_args(*chain[k], 1);
        args.what = "filter";
        v = chain[k]->filter(*this, v, args);
      }
      append_checked(out, v, s.line);
      return Flow::Normal;
    }
    case StmtKind::Break: return Flow::Break;
    case StmtKind::Continue: return Flow::Continue;
    case StmtKind::Do: eval(*s.expr); return Flow::Normal;
    case StmtKind::Scope: return exec(s.body, out);
  }
  return Flow::Normal;
}

static std::vector<Value> iterate(Interpreter& in, const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::Array: return v.arr().items;
    case Value::Kind::Object: {
      std::vector<Value> keys;
      for (const auto& kv : v.obj().items) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> chars;
      for (auto c : utf8_chars(v.str())) chars.push_back(Value::string(std::string(c)));
      return chars;
    }
    default: in.error(line, std::string("'") + v.type_name() + "' object is not iterable");
  }
}

void Interpreter::exec_for(const Stmt& s, std::string& out) {
  Value seq = eval(*s.expr);
  std::vector<Value> items = iterate(*this, seq, s.line);
  frames_.emplace_back();
  struct Pop {
    std::vector<Frame>& f;
    ~Pop() { f.pop_back(); }
  } pop{frames_};

  auto bind = [&](const Value& item) {
    if (s.targets.size() == 1) {
      assign(s.targets[0], item);
      return;
    }
    std::vector<Value> parts = iterate(*this, item, s.line);
    if (!item.is_array() && !item.is_string()) error(s.line, std::string("cannot unpack '") + item.type_name() + "'");
    if (parts.size() != s.targets.size())
      error(s.line, "cannot unpack " + std::to_string(parts.size()) + " values into " +
                        std::to_string(s.targets.size()) + " loop variables");
    for (size_t k = 0; k < parts.size(); ++k) assign(s.targets[k], parts[k]);
  };

  if (s.cond) {
    std::vector<Value> kept;
    for (auto& item : items) {
      step(s.line);
      bind(item);
      if (eval(*s.cond).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }

  const size_t n = items.size();
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    step(s.line);
    Object loop;
    loop.items.reserve(11);
    loop.items.emplace_back("index", Value::integer(static_cast<int64_t>(i + 1)));
    loop.items.emplace_back("index0", Value::integer(static_cast<int64_t>(i)));
    loop.items.emplace_back("revindex", Value::integer(static_cast<int64_t>(n - i)));
    loop.items.emplace_back("revindex0", Value::integer(static_cast<int64_t>(n - i - 1)));
    loop.items.emplace_back("first", Value::boolean(i == 0));
    loop.items.emplace_back("last", Value::boolean(i + 1 == n));
    loop.items.emplace_back("length", Value::integer(static_cast<int64_t>(n)));
    loop.items.emplace_back("depth", Value::integer(1));
    loop.items.emplace_back("depth0", Value::integer(0));
    loop.items.emplace_back("previtem", i > 0 ? items[i - 1] : Value::undefined("'loop.previtem' is undefined"));
    loop.items.emplace_back("nextitem", i + 1 < n ? items[i + 1] : Value::undefined("'loop.nextitem' is undefined"));
    loop.items.emplace_back("cycle", Value::callable(std::make_shared<CycleFn>(i)));
    assign("loop", Value::object(std::move(loop)));
    bind(items[i]);
    any = true;
    Flow f = exec(s.body, out);
    if (f == Flow::Break) break;
  }
  // break/continue in the else branch belong to an enclosing loop, which
  // Jinja does not allow; they end the else branch here.
  if (!any) exec(s.else_body, out);
}

void Interpreter::exec_set(const Stmt& s) {
  Value v = eval(*s.expr);
  if (!s.text.empty()) {
    const Value* target = lookup(s.targets[0]);
    if (!target || !target->is_namespace())
      error(s.line, "cannot assign attribute '" + s.text + "' on '" + s.targets[0] + "': not a namespace");
    target->ns_mut().set(s.text, std::move(v));
    return;
  }
  if (s.targets.size() == 1) {
    assign(s.targets[0], std::move(v));
    return;
  }
  std::vector<Value> parts = iterate(*this, v, s.line);
  if (parts.size() != s.targets.size())
    error(s.line, "cannot unpack " + std::to_string(parts.size()) + " values into " +
                      std::to_string(s.targets.size()) + " variables");
  for (size_t k = 0; k < parts.size(); ++k) assign(s.targets[k], parts[k]);
}

Value Interpreter::render_macro(const Stmt& m, CallArgs& args, const Value* caller) {
  if (++call_depth_ > limits_.max_call_depth) {
    --call_depth_;
    error(args.line, "macro calls nested deeper than " + std::to_string(limits_.max_call_depth) +
                         " levels (endless recursion?)");
  }
  step(args.line);
  Frame frame;
  std::vector<bool> used(args.kw.size(), false);
  std::vector<const Param*> pending;
  for (size_t k = 0; k < m.params.size(); ++k) {
    const Param& p = m.params[k];
    bool bound = false;
    if (k < args.pos.size()) {
      frame.emplace_back(p.name, args.pos[k]);
      bound = true;
    }
    for (size_t j = 0; j < args.kw.size(); ++j)
      if (args.kw[j].first == p.name) {
        if (bound) error(args.line, "macro got multiple values for argument '" + p.name + "'");
        frame.emplace_back(p.name, args.kw[j].second);
        used[j] = true;
        bound = true;
      }
    if (!bound) {
      if (p.default_value) pending.push_back(&p);
      else frame.emplace_back(p.name, Value::undefined("'" + p.name + "' is undefined"));
    }
  }
  if (args.pos.size() > m.params.size()) {
    if (!m.uses_varargs) error(args.line, "macro '" + m.text + "' takes at most " + std::to_string(m.params.size()) +
                                              " arguments, got " + std::to_string(args.pos.size()));
  }
  if (m.uses_varargs) {
    std::vector<Value> extra;
    for (size_t k = m.params.size(); k < args.pos.size(); ++k) extra.push_back(args.pos[k]);
    frame.emplace_back("varargs", Value::array(std::move(extra), true));
  }
  Object kwargs;
  for (size_t j = 0; j < args.kw.size(); ++j)
    if (!used[j]) {
      if (!m.uses_kwargs) error(args.line, "macro '" + m.text + "' got an unexpected keyword argument '" + args.kw[j].first + "'");
      kwargs.set(args.kw[j].first, args.kw[j].second);
    }
  if (m.uses_kwargs) frame.emplace_back("kwargs", Value::object(std::move(kwargs)));
  if (caller) frame.emplace_back("caller", *caller);

  frames_.push_back(std::move(frame));
  struct Pop {
    Interpreter& in;
    ~Pop() {
      in.frames_.pop_back();
      --in.call_depth_;
    }
  } pop{*this};
  for (const Param* p : pending) assign(p->name, eval(*p->default_value));
  std::string out;
  int saved_line = line_;
  if (exec(m.body, out) != Flow::Normal) error(m.line, "'break' or 'continue' outside a loop");
  line_ = saved_line;
  return Value::string(std::move(out));
}

Value Interpreter::call_value(const Value& fn, CallArgs& args) {
  if (!fn.is_callable()) {
    if (fn.is_undefined()) error(args.line, fn.undefined_name().empty() ? "call of an undefined value" : fn.undefined_name());
    error(args.line, std::string("'") + fn.type_name() + "' object is not callable");
  }
  return fn.fn().call(*this, args);
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first) {
  CallArgs a;
  a.line = e.line;
  size_t n_kw = e.kw_names.size();
  size_t n_pos = e.kids.size() - first - n_kw;
  a.pos.reserve(n_pos);
  for (size_t k = 0; k < n_pos; ++k) a.pos.push_back(eval(*e.kids[first + k]));
  for (size_t k = 0; k < n_kw; ++k) a.kw.emplace_back(e.kw_names[k], eval(*e.kids[first + n_pos + k]));
  return a;
}

static std::string undefined_message(const Value& v) {
  return v.undefined_name().empty() ? std::string("undefined value") : v.undefined_name();
}

Value Interpreter::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Literal: return e.value;
    case ExprKind::Name: return eval_name(e);
    case ExprKind::Attr: return eval_attr(eval(*e.kids[0]), e.name, e.line);
    case ExprKind::Index: {
      Value obj = eval(*e.kids[0]);
      return eval_index(obj, eval(*e.kids[1]), e.line);
    }
    case ExprKind::Slice: return eval_slice(e);
    case ExprKind::Call: return eval_call(e);
    case ExprKind::Filter: {
      Value operand = eval(*e.kids[0]);
      CallArgs args = eval_args(e, 1);
      std::string what = "filter '" + e.name + "'";
      args.what = what.c_str();
      return e.filter(*this, operand, args);
    }
    case ExprKind::Test: {
      Value operand = eval(*e.kids[0]);
      CallArgs args = eval_args(e, 1);
      std::string what = "test '" + e.name + "'";
      args.what = what.c_str();
      return Value::boolean(e.test(*this, operand, args) != e.negate);
    }
    case ExprKind::Neg:
    case ExprKind::Pos: {
      Value v = eval(*e.kids[0]);
      bool neg = e.kind == ExprKind::Neg;
      if (v.is_int() || v.is_bool()) {
        int64_t i = v.is_bool() ? v.as_bool() : v.as_int();
        if (neg && i == INT64_MIN) error(e.line, "integer overflow");
        return Value::integer(neg ? -i : i);
      }
      if (v.is_float()) return Value::real(neg ? -v.as_float() : v.as_float());
      if (v.is_undefined()) error(e.line, undefined_message(v));
      error(e.line, std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + v.type_name() + "'");
    }
    case ExprKind::Not: return Value::boolean(!eval(*e.kids[0]).truthy());
    case ExprKind::And: {
      Value l = eval(*e.kids[0]);
      return l.truthy() ? eval(*e.kids[1]) : l;
    }
    case ExprKind::Or: {
      Value l = eval(*e.kids[0]);
      return l.truthy() ? l : eval(*e.kids[1]);
    }
    case ExprKind::Cond: {
      if (eval(*e.kids[1]).truthy()) return eval(*e.kids[0]);
      return e.kids[2] ? eval(*e.kids[2]) : Value::undefined("conditional expression without else");
    }
    case ExprKind::Binary: return eval_binary(e);
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      items.reserve(e.kids.size());
      for (const auto& k : e.kids) items.push_back(eval(*k));
      return Value::array(std::move(items), e.kind == ExprKind::Tuple);
    }
    case ExprKind::Dict: {
      Object o;
      for (size_t k = 0; k + 1 < e.kids.size(); k += 2) {
        Value key = eval(*e.kids[k]);
        if (!key.is_string()) error(e.line, "dict keys must be strings here");
        o.set(key.str(), eval(*e.kids[k + 1]));
      }
      return Value::object(std::move(o));
    }
  }
  error(e.line, "unknown expression");
}

Value Interpreter::eval_name(const Expr& e) {
  if (const Value* v = lookup(e.name)) return *v;
  if (const Value* g = find_global(e.name)) return *g;
  return Value::undefined("'" + e.name + "' is undefined");
}

static const char* container_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Object: return "dict object";
    case Value::Kind::Array: return v.arr().tuple ? "tuple object" : "list object";
    case Value::Kind::String: return "str object";
    case Value::Kind::None: return "None";
    case Value::Kind::Int: return "int object";
    case Value::Kind::Float: return "float object";
    case Value::Kind::Bool: return "bool object";
    case Value::Kind::Namespace: return "Namespace object";
    default: return "object";
  }
}

Value Interpreter::eval_attr(const Value& obj, const std::string& name, int line) {
  if (obj.is_mapping_like()) {
    if (const Value* v = obj.obj().find(name)) return *v;
  } else if (obj.is_undefined()) {
    error(line, undefined_message(obj));
  }
  return Value::undefined(std::string("'") + container_name(obj) + "' has no attribute '" + name + "'");
}

Value Interpreter::eval_index(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) error(line, undefined_message(obj));
  if (obj.is_mapping_like()) {
    if (key.is_string()) {
      if (const Value* v = obj.obj().find(key.str())) return *v;
    }
    return Value::undefined(std::string("'") + container_name(obj) + "' has no attribute '" + to_str(key) + "'");
  }
  if ((obj.is_array() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.is_bool() ? key.as_bool() : key.as_int();
    if (obj.is_array()) {
      const auto& items = obj.arr().items;
      int64_t n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
    } else {
      auto chars = utf8_chars(obj.str());
      int64_t n = static_cast<int64_t>(chars.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value::string(std::string(chars[static_cast<size_t>(i)]));
    }
    return Value::undefined(std::string("'") + container_name(obj) + "' has no element " + std::to_string(key.as_int()));
  }
  if (key.is_string()) return eval_attr(obj, key.str(), line);
  return Value::undefined(std::string("'") + container_name(obj) + "' has no element " + to_str(key));
}

Value Interpreter::eval_slice(const Expr& e) {
  Value obj = eval(*e.kids[0]);
  Value parts[3];
  for (int k = 0; k < 3; ++k)
    if (e.kids[1 + k]) parts[k] = eval(*e.kids[1 + k]);
  if (obj.is_array()) {
    const auto& items = obj.arr().items;
    std::vector<Value> out;
    for (size_t i : slice_indices(*this, items.size(), parts[0], parts[1], parts[2])) out.push_back(items[i]);
    return Value::array(std::move(out), obj.arr().tuple);
  }
  if (obj.is_string()) {
    auto chars = utf8_chars(obj.str());
    std::string out;
    for (size_t i : slice_indices(*this, chars.size(), parts[0], parts[1], parts[2])) out += chars[i];
    return Value::string(std::move(out));
  }
  if (obj.is_undefined()) error(e.line, undefined_message(obj));
  error(e.line, std::string("'") + obj.type_name() + "' object is not subscriptable");
}

Value Interpreter::eval_call(const Expr& e) {
  const Expr& callee = *e.kids[0];
  step(e.line);
  if (callee.kind == ExprKind::Attr) {
    Value obj = eval(*callee.kids[0]);
    if (obj.is_undefined()) error(e.line, undefined_message(obj));
    if (obj.is_mapping_like()) {
      if (const Value* v = obj.obj().find(callee.name); v && v->is_callable()) {
        CallArgs args = eval_args(e, 1);
        return call_value(*v, args);
      }
    }
    CallArgs args = eval_args(e, 1);
    std::string what = "method '" + callee.name + "'";
    args.what = what.c_str();
    bool found = true;
    Value r = call_method(*this, obj, callee.name, args, &found);
    if (!found) error(e.line, std::string("'") + container_name(obj) + "' has no method '" + callee.name + "'");
    return r;
  }
  Value fn = eval(callee);
  CallArgs args = eval_args(e, 1);
  std::string what = callee.kind == ExprKind::Name ? "'" + callee.name + "'" : std::string("function");
  args.what = what.c_str();
  return call_value(fn, args);
}

static bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
static int64_t int_of(const Value& v) { return v.is_bool() ? v.as_bool() : v.as_int(); }

Value Interpreter::eval_binary(const Expr& e) {
  Value l = eval(*e.kids[0]);
  Value r = eval(*e.kids[1]);
  const int line = e.line;
  auto type_error = [&](const char* op) -> Value {
    if (l.is_undefined()) error(line, undefined_message(l));
    if (r.is_undefined()) error(line, undefined_message(r));
    error(line, std::string("unsupported operand types for ") + op + ": '" + l.type_name() + "' and '" +
                    r.type_name() + "'");
  };
  auto numeric = [](const Value& v) { return v.is_int() || v.is_float() || v.is_bool(); };
  switch (e.op) {
    case BinOp::Eq: return Value::boolean(equal(l, r));
    case BinOp::Ne: return Value::boolean(!equal(l, r));
    case BinOp::Lt:
    case BinOp::Le:
    case BinOp::Gt:
    case BinOp::Ge: {
      if (l.is_undefined() || r.is_undefined()) type_error("comparison");
      int c = 0;
      try {
        c = compare(l, r);
      } catch (const Error& err) {
        error(line, err.what());
      }
      bool res = e.op == BinOp::Lt ? c < 0 : e.op == BinOp::Le ? c <= 0 : e.op == BinOp::Gt ? c > 0 : c >= 0;
      return Value::boolean(res);
    }
    case BinOp::In:
    case BinOp::NotIn: {
      bool found = false;
      if (r.is_string()) {
        if (!l.is_string()) error(line, std::string("'in <string>' requires string as left operand, not ") + l.type_name());
        found = r.str().find(l.str()) != std::string::npos;
      } else if (r.is_array()) {
        for (const auto& item : r.arr().items)
          if (equal(l, item)) {
            found = true;
            break;
          }
      } else if (r.is_mapping_like()) {
        found = l.is_string() && r.obj().find(l.str()) != nullptr;
      } else if (!r.is_undefined()) {
        error(line, std::string("argument of type '") + r.type_name() + "' is not iterable");
      }
      return Value::boolean(found == (e.op == BinOp::In));
    }
    case BinOp::Concat: {
      std::string s = to_str(l);
      append_str(s, r);
      check_size(s.size(), line);
      return Value::string(std::move(s));
    }
    case BinOp::Add:
      if (l.is_string() && r.is_string()) {
        check_size(l.str().size() + r.str().size(), line);
        return Value::string(l.str() + r.str());
      }
      if (l.is_array() && r.is_array()) {
        check_items(l.arr().items.size() + r.arr().items.size(), line);
        std::vector<Value> items = l.arr().items;
        items.insert(items.end(), r.arr().items.begin(), r.arr().items.end());
        return Value::array(std::move(items), l.arr().tuple);
      }
      break;
    case BinOp::Mul:
      if ((l.is_string() || l.is_array()) && int_like(r)) std::swap(l, r);
      if (int_like(l) && (r.is_string() || r.is_array())) {
        int64_t n = std::max<int64_t>(0, int_of(l));
        size_t unit = r.is_string() ? r.str().size() : r.arr().items.size();
        size_t cap = r.is_string() ? limits_.max_output : limits_.max_items;
        if (unit && static_cast<uint64_t>(n) > cap / unit) {
          if (r.is_string()) check_size(cap + 1, line);
          check_items(cap + 1, line);
        }
        if (r.is_string()) {
          std::string s;
          s.reserve(unit * static_cast<size_t>(n));
          for (int64_t k = 0; k < n; ++k) s += r.str();
          return Value::string(std::move(s));
        }
        std::vector<Value> items;
        for (int64_t k = 0; k < n; ++k) items.insert(items.end(), r.arr().items.begin(), r.arr().items.end());
        return Value::array(std::move(items), r.arr().tuple);
      }
      break;
    case BinOp::Mod:
      if (l.is_string()) return Value::string(percent_format(*this, l.str(), r));
      break;
    default: break;
  }
  static const char* const names[] = {"+", "-", "*", "/", "//", "%", "**"};
  const char* op = names[static_cast<int>(e.op) <= 6 ? static_cast<int>(e.op) : 0];
  if (!numeric(l) || !numeric(r)) return type_error(op);
  if (int_like(l) && int_like(r) && e.op != BinOp::Div) {
    int64_t a = int_of(l), b = int_of(r), res = 0;
    bool overflow = false;
    switch (e.op) {
      case BinOp::Add: overflow = __builtin_add_overflow(a, b, &res); break;
      case BinOp::Sub: overflow = __builtin_sub_overflow(a, b, &res); break;
      case BinOp::Mul: overflow = __builtin_mul_overflow(a, b, &res); break;
      case BinOp::FloorDiv:
      case BinOp::Mod: {
        if (b == 0) error(line, "integer division or modulo by zero");
        if (a == INT64_MIN && b == -1) {
          overflow = e.op == BinOp::FloorDiv;
          res = 0;
          break;
        }
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) {
          --q;
          m += b;
        }
        res = e.op == BinOp::FloorDiv ? q : m;
        break;
      }
      case BinOp::Pow: {
        if (b < 0) return Value::real(std::pow(static_cast<double>(a), static_cast<double>(b)));
        res = 1;
        int64_t base = a;
        for (int64_t k = b; k > 0 && !overflow; k >>= 1) {
          if (k & 1) overflow = __builtin_mul_overflow(res, base, &res);
          if (k > 1 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
        }
        break;
      }
      default: break;
    }
    if (overflow) error(line, "integer overflow");
    return Value::integer(res);
  }
  double a = l.as_number(), b = r.as_number();
  switch (e.op) {
    case BinOp::Add: return Value::real(a + b);
    case BinOp::Sub: return Value::real(a - b);
    case BinOp::Mul: return Value::real(a * b);
    case BinOp::Div:
      if (b == 0) error(line, "division by zero");
      return Value::real(a / b);
    case BinOp::FloorDiv:
      if (b == 0) error(line, "float floor division by zero");
      return Value::real(std::floor(a / b));
    case BinOp::Mod: {
      if (b == 0) error(line, "float modulo by zero");
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return Value::real(m);
    }
    case BinOp::Pow: return Value::real(std::pow(a, b));
    default: break;
  }
  return type_error(op);
}

}  // namespace lineage::chat::jinja
