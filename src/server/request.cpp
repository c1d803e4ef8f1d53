#include "server/request.h"

#include <cmath>

#include "core/error.h"
#include "sampling/json_schema.h"

namespace lineage::server {

using ojson = nlohmann::ordered_json;

namespace {

constexpr int kMaxDepth = 64;  // JSON nesting; deeper input is refused before parsing

// Nesting depth of JSON text (brackets outside strings), without recursion:
// the parser and everything after it (template rendering, special-text
// marking) walk values recursively, so depth is bounded first.
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

ojson parse_body(std::string_view body) {
  if (too_deep(body)) throw bad_request("the request body nests JSON deeper than " + std::to_string(kMaxDepth) + " levels");
  ojson j = ojson::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) throw bad_request("the request body is not valid JSON");
  if (!j.is_object()) throw bad_request("the request body must be a JSON object");
  return j;
}

// A member that is present and not null.
const ojson* member(const ojson& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string type_name(const ojson& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

ApiError wrong_type(const std::string& param, const char* expected, const ojson& got) {
  return bad_request("'" + param + "' must be " + expected + ", not " + type_name(got), param);
}

// The name a nested field is reported by: "messages[2].role".
std::string field(const std::string& where, const char* key) { return where.empty() ? key : where + "." + key; }

std::optional<bool> get_bool(const ojson& obj, const char* key, const std::string& where = "") {
  const ojson* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw wrong_type(field(where, key), "a boolean", *v);
  return v->get<bool>();
}

std::optional<double> get_number(const ojson& obj, const char* key, double lo, double hi) {
  const ojson* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw wrong_type(key, "a number", *v);
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    char range[96];
    std::snprintf(range, sizeof range, " must be between %g and %g", lo, hi);
    throw bad_request(std::string("'") + key + "'" + range, key);
  }
  return x;
}

std::optional<int64_t> get_int(const ojson& obj, const char* key, int64_t lo, int64_t hi) {
  const ojson* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) throw wrong_type(key, "an integer", *v);
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    throw bad_request(std::string("'") + key + "' is out of range", key);
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi)
    throw bad_request(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi), key);
  return x;
}

std::optional<std::string> get_string(const ojson& obj, const char* key, const std::string& where = "") {
  const ojson* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw wrong_type(field(where, key), "a string", *v);
  return v->get<std::string>();
}

void parse_stop(const ojson& obj, const RequestLimits& lim, std::vector<std::string>& out) {
  const ojson* v = member(obj, "stop");
  if (!v) return;
  auto add = [&](const ojson& s) {
    if (!s.is_string()) throw wrong_type("stop", "a string or an array of strings", s);
    const auto& str = s.get_ref<const std::string&>();
    if (str.size() > lim.max_stop_bytes)
      throw bad_request("a stop string may hold at most " + std::to_string(lim.max_stop_bytes) + " bytes", "stop");
    if (!str.empty()) out.push_back(str);
  };
  if (v->is_array()) {
    if (static_cast<int>(v->size()) > lim.max_stop)
      throw bad_request("at most " + std::to_string(lim.max_stop) + " stop strings are allowed", "stop");
    for (const auto& s : *v) add(s);
  } else {
    add(*v);
  }
}

