#include "server/webui.h"

#include <httplib.h>

#include <cstdint>
#include <map>

#include "server/webui_files.h"

namespace lineage::server {

namespace {

// The page runs only its own scripts and styles and talks only to this
// server: model output rendered by a bug could not load or run anything.
constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string etag_of(const EmbeddedFile& f) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (size_t i = 0; i < f.size; ++i) h = (h ^ static_cast<unsigned char>(f.data[i])) * 1099511628211ull;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag = "\"";
  for (int i = 15; i >= 0; --i) tag += kHex[(h >> (i * 4)) & 15];
  return tag + "\"";
}

const std::map<const EmbeddedFile*, std::string>& etags() {
  static const std::map<const EmbeddedFile*, std::string> tags = [] {
    std::map<const EmbeddedFile*, std::string> m;
    for (const EmbeddedFile& f : webui_files()) m[&f] = etag_of(f);
    return m;
  }();
  return tags;
}

bool etag_matches(const std::string& if_none_match, const std::string& tag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  size_t at = 0;
  while (at < if_none_match.size()) {
    size_t comma = if_none_match.find(',', at);
    if (comma == std::string::npos) comma = if_none_match.size();
    std::string_view one(if_none_match.data() + at, comma - at);
    while (!one.empty() && (one.front() == ' ' || one.front() == '\t')) one.remove_prefix(1);
    while (!one.empty() && (one.back() == ' ' || one.back() == '\t')) one.remove_suffix(1);
    if (one.substr(0, 2) == "W/") one.remove_prefix(2);
    if (one == tag) return true;
    at = comma + 1;
  }
  return false;
}

}  // namespace

const EmbeddedFile* webui_file_for(std::string_view path) {
  std::string_view name;
  if (path == "/") name = "index.html";
  else if (path.substr(0, 7) == "/webui/") name = path.substr(7);
  else return nullptr;
  if (name.empty()) return nullptr;
  for (const EmbeddedFile& f : webui_files())
    if (f.name == name) return &f;
  return nullptr;
}

std::string_view webui_content_type(std::string_view name) {
  if (ends_with(name, ".html")) return "text/html; charset=utf-8";
  if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
  if (ends_with(name, ".css")) return "text/css; charset=utf-8";
  if (ends_with(name, ".svg")) return "image/svg+xml";
  if (ends_with(name, ".json")) return "application/json";
  return "application/octet-stream";
}

void add_webui_routes(httplib::Server& http) {
  http.Get(R"(/|/webui/[A-Za-z0-9_.-]+)", [](const httplib::Request& req, httplib::Response& res) {
    const EmbeddedFile* f = webui_file_for(req.path);
    if (!f) {
      res.status = 404;  // the server's error handler writes the JSON body
      return;
    }
    const std::string& tag = etags().at(f);
    // The names carry no version, so a browser asks again each time and gets
    // a 304 while the binary is unchanged.
    res.set_header("Cache-Control", "no-cache");
    res.set_header("ETag", tag);
    res.set_header("Content-Security-Policy", kCsp);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("X-Frame-Options", "DENY");
    if (etag_matches(req.get_header_value("If-None-Match"), tag)) {
      res.status = 304;
      return;
    }
    res.set_content(f->data, f->size, std::string(webui_content_type(f->name)).c_str());
  });
}

}  // namespace lineage::server
