// tests/fuzz/control_request_fuzz.cpp — one control request line as the
// control server sees it (control/request.hpp): parsed, checked, and the
// reply written the way the server writes it. A request is either refused
// with a bad_request reply or handed on as an object with a string "cmd".
#include <string>
#include <string_view>

#include "control/protocol.hpp"
#include "control/request.hpp"
#include "fuzz.hpp"

namespace shmconf::fuzz {

int control_request(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const daemon::ParsedRequest parsed = daemon::parse_request(line);
  using nlohmann::json;
  if (!parsed.ok()) {
    SHMCONF_FUZZ_CHECK(parsed.error.is_object());
    SHMCONF_FUZZ_CHECK(parsed.error.at("code") == daemon::kCodeBadRequest);
    const std::string out = parsed.error.dump(-1, ' ', false, json::error_handler_t::replace);
    SHMCONF_FUZZ_CHECK(out.find('\n') == std::string::npos);  // one reply, one line
    return 0;
  }
  SHMCONF_FUZZ_CHECK(parsed.request.is_object());
  const json& cmd = parsed.request.at("cmd");
  SHMCONF_FUZZ_CHECK(cmd.is_string());
  (void)daemon::is_mutating_command(cmd.get_ref<const std::string&>());
  json reply = daemon::error_reply(daemon::kCodeUnknownCommand, "fuzz");
  if (auto id = parsed.request.find("id"); id != parsed.request.end()) reply["id"] = *id;
  const std::string out = reply.dump(-1, ' ', false, json::error_handler_t::replace);
  SHMCONF_FUZZ_CHECK(out.find('\n') == std::string::npos);
  return 0;
}

}  // namespace shmconf::fuzz

SHMCONF_FUZZ_ENTRY(shmconf::fuzz::control_request)
