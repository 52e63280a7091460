// daemon/src/retain/retained.hpp — the retain stage: the versions a namespace
// keeps once they are published (the live one plus `keep` earlier ones, each
// a mapped, immutable segment with its history metadata), the rollback
// targets among them, and the bounded log of publish, rollback, rejection and
// restore events that `history` shows.
//
// Dropping a version here only takes it out of the list: the caller unlinks
// its segment name (readers that map it keep it alive) and has the state
// stage remove its files (docs/ARCHITECTURE.md "Who owns which memory").
//
// Thread-safety: one thread (the daemon's loop). Cost: add() sorts the list
// (at most keep + 2 entries); find() is a linear scan of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon {

struct RetainedVersion {
  std::uint64_t version = 0;
  std::uint64_t time_ns = 0;
  std::string trigger;
  std::uint64_t content_hash = 0;
  nlohmann::json summary;  // summarize(): {"added", "removed", "changed", "keys"}
  std::shared_ptr<Segment> segment;
  // Key paths of substituted strings: non-empty = persisted as a template
  // segment (state/templates.hpp), never as the resolved bytes.
  std::vector<std::string> substituted;
  // The state directory holds it (or must never hold it); false until the
  // state stage has saved it after the reply.
  bool persisted = false;
  // For a version published with substituted strings, what the state stage
  // needs to build its template segment after the reply; released then.
  struct PendingTemplate {
    Value tree;  // the merged tree as written, references unresolved
    SourceList names;
    std::set<std::string> sensitive;
    std::shared_ptr<Segment> previous;  // live before this version, for its changed keys
  };
  std::shared_ptr<PendingTemplate> pending_template;
};

// The retained versions, in version order.
class RetainedVersions {
 public:
  explicit RetainedVersions(unsigned keep) : keep_(keep) {}

  // Adds `v` and drops the lowest versions beyond `keep` besides `live`
  // (never `live` itself). Returns what was dropped.
  std::vector<RetainedVersion> add(RetainedVersion v, const std::shared_ptr<Segment>& live);

  const RetainedVersion* find(std::uint64_t version) const;
  RetainedVersion* find(std::uint64_t version);
  bool holds_segment(std::uint64_t segment_id) const;

  // A rollback's target: version `to` when given, else the retained version
  // `steps` (default 1) below `live` in version order. nullptr, with `error`
  // saying why ("version 7 is not retained", "cannot roll back 3 step(s): 1
  // earlier version(s) retained"), when there is none.
  const RetainedVersion* rollback_target(std::optional<unsigned> steps,
                                         std::optional<std::uint64_t> to,
                                         const std::shared_ptr<Segment>& live,
                                         std::string* error) const;

  const std::vector<RetainedVersion>& all() const { return versions_; }
  std::vector<RetainedVersion>& all() { return versions_; }
  bool empty() const { return versions_.empty(); }
  std::size_t size() const { return versions_.size(); }
  const RetainedVersion& newest() const { return versions_.back(); }

 private:
  unsigned keep_;
  std::vector<RetainedVersion> versions_;  // sorted by version
};

// History events, oldest first, at most kMaxEvents: {"event": "publish" |
// "rollback" | "rejected" | "restore", ...} (docs/PROTOCOL.md "History").
class EventLog {
 public:
  static constexpr std::size_t kMaxEvents = 200;
  void record(nlohmann::json event);
  const std::deque<nlohmann::json>& events() const { return events_; }

 private:
  std::deque<nlohmann::json> events_;
};

// A version's summary against the one before it: counts of added, removed
// and changed leaf keys and the first ten keys.
nlohmann::json summarize(const std::vector<KeyChange>& changes);
// The same, from the changed-keys list a segment carries.
nlohmann::json summarize(const SegmentView& view);

// What a previous daemon left in shared memory, as retained versions in the
// order found: every segment that validates and that readers can have been
// shown (one never flipped to is an orphan and left out). An unusable
// segment is logged and unlinked. `live` is the control block's.
struct AdoptedSegments {
  std::vector<RetainedVersion> versions;
  std::shared_ptr<Segment> live;
};
AdoptedSegments adopt_segments(Publisher& publisher, const std::string& ns);

// Unlinks every segment of the namespace that `retained` does not hold: one
// a daemon built and died before flipping to, or an adopted duplicate.
void remove_orphans(Publisher& publisher, const RetainedVersions& retained, const std::string& ns);

}  // namespace shmconf::daemon