// response_format as a grammar: "" for text, any JSON object for
// json_object, the compiled schema for json_schema (400 when it cannot be).
std::string response_format_grammar(const ojson& rf) {
  if (!rf.is_object()) throw wrong_type("response_format", "an object", rf);
  auto t = get_string(rf, "type", "response_format");
  if (!t) throw bad_request("'response_format.type' is missing", "response_format");
  if (*t == "text") return "";
  if (*t == "json_object") return json_schema_to_gbnf(ojson{{"type", "object"}});
  if (*t != "json_schema")
    throw bad_request("'response_format.type' must be 'text', 'json_object' or 'json_schema', not '" + *t + "'",
                      "response_format");
  const ojson* js = member(rf, "json_schema");
  if (!js) throw bad_request("'response_format.json_schema' is missing", "response_format");
  if (!js->is_object()) throw wrong_type("response_format.json_schema", "an object", *js);
  auto name = get_string(*js, "name", "response_format.json_schema");
  if (!name) throw bad_request("'response_format.json_schema.name' is missing", "response_format");
  if (name->empty() || name->size() > 64 ||
      name->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
    throw bad_request("'response_format.json_schema.name' must be 1 to 64 letters, digits, '_' or '-'",
                      "response_format");
  get_string(*js, "description", "response_format.json_schema");
  get_bool(*js, "strict", "response_format.json_schema");  // the schema is always enforced
  const ojson* schema = member(*js, "schema");
  if (schema && !schema->is_object() && !schema->is_boolean())
    throw wrong_type("response_format.json_schema.schema", "an object", *schema);
  try {
    // Without a schema: any JSON object, as json_object asks.
    return json_schema_to_gbnf(schema ? *schema : ojson{{"type", "object"}});
  } catch (const Error& e) {
    throw bad_request(std::string("invalid 'response_format.json_schema.schema': ") + e.what(), "response_format",
                      "invalid_json_schema");
  }
}

// The options both generation endpoints share. Chat and completions differ
// only in how they ask for log-probabilities, handled by the callers.
GenerationParams parse_generation(const ojson& j, const RequestLimits& lim) {
  GenerationParams g;
  if (auto m = get_string(j, "model")) g.model = *m;
  if (auto n = get_int(j, "n", 1, 1 << 20); n && *n != 1) throw bad_request("only n=1 is supported", "n");
  if (auto n = get_int(j, "best_of", 1, 1 << 20); n && *n != 1) throw bad_request("only best_of=1 is supported", "best_of");
  if (auto m = get_int(j, "max_tokens", 1, lim.max_tokens)) g.max_tokens = static_cast<int>(*m);
  if (auto m = get_int(j, "max_completion_tokens", 1, lim.max_tokens)) g.max_tokens = static_cast<int>(*m);
  if (auto t = get_number(j, "temperature", 0.0, 2.0)) g.temperature = *t;
  if (auto p = get_number(j, "top_p", 0.0, 1.0)) g.top_p = *p;
  if (auto k = get_int(j, "top_k", -1, 1 << 20)) g.top_k = static_cast<int>(std::max<int64_t>(*k, 0));
  if (auto p = get_number(j, "min_p", 0.0, 1.0)) g.min_p = *p;
  if (auto p = get_number(j, "repeat_penalty", 0.01, 100.0)) g.repeat_penalty = *p;
  if (auto p = get_number(j, "presence_penalty", -2.0, 2.0)) g.presence_penalty = *p;
  if (auto p = get_number(j, "frequency_penalty", -2.0, 2.0)) g.frequency_penalty = *p;
  if (auto s = get_int(j, "seed", INT64_MIN, INT64_MAX)) g.seed = static_cast<uint64_t>(*s);
  parse_stop(j, lim, g.stop);
  if (auto b = get_bool(j, "ignore_eos")) g.ignore_eos = *b;
  if (auto b = get_bool(j, "stream")) g.stream = *b;
  if (const ojson* so = member(j, "stream_options")) {
    if (!so->is_object()) throw wrong_type("stream_options", "an object", *so);
    if (!g.stream) throw bad_request("'stream_options' is only allowed when 'stream' is true", "stream_options");
    if (auto b = get_bool(*so, "include_usage", "stream_options")) g.include_usage = *b;
  }
  if (const ojson* rf = member(j, "response_format")) g.grammar = response_format_grammar(*rf);
  if (const ojson* lb = member(j, "logit_bias")) {
    if (!lb->is_object()) throw wrong_type("logit_bias", "an object", *lb);
    if (!lb->empty()) throw bad_request("'logit_bias' is not supported", "logit_bias");
  }
  get_string(j, "user");  // accepted and ignored, but typed
  return g;
}

// Text of a message's content: a string, or an array of text parts joined
// by newlines (the way other OpenAI-compatible servers flatten them).
std::string content_text(const ojson& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw wrong_type(param, "a string or an array of content parts", content);
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    const ojson& part = content[i];
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) throw wrong_type(p, "an object", part);
    auto type = get_string(part, "type", p);
    if (!type) throw bad_request("'" + p + ".type' is missing", p + ".type");
    if (*type != "text") throw bad_request("only text content parts are supported, not '" + *type + "'", p + ".type");
    auto text = get_string(part, "text", p);
    if (!text) throw bad_request("'" + p + ".text' is missing", p + ".text");
    if (!out.empty()) out += '\n';
    out += *text;
  }
  return out;
}

