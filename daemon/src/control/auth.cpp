// daemon/src/control/auth.cpp — peer credentials and the authorisation rule.
#include "control/auth.hpp"

#include <grp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59  // Linux 4.13; older libc headers lack the name
#endif

namespace shmconf::daemon {

bool is_authorized(const Peer& peer, const AuthPolicy& policy) {
  if (peer.uid == 0 || peer.uid == policy.daemon_uid) return true;
  if (!policy.admin_gid) return false;
  const gid_t admin = *policy.admin_gid;
  return peer.gid == admin ||
         std::find(peer.groups.begin(), peer.groups.end(), admin) != peer.groups.end();
}

namespace {

std::optional<gid_t> parse_gid(std::string_view text) {
  gid_t gid = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, gid);
  // (gid_t)-1 means "no change" to chown(); never accept it as a group.
  if (text.empty() || ec != std::errc() || ptr != end || gid == static_cast<gid_t>(-1)) {
    return std::nullopt;
  }
  return gid;
}

// Best-effort fallback for kernels without SO_PEERGROUPS.
std::vector<gid_t> groups_from_proc(pid_t pid) {
  std::vector<gid_t> groups;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream fields(line.substr(7));
    std::string field;
    while (fields >> field) {
      if (auto gid = parse_gid(field)) groups.push_back(*gid);
    }
    break;
  }
  return groups;
}

}  // namespace

std::optional<gid_t> lookup_group(const std::string& name) {
  if (name.empty()) return std::nullopt;
  long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 1024);
  for (;;) {
    group entry{};
    group* result = nullptr;
    int rc = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &result);
    // Groups with thousands of members need more than the hint.
    if (rc == ERANGE && buffer.size() < (std::size_t{1} << 24)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc == 0 && result != nullptr) return result->gr_gid;
    break;
  }
  return parse_gid(name);
}

std::optional<Peer> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return std::nullopt;
  }
  Peer peer{cred.pid, cred.uid, cred.gid, {}};

  // Two tries: the kernel answers ERANGE with the size it needs.
  std::vector<gid_t> groups(32);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      peer.groups = std::move(groups);
      return peer;
    }
    if (errno != ERANGE) break;
    groups.resize(glen / sizeof(gid_t) + 1);
  }
  peer.groups = groups_from_proc(peer.pid);
  return peer;
}

nlohmann::json peer_to_json(const Peer& peer) {
  return nlohmann::json{{"pid", peer.pid}, {"uid", peer.uid}, {"gid", peer.gid}};
}

}  // namespace shmconf::daemon
