#include "loop/setup.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "config/daemon_config.hpp"
#include "control/auth.hpp"
#include "log/log.hpp"
#include "ops/metrics.hpp"
#include "shmconf/client.hpp"
#include "sources/sealed.hpp"

namespace shmconf::daemon {
namespace {

std::string default_socket_dir() {
  if (const char* r = std::getenv("RUNTIME_DIRECTORY"); r && *r) return r;
  return "/run/shmconf";
}

std::string default_socket(const std::string& name) {
  if (const char* s = std::getenv("SHMCONF_SOCKET"); s && *s) return s;
  return default_socket_dir() + "/" + name + ".sock";
}

std::optional<gid_t> group_or_throw(const std::string& name, const std::string& what) {
  if (name.empty()) return std::nullopt;
  auto gid = lookup_group(name);
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

// The daemon-wide settings the file gives, unless the command line did.
void apply_file_settings(DaemonFlags& f, const DaemonConfig& c,
                         const std::function<bool(const char*)>& given) {
  if (!given("--prefix")) f.prefix = c.prefix;
  if (!given("--state-dir")) f.state_dir = c.state_dir;
  if (!given("--audit-log") && !c.audit_log.empty()) f.audit_log = c.audit_log;
  // Under systemd, LogsDirectory= is the default.
  const char* logs_env = std::getenv("LOGS_DIRECTORY");
  if (f.audit_log.empty() && logs_env && *logs_env) {
    f.audit_log = std::string(logs_env) + "/audit.log";
  }
  if (!given("--admin-group") && !c.admin_group.empty()) f.admin_group = c.admin_group;
  if (!given("--debounce-ms") && c.debounce_ms) f.debounce_ms = *c.debounce_ms;
  if (!given("--poll-ms") && c.poll_ms) f.poll_ms = *c.poll_ms;
  if (!given("--write-wait-ms") && c.write_wait_ms) f.write_wait_ms = *c.write_wait_ms;
  if (!given("--no-watch") && c.watch) f.no_watch = !*c.watch;
  if (!given("--log-level") && !c.log_level.empty()) f.log_level = c.log_level;
  if (!given("--log-format") && !c.log_format.empty()) f.log_format = c.log_format;
  ops::init_logging(ops::parse_log_format(f.log_format), ops::stderr_is_journal(),
                    spdlog::level::from_str(f.log_level));
  if (!given("--metrics-listen") && !c.metrics_listen.empty()) {
    f.metrics_listen = c.metrics_listen;
    (void)ops::parse_listen_address(f.metrics_listen, f.metrics_listen_any);  // or throws
  }
}

}  // namespace

Setup setup_from_flags(DaemonFlags& f) {
  Setup s;
  ServiceOptions opts;
  opts.name = f.name;
  opts.prefix = shmconf::resolve_prefix(f.prefix);
  for (const auto& src : f.sources) opts.sources.push_back(file_source(absolute_or_empty(src)));
  opts.state_dir = absolute_or_empty(f.state_dir);
  opts.schema = absolute_or_empty(f.schema);
  opts.plaintext_secrets = f.plaintext_secrets == "allow"  ? SecretPolicy::kAllow
                           : f.plaintext_secrets == "warn" ? SecretPolicy::kWarn
                                                           : SecretPolicy::kError;
  for (const std::string& k : f.sealing_keys)
    opts.sealing_keys.insert(sealed::parse_sealing_key_flag(k));
  opts.keep = f.keep;
  opts.access.mode = static_cast<mode_t>(std::stoul(f.mode, nullptr, 8));
  if (opts.access.mode != 0644 && opts.access.mode != 0640 && opts.access.mode != 0600) {
    throw std::invalid_argument("--mode must be 0644, 0640 or 0600");
  }
  opts.access.group = group_or_throw(f.group, "--group");
  opts.reader_registry = !f.no_reader_registry;
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

Setup setup_from_config(DaemonFlags& f, const std::function<bool(const char*)>& given) {
  const DaemonConfig c = load_daemon_config(f.config);
  // Under systemd, StateDirectory= is the default.
  const char* state_env = std::getenv("STATE_DIRECTORY");
  apply_file_settings(f, c, given);
  const bool state_from_env = f.state_dir.empty() && state_env && *state_env;
  if (state_from_env) f.state_dir = state_env;
  std::string socket_dir = c.socket_dir.empty() ? default_socket_dir() : c.socket_dir;
  if (given("--socket")) {
    if (f.socket != "none")
      throw std::invalid_argument("with --config, --socket takes only 'none'");
    socket_dir.clear();
  }
  Setup s;
  const std::string prefix = shmconf::resolve_prefix(f.prefix);
  for (const NamespaceConfig& ns : c.namespaces) {
    ServiceOptions opts = ns.options;
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
  ops::log_info("configuration", {{"path", c.path}, {"namespaces", c.namespaces.size()}});
  return s;
}

}  // namespace shmconf::daemon
