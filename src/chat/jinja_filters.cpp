// Jinja's built-in filters and tests, with the argument names and defaults
// of Jinja2 (tojson as transformers defines it: ensure_ascii off, keys kept
// in order).
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "chat/jinja_builtins.h"
#include "chat/jinja_eval.h"
#include "chat/jinja_text.h"
#include "core/error.h"

namespace lineage::chat::jinja {

namespace {

[[noreturn]] void bad(Interpreter& in, const CallArgs& a, const std::string& what) {
  in.error(a.line, std::string(a.what) + ": " + what);
}

// Items of anything Jinja can iterate; Undefined is empty.
std::vector<Value> items_of(Interpreter& in, const Value& v, const CallArgs& a) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::Array: return v.arr().items;
    case Value::Kind::Object: {
      std::vector<Value> keys;
      for (const auto& kv : v.obj().items) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> out;
      for (auto c : utf8_chars(v.str())) out.push_back(Value::string(std::string(c)));
      return out;
    }
    default: bad(in, a, std::string("'") + v.type_name() + "' object is not iterable");
  }
}

// Jinja's attribute getter for filters: "a.b.0" walks dicts and lists.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur.is_mapping_like()) {
      const Value* x = cur.obj().find(part);
      cur = x ? *x : Value::undefined("'dict object' has no attribute '" + part + "'");
    } else if (cur.is_array() && !part.empty() && part.find_first_not_of("0123456789") == std::string::npos) {
      size_t k = std::stoul(part);
      cur = k < cur.arr().items.size() ? cur.arr().items[k] : Value::undefined();
    } else {
      return Value::undefined("no attribute '" + part + "'");
    }
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

std::string need_string_arg(Interpreter& in, const Value& v, const CallArgs& a, const char* what) {
  if (!v.is_string()) bad(in, a, std::string(what) + " must be a string");
  return v.str();
}

// Sort key: strings lowered unless case-sensitive (Jinja's ignore_case).
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(text::lower(v.str()));
  return v;
}

void sort_values(Interpreter& in, std::vector<Value>& items, const std::vector<Value>& keys, bool reverse, const CallArgs& a) {
  std::vector<size_t> order(items.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  try {
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      int c = compare(keys[x], keys[y]);
      return reverse ? c > 0 : c < 0;
    });
  } catch (const Error& e) {
    bad(in, a, e.what());
  }
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t k : order) out.push_back(items[k]);
  items = std::move(out);
}

// ---- filters ----

