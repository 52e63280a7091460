// tests/daemon/control_test.cpp — the control socket: framing, concurrency,
// peer credentials, socket file handling, authorisation, client errors, and
// the audit log.
//
// Each test runs its own ControlServer in a unique temporary directory,
// driven by a background thread that polls like shmconfd's loop and is
// stopped through an eventfd. Timeouts below only turn a hang into a failure;
// nothing waits on time for synchronisation.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/audit_log.hpp"
#include "control/auth.hpp"
#include "control/client.hpp"
#include "control/protocol.hpp"
#include "control/server.hpp"

namespace shmconf::daemon {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kHangGuardMs = 20000;  // a hang becomes a failure, not a stuck ctest
constexpr std::chrono::milliseconds kCallTimeout{kHangGuardMs};
constexpr uid_t kNobody = 65534;
constexpr gid_t kAdminGid = 4242;  // need not exist in /etc/group

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shmconf-control-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A listening socket that never accepts: a daemon that is alive but stuck.
int listen_without_accepting(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = address_of(path);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 8) != 0) {
    throw std::runtime_error("cannot listen on " + path);
  }
  return fd;
}

// Drives a ControlServer the way shmconfd's loop does.
class ServerThread {
 public:
  ServerThread(std::string path, ControlServer::Handler handler,
               std::optional<gid_t> group = std::nullopt)
      : server_(std::move(path), group, std::move(handler)),
        stop_fd_(eventfd(0, EFD_CLOEXEC)),
        thread_([this] { run(); }) {}
  ~ServerThread() {
    stop();
    close(stop_fd_);
  }

  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
  }

  // Only after stop(): while running, the loop thread owns the server.
  ControlServer& server() { return server_; }

 private:
  void run() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back(pollfd{stop_fd_, POLLIN, 0});
      server_.fill_pollfds(fds);
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        ADD_FAILURE() << "poll: " << std::strerror(errno);
        return;
      }
      if (fds[0].revents != 0) return;
      server_.on_poll(fds);
    }
  }

  ControlServer server_;
  int stop_fd_;
  std::thread thread_;
};

// A client at the byte level, for what control_call() cannot do: pipelining,
// partial lines, not reading, hanging up.
class RawClient {
 public:
  explicit RawClient(const std::string& path)
      : fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr = address_of(path);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot connect to " + path + ": " + std::strerror(errno));
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void shutdown_write() { shutdown(fd_, SHUT_WR); }

  // One line without its '\n'; nullopt once the server has closed.
  std::optional<std::string> read_line() {
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, kHangGuardMs) != 1) throw std::runtime_error("no reply within the guard");
      char chunk[64 * 1024];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return std::nullopt;
      if (n < 0) throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Blocks until the server has started replying.
  void read_first_byte() {
    pollfd p{fd_, POLLIN, 0};
    char byte;
    if (poll(&p, 1, kHangGuardMs) != 1 || recv(fd_, &byte, 1, 0) != 1) {
      throw std::runtime_error("no reply within the guard");
    }
  }

  json read_reply() {
    auto line = read_line();
    if (!line) throw std::runtime_error("connection closed instead of a reply");
    return json::parse(*line);
  }

  json call(const json& request) {
    send_all(request.dump() + "\n");
    return read_reply();
  }

 private:
  int fd_;
  std::string buffer_;
};

class ControlServerTest : public ::testing::Test {
 protected:
  std::string socket_path() const { return dir_.file("ctl.sock"); }

  std::unique_ptr<ServerThread> start(std::optional<gid_t> group = std::nullopt) {
    return std::make_unique<ServerThread>(
        socket_path(),
        [this](const json& request, const Peer& peer) { return handle(request, peer); }, group);
  }

  // Mimics shmconfd's dispatcher closely enough to test what the server and
  // the authorisation rule do; runs on the loop thread.
  json handle(const json& request, const Peer& peer) {
    ++handler_calls_;
    const std::string cmd = request.at("cmd").get<std::string>();
    if (cmd == "echo") return json{{"ok", true}, {"echo", request.value("arg", json())}};
    if (cmd == "whoami") {  // no "ok": the server adds it
      return json{{"pid", peer.pid}, {"uid", peer.uid}, {"gid", peer.gid}, {"groups", peer.groups}};
    }
    if (cmd == "big") return json{{"data", std::string(request.at("n").get<std::size_t>(), 'x')}};
    if (cmd == "throw") throw std::runtime_error("boom");
    if (cmd == "array") return json::array();
    if (is_mutating_command(cmd)) {
      if (!is_authorized(peer, policy_)) {
        return error_reply(kCodeUnauthorized,
                           cmd + " needs root, the daemon's user or the admin group");
      }
      return json{{"ok", true}, {"done", cmd}};
    }
    return error_reply(kCodeUnknownCommand, "unknown command: " + cmd);
  }

