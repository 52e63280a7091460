// daemon/src/control/protocol.hpp — limits, error codes and reply helpers of
// the control protocol (one JSON request and one JSON reply per line).
//
// docs/PROTOCOL.md is the prose version of this file: a change touches both
// or neither.
//
// Thread-safety: constants and pure functions only. Cost: negligible; the
// control plane is never on a client's read path.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

namespace shmconf::daemon {

// A request line longer than this (excluding its '\n') is answered with
// bad_request and the connection is closed: the server must buffer a whole
// line before it can parse it, so the cap bounds its memory per connection.
inline constexpr std::size_t kMaxRequestLineBytes = std::size_t{1} << 20;

// Arrays and objects nested deeper than this are bad_request. The check runs
// before parsing, so no handler ever sees a tree that could exhaust the stack
// of recursive code (dump(), diff, the tree converters).
inline constexpr int kMaxRequestDepth = 128;

// Connections beyond this are accepted, told "too many connections" and
// closed, so the operator gets an answer instead of a hang.
inline constexpr std::size_t kMaxControlConnections = 64;

// control_call() gives up on a reply line longer than this: a guard against
// talking to something that is not shmconfd, not a protocol limit.
inline constexpr std::size_t kMaxReplyLineBytes = std::size_t{64} << 20;

// Values of the "code" field of an {"ok": false} reply.
inline constexpr std::string_view kCodeUnauthorized = "unauthorized";
inline constexpr std::string_view kCodeBadRequest = "bad_request";
inline constexpr std::string_view kCodeUnknownCommand = "unknown_command";
inline constexpr std::string_view kCodeFailed = "failed";

// {"ok": false, "error": message, "code": code}.
inline nlohmann::json error_reply(std::string_view code, std::string_view message) {
  return nlohmann::json{{"ok", false}, {"error", message}, {"code", code}};
}

// The commands that change what is published; they need root, the daemon's
// user or the admin group (is_authorized) and are written to the audit log.
// Everything else is read-only and open to whoever passes the socket's 0660.
inline bool is_mutating_command(std::string_view cmd) {
  return cmd == "reload" || cmd == "rollback" || cmd == "set" || cmd == "unset";
}

}  // namespace shmconf::daemon
