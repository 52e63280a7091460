// daemon/src/core/namespace_service.hpp — one namespace, end to end: the
// orchestrator that runs the write path's stages in order, sources -> parse
// -> merge (+ runtime overrides) -> validate -> build -> publish -> retain ->
// state, and rollback (docs/ARCHITECTURE.md).
//
// Every failure before the flip leaves the live version untouched and comes
// back as a ReloadOutcome with the reason; nothing here throws out of
// reload(), rollback() or set_override().
//
// Nothing slow stands between a verified segment and the flip, or between
// the flip and the reply: reload(), rollback() and the overrides return
// once the control block is flipped and the outcome is known. The state
// directory (segment files, state.json) is written by flush_state(), which
// the daemon calls after it has handed its reply to the kernel.
//
// What the control replies and the metrics show (status, history, diff,
// explain) is rendered outside, from the accessors below
// (control/replies.hpp, ops/metrics.hpp).
//
// Thread-safety: one thread (the daemon's loop). Cost: a reload parses all
// sources; a rollback is one control-block flip plus the diff for the
// reply; flush_state() fsyncs a segment file and state.json.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/async_hash.hpp"
#include "core/options.hpp"
#include "core/outcome.hpp"
#include "publish/publisher.hpp"
#include "publish/registry.hpp"
#include "retain/retained.hpp"
#include "sources/sources.hpp"
#include "sources/substitute.hpp"
#include "state/persist.hpp"
#include "tree/value.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {

// Every layer of the sources, as they are now, that sets one key.
struct Explanation {
  std::string key;
  bool sensitive = false;     // by the live version's marks, else by the schema
  SourceList names;           // indexed by each layer's origin.source
  std::vector<Value> layers;  // lowest priority first; a null is a deletion
};

class NamespaceService {
 public:
  explicit NamespaceService(ServiceOptions options);
  // Writes what is still pending for the state directory.
  ~NamespaceService();
  NamespaceService(const NamespaceService&) = delete;
  NamespaceService& operator=(const NamespaceService&) = delete;

  // Adopts the control block and retained segments, or restores the last
  // good version from the state directory and publishes it, before any
  // source is read. Throws on an alarm (a squatted name) or a second daemon.
  void start();

  // `force` skips the guards (options.hpp Guards) for this one reload; the
  // schema and secret checks still apply.
  ReloadOutcome reload(const std::string& trigger, bool force = false);
  // Exactly one of steps / to_version.
  ReloadOutcome rollback(std::optional<unsigned> steps, std::optional<std::uint64_t> to_version,
                         const std::string& who);
  // Runtime override layer: highest priority, persisted, published at once.
  ReloadOutcome set_override(const std::string& key, const Value& value, const std::string& who);
  ReloadOutcome unset_override(const std::string& key, const std::string& who);

  // Durability, after the reply: saves the segments of versions published
  // since the last call (their template instead, for a version holding
  // substituted strings), removes the files of dropped versions, writes
  // state.json. Then frees the last reload's trees and, for a large
  // configuration, prepares the next publish's segment (Publisher::
  // prepare_spare). Returns the seconds the state directory took when there
  // was something to write. Never throws: a write error is logged; the live version is not
  // affected, and start() saves a live version the state directory lacks.
  std::optional<double> flush_state() noexcept;
  // After a failed state write: when flush_state() tries again.
  std::optional<std::chrono::steady_clock::time_point> state_retry_at() const {
    return state_.retry_at();
  }

  // Where reloads read the etcd sources from (the daemon's watchers); unset,
  // each load reads etcd directly.
  void set_etcd_provider(EtcdProvider p) { etcd_ = std::move(p); }

  bool has_live() const { return live_ != nullptr; }
  std::uint64_t live_version() const { return live_ ? live_->version() : 0; }
  const Segment* live() const { return live_.get(); }
  const ServiceOptions& options() const { return opts_; }

  // What status, history and diff show.
  std::uint64_t generation() const { return publisher_ ? publisher_->generation() : 0; }
  const RetainedVersions& retained() const { return retained_; }
  const EventLog& events() const { return events_; }
  bool rolled_back() const { return rolled_back_; }
  const std::string& state_dir() const { return state_.store().dir(); }
  const std::optional<LastReload>& last_reload() const { return last_reload_; }
  const ServiceCounters& counters() const { return counters_; }
  double uptime_seconds() const;
  const Value& overrides() const { return overrides_; }
  // Which keys are sensitive, by the schema of the last reload.
  const SensitiveKeys& sensitive_keys() const { return sensitive_; }

  // A candidate configuration: the sources merged and checked, unpublished.
  struct Candidate {
    Value merged = Value::object();
    SourceList names;
    std::shared_ptr<const Schema> schema;   // null without ServiceOptions::schema
    std::vector<ValidationIssue> warnings;  // accepted issues (SecretPolicy::kWarn)
    // `merged` as written, before ${...} substitution; set only when some
    // string was substituted (sources/sources.hpp LoadedSources::templates).
    std::optional<Value> templates;
    double load_seconds = 0;      // of the whole call, reading and merging the sources
    std::uint64_t hash = 0;       // content_hash(merged); 0 when left to the caller
    bool guards_checked = false;  // the size guards ran (they need the hash)
    // The plaintext-secret check is left to the build walk (publish_tree):
    // nothing was substituted, so the merged tree is the tree as written.
    bool secrets_in_build = false;
  };
  // load_sources(), then the schema, plaintext-secret and (unless `force`)
  // size guards: what reload() checks before building. Throws ConfigError
  // or ValidationFailure; publishes nothing (validate_offline uses it).
  // `secrets_in_build`: reload() builds the candidate anyway, so the
  // plaintext-secret check may ride on the build walk (Candidate).
  // `hash`: compute Candidate::hash and run the size guards here; reload()
  // passes false and does both beside the build (core/async_hash.hpp).
  Candidate load_checked(bool force = false, bool secrets_in_build = false, bool hash = true) const;

