// The chat page of `lineage serve`: index.html at `/`, the other files of
// src/server/webui/ at /webui/NAME. The page holds no secret and calls the
// API with the key the user gives it, so it is served without one.
#pragma once
#include <string>
#include <string_view>

namespace httplib {
class Server;
}

namespace lineage::server {

// The embedded file a GET of path returns, or null.
struct EmbeddedFile;
const EmbeddedFile* webui_file_for(std::string_view path);

// "text/javascript; charset=utf-8" and so on, by the name's extension.
std::string_view webui_content_type(std::string_view name);

// Registers the page's routes; call before any catch-all route.
void add_webui_routes(httplib::Server& http);

}  // namespace lineage::server
