#include "server/answer.h"

#include <cmath>

#include "chat/chat_conversation.h"
#include "tokenizer/tokenizer.h"

namespace lineage::server {

using ojson = nlohmann::ordered_json;

std::string dump_json(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string finish_reason(const std::string& stop_reason, bool tool_calls) {
  if (tool_calls) return "tool_calls";
  if (stop_reason == "length" || stop_reason == "context") return "length";
  if (stop_reason == "eos" || stop_reason == "stop") return "stop";
  return "abort";  // cancelled, shut down or failed
}

double json_logprob(float lp) { return std::isfinite(lp) ? std::max<double>(lp, -9999.0) : -9999.0; }

namespace {

ojson byte_list(const std::string& s) {
  ojson b = ojson::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

Answer::Answer(const AnswerSetup& s, const Tokenizer& tok) : s_(s), tok_(tok), parser_(s.id_seed) {
  if (s_.chat) lp_all_ = ojson::array();
  else lp_all_ = ojson{{"tokens", ojson::array()}, {"token_logprobs", ojson::array()},
                       {"top_logprobs", ojson::array()}, {"text_offset", ojson::array()}};
}

Answer::Delta Answer::take(const std::string& text, const std::vector<TokenLogprob>& lps, bool at_end) {
  Delta d;
  const std::string clean = chat::to_valid_utf8(text);
  if (s_.tools) {
    ToolCallParser::Update u = parser_.push(clean);
    if (at_end) {
      ToolCallParser::Update v = parser_.finish();
      u.content += v.content;
      for (auto& c : v.calls) u.calls.push_back(std::move(c));
    }
    d.content = std::move(u.content);
    d.calls = std::move(u.calls);
  } else {
    d.content = clean;
  }
  if (s_.logprobs < 0 || lps.empty()) return d;
  if (s_.chat) {
    d.logprobs = ojson::array();
    for (const TokenLogprob& t : lps) {
      ojson e = ojson::object();
      e["token"] = chat::to_valid_utf8(t.piece);
      e["logprob"] = json_logprob(t.logprob);
      e["bytes"] = byte_list(t.piece);
      ojson top = ojson::array();
      for (int k = 0; k < s_.logprobs && k < static_cast<int>(t.top.size()); ++k) {
        const std::string piece = tok_.token_to_piece(t.top[k].first);
        top.push_back(ojson{{"token", chat::to_valid_utf8(piece)},
                            {"logprob", json_logprob(t.top[k].second)},
                            {"bytes", byte_list(piece)}});
      }
      e["top_logprobs"] = std::move(top);
      d.logprobs.push_back(std::move(e));
    }
  } else {
    d.logprobs = ojson{{"tokens", ojson::array()}, {"token_logprobs", ojson::array()},
                       {"top_logprobs", ojson::array()}, {"text_offset", ojson::array()}};
    for (const TokenLogprob& t : lps) {
      d.logprobs["tokens"].push_back(chat::to_valid_utf8(t.piece));
      d.logprobs["token_logprobs"].push_back(json_logprob(t.logprob));
      ojson top = ojson::object();
      for (int k = 0; k < s_.logprobs && k < static_cast<int>(t.top.size()); ++k) {
        const std::string piece = chat::to_valid_utf8(tok_.token_to_piece(t.top[k].first));
        if (!top.contains(piece)) top[piece] = json_logprob(t.top[k].second);
      }
      d.logprobs["top_logprobs"].push_back(std::move(top));
      d.logprobs["text_offset"].push_back(text_offset_);
      text_offset_ += t.piece.size();
    }
  }
  return d;
}

ojson Answer::envelope(bool chunk) const {
  ojson o = ojson::object();
  o["id"] = s_.id;
  o["object"] = s_.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  o["created"] = s_.created;
  o["model"] = s_.model;
  return o;
}

ojson Answer::chunk_with(ojson choice) const {
  ojson o = envelope(true);
  o["choices"] = ojson::array({std::move(choice)});
  if (s_.include_usage) o["usage"] = nullptr;
  return o;
}

ojson Answer::usage(const CompletionResult& r) const {
  const auto n_gen = static_cast<int64_t>(r.tokens.size());
  return ojson{{"prompt_tokens", r.n_prompt}, {"completion_tokens", n_gen}, {"total_tokens", r.n_prompt + n_gen}};
}

ojson Answer::calls_json(const std::vector<ToolCall>& calls, bool with_index, int first_index) const {
  ojson out = ojson::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    ojson c = ojson::object();
    if (with_index) c["index"] = first_index + static_cast<int>(i);
    c["id"] = calls[i].id;
    c["type"] = "function";
    c["function"] = ojson{{"name", calls[i].name}, {"arguments", calls[i].arguments}};
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::string> Answer::stream_piece(const std::string& text, const std::vector<TokenLogprob>& lps) {
  std::vector<std::string> out;
  if (!opened_) {
    opened_ = true;
    if (s_.chat) {
      ojson choice{{"index", 0}, {"delta", ojson{{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                   {"finish_reason", nullptr}};
      out.push_back(dump_json(chunk_with(std::move(choice))));
    }
  }
  Delta d = take(text, lps, false);
  if (d.content.empty() && d.calls.empty() && d.logprobs.is_null()) return out;
  ojson choice = ojson::object();
  choice["index"] = 0;
  if (s_.chat) {
    ojson delta = ojson::object();
    if (!d.content.empty() || d.calls.empty()) delta["content"] = d.content;
    if (!d.calls.empty()) {
      delta["tool_calls"] = calls_json(d.calls, true, n_calls_sent_);
      n_calls_sent_ += static_cast<int>(d.calls.size());
    }
    choice["delta"] = std::move(delta);
    choice["logprobs"] = d.logprobs.is_null() ? ojson(nullptr) : ojson{{"content", d.logprobs}};
  } else {
    choice["text"] = d.content;
    choice["logprobs"] = d.logprobs;
  }
  choice["finish_reason"] = nullptr;
  out.push_back(dump_json(chunk_with(std::move(choice))));
  return out;
}

std::vector<std::string> Answer::stream_end(const CompletionResult& r) {
  std::vector<std::string> out = stream_piece("", {});
  Delta d = take("", {}, true);
  ojson choice = ojson::object();
  choice["index"] = 0;
  if (s_.chat) {
    ojson delta = ojson::object();
    if (!d.content.empty()) delta["content"] = d.content;
    if (!d.calls.empty()) {
      delta["tool_calls"] = calls_json(d.calls, true, n_calls_sent_);
      n_calls_sent_ += static_cast<int>(d.calls.size());
    }
    choice["delta"] = std::move(delta);
    choice["logprobs"] = nullptr;
  } else {
    choice["text"] = d.content;
    choice["logprobs"] = nullptr;
  }
  choice["finish_reason"] = finish_reason(r.stop_reason, n_calls_sent_ > 0);
  out.push_back(dump_json(chunk_with(std::move(choice))));
  if (s_.include_usage) {
    ojson u = envelope(true);
    u["choices"] = ojson::array();
    u["usage"] = usage(r);
    out.push_back(dump_json(u));
  }
  return out;
}

void Answer::add(const std::string& text, const std::vector<TokenLogprob>& lps) {
  Delta d = take(text, lps, false);
  content_ += d.content;
  for (auto& c : d.calls) calls_.push_back(std::move(c));
  if (d.logprobs.is_null()) return;
  if (s_.chat) {
    for (auto& e : d.logprobs) lp_all_.push_back(std::move(e));
  } else {
    for (const char* key : {"tokens", "token_logprobs", "top_logprobs", "text_offset"})
      for (auto& e : d.logprobs[key]) lp_all_[key].push_back(std::move(e));
  }
}

ojson Answer::final_object(const CompletionResult& r) {
  Delta d = take("", {}, true);
  content_ += d.content;
  for (auto& c : d.calls) calls_.push_back(std::move(c));
  ojson o = envelope(false);
  ojson choice = ojson::object();
  choice["index"] = 0;
  if (s_.chat) {
    ojson msg = ojson::object();
    msg["role"] = "assistant";
    // With tool calls, whitespace around them is not content.
    const bool blank = content_.find_first_not_of(" \t\r\n") == std::string::npos;
    msg["content"] = calls_.empty() || !blank ? ojson(content_) : ojson(nullptr);
    if (!calls_.empty()) msg["tool_calls"] = calls_json(calls_, false, 0);
    choice["message"] = std::move(msg);
    choice["logprobs"] = s_.logprobs >= 0 ? ojson{{"content", lp_all_}} : ojson(nullptr);
  } else {
    choice["text"] = content_;
    choice["logprobs"] = s_.logprobs >= 0 ? lp_all_ : ojson(nullptr);
  }
  choice["finish_reason"] = finish_reason(r.stop_reason, !calls_.empty());
  o["choices"] = ojson::array({std::move(choice)});
  o["usage"] = usage(r);
  return o;
}

}  // namespace lineage::server
