// daemon/src/control/replies.hpp — the JSON the control commands reply with
// (docs/PROTOCOL.md "Commands"), rendered from a NamespaceService: the
// outcome of reload, rollback, set and unset; status; history; diff;
// explain. Members are emitted in alphabetical order (nlohmann::json).
//
// Sensitive values (validate.hpp SensitiveKeys, format::kNodeSensitive)
// render as "<redacted>" unless `show_secrets`; the command table decides who
// may ask for them (control/commands.hpp).
//
// Thread-safety: the daemon's loop thread, like the service. Cost: status
// and history are small; diff walks both segments (O(keys)).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/namespace_service.hpp"
#include "core/outcome.hpp"

namespace shmconf::daemon {

// {"ok", "published", "version", "from_version", "message", "duration_ms",
// "changes": [{"key", "change"}], and "error", "code", "warnings" when set}.
nlohmann::json outcome_json(const ReloadOutcome& out);

// The status object, without what the daemon adds (healthy, health, pid,
// metrics_listen, audit_failures, ok, error).
nlohmann::json status_json(const NamespaceService& service, bool show_secrets = false);

// {"versions": retained, newest first; "events": oldest first}.
nlohmann::json history_json(const NamespaceService& service);

// {"from", "to", "changes": [{"key", "change", "old", "new"}]}; throws
// std::runtime_error ("version 9 is not retained") when either is not.
nlohmann::json diff_json(const NamespaceService& service, std::uint64_t from, std::uint64_t to,
                         bool show_secrets = false);

// {"key", "sensitive", "layers": [{"source", "line", "column", "value" |
// "deleted": true}]}.
nlohmann::json explain_json(const Explanation& e, bool show_secrets);

}  // namespace shmconf::daemon
