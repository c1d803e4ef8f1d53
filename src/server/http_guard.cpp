#include "server/http_guard.h"

#include <algorithm>
#include <cctype>

namespace lineage::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited whatever the contents.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

std::string bearer_token(std::string_view h) {
  constexpr std::string_view kPrefix = "bearer ";
  if (h.size() <= kPrefix.size()) return "";
  for (size_t i = 0; i < kPrefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != kPrefix[i]) return "";
  std::string_view key = h.substr(kPrefix.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
  return std::string(key);
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_ipv4_loopback(std::string_view s) {
  // 127.a.b.c with decimal octets.
  if (s.substr(0, 4) != "127.") return false;
  int dots = 0, digits = 0, value = 0;
  for (size_t i = 4; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = value = 0;
    } else if (c >= '0' && c <= '9') {
      value = value * 10 + (c - '0');
      if (++digits > 3 || value > 255) return false;
    } else {
      return false;
    }
  }
  return dots == 2 && digits > 0;
}

bool is_local_name(std::string_view host) {
  const std::string h = lower(host);
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  if (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0) return true;
  return is_ipv4_loopback(h);
}

}  // namespace

bool is_local_host_header(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    const size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1 ||
                          !std::all_of(rest.begin() + 1, rest.end(), [](char c) { return c >= '0' && c <= '9'; })))
      return false;
    return is_local_name(name.substr(0, close + 1));
  }
  if (const size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = name.substr(colon + 1);
    if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
    name = name.substr(0, colon);
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "localhost." is the same name
  return !name.empty() && is_local_name(name);
}

bool is_loopback_bind(std::string_view addr) { return is_local_name(addr); }

}  // namespace lineage::server
