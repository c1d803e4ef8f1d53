// Methods on strings, dicts and lists, and the global functions templates
// call. Lists and dicts are immutable, as in transformers' sandboxed
// environment: append/update and friends are refused there too.
#include <ctime>

#include "chat/jinja_builtins.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_text.h"
#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lineage::chat::jinja {

namespace {

std::string need_str(Interpreter& in, const Value& v, const CallArgs& a, const char* what) {
  if (!v.is_string()) in.error(a.line, std::string(a.what) + ": " + what + " must be a string, not " + v.type_name());
  return v.str();
}

int64_t opt_int(Interpreter& in, const Value& v, int64_t dflt, const CallArgs& a) {
  if (v.is_undefined() || v.is_none()) return dflt;
  if (!v.is_int()) in.error(a.line, std::string(a.what) + ": expected an integer, not " + v.type_name());
  return v.as_int();
}

Value str_list(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::array(std::move(items));
}

bool prefix_match(Interpreter& in, const std::string& s, const Value& arg, bool suffix, const CallArgs& a) {
  auto one = [&](const Value& p) {
    const std::string& x = need_str(in, p, a, "prefix");
    if (x.size() > s.size()) return false;
    return suffix ? s.compare(s.size() - x.size(), x.size(), x) == 0 : s.compare(0, x.size(), x) == 0;
  };
  if (arg.is_array()) {
    for (const auto& p : arg.arr().items)
      if (one(p)) return true;
    return false;
  }
  return one(arg);
}

bool all_chars(const std::string& s, bool (*pred)(uint32_t)) {
  if (s.empty()) return false;
  for (auto c : utf8_chars(s)) {
    uint32_t cp = static_cast<unsigned char>(c[0]);
    if (c.size() > 1) return false;  // only ASCII classes are known here
    if (!pred(cp)) return false;
  }
  return true;
}

// str.format: {} {0} {name} and {{ }} escapes; format specs are not supported.
std::string str_format(Interpreter& in, const std::string& fmt, CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      size_t close = fmt.find('}', i);
      if (close == std::string::npos) in.error(a.line, "format: single '{' in the format string");
      std::string field = fmt.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!") != std::string::npos) in.error(a.line, "format: format specs are not supported");
      Value v;
      if (field.empty()) {
        if (auto_index >= a.pos.size()) in.error(a.line, "format: not enough arguments");
        v = a.pos[auto_index++];
      } else if (field.find_first_not_of("0123456789") == std::string::npos) {
        size_t k = std::stoul(field);
        if (k >= a.pos.size()) in.error(a.line, "format: not enough arguments");
        v = a.pos[k];
      } else {
        bool hit = false;
        for (auto& kv : a.kw)
          if (kv.first == field) {
            v = kv.second;
            hit = true;
          }
        if (!hit) in.error(a.line, "format: no argument named '" + field + "'");
      }
      append_str(out, v);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

Value string_method(Interpreter& in, const std::string& s, const std::string& name, CallArgs& a, bool* found) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Value chars = a.take(0, "chars");
    a.done(1);
    std::string cs = chars.is_string() ? chars.str() : std::string();
    bool has = chars.is_string();
    return Value::string(text::strip(s, name != "rstrip", name != "lstrip", has ? &cs : nullptr));
  }
  if (name == "split" || name == "rsplit") {
    Value sep = a.take(0, "sep");
    int64_t maxsplit = opt_int(in, a.take(1, "maxsplit"), -1, a);
    a.done(2);
    std::string sp = sep.is_string() ? sep.str() : std::string();
    if (sep.is_string() && sp.empty()) in.error(a.line, "split: empty separator");
    const std::string* p = sep.is_string() ? &sp : nullptr;
    return str_list(name == "split" ? text::split(s, p, maxsplit) : text::rsplit(s, p, maxsplit));
  }
  if (name == "startswith" || name == "endswith") {
    Value arg = a.take(0, "prefix");
    a.done(1);
    if (arg.is_undefined()) in.error(a.line, name + " needs an argument");
    return Value::boolean(prefix_match(in, s, arg, name == "endswith", a));
  }
  if (name == "replace") {
    std::string from = need_str(in, a.take(0, "old"), a, "old");
    std::string to = need_str(in, a.take(1, "new"), a, "new");
    int64_t count = opt_int(in, a.take(2, "count"), -1, a);
    a.done(3);
    std::string r = text::replace(s, from, to, count);
    in.check_size(r.size(), a.line);
    return Value::string(std::move(r));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    a.done(0);
    if (name == "upper") return Value::string(text::upper(s));
    if (name == "lower") return Value::string(text::lower(s));
    if (name == "title") return Value::string(text::title(s));
    return Value::string(text::capitalize(s));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    std::string sub = need_str(in, a.take(0, "sub"), a, "substring");
    a.done(1);
    if (name == "count") return Value::integer(text::count(s, sub));
    int64_t k = text::find(s, sub, name[0] == 'r');
    if (k < 0 && (name == "index" || name == "rindex")) in.error(a.line, "substring not found");
    return Value::integer(k);
  }
  if (name == "format") return Value::string(str_format(in, s, a));
  if (name == "join") {
    Value items = a.take(0, "iterable");
    a.done(1);
    if (!items.is_array()) in.error(a.line, "join needs a list");
    std::string out;
    bool first = true;
    for (const auto& v : items.arr().items) {
      if (!v.is_string()) in.error(a.line, std::string("join: expected str, found ") + v.type_name());
      if (!first) out += s;
      first = false;
      out += v.str();
      in.check_size(out.size(), a.line);
    }
    return Value::string(std::move(out));
  }
  if (name == "splitlines") {
    bool keep = a.take(0, "keepends").truthy();
    a.done(1);
    return str_list(text::splitlines(s, keep));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    std::string x = need_str(in, a.take(0, "prefix"), a, "affix");
    a.done(1);
    if (name == "removeprefix") return Value::string(s.rfind(x, 0) == 0 ? s.substr(x.size()) : s);
    bool ends = x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
    return Value::string(ends ? s.substr(0, s.size() - x.size()) : s);
  }
  static const struct {
    const char* name;
    bool (*pred)(uint32_t);
  } classes[] = {
      {"isdigit", [](uint32_t c) { return c >= '0' && c <= '9'; }},
      {"isnumeric", [](uint32_t c) { return c >= '0' && c <= '9'; }},
      {"isdecimal", [](uint32_t c) { return c >= '0' && c <= '9'; }},
      {"isalpha", [](uint32_t c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }},
      {"isalnum", [](uint32_t c) { return ((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9'); }},
      {"isspace", [](uint32_t c) { return text::is_space(c); }},
  };
  for (const auto& cls : classes)
    if (name == cls.name) {
      a.done(0);
      if (name == "isspace") {
        if (s.empty()) return Value::boolean(false);
        for (size_t i = 0; i < s.size();) {
          size_t len = utf8::char_len(s, i);
          if (!text::is_space(utf8::decode_at(s, i, len))) return Value::boolean(false);
          i += len;
        }
        return Value::boolean(true);
      }
      return Value::boolean(all_chars(s, cls.pred));
    }
  if (name == "isupper" || name == "islower") {
    a.done(0);
    bool any = false;
    for (char c : s) {
      if (c >= 'a' && c <= 'z') {
        if (name == "isupper") return Value::boolean(false);
        any = true;
      } else if (c >= 'A' && c <= 'Z') {
        if (name == "islower") return Value::boolean(false);
        any = true;
      }
    }
    return Value::boolean(any);
  }
  *found = false;
  return Value();
}

Value pairs(const Object& o) {
  std::vector<Value> items;
  items.reserve(o.items.size());
  for (const auto& kv : o.items) items.push_back(Value::array({Value::string(kv.first), kv.second}, true));
  return Value::array(std::move(items));
}

}  // namespace

Value call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& a, bool* found) {
  *found = true;
  if (obj.is_string()) return string_method(in, obj.str(), name, a, found);
  if (obj.is_object()) {
    const Object& o = obj.obj();
    if (name == "items") {
      a.done(0);
      return pairs(o);
    }
    if (name == "keys" || name == "values") {
      a.done(0);
      std::vector<Value> items;
      for (const auto& kv : o.items) items.push_back(name == "keys" ? Value::string(kv.first) : kv.second);
      return Value::array(std::move(items));
    }
    if (name == "get") {
      Value key = a.take(0, "key");
      Value dflt = a.take(1, "default");
      a.done(2);
      if (key.is_string())
        if (const Value* v = o.find(key.str())) return *v;
      return dflt.is_undefined() ? Value::none() : dflt;
    }
    if (name == "copy") {
      a.done(0);
      return obj;
    }
  }
  if (obj.is_array()) {
    const auto& items = obj.arr().items;
    if (name == "index" || name == "count") {
      Value x = a.take(0, "value");
      a.done(1);
      int64_t n = 0;
      for (size_t k = 0; k < items.size(); ++k)
        if (equal(items[k], x)) {
          if (name == "index") return Value::integer(static_cast<int64_t>(k));
          ++n;
        }
      if (name == "index") in.error(a.line, "list.index(x): x not in list");
      return Value::integer(n);
    }
  }
  static const char* const mutators[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear",
                                         "update", "setdefault", "popitem"};
  if (obj.is_array() || obj.is_object())
    for (const char* m : mutators)
      if (name == m)
        in.error(a.line, std::string("'") + name + "' would modify a " + obj.type_name() +
                             ": chat templates run sandboxed, with immutable lists and dicts (use namespace() for state)");
  *found = false;
  return Value();
}

namespace {

struct Builtin : Callable {
  Value (*fn)(Interpreter&, CallArgs&);
  explicit Builtin(Value (*f)(Interpreter&, CallArgs&)) : fn(f) {}
  Value call(Interpreter& in, CallArgs& a) const override { return fn(in, a); }
};

Value fn_range(Interpreter& in, CallArgs& a) {
  a.done(3);
  for (const auto& v : a.pos)
    if (!v.is_int() && !v.is_bool()) in.error(a.line, std::string("range: expected integers, got ") + v.type_name());
  auto iv = [](const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); };
  int64_t start = 0, stop = 0, step = 1;
  if (a.pos.size() == 1) stop = iv(a.pos[0]);
  else if (a.pos.size() >= 2) {
    start = iv(a.pos[0]);
    stop = iv(a.pos[1]);
    if (a.pos.size() == 3) step = iv(a.pos[2]);
  } else in.error(a.line, "range expects 1 to 3 arguments");
  if (step == 0) in.error(a.line, "range() arg 3 must not be zero");
  std::vector<Value> out;
  long double n = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                           : (static_cast<long double>(start) - stop - step - 1) / -step;
  if (n > 0) in.check_items(static_cast<size_t>(std::min<long double>(n, 1e18L)), a.line);
  if (step > 0)
    for (int64_t i = start; i < stop; i += step) {
      out.push_back(Value::integer(i));
      if (stop - i < step) break;
    }
  else
    for (int64_t i = start; i > stop; i += step) {
      out.push_back(Value::integer(i));
      if (i - stop < -step) break;
    }
  return Value::array(std::move(out));
}

Value fn_namespace(Interpreter& in, CallArgs& a) {
  Object o;
  if (a.pos.size() > 1) in.error(a.line, "namespace expects at most one positional argument");
  if (a.pos.size() == 1) {
    if (!a.pos[0].is_mapping_like()) in.error(a.line, "namespace: the positional argument must be a dict");
    o = a.pos[0].obj();
  }
  for (auto& kv : a.kw) o.set(kv.first, kv.second);
  return Value::namespace_(std::move(o));
}

Value fn_dict(Interpreter& in, CallArgs& a) {
  Object o;
  if (a.pos.size() > 1) in.error(a.line, "dict expects at most one positional argument");
  if (a.pos.size() == 1) {
    const Value& src = a.pos[0];
    if (src.is_mapping_like()) o = src.obj();
    else if (src.is_array()) {
      for (const auto& pair : src.arr().items) {
        if (!pair.is_array() || pair.arr().items.size() != 2 || !pair.arr().items[0].is_string())
          in.error(a.line, "dict: expected (key, value) pairs with string keys");
        o.set(pair.arr().items[0].str(), pair.arr().items[1]);
      }
    } else in.error(a.line, std::string("dict: cannot convert ") + src.type_name());
  }
  for (auto& kv : a.kw) o.set(kv.first, kv.second);
  return Value::object(std::move(o));
}

Value fn_raise(Interpreter& in, CallArgs& a) {
  std::string msg = a.pos.empty() ? std::string("raise_exception called") : to_str(a.pos[0]);
  fail("line ", a.line, ": template error: ", msg);
}

Value fn_strftime_now(Interpreter& in, CallArgs& a) {
  Value fmt = a.take(0, "format");
  a.done(1);
  if (!fmt.is_string()) in.error(a.line, "strftime_now needs a format string");
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, fmt.str().c_str(), &tm);
  if (n == 0 && !fmt.str().empty()) in.error(a.line, "strftime_now: format too long or invalid");
  return Value::string(std::string(buf, n));
}

}  // namespace

