// daemon/src/ctl/common.hpp — what shmconfctl's command groups share:
// reaching a namespace (shared memory or socket), printing a control reply,
// acting on every namespace of a daemon configuration file; and each
// group's verbs, for the table in verbs.cpp.
//
// Thread-safety: a command-line program. The *_or_exit() helpers print to
// stderr and exit with the documented code (ctl.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/daemon_config.hpp"
#include "ctl/ctl.hpp"
#include "shmconf/client.hpp"
#include "tree/value.hpp"

namespace shmconf::daemon::ctl {

// --name, else $SHMCONF_NAMESPACE, else exit 2.
std::string ns_or_exit(const Args& a);
// --socket, else $SHMCONF_SOCKET, else /run/shmconf/NAME.sock.
std::string socket_path(const Args& a);
// Attaches to the namespace, else exit 3.
shmconf::Client open_client_or_exit(const Args& a);
// The live snapshot, else exit 1 ("nothing published yet").
shmconf::Snapshot live_snapshot_or_exit(const shmconf::Client& client);
// One control request, else exit 3.
nlohmann::json call_or_exit(const Args& a, const nlohmann::json& request);
// Prints a control reply: JSON with --json, else a human line (and the
// changed keys of an outcome). Returns the exit code.
int finish(const Args& a, const nlohmann::json& reply);
// "2026-11-23T11:03:02Z" for nanoseconds since the epoch.
std::string iso_time(std::uint64_t ns);

// The daemon configuration file's namespaces (only --name's when given),
// each as the Args of a single-namespace command: its name, its socket in
// the file's socket_dir, the file's prefix. Without --config: just `a`.
// Exits 1 on a file that does not load, 2 when it lacks --name's namespace.
std::vector<Args> each_namespace(const Args& a, DaemonConfig* config = nullptr);

// Runs `one` for each namespace of --config (or once), with a heading per
// namespace when there are several; the exit code is the worst one.
template <class F>
int for_each_namespace(const Args& a, F one) {
  const std::vector<Args> all = each_namespace(a);
  int rc = 0;
  for (const Args& n : all) {
    if (all.size() > 1 && !a.json) std::cout << "[" << n.name << "]\n";
    rc = std::max(rc, one(n));
  }
  return rc;
}

// read.cpp
int cmd_get(const Args& a);
int cmd_version(const Args& a);
int cmd_dump(const Args& a);
int cmd_explain(const Args& a);
int cmd_wait(const Args& a);
int cmd_flag(const Args& a);
// offline.cpp
int cmd_render(const Args& a);
int cmd_validate(const Args& a);
int cmd_schema_doc(const Args& a);
// remote.cpp
int cmd_status(const Args& a);
int cmd_metrics(const Args& a);
int cmd_reload(const Args& a);
int cmd_rollback(const Args& a);
int cmd_history(const Args& a);
int cmd_diff(const Args& a);
int cmd_set(const Args& a);
int cmd_unset(const Args& a);
// push.cpp
int cmd_push(const Args& a);
// seal.cpp
int cmd_seal_keygen(const Args& a);
int cmd_seal(const Args& a);
// readers.cpp
int cmd_readers(const Args& a);
int cmd_wait_converged(const Args& a);

}  // namespace shmconf::daemon::ctl
