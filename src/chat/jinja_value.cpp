#include "chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lineage::chat::jinja {

const Value* Object::find(std::string_view key) const {
  for (const auto& kv : items)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void Object::set(const std::string& key, Value v) {
  for (auto& kv : items)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

Value Value::undefined(std::string name) {
  Value v;
  if (!name.empty()) v.ptr_ = std::make_shared<std::string>(std::move(name));
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}
Value Value::real(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.ptr_ = std::make_shared<std::string>(std::move(s));
  return v;
}
Value Value::array(std::vector<Value> items, bool tuple) {
  Value v;
  v.kind_ = Kind::Array;
  v.ptr_ = std::make_shared<Array>(Array{std::move(items), tuple});
  return v;
}
Value Value::object(Object o) {
  Value v;
  v.kind_ = Kind::Object;
  v.ptr_ = std::make_shared<Object>(std::move(o));
  return v;
}
Value Value::namespace_(Object o) {
  Value v = object(std::move(o));
  v.kind_ = Kind::Namespace;
  return v;
}
Value Value::callable(std::shared_ptr<const Callable> fn) {
  Value v;
  v.kind_ = Kind::Callable;
  v.ptr_ = std::const_pointer_cast<Callable>(std::move(fn));
  return v;
}

double Value::as_number() const {
  if (kind_ == Kind::Int) return static_cast<double>(i_);
  if (kind_ == Kind::Bool) return b_ ? 1.0 : 0.0;
  return f_;
}
const std::string& Value::str() const { return *static_cast<const std::string*>(ptr_.get()); }
const Array& Value::arr() const { return *static_cast<const Array*>(ptr_.get()); }
const Object& Value::obj() const { return *static_cast<const Object*>(ptr_.get()); }
Object& Value::ns_mut() const { return *static_cast<Object*>(ptr_.get()); }
const Callable& Value::fn() const { return *static_cast<const Callable*>(ptr_.get()); }
const std::string& Value::undefined_name() const {
  static const std::string empty;
  return ptr_ ? *static_cast<const std::string*>(ptr_.get()) : empty;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b_;
    case Kind::Int: return i_ != 0;
    case Kind::Float: return f_ != 0.0;
    case Kind::String: return !str().empty();
    case Kind::Array: return !arr().items.empty();
    case Kind::Object: return !obj().items.empty();
    case Kind::Namespace:
    case Kind::Callable: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::Array: return arr().tuple ? "tuple" : "list";
    case Kind::Object: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
  }
  return "?";
}

std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  if (f == 0.0) return std::signbit(f) ? "-0.0" : "0.0";
  // Shortest digits that round-trip, then laid out the way Python's repr
  // does: positional for exponents in [-4, 16), scientific otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  if (exp >= 16 || exp < -4) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) return out + digits + std::string(int_len - digits.size(), '0') + ".0";
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

static void append_repr_string(std::string& out, const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  out += q;
  for (unsigned char c : s) {
    if (c == static_cast<unsigned char>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else out += static_cast<char>(c);
  }
  out += q;
}

void append_repr(std::string& out, const Value& v) {
  if (v.is_string()) append_repr_string(out, v.str());
  else append_str(out, v);
}

void append_str(std::string& out, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return;
    case Value::Kind::None: out += "None"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "True" : "False"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::Float: out += float_repr(v.as_float()); return;
    case Value::Kind::String: out += v.str(); return;
    case Value::Kind::Array: {
      const Array& a = v.arr();
      out += a.tuple ? '(' : '[';
      for (size_t k = 0; k < a.items.size(); ++k) {
        if (k) out += ", ";
        append_repr(out, a.items[k]);
      }
      if (a.tuple && a.items.size() == 1) out += ',';
      out += a.tuple ? ')' : ']';
      return;
    }
    case Value::Kind::Namespace:
    case Value::Kind::Object: {
      if (v.is_namespace()) out += "<Namespace ";
      out += '{';
      bool first = true;
      for (const auto& kv : v.obj().items) {
        if (!first) out += ", ";
        first = false;
        append_repr_string(out, kv.first);
        out += ": ";
        append_repr(out, kv.second);
      }
      out += '}';
      if (v.is_namespace()) out += '>';
      return;
    }
    case Value::Kind::Callable: out += "<function>"; return;
  }
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.str();
  std::string s;
  append_str(s, v);
  return s;
}

static void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8::char_len(s, i);
      if (!ensure_ascii) {
        out.append(s.substr(i, len));
      } else {
        uint32_t cp = utf8::decode_at(s, i, len);
        char b[16];
        if (cp >= 0x10000) {
          cp -= 0x10000;
          std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
          std::snprintf(b, sizeof b, "\\u%04x", cp);
        }
        out += b;
      }
      i += len;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

static void json_value(std::string& out, const Value& v, const JsonStyle& st, int depth) {
  const std::string& item_sep = st.item_sep.empty() ? (st.indent >= 0 ? std::string(",") : std::string(", "))
                                                    : st.item_sep;
  const std::string& key_sep = st.key_sep.empty() ? std::string(": ") : st.key_sep;
  auto newline = [&](int d) {
    if (st.indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(st.indent) * static_cast<size_t>(d), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::Float: {
      double f = v.as_float();
      if (std::isnan(f)) out += "NaN";
      else if (std::isinf(f)) out += f > 0 ? "Infinity" : "-Infinity";
      else out += float_repr(f);
      return;
    }
    case Value::Kind::String: json_string(out, v.str(), st.ensure_ascii); return;
    case Value::Kind::Array: {
      const auto& items = v.arr().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        json_value(out, items[k], st, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::Object:
    case Value::Kind::Namespace: {
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.obj().items) items.push_back(&kv);
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (st.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        json_string(out, items[k]->first, st.ensure_ascii);
        out += key_sep;
        json_value(out, items[k]->second, st, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    case Value::Kind::Callable: fail("Object of type function is not JSON serializable");
  }
}

std::string to_json(const Value& v, const JsonStyle& style) {
  std::string out;
  json_value(out, v, style, 0);
  return out;
}

static bool is_numeric(const Value& v) { return v.is_int() || v.is_float() || v.is_bool(); }

bool equal(const Value& a, const Value& b) {
  if (is_numeric(a) && is_numeric(b)) {
    if (!a.is_float() && !b.is_float()) {
      int64_t x = a.is_bool() ? a.as_bool() : a.as_int(), y = b.is_bool() ? b.as_bool() : b.as_int();
      return x == y;
    }
    return a.as_number() == b.as_number();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String: return a.str() == b.str();
    case Value::Kind::Array: {
      const auto &x = a.arr().items, &y = b.arr().items;
      if (x.size() != y.size() || a.arr().tuple != b.arr().tuple) return false;
      for (size_t k = 0; k < x.size(); ++k)
        if (!equal(x[k], y[k])) return false;
      return true;
    }
    case Value::Kind::Object: {
      const auto &x = a.obj().items, &y = b.obj().items;
      if (x.size() != y.size()) return false;
      for (const auto& kv : x) {
        const Value* other = b.obj().find(kv.first);
        if (!other || !equal(kv.second, *other)) return false;
      }
      return true;
    }
    default: return a.same_object(b);
  }
}

int compare(const Value& a, const Value& b) {
  if (is_numeric(a) && is_numeric(b)) {
    double x = a.as_number(), y = b.as_number();
    if (!a.is_float() && !b.is_float()) {
      int64_t p = a.is_bool() ? a.as_bool() : a.as_int(), q = b.is_bool() ? b.as_bool() : b.as_int();
      return p < q ? -1 : p > q ? 1 : 0;
    }
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.str().compare(b.str());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_array() && b.is_array()) {
    const auto &x = a.arr().items, &y = b.arr().items;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      int c = compare(x[k], y[k]);
      if (c) return c;
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  fail("'<' not supported between instances of '", a.type_name(), "' and '", b.type_name(), "'");
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += utf8::char_len(s, i)) ++n;
  return n;
}

std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t len = utf8::char_len(s, i);
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace lineage::chat::jinja