  TempDir dir_;
  AuthPolicy policy_;  // set before start(); the thread start orders it before the loop's reads
  std::atomic<int> handler_calls_{0};
};

// ---- request and reply ----

TEST_F(ControlServerTest, ControlCall_Request_HandlerReplyReturned) {
  auto server = start();
  json reply = control_call(socket_path(), {{"cmd", "echo"}, {"arg", "hello"}}, kCallTimeout);
  EXPECT_EQ(reply, (json{{"ok", true}, {"echo", "hello"}}));
}

TEST_F(ControlServerTest, Reply_WithoutOk_GetsOkTrue) {
  auto server = start();
  json reply = control_call(socket_path(), {{"cmd", "whoami"}}, kCallTimeout);
  EXPECT_EQ(reply.at("ok"), true);
}

TEST_F(ControlServerTest, Reply_RequestHasId_IdEchoed) {
  auto server = start();
  json reply = control_call(socket_path(), {{"cmd", "echo"}, {"id", 7}}, kCallTimeout);
  EXPECT_EQ(reply.at("id"), 7);
}

TEST_F(ControlServerTest, Connection_SeveralRequests_AnsweredInOrder) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all(R"({"cmd":"echo","arg":1})"
                  "\n"
                  R"({"cmd":"echo","arg":2})"
                  "\n\n"
                  R"({"cmd":"echo","arg":3})"
                  "\r\n");
  EXPECT_EQ(client.read_reply().at("echo"), 1);
  EXPECT_EQ(client.read_reply().at("echo"), 2);
  EXPECT_EQ(client.read_reply().at("echo"), 3);  // blank line skipped, CRLF accepted
  EXPECT_EQ(client.call({{"cmd", "echo"}, {"arg", 4}}).at("echo"), 4);
}

TEST_F(ControlServerTest, Connection_RequestSplitAcrossWrites_Reassembled) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all(R"({"cmd":"ec)");
  // A round trip on another connection: the loop has read the first half by now.
  control_call(socket_path(), {{"cmd", "echo"}}, kCallTimeout);
  client.send_all(R"(ho","arg":"joined"})"
                  "\n");
  EXPECT_EQ(client.read_reply().at("echo"), "joined");
}

TEST_F(ControlServerTest, Connection_HalfClosedAfterUnterminatedRequest_StillAnswered) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all(R"({"cmd":"echo","arg":"last"})");
  client.shutdown_write();
  EXPECT_EQ(client.read_reply().at("echo"), "last");
  EXPECT_EQ(client.read_line(), std::nullopt);
}

// ---- framing errors: answered by the server, never seen by the handler ----

TEST_F(ControlServerTest, InvalidJson_BadRequest_ConnectionStaysOpen) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all("{not json\n");
  json reply = client.read_reply();
  EXPECT_EQ(reply.at("ok"), false);
  EXPECT_EQ(reply.at("code"), "bad_request");
  EXPECT_NE(reply.at("error").get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_EQ(client.call({{"cmd", "echo"}, {"arg", "after"}}).at("echo"), "after");
  EXPECT_EQ(handler_calls_.load(), 1);
}

// nlohmann throws out_of_range, not parse_error, for a number no double
// holds; it used to escape on_poll() and end the daemon (control_request_fuzz).
TEST_F(ControlServerTest, NumberOutOfRange_BadRequest_ServerStaysUp) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all("{\"cmd\":\"echo\",\"arg\":1e999}\n");
  json reply = client.read_reply();
  EXPECT_EQ(reply.at("code"), "bad_request");
  EXPECT_NE(reply.at("error").get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_EQ(client.call({{"cmd", "echo"}, {"arg", "after"}}).at("echo"), "after");
}

TEST_F(ControlServerTest, Request_NotAnObject_BadRequest) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all("[\"status\"]\n");
  EXPECT_EQ(client.read_reply().at("code"), "bad_request");
  EXPECT_EQ(handler_calls_.load(), 0);
}

TEST_F(ControlServerTest, Request_MissingCmd_BadRequest) {
  auto server = start();
  json reply = control_call(socket_path(), {{"command", "status"}, {"id", "a"}}, kCallTimeout);
  EXPECT_EQ(reply.at("code"), "bad_request");
  EXPECT_EQ(reply.at("id"), "a");
  EXPECT_EQ(handler_calls_.load(), 0);
}

