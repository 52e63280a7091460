// tests/multiprocess/c_api_test.cpp — the C ABI from another process: a child
// that calls only <shmconf/shmconf.h> functions reads typed values, lists a
// section, and wakes on a change published by shmconfd.
#include <string>

#include "harness.hpp"
#include "shmconf/shmconf.h"

namespace shmconf::mptest {
namespace {

std::string yaml(int port) {
  return "database:\n  host: db.internal\n  port: " + std::to_string(port) +
         "\n  ratio: 0.5\n  tls: true\n";
}

int list_key(const char* key, size_t len, int type, void* ctx) {
  auto* s = static_cast<std::string*>(ctx);
  s->append(" ").append(key, len).append(":").append(std::to_string(type));
  return 0;
}

// Everything below uses the C ABI only.
int c_reader(const char* ns, const char* prefix, int out) {
  shmconf_client* c = nullptr;
  int rc = shmconf_open_prefix(ns, prefix, &c);
  if (rc != 0) {
    report(out, std::string("error open ") + shmconf_strerror(rc));
    return 1;
  }
  shmconf_snapshot* s = nullptr;
  if ((rc = shmconf_snapshot_acquire(c, &s)) != 0) {
    report(out, std::string("error acquire ") + shmconf_strerror(rc));
    return 1;
  }
  int64_t port = 0;
  double ratio = 0;
  int tls = 0, type = -1;
  char host[64];
  size_t len = 0;
  char tiny[4];
  size_t need = 0;
  // Each call before the line that prints its out-parameter: the operands
  // of + are unsequenced.
  const int rc_port = shmconf_get_int64(s, "database.port", &port);
  const int rc_ratio = shmconf_get_double(s, "database.ratio", &ratio);
  const int rc_tls = shmconf_get_bool(s, "database.tls", &tls);
  const int rc_host = shmconf_get_string(s, "database.host", host, sizeof host, &len);
  const int rc_tiny = shmconf_get_string(s, "database.host", tiny, sizeof tiny, &need);
  const int rc_type = shmconf_get_type(s, "database", &type);
  std::string line = "v" + std::to_string(shmconf_snapshot_version(s));
  line += " port " + std::to_string(rc_port) + "/" + std::to_string(port);
  line += " ratio " + std::to_string(rc_ratio) + "/" + std::to_string(ratio);
  line += " tls " + std::to_string(rc_tls) + "/" + std::to_string(tls);
  line += " host " + std::to_string(rc_host) + "/" + (rc_host == 0 ? std::string(host, len) : "") +
          "/" + std::to_string(len);
  line += " tiny " + std::to_string(rc_tiny) + "/" + std::to_string(need);
  line += " type " + std::to_string(rc_type) + "/" + std::to_string(type);
  // Out-parameters are written only on success: port keeps 5432.
  const int rc_missing = shmconf_get_int64(s, "database.nope", &port);
  const int rc_wrong = shmconf_get_int64(s, "database.host", &port);
  line += " missing " + std::to_string(rc_missing) + " wrong " + std::to_string(rc_wrong) +
          " untouched " + std::to_string(port);
  std::string keys;
  line += " list " + std::to_string(shmconf_snapshot_list(s, "database", list_key, &keys)) + keys;
  report(out, line);

  const uint64_t known = shmconf_snapshot_version(s);
  shmconf_snapshot_release(s);
  report(out, "waiting");
  rc = shmconf_wait_for_change(c, known, 30000);
  if (rc != 0) {
    report(out, std::string("error wait ") + shmconf_strerror(rc));
    return 1;
  }
  if ((rc = shmconf_snapshot_acquire(c, &s)) != 0) return 1;
  rc = shmconf_get_int64(s, "database.port", &port);
  const uint64_t version = shmconf_version(c);
  const int timeout = shmconf_wait_for_change(c, version, 1);
  report(out, "changed v" + std::to_string(shmconf_snapshot_version(s)) + " version " +
                  std::to_string(version) + " port " + std::to_string(rc) + "/" +
                  std::to_string(port) + " timeout " + std::to_string(timeout));
  shmconf_snapshot_release(s);
  shmconf_close(c);
  return 0;
}

class CApiTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", yaml(5432));
  }
};

TEST_F(CApiTest, ChildUsingOnlyCAbi_ReadsValuesAndWakesOnChange) {
  run_daemon();
  auto client = open_client();
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& child =
      start_child([&](int, int out) { return c_reader(ns.c_str(), prefix.c_str(), out); });
  const std::string expected =
      "v1 port 0/5432 ratio 0/0.500000 tls 0/1 host 0/db.internal/11 tiny " +
      std::to_string(SHMCONF_E_RANGE) + "/11 type 0/" + std::to_string(SHMCONF_TYPE_OBJECT) +
      " missing " + std::to_string(SHMCONF_E_NOT_FOUND) + " wrong " +
      std::to_string(SHMCONF_E_WRONG_TYPE) +
      " untouched 5432 list 0 database.host:" + std::to_string(SHMCONF_TYPE_STRING) +
      " database.port:" + std::to_string(SHMCONF_TYPE_INT) +
      " database.ratio:" + std::to_string(SHMCONF_TYPE_DOUBLE) +
      " database.tls:" + std::to_string(SHMCONF_TYPE_BOOL);
  ASSERT_EQ(child.next_report(), expected);
  ASSERT_EQ(child.next_report(), "waiting");

  write_source("config.yaml", yaml(6000));
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(child.next_report(),
            "changed v2 version 2 port 0/6000 timeout " + std::to_string(SHMCONF_E_TIMEOUT));
  ASSERT_TRUE(child.proc.wait(deadline()));
  EXPECT_TRUE(child.proc.exited_ok()) << describe_status(*child.proc.status);
}

TEST_F(CApiTest, OpenMissingNamespace_ReturnsNoNamespace) {
  shmconf_client* c = nullptr;
  EXPECT_EQ(shmconf_open_prefix("absent", prefix_.c_str(), &c), SHMCONF_E_NO_NAMESPACE);
  EXPECT_EQ(c, nullptr);
}

}  // namespace
}  // namespace shmconf::mptest