ojson normalize_tool_call(const ojson& tc, const std::string& param) {
  if (!tc.is_object()) throw wrong_type(param, "an object", tc);
  if (auto t = get_string(tc, "type", param); t && *t != "function")
    throw bad_request("only tool calls of type 'function' are supported", param + ".type");
  const ojson* fn = member(tc, "function");
  if (!fn) throw bad_request("'" + param + ".function' is missing", param + ".function");
  if (!fn->is_object()) throw wrong_type(param + ".function", "an object", *fn);
  auto name = get_string(*fn, "name", param + ".function");
  if (!name || name->empty()) throw bad_request("'" + param + ".function.name' is missing", param + ".function.name");
  ojson args = ojson::object();
  if (const ojson* a = member(*fn, "arguments")) {
    if (a->is_string()) {
      // Templates print the arguments as a JSON value (tojson), so the text
      // the client sends is turned back into one when it is one.
      ojson parsed = ojson::parse(a->get_ref<const std::string&>(), nullptr, false);
      args = parsed.is_discarded() ? *a : parsed;
    } else if (a->is_object()) {
      args = *a;
    } else {
      throw wrong_type(param + ".function.arguments", "a string", *a);
    }
  }
  ojson out = ojson::object();
  out["id"] = get_string(tc, "id", param).value_or("");
  out["type"] = "function";
  out["function"] = ojson{{"name", *name}, {"arguments", args}};
  return out;
}

ojson normalize_messages(const ojson& j, const RequestLimits& lim) {
  const ojson* msgs = member(j, "messages");
  if (!msgs) throw bad_request("'messages' is missing", "messages");
  if (!msgs->is_array()) throw wrong_type("messages", "an array", *msgs);
  if (msgs->empty()) throw bad_request("'messages' must not be empty", "messages");
  if (static_cast<int>(msgs->size()) > lim.max_messages)
    throw bad_request("at most " + std::to_string(lim.max_messages) + " messages are allowed", "messages");
  ojson out = ojson::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const ojson& m = (*msgs)[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw wrong_type(p, "an object", m);
    auto role = get_string(m, "role", p);
    if (!role) throw bad_request("'" + p + ".role' is missing", p + ".role");
    if (*role == "developer") role = "system";
    if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool")
      throw bad_request("'" + p + ".role' must be system, developer, user, assistant or tool, not '" + *role + "'",
                        p + ".role");
    ojson n = ojson::object();
    n["role"] = *role;
    const ojson* content = member(m, "content");
    const ojson* calls = *role == "assistant" ? member(m, "tool_calls") : nullptr;
    if (!content && !calls) throw bad_request("'" + p + ".content' is missing", p + ".content");
    n["content"] = content ? content_text(*content, p + ".content") : std::string();
    if (auto name = get_string(m, "name", p)) n["name"] = *name;
    if (calls) {
      if (!calls->is_array()) throw wrong_type(p + ".tool_calls", "an array", *calls);
      ojson tcs = ojson::array();
      for (size_t k = 0; k < calls->size(); ++k)
        tcs.push_back(normalize_tool_call((*calls)[k], p + ".tool_calls[" + std::to_string(k) + "]"));
      if (!tcs.empty()) n["tool_calls"] = std::move(tcs);
    }
    if (*role == "tool") {
      auto id = get_string(m, "tool_call_id", p);
      if (!id) throw bad_request("'" + p + ".tool_call_id' is missing", p + ".tool_call_id");
      n["tool_call_id"] = *id;
    }
    out.push_back(std::move(n));
  }
  return out;
}

