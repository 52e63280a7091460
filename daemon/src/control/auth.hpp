// daemon/src/control/auth.hpp — who is on the other end of a control
// connection, and whether they may change what is published.
//
// The socket's mode (0660, group = the admin group when configured) is the
// first gate: it decides who can connect at all. is_authorized() is the
// second, applied by the command dispatcher to mutating commands only.
//
// Thread-safety: all functions are reentrant (getgrnam_r, no static state).
// Cost: peer_credentials() is two getsockopt() calls per accepted connection
// (plus a read of /proc/<pid>/status on kernels older than 4.13);
// is_authorized() is a scan of the peer's supplementary groups.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace shmconf::daemon {

// Credentials of the process that connect()ed, as the kernel recorded them at
// connect time: a peer that changes uid afterwards (or exits and has its pid
// reused) cannot change what we see.
struct Peer {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary groups; may be empty if unknown
};

struct AuthPolicy {
  uid_t daemon_uid = geteuid();
  std::optional<gid_t> admin_gid;  // --admin-group; none = root and daemon_uid only
};

// True for root, for the daemon's own uid, and for members of the admin group
// (primary or supplementary). Effective ids are what SO_PEERCRED reports.
bool is_authorized(const Peer& peer, const AuthPolicy& policy);

// The gid of group `name` (getgrnam_r). A purely numeric name that is not a
// group name is taken as a gid, so `--admin-group 1001` works without an
// entry in /etc/group. nullopt if unknown or if NSS failed.
std::optional<gid_t> lookup_group(const std::string& name);

// SO_PEERCRED of a connected Unix socket, with supplementary groups from
// SO_PEERGROUPS (same connect-time snapshot) or, on kernels without it, from
// the "Groups:" line of /proc/<pid>/status (best effort: racy with pid reuse,
// empty if the peer already exited). nullopt if SO_PEERCRED fails.
std::optional<Peer> peer_credentials(int fd);

// {"pid": …, "uid": …, "gid": …} for logs and audit records ("who").
nlohmann::json peer_to_json(const Peer& peer);

}  // namespace shmconf::daemon