  // The sources merged (overrides included), as reload() would publish them.
  // `templates` receives the tree as written when a string was substituted.
  // Refreshes source_status(). Throws ConfigError (a SourceError for the
  // sources themselves).
  // With `trace_key`, `trace` gets the value each layer sets at that key
  // path, lowest priority first (see LoadedSources::trace).
  Value load_sources(SourceList* names, std::optional<Value>* templates = nullptr,
                     const std::string& trace_key = "", std::vector<Value>* trace = nullptr) const;

  // The substitution of this namespace's sources: the process environment,
  // credentials and files, and its sealing keys (sources/sealed.hpp). One
  // per reload: it caches the keys it loads.
  SubstitutionContext substitution_context() const;

  // Every layer of the sources, as they are now, that sets `key`. Throws
  // ConfigError when the sources do not load.
  Explanation explain(const std::string& key) const;

  // The reader registry (core/readers.cpp). sweep_readers() repairs a
  // damaged registry and frees the slots of dead readers, logging both; it
  // runs at start and on `status` and `readers`, and from flush_state()
  // (every loop round) when `every_second` and a second has passed since
  // the last sweep. readers() is what the registry holds (dead readers left
  // out), read again when the last read is a second old (the metrics ask
  // every loop round); its error says why there is none (disabled,
  // squatted, damaged).
  void sweep_readers(bool every_second = false) noexcept;
  RegistryView readers() const;

  // Health of each SourceSpec, in order, at the last load of the sources.
  using SourceStatus = daemon::SourceStatus;
  const std::vector<SourceStatus>& source_status() const { return source_status_; }

 private:
  // The stages of one publish, in order (namespace_service.cpp).
  // `cand`: the candidate load_checked(hash = false) made; `hash` computes
  // its content hash while the builder lays it out, and *attempted gets it.
  // A candidate identical to the live version publishes nothing (outcome
  // `ok`, not `published`). Its secret check may be left to the build.
  // Accepted secret issues (warnings) are appended to `warnings`.
  ReloadOutcome publish_tree(const Candidate& cand, AsyncContentHash& hash,
                             std::uint64_t* attempted, const std::string& trigger,
                             std::vector<ValidationIssue>* warnings);
  // The outcome of a candidate with content hash `hash` that needs no
  // publish (identical to the live version, or to the sources a rollback
  // set aside), or nullopt.
  std::optional<ReloadOutcome> unchanged_outcome(std::uint64_t hash);
  ReloadOutcome make_live(const RetainedVersion& r, const std::string& trigger,
                          const std::string& who, bool rollback,
                          std::chrono::steady_clock::time_point t0);
  ReloadOutcome load_and_publish(const std::string& trigger, bool force,
                                 std::chrono::steady_clock::time_point t0);
  // Counts, logs and records a finished reload attempt.
  void finish_reload(ReloadOutcome& out, const std::string& trigger);
  // Retains `r`: unlinks the segments it pushes out, whose files the state
  // stage removes at the next flush.
  void retain(RetainedVersion r);
  // flush_state()'s first part: the state directory alone.
  std::optional<double> write_state() noexcept;
  // start()'s steps.
  void adopt(const SavedState& saved);
  void restore(const SavedState& saved);

  ServiceOptions opts_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<ReaderRegistry> registry_;
  std::string registry_error_;  // why registry_ is null
  std::chrono::steady_clock::time_point swept_at_{};
  mutable RegistryView readers_;  // readers()'s last read, at readers_at_
  mutable std::chrono::steady_clock::time_point readers_at_{};
  void open_registry() noexcept;
  StateWriter state_;
  RetainedVersions retained_;
  EventLog events_;
  std::shared_ptr<Segment> live_;
  std::uint64_t next_version_ = 1;
  std::uint64_t last_source_hash_ = 0;  // content the sources produced last
  bool rolled_back_ = false;
  Value overrides_ = Value::object();
  std::optional<LastReload> last_reload_;
  ServiceCounters counters_;
  SensitiveKeys sensitive_;         // by the schema of the last reload that loaded one
  bool force_ = false;              // the reload in progress skips the guards
  std::optional<Value> templates_;  // the reload in progress: its tree as written, if substituted
  // The last reload's trees, freed by flush_state() after the reply: freeing
  // a 10 MB configuration's tree takes about 20 ms, which no client should
  // wait for.
  std::vector<Value> retired_;
  // Written by the const load_sources(): health is a by-product of reading.
  mutable std::vector<SourceStatus> source_status_;
  EtcdProvider etcd_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace shmconf::daemon
