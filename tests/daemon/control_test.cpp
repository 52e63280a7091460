// tests/daemon/control_test.cpp — the control socket: requests and replies,
// framing errors, and many, slow or vanishing clients. Authorisation, the
// socket file, control_call errors and the audit log have their own files;
// the ServerThread and fixture are in control_test_util.hpp.
#include "daemon/control_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace control_test;

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

}  // namespace
}  // namespace shmconf::daemon
