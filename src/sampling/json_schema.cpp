#include "sampling/json_schema.h"

#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "core/error.h"
#include "sampling/grammar.h"

namespace lineage {

namespace {

using json = nlohmann::ordered_json;

constexpr long long kMaxCount = 4096;  // lengths and item counts (the grammar's repetition limit)
constexpr int kMaxDepth = 64;          // nested schemas

// The rules every schema grammar may use, added when first referred to.
const std::map<std::string, std::string>& primitives() {
  static const std::map<std::string, std::string> p = {
      {"ws", R"(( " " | "\n" " "{0,8} )?)"},
      {"json-char", R"([^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" ( [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} ) ))"},
      {"json-string", R"("\"" json-char* "\"")"},
      {"json-int", R"("-"? ( "0" | [1-9] [0-9]{0,15} ))"},
      {"json-nat", R"("0" | [1-9] [0-9]{0,15})"},
      {"json-pos", R"([1-9] [0-9]{0,15})"},
      {"json-frac-exp", R"(( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?)"},
      {"json-number", R"(json-int json-frac-exp)"},
      {"json-nonneg-number", R"(json-nat json-frac-exp)"},
      {"json-boolean", R"("true" | "false")"},
      {"json-null", R"("null")"},
      {"json-value", R"(json-object | json-array | json-string | json-number | json-boolean | json-null)"},
      {"json-member", R"(json-string ws ":" ws json-value)"},
      {"json-object", R"("{" ws "}" | "{" ws json-member ( ws "," ws json-member )* ws "}")"},
      {"json-array", R"("[" ws "]" | "[" ws json-value ( ws "," ws json-value )* ws "]")"},
      {"hex", R"([0-9a-fA-F])"},
      {"fmt-d31", R"("0" [1-9] | [12] [0-9] | "3" [01])"},
      {"fmt-d30", R"("0" [1-9] | [12] [0-9] | "30")"},
      {"fmt-d28", R"("0" [1-9] | "1" [0-9] | "2" [0-8])"},
      {"fmt-date", R"([0-9]{4} "-" ( "0" [13578] "-" fmt-d31 | "1" [02] "-" fmt-d31 | "0" [469] "-" fmt-d30 | "11-" fmt-d30 | "02-" fmt-d28 ))"},
      {"fmt-hour", R"([01] [0-9] | "2" [0-3])"},
      {"fmt-time", R"(fmt-hour ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] fmt-hour ":" [0-5] [0-9] ))"},
      {"fmt-date-time", R"(fmt-date "T" fmt-time)"},
      {"fmt-uuid", R"(hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12})"},
      {"fmt-label", R"([a-zA-Z0-9] ( [a-zA-Z0-9-]{0,20} [a-zA-Z0-9] )?)"},
      {"fmt-email", R"([a-zA-Z0-9_+-]{1,20} ( "." [a-zA-Z0-9_+-]{1,20} ){0,2} "@" fmt-label ( "." fmt-label ){1,3})"},
  };
  return p;
}

// Annotations: no effect on what validates.
const std::set<std::string> kIgnored = {"title",   "description", "default",    "examples",  "$schema", "$id",
                                        "$comment", "deprecated", "readOnly", "writeOnly", "$defs", "definitions"};
const std::set<std::string> kSupported = {"type",      "properties", "required",  "additionalProperties",
                                          "items",     "minItems",   "maxItems",  "enum",
                                          "const",     "anyOf",      "oneOf",     "allOf",
                                          "$ref",      "minLength",  "maxLength", "format",
                                          "minimum",   "maximum",    "exclusiveMinimum", "exclusiveMaximum"};

// A GBNF string literal for bytes (UTF-8 passes through).
std::string literal(const std::string& bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static const char* hexd = "0123456789ABCDEF";
      out += "\\x";
      out += hexd[c >> 4];
      out += hexd[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
  if (out.size() > 40) out.resize(40);
  return out.empty() ? "x" : out;
}

class Compiler {
 public:
  explicit Compiler(const json& root) : root_(root) {}

  std::string run() {
    const std::string r = compile(root_, "root", "#", 0);
    std::string out = "root ::= " + r + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

 private:
  [[noreturn]] void error(const std::string& at, const std::string& msg) const {
    fail("JSON schema: at ", at, ": ", msg);
  }

  std::string use(const std::string& prim) {
    if (rules_.count(prim)) return prim;
    rules_[prim] = primitives().at(prim);
    // A primitive's body may name other primitives.
    for (const auto& [name, body] : primitives())
      if (name != prim && primitives().at(prim).find(name) != std::string::npos) use(name);
    return prim;
  }

  std::string add(const std::string& hint, const std::string& body) {
    std::string name = "s-" + sanitize(hint);
    for (int k = 2; rules_.count(name) || primitives().count(name); ++k) name = "s-" + sanitize(hint) + "-" + std::to_string(k);
    rules_[name] = body;
    return name;
  }

  long long count(const json& s, const char* key, const std::string& at) const {
    const json& v = s.at(key);
    if (!v.is_number_integer() && !(v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>()))))
      error(at, std::string("'") + key + "' must be a non-negative integer");
    const long long n = v.is_number_integer() ? v.get<long long>() : static_cast<long long>(v.get<double>());
    if (n < 0) error(at, std::string("'") + key + "' must be a non-negative integer");
    return n;
  }

  const json& resolve(const std::string& ref, const std::string& at) const {
    if (ref == "#") return root_;
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string p = prefix;
      if (ref.compare(0, p.size(), p) != 0) continue;
      std::string name = ref.substr(p.size());
      // JSON Pointer escapes.
      for (size_t i = 0; (i = name.find('~', i)) != std::string::npos; ++i) {
        if (i + 1 < name.size() && name[i + 1] == '0') name.replace(i, 2, "~");
        else if (i + 1 < name.size() && name[i + 1] == '1') name.replace(i, 2, "/");
        else error(at, "bad JSON Pointer escape in $ref '" + ref + "'");
      }
      const std::string key = p.substr(2, p.size() - 3);
      if (!root_.is_object() || !root_.contains(key) || !root_[key].is_object() || !root_[key].contains(name))
        error(at, "$ref '" + ref + "' points to nothing");
      return root_[key][name];
    }
    error(at, "$ref '" + ref + "' is not supported (only #, #/$defs/NAME and #/definitions/NAME)");
  }