const Value* find_global(std::string_view name) {
  static const std::pair<const char*, Value> globals[] = {
      {"range", Value::callable(std::make_shared<Builtin>(fn_range))},
      {"namespace", Value::callable(std::make_shared<Builtin>(fn_namespace))},
      {"dict", Value::callable(std::make_shared<Builtin>(fn_dict))},
      {"raise_exception", Value::callable(std::make_shared<Builtin>(fn_raise))},
      {"strftime_now", Value::callable(std::make_shared<Builtin>(fn_strftime_now))},
  };
  for (const auto& g : globals)
    if (name == g.first) return &g.second;
  return nullptr;
}

std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args) {
  std::vector<Value> list;
  if (args.is_array() && args.arr().tuple) list = args.arr().items;
  else list.push_back(args);
  size_t next = 0;
  std::string out;
  int line = in.current_line();
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    size_t j = i + 1;
    std::string spec;
    while (j < fmt.size() && std::string_view("-+ 0#.0123456789").find(fmt[j]) != std::string_view::npos) spec += fmt[j++];
    if (j >= fmt.size()) in.error(line, "incomplete format");
    char conv = fmt[j];
    i = j;
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= list.size()) in.error(line, "not enough arguments for format string");
    const Value& v = list[next++];
    char buf[128];
    std::string cspec = "%" + spec;
    if (conv == 's') out += to_str(v);
    else if (conv == 'r') append_repr(out, v);
    else if (conv == 'd' || conv == 'i') {
      if (!v.is_number() && !v.is_bool()) in.error(line, "%d format: a number is required");
      std::snprintf(buf, sizeof buf, (cspec + "lld").c_str(), static_cast<long long>(v.is_float() ? static_cast<long long>(v.as_float()) : v.is_bool() ? v.as_bool() : v.as_int()));
      out += buf;
    } else if (conv == 'f' || conv == 'e' || conv == 'g' || conv == 'x' || conv == 'X' || conv == 'o') {
      if (!v.is_number() && !v.is_bool()) in.error(line, std::string("%") + conv + " format: a number is required");
      if (conv == 'x' || conv == 'X' || conv == 'o')
        std::snprintf(buf, sizeof buf, (cspec + "ll" + conv).c_str(), static_cast<long long>(v.as_number()));
      else
        std::snprintf(buf, sizeof buf, (cspec + conv).c_str(), v.as_number());
      out += buf;
    } else {
      in.error(line, std::string("unsupported format character '") + conv + "'");
    }
  }
  if (next < list.size()) in.error(line, "not all arguments converted during string formatting");
  return out;
}

