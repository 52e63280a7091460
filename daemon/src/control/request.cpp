// daemon/src/control/request.cpp — control request lines (see request.hpp).
#include "control/request.hpp"

#include <string>

#include "control/protocol.hpp"

namespace shmconf::daemon {

using nlohmann::json;

namespace {

// Brackets outside strings, counted on the raw text before parsing: a
// request like "[[[[…" a million deep is refused in O(n) without building it.
bool nesting_exceeds(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// nlohmann's messages start with "[json.exception.parse_error.101] " (or
// "[json.exception.out_of_range.406] "); the
// operator needs the rest.
std::string parse_error_text(const char* what) {
  std::string_view text(what);
  if (auto end = text.find("] "); !text.empty() && text.front() == '[' && end != text.npos) {
    text.remove_prefix(end + 2);
  }
  return std::string(text);
}

}  // namespace

ParsedRequest parse_request(std::string_view line) {
  ParsedRequest out;
  if (nesting_exceeds(line, kMaxRequestDepth)) {
    out.error = error_reply(kCodeBadRequest, "request nests deeper than " +
                                                 std::to_string(kMaxRequestDepth) + " levels");
    return out;
  }
  try {
    out.request = json::parse(line);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for a number no double holds (1e999).
    out.error = error_reply(kCodeBadRequest, "invalid JSON: " + parse_error_text(e.what()));
    return out;
  }
  if (!out.request.is_object()) {
    out.error = error_reply(kCodeBadRequest, "request must be a JSON object");
    return out;
  }
  if (auto cmd = out.request.find("cmd"); cmd == out.request.end() || !cmd->is_string()) {
    out.error = error_reply(kCodeBadRequest, "request needs a string \"cmd\" field");
    // An "id" is echoed so a client pipelining requests can match replies.
    if (auto id = out.request.find("id"); id != out.request.end()) out.error["id"] = *id;
  }
  return out;
}

}  // namespace shmconf::daemon
