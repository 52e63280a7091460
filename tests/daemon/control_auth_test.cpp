// tests/daemon/control_auth_test.cpp — the control socket's peer
// credentials and authorisation: forked children that become nobody,
// is_authorized() and lookup_group().
#include "daemon/control_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace control_test;

// ---- peer credentials and authorisation ----

TEST_F(ControlServerTest, PeerCredentials_SameProcess_MatchGetpid) {
  auto server = start();
  json reply = control_call(socket_path(), {{"cmd", "whoami"}}, kCallTimeout);
  EXPECT_EQ(reply.at("pid"), getpid());
  EXPECT_EQ(reply.at("uid"), geteuid());
  EXPECT_EQ(reply.at("gid"), getegid());
  std::vector<gid_t> mine(static_cast<std::size_t>(getgroups(0, nullptr)));
  mine.resize(static_cast<std::size_t>(getgroups(static_cast<int>(mine.size()), mine.data())));
  auto seen = reply.at("groups").get<std::vector<gid_t>>();
  std::sort(mine.begin(), mine.end());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, mine);
}

struct ChildOutcome {
  int status = -1;
  std::string output;  // every reply line the child received
};

// Forks a child that becomes nobody (with `groups` as supplementary groups),
// sends `requests`, and hands back the raw replies. The child makes only
// async-signal-safe calls: the parent has a server thread running.
ChildOutcome run_as_nobody(const std::string& socket_path, const std::string& requests,
                           const std::vector<gid_t>& groups) {
  const sockaddr_un addr = address_of(socket_path);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    close(out[0]);
    if (setgroups(groups.size(), groups.data()) != 0) _exit(10);
    if (setresgid(kNobody, kNobody, kNobody) != 0) _exit(11);
    if (setresuid(kNobody, kNobody, kNobody) != 0) _exit(12);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    timeval guard{kHangGuardMs / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) _exit(13);
    for (std::size_t sent = 0; sent < requests.size();) {
      ssize_t n = write(fd, requests.data() + sent, requests.size() - sent);
      if (n <= 0) _exit(14);
      sent += static_cast<std::size_t>(n);
    }
    shutdown(fd, SHUT_WR);  // the server answers everything, then closes
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      if (write(out[1], buf, static_cast<std::size_t>(n)) != n) _exit(15);
    }
    _exit(n == 0 ? 0 : 16);
  }
  close(out[1]);
  ChildOutcome outcome;
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0)
    outcome.output.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  waitpid(pid, &outcome.status, 0);
  return outcome;
}

std::vector<json> parse_lines(const std::string& text) {
  std::vector<json> lines;
  std::size_t pos = 0;
  for (std::size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    lines.push_back(json::parse(text.substr(pos, nl - pos)));
  }
  return lines;
}

class ControlServerAuthTest : public ControlServerTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  }
  // Lets nobody reach the socket: the 0660 gate is tested separately.
  void open_up() {
    ASSERT_EQ(chmod(dir_.path().c_str(), 0777), 0);
    ASSERT_EQ(chmod(socket_path().c_str(), 0666), 0);
  }
  const std::string requests_ = R"({"cmd":"whoami"})"
                                "\n"
                                R"({"cmd":"reload"})"
                                "\n";
};

TEST_F(ControlServerAuthTest, OtherUid_Reload_Unauthorized) {
  policy_.daemon_uid = 0;
  auto server = start();
  open_up();
  ChildOutcome child = run_as_nobody(socket_path(), requests_, {});
  ASSERT_TRUE(WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0) << child.status;
  auto replies = parse_lines(child.output);
  ASSERT_EQ(replies.size(), 2u) << child.output;
  EXPECT_EQ(replies[0].at("uid"), kNobody);  // read-only: allowed
  EXPECT_EQ(replies[0].at("gid"), kNobody);
  EXPECT_EQ(replies[1].at("ok"), false);
  EXPECT_EQ(replies[1].at("code"), "unauthorized");
}

TEST_F(ControlServerAuthTest, AdminGroupMember_Reload_Authorized) {
  policy_.daemon_uid = 0;
  policy_.admin_gid = kAdminGid;
  auto server = start();
  open_up();
  ChildOutcome child = run_as_nobody(socket_path(), requests_, {kAdminGid});
  ASSERT_TRUE(WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0) << child.status;
  auto replies = parse_lines(child.output);
  ASSERT_EQ(replies.size(), 2u) << child.output;
  EXPECT_EQ(replies[0].at("groups"), json::array({kAdminGid}));
  EXPECT_EQ(replies[1].at("ok"), true);
}

TEST_F(ControlServerTest, RootPeer_Reload_Authorized) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  policy_.daemon_uid = 12345;  // authorised as root, not as the daemon's user
  auto server = start();
  EXPECT_EQ(control_call(socket_path(), {{"cmd", "reload"}}, kCallTimeout).at("ok"), true);
}

TEST(IsAuthorizedTest, RootOrDaemonUser_Authorized) {
  AuthPolicy policy{1000, std::nullopt};
  EXPECT_TRUE(is_authorized(Peer{1, 0, 0, {}}, policy));
  EXPECT_TRUE(is_authorized(Peer{1, 1000, 1000, {}}, policy));
}

TEST(IsAuthorizedTest, StrangerWithoutAdminGroup_Refused) {
  AuthPolicy policy{1000, std::nullopt};
  EXPECT_FALSE(is_authorized(Peer{1, 2000, 2000, {2000, 4242}}, policy));
}

TEST(IsAuthorizedTest, AdminGroupPrimaryOrSupplementary_Authorized) {
  AuthPolicy policy{1000, kAdminGid};
  EXPECT_TRUE(is_authorized(Peer{1, 2000, kAdminGid, {}}, policy));
  EXPECT_TRUE(is_authorized(Peer{1, 2000, 2000, {100, kAdminGid}}, policy));
  EXPECT_FALSE(is_authorized(Peer{1, 2000, 2000, {100, 101}}, policy));
}

TEST(IsAuthorizedTest, MutatingCommands_AreExactlyTheDocumentedOnes) {
  for (const char* cmd : {"reload", "rollback", "set", "unset"})
    EXPECT_TRUE(is_mutating_command(cmd));
  for (const char* cmd : {"status", "history", "diff", "get", "metrics", "version"}) {
    EXPECT_FALSE(is_mutating_command(cmd)) << cmd;
  }
}

TEST(LookupGroupTest, NameOrNumber_Resolved) {
  EXPECT_EQ(lookup_group("root"), gid_t{0});
  if (getgrnam("4242") == nullptr) {
    EXPECT_EQ(lookup_group("4242"), gid_t{4242});
  }
  EXPECT_EQ(lookup_group("shmconf-no-such-group"), std::nullopt);
  EXPECT_EQ(lookup_group(""), std::nullopt);
}

}  // namespace
}  // namespace shmconf::daemon
