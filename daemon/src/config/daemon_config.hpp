// daemon/src/config/daemon_config.hpp — the daemon configuration file
// (/etc/shmconf/shmconfd.yaml, or `shmconfd --config FILE`): daemon-wide
// settings and one or more namespaces, each with its sources, environment,
// schema, secret policy, guards, retention and shared-memory access.
//
// The file is strict: an unknown key, a wrong type or an out-of-range value
// is a ConfigError naming file:line:col and the key path, so a typo never
// silently drops a guard. Relative paths are relative to the file's
// directory. docs/CONFIG.md documents every key with a full example.
//
// Thread-safety: plain functions, no shared state. Cost: one YAML parse.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"

namespace shmconf::daemon {

struct NamespaceConfig {
  ServiceOptions options;  // access.group unresolved: see `group`
  std::string group;       // owner group of the shm objects by name, "" = none
};

struct DaemonConfig {
  std::string path;         // the file it came from (absolute)
  std::string prefix;       // shm object prefix; "" = $SHMCONF_PREFIX or "shmconf"
  std::string socket_dir;   // control sockets <socket_dir>/<namespace>.sock; "" = default
  std::string state_dir;    // "" = none; a namespace persists in <state_dir>/<namespace>
                            // (ServiceOptions::state_dir is this parent directory)
  std::string audit_log;    // "" = none
  std::string admin_group;  // "" = root and the daemon's user only
  std::optional<bool> watch;
  std::optional<unsigned> debounce_ms;
  std::optional<unsigned> poll_ms;
  std::optional<unsigned> write_wait_ms;
  std::string log_level;                    // "" = the command line's
  std::string log_format;                   // "" = the command line's
  std::string metrics_listen;               // "" = off
  std::vector<NamespaceConfig> namespaces;  // in file order, names unique
};

// Parses `text`; `path` names it in errors and anchors relative paths.
// Throws ConfigError.
DaemonConfig parse_daemon_config(std::string_view text, const std::string& path);
// Reads and parses `path`. Throws ConfigError (unreadable file included).
DaemonConfig load_daemon_config(const std::string& path);

// The default location, /etc/shmconf/shmconfd.yaml.
inline constexpr const char* kDefaultDaemonConfig = "/etc/shmconf/shmconfd.yaml";

}  // namespace shmconf::daemon
