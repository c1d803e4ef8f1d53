// Python str operations on UTF-8 text, for string methods and filters.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lineage::chat::jinja::text {

bool is_space(uint32_t cp);  // Python's str.isspace for one code point
std::string strip(std::string_view s, bool left, bool right, const std::string* chars);
std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // str.title()
std::string capitalize(std::string_view s);  // str.capitalize()
std::vector<std::string> splitlines(std::string_view s, bool keepends);
// Index in code points of the first (or last) occurrence, -1 if none.
int64_t find(std::string_view s, std::string_view sub, bool reverse);
int64_t count(std::string_view s, std::string_view sub);

}  // namespace lineage::chat::jinja::text
