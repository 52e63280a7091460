// daemon/src/ops/metrics.hpp — shmconfd's Prometheus metrics and health.
//
// The daemon's loop thread owns everything that counts: it feeds every
// reload and rollback outcome to DaemonMetrics (observe_reload(),
// observe_rollback()) and, after every event and at least once a second,
// calls refresh() with what the namespaces and the daemon look like now.
// refresh() renders the whole exposition text and swaps it into a
// MetricsSnapshot that the HTTP thread and the control `metrics` command
// read: an immutable std::shared_ptr<const MetricsSnapshot> behind a mutex
// held only for the pointer copy. Gauges that depend on the time of the
// scrape (seconds_since_last_success) are computed by scrape() from the
// snapshot's timestamps, so they are right even between refreshes.
//
// Health (the /healthz verdict and the status reply's "healthy"): every
// namespace has a live snapshot, its last reload succeeded or was rejected
// cleanly (a bad edit is a clean rejection; an unreachable source or a
// failed publish is not), and every source was reachable at that reload.
//
// Thread-safety: DaemonMetrics is single-threaded (the loop); scrape(),
// health() and current() may be called from any thread. Cost: refresh()
// renders a few kilobytes per namespace.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/namespace_service.hpp"
#include "ops/exposition.hpp"

namespace shmconf::daemon::ops {

// Reachability of one source at the last reload attempt.
struct SourceHealth {
  std::string name;
  bool ok = true;
  std::string error;
};

// An etcd source's watch, as its watcher reports it now (loop/etcd_sources.hpp).
struct RemoteSample {
  std::string name;  // "etcd:/shmconf/app/", as the source's SourceStatus names it
  bool loaded = false;
  bool connected = false;
  std::int64_t revision = 0;
  std::string endpoint;
  std::string error;
  std::uint64_t reconnects = 0;
  std::uint64_t full_reads = 0;
  std::uint64_t events = 0;
};

// What one namespace looks like now, as refresh() renders it.
struct NamespaceSample {
  std::string name;
  bool live = false;
  std::uint64_t live_version = 0;
  std::uint64_t generation = 0;
  std::string content_hash;  // hex, "" when nothing is live
  std::uint64_t content_hash_value = 0;
  std::uint64_t snapshot_bytes = 0;
  std::uint64_t snapshot_keys = 0;
  std::uint64_t retained = 0;
  // Live readers in the reader registry by the version they serve (0: none
  // adopted yet); empty without a registry.
  std::map<std::uint64_t, std::uint64_t> readers_by_version;
  std::vector<SourceHealth> sources;
  std::vector<RemoteSample> remotes;  // filled by the loop
};

// Daemon-wide counters, read from the components that keep them.
struct DaemonSample {
  std::uint64_t control_requests = 0;
  std::uint64_t control_bad_requests = 0;
  std::uint64_t control_handler_failures = 0;
  std::uint64_t control_connections_rejected = 0;
  std::uint64_t watcher_reports = 0;
  std::uint64_t watcher_rescans = 0;
  std::uint64_t watcher_overflows = 0;
  std::uint64_t watcher_poll_changes = 0;
  std::uint64_t watcher_failures = 0;
  std::uint64_t watcher_write_waits = 0;
  std::uint64_t watcher_write_wait_timeouts = 0;
  std::uint64_t watcher_watches = 0;
  std::uint64_t audit_failures = 0;
};

struct Health {
  bool ok = false;
  std::string reason;  // "ok" when healthy, else why not
  // Serving its last good version while a remote source (etcd) is away:
  // ok stays true (readers are served), the reason says "degraded: ...".
  bool degraded = false;
};

// What scrapes read: immutable once published.
struct MetricsSnapshot {
  std::string text;  // everything but the scrape-time gauges
  // Wall-clock time (ns since the epoch) of each namespace's last
  // successful reload in this daemon's life; 0 = none yet.
  std::vector<std::pair<std::string, std::uint64_t>> last_success_ns;
  Health health;
};

// The reload duration buckets, in seconds.
const std::vector<double>& reload_duration_buckets();

// A NamespaceSample of `svc`: its live snapshot and its sources' health at
// the last reload attempt.
NamespaceSample sample_namespace(const NamespaceService& svc);

class DaemonMetrics {
 public:
  explicit DaemonMetrics(std::string version);

  // "published", "unchanged" or "rejected", as counted.
  static const char* reload_result(const ReloadOutcome& out);

  void observe_reload(const std::string& ns, const ReloadOutcome& out);
  void observe_rollback(const std::string& ns, const ReloadOutcome& out);
  // The state-directory write that follows a reload, rollback or override
  // (NamespaceService::flush_state()): the "persist" stage.
  void observe_persist(const std::string& ns, double seconds);

  // Renders and publishes a new snapshot.
  void refresh(const std::vector<NamespaceSample>& namespaces, const DaemonSample& daemon);

  // Any thread. The exposition text with the scrape-time gauges appended.
  std::string scrape() const;
  Health health() const;
  std::shared_ptr<const MetricsSnapshot> current() const;

  // The health verdict for one namespace (also used by refresh()).
  Health namespace_health(const NamespaceSample& s) const;

 private:
  struct PerNamespace {
    std::map<std::string, std::uint64_t> reloads;   // by result
    std::map<std::string, std::uint64_t> failures;  // by error kind
    std::map<std::string, Histogram> stages;        // by stage
    std::uint64_t rollbacks = 0;
    std::uint64_t rollbacks_refused = 0;
    std::uint64_t last_success_ns = 0;
    bool attempted = false;               // a reload ran in this daemon's life
    bool last_ok = true;                  // outcome of the last reload
    std::string last_error_kind;          // when !last_ok
    std::string last_error;               // when !last_ok
    std::uint64_t last_attempt_hash = 0;  // content the sources produced; 0 = none
  };
  PerNamespace& slot(const std::string& ns);
  // Source health as reachability, from the service's report and the last
  // failure (see namespace_health()).
  void judge_sources(NamespaceSample& s) const;
  std::string render(const std::vector<NamespaceSample>& namespaces,
                     const DaemonSample& daemon) const;
  // render()'s families, in the order they appear.
  void render_outcomes(Exposition& e, const std::vector<NamespaceSample>& namespaces) const;
  void render_snapshots(Exposition& e, const std::vector<NamespaceSample>& namespaces) const;
  void render_health(Exposition& e, const std::vector<NamespaceSample>& namespaces) const;
  static void render_daemon(Exposition& e, const DaemonSample& d);
  static void render_remotes(Exposition& e, const std::vector<NamespaceSample>& namespaces);
  // One family with `value(sample, counters)` called for each namespace.
  template <class F>
  void per_namespace(Exposition& e, const std::vector<NamespaceSample>& namespaces,
                     const char* name, const char* type, const char* help, F value) const;

  std::string version_;
  std::map<std::string, PerNamespace> ns_;

  mutable std::mutex mu_;  // guards current_ (the pointer only)
  std::shared_ptr<const MetricsSnapshot> current_;
};

// "HOST:PORT" or "[V6]:PORT" -> host and port. Unless `allow_any`, the host
// must be loopback (127.0.0.0/8, ::1 or "localhost"). Throws
// std::invalid_argument with a message for the operator.
std::pair<std::string, int> parse_listen_address(const std::string& text, bool allow_any);

}  // namespace shmconf::daemon::ops
