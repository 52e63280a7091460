// daemon/src/control/request.hpp — one control request line into a JSON
// request object, or the bad_request reply that refuses it. This is all the
// control server does with untrusted bytes before a handler runs, kept apart
// from the socket code so it can be tested and fuzzed on its own
// (tests/fuzz/control_request_fuzz.cpp).
//
// Thread-safety: a pure function. Cost: linear in the line; a line nested
// deeper than kMaxRequestDepth is refused before anything is built.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace shmconf::daemon {

struct ParsedRequest {
  nlohmann::json request;  // a JSON object with a string "cmd" when ok()
  nlohmann::json error;    // the bad_request reply otherwise (with the request's "id")
  bool ok() const { return error.is_null(); }
};

// Parses `line` (one request without its '\n'): valid JSON, nested at most
// kMaxRequestDepth levels, an object, with a string "cmd" field.
ParsedRequest parse_request(std::string_view line);

}  // namespace shmconf::daemon
