// daemon/src/core/outcome.hpp — what a reload, rollback or override change
// tells whoever asked: the control reply (control/replies.hpp), the metrics
// (ops/metrics.hpp), the audit record and the log.
//
// Thread-safety: plain data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "publish/builder.hpp"

namespace shmconf::daemon {

struct ReloadOutcome {
  bool ok = false;                 // false: rejected or failed; the live version is unchanged
  bool published = false;          // a new version (or a rollback target) went live
  std::uint64_t version = 0;       // live version afterwards
  std::uint64_t from_version = 0;  // live version before
  std::string error;               // why, when !ok: "file:line:col: key: message"
  // When !ok, what failed, for metrics and clients: "source" (unreadable,
  // missing), "parse", "limit", "substitution", "schema", "flags", "secret", "guard",
  // "publish" (shared memory or state), "request" (a bad rollback target...).
  std::string error_kind;
  std::string message;  // human summary ("published v7", "unchanged", ...)
  std::vector<KeyChange> changes;
  std::vector<std::string> warnings;  // accepted, but worth a look (plaintext secrets under kWarn)
  double duration_ms = 0;
  // Seconds spent per stage ("load", "validate", "build", "publish",
  // "total"), in order; a stage that did not run is absent. The state
  // directory write ("persist") follows the reply: flush_state().
  std::vector<std::pair<std::string, double>> stages;
  // Content hash of what the sources produced at this attempt (rejected
  // ones included, for drift); 0 when the load failed before hashing.
  std::uint64_t source_hash = 0;
};

// The last reload attempt, as `status` shows it.
struct LastReload {
  bool ok = false;
  bool published = false;
  std::string trigger;
  std::uint64_t time_ns = 0;
  std::uint64_t version = 0;
  std::string message;
  std::string error;       // "" when ok
  std::string error_kind;  // "" when ok
  std::vector<std::string> warnings;
  double duration_ms = 0;
};

// Counters since the daemon started.
struct ServiceCounters {
  std::uint64_t reloads_ok = 0;  // unchanged reloads included
  std::uint64_t reloads_failed = 0;
  std::uint64_t rollbacks = 0;
  std::map<std::string, std::uint64_t> rejections_by_kind;  // error_kind -> rejected reloads
};

// Nanoseconds since the epoch, for publish times and events.
std::uint64_t wall_clock_ns();

}  // namespace shmconf::daemon
