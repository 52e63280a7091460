#include "loop/daemon.hpp"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "control/audit_log.hpp"
#include "control/auth.hpp"
#include "control/commands.hpp"
#include "control/server.hpp"
#include "core/namespace_service.hpp"
#include "log/log.hpp"
#include "loop/etcd_sources.hpp"
#include "loop/poll_all.hpp"
#include "ops/http_server.hpp"
#include "ops/metrics.hpp"
#include "watch/file_watcher.hpp"

namespace shmconf::daemon {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

class Daemon;

// One served namespace: its pipeline, control socket and watches. It is
// the CommandHost of its control socket's commands.
class Unit : public CommandHost {
  // First, so it outlives the socket and the watches (destroyed first).
  Daemon& daemon_;
  NamespaceService service_;

 public:
  Unit(Daemon& daemon, ServiceOptions opts, std::string socket_path)
      : daemon_(daemon), service_(std::move(opts)), socket(std::move(socket_path)) {}

  NamespaceService& service() override { return service_; }
  const NamespaceService& service() const { return service_; }
  const std::string& name() const { return service_.options().name; }
  const AuthPolicy& policy() const override;
  ReloadOutcome reload(const std::string& trigger, const Peer& peer, bool force) override;
  void finished(const ReloadOutcome& out, const std::string& what, const Peer& peer) override;
  void refused(const std::string& cmd, const Peer& peer) override;
  void add_daemon_status(nlohmann::json& status) override;
  std::string metrics_text() override;

  std::string socket;  // "" = none
  std::unique_ptr<ControlServer> control;
  std::unique_ptr<FileWatcher> watcher;
  std::unique_ptr<EtcdSources> etcd;  // null without etcd sources
};

class Daemon {
 public:
  Daemon(const DaemonFlags& f, Setup setup, const std::string& version)
      : flags_(f), audit_(f.audit_log), metrics_(version) {
    policy_.admin_gid = setup.admin_gid;
    for (auto& [opts, socket] : setup.namespaces) {
      units_.push_back(std::make_unique<Unit>(*this, std::move(opts), std::move(socket)));
    }
  }

  int run();

  // For the units (CommandHost).
  const AuthPolicy& policy() const { return policy_; }
  ReloadOutcome reload_with_notify(Unit& u, const std::string& trigger, const Peer* peer,
                                   bool force = false);
  void apply(Unit& u, const ReloadOutcome& out, const std::string& what, const Peer* peer);
  void audit(nlohmann::json rec) { pending_audit_.push_back(std::move(rec)); }
  void add_daemon_status(Unit& u, nlohmann::json& status);
  std::string metrics_text() {
    refresh_metrics();
    return metrics_.scrape();
  }

 private:
  void open_endpoints();
  void start_metrics_http();
  std::vector<pollfd> poll_set(int sigfd) const;
  int poll_timeout(Clock::time_point now) const;
  std::optional<int> on_signals(int sigfd);
  void on_watchers(const std::vector<pollfd>& fds, Clock::time_point now);
  bool all_live() const;
  void notify_ready();
  void refresh_metrics();
  void commit();
  void reopen_audit_log();

