// The etcd source over TLS with a client certificate (etcd's
// --client-cert-auth): certificates made by openssl for the test, the
// daemon's tls: {ca, cert, key}; without a client certificate the
// connection is refused and the error says TLS.
#include <gtest/gtest.h>

#include "etcd/etcd_fixture.hpp"

namespace shmconf::etcd_test {
namespace {

class EtcdTlsTest : public EtcdDaemonTest {
 protected:
  void BeforeEtcdStart() override {
    const auto openssl = OpsFindTool("openssl");
    if (!openssl) GTEST_SKIP() << "openssl is not installed; skipping the etcd TLS test";
    const fs::path d = dir_ / "pki";
    fs::create_directories(d);
    OpsWriteFile(d / "server.ext", "subjectAltName=IP:127.0.0.1\n");
    OpsWriteFile(d / "client.ext", "extendedKeyUsage=clientAuth\n");
    const std::string ec = "ec:" + (d / "p256.pem").string();
    const std::string o = openssl->string();
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {o, "ecparam", "-name", "prime256v1", "-out", (d / "p256.pem").string()},
             {o, "req", "-x509", "-newkey", ec, "-nodes", "-keyout", (d / "ca.key").string(),
              "-out", (d / "ca.pem").string(), "-days", "2", "-subj", "/CN=shmconf-test-ca"},
             {o, "req", "-newkey", ec, "-nodes", "-keyout", (d / "server.key").string(), "-out",
              (d / "server.csr").string(), "-subj", "/CN=127.0.0.1"},
             {o, "x509", "-req", "-in", (d / "server.csr").string(), "-CA", (d / "ca.pem").string(),
              "-CAkey", (d / "ca.key").string(), "-CAcreateserial", "-out",
              (d / "server.pem").string(), "-days", "2", "-extfile", (d / "server.ext").string()},
             {o, "req", "-newkey", ec, "-nodes", "-keyout", (d / "client.key").string(), "-out",
              (d / "client.csr").string(), "-subj", "/CN=shmconf"},
             {o, "x509", "-req", "-in", (d / "client.csr").string(), "-CA", (d / "ca.pem").string(),
              "-CAkey", (d / "ca.key").string(), "-CAcreateserial", "-out",
              (d / "client.pem").string(), "-days", "2", "-extfile",
              (d / "client.ext").string()}}) {
      const auto r = OpsRun(argv);
      ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
    }
    etcd_->EnableTls(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                     d / "client.key");
  }
};

TEST_F(EtcdTlsTest, ClientCertificate_PutSeen_WithoutOne_RefusedNamingTls) {
  const fs::path d = dir_ / "pki";
  etcd_->Put(key_ + "port", "5432");
  const std::string base = "      - etcd:\n          endpoints: [" + etcd_->url() +
                           "]\n          prefix: " + key_ +
                           "\n          tls: {ca: " + (d / "ca.pem").string();
  const fs::path config = WriteConfig(base + ", cert: " + (d / "client.pem").string() +
                                      ", key: " + (d / "client.key").string() + "}\n");
  OpsWriteFile(config, OpsReadFile(config) + "  nocert:\n    sources:\n" + base + "}\n");
  StartDaemon(config);
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "port", 5432));
  etcd_->Put(key_ + "port", "6000");
  ASSERT_TRUE(WaitInt(c, "port", 6000));
  const auto nocert = OpsCall((dir_ / "nocert.sock").string(), {{"cmd", "status"}});
  ASSERT_TRUE(nocert);
  EXPECT_EQ(nocert->value("live_version", 0), 0) << nocert->dump();
  EXPECT_NE(nocert->dump().find("TLS"), std::string::npos) << nocert->dump();
}

}  // namespace
}  // namespace shmconf::etcd_test