std::vector<size_t> slice_indices(Interpreter& in, size_t n_items, const Value& start, const Value& stop, const Value& step) {
  int line = in.current_line();
  auto get = [&](const Value& v, bool& present) -> int64_t {
    present = !(v.is_undefined() || v.is_none());
    if (!present) return 0;
    if (!v.is_int() && !v.is_bool()) in.error(line, "slice indices must be integers or None");
    return v.is_bool() ? v.as_bool() : v.as_int();
  };
  bool has_start, has_stop, has_step;
  int64_t n = static_cast<int64_t>(n_items);
  int64_t b = get(start, has_start), e = get(stop, has_stop), st = get(step, has_step);
  if (!has_step) st = 1;
  if (st == 0) in.error(line, "slice step cannot be zero");
  auto adjust = [&](int64_t v, bool present, int64_t dflt) {
    if (!present) return dflt;
    if (v < 0) {
      v += n;
      if (v < 0) v = st < 0 ? -1 : 0;
    } else if (v >= n) {
      v = st < 0 ? n - 1 : n;
    }
    return v;
  };
  b = adjust(b, has_start, st < 0 ? n - 1 : 0);
  e = adjust(e, has_stop, st < 0 ? -1 : n);
  std::vector<size_t> out;
  if (st > 0)
    for (int64_t i = b; i < e; i += st) out.push_back(static_cast<size_t>(i));
  else
    for (int64_t i = b; i > e; i += st) out.push_back(static_cast<size_t>(i));
  return out;
}

}  // namespace lineage::chat::jinja