TEST_F(ControlServerTest, Request_NonStringCmd_BadRequest) {
  auto server = start();
  json reply = control_call(socket_path(), {{"cmd", 42}}, kCallTimeout);
  EXPECT_EQ(reply.at("code"), "bad_request");
  EXPECT_EQ(handler_calls_.load(), 0);
}

TEST_F(ControlServerTest, Request_NestedTooDeep_BadRequest) {
  auto server = start();
  RawClient client(socket_path());
  const std::size_t depth = 100000;
  client.send_all(R"({"cmd":"echo","arg":)" + std::string(depth, '[') + std::string(depth, ']') +
                  "}\n");
  EXPECT_EQ(client.read_reply().at("code"), "bad_request");
  // Brackets inside strings are not nesting.
  json reply = client.call({{"cmd", "echo"}, {"arg", std::string(1000, '[')}});
  EXPECT_EQ(reply.at("ok"), true);
}

TEST_F(ControlServerTest, Request_ExactlyMaxLineLength_Accepted) {
  auto server = start();
  const std::string head = R"({"cmd":"echo","arg":")";
  const std::string tail = R"("})";
  const std::string line =
      head + std::string(kMaxRequestLineBytes - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(line.size(), kMaxRequestLineBytes);
  RawClient client(socket_path());
  client.send_all(line + "\n");
  json reply = client.read_reply();
  EXPECT_EQ(reply.at("ok"), true);
  EXPECT_EQ(reply.at("echo").get<std::string>().size(), line.size() - head.size() - tail.size());
}

TEST_F(ControlServerTest, Request_LineOverOneMiB_ErrorThenClose) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all(std::string(kMaxRequestLineBytes + 1, 'x'));
  json reply = client.read_reply();
  EXPECT_EQ(reply.at("ok"), false);
  EXPECT_EQ(reply.at("code"), "bad_request");
  EXPECT_EQ(client.read_line(), std::nullopt);
  EXPECT_EQ(handler_calls_.load(), 0);
}

TEST_F(ControlServerTest, ControlCall_RequestOverOneMiB_ReturnsServerError) {
  auto server = start();
  // The server hangs up while the client is still sending; the client must
  // still read the reason rather than report a broken pipe.
  json reply = control_call(socket_path(), {{"cmd", "echo"}, {"arg", std::string(4 << 20, 'y')}},
                            kCallTimeout);
  EXPECT_EQ(reply.at("code"), "bad_request");
}

TEST_F(ControlServerTest, Handler_Throws_FailedReply) {
  auto server = start();
  json reply = control_call(socket_path(), {{"cmd", "throw"}}, kCallTimeout);
  EXPECT_EQ(reply, (json{{"ok", false}, {"code", "failed"}, {"error", "boom"}}));
}

TEST_F(ControlServerTest, Handler_ReturnsNonObject_FailedReply) {
  auto server = start();
  EXPECT_EQ(control_call(socket_path(), {{"cmd", "array"}}, kCallTimeout).at("code"), "failed");
}

TEST_F(ControlServerTest, Stats_AfterRequests_Counted) {
  auto server = start();
  RawClient client(socket_path());
  client.send_all("nope\n");
  client.read_reply();
  client.call({{"cmd", "echo"}});
  client.call({{"cmd", "throw"}});
  server->stop();
  const ControlServer::Stats& stats = server->server().stats();
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.requests, 2u);
  EXPECT_EQ(stats.bad_requests, 1u);
  EXPECT_EQ(stats.handler_failures, 1u);
}

// ---- many clients, slow clients, vanishing clients ----

TEST_F(ControlServerTest, ConcurrentClients_AllAnsweredCorrectly) {
  auto server = start();
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 25;
  std::vector<std::future<int>> results;
  for (int t = 0; t < kThreads; ++t) {
    results.push_back(std::async(std::launch::async, [this, t] {
      int good = 0;
      for (int i = 0; i < kCallsPerThread; ++i) {
        const std::string arg = std::to_string(t) + ":" + std::to_string(i);
        json reply = control_call(socket_path(), {{"cmd", "echo"}, {"arg", arg}}, kCallTimeout);
        good += reply.at("echo") == arg;
      }
      return good;
    }));
  }
  for (auto& result : results) EXPECT_EQ(result.get(), kCallsPerThread);
}

TEST_F(ControlServerTest, ManyOpenConnections_EachServed) {
  auto server = start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 32; ++i) clients.push_back(std::make_unique<RawClient>(socket_path()));
  for (int i = 31; i >= 0; --i)
    clients[i]->send_all(json{{"cmd", "echo"}, {"arg", i}}.dump() + "\n");
  for (int i = 0; i < 32; ++i) EXPECT_EQ(clients[i]->read_reply().at("echo"), i);
}

