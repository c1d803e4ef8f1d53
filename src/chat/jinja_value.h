// Runtime values of the Jinja interpreter. They follow Python's data model as
// Jinja2 sees it (None, bool, int, float, str, list/tuple, dict, namespace,
// callables, Undefined), because chat templates are written against Python.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lineage::chat::jinja {

class Value;
struct Callable;

struct Array {
  std::vector<Value> items;
  bool tuple = false;  // only changes how it prints: (a, b) instead of [a, b]
};

// Dicts keep insertion order, as Python's do; lookups are linear because
// template dicts are small (a message, a tool schema level).
struct Object {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);
};

class Value {
 public:
  enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, Array, Object, Namespace, Callable };

  Value() = default;  // Undefined
  static Value undefined(std::string name = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value real(double f);
  static Value string(std::string s);
  static Value array(std::vector<Value> items, bool tuple = false);
  static Value object(Object o);
  static Value namespace_(Object o);
  static Value callable(std::shared_ptr<const Callable> fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_mapping_like() const { return kind_ == Kind::Object || kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_float() const { return f_; }
  // Numeric value of an int, float or bool (Python treats bools as ints).
  double as_number() const;
  const std::string& str() const;
  const Array& arr() const;
  const Object& obj() const;
  Object& ns_mut() const;  // namespaces are the one mutable container
  const Callable& fn() const;
  const std::string& undefined_name() const;  // the name that was looked up, for errors

  bool same_object(const Value& o) const { return ptr_ == o.ptr_; }
  bool truthy() const;
  const char* type_name() const;  // Python's name for the type, for errors

 private:
  Kind kind_ = Kind::Undefined;
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<void> ptr_;
};

// Python str(): what {{ x }}, ~ and |string produce.
std::string to_str(const Value& v);
void append_str(std::string& out, const Value& v);
// Python repr(), used inside containers: ['a', 1, None].
void append_repr(std::string& out, const Value& v);
// Python's repr of a float: shortest round-trip digits, "1.0", "1e+16".
std::string float_repr(double f);

struct JsonStyle {
  int indent = -1;  // < 0: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_sep, key_sep;  // empty: Python's defaults for the indent
};
// json.dumps as transformers' tojson filter calls it (key order kept).
std::string to_json(const Value& v, const JsonStyle& style);

bool equal(const Value& a, const Value& b);
// <0, 0, >0; Error for types Python refuses to order.
int compare(const Value& a, const Value& b);

// Number of code points (Python's len of a str).
size_t utf8_length(std::string_view s);
// Splits a string into code points (each a UTF-8 substring).
std::vector<std::string_view> utf8_chars(std::string_view s);

}  // namespace lineage::chat::jinja
