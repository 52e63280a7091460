// shmconfd — the shmconf loader daemon.
//
// Runs in the foreground, logs to stderr (the journal under systemd), and
// serves one namespace: reads its sources, publishes snapshots into shared
// memory, watches the sources, and answers the control socket.
//
// Signals: SIGHUP reloads; SIGTERM and SIGINT exit and remove nothing, so
// clients keep reading the last published snapshot.
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

#include "control/audit_log.hpp"
#include "control/auth.hpp"
#include "control/server.hpp"
#include "core/namespace_service.hpp"
#include "parse/parse.hpp"
#include "shmconf/client.hpp"
#include "watch/file_watcher.hpp"

namespace sd = shmconf::daemon;

namespace {

struct Flags {
  std::string name;
  std::vector<std::string> sources;
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
};

std::string default_socket(const std::string& name) {
  if (const char* s = std::getenv("SHMCONF_SOCKET"); s && *s) return s;
  if (const char* r = std::getenv("RUNTIME_DIRECTORY"); r && *r)
    return std::string(r) + "/" + name + ".sock";
  return "/run/shmconf/" + name + ".sock";
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

class Daemon {
 public:
  Daemon(const Flags& f, sd::ServiceOptions opts, std::optional<gid_t> admin_gid)
      : flags_(f), service_(std::move(opts)), audit_(f.audit_log) {
    policy_.admin_gid = admin_gid;
  }

  int run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sigfd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    ::signal(SIGPIPE, SIG_IGN);

    service_.start();

    // The control socket and the watches exist before READY=1: systemd
    // starts `shmconfctl` (ExecReload=, units ordered After=) as soon as we
    // say ready, and an edit made during the startup reload must not be lost.
    std::unique_ptr<sd::ControlServer> control;
    if (!flags_.socket.empty()) {
      control = std::make_unique<sd::ControlServer>(
          flags_.socket, policy_.admin_gid,
          [this](const nlohmann::json& req, const sd::Peer& peer) { return handle(req, peer); });
      spdlog::info("control socket {}", flags_.socket);
    }
    std::unique_ptr<sd::FileWatcher> watcher;
    if (!flags_.no_watch) {
      sd::FileWatcher::Options wo;
      wo.debounce = std::chrono::milliseconds(flags_.debounce_ms);
      wo.poll_interval = std::chrono::milliseconds(flags_.poll_ms);
      watcher = std::make_unique<sd::FileWatcher>(service_.options().sources, wo);
    }

    if (service_.has_live()) notify_ready();  // restored or adopted: serve it now
    const auto first = service_.reload("startup");
    apply(first, "startup", nullptr);
    notify_ready();
    if (!service_.has_live()) {
      // Still "activating" to systemd; say why, and keep waiting for a fix.
      const std::string status = "STATUS=no configuration published yet: " + first.error;
      sd_notify(0, status.c_str());
    }
    std::uint64_t watchdog_usec = 0;
    const bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    auto next_watchdog = std::chrono::steady_clock::now();

    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({sigfd, POLLIN, 0});
      if (watcher) fds.push_back({watcher->fd(), POLLIN, 0});
      if (control) control->fill_pollfds(fds);
      auto now = std::chrono::steady_clock::now();
      std::optional<std::chrono::steady_clock::time_point> wake;
      if (watcher) wake = watcher->deadline();
      if (watchdog && (!wake || next_watchdog < *wake)) wake = next_watchdog;
      int timeout = -1;
      if (wake) {
        timeout = static_cast<int>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now).count() + 1));
      }
      const int n = ::poll(fds.data(), fds.size(), timeout);
      if (n < 0 && errno != EINTR) {
        spdlog::critical("poll: {}", std::strerror(errno));
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
            reload_with_notify("sighup", nullptr);
          } else {
            spdlog::info("namespace={} event=exit signal={} live_version={} (shared memory kept)",
                         service_.options().name, si.ssi_signo, service_.live_version());
            sd_notify(0, "STOPPING=1");
            return 0;
          }
        }
      }
      if (watcher) {
        if (fds[1].revents & POLLIN) watcher->on_readable();
        if (watcher->tick(now)) {
          apply(service_.reload("inotify"), "inotify", nullptr);
          watcher->rearm();
        }
      }
      if (control) control->on_poll(fds);
    }
  }

 private:
  void notify_ready() {
    if (!service_.has_live()) return;
    const std::string msg = "READY=1\nSTATUS=serving " + service_.options().name + " version " +
                            std::to_string(service_.live_version());
    sd_notify(0, msg.c_str());
  }

  sd::ReloadOutcome reload_with_notify(const std::string& trigger, const sd::Peer* peer) {
    // Before the first publish we never said READY=1, and must not now: to
    // systemd a READY=1 while the unit is still starting means "started",
    // with nothing published. RELOADING=1 is only meaningful once running.
    const bool was_ready = service_.has_live();
    if (was_ready) {
      const std::string reloading =
          "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec());
      sd_notify(0, reloading.c_str());
    }
    auto out = service_.reload(trigger);
    apply(out, trigger, peer);
    if (service_.has_live()) {
      notify_ready();  // ends the reload (or, on a first publish, the start)
    } else {
      sd_notify(0, "STATUS=no configuration published yet");
    }
    return out;
  }

  // Audits a finished reload/rollback/override and updates STATUS=.
  void apply(const sd::ReloadOutcome& out, const std::string& what, const sd::Peer* peer) {
    if (!out.published && out.ok) return;  // unchanged: nothing to audit
    nlohmann::json rec = {{"what", what},
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

  // A full disk must not take the daemon down: the publish already
  // happened, so the failure is logged and counted, never thrown.
  void audit(const nlohmann::json& rec) {
    try {
      audit_.append(rec);
    } catch (const std::exception& e) {
      ++audit_failures_;
      spdlog::error("audit log: cannot append ({}); record was {}", e.what(), rec.dump());
    }
  }

  nlohmann::json refuse_unauthorized(const std::string& cmd, const sd::Peer& peer) {
    // Same keys as every other record, so a reader needs no special case.
    audit({{"what", cmd},
           {"ok", false},
           {"who", sd::peer_to_json(peer)},
           {"error", "unauthorized"},
           {"from_version", service_.live_version()},
           {"to_version", service_.live_version()},
           {"changed_keys", nlohmann::json::array()}});
    return {{"ok", false},
            {"code", "unauthorized"},
            {"error", "'" + cmd + "' needs root, the daemon's user or the admin group (uid " +
                          std::to_string(peer.uid) + " is none of these)"}};
  }

  nlohmann::json handle(const nlohmann::json& req, const sd::Peer& peer) {
    try {
      return dispatch(req, peer);
    } catch (const nlohmann::json::exception& e) {
      // A missing or mistyped request field.
      return {{"ok", false}, {"code", "bad_request"}, {"error", e.what()}};
    }
  }

  nlohmann::json dispatch(const nlohmann::json& req, const sd::Peer& peer) {
    const std::string cmd = req.at("cmd").get<std::string>();
    if (sd::is_mutating_command(cmd) && !sd::is_authorized(peer, policy_)) {
      return refuse_unauthorized(cmd, peer);
    }
    const std::string who = "uid " + std::to_string(peer.uid) + " pid " + std::to_string(peer.pid);
    if (cmd == "status") {
      auto j = service_.status();
      j["ok"] = service_.has_live();
      if (!service_.has_live()) j["error"] = "no snapshot is live";
      j["healthy"] = service_.has_live();
      j["pid"] = ::getpid();
      return j;
    }
    if (cmd == "version") return {{"ok", true}, {"version", service_.live_version()}};
    if (cmd == "history") {
      auto j = service_.history();
      j["ok"] = true;
      return j;
    }
    if (cmd == "diff") {
      auto j =
          service_.diff(req.at("from").get<std::uint64_t>(), req.at("to").get<std::uint64_t>());
      j["ok"] = true;
      return j;
    }
    sd::ReloadOutcome out;
    if (cmd == "reload") {
      out = reload_with_notify("control", &peer);
      return out.to_json();
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
      out = service_.rollback(steps, to, who);
      apply(out, "rollback", &peer);
      return out.to_json();
    }
    if (cmd == "set") {
      const std::string key = req.at("key").get<std::string>();
      sd::Value v = sd::parse_text("{\"v\":" + req.at("value").dump() + "}", sd::Format::kJson,
                                   "override", format_none(), service_.options().limits)
                        .fields.at("v");
      out = service_.set_override(key, v, who);
      apply(out, "set " + key, &peer);
      return out.to_json();
    }
    if (cmd == "unset") {
      const std::string key = req.at("key").get<std::string>();
      out = service_.unset_override(key, who);
      apply(out, "unset " + key, &peer);
      return out.to_json();
    }
    return {{"ok", false}, {"code", "unknown_command"}, {"error", "unknown command '" + cmd + "'"}};
  }

  static std::uint32_t format_none() { return shmconf::format::kNoSource; }

  Flags flags_;
  sd::NamespaceService service_;
  sd::AuditLog audit_;
  sd::AuthPolicy policy_;
  std::uint64_t audit_failures_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"shmconfd: publishes configuration into shared memory for libshmconf readers"};
  app.add_option("--name", f.name, "Namespace to serve ([A-Za-z0-9_-], 1-64 chars)")->required();
  app.add_option("--source", f.sources, "Source file (.yaml/.yml/.json/.toml); repeat, later wins")
      ->required();
  app.add_option("--state-dir", f.state_dir, "Directory for retained versions and history");
  app.add_option("--socket", f.socket,
                 "Control socket path (default $SHMCONF_SOCKET, $RUNTIME_DIRECTORY/NAME.sock or "
                 "/run/shmconf/NAME.sock; 'none' disables)");
  app.add_option("--keep", f.keep, "Earlier versions to retain beside the live one")
      ->default_val(8)
      ->check(CLI::Range(1u, 1000u));
  app.add_option("--prefix", f.prefix,
                 "Shared-memory object prefix (default $SHMCONF_PREFIX or shmconf)");
  app.add_option("--mode", f.mode,
                 "Mode of shared-memory objects: 0644, 0640 (with --group) or 0600")
      ->default_val("0644");
  app.add_option("--group", f.group, "Group owning the shared-memory objects (with --mode 0640)");
  app.add_option("--admin-group", f.admin_group,
                 "Group allowed to reload, roll back, set and unset");
  app.add_option("--audit-log", f.audit_log, "Append-only audit log (JSON lines)");
  app.add_option("--debounce-ms", f.debounce_ms, "Quiet time after a file event before reloading")
      ->default_val(100);
  app.add_option("--poll-ms", f.poll_ms, "Fallback stat() scan period, 0 = off")->default_val(2000);
  app.add_flag("--no-watch", f.no_watch, "Do not watch the sources; reload on SIGHUP or request");
  app.add_option("--log-level", f.log_level, "trace|debug|info|warn|error")->default_val("info");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_logger_st("shmconfd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  // Under systemd the journal adds the time; elsewhere we do.
  spdlog::set_pattern(std::getenv("JOURNAL_STREAM") ? "%l %v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");

  try {
    sd::ServiceOptions opts;
    opts.name = f.name;
    opts.prefix = shmconf::resolve_prefix(f.prefix);
    for (const auto& s : f.sources) opts.sources.push_back(std::filesystem::absolute(s).string());
    opts.state_dir = f.state_dir.empty() ? "" : std::filesystem::absolute(f.state_dir).string();
    opts.keep = f.keep;
    opts.access.mode = static_cast<mode_t>(std::stoul(f.mode, nullptr, 8));
    if (opts.access.mode != 0644 && opts.access.mode != 0640 && opts.access.mode != 0600) {
      throw std::invalid_argument("--mode must be 0644, 0640 or 0600");
    }
    if (!f.group.empty()) {
      opts.access.group = sd::lookup_group(f.group);
      if (!opts.access.group) throw std::invalid_argument("unknown group '" + f.group + "'");
    }
    std::optional<gid_t> admin;
    if (!f.admin_group.empty()) {
      admin = sd::lookup_group(f.admin_group);
      if (!admin) throw std::invalid_argument("unknown group '" + f.admin_group + "'");
    }
    if (f.socket.empty()) {
      f.socket = default_socket(f.name);
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(f.socket).parent_path(), ec);
      if (ec) {
        spdlog::warn("no control socket: cannot create {}: {}", f.socket, ec.message());
        f.socket.clear();
      }
    } else if (f.socket == "none") {
      f.socket.clear();
    }
    Daemon d(f, std::move(opts), admin);
    return d.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