TEST_F(ControlServerTest, ConnectionLimit_Exceeded_RejectedWithReason) {
  auto server = start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (std::size_t i = 0; i < kMaxControlConnections; ++i) {
    clients.push_back(std::make_unique<RawClient>(socket_path()));
  }
  // The backlog is FIFO, so this one is accepted after all the others.
  RawClient extra(socket_path());
  json reply = extra.read_reply();
  EXPECT_EQ(reply.at("ok"), false);
  EXPECT_NE(reply.at("error").get<std::string>().find("too many"), std::string::npos);
  EXPECT_EQ(extra.read_line(), std::nullopt);
  EXPECT_EQ(clients[0]->call({{"cmd", "echo"}, {"arg", 0}}).at("echo"), 0);

  // Freeing a slot lets a newcomer in. The round trip on clients[2] happens
  // after clients[1] hung up, so the loop has seen that hang-up by then.
  clients[1].reset();
  clients[2]->call({{"cmd", "echo"}});
  RawClient newcomer(socket_path());
  EXPECT_EQ(newcomer.call({{"cmd", "echo"}, {"arg", "in"}}).at("echo"), "in");
}

TEST_F(ControlServerTest, SlowReader_LargeRepliesPending_OthersStillServed) {
  auto server = start();
  constexpr std::size_t kBig = 4 << 20;  // far more than a socket buffer
  RawClient slow(socket_path());
  const std::string big = json{{"cmd", "big"}, {"n", kBig}}.dump() + "\n";
  slow.send_all(big + big);
  // `slow` reads nothing yet: its reply is stuck half-written.
  json reply = control_call(socket_path(), {{"cmd", "echo"}, {"arg", "meanwhile"}}, kCallTimeout);
  EXPECT_EQ(reply.at("echo"), "meanwhile");
  EXPECT_EQ(slow.read_reply().at("data").get<std::string>().size(), kBig);
  EXPECT_EQ(slow.read_reply().at("data").get<std::string>().size(), kBig);
}

TEST_F(ControlServerTest, PeerVanishesMidReply_DaemonSurvives) {
  auto server = start();
  {
    RawClient gone(socket_path());
    gone.send_all(json{{"cmd", "big"}, {"n", 8 << 20}}.dump() + "\n");
    // Wait for the first bytes: the server is now mid-reply, with megabytes
    // left to write when we hang up (an EPIPE, which must not be a SIGPIPE).
    gone.read_first_byte();
  }
  EXPECT_EQ(control_call(socket_path(), {{"cmd", "echo"}, {"arg", 1}}, kCallTimeout).at("echo"), 1);
}

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

// ---- the socket file ----

