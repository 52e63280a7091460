// daemon/src/control/client.hpp — the client side of the control protocol,
// used by shmconfctl: one connection, one request line, one reply line.
//
// Thread-safety: reentrant; each call uses its own socket. Cost: a connect(),
// a write and a read; the call waits at most `timeout` in total.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace shmconf::daemon {

// Sends `request` to the daemon listening on `socket_path` and returns its
// reply object as is — including {"ok": false, …} replies, which are the
// caller's to report. `timeout` bounds connect, send and receive together;
// zero or negative means no limit.
//
// Throws std::runtime_error with a message meant for the operator when there
// is no reply to return: cannot connect ("cannot connect to
// /run/shmconf/shmconfd.sock: No such file or directory (is shmconfd
// running?)"), timed out, connection closed without a reply, reply not a
// JSON object. A timed-out request may still complete in the daemon: a
// reload runs to its end even if nobody waits for the reply.
nlohmann::json control_call(const std::string& socket_path, const nlohmann::json& request,
                            std::chrono::milliseconds timeout);

}  // namespace shmconf::daemon