  std::string compile(const json& s, const std::string& hint, const std::string& at, int depth) {
    if (depth > kMaxDepth) error(at, "schemas nested deeper than " + std::to_string(kMaxDepth));
    if (s.is_boolean()) {
      if (s.get<bool>()) return use("json-value");
      error(at, "the schema false matches nothing");
    }
    if (!s.is_object()) error(at, "a schema must be an object or a boolean");
    for (const auto& [key, v] : s.items())
      if (!kSupported.count(key) && !kIgnored.count(key)) error(at, "keyword '" + key + "' is not supported");

    if (s.contains("$ref")) {
      for (const auto& [key, v] : s.items())
        if (key != "$ref" && !kIgnored.count(key)) error(at, "'$ref' next to '" + key + "' is not supported");
      if (!s["$ref"].is_string()) error(at, "'$ref' must be a string");
      const std::string ref = s["$ref"].get<std::string>();
      auto it = refs_.find(ref);
      if (it != refs_.end()) return it->second;
      // Named before it is compiled, so a recursive schema refers to itself.
      const std::string name = add("ref-" + ref.substr(ref.rfind('/') + 1), "");
      refs_[ref] = name;
      const json& target = resolve(ref, at);
      rules_[name] = compile(target, name, ref, depth + 1);
      return name;
    }
    if (s.contains("const")) return add(hint, literal(s["const"].dump()));
    if (s.contains("enum")) {
      const json& e = s["enum"];
      if (!e.is_array() || e.empty()) error(at, "'enum' must be a non-empty array");
      std::string body;
      for (const auto& v : e) body += (body.empty() ? "" : " | ") + literal(v.dump());
      return add(hint, body);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      const json& alts = s[key];
      if (!alts.is_array() || alts.empty()) error(at, std::string("'") + key + "' must be a non-empty array");
      std::string body;
      for (size_t i = 0; i < alts.size(); ++i)
        body += (i ? " | " : "") +
                compile(alts[i], hint + "-" + std::to_string(i), at + "/" + key + "/" + std::to_string(i), depth + 1);
      return add(hint, body);
    }
    if (s.contains("allOf")) {
      const json& all = s["allOf"];
      if (!all.is_array() || all.size() != 1) error(at, "'allOf' is supported with exactly one schema");
      return compile(all[0], hint, at + "/allOf/0", depth + 1);
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      if (t.is_string()) {
        types.push_back(t.get<std::string>());
      } else if (t.is_array() && !t.empty()) {
        for (const auto& x : t) {
          if (!x.is_string()) error(at, "'type' must be a string or an array of strings");
          types.push_back(x.get<std::string>());
        }
      } else {
        error(at, "'type' must be a string or a non-empty array of strings");
      }
    } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) {
      types.push_back("array");
    } else if (s.contains("minLength") || s.contains("maxLength") || s.contains("format")) {
      types.push_back("string");
    } else if (s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") ||
               s.contains("exclusiveMaximum")) {
      types.push_back("number");
    } else {
      return use("json-value");
    }
    std::string body;
    for (const std::string& t : types) body += (body.empty() ? "" : " | ") + compile_type(s, t, hint, at, depth);
    return add(hint, body);
  }

  std::string compile_type(const json& s, const std::string& t, const std::string& hint, const std::string& at,
                           int depth) {
    if (t == "null") return use("json-null");
    if (t == "boolean") return use("json-boolean");
    if (t == "integer") return compile_integer(s, at);
    if (t == "number") {
      const bool nonneg = s.contains("minimum") && s["minimum"].is_number() && s["minimum"].get<double>() >= 0;
      return use(nonneg ? "json-nonneg-number" : "json-number");
    }
    if (t == "string") return compile_string(s, at);
    if (t == "array") return compile_array(s, hint, at, depth);
    if (t == "object") return compile_object(s, hint, at, depth);
    error(at, "unknown type '" + t + "'");
  }

  std::string compile_integer(const json& s, const std::string& at) {
    bool has_lo = false, has_hi = false;
    long long lo = 0, hi = 0;
    auto bound = [&](const char* key, bool lower, bool exclusive) {
      if (!s.contains(key)) return;
      const json& v = s[key];
      if (v.is_boolean()) return;  // draft 4 style exclusive flags: the bound itself is ignored below
      if (!v.is_number()) error(at, std::string("'") + key + "' must be a number");
      const double d = v.get<double>();
      if (!(d > -1e15 && d < 1e15)) return;
      long long b = lower ? static_cast<long long>(std::ceil(d)) : static_cast<long long>(std::floor(d));
      if (exclusive && static_cast<double>(b) == d) b += lower ? 1 : -1;
      if (lower) {
        lo = has_lo ? std::max(lo, b) : b;
        has_lo = true;
      } else {
        hi = has_hi ? std::min(hi, b) : b;
        has_hi = true;
      }
    };
    bound("minimum", true, false);
    bound("exclusiveMinimum", true, true);
    bound("maximum", false, false);
    bound("exclusiveMaximum", false, true);
    if (has_lo && has_hi) {
      if (lo > hi) error(at, "no integer lies between the minimum and the maximum");
      if (hi - lo <= 1000) {
        std::string body;
        for (long long v = lo; v <= hi; ++v) body += (body.empty() ? "" : " | ") + literal(std::to_string(v));
        return add("int-range", body);
      }
    }
    if (has_lo && lo >= 1) return use("json-pos");
    if (has_lo && lo >= 0) return use("json-nat");
    return use("json-int");
  }

  std::string compile_string(const json& s, const std::string& at) {
    if (s.contains("format")) {
      if (!s["format"].is_string()) error(at, "'format' must be a string");
      if (s.contains("minLength") || s.contains("maxLength")) error(at, "'format' with a length limit is not supported");
      const std::string f = s["format"].get<std::string>();
      if (f != "date" && f != "time" && f != "date-time" && f != "uuid" && f != "email")
        error(at, "format '" + f + "' is not supported (date, time, date-time, uuid, email)");
      return add("fmt-" + f, "\"\\\"\" " + use("fmt-" + f) + " \"\\\"\"");
    }
    if (!s.contains("minLength") && !s.contains("maxLength")) return use("json-string");
    const long long lo = s.contains("minLength") ? count(s, "minLength", at) : 0;
    const long long hi = s.contains("maxLength") ? count(s, "maxLength", at) : -1;
    if (lo > kMaxCount || hi > kMaxCount) error(at, "string lengths above " + std::to_string(kMaxCount) + " are not supported");
    if (hi >= 0 && hi < lo) error(at, "'maxLength' is below 'minLength'");
    use("json-char");
    const std::string rep = hi < 0 ? "{" + std::to_string(lo) + ",}" : "{" + std::to_string(lo) + "," + std::to_string(hi) + "}";
    return add("string", "\"\\\"\" json-char" + rep + " \"\\\"\"");
  }

  std::string compile_array(const json& s, const std::string& hint, const std::string& at, int depth) {
    const std::string item =
        s.contains("items") ? compile(s["items"], hint + "-item", at + "/items", depth + 1) : use("json-value");
    const long long lo = s.contains("minItems") ? count(s, "minItems", at) : 0;
    const long long hi = s.contains("maxItems") ? count(s, "maxItems", at) : -1;
    if (lo > kMaxCount || hi > kMaxCount) error(at, "item counts above " + std::to_string(kMaxCount) + " are not supported");
    if (hi >= 0 && hi < lo) error(at, "'maxItems' is below 'minItems'");
    use("ws");
    if (hi == 0) return add(hint + "-array", "\"[\" ws \"]\"");
    const long long more_lo = lo > 0 ? lo - 1 : 0;
    const std::string rep = hi < 0 ? "{" + std::to_string(more_lo) + ",}"
                                   : "{" + std::to_string(more_lo) + "," + std::to_string(hi - 1) + "}";
    std::string body = "\"[\" ws " + item + " ( ws \",\" ws " + item + " )" + rep + " ws \"]\"";
    if (lo == 0) body = "\"[\" ws \"]\" | " + body;
    return add(hint + "-array", body);
  }

  std::string compile_object(const json& s, const std::string& hint, const std::string& at, int depth) {
    use("ws");
    const bool has_props = s.contains("properties");
    if (has_props && !s["properties"].is_object()) error(at, "'properties' must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      if (!s["required"].is_array()) error(at, "'required' must be an array of strings");
      for (const auto& r : s["required"]) {
        if (!r.is_string()) error(at, "'required' must be an array of strings");
        if (!has_props || !s["properties"].contains(r.get<std::string>()))
          error(at, "required property '" + r.get<std::string>() + "' is not in 'properties'");
        required.insert(r.get<std::string>());
      }
    }
    const bool extra_given = s.contains("additionalProperties");
    const json extra = extra_given ? s["additionalProperties"] : json(true);
    if (!has_props || s["properties"].empty()) {
      if (extra.is_boolean() && !extra.get<bool>()) return add(hint + "-object", "\"{\" ws \"}\"");
      if (extra.is_boolean() || (extra.is_object() && extra.empty())) return use("json-object");
      const std::string v = compile(extra, hint + "-value", at + "/additionalProperties", depth + 1);
      use("json-string");
      const std::string kv = add(hint + "-kv", "json-string ws \":\" ws " + v);
      return add(hint + "-object", "\"{\" ws \"}\" | \"{\" ws " + kv + " ( ws \",\" ws " + kv + " )* ws \"}\"");
    }
    if (extra_given && !(extra.is_boolean() && !extra.get<bool>()))
      error(at, "'additionalProperties' other than false next to 'properties' is not supported");

    // In the schema's order: kv[i] is the i-th property with its value.
    std::vector<std::string> kv;
    std::vector<bool> req;
    for (const auto& [name, sub] : s["properties"].items()) {
      const std::string v = compile(sub, hint + "-" + name, at + "/properties/" + name, depth + 1);
      kv.push_back(add(hint + "-" + name + "-kv", literal(json(name).dump()) + " ws \":\" ws " + v));
      req.push_back(required.count(name) > 0);
    }
    // rest[i]: properties i.. after at least one was written (each
    // present one after a comma); first[i]: at least one of i.., none
    // written yet. Optional properties may be skipped, required ones not.
    const size_t n = kv.size();
    std::vector<std::string> rest(n + 1), first(n);
    for (size_t i = n; i-- > 0;) {
      const std::string tail = rest[i + 1].empty() ? "" : " " + rest[i + 1];
      std::string body = "ws \",\" ws " + kv[i] + tail;
      if (!req[i]) body = "( ws \",\" ws " + kv[i] + " )?" + tail;
      rest[i] = add(hint + "-rest", body);
    }
    for (size_t i = n; i-- > 0;) {
      std::string body = kv[i] + " " + rest[i + 1];
      if (!req[i] && i + 1 < n) body += " | " + first[i + 1];
      first[i] = add(hint + "-first", body);
    }
    std::string body = "\"{\" ws " + first[0] + " ws \"}\"";
    if (required.empty()) body = "\"{\" ws \"}\" | " + body;
    return add(hint + "-object", body);
  }

  const json& root_;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> refs_;
};

}  // namespace

std::string json_schema_to_gbnf(const nlohmann::json& schema) {
  return json_schema_to_gbnf(nlohmann::ordered_json(schema));
}

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema) {
  std::string gbnf = Compiler(schema).run();
  // A schema can still make a grammar the matcher refuses (a $ref that
  // only refers to itself): say so here, not at generation.
  try {
    parse_grammar(gbnf);
  } catch (const Error& e) {
    fail("JSON schema: cannot be turned into a usable grammar: ", e.what());
  }
  return gbnf;
}

}  // namespace lineage