void parse_tools(const ojson& j, const RequestLimits& lim, ChatRequest& r) {
  if (const ojson* tools = member(j, "tools")) {
    if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
    if (static_cast<int>(tools->size()) > lim.max_tools)
      throw bad_request("at most " + std::to_string(lim.max_tools) + " tools are allowed", "tools");
    ojson out = ojson::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const ojson& t = (*tools)[i];
      const std::string p = "tools[" + std::to_string(i) + "]";
      if (!t.is_object()) throw wrong_type(p, "an object", t);
      auto type = get_string(t, "type", p);
      if (type.value_or("") != "function") throw bad_request("'" + p + ".type' must be 'function'", p + ".type");
      const ojson* fn = member(t, "function");
      if (!fn) throw bad_request("'" + p + ".function' is missing", p + ".function");
      if (!fn->is_object()) throw wrong_type(p + ".function", "an object", *fn);
      auto name = get_string(*fn, "name", p + ".function");
      if (!name || name->empty()) throw bad_request("'" + p + ".function.name' is missing", p + ".function.name");
      get_string(*fn, "description", p + ".function");
      if (const ojson* params = member(*fn, "parameters"); params && !params->is_object())
        throw wrong_type(p + ".function.parameters", "an object", *params);
      out.push_back(t);
    }
    if (!out.empty()) r.tools = std::move(out);
  }
  if (const ojson* tc = member(j, "tool_choice")) {
    if (tc->is_string()) {
      const auto& s = tc->get_ref<const std::string&>();
      if (s == "none") r.tool_choice = ToolChoice::none;
      else if (s == "auto") r.tool_choice = ToolChoice::auto_;
      else if (s == "required") r.tool_choice = ToolChoice::required;
      else throw bad_request("'tool_choice' must be none, auto, required or a function", "tool_choice");
    } else if (tc->is_object()) {
      const ojson* fn = member(*tc, "function");
      if (get_string(*tc, "type", "tool_choice").value_or("") != "function" || !fn || !fn->is_object())
        throw bad_request("'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice");
      auto name = get_string(*fn, "name", "tool_choice.function");
      if (!name) throw bad_request("'tool_choice.function.name' is missing", "tool_choice");
      r.tool_choice = ToolChoice::named;
      r.tool_name = *name;
    } else {
      throw wrong_type("tool_choice", "a string or an object", *tc);
    }
  }
  if (r.tool_choice != ToolChoice::auto_ && r.tool_choice != ToolChoice::none && r.tools.is_null())
    throw bad_request("'tool_choice' needs 'tools'", "tool_choice");
  if (r.tool_choice == ToolChoice::named) {
    bool found = false;
    for (const auto& t : r.tools) found = found || t["function"]["name"] == r.tool_name;
    if (!found) throw bad_request("'tool_choice' names a function that is not in 'tools'", "tool_choice");
  }
}

template <class R, class F>
std::variant<R, ApiError> guarded(F&& f) {
  try {
    return f();
  } catch (const ApiError& e) {
    return e;
  } catch (const nlohmann::json::exception& e) {
    // A type mix-up missed above must still be the client's error, not a crash.
    return bad_request(std::string("invalid request: ") + e.what());
  }
}

}  // namespace

