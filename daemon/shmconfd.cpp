// shmconfd — the shmconf loader daemon.
//
// Runs in the foreground, logs to stderr (the journal under systemd), and
// serves one or more namespaces: for each, reads its sources, publishes
// snapshots into shared memory, watches the sources, and answers its
// control socket (<socket_dir>/<namespace>.sock).
//
// One namespace from the command line (--name, --source ...), or several
// from the daemon configuration file (--config FILE, default
// /etc/shmconf/shmconfd.yaml when --name is not given; docs/CONFIG.md).
//
// Signals: SIGHUP reloads every namespace; SIGUSR1 reopens the audit log
// (after logrotate's rename); SIGTERM and SIGINT exit and remove nothing,
// so clients keep reading the last published snapshot.
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/daemon_config.hpp"
#include "control/audit_log.hpp"
#include "control/auth.hpp"
#include "control/replies.hpp"
#include "control/server.hpp"
#include "core/namespace_service.hpp"
#include "log/log.hpp"
#include "ops/http_server.hpp"
#include "ops/metrics.hpp"
#include "parse/parse.hpp"
#include "shmconf/client.hpp"
#include "watch/file_watcher.hpp"

namespace sd = shmconf::daemon;

namespace {

// Daemon-wide settings, from the command line and the configuration file.
struct Flags {
  std::string config;
  std::string name;
  std::vector<std::string> sources;
  std::string schema;                       // JSON Schema file, "" = none
  std::string plaintext_secrets = "error";  // error|warn|allow
  std::string state_dir;
  std::string socket;
  std::string prefix;
  unsigned keep = 8;
  std::string mode = "0644";
  std::string group;
  std::string admin_group;
  std::string audit_log;
  unsigned debounce_ms = 100;
  unsigned poll_ms = 2000;
  bool no_watch = false;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::string metrics_listen;  // "" = no HTTP listener
  bool metrics_listen_any = false;
};

std::string default_socket_dir() {
  if (const char* r = std::getenv("RUNTIME_DIRECTORY"); r && *r) return r;
  return "/run/shmconf";
}

std::string default_socket(const std::string& name) {
  if (const char* s = std::getenv("SHMCONF_SOCKET"); s && *s) return s;
  return default_socket_dir() + "/" + name + ".sock";
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// One served namespace: its pipeline, control socket and watches.
struct Unit {
  explicit Unit(sd::ServiceOptions opts, std::string socket_path)
      : service(std::move(opts)), socket(std::move(socket_path)) {}
  sd::NamespaceService service;
  std::string socket;  // "" = none
  std::unique_ptr<sd::ControlServer> control;
  std::unique_ptr<sd::FileWatcher> watcher;
  const std::string& name() const { return service.options().name; }
};

struct Setup {
  std::vector<std::pair<sd::ServiceOptions, std::string>> namespaces;  // options, socket
  std::optional<gid_t> admin_gid;
};

class Daemon {
 public:
  Daemon(const Flags& f, Setup setup) : flags_(f), audit_(f.audit_log) {
    policy_.admin_gid = setup.admin_gid;
    for (auto& [opts, socket] : setup.namespaces) {
      units_.push_back(std::make_unique<Unit>(std::move(opts), std::move(socket)));
    }
  }

  int run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sigfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ::signal(SIGPIPE, SIG_IGN);

    for (auto& u : units_) u->service.start();

    // The control sockets and the watches exist before READY=1: systemd
    // starts `shmconfctl` (ExecReload=, units ordered After=) as soon as we
    // say ready, and an edit made during the startup reload must not be lost.
    for (auto& u : units_) {
      Unit* unit = u.get();
      if (!unit->socket.empty()) {
        unit->control = std::make_unique<sd::ControlServer>(
            unit->socket, policy_.admin_gid,
            [this, unit](const nlohmann::json& req, const sd::Peer& peer) {
              return handle(*unit, req, peer);
            });
        sd::ops::log_info("control socket", {{"namespace", unit->name()}, {"path", unit->socket}});
      }
      if (!flags_.no_watch) {
        sd::FileWatcher::Options wo;
        wo.debounce = std::chrono::milliseconds(flags_.debounce_ms);
        wo.poll_interval = std::chrono::milliseconds(flags_.poll_ms);
        unit->watcher =
            std::make_unique<sd::FileWatcher>(sd::watch_paths(unit->service.options()), wo);
      }
    }

    refresh_metrics();
    if (!flags_.metrics_listen.empty()) {
      const auto [host, port] =
          sd::ops::parse_listen_address(flags_.metrics_listen, flags_.metrics_listen_any);
      http_ = std::make_unique<sd::ops::MetricsHttpServer>(
          host, port, [this] { return metrics_.scrape(); },
          [this] {
            const sd::ops::Health h = metrics_.health();
            return std::make_pair(h.ok, h.reason);
          });
      sd::ops::log_info("metrics listener", {{"address", http_->address()}});
    }

    if (all_live()) notify_ready();  // restored or adopted: serve it now
    for (auto& u : units_) apply(*u, u->service.reload("startup"), "startup", nullptr);
    notify_ready();
    commit();
    std::uint64_t watchdog_usec = 0;
    const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    auto next_watchdog = std::chrono::steady_clock::now();

    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({sigfd, POLLIN, 0});
      for (auto& u : units_) {
        if (u->watcher) fds.push_back({u->watcher->fd(), POLLIN, 0});
        if (u->control) u->control->fill_pollfds(fds);
      }
      auto now = std::chrono::steady_clock::now();
      std::optional<std::chrono::steady_clock::time_point> wake;
      for (auto& u : units_) {
        if (!u->watcher) continue;
        const auto d = u->watcher->deadline();
        if (d && (!wake || *d < *wake)) wake = d;
      }
      if (watchdog && (!wake || next_watchdog < *wake)) wake = next_watchdog;
      // Scrapes read a snapshot refreshed by this loop: at least once a second.
      if (http_ && (!wake || now + std::chrono::seconds(1) < *wake)) {
        wake = now + std::chrono::seconds(1);
      }
      int timeout = -1;
      if (wake) {
        timeout = static_cast<int>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now).count() + 1));
      }
      const int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR) {
        spdlog::critical("poll: {}", std::strerror(errno));
        commit();
        return 1;
      }
      now = std::chrono::steady_clock::now();
      if (watchdog && now >= next_watchdog) {
        sd_notify(0, "WATCHDOG=1");
        next_watchdog = now + std::chrono::microseconds(watchdog_usec / 2);
      }
      if (fds[0].revents & POLLIN) {
        signalfd_siginfo si{};
        while (::read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
          if (si.ssi_signo == SIGHUP) {
            for (auto& u : units_) reload_with_notify(*u, "sighup", nullptr);
          } else if (si.ssi_signo == SIGUSR1) {
            reopen_audit_log();
          } else {
            commit();
            sd::ops::log_info("exit (shared memory kept)",
                              {{"signal", si.ssi_signo}, {"namespaces", units_.size()}});
            sd_notify(0, "STOPPING=1");
            return 0;
          }
        }
      }
      for (auto& u : units_) {
        if (!u->watcher) continue;
        for (const pollfd& p : fds) {
          if (p.fd == u->watcher->fd() && (p.revents & POLLIN)) u->watcher->on_readable();
        }
        if (u->watcher->tick(now)) {
          apply(*u, u->service.reload("inotify"), "inotify", nullptr);
          u->watcher->rearm();
        }
      }
      for (auto& u : units_) {
        if (u->control) u->control->on_poll(fds);
      }
      // Every reply of this round is with the kernel: now the disk.
      commit();
      refresh_metrics();
    }
  }

 private:
  bool all_live() const {
    for (const auto& u : units_) {
      if (!u->service.has_live()) return false;
    }
    return true;
  }

  // READY=1 once every namespace has a live snapshot; STATUS= lists them.
  void notify_ready() {
    std::string status;
    for (const auto& u : units_) {
      status += (status.empty() ? "" : ", ") + u->name() + " " +
                (u->service.has_live() ? "version " + std::to_string(u->service.live_version())
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
  sd::ReloadOutcome reload_with_notify(Unit& u, const std::string& trigger, const sd::Peer* peer,
                                       bool force = false) {
    // Before the first publish we never said READY=1, and must not now: to
    // systemd a READY=1 while the unit is still starting means "started",
    // with nothing published. RELOADING=1 is only meaningful once running.
    if (all_live()) {
      const std::string reloading =
          "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec());
      sd_notify(0, reloading.c_str());
    }
    auto out = u.service.reload(trigger, force);
    apply(u, out, force ? trigger + " --force" : trigger, peer);
    notify_ready();  // ends the reload (or, on a first publish, the start)
    return out;
  }

  // Renders the metrics of every namespace for the next scrape.
  void refresh_metrics() {
    std::vector<sd::ops::NamespaceSample> samples;
    sd::ops::DaemonSample d;
    for (const auto& u : units_) {
      samples.push_back(sd::ops::sample_namespace(u->service));
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
        d.watcher_watches += w.watches;
      }
    }
    d.audit_failures = audit_failures_;
    metrics_.refresh(samples, d);
  }

  // Audits a finished reload/rollback/override and updates STATUS=.
  void apply(Unit& u, const sd::ReloadOutcome& out, const std::string& what, const sd::Peer* peer) {
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
    rec["who"] = peer ? sd::peer_to_json(*peer) : nlohmann::json{{"trigger", what}};
    if (!out.ok) rec["error"] = out.error;
    auto keys = nlohmann::json::array();
    for (const auto& c : out.changes) {
      if (keys.size() >= 1000) break;
      keys.push_back(c.key);
    }
    rec["changed_keys"] = keys;
    audit(rec);
    if (out.published) notify_ready();
  }

  // Audit records wait for commit(): the reply goes out first.
  void audit(nlohmann::json rec) { pending_audit_.push_back(std::move(rec)); }

  // What follows the replies of one round of the loop, in this order: the
  // state directory of every namespace (flush_state()), then the audit
  // records, so a record in the audit log means its change is on disk. A
  // full disk must not take the daemon down: the publish already happened,
  // so a failure is logged and counted, never thrown.
  void commit() {
    for (auto& u : units_) {
      if (const auto seconds = u->service.flush_state())
        metrics_.observe_persist(u->name(), *seconds);
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

  void reopen_audit_log() {
    if (!audit_.enabled()) return;
    try {
      audit_.reopen();
      sd::ops::log_info("audit log reopened", {{"path", audit_.path()}});
    } catch (const std::exception& e) {
      ++audit_failures_;
      spdlog::error("audit log: cannot reopen ({}); still writing the old file", e.what());
    }
  }

  nlohmann::json refuse_unauthorized(Unit& u, const std::string& cmd, const sd::Peer& peer) {
    // Same keys as every other record, so a reader needs no special case.
    audit({{"namespace", u.name()},
           {"what", cmd},
           {"ok", false},
           {"who", sd::peer_to_json(peer)},
           {"error", "unauthorized"},
           {"from_version", u.service.live_version()},
           {"to_version", u.service.live_version()},
           {"changed_keys", nlohmann::json::array()}});
    return {{"ok", false},
            {"code", "unauthorized"},
            {"error", "'" + cmd + "' needs root, the daemon's user or the admin group (uid " +
                          std::to_string(peer.uid) + " is none of these)"}};
  }

  nlohmann::json handle(Unit& u, const nlohmann::json& req, const sd::Peer& peer) {
    try {
      return dispatch(u, req, peer);
    } catch (const nlohmann::json::exception& e) {
      // A missing or mistyped request field.
      return {{"ok", false}, {"code", "bad_request"}, {"error", e.what()}};
    }
  }

  nlohmann::json dispatch(Unit& u, const nlohmann::json& req, const sd::Peer& peer) {
    sd::NamespaceService& service = u.service;
    const std::string cmd = req.at("cmd").get<std::string>();
    if (sd::is_mutating_command(cmd) && !sd::is_authorized(peer, policy_)) {
      return refuse_unauthorized(u, cmd, peer);
    }
    const std::string who = "uid " + std::to_string(peer.uid) + " pid " + std::to_string(peer.pid);
    // Secrets in replies only for peers who could change them anyway.
    const bool show_secrets = req.value("show_secrets", false) && sd::is_authorized(peer, policy_);
    if (cmd == "status") {
      auto j = sd::status_json(service, show_secrets);
      j["ok"] = service.has_live();
      if (!service.has_live()) j["error"] = "no snapshot is live";
      refresh_metrics();
      const sd::ops::Health health = metrics_.namespace_health(sd::ops::sample_namespace(service));
      j["healthy"] = health.ok;
      j["health"] = health.reason;
      if (http_) j["metrics_listen"] = http_->address();
      j["pid"] = ::getpid();
      j["audit_failures"] = audit_failures_;
      return j;
    }
    if (cmd == "version") return {{"ok", true}, {"version", service.live_version()}};
    if (cmd == "metrics") {
      // Every namespace this daemon serves, as /metrics shows them.
      refresh_metrics();
      return {{"ok", true}, {"text", metrics_.scrape()}};
    }
    if (cmd == "explain") {
      // The layers as the sources hold them now (they may differ from the
      // live version: see "drift" in status).
      try {
        auto j = sd::explain_json(service.explain(req.at("key").get<std::string>()), show_secrets);
        j["ok"] = true;
        return j;
      } catch (const sd::ConfigError& e) {
        return {{"ok", false}, {"code", "source"}, {"error", e.what()}};
      }
    }
    if (cmd == "history") {
      auto j = sd::history_json(service);
      j["ok"] = true;
      return j;
    }
    if (cmd == "diff") {
      auto j = sd::diff_json(service, req.at("from").get<std::uint64_t>(),
                             req.at("to").get<std::uint64_t>(), show_secrets);
      j["ok"] = true;
      return j;
    }
    sd::ReloadOutcome out;
    if (cmd == "reload") {
      out = reload_with_notify(u, "control", &peer, req.value("force", false));
      return sd::outcome_json(out);
    }
    if (cmd == "rollback") {
      std::optional<unsigned> steps;
      std::optional<std::uint64_t> to;
      if (req.contains("to"))
        to = req["to"].get<std::uint64_t>();
      else if (req.contains("steps")) {
        const auto n = req["steps"].get<std::int64_t>();
        if (n < 1 || n > 100000) {
          return {{"ok", false}, {"code", "bad_request"}, {"error", "steps must be at least 1"}};
        }
        steps = static_cast<unsigned>(n);
      } else {
        steps = 1;
      }
      out = service.rollback(steps, to, who);
      apply(u, out, "rollback", &peer);
      return sd::outcome_json(out);
    }
    if (cmd == "set") {
      const std::string key = req.at("key").get<std::string>();
      sd::Value v = sd::parse_text("{\"v\":" + req.at("value").dump() + "}", sd::Format::kJson,
                                   "override", format_none(), service.options().limits)
                        .fields.at("v");
      out = service.set_override(key, v, who);
      apply(u, out, "set " + key, &peer);
      return sd::outcome_json(out);
    }
    if (cmd == "unset") {
      const std::string key = req.at("key").get<std::string>();
      out = service.unset_override(key, who);
      apply(u, out, "unset " + key, &peer);
      return sd::outcome_json(out);
    }
    return {{"ok", false}, {"code", "unknown_command"}, {"error", "unknown command '" + cmd + "'"}};
  }

  static std::uint32_t format_none() { return shmconf::format::kNoSource; }

  Flags flags_;
  std::vector<std::unique_ptr<Unit>> units_;
  sd::AuditLog audit_;
  std::vector<nlohmann::json> pending_audit_;  // written by commit()
  sd::AuthPolicy policy_;
  std::uint64_t audit_failures_ = 0;
  sd::ops::DaemonMetrics metrics_{SHMCONF_VERSION};
  std::unique_ptr<sd::ops::MetricsHttpServer> http_;  // after metrics_: destroyed first
};

std::optional<gid_t> group_or_throw(const std::string& name, const std::string& what) {
  if (name.empty()) return std::nullopt;
  auto gid = sd::lookup_group(name);
  if (!gid) throw std::invalid_argument(what + ": unknown group '" + name + "'");
  return gid;
}

std::string absolute_or_empty(const std::string& p) {
  return p.empty() ? "" : std::filesystem::absolute(p).lexically_normal().string();
}

// The control socket directory must exist; a daemon without one still serves.
std::string ensure_socket_dir(std::string socket) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(socket).parent_path(), ec);
  if (ec) {
    spdlog::warn("no control socket: cannot create the directory of {}: {}", socket, ec.message());
    return "";
  }
  return socket;
}

// One namespace from --name/--source and friends.
Setup setup_from_flags(Flags& f) {
  Setup s;
  sd::ServiceOptions opts;
  opts.name = f.name;
  opts.prefix = shmconf::resolve_prefix(f.prefix);
  for (const auto& src : f.sources) opts.sources.push_back(sd::file_source(absolute_or_empty(src)));
  opts.state_dir = absolute_or_empty(f.state_dir);
  opts.schema = absolute_or_empty(f.schema);
  opts.plaintext_secrets = f.plaintext_secrets == "allow"  ? sd::SecretPolicy::kAllow
                           : f.plaintext_secrets == "warn" ? sd::SecretPolicy::kWarn
                                                           : sd::SecretPolicy::kError;
  opts.keep = f.keep;
  opts.access.mode = static_cast<mode_t>(std::stoul(f.mode, nullptr, 8));
  if (opts.access.mode != 0644 && opts.access.mode != 0640 && opts.access.mode != 0600) {
    throw std::invalid_argument("--mode must be 0644, 0640 or 0600");
  }
  opts.access.group = group_or_throw(f.group, "--group");
  std::string socket = f.socket;
  if (socket.empty()) {
    socket = ensure_socket_dir(default_socket(f.name));
  } else if (socket == "none") {
    socket.clear();
  }
  s.namespaces.emplace_back(std::move(opts), socket);
  s.admin_gid = group_or_throw(f.admin_group, "--admin-group");
  return s;
}

// Every namespace of the configuration file. Command-line flags that were
// given explicitly override the file's daemon-wide settings.
Setup setup_from_config(Flags& f, const CLI::App& app) {
  const sd::DaemonConfig c = sd::load_daemon_config(f.config);
  auto given = [&](const char* flag) { return app.get_option(flag)->count() > 0; };
  if (!given("--prefix")) f.prefix = c.prefix;
  // Under systemd, StateDirectory= and LogsDirectory= are the defaults.
  const char* state_env = std::getenv("STATE_DIRECTORY");
  const char* logs_env = std::getenv("LOGS_DIRECTORY");
  if (!given("--state-dir")) f.state_dir = c.state_dir;
  const bool state_from_env = f.state_dir.empty() && state_env && *state_env;
  if (state_from_env) f.state_dir = state_env;
  if (!given("--audit-log") && !c.audit_log.empty()) f.audit_log = c.audit_log;
  if (f.audit_log.empty() && logs_env && *logs_env)
    f.audit_log = std::string(logs_env) + "/audit.log";
  if (!given("--admin-group") && !c.admin_group.empty()) f.admin_group = c.admin_group;
  if (!given("--debounce-ms") && c.debounce_ms) f.debounce_ms = *c.debounce_ms;
  if (!given("--poll-ms") && c.poll_ms) f.poll_ms = *c.poll_ms;
  if (!given("--no-watch") && c.watch) f.no_watch = !*c.watch;
  if (!given("--log-level") && !c.log_level.empty()) f.log_level = c.log_level;
  if (!given("--log-format") && !c.log_format.empty()) f.log_format = c.log_format;
  sd::ops::init_logging(sd::ops::parse_log_format(f.log_format), sd::ops::stderr_is_journal(),
                        spdlog::level::from_str(f.log_level));
  if (!given("--metrics-listen") && !c.metrics_listen.empty()) {
    f.metrics_listen = c.metrics_listen;
    (void)sd::ops::parse_listen_address(f.metrics_listen, f.metrics_listen_any);  // or throws
  }
  std::string socket_dir = c.socket_dir.empty() ? default_socket_dir() : c.socket_dir;
  if (given("--socket")) {
    if (f.socket != "none")
      throw std::invalid_argument("with --config, --socket takes only 'none'");
    socket_dir.clear();
  }
  Setup s;
  const std::string prefix = shmconf::resolve_prefix(f.prefix);
  for (const sd::NamespaceConfig& ns : c.namespaces) {
    sd::ServiceOptions opts = ns.options;
    opts.prefix = prefix;
    if (given("--state-dir") || (state_from_env && opts.state_dir.empty())) {
      opts.state_dir = absolute_or_empty(f.state_dir);
    }
    opts.access.group = group_or_throw(ns.group, "namespace " + opts.name);
    std::string socket;
    if (!socket_dir.empty()) socket = ensure_socket_dir(socket_dir + "/" + opts.name + ".sock");
    s.namespaces.emplace_back(std::move(opts), socket);
  }
  s.admin_gid = group_or_throw(f.admin_group, "admin_group");
  sd::ops::log_info("configuration", {{"path", c.path}, {"namespaces", c.namespaces.size()}});
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"shmconfd: publishes configuration into shared memory for libshmconf readers"};
  app.add_option("--config", f.config,
                 "Daemon configuration file declaring the namespaces (default " +
                     std::string(sd::kDefaultDaemonConfig) + " when --name is not given)");
  auto* name = app.add_option("--name", f.name, "Namespace to serve ([A-Za-z0-9_-], 1-64 chars)");
  auto* source = app.add_option("--source", f.sources,
                                "Source file (.yaml/.yml/.json/.toml); repeat, later wins");
  auto* schema =
      app.add_option("--schema", f.schema, "JSON Schema (draft 7) every version must satisfy");
  auto* secrets = app.add_option("--plaintext-secrets", f.plaintext_secrets,
                                 "A sensitive key holding a literal string: error, warn or allow")
                      ->check(CLI::IsMember({"error", "warn", "allow"}));
  app.add_option("--state-dir", f.state_dir,
                 "Directory for retained versions and history (with --config: the parent of one "
                 "directory per namespace)");
  app.add_option("--socket", f.socket,
                 "Control socket path (default $SHMCONF_SOCKET, $RUNTIME_DIRECTORY/NAME.sock or "
                 "/run/shmconf/NAME.sock; 'none' disables)");
  auto* keep = app.add_option("--keep", f.keep, "Earlier versions to retain beside the live one")
                   ->default_val(8)
                   ->check(CLI::Range(1u, 1000u));
  app.add_option("--prefix", f.prefix,
                 "Shared-memory object prefix (default $SHMCONF_PREFIX or shmconf)");
  auto* mode = app.add_option("--mode", f.mode,
                              "Mode of shared-memory objects: 0644, 0640 (with --group) or 0600")
                   ->default_val("0644");
  auto* group = app.add_option("--group", f.group,
                               "Group owning the shared-memory objects (with --mode 0640)");
  app.add_option("--admin-group", f.admin_group,
                 "Group allowed to reload, roll back, set and unset");
  app.add_option("--audit-log", f.audit_log, "Append-only audit log (JSON lines)");
  app.add_option("--debounce-ms", f.debounce_ms, "Quiet time after a file event before reloading")
      ->default_val(100);
  app.add_option("--poll-ms", f.poll_ms, "Fallback stat() scan period, 0 = off")->default_val(2000);
  app.add_flag("--no-watch", f.no_watch, "Do not watch the sources; reload on SIGHUP or request");
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error")->default_val("info");
  app.add_option("--log-format", f.log_format,
                 "logfmt (default) or json; under systemd each line starts with its journal "
                 "priority")
      ->default_val("logfmt")
      ->check(CLI::IsMember({"logfmt", "json"}));
  app.add_option("--metrics-listen", f.metrics_listen,
                 "Serve /metrics and /healthz over HTTP on HOST:PORT (loopback only unless "
                 "--metrics-listen-any), e.g. 127.0.0.1:9469");
  app.add_flag("--metrics-listen-any", f.metrics_listen_any,
               "Allow --metrics-listen on a non-loopback address (the endpoint has no "
               "authentication)");
  // One namespace from the command line, or the configuration file: not both.
  for (auto* o : {name, source, keep, mode, group, schema, secrets}) o->excludes("--config");
  name->needs(source);
  source->needs(name);
  CLI11_PARSE(app, argc, argv);

  // Under systemd the journal adds the time and takes the priority prefix.
  sd::ops::init_logging(sd::ops::parse_log_format(f.log_format), sd::ops::stderr_is_journal(),
                        spdlog::level::from_str(f.log_level));
  if (!f.metrics_listen.empty()) {
    try {
      (void)sd::ops::parse_listen_address(f.metrics_listen, f.metrics_listen_any);
    } catch (const std::invalid_argument& e) {
      std::cerr << "shmconfd: " << e.what() << "\n";
      return 2;
    }
  }

  if (f.name.empty() && f.config.empty()) {
    if (!std::filesystem::exists(sd::kDefaultDaemonConfig)) {
      std::cerr << "shmconfd: give --name NAME --source FILE..., or --config FILE (no "
                << sd::kDefaultDaemonConfig << ")\n";
      return 2;
    }
    f.config = sd::kDefaultDaemonConfig;
  }
  try {
    Setup setup = f.config.empty() ? setup_from_flags(f) : setup_from_config(f, app);
    Daemon d(f, std::move(setup));
    return d.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
