// tests/daemon/audit_log_test.cpp — the control socket's audit log: one
// JSON line per mutating request with an RFC 3339 time, file mode, disabled
// and unopenable paths, and reopening after a rename.
#include "daemon/control_test_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace control_test;

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
