// daemon/src/loop/setup.hpp — shmconfd's settings: the flags main() parses,
// and the namespaces they (or the daemon configuration file,
// config/daemon_config.hpp) declare, each as ServiceOptions and a control
// socket path.
//
// Thread-safety: start-up only. Cost: reads the configuration file.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/options.hpp"

namespace shmconf::daemon {

// Daemon-wide settings, from the command line (docs/CLI.md) and the
// configuration file.
struct DaemonFlags {
  std::string config;
  std::string name;
  std::vector<std::string> sources;
  std::string schema;                       // JSON Schema file, "" = none
  std::string plaintext_secrets = "error";  // error|warn|allow
  std::vector<std::string> sealing_keys;    // --sealing-key ID=REF (sources/sealed.hpp)
  std::string state_dir;
  std::string socket;
  std::string prefix;
  unsigned keep = 8;
  std::string mode = "0644";
  std::string group;
  bool no_reader_registry = false;
  std::string admin_group;
  std::string audit_log;
  unsigned debounce_ms = 100;
  unsigned poll_ms = 2000;
  unsigned write_wait_ms = 5000;
  bool no_watch = false;
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::string metrics_listen;  // "" = no HTTP listener
  bool metrics_listen_any = false;
};

// What the daemon serves.
struct Setup {
  std::vector<std::pair<ServiceOptions, std::string>> namespaces;  // options, socket ("" = none)
  std::optional<gid_t> admin_gid;
};

// One namespace from --name, --source and friends. Throws
// std::invalid_argument on a bad --mode or an unknown group.
Setup setup_from_flags(DaemonFlags& flags);

// Every namespace of the configuration file flags.config. Flags that were
// given on the command line (`given("--prefix")`) override the file's
// daemon-wide settings; the others are filled in from it, and logging is
// set up again as the file says. Throws ConfigError or
// std::invalid_argument.
Setup setup_from_config(DaemonFlags& flags, const std::function<bool(const char*)>& given);

}  // namespace shmconf::daemon
