// Checks made before a request is routed: the API key and, for a server on
// a loopback address, the Host header (a web page on another site can make
// a browser send requests to localhost through a DNS name that resolves to
// 127.0.0.1; its Host header still names that site, so it is refused).
#pragma once
#include <string>
#include <string_view>

namespace lineage::server {

// Compares in time that depends only on the lengths, so the key cannot be
// guessed byte by byte from response times.
bool constant_time_equal(std::string_view a, std::string_view b);

// The key in "Authorization: Bearer KEY" ("" when the header has another form).
std::string bearer_token(std::string_view authorization);

// True for localhost, *.localhost, 127.x.x.x and [::1], with or without a port.
bool is_local_host_header(std::string_view host);

// True when addr (as given to --host) is a loopback address or localhost.
bool is_loopback_bind(std::string_view addr);

}  // namespace lineage::server
