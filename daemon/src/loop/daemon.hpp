// daemon/src/loop/daemon.hpp — shmconfd's process: one poll() loop serving
// every namespace of a Setup (loop/setup.hpp). Per namespace it owns the
// NamespaceService, its control socket (control/server.hpp, with the command
// table of control/commands.hpp) and its file watcher; daemon-wide, the
// audit log, the metrics (and their HTTP listener, ops/http_server.hpp) and
// the systemd notifications.
//
// Signals: SIGHUP reloads every namespace; SIGUSR1 reopens the audit log
// (after logrotate's rename); SIGTERM and SIGINT exit and remove nothing,
// so clients keep reading the last published snapshot.
//
// Each round of the loop handles what poll() reported (signals, debounced
// file changes, control requests, each reply sent as soon as its outcome is
// known), then commits: the state directories (NamespaceService::
// flush_state()), then the audit records (docs/ARCHITECTURE.md "Threads").
//
// Thread-safety: run() on one thread; the metrics HTTP listener has its
// own. Cost: what the namespaces cost; the loop itself sleeps in poll().
#pragma once

#include <string>

#include "loop/setup.hpp"

namespace shmconf::daemon {

// Starts every namespace of `setup`, serves them until SIGTERM or SIGINT and
// returns the exit status. `version` is the daemon's, for the metrics.
// Throws on a start-up failure (a squatted name, a second daemon, a socket
// that cannot be bound).
int run_daemon(const DaemonFlags& flags, Setup setup, const std::string& version);

}  // namespace shmconf::daemon
