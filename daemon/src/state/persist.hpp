// daemon/src/state/persist.hpp — the state stage: what a namespace keeps in
// its state directory (state/state_store.hpp) so that its versions, history
// and overrides survive a restart and a reboot, and when it is written.
//
// Everything is written after the flip and after the reply, by
// StateWriter::flush(); only the template marker precedes the flip
// (docs/ARCHITECTURE.md "Publish", docs/OPERATIONS.md "The state directory").
// At start, read_state() and restore_versions() bring back what a previous
// daemon wrote.
//
// Thread-safety: one thread (the daemon's loop). Cost: flush() fsyncs one
// file per new version and state.json (each with its directory).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "parse/parse.hpp"
#include "publish/publisher.hpp"
#include "retain/retained.hpp"
#include "sources/substitute.hpp"
#include "state/state_store.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

// state.json as the previous daemon left it.
struct SavedState {
  nlohmann::json raw = nlohmann::json::object();  // {} when there is none or it is unreadable
  std::optional<Value> overrides;                 // the runtime override layer
  std::uint64_t next_version = 1;
  std::uint64_t live_version = 0;
  std::uint64_t last_source_hash = 0;
  bool rolled_back = false;
};

// Reads state.json. An unreadable one is logged and read as empty; an
// override layer that does not parse throws ConfigError.
SavedState read_state(const StateStore& store, const Limits& limits);

// The events state.json holds, oldest first, into `log`.
void restore_events(const SavedState& saved, EventLog& log);

// Brings back the versions state.json lists. One already adopted from shared
// memory takes its trigger and substituted paths from the file; another is
// read from its segment file (a template segment is resolved again) into a
// new segment and handed to `keep`, in the order listed. A version that
// cannot be restored is logged and skipped. `ctx` resolves the references
// of template segments (the namespace's sealing keys included).
void restore_versions(const SavedState& saved, const StateStore& store, Publisher& publisher,
                      RetainedVersions& retained, const SubstitutionContext& ctx,
                      const std::function<void(RetainedVersion)>& keep);

// What state.json holds besides the versions and events.
struct StateFields {
  std::string ns;
  std::uint64_t next_version = 1;
  std::uint64_t live_version = 0;
  std::uint64_t last_source_hash = 0;
  bool rolled_back = false;
  const Value* overrides = nullptr;
};

// The whole state.json document (docs/OPERATIONS.md "The state directory").
nlohmann::json state_document(const StateFields& fields, const RetainedVersions& retained,
                              const EventLog& events);

// The writes that follow a reply.
class StateWriter {
 public:
  StateWriter(const std::string& state_dir, const std::string& ns) : store_(state_dir, ns) {}

  const StateStore& store() const { return store_; }
  bool enabled() const { return store_.enabled(); }

  // Flushes that failed in a row; 0 when the last one wrote everything.
  std::uint64_t failures() const { return failures_; }
  // state.json must be written again.
  void mark_dirty() { dirty_ = true; }
  // A version left the retained set: its files go at the next flush.
  void drop(std::uint64_t version) { dropped_.push_back(version); }
  bool pending() const { return dirty_ || !dropped_.empty(); }
  // After a failed flush, when the next one writes: 50 ms after the first
  // failure, doubling to 2 s, so a loop woken often (a busy control socket)
  // does not retry at every round. Nothing when no retry is due.
  std::optional<std::chrono::steady_clock::time_point> retry_at() const {
    if (failures_ == 0 || !pending()) return std::nullopt;
    return retry_at_;
  }

  // Before the flip to a version holding substituted strings (see
  // StateStore::mark_template_pending()). An error is logged, not thrown.
  void mark_template_pending(std::uint64_t version) noexcept;

  // At start, for versions adopted from shared memory: one the state
  // directory already holds is persisted; one whose strings were
  // substituted, and whose template a killed daemon never wrote, may not be
  // saved at all (only its template could be) and is marked persisted with a
  // warning; any other is left for flush() to save.
  void check_adopted(std::vector<RetainedVersion>& versions) const;

  // Removes the files of dropped versions, saves every version not yet
  // persisted (its template segment when its strings were substituted),
  // then writes `document()` as state.json. Returns the seconds it took, or
  // nothing when nothing was pending. Never throws: the first error of an
  // outage is logged, and what failed stays pending for the next flush.
  std::optional<double> flush(std::vector<RetainedVersion>& versions,
                              const std::function<nlohmann::json()>& document) noexcept;

 private:
  void save(RetainedVersion& r) const;

  StateStore store_;
  bool dirty_ = false;
  std::vector<std::uint64_t> dropped_;
  std::uint64_t failures_ = 0;  // flushes failed in a row (logged once)
  std::chrono::steady_clock::time_point retry_at_{};
};

}  // namespace shmconf::daemon
