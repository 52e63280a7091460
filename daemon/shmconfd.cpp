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
// This file parses the flags; the daemon itself is daemon/src/loop/
// (docs/ARCHITECTURE.md).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <string>

#include "config/daemon_config.hpp"
#include "log/log.hpp"
#include "loop/daemon.hpp"
#include "loop/setup.hpp"
#include "ops/metrics.hpp"

namespace sd = shmconf::daemon;

int main(int argc, char** argv) {
  sd::DaemonFlags f;
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
  auto* sealing = app.add_option("--sealing-key", f.sealing_keys,
                                 "ID=${credential:NAME} or ID=PATH: a private key that opens "
                                 "${sealed:ID:...} values; repeat for several ids")
                      ->allow_extra_args(false);
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
  auto* no_registry = app.add_flag("--no-reader-registry", f.no_reader_registry,
                                   "Create no reader registry: readers record nothing, `shmconfctl "
                                   "readers` has nothing to show");
  app.add_option("--admin-group", f.admin_group,
                 "Group allowed to reload, roll back, set and unset");
  app.add_option("--audit-log", f.audit_log, "Append-only audit log (JSON lines)");
  app.add_option("--debounce-ms", f.debounce_ms, "Quiet time after a file event before reloading")
      ->default_val(100);
  app.add_option("--poll-ms", f.poll_ms, "Fallback stat() scan period, 0 = off")->default_val(2000);
  app.add_option("--write-wait-ms", f.write_wait_ms,
                 "Longest wait for a writer to close a source modified in place, 0 = off")
      ->default_val(5000)
      ->check(CLI::Range(0u, 600000u));
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
  for (auto* o : {name, source, keep, mode, group, schema, secrets, sealing, no_registry}) {
    o->excludes("--config");
  }
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
    auto given = [&app](const char* flag) { return app.get_option(flag)->count() > 0; };
    sd::Setup setup = f.config.empty() ? sd::setup_from_flags(f) : sd::setup_from_config(f, given);
    return sd::run_daemon(f, std::move(setup), SHMCONF_VERSION);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
