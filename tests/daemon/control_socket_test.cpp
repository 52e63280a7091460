// tests/daemon/control_socket_test.cpp — the control socket file (mode,
// group, stale and foreign files) and control_call()'s errors against a
// missing, stale, silent or hanging-up server.
#include "daemon/control_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace control_test;

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

}  // namespace
}  // namespace shmconf::daemon
