// daemon/src/core/namespace_service.hpp — one namespace, end to end:
// sources -> parse -> merge (+ runtime overrides) -> build -> publish ->
// retain -> persist, plus rollback, history and diff.
//
// Every failure before the flip leaves the live version untouched and comes
// back as a ReloadOutcome with the reason; nothing here throws out of
// reload(), rollback() or set_override().
//
// Nothing slow stands between a verified segment and the flip, or between
// the flip and the reply: reload(), rollback() and the overrides return
// once the control block is flipped and the outcome is known. The state
// directory (segment files, state.json) is written by flush_state(), which
// the daemon calls after it has handed its reply to the kernel
// (docs/ARCHITECTURE.md "Publish", docs/OPERATIONS.md "The state directory").
//
// Thread-safety: one thread (the daemon's loop). Cost: a reload parses all
// sources; a rollback is one control-block flip plus the diff for the
// reply; flush_state() fsyncs a segment file and state.json.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/options.hpp"
#include "parse/parse.hpp"
#include "publish/publisher.hpp"
#include "sources/sources.hpp"
#include "state/state_store.hpp"
#include "tree/value.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {

struct ReloadOutcome {
  bool ok = false;                 // false: rejected or failed; the live version is unchanged
  bool published = false;          // a new version (or a rollback target) went live
  std::uint64_t version = 0;       // live version afterwards
  std::uint64_t from_version = 0;  // live version before
  std::string error;               // why, when !ok: "file:line:col: key: message"
  // When !ok, what failed, for metrics and clients: "source" (unreadable,
  // missing), "parse", "limit", "substitution", "schema", "secret", "guard",
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
  nlohmann::json to_json() const;
};

class NamespaceService {
 public:
  explicit NamespaceService(ServiceOptions options);
  // Writes what is still pending for the state directory (flush_state()).
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
  // state.json. Returns the seconds it took when there was something to
  // write. Never throws: a write error is logged; the live version is not
  // affected, and start() saves a live version the state directory lacks.
  std::optional<double> flush_state() noexcept;

  bool has_live() const { return live_ != nullptr; }
  std::uint64_t live_version() const { return live_ ? live_->version() : 0; }
  const Segment* live() const { return live_.get(); }
  const ServiceOptions& options() const { return opts_; }

  // Sensitive values (validate.hpp SensitiveKeys) show as "<redacted>"
  // unless `show_secrets`; callers decide who may ask for them.
  nlohmann::json status(bool show_secrets = false) const;
  nlohmann::json history() const;
  // Keys added, removed and changed from version a to b (both retained).
  nlohmann::json diff(std::uint64_t a, std::uint64_t b, bool show_secrets = false) const;

  // A candidate configuration: the sources merged and checked, unpublished.
  struct Candidate {
    Value merged = Value::object();
    SourceList names;
    std::shared_ptr<const Schema> schema;   // null without ServiceOptions::schema
    std::vector<ValidationIssue> warnings;  // accepted issues (SecretPolicy::kWarn)
    // `merged` as written, before ${...} substitution; set only when some
    // string was substituted (sources/sources.hpp LoadedSources::templates).
    std::optional<Value> templates;
    double load_seconds = 0;  // of the whole call, reading and merging the sources
  };
  // load_sources(), then the schema, plaintext-secret and (unless `force`)
  // size guards: what reload() checks before building. Throws ConfigError
  // or ValidationFailure; publishes nothing (validate_offline uses it).
  Candidate load_checked(bool force = false) const;
  // Which keys are sensitive, by the schema of the last reload.
  const SensitiveKeys& sensitive_keys() const { return sensitive_; }

  // The sources merged (overrides included), as reload() would publish them.
  // `templates` receives the tree as written when a string was substituted.
  // Refreshes source_status(). Throws ConfigError (a SourceError for the
  // sources themselves).
  // With `trace_key`, `trace` gets the value each layer sets at that key
  // path, lowest priority first (see LoadedSources::trace).
  Value load_sources(SourceList* names, std::optional<Value>* templates = nullptr,
                     const std::string& trace_key = "", std::vector<Value>* trace = nullptr) const;

  // Every layer of the sources, as they are now, that sets `key`, lowest
  // priority first: {"key", "layers": [{"source", "line", "column", "value"
  // | "deleted": true}]}; values of sensitive keys redacted unless
  // `show_secrets`. Throws ConfigError when the sources do not load.
  nlohmann::json explain(const std::string& key, bool show_secrets) const;

  // Health of each SourceSpec, in order, at the last load of the sources.
  using SourceStatus = daemon::SourceStatus;
  const std::vector<SourceStatus>& source_status() const { return source_status_; }

 private:
  struct Retained {
    std::uint64_t version = 0;
    std::uint64_t time_ns = 0;
    std::string trigger;
    std::uint64_t content_hash = 0;
    nlohmann::json summary;  // {"added": n, "removed": n, "changed": n, "keys": [...]}
    std::shared_ptr<Segment> segment;
    // Key paths of substituted strings: non-empty = persisted as a template
    // segment (sources/templates.hpp), never as the resolved bytes.
    std::vector<std::string> substituted;
    // The state directory holds it (or must never hold it); false until
    // flush_state() has saved it.
    bool persisted = false;
    // What flush_state() needs to build the template segment of a version
    // published with substituted strings.
    struct PendingTemplate {
      Value tree;  // the merged tree as written, references unresolved
      SourceList names;
      std::set<std::string> sensitive;
      std::shared_ptr<Segment> previous;  // live before this version, for the changed keys
    };
    std::shared_ptr<PendingTemplate> pending_template;
  };

  ReloadOutcome publish_tree(const Value& root, const SourceList& names, const std::string& trigger,
                             std::uint64_t source_hash);
  ReloadOutcome make_live(const Retained& r, const std::string& trigger, const std::string& who,
                          bool rollback, std::chrono::steady_clock::time_point t0);
  void retain(Retained r);
  void save_version(Retained& r);
  void write_state();
  void record_event(nlohmann::json event);
  const Retained* find(std::uint64_t version) const;
  void restore_from_state(const nlohmann::json& state);
  void adopt_from_shm();

  ServiceOptions opts_;
  std::unique_ptr<Publisher> publisher_;
  StateStore store_;
  std::vector<Retained> retained_;  // sorted by version
  std::shared_ptr<Segment> live_;
  std::uint64_t next_version_ = 1;
  // For flush_state(): state.json is out of date; versions dropped since.
  bool state_dirty_ = false;
  std::vector<std::uint64_t> dropped_;
  std::uint64_t last_source_hash_ = 0;  // content the sources produced last
  bool rolled_back_ = false;
  Value overrides_ = Value::object();
  std::deque<nlohmann::json> events_;  // newest last, bounded
  nlohmann::json last_reload_;
  std::uint64_t reloads_ok_ = 0, reloads_failed_ = 0, rollbacks_ = 0;
  std::map<std::string, std::uint64_t> rejections_by_kind_;  // error_kind -> rejected reloads
  SensitiveKeys sensitive_;         // by the schema of the last reload that loaded one
  bool force_ = false;              // the reload in progress skips the guards
  std::optional<Value> templates_;  // the reload in progress: its tree as written, if substituted
  // Written by the const load_sources(): health is a by-product of reading.
  mutable std::vector<SourceStatus> source_status_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Sets `path` ("a.b.c") in an object tree, creating objects on the way.
void set_path(Value& root, const std::string& path, Value v);
// Removes `path`; false when it was not there.
bool erase_path(Value& root, const std::string& path);
std::uint64_t wall_clock_ns();

}  // namespace shmconf::daemon
