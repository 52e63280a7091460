// daemon/src/ops/metrics.cpp — DaemonMetrics' counting and health: reload,
// persist and rollback outcomes per namespace, each namespace's sample and
// health verdict, the snapshot refresh() swaps in and scrape() reads, and
// --metrics-listen parsing. The exposition text itself: metrics_render.cpp.
#include "ops/metrics.hpp"

#include <arpa/inet.h>

#include <stdexcept>

#include "ops/metrics_internal.hpp"
#include "publish/render.hpp"

namespace shmconf::daemon::ops {

using namespace metrics_internal;

namespace {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// A source is down when the last reload failed to read it: its name (or
// path) appears in the error of a "source" failure.
bool failed_to_read(const std::string& kind, const std::string& error, const std::string& source) {
  if (kind != "source") return false;
  const std::string path = source.starts_with("file:") ? source.substr(5) : source;
  return error.find(path) != std::string::npos;
}

}  // namespace

const std::vector<double>& reload_duration_buckets() {
  static const std::vector<double> b = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

NamespaceSample sample_namespace(const NamespaceService& svc) {
  NamespaceSample s;
  s.name = svc.options().name;
  s.generation = svc.generation();
  s.retained = svc.retained().size();
  if (const Segment* live = svc.live()) {
    const auto& h = live->view.header();
    s.live = true;
    s.live_version = svc.live_version();
    s.content_hash_value = h.content_hash;
    s.content_hash = hex64(h.content_hash);
    s.snapshot_bytes = h.segment_size;
    s.snapshot_keys = h.node_count > 0 ? h.node_count - 1 : 0;
  }
  for (const ReaderEntry& r : svc.readers().readers) ++s.readers_by_version[r.version];
  for (const auto& src : svc.source_status()) s.sources.push_back({src.name, src.ok, src.error});
  if (s.sources.empty()) {  // no reload has run yet: the configured sources, not yet judged
    for (const SourceSpec& spec : svc.options().sources) {
      s.sources.push_back({source_label(spec), true, ""});
    }
  }
  return s;
}

DaemonMetrics::DaemonMetrics(std::string version) : version_(std::move(version)) {
  current_ = std::make_shared<const MetricsSnapshot>();
}

const char* DaemonMetrics::reload_result(const ReloadOutcome& out) {
  if (!out.ok) return "rejected";
  return out.published ? "published" : "unchanged";
}

DaemonMetrics::PerNamespace& DaemonMetrics::slot(const std::string& ns) {
  auto it = ns_.find(ns);
  if (it == ns_.end()) {
    it = ns_.emplace(ns, PerNamespace{}).first;
    for (const char* r : kResults) it->second.reloads[r] = 0;
    for (const char* st : kStages) it->second.stages.emplace(st, reload_duration_buckets());
  }
  return it->second;
}

void DaemonMetrics::observe_reload(const std::string& ns, const ReloadOutcome& out) {
  PerNamespace& p = slot(ns);
  ++p.reloads[reload_result(out)];
  bool total_seen = false;
  for (const auto& [stage, seconds] : out.stages) {
    auto it = p.stages.find(stage);
    if (it == p.stages.end()) it = p.stages.emplace(stage, reload_duration_buckets()).first;
    it->second.observe(seconds);
    total_seen = total_seen || stage == "total";
  }
  if (!total_seen) p.stages.at("total").observe(out.duration_ms / 1000.0);
  if (!out.ok) {
    // No stages: the request failed before any reload ran (a bad override
    // key), which says nothing about the sources.
    const std::string kind = !out.error_kind.empty() ? out.error_kind
                             : out.stages.empty()    ? "request"
                                                     : "other";
    ++p.failures[kind];
    if (kind == "request") return;  // nothing was read: says nothing about the sources
    p.last_error_kind = kind;
    p.last_error = out.error;
  } else {
    p.last_success_ns = now_ns();
    p.last_error_kind.clear();
    p.last_error.clear();
  }
  p.attempted = true;
  p.last_ok = out.ok;
  p.last_attempt_hash = out.source_hash;
}

void DaemonMetrics::observe_persist(const std::string& ns, double seconds) {
  slot(ns).stages.at("persist").observe(seconds);
}

void DaemonMetrics::observe_rollback(const std::string& ns, const ReloadOutcome& out) {
  PerNamespace& p = slot(ns);
  if (out.ok) {
    ++p.rollbacks;
  } else {
    ++p.rollbacks_refused;
  }
}

Health DaemonMetrics::namespace_health(const NamespaceSample& s) const {
  if (!s.live) return {false, "namespace " + s.name + ": no snapshot is live"};
  const auto it = ns_.find(s.name);
  if (it != ns_.end() && it->second.attempted && !it->second.last_ok) {
    const PerNamespace& p = it->second;
    if ((p.last_error_kind == "source" && !p.last_error.starts_with("etcd:")) ||
        p.last_error_kind == "publish") {
      return {false, "namespace " + s.name + ": last reload failed (" + p.last_error_kind +
                         "): " + p.last_error};
    }
  }
  NamespaceSample judged = s;
  judge_sources(judged);
  for (const SourceHealth& src : judged.sources) {
    if (!src.ok && !src.name.starts_with("etcd:")) {
      return {false, "namespace " + s.name + ": source " + src.name + " unreachable: " + src.error};
    }
  }
  // etcd away: the last good version is served, so degraded, not down.
  for (const SourceHealth& src : judged.sources) {
    if (!src.ok) {
      return {true,
              "degraded: namespace " + s.name + ": source " + src.name +
                  " unreachable, serving version " + std::to_string(s.live_version) + ": " +
                  src.error,
              true};
    }
  }
  for (const RemoteSample& r : s.remotes) {
    if (!r.connected) {
      return {true,
              "degraded: namespace " + s.name + ": source " + r.name +
                  " disconnected, serving version " + std::to_string(s.live_version) +
                  " (etcd revision " + std::to_string(r.revision) + "): " + r.error,
              true};
    }
  }
  return {true, "ok"};
}

void DaemonMetrics::judge_sources(NamespaceSample& s) const {
  // Source health is reachability: a source that was read but failed to
  // parse or validate is up (the reload was rejected cleanly); one that
  // could not be read (kind "source") is down.
  const auto it = ns_.find(s.name);
  const bool unreachable =
      it != ns_.end() && !it->second.last_ok && it->second.last_error_kind == "source";
  for (SourceHealth& src : s.sources) {
    if (!src.ok && !unreachable) {
      src.ok = true;
      src.error.clear();
    } else if (src.ok && unreachable &&
               failed_to_read(it->second.last_error_kind, it->second.last_error, src.name)) {
      src.ok = false;
      src.error = it->second.last_error;
    }
  }
}

void DaemonMetrics::refresh(const std::vector<NamespaceSample>& namespaces,
                            const DaemonSample& daemon) {
  std::vector<NamespaceSample> samples = namespaces;
  for (NamespaceSample& s : samples) judge_sources(s);
  auto snap = std::make_shared<MetricsSnapshot>();
  snap->text = render(samples, daemon);
  snap->health = {true, "ok"};
  for (const NamespaceSample& s : samples) {
    const auto it = ns_.find(s.name);
    snap->last_success_ns.emplace_back(s.name, it == ns_.end() ? 0 : it->second.last_success_ns);
    Health h = namespace_health(s);
    if ((!h.ok && snap->health.ok) || (h.degraded && snap->health.ok && !snap->health.degraded)) {
      snap->health = h;
    }
  }
  if (samples.empty()) snap->health = {false, "no namespace is served"};
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(snap);
}

std::shared_ptr<const MetricsSnapshot> DaemonMetrics::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Health DaemonMetrics::health() const { return current()->health; }

std::string DaemonMetrics::scrape() const {
  const auto snap = current();
  Exposition e;
  e.family("shmconf_seconds_since_last_success", "gauge",
           "Seconds since the namespace's last successful reload, at scrape time (absent before "
           "the first one)");
  const std::uint64_t now = now_ns();
  for (const auto& [ns, t] : snap->last_success_ns) {
    if (t == 0) continue;
    e.sample("shmconf_seconds_since_last_success", ns_label(ns),
             now > t ? static_cast<double>(now - t) / 1e9 : 0.0);
  }
  return snap->text + e.text();
}

std::pair<std::string, int> parse_listen_address(const std::string& text, bool allow_any) {
  std::string host;
  std::string port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("--metrics-listen: expected [ADDRESS]:PORT, got '" + text + "'");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      throw std::invalid_argument("--metrics-listen: expected HOST:PORT, got '" + text + "'");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int p = -1;
  try {
    std::size_t used = 0;
    p = std::stoi(port, &used);
    if (used != port.size()) p = -1;
  } catch (const std::exception&) {
    p = -1;
  }
  if (p < 0 || p > 65535) {
    throw std::invalid_argument("--metrics-listen: bad port '" + port + "'");
  }
  if (host.empty()) throw std::invalid_argument("--metrics-listen: missing address");
  bool loopback = host == "localhost" || host == "::1";
  in_addr a4{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    loopback = (ntohl(a4.s_addr) >> 24) == 127;
  } else if (::inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    loopback = IN6_IS_ADDR_LOOPBACK(&a6);
  } else if (host != "localhost") {
    throw std::invalid_argument("--metrics-listen: '" + host +
                                "' is not an IP address (or localhost)");
  }
  if (!loopback && !allow_any) {
    throw std::invalid_argument("--metrics-listen: " + host +
                                " is not a loopback address; the metrics carry no "
                                "authentication, so add --metrics-listen-any to expose them");
  }
  return {host, p};
}

}  // namespace shmconf::daemon::ops