  DaemonFlags flags_;
  std::vector<std::unique_ptr<Unit>> units_;
  AuditLog audit_;
  std::vector<nlohmann::json> pending_audit_;  // written by commit()
  AuthPolicy policy_;
  std::uint64_t audit_failures_ = 0;
  ops::DaemonMetrics metrics_;
  std::unique_ptr<ops::MetricsHttpServer> http_;  // after metrics_: destroyed first
  bool watchdog_ = false;
  std::uint64_t watchdog_usec_ = 0;
  Clock::time_point next_watchdog_ = Clock::now();
};

// ---- Unit: what the command table asks of the daemon ----------------------

const AuthPolicy& Unit::policy() const { return daemon_.policy(); }

ReloadOutcome Unit::reload(const std::string& trigger, const Peer& peer, bool force) {
  return daemon_.reload_with_notify(*this, trigger, &peer, force);
}

void Unit::finished(const ReloadOutcome& out, const std::string& what, const Peer& peer) {
  daemon_.apply(*this, out, what, &peer);
}

void Unit::refused(const std::string& cmd, const Peer& peer) {
  // Same keys as every other record, so a reader needs no special case.
  daemon_.audit({{"namespace", name()},
                 {"what", cmd},
                 {"ok", false},
                 {"who", peer_to_json(peer)},
                 {"error", "unauthorized"},
                 {"from_version", service_.live_version()},
                 {"to_version", service_.live_version()},
                 {"changed_keys", nlohmann::json::array()}});
}

void Unit::add_daemon_status(nlohmann::json& status) { daemon_.add_daemon_status(*this, status); }

std::string Unit::metrics_text() { return daemon_.metrics_text(); }

// ---- Daemon ----------------------------------------------------------------

int Daemon::run() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGUSR1);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sigfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);

  for (auto& u : units_) u->service().start();
  open_endpoints();
  refresh_metrics();
  start_metrics_http();

  if (all_live()) notify_ready();  // restored or adopted: serve it now
  for (auto& u : units_) apply(*u, u->service().reload("startup"), "startup", nullptr);
  notify_ready();
  commit();
  watchdog_ = sd_watchdog_enabled(0, &watchdog_usec_) > 0;
  next_watchdog_ = Clock::now();

  for (;;) {
    std::vector<pollfd> fds = poll_set(sigfd);
    const int n = poll_all(fds, poll_timeout(Clock::now()));
    if (n < 0 && errno != EINTR) {
      spdlog::critical("poll: {}", std::strerror(errno));
      commit();
      return 1;
    }
    const auto now = Clock::now();
    if (watchdog_ && now >= next_watchdog_) {
      sd_notify(0, "WATCHDOG=1");
      next_watchdog_ = now + std::chrono::microseconds(watchdog_usec_ / 2);
    }
    if (fds[0].revents & POLLIN) {
      if (const auto status = on_signals(sigfd)) return *status;
    }
    on_watchers(fds, now);
    for (auto& u : units_) {
      if (u->control) u->control->on_poll(fds);
    }
    // Every reply of this round is with the kernel: now the disk.
    commit();
    refresh_metrics();
  }
}

// The control sockets and the watches exist before READY=1: systemd starts
// `shmconfctl` (ExecReload=, units ordered After=) as soon as we say ready,
// and an edit made during the startup reload must not be lost.
void Daemon::open_endpoints() {
  for (auto& u : units_) {
    Unit* unit = u.get();
    if (!unit->socket.empty()) {
      unit->control = std::make_unique<ControlServer>(
          unit->socket, policy_.admin_gid, [unit](const nlohmann::json& req, const Peer& peer) {
            return run_command(*unit, req, peer);
          });
      ops::log_info("control socket", {{"namespace", unit->name()}, {"path", unit->socket}});
    }
    // etcd sources are read through their watchers even with --no-watch
    // (which then only stops their changes from triggering reloads).
    auto etcd = std::make_unique<EtcdSources>(unit->service());
    if (!etcd->empty()) unit->etcd = std::move(etcd);
    if (!flags_.no_watch) {
      FileWatcher::Options wo;
      wo.debounce = std::chrono::milliseconds(flags_.debounce_ms);
      wo.poll_interval = std::chrono::milliseconds(flags_.poll_ms);
      wo.write_wait = std::chrono::milliseconds(flags_.write_wait_ms);
      wo.name = unit->name();
      unit->watcher = std::make_unique<FileWatcher>(watch_paths(unit->service().options()), wo);
    }
  }
}

void Daemon::start_metrics_http() {
  if (flags_.metrics_listen.empty()) return;
  const auto [host, port] =
      ops::parse_listen_address(flags_.metrics_listen, flags_.metrics_listen_any);
  http_ = std::make_unique<ops::MetricsHttpServer>(
      host, port, [this] { return metrics_.scrape(); },
      [this] {
        const ops::Health h = metrics_.health();
        return std::make_pair(h.ok, h.reason);
      });
  ops::log_info("metrics listener", {{"address", http_->address()}});
}

std::vector<pollfd> Daemon::poll_set(int sigfd) const {
  std::vector<pollfd> fds;
  fds.push_back({sigfd, POLLIN, 0});
  for (const auto& u : units_) {
    if (u->watcher) fds.push_back({u->watcher->fd(), POLLIN, 0});
    if (u->etcd) u->etcd->fill_pollfds(fds);
    if (u->control) u->control->fill_pollfds(fds);
  }
  return fds;
}

