// daemon/src/control/commands.hpp — the control command table: each command
// of docs/PROTOCOL.md "Commands" is one short handler, found by name, the
// shape of systemctl's verb table. run_command() authorises a request
// (protocol.hpp is_mutating_command(), auth.hpp is_authorized()), looks its
// "cmd" up and runs the handler against one namespace.
//
// The daemon's loop (loop/daemon.hpp) supplies a CommandHost per control
// socket: what a command needs from the daemon around the namespace (a
// reload as the loop runs it, audit, metrics). The table itself knows no
// poll loop, systemd or metrics.
//
// Thread-safety: the daemon's loop thread. Cost: that of the command; a
// reload or set blocks the loop until its outcome is known.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "control/auth.hpp"
#include "core/namespace_service.hpp"

namespace shmconf::daemon {

class CommandHost {
 public:
  virtual ~CommandHost() = default;
  virtual NamespaceService& service() = 0;
  virtual const AuthPolicy& policy() const = 0;
  // A reload as the daemon runs every reload (systemd notified around it,
  // metrics, audit), for `peer`.
  virtual ReloadOutcome reload(const std::string& trigger, const Peer& peer, bool force) = 0;
  // Metrics and audit of a rollback, set or unset that ran ("rollback",
  // "set KEY", "unset KEY").
  virtual void finished(const ReloadOutcome& out, const std::string& what, const Peer& peer) = 0;
  // Audits a mutating command refused to `peer`.
  virtual void refused(const std::string& cmd, const Peer& peer) = 0;
  // Adds what the daemon knows to a status reply: healthy, health, pid,
  // audit_failures, metrics_listen.
  virtual void add_daemon_status(nlohmann::json& status) = 0;
  // The Prometheus text exposition of every namespace the daemon serves.
  virtual std::string metrics_text() = 0;
};

// The reply to `request` (a JSON object with a string "cmd") from `peer`. A
// missing or mistyped field is bad_request, an unknown command
// unknown_command, a refused mutating command unauthorized. Other errors
// propagate as exceptions (the server turns them into "failed").
nlohmann::json run_command(CommandHost& host, const nlohmann::json& request, const Peer& peer);

}  // namespace shmconf::daemon
