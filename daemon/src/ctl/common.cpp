#include "ctl/common.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>

#include "control/client.hpp"

namespace shmconf::daemon::ctl {

std::string ns_or_exit(const Args& a) {
  if (!a.name.empty()) return a.name;
  if (const char* n = std::getenv("SHMCONF_NAMESPACE"); n && *n) return n;
  std::cerr << "shmconfctl: --name is required (or set SHMCONF_NAMESPACE)\n";
  std::exit(kExitUsage);
}

std::string socket_path(const Args& a) {
  if (!a.socket.empty()) return a.socket;
  if (const char* s = std::getenv("SHMCONF_SOCKET"); s && *s) return s;
  return "/run/shmconf/" + ns_or_exit(a) + ".sock";
}

shmconf::Client open_client_or_exit(const Args& a) {
  shmconf::ClientOptions o;
  o.prefix = a.prefix;
  o.register_reader = false;  // a look, not a reader worth listing
  auto r = shmconf::Client::try_open(ns_or_exit(a), o);
  if (!r) {
    std::cerr << "shmconfctl: namespace '" << ns_or_exit(a)
              << "': " << shmconf::to_string(r.error()) << "\n";
    std::exit(kExitUnreachable);
  }
  return std::move(r).value();
}

shmconf::Snapshot live_snapshot_or_exit(const shmconf::Client& client) {
  auto snap = client.snapshot();
  if (snap.empty()) {
    std::cerr << "shmconfctl: nothing published yet";
    if (auto e = client.last_error(); !e.empty()) std::cerr << " (" << e << ")";
    std::cerr << "\n";
    std::exit(kExitFail);
  }
  return snap;
}

nlohmann::json call_or_exit(const Args& a, const nlohmann::json& request) {
  try {
    return control_call(socket_path(a), request, std::chrono::minutes(5));
  } catch (const std::exception& e) {
    std::cerr << "shmconfctl: " << e.what() << "\n";
    std::exit(kExitUnreachable);
  }
}

int finish(const Args& a, const nlohmann::json& reply) {
  const bool ok = reply.value("ok", false);
  if (a.json) {
    std::cout << reply.dump(2) << "\n";
  } else if (!ok) {
    std::cerr << "shmconfctl: " << reply.value("error", std::string("failed"));
    const std::string msg = reply.value("message", std::string());
    if (!msg.empty()) std::cerr << " (" << msg << ")";
    std::cerr << "\n";
  } else if (reply.contains("message")) {
    std::cout << reply["message"].get<std::string>() << "\n";
    if (reply.contains("changes")) {
      for (const auto& ch : reply["changes"]) {
        std::cout << "  " << ch.value("change", "") << " " << ch.value("key", "") << "\n";
      }
    }
  }
  return ok ? 0 : kExitFail;
}

std::string iso_time(std::uint64_t ns) {
  const std::time_t t = static_cast<std::time_t>(ns / 1000000000u);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<Args> each_namespace(const Args& a, DaemonConfig* config) {
  if (a.config.empty()) return {a};
  DaemonConfig d;
  try {
    d = load_daemon_config(a.config);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    std::exit(kExitFail);
  }
  std::string dir = d.socket_dir;
  if (dir.empty()) {
    const char* r = std::getenv("RUNTIME_DIRECTORY");
    dir = r && *r ? r : "/run/shmconf";
  }
  std::vector<Args> out;
  for (const auto& ns : d.namespaces) {
    if (!a.name.empty() && ns.options.name != a.name) continue;
    Args one = a;
    one.name = ns.options.name;
    if (a.socket.empty()) one.socket = dir + "/" + one.name + ".sock";
    if (a.prefix.empty()) one.prefix = d.prefix;
    out.push_back(std::move(one));
  }
  if (out.empty()) {
    std::cerr << "shmconfctl: " << a.config << " declares no namespace '" << a.name << "'\n";
    std::exit(kExitUsage);
  }
  if (config) *config = std::move(d);
  return out;
}

}  // namespace shmconf::daemon::ctl