// Until the next debounce deadline, watchdog ping or metrics refresh.
int Daemon::poll_timeout(Clock::time_point now) const {
  std::optional<Clock::time_point> wake;
  for (const auto& u : units_) {
    for (const auto d : {u->watcher ? u->watcher->deadline() : std::nullopt,
                         u->etcd ? u->etcd->deadline() : std::nullopt,
                         u->control ? u->control->accept_deadline() : std::nullopt,
                         u->service().state_retry_at()}) {
      if (d && (!wake || *d < *wake)) wake = d;
    }
  }
  if (watchdog_ && (!wake || next_watchdog_ < *wake)) wake = next_watchdog_;
  // Scrapes read a snapshot refreshed by this loop: at least once a second.
  if (http_ && (!wake || now + std::chrono::seconds(1) < *wake)) {
    wake = now + std::chrono::seconds(1);
  }
  if (!wake) return -1;
  return static_cast<int>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now).count() + 1));
}

// Returns the exit status when a signal asks the daemon to stop.
std::optional<int> Daemon::on_signals(int sigfd) {
  signalfd_siginfo si{};
  while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGHUP) {
      for (auto& u : units_) reload_with_notify(*u, "sighup", nullptr);
    } else if (si.ssi_signo == SIGUSR1) {
      reopen_audit_log();
    } else {
      commit();
      ops::log_info("exit (shared memory kept)",
                    {{"signal", si.ssi_signo}, {"namespaces", units_.size()}});
      sd_notify(0, "STOPPING=1");
      return 0;
    }
  }
  return std::nullopt;
}

void Daemon::on_watchers(const std::vector<pollfd>& fds, Clock::time_point now) {
  for (auto& u : units_) {
    if (u->etcd) {
      u->etcd->on_poll(fds, now);
      if (u->etcd->tick(now) && !flags_.no_watch) {
        apply(*u, u->service().reload("etcd"), "etcd", nullptr);
      }
    }
    if (!u->watcher) continue;
    for (const pollfd& p : fds) {
      if (p.fd == u->watcher->fd() && (p.revents & POLLIN)) u->watcher->on_readable();
    }
    if (u->watcher->tick(now)) {
      apply(*u, u->service().reload("inotify"), "inotify", nullptr);
      u->watcher->rearm();
    }
  }
}

bool Daemon::all_live() const {
  for (const auto& u : units_) {
    if (!u->service().has_live()) return false;
  }
  return true;
}

// READY=1 once every namespace has a live snapshot; STATUS= lists them.
void Daemon::notify_ready() {
  std::string status;
  for (const auto& u : units_) {
    status += (status.empty() ? "" : ", ") + u->name() + " " +
              (u->service().has_live() ? "version " + std::to_string(u->service().live_version())
                                       : std::string("waiting for a valid configuration"));
  }
  if (!all_live()) {
    // Still "activating" to systemd; say why, and keep waiting for a fix.
    sd_notify(0, ("STATUS=not serving yet: " + status).c_str());
    return;
  }
  sd_notify(0, ("READY=1\nSTATUS=serving " + status).c_str());
}

// `force` skips the guards for this reload (an authorised request only).
ReloadOutcome Daemon::reload_with_notify(Unit& u, const std::string& trigger, const Peer* peer,
                                         bool force) {
  // Before the first publish we never said READY=1, and must not now: to
  // systemd a READY=1 while the unit is still starting means "started",
  // with nothing published. RELOADING=1 is only meaningful once running.
  if (all_live()) {
    const std::string reloading = "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec());
    sd_notify(0, reloading.c_str());
  }
  auto out = u.service().reload(trigger, force);
  apply(u, out, force ? trigger + " --force" : trigger, peer);
  notify_ready();  // ends the reload (or, on a first publish, the start)
  return out;
}

