// daemon/src/ops/metrics_render.cpp — DaemonMetrics::render(): the
// Prometheus exposition text refresh() stores, one function per group of
// families (reload outcomes, snapshots and sources, health, etcd watchers,
// daemon-wide), in the order they appear.
#include "ops/metrics.hpp"
#include "ops/metrics_internal.hpp"

namespace shmconf::daemon::ops {

using namespace metrics_internal;

template <class F>
void DaemonMetrics::per_namespace(Exposition& e, const std::vector<NamespaceSample>& namespaces,
                                  const char* name, const char* type, const char* help,
                                  F value) const {
  e.family(name, type, help);
  for (const NamespaceSample& s : namespaces) {
    const auto it = ns_.find(s.name);
    static const PerNamespace kEmpty{};
    value(s, it == ns_.end() ? kEmpty : it->second);
  }
}

std::string DaemonMetrics::render(const std::vector<NamespaceSample>& namespaces,
                                  const DaemonSample& d) const {
  Exposition e;
  e.family("shmconf_build_info", "gauge", "Version of the running shmconfd");
  e.sample("shmconf_build_info", {{"version", version_}}, 1);
  render_outcomes(e, namespaces);
  render_snapshots(e, namespaces);
  render_health(e, namespaces);
  render_remotes(e, namespaces);
  render_daemon(e, d);
  return e.take();
}

// Reloads, their stages and failures, rollbacks.
void DaemonMetrics::render_outcomes(Exposition& e,
                                    const std::vector<NamespaceSample>& namespaces) const {
  auto per_ns = [&](const char* name, const char* type, const char* help, auto value) {
    per_namespace(e, namespaces, name, type, help, value);
  };
  per_ns("shmconf_reloads_total", "counter",
         "Reload attempts by result: published (a new version went live), unchanged (content "
         "identical), rejected (the live version stayed)",
         [&](const NamespaceSample& s, const PerNamespace& p) {
           for (const char* r : kResults) {
             const auto it = p.reloads.find(r);
             e.sample("shmconf_reloads_total", with(ns_label(s.name), "result", r),
                      it == p.reloads.end() ? 0.0 : static_cast<double>(it->second));
           }
         });
  per_ns("shmconf_reload_duration_seconds", "histogram",
         "Time spent per reload stage (load, validate, build, publish, persist) and in total",
         [&](const NamespaceSample& s, const PerNamespace& p) {
           if (p.stages.empty()) {
             const Histogram empty(reload_duration_buckets());
             for (const char* st : kStages) {
               e.histogram("shmconf_reload_duration_seconds", with(ns_label(s.name), "stage", st),
                           empty);
             }
           }
           for (const auto& [stage, h] : p.stages) {
             e.histogram("shmconf_reload_duration_seconds", with(ns_label(s.name), "stage", stage),
                         h);
           }
         });
  per_ns(
      "shmconf_validation_failures_total", "counter",
      "Rejected reloads by what failed (source, parse, limit, substitution, schema, flags, secret, "
      "guard, publish, request, other)",
      [&](const NamespaceSample& s, const PerNamespace& p) {
        for (const auto& [kind, n] : p.failures) {
          e.sample("shmconf_validation_failures_total", with(ns_label(s.name), "kind", kind),
                   static_cast<double>(n));
        }
      });
  per_ns("shmconf_rollbacks_total", "counter", "Rollbacks that made an earlier version live",
         [&](const NamespaceSample& s, const PerNamespace& p) {
           e.sample("shmconf_rollbacks_total", ns_label(s.name), static_cast<double>(p.rollbacks));
         });
  per_ns("shmconf_rollbacks_refused_total", "counter",
         "Rollback requests refused (the target is not retained)",
         [&](const NamespaceSample& s, const PerNamespace& p) {
           e.sample("shmconf_rollbacks_refused_total", ns_label(s.name),
                    static_cast<double>(p.rollbacks_refused));
         });
}

// The live snapshot and the sources it came from.
void DaemonMetrics::render_snapshots(Exposition& e,
                                     const std::vector<NamespaceSample>& namespaces) const {
  auto per_ns = [&](const char* name, const char* type, const char* help, auto value) {
    per_namespace(e, namespaces, name, type, help, value);
  };
  per_ns("shmconf_live_version", "gauge", "Version id of the live snapshot (0: none)",
         [&](const NamespaceSample& s, const PerNamespace&) {
           e.sample("shmconf_live_version", ns_label(s.name), static_cast<double>(s.live_version));
         });
  per_ns("shmconf_generation", "gauge",
         "Generation of the control block (bumped by every publish and rollback)",
         [&](const NamespaceSample& s, const PerNamespace&) {
           e.sample("shmconf_generation", ns_label(s.name), static_cast<double>(s.generation));
         });
  per_ns("shmconf_snapshot_info", "gauge", "The live snapshot's content hash, as a label",
         [&](const NamespaceSample& s, const PerNamespace&) {
           if (s.live) {
             e.sample("shmconf_snapshot_info",
                      with(with(ns_label(s.name), "content_hash", s.content_hash), "version",
                           std::to_string(s.live_version)),
                      1);
           }
         });
  per_ns("shmconf_snapshot_bytes", "gauge", "Size of the live snapshot's segment",
         [&](const NamespaceSample& s, const PerNamespace&) {
           e.sample("shmconf_snapshot_bytes", ns_label(s.name),
                    static_cast<double>(s.snapshot_bytes));
         });
  per_ns("shmconf_snapshot_keys", "gauge", "Keys (tree nodes below the root) in the live snapshot",
         [&](const NamespaceSample& s, const PerNamespace&) {
           e.sample("shmconf_snapshot_keys", ns_label(s.name),
                    static_cast<double>(s.snapshot_keys));
         });
  per_ns("shmconf_retained_versions", "gauge",
         "Versions retained for rollback, the live one included",
         [&](const NamespaceSample& s, const PerNamespace&) {
           e.sample("shmconf_retained_versions", ns_label(s.name), static_cast<double>(s.retained));
         });
  per_ns("shmconf_readers", "gauge",
         "Live processes in the reader registry, by the version they serve (0: attached, "
         "nothing read yet)",
         [&](const NamespaceSample& s, const PerNamespace&) {
           for (const auto& [version, count] : s.readers_by_version) {
             e.sample("shmconf_readers", with(ns_label(s.name), "version", std::to_string(version)),
                      static_cast<double>(count));
           }
         });
  per_ns("shmconf_source_up", "gauge", "1 when the source was readable at the last reload attempt",
         [&](const NamespaceSample& s, const PerNamespace&) {
           for (const SourceHealth& src : s.sources) {
             e.sample("shmconf_source_up", with(ns_label(s.name), "source", src.name),
                      src.ok ? 1 : 0);
           }
         });
}

// Freshness, drift and the /healthz verdict.
void DaemonMetrics::render_health(Exposition& e,
                                  const std::vector<NamespaceSample>& namespaces) const {
  auto per_ns = [&](const char* name, const char* type, const char* help, auto value) {
    per_namespace(e, namespaces, name, type, help, value);
  };
  per_ns("shmconf_last_success_timestamp_seconds", "gauge",
         "Unix time of the last successful reload (absent before the first one)",
         [&](const NamespaceSample& s, const PerNamespace& p) {
           if (p.last_success_ns != 0) {
             e.sample("shmconf_last_success_timestamp_seconds", ns_label(s.name),
                      static_cast<double>(p.last_success_ns) / 1e9);
           }
         });
  per_ns("shmconf_config_drift", "gauge",
         "1 when what the sources hold now (the last reload attempt) is not the live content: a "
         "rejected edit, or a rollback",
         [&](const NamespaceSample& s, const PerNamespace& p) {
           bool drift = false;
           if (p.attempted) {
             drift = p.last_attempt_hash == 0 ? !p.last_ok
                                              : p.last_attempt_hash != s.content_hash_value;
           }
           e.sample("shmconf_config_drift", ns_label(s.name), drift ? 1 : 0);
         });
  per_ns("shmconf_healthy", "gauge", "1 when the namespace passes the /healthz checks",
         [&](const NamespaceSample& s, const PerNamespace&) {
           e.sample("shmconf_healthy", ns_label(s.name), namespace_health(s).ok ? 1 : 0);
         });
}

// etcd sources: the revision each watcher's copy is at and its connection.
void DaemonMetrics::render_remotes(Exposition& e, const std::vector<NamespaceSample>& namespaces) {
  auto each = [&](const char* name, const char* type, const char* help, auto value) {
    e.family(name, type, help);
    for (const NamespaceSample& s : namespaces) {
      for (const RemoteSample& r : s.remotes) {
        e.sample(name, with(ns_label(s.name), "source", r.name), value(r));
      }
    }
  };
  each("shmconf_etcd_revision", "gauge",
       "etcd store revision the source's copy is at (the last event or full read applied)",
       [](const RemoteSample& r) { return static_cast<double>(r.revision); });
  each("shmconf_etcd_connected", "gauge", "1 while the source's watch stream to etcd is up",
       [](const RemoteSample& r) { return r.connected ? 1.0 : 0.0; });
  each("shmconf_etcd_reconnects_total", "counter", "Watch streams lost and reconnected",
       [](const RemoteSample& r) { return static_cast<double>(r.reconnects); });
  each("shmconf_etcd_full_reads_total", "counter",
       "Full reads of the source (the first one, and after a compaction)",
       [](const RemoteSample& r) { return static_cast<double>(r.full_reads); });
  each("shmconf_etcd_events_total", "counter", "Watch events applied to the source's copy",
       [](const RemoteSample& r) { return static_cast<double>(r.events); });
}

// Daemon-wide: the control sockets, the watchers, the audit log.
void DaemonMetrics::render_daemon(Exposition& e, const DaemonSample& d) {
  e.family("shmconf_control_requests_total", "counter", "Control socket requests handled");
  e.sample("shmconf_control_requests_total", {}, static_cast<double>(d.control_requests));
  e.family("shmconf_control_errors_total", "counter",
           "Control socket requests that failed, by reason");
  e.sample("shmconf_control_errors_total", {{"reason", "bad_request"}},
           static_cast<double>(d.control_bad_requests));
  e.sample("shmconf_control_errors_total", {{"reason", "handler"}},
           static_cast<double>(d.control_handler_failures));
  e.sample("shmconf_control_errors_total", {{"reason", "too_many_connections"}},
           static_cast<double>(d.control_connections_rejected));
  e.family("shmconf_watcher_events_total", "counter",
           "Source watcher activity: reloads triggered, full rescans, inotify queue overflows, "
           "changes found by the stat() scan, failed watches, reloads held for a writer, "
           "writers that did not close in time");
  e.sample("shmconf_watcher_events_total", {{"event", "reload"}},
           static_cast<double>(d.watcher_reports));
  e.sample("shmconf_watcher_events_total", {{"event", "rescan"}},
           static_cast<double>(d.watcher_rescans));
  e.sample("shmconf_watcher_events_total", {{"event", "overflow"}},
           static_cast<double>(d.watcher_overflows));
  e.sample("shmconf_watcher_events_total", {{"event", "poll_change"}},
           static_cast<double>(d.watcher_poll_changes));
  e.sample("shmconf_watcher_events_total", {{"event", "watch_failure"}},
           static_cast<double>(d.watcher_failures));
  e.sample("shmconf_watcher_events_total", {{"event", "write_wait"}},
           static_cast<double>(d.watcher_write_waits));
  e.sample("shmconf_watcher_events_total", {{"event", "write_wait_timeout"}},
           static_cast<double>(d.watcher_write_wait_timeouts));
  e.family("shmconf_watcher_watches", "gauge", "Directories watched with inotify");
  e.sample("shmconf_watcher_watches", {}, static_cast<double>(d.watcher_watches));
  e.family("shmconf_audit_failures_total", "counter",
           "Audit log records that could not be written");
  e.sample("shmconf_audit_failures_total", {}, static_cast<double>(d.audit_failures));
}

}  // namespace shmconf::daemon::ops