Value f_abs(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  if (v.is_int()) return Value::integer(v.as_int() < 0 ? -v.as_int() : v.as_int());
  if (v.is_bool()) return Value::integer(v.as_bool());
  if (v.is_float()) return Value::real(std::fabs(v.as_float()));
  bad(in, a, std::string("bad operand type for abs(): '") + v.type_name() + "'");
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& a) {
  std::string name = need_string_arg(in, a.take(0, "name"), a, "attribute name");
  a.done(1);
  if (v.is_mapping_like())
    if (const Value* x = v.obj().find(name)) return *x;
  return Value::undefined("no attribute '" + name + "'");
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& a) {
  Value n = a.take(0, "linecount");
  Value fill = a.take(1, "fill_with");
  a.done(2);
  if (!n.is_int() || n.as_int() <= 0) bad(in, a, "linecount must be a positive integer");
  std::vector<Value> out, cur;
  for (auto& x : items_of(in, v, a)) {
    cur.push_back(x);
    if (static_cast<int64_t>(cur.size()) == n.as_int()) {
      out.push_back(Value::array(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (!fill.is_undefined() && !fill.is_none())
      while (static_cast<int64_t>(cur.size()) < n.as_int()) cur.push_back(fill);
    out.push_back(Value::array(std::move(cur)));
  }
  return Value::array(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return Value::string(text::capitalize(to_str(v)));
}

Value f_default(Interpreter&, const Value& v, CallArgs& a) {
  Value dflt = a.take(0, "default_value");
  bool boolean = a.take(1, "boolean").truthy();
  a.done(2);
  if (v.is_undefined() || (boolean && !v.truthy())) return dflt.is_undefined() ? Value::string("") : dflt;
  return v;
}

Value f_dictsort(Interpreter& in, const Value& v, CallArgs& a) {
  bool cs = a.take(0, "case_sensitive").truthy();
  Value by = a.take(1, "by");
  bool reverse = a.take(2, "reverse").truthy();
  a.done(3);
  if (!v.is_mapping_like()) bad(in, a, "dictsort needs a dict");
  bool by_value = by.is_string() && by.str() == "value";
  if (by.is_string() && !by_value && by.str() != "key") bad(in, a, "'by' must be 'key' or 'value'");
  std::vector<Value> items, keys;
  for (const auto& kv : v.obj().items) {
    items.push_back(Value::array({Value::string(kv.first), kv.second}, true));
    keys.push_back(sort_key(by_value ? kv.second : Value::string(kv.first), cs));
  }
  sort_values(in, items, keys, reverse, a);
  return Value::array(std::move(items));
}

Value f_escape(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  std::string out;
  for (char c : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(std::move(out));
}

Value f_first(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  auto items = items_of(in, v, a);
  return items.empty() ? Value::undefined("first of an empty sequence") : items.front();
}

Value f_last(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  auto items = items_of(in, v, a);
  return items.empty() ? Value::undefined("last of an empty sequence") : items.back();
}

// Python's int()/float() of a string, with surrounding whitespace allowed.
bool parse_number(const std::string& s, bool want_int, double* out) {
  std::string t = text::strip(s, true, true, nullptr);
  std::string clean;
  for (char c : t)
    if (c != '_') clean += c;
  if (clean.empty()) return false;
  char* end = nullptr;
  if (want_int) {
    long long v = std::strtoll(clean.c_str(), &end, 10);
    if (*end == '\0') {
      *out = static_cast<double>(v);
      return true;
    }
  }
  double d = std::strtod(clean.c_str(), &end);
  if (*end != '\0') return false;
  *out = d;
  return true;
}

Value f_float(Interpreter&, const Value& v, CallArgs& a) {
  Value dflt = a.take(0, "default");
  a.done(1);
  if (v.is_float()) return v;
  if (v.is_int() || v.is_bool()) return Value::real(v.as_number());
  double d;
  if (v.is_string() && parse_number(v.str(), false, &d)) return Value::real(d);
  return dflt.is_undefined() ? Value::real(0.0) : dflt;
}

Value f_int(Interpreter&, const Value& v, CallArgs& a) {
  Value dflt = a.take(0, "default");
  a.take(1, "base");
  a.done(2);
  if (v.is_int()) return v;
  if (v.is_bool()) return Value::integer(v.as_bool());
  if (v.is_float() && std::isfinite(v.as_float()) && std::fabs(v.as_float()) < 9.2e18)
    return Value::integer(static_cast<int64_t>(v.as_float()));
  if (v.is_string()) {
    std::string t = text::strip(v.str(), true, true, nullptr);
    char* end = nullptr;
    long long i = std::strtoll(t.c_str(), &end, 10);
    if (!t.empty() && *end == '\0') return Value::integer(i);
    double d;
    if (parse_number(v.str(), false, &d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value::integer(static_cast<int64_t>(d));
  }
  return dflt.is_undefined() ? Value::integer(0) : dflt;
}

Value f_format(Interpreter& in, const Value& v, CallArgs& a) {
  if (!a.kw.empty()) bad(in, a, "keyword arguments are not supported");
  return Value::string(percent_format(in, to_str(v), Value::array(a.pos, true)));
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& a) {
  Value width = a.take(0, "width");
  bool first = a.take(1, "first").truthy();
  bool blank = a.take(2, "blank").truthy();
  a.done(3);
  std::string pad = width.is_undefined() ? std::string(4, ' ')
                    : width.is_string() ? width.str()
                    : width.is_int() ? std::string(static_cast<size_t>(std::clamp<int64_t>(width.as_int(), 0, 1 << 16)), ' ')
                                     : (bad(in, a, "width must be an integer or a string"), std::string());
  // Jinja appends a newline before splitting, so a trailing newline survives.
  std::vector<std::string> lines = text::splitlines(to_str(v) + "\n", false);
  std::string out;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) {
      if (k) out += "\n" + pad;
      out += lines[k];
    }
  } else {
    out = lines.empty() ? std::string() : lines[0];
    for (size_t k = 1; k < lines.size(); ++k) {
      out += "\n";
      if (!lines[k].empty()) out += pad;
      out += lines[k];
    }
  }
  if (first) out = pad + out;
  in.check_size(out.size(), a.line);
  return Value::string(std::move(out));
}

Value f_items(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  if (v.is_undefined()) return Value::array({});
  if (!v.is_mapping_like()) bad(in, a, std::string("can only get item pairs from a mapping, not ") + v.type_name());
  std::vector<Value> out;
  for (const auto& kv : v.obj().items) out.push_back(Value::array({Value::string(kv.first), kv.second}, true));
  return Value::array(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& a) {
  Value sep = a.take(0, "d");
  Value attr = a.take(1, "attribute");
  a.done(2);
  std::string s = sep.is_undefined() ? std::string() : to_str(sep);
  std::string out;
  bool first = true;
  for (const auto& x : items_of(in, v, a)) {
    if (!first) out += s;
    first = false;
    append_str(out, attr.is_undefined() ? x : attr_path(x, to_str(attr)));
    in.check_size(out.size(), a.line);
  }
  return Value::string(std::move(out));
}

Value f_length(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  switch (v.kind()) {
    case Value::Kind::Undefined: return Value::integer(0);
    case Value::Kind::String: return Value::integer(static_cast<int64_t>(utf8_length(v.str())));
    case Value::Kind::Array: return Value::integer(static_cast<int64_t>(v.arr().items.size()));
    case Value::Kind::Object:
    case Value::Kind::Namespace: return Value::integer(static_cast<int64_t>(v.obj().items.size()));
    default: bad(in, a, std::string("object of type '") + v.type_name() + "' has no len()");
  }
}

Value f_list(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  return Value::array(items_of(in, v, a));
}

Value f_lower(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return Value::string(text::lower(to_str(v)));
}

Value f_upper(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return Value::string(text::upper(to_str(v)));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (a.pos.empty() && a.has(99, "attribute")) {
    Value attr = a.take(99, "attribute");
    Value dflt = a.take(99, "default");
    a.done(0);
    std::string path = to_str(attr);
    for (const auto& x : items_of(in, v, a)) {
      Value r = attr_path(x, path);
      out.push_back(r.is_undefined() && !dflt.is_undefined() ? dflt : r);
    }
    return Value::array(std::move(out));
  }
  if (a.pos.empty()) bad(in, a, "map needs a filter name or attribute=");
  std::string name = need_string_arg(in, a.pos[0], a, "filter name");
  CallArgs rest;
  rest.line = a.line;
  rest.pos.assign(a.pos.begin() + 1, a.pos.end());
  rest.kw = a.kw;
  for (const auto& x : items_of(in, v, a)) {
    CallArgs copy = rest;
    out.push_back(in.apply_filter(name, x, copy));
  }
  return Value::array(std::move(out));
}

Value select_impl(Interpreter& in, const Value& v, CallArgs& a, bool attr_mode, bool keep) {
  size_t first = attr_mode ? 1 : 0;
  std::string attr = attr_mode ? (a.pos.empty() ? bad(in, a, "needs an attribute name"), std::string() : to_str(a.pos[0]))
                               : std::string();
  std::string test = a.pos.size() > first ? need_string_arg(in, a.pos[first], a, "test name") : std::string();
  if (!test.empty() && !find_test(test)) bad(in, a, "unknown test '" + test + "'");
  CallArgs rest;
  rest.line = a.line;
  if (a.pos.size() > first + 1) rest.pos.assign(a.pos.begin() + static_cast<long>(first) + 1, a.pos.end());
  rest.kw = a.kw;
  std::vector<Value> out;
  for (const auto& x : items_of(in, v, a)) {
    in.step(a.line);
    Value subject = attr_mode ? attr_path(x, attr) : x;
    bool r;
    if (test.empty()) r = subject.truthy();
    else {
      CallArgs copy = rest;
      r = in.apply_test(test, subject, copy);
    }
    if (r == keep) out.push_back(x);
  }
  return Value::array(std::move(out));
}

Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, false); }

Value minmax(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  bool cs = a.take(0, "case_sensitive").truthy();
  Value attr = a.take(1, "attribute");
  a.done(2);
  auto items = items_of(in, v, a);
  if (items.empty()) return Value::undefined("no items");
  size_t best = 0;
  try {
    for (size_t k = 1; k < items.size(); ++k) {
      Value x = sort_key(attr.is_undefined() ? items[k] : attr_path(items[k], to_str(attr)), cs);
      Value y = sort_key(attr.is_undefined() ? items[best] : attr_path(items[best], to_str(attr)), cs);
      int c = compare(x, y);
      if (want_max ? c > 0 : c < 0) best = k;
    }
  } catch (const Error& e) {
    bad(in, a, e.what());
  }
  return items[best];
}
Value f_max(Interpreter& in, const Value& v, CallArgs& a) { return minmax(in, v, a, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& a) { return minmax(in, v, a, false); }

Value f_pprint(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  std::string s;
  append_repr(s, v);
  return Value::string(std::move(s));
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& a) {
  std::string from = to_str(a.take(0, "old"));
  std::string to = to_str(a.take(1, "new"));
  Value count = a.take(2, "count");
  a.done(3);
  if (!a.has(1, "new")) bad(in, a, "replace needs old and new");
  std::string r = text::replace(to_str(v), from, to, count.is_int() ? count.as_int() : -1);
  in.check_size(r.size(), a.line);
  return Value::string(std::move(r));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs& a) {
  a.done(0);
  if (v.is_string()) {
    auto chars = utf8_chars(v.str());
    std::string out;
    for (size_t k = chars.size(); k-- > 0;) out += chars[k];
    return Value::string(std::move(out));
  }
  auto items = items_of(in, v, a);
  std::reverse(items.begin(), items.end());
  return Value::array(std::move(items));
}

Value f_round(Interpreter& in, const Value& v, CallArgs& a) {
  Value prec = a.take(0, "precision");
  Value method = a.take(1, "method");
  a.done(2);
  if (!v.is_number() && !v.is_bool()) bad(in, a, std::string("cannot round ") + v.type_name());
  int64_t p = prec.is_int() ? prec.as_int() : 0;
  std::string m = method.is_string() ? method.str() : "common";
  // Jinja's "common" is Python's round(): an int stays an int, halves go to even.
  if (m == "common" && (v.is_int() || v.is_bool()) && p >= 0) return Value::integer(v.is_bool() ? v.as_bool() : v.as_int());
  double scale = std::pow(10.0, static_cast<double>(p));
  double x = v.as_number() * scale;
  if (m == "common") x = std::nearbyint(x);
  else if (m == "ceil") x = std::ceil(x);
  else if (m == "floor") x = std::floor(x);
  else bad(in, a, "method must be common, ceil or floor");
  return Value::real(x / scale);
}

Value f_safe(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return v;
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  bool reverse = a.take(0, "reverse").truthy();
  bool cs = a.take(1, "case_sensitive").truthy();
  Value attr = a.take(2, "attribute");
  a.done(3);
  auto items = items_of(in, v, a);
  std::vector<Value> keys;
  for (const auto& x : items) keys.push_back(sort_key(attr.is_undefined() ? x : attr_path(x, to_str(attr)), cs));
  sort_values(in, items, keys, reverse, a);
  return Value::array(std::move(items));
}

Value f_string(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return v.is_string() ? v : Value::string(to_str(v));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& a) {
  Value attr = a.take(0, "attribute");
  Value start = a.take(1, "start");
  a.done(2);
  bool is_float = start.is_float();
  int64_t isum = start.is_int() ? start.as_int() : 0;
  double fsum = start.is_number() ? start.as_number() : 0.0;
  for (const auto& x0 : items_of(in, v, a)) {
    Value x = attr.is_undefined() ? x0 : attr_path(x0, to_str(attr));
    if (!x.is_number() && !x.is_bool()) bad(in, a, std::string("cannot add ") + x.type_name() + " to a number");
    if (x.is_float()) is_float = true;
    if (!x.is_float() && __builtin_add_overflow(isum, x.is_bool() ? int64_t{x.as_bool()} : x.as_int(), &isum))
      bad(in, a, "integer overflow");
    fsum += x.as_number();
  }
  return is_float ? Value::real(fsum) : Value::integer(isum);
}

Value f_title(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  // Jinja's title: each chunk after a run of spaces, dashes or brackets gets
  // its first letter upper and the rest lower.
  std::string s = to_str(v), out;
  bool at_start = true;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || text::is_space(static_cast<unsigned char>(c));
    if (sep) {
      out += c;
      at_start = true;
    } else {
      out += at_start ? text::upper(std::string(1, c)) : text::lower(std::string(1, c));
      at_start = false;
    }
  }
  return Value::string(std::move(out));
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& a) {
  JsonStyle st;
  st.ensure_ascii = a.take(0, "ensure_ascii").truthy();
  Value indent = a.take(1, "indent");
  Value seps = a.take(2, "separators");
  st.sort_keys = a.take(3, "sort_keys").truthy();
  a.done(4);
  if (indent.is_int()) st.indent = static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64));
  else if (!indent.is_undefined() && !indent.is_none()) bad(in, a, "indent must be an integer");
  if (seps.is_array()) {
    const auto& s = seps.arr().items;
    if (s.size() != 2 || !s[0].is_string() || !s[1].is_string()) bad(in, a, "separators must be two strings");
    st.item_sep = s[0].str();
    st.key_sep = s[1].str();
  }
  try {
    std::string out = to_json(v, st);
    in.check_size(out.size(), a.line);
    return Value::string(std::move(out));
  } catch (const Error& e) {
    bad(in, a, e.what());
  }
}

Value f_trim(Interpreter&, const Value& v, CallArgs& a) {
  Value chars = a.take(0, "chars");
  a.done(1);
  std::string cs = chars.is_string() ? chars.str() : std::string();
  return Value::string(text::strip(to_str(v), true, true, chars.is_string() ? &cs : nullptr));
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& a) {
  bool cs = a.take(0, "case_sensitive").truthy();
  Value attr = a.take(1, "attribute");
  a.done(2);
  std::vector<Value> out, seen;
  for (const auto& x : items_of(in, v, a)) {
    Value key = sort_key(attr.is_undefined() ? x : attr_path(x, to_str(attr)), cs);
    bool dup = false;
    for (const auto& s : seen)
      if (equal(s, key)) {
        dup = true;
        break;
      }
    if (!dup) {
      seen.push_back(key);
      out.push_back(x);
    }
  }
  return Value::array(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return Value::integer(static_cast<int64_t>(text::split(to_str(v), nullptr, -1).size()));
}

const std::pair<const char*, FilterFn> kFilters[] = {
    {"abs", f_abs},         {"attr", f_attr},           {"batch", f_batch},       {"capitalize", f_capitalize},
    {"count", f_length},    {"d", f_default},           {"default", f_default},   {"dictsort", f_dictsort},
    {"e", f_escape},        {"escape", f_escape},       {"first", f_first},       {"float", f_float},
    {"format", f_format},   {"indent", f_indent},       {"int", f_int},           {"items", f_items},
    {"join", f_join},       {"last", f_last},           {"length", f_length},     {"list", f_list},
    {"lower", f_lower},     {"map", f_map},             {"max", f_max},           {"min", f_min},
    {"pprint", f_pprint},   {"reject", f_reject},       {"rejectattr", f_rejectattr}, {"replace", f_replace},
    {"reverse", f_reverse}, {"round", f_round},         {"safe", f_safe},         {"select", f_select},
    {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},     {"sum", f_sum},
    {"title", f_title},     {"tojson", f_tojson},       {"trim", f_trim},         {"unique", f_unique},
    {"upper", f_upper},     {"wordcount", f_wordcount},
};

// ---- tests ----

Value arg0(Interpreter& in, CallArgs& a, const char* name) {
  Value v = a.take(0, name);
  a.done(1);
  if (!a.has(0, name)) in.error(a.line, std::string(a.what) + " needs an argument");
  return v;
}

int64_t need_int(Interpreter& in, const Value& v, CallArgs& a) {
  if (!v.is_int() && !v.is_bool()) in.error(a.line, std::string(a.what) + ": expected an integer, got " + v.type_name());
  return v.is_bool() ? v.as_bool() : v.as_int();
}

bool t_defined(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_bool() && !v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_number() || v.is_bool(); }
bool t_string(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_object(); }
bool t_iterable(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return v.is_string() || v.is_array() || v.is_object() || v.is_undefined();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  return v.is_string() || v.is_array() || v.is_object() || v.is_undefined();
}
bool t_callable(Interpreter&, const Value& v, CallArgs& a) { a.done(0); return v.is_callable(); }
bool t_odd(Interpreter& in, const Value& v, CallArgs& a) { a.done(0); return need_int(in, v, a) % 2 != 0; }
bool t_even(Interpreter& in, const Value& v, CallArgs& a) { a.done(0); return need_int(in, v, a) % 2 == 0; }
bool t_divisibleby(Interpreter& in, const Value& v, CallArgs& a) {
  int64_t d = need_int(in, arg0(in, a, "num"), a);
  if (d == 0) in.error(a.line, "divisibleby 0");
  return need_int(in, v, a) % d == 0;
}
bool t_eq(Interpreter& in, const Value& v, CallArgs& a) { return equal(v, arg0(in, a, "other")); }
bool t_ne(Interpreter& in, const Value& v, CallArgs& a) { return !equal(v, arg0(in, a, "other")); }
int cmp_arg(Interpreter& in, const Value& v, CallArgs& a) {
  Value o = arg0(in, a, "other");
  try {
    return compare(v, o);
  } catch (const Error& e) {
    in.error(a.line, e.what());
  }
}
bool t_lt(Interpreter& in, const Value& v, CallArgs& a) { return cmp_arg(in, v, a) < 0; }
bool t_le(Interpreter& in, const Value& v, CallArgs& a) { return cmp_arg(in, v, a) <= 0; }
bool t_gt(Interpreter& in, const Value& v, CallArgs& a) { return cmp_arg(in, v, a) > 0; }
bool t_ge(Interpreter& in, const Value& v, CallArgs& a) { return cmp_arg(in, v, a) >= 0; }
bool t_in(Interpreter& in, const Value& v, CallArgs& a) {
  Value seq = arg0(in, a, "seq");
  if (seq.is_string()) return v.is_string() && seq.str().find(v.str()) != std::string::npos;
  if (seq.is_mapping_like()) return v.is_string() && seq.obj().find(v.str());
  if (seq.is_array()) {
    for (const auto& x : seq.arr().items)
      if (equal(x, v)) return true;
    return false;
  }
  in.error(a.line, std::string("argument of type '") + seq.type_name() + "' is not iterable");
}
bool t_lower(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  std::string s = to_str(v);
  return text::lower(s) == s && text::upper(s) != s;
}
bool t_upper(Interpreter&, const Value& v, CallArgs& a) {
  a.done(0);
  std::string s = to_str(v);
  return text::upper(s) == s && text::lower(s) != s;
}
bool t_sameas(Interpreter& in, const Value& v, CallArgs& a) {
  Value o = arg0(in, a, "other");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Value::Kind::None:
    case Value::Kind::Undefined: return true;
    case Value::Kind::Bool: return v.as_bool() == o.as_bool();
    case Value::Kind::Int: return v.as_int() == o.as_int();
    default: return v.same_object(o);
  }
}
bool t_escaped(Interpreter&, const Value&, CallArgs& a) { a.done(0); return false; }

const std::pair<const char*, TestFn> kTests[] = {
    {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
    {"true", t_true},         {"false", t_false},         {"integer", t_integer}, {"float", t_float},
    {"number", t_number},     {"string", t_string},       {"mapping", t_mapping}, {"iterable", t_iterable},
    {"sequence", t_sequence}, {"callable", t_callable},   {"odd", t_odd},         {"even", t_even},
    {"divisibleby", t_divisibleby}, {"eq", t_eq},         {"equalto", t_eq},      {"==", t_eq},
    {"ne", t_ne},             {"!=", t_ne},               {"lt", t_lt},           {"lessthan", t_lt},
    {"le", t_le},             {"gt", t_gt},               {"greaterthan", t_gt},  {"ge", t_ge},
    {"in", t_in},             {"lower", t_lower},         {"upper", t_upper},     {"sameas", t_sameas},
    {"escaped", t_escaped},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& f : kFilters)
    if (name == f.first) return f.second;
  return nullptr;
}

TestFn find_test(std::string_view name) {
  for (const auto& t : kTests)
    if (name == t.first) return t.second;
  return nullptr;
}

Value Interpreter::apply_filter(const std::string& name, const Value& v, CallArgs& args) {
  FilterFn f = find_filter(name);
  if (!f) error(args.line, "unknown filter '" + name + "'");
  std::string what = "filter '" + name + "'";
  args.what = what.c_str();
  return f(*this, v, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& v, CallArgs& args) {
  TestFn t = find_test(name);
  if (!t) error(args.line, "unknown test '" + name + "'");
  std::string what = "test '" + name + "'";
  args.what = what.c_str();
  return t(*this, v, args);
}

}  // namespace lineage::chat::jinja