// Renders the metrics of every namespace for the next scrape.
void Daemon::refresh_metrics() {
  std::vector<ops::NamespaceSample> samples;
  ops::DaemonSample d;
  for (const auto& u : units_) {
    samples.push_back(ops::sample_namespace(u->service()));
    if (u->etcd) samples.back().remotes = u->etcd->samples();
    if (u->control) {
      const auto& c = u->control->stats();
      d.control_requests += c.requests;
      d.control_bad_requests += c.bad_requests;
      d.control_handler_failures += c.handler_failures;
      d.control_connections_rejected += c.rejected;
    }
    if (u->watcher) {
      const auto& w = u->watcher->stats();
      d.watcher_reports += w.reports;
      d.watcher_rescans += w.rescans;
      d.watcher_overflows += w.overflows;
      d.watcher_poll_changes += w.poll_changes;
      d.watcher_failures += w.watch_failures;
      d.watcher_write_waits += w.write_waits;
      d.watcher_write_wait_timeouts += w.write_wait_timeouts;
      d.watcher_watches += w.watches;
    }
  }
  d.audit_failures = audit_failures_;
  metrics_.refresh(samples, d);
}

void Daemon::add_daemon_status(Unit& u, nlohmann::json& j) {
  refresh_metrics();
  ops::NamespaceSample sample = ops::sample_namespace(u.service());
  if (u.etcd) sample.remotes = u.etcd->samples();
  const ops::Health health = metrics_.namespace_health(sample);
  j["healthy"] = health.ok;
  j["degraded"] = health.degraded;
  j["health"] = health.reason;
  if (u.etcd) {
    auto etcd = nlohmann::json::array();
    for (const ops::RemoteSample& r : sample.remotes) {
      etcd.push_back({{"source", r.name},
                      {"connected", r.connected},
                      {"loaded", r.loaded},
                      {"revision", r.revision},
                      {"endpoint", r.endpoint},
                      {"error", r.error},
                      {"reconnects", r.reconnects},
                      {"full_reads", r.full_reads}});
    }
    j["etcd"] = std::move(etcd);
  }
  if (http_) j["metrics_listen"] = http_->address();
  j["pid"] = ::getpid();
  j["audit_failures"] = audit_failures_;
}

// Counts a finished reload, rollback or override, queues its audit record
// and updates STATUS=.
void Daemon::apply(Unit& u, const ReloadOutcome& out, const std::string& what, const Peer* peer) {
  if (what == "rollback") {
    metrics_.observe_rollback(u.name(), out);
  } else {
    metrics_.observe_reload(u.name(), out);
  }
  if (!out.published && out.ok) return;  // unchanged: nothing to audit
  nlohmann::json rec = {{"namespace", u.name()},
                        {"what", what},
                        {"ok", out.ok},
                        {"from_version", out.from_version},
                        {"to_version", out.version}};
  rec["who"] = peer ? peer_to_json(*peer) : nlohmann::json{{"trigger", what}};
  if (!out.ok) rec["error"] = out.error;
  auto keys = nlohmann::json::array();
  for (const auto& c : out.changes) {
    if (keys.size() >= 1000) break;
    keys.push_back(c.key);
  }
  rec["changed_keys"] = keys;
  audit(std::move(rec));
  if (out.published) notify_ready();
}

// What follows the replies of one round of the loop, in this order: the
// state directory of every namespace (flush_state()), then the audit
// records, so a record in the audit log means its change is on disk. A
// full disk must not take the daemon down: the publish already happened,
// so a failure is logged and counted, never thrown.
void Daemon::commit() {
  for (auto& u : units_) {
    if (const auto seconds = u->service().flush_state()) {
      metrics_.observe_persist(u->name(), *seconds);
    }
  }
  for (const nlohmann::json& rec : pending_audit_) {
    try {
      audit_.append(rec);
    } catch (const std::exception& e) {
      ++audit_failures_;
      spdlog::error("audit log: cannot append ({}); record was {}", e.what(), rec.dump());
    }
  }
  pending_audit_.clear();
}

void Daemon::reopen_audit_log() {
  if (!audit_.enabled()) return;
  try {
    audit_.reopen();
    ops::log_info("audit log reopened", {{"path", audit_.path()}});
  } catch (const std::exception& e) {
    ++audit_failures_;
    spdlog::error("audit log: cannot reopen ({}); still writing the old file", e.what());
  }
}

}  // namespace

int run_daemon(const DaemonFlags& flags, Setup setup, const std::string& version) {
  Daemon d(flags, std::move(setup), version);
  return d.run();
}

}  // namespace shmconf::daemon