std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body, const RequestLimits& lim) {
  return guarded<ChatRequest>([&] {
    const ojson j = parse_body(body);
    ChatRequest r;
    r.gen = parse_generation(j, lim);
    r.messages = normalize_messages(j, lim);
    const bool want = get_bool(j, "logprobs").value_or(false);
    auto top = get_int(j, "top_logprobs", 0, 20);
    if (top && !want) throw bad_request("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
    if (want) r.gen.logprobs = static_cast<int>(top.value_or(0));
    parse_tools(j, lim, r);
    return r;
  });
}

std::variant<CompletionTextRequest, ApiError> parse_completion_request(std::string_view body,
                                                                       const RequestLimits& lim) {
  return guarded<CompletionTextRequest>([&] {
    const ojson j = parse_body(body);
    CompletionTextRequest r;
    r.gen = parse_generation(j, lim);
    if (auto lp = get_int(j, "logprobs", 0, 5)) r.gen.logprobs = static_cast<int>(*lp);
    if (get_bool(j, "echo").value_or(false)) throw bad_request("'echo' is not supported", "echo");
    if (auto s = get_string(j, "suffix"); s && !s->empty()) throw bad_request("'suffix' is not supported", "suffix");
    const ojson* p = member(j, "prompt");
    if (!p) throw bad_request("'prompt' is missing", "prompt");
    // A string, a one-element array of strings, or one array of token ids.
    const ojson* one = p;
    if (p->is_array() && !p->empty() && !(*p)[0].is_number()) {
      if (p->size() != 1) throw bad_request("only one prompt per request is supported", "prompt");
      one = &(*p)[0];
    }
    if (one->is_string()) {
      r.prompt = one->get<std::string>();
      if (r.prompt.empty()) throw bad_request("'prompt' must not be empty", "prompt");
    } else if (one->is_array()) {
      if (one->empty()) throw bad_request("'prompt' must not be empty", "prompt");
      for (const auto& id : *one) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
          throw bad_request("a token-id prompt must hold non-negative integers", "prompt");
        r.prompt_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
      }
      r.prompt_is_ids = true;
    } else {
      throw wrong_type("prompt", "a string or an array", *one);
    }
    return r;
  });
}

std::variant<EmbeddingRequest, ApiError> parse_embedding_request(std::string_view body, const RequestLimits& lim) {
  return guarded<EmbeddingRequest>([&] {
    const ojson j = parse_body(body);
    EmbeddingRequest r;
    if (auto m = get_string(j, "model")) r.model = *m;
    if (auto f = get_string(j, "encoding_format")) {
      if (*f != "float" && *f != "base64") throw bad_request("'encoding_format' must be float or base64", "encoding_format");
      r.base64 = *f == "base64";
    }
    if (auto d = get_int(j, "dimensions", 1, 1 << 20)) throw bad_request("'dimensions' is not supported", "dimensions");
    get_string(j, "user");
    const ojson* in = member(j, "input");
    if (!in) throw bad_request("'input' is missing", "input");
    auto ids_of = [](const ojson& a) {
      std::vector<int32_t> ids;
      for (const auto& id : a) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
          throw bad_request("token-id input must hold non-negative integers", "input");
        ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
      }
      if (ids.empty()) throw bad_request("'input' must not hold an empty item", "input");
      return ids;
    };
    if (in->is_string()) {
      r.texts.push_back(in->get<std::string>());
    } else if (in->is_array()) {
      if (in->empty()) throw bad_request("'input' must not be empty", "input");
      if (static_cast<int>(in->size()) > lim.max_inputs)
        throw bad_request("at most " + std::to_string(lim.max_inputs) + " inputs are allowed", "input");
      if ((*in)[0].is_number()) {
        r.ids.push_back(ids_of(*in));
        r.inputs_are_ids = true;
      } else if ((*in)[0].is_array()) {
        for (const auto& a : *in) {
          if (!a.is_array()) throw wrong_type("input", "an array of token-id arrays", a);
          r.ids.push_back(ids_of(a));
        }
        r.inputs_are_ids = true;
      } else {
        for (const auto& s : *in) {
          if (!s.is_string()) throw wrong_type("input", "a string or an array of strings", s);
          r.texts.push_back(s.get<std::string>());
        }
      }
    } else {
      throw wrong_type("input", "a string or an array of strings", *in);
    }
    for (const auto& t : r.texts)
      if (t.empty()) throw bad_request("'input' must not hold an empty string", "input");
    return r;
  });
}

}  // namespace lineage::server