TEST_F(ControlServerTest, SocketFile_AnyUmask_Mode0660) {
  mode_t old = umask(077);  // before the server thread exists: umask is per process
  auto server = start();
  umask(old);
  struct stat st {};
  ASSERT_EQ(lstat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(ControlServerTest, SocketFile_GroupGiven_Chowned) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  auto server = start(kAdminGid);
  struct stat st {};
  ASSERT_EQ(lstat(socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, kAdminGid);
}

TEST_F(ControlServerTest, SocketFile_StaleSocket_Replaced) {
  close(listen_without_accepting(socket_path()));  // what a crashed daemon leaves
  struct stat st {};
  ASSERT_EQ(lstat(socket_path().c_str(), &st), 0);
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  auto server = start();
  EXPECT_EQ(control_call(socket_path(), {{"cmd", "echo"}, {"arg", 1}}, kCallTimeout).at("echo"), 1);
}

TEST_F(ControlServerTest, SocketFile_LiveListener_Refused) {
  int live = listen_without_accepting(socket_path());
  EXPECT_THROW(ControlServer(socket_path(), std::nullopt, nullptr), std::runtime_error);
  struct stat st {};
  EXPECT_EQ(lstat(socket_path().c_str(), &st), 0);  // still there for its owner
  close(live);
}

TEST_F(ControlServerTest, SocketFile_RegularFileAtPath_RefusedAndKept) {
  std::ofstream(socket_path()) << "precious";
  try {
    ControlServer refused(socket_path(), std::nullopt, nullptr);
    ADD_FAILURE() << "a regular file was replaced";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a socket"), std::string::npos) << e.what();
  }
  std::ifstream in(socket_path());
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ControlServerTest, SocketFile_PathTooLong_Refused) {
  EXPECT_THROW(ControlServer(dir_.file(std::string(200, 'a')), std::nullopt, nullptr),
               std::runtime_error);
}

TEST_F(ControlServerTest, SocketFile_ServerDestroyed_Unlinked) {
  start().reset();
  struct stat st {};
  EXPECT_NE(lstat(socket_path().c_str(), &st), 0);
}

// ---- control_call errors ----

TEST(ControlCallTest, NoSocket_ThrowsIsShmconfdRunning) {
  TempDir dir;
  const std::string path = dir.file("absent.sock");
  try {
    control_call(path, {{"cmd", "status"}}, kCallTimeout);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot connect to " + path + ": No such file or directory (is shmconfd running?)");
  }
}

TEST(ControlCallTest, StaleSocket_ThrowsConnectionRefused) {
  TempDir dir;
  const std::string path = dir.file("stale.sock");
  close(listen_without_accepting(path));
  try {
    control_call(path, {{"cmd", "status"}}, kCallTimeout);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Connection refused (is shmconfd running?)"),
              std::string::npos)
        << e.what();
  }
}

TEST(ControlCallTest, SilentServer_ThrowsTimedOut) {
  TempDir dir;
  const std::string path = dir.file("silent.sock");
  int fd = listen_without_accepting(path);
  try {
    control_call(path, {{"cmd", "status"}}, 100ms);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out after 100 ms"), std::string::npos) << e.what();
  }
  close(fd);
}

TEST(ControlCallTest, ServerHangsUp_ThrowsClosedWithoutReply) {
  TempDir dir;
  const std::string path = dir.file("rude.sock");
  int listener = listen_without_accepting(path);
  auto call = std::async(std::launch::async, [&] {
    return control_call(path, {{"cmd", "status"}}, kCallTimeout);
  });
  int conn = accept(listener, nullptr, nullptr);
  close(conn);
  try {
    call.get();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("without replying"), std::string::npos) << e.what();
  }
  close(listener);
}

// ---- audit log ----

// "2025-01-31T12:34:56.789Z". By hand: GCC 12's std::regex trips
// -Wmaybe-uninitialized in sanitizer builds.
bool is_rfc3339_utc_ms(const std::string& text) {
  const std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool ok = shape[i] == 'd' ? text[i] >= '0' && text[i] <= '9' : text[i] == shape[i];
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AuditLogTest, AppendThenReopen_EachLineJsonWithTime) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  {
    AuditLog log(path);
    log.append({{"cmd", "reload"}, {"who", {{"uid", 0}, {"pid", 1}}}});
    log.append({{"cmd", "set"}, {"value", "two\nlines"}});
    log.append({{"cmd", "rollback"}, {"time", "2000-01-01T00:00:00.000Z"}});
  }
  AuditLog(path).append({{"cmd", "unset"}});

  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 4u);
  std::vector<std::string> cmds;
  for (const auto& line : lines) {
    json record = json::parse(line);
    ASSERT_TRUE(record.at("time").is_string()) << line;
    EXPECT_TRUE(is_rfc3339_utc_ms(record.at("time"))) << line;
    cmds.push_back(record.at("cmd"));
  }
  EXPECT_EQ(cmds, (std::vector<std::string>{"reload", "set", "rollback", "unset"}));
  EXPECT_EQ(json::parse(lines[1]).at("value"), "two\nlines");
  EXPECT_EQ(json::parse(lines[2]).at("time"), "2000-01-01T00:00:00.000Z");
  EXPECT_EQ(lines[0].rfind(R"({"time":)", 0), 0u) << "time comes first for humans";
}

TEST(AuditLogTest, NewFile_Mode0640) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  mode_t old = umask(022);
  AuditLog log(path);
  umask(old);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(AuditLogTest, EmptyPath_Disabled) {
  AuditLog log("");
  EXPECT_FALSE(log.enabled());
  EXPECT_NO_THROW(log.append({{"cmd", "reload"}}));
}

TEST(AuditLogTest, UnopenablePath_ThrowsNamingIt) {
  TempDir dir;
  const std::string path = dir.file("missing-dir/audit.jsonl");
  try {
    AuditLog log(path);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(AuditLogTest, ReopenAfterRename_WritesNewFile) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  AuditLog log(path);
  log.append({{"cmd", "reload"}});
  std::filesystem::rename(path, path + ".1");
  log.reopen();
  log.append({{"cmd", "rollback"}});
  EXPECT_EQ(read_lines(path + ".1").size(), 1u);
  ASSERT_EQ(read_lines(path).size(), 1u);
  EXPECT_EQ(json::parse(read_lines(path)[0]).at("cmd"), "rollback");
}

}  // namespace
}  // namespace shmconf::daemon
