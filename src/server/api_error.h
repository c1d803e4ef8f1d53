// Errors as the OpenAI API reports them: an HTTP status and
// {"error": {"message", "type", "param", "code"}}.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace lineage::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field ("" when none)
  std::string code;   // machine-readable ("" when none)

  nlohmann::ordered_json to_json() const {
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["message"] = message;
    e["type"] = type;
    e["param"] = param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(param);
    e["code"] = code.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(code);
    return nlohmann::ordered_json{{"error", e}};
  }
};

inline ApiError bad_request(std::string message, std::string param = "", std::string code = "") {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

}  // namespace lineage::server
