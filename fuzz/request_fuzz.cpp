// Fuzzes the server's request parsing: any bytes given as the body of a
// chat, completion or embedding request must give a request or a 4xx
// error, never a crash or an exception. The same bytes, streamed in pieces,
// go through the tool-call parser, which must hand back every byte it held
// when they turn out not to be a call.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/request.h"
#include "server/tool_calls.h"

using namespace lineage::server;

namespace {

template <class T>
void check(const std::variant<T, ApiError>& r) {
  if (auto* e = std::get_if<ApiError>(&r)) {
    if (e->status < 400 || e->status >= 500 || e->message.empty()) std::abort();
    (void)e->to_json().dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  RequestLimits lim;
  lim.max_messages = 64;
  auto chat = parse_chat_request(body, lim);
  check(chat);
  if (auto* r = std::get_if<ChatRequest>(&chat)) {
    if (!r->messages.is_array() || r->messages.empty()) std::abort();
    (void)r->messages.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  check(parse_completion_request(body, lim));
  check(parse_embedding_request(body, lim));

  // Pieces of 1..7 bytes, sized by the input itself.
  ToolCallParser p(size);
  std::string shown;
  size_t calls = 0, at = 0;
  while (at < body.size()) {
    const size_t n = 1 + static_cast<unsigned char>(body[at]) % 7;
    auto u = p.push(std::string(body.substr(at, n)));
    shown += u.content;
    calls += u.calls.size();
    at += n;
  }
  auto end = p.finish();
  shown += end.content;
  calls += end.calls.size();
  if (calls == 0 && shown.size() != body.size() &&
      body.find("<|python_tag|>") == std::string_view::npos)
    std::abort();  // text that was not a call came back incomplete
  return 0;
}
