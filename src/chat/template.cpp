#include "chat/template.h"

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"
#include "core/error.h"

namespace lineage::chat {

struct Program {
  jinja::Body body;
};

namespace {

using jinja::Value;

template <typename Json>
Value from_json(const Json& j, int depth) {
  if (depth > 512) fail("context JSON nested deeper than 512 levels");
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::real(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::real(j.template get<double>());
    case nlohmann::json::value_t::string: return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json(x, depth + 1));
      return Value::array(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      jinja::Object o;
      o.items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) o.items.emplace_back(it.key(), from_json(it.value(), depth + 1));
      return Value::object(std::move(o));
    }
    default: fail("context JSON holds a value of an unsupported type");
  }
}

template <typename Json>
std::string render_with(const Program& p, const Json& context, const RenderLimits& l) {
  if (!context.is_object()) fail("the template context must be a JSON object");
  std::vector<std::pair<std::string, Value>> globals;
  for (auto it = context.begin(); it != context.end(); ++it) globals.emplace_back(it.key(), from_json(it.value(), 0));
  jinja::Limits limits;
  limits.max_output = l.max_output;
  limits.max_items = l.max_items;
  limits.max_steps = l.max_steps;
  limits.max_call_depth = l.max_call_depth;
  jinja::Interpreter in(limits, std::move(globals));
  return in.render(p.body);
}

}  // namespace

Template Template::parse(const std::string& source) {
  auto p = std::make_shared<Program>();
  p->body = jinja::parse_template(source);
  Template t;
  t.program_ = std::move(p);
  return t;
}

std::string Template::render(const nlohmann::ordered_json& context, const RenderLimits& limits) const {
  return render_with(*program_, context, limits);
}

std::string Template::render(const nlohmann::json& context, const RenderLimits& limits) const {
  return render_with(*program_, context, limits);
}

}  // namespace lineage::chat
