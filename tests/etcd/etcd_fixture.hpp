// tests/etcd/etcd_fixture.hpp — a real etcd for the etcd-source tests: the
// Debian `etcd` binary on two free loopback ports with its own data
// directory, killed (and the directory removed) at the end. Restart() keeps
// the data, as a crashed and restarted member would.
//
// Tests that need it call EtcdOrSkip(): without the binary they are skipped
// with a message naming the package.
//
// Waiting: readiness is a deadline-bounded retry of a real request; no
// fixed sleeps.
#pragma once

#include <memory>
#include <string>

#include "multiprocess/ops_util.hpp"
#include "shmconf/client.hpp"
#include "sources/etcd/client.hpp"
#include "support/free_port.hpp"

namespace shmconf::etcd_test {

using namespace shmconf::ops_test;

class EtcdServer {
 public:
  explicit EtcdServer(fs::path dir) : dir_(std::move(dir)) {
    client_port_ = test::free_port();
    peer_port_ = test::free_port();
    while (peer_port_ == client_port_) peer_port_ = test::free_port();
  }
  ~EtcdServer() { Kill(); }

  static std::optional<fs::path> Binary() { return OpsFindTool("etcd"); }

  std::string url() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port_);
  }
  // Serve https:// with `cert`/`key`, and require client certificates
  // signed by `ca` (etcd's --client-cert-auth). Before Start().
  void EnableTls(const fs::path& ca, const fs::path& cert, const fs::path& key,
                 const fs::path& client_cert, const fs::path& client_key) {
    tls_ = true;
    tls_args_ = {"--cert-file",       cert.string(), "--key-file",        key.string(),
                 "--trusted-ca-file", ca.string(),   "--client-cert-auth"};
    ca_ = ca.string();
    client_cert_ = client_cert.string();
    client_key_ = client_key.string();
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }

  // Starts etcd and waits until it answers a range request.
  void Start() {
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::vector<std::string> args{"--name",
                                  "t",
                                  "--data-dir",
                                  (dir_ / "data").string(),
                                  "--listen-client-urls",
                                  url(),
                                  "--advertise-client-urls",
                                  url(),
                                  "--listen-peer-urls",
                                  peer,
                                  "--initial-advertise-peer-urls",
                                  peer,
                                  "--initial-cluster",
                                  "t=" + peer,
                                  "--logger",
                                  "zap",
                                  "--log-level",
                                  "error"};
    args.insert(args.end(), tls_args_.begin(), tls_args_.end());
    daemon_.Start(args, {}, dir_ / "etcd.log", Binary()->string());
    const bool up = OpsWaitUntil([&] {
      try {
        (void)Client().probe("/");
        return true;
      } catch (const std::exception&) {
        return false;
      }
    });
    if (!up) throw std::runtime_error("etcd did not start: " + OpsReadFile(dir_ / "etcd.log"));
  }
  void Kill() { daemon_.Kill(); }
  void Restart() {
    Kill();
    Start();
  }

  // A client of this server (root, once auth is on: SetRootPassword()).
  daemon::EtcdClient& Client() {
    if (!client_) {
      daemon::EtcdSpec s;
      s.endpoints = {url()};
      s.timeout_ms = 1000;
      s.ca_file = ca_;
      s.cert_file = client_cert_;
      s.key_file = client_key_;
      if (!root_password_.empty()) s.user = "root";
      client_ = std::make_unique<daemon::EtcdClient>(s, root_password_);
    }
    return *client_;
  }
  std::int64_t Put(const std::string& key, const std::string& value) {
    return Client().put(key, value);
  }
  void SetRootPassword(std::string pw) {
    root_password_ = std::move(pw);
    client_.reset();
  }

 private:
  // OpsDaemon runs SHMCONFD_BIN; this one runs etcd.
  class Process {
   public:
    ~Process() { Kill(); }
    void Start(const std::vector<std::string>& args, const std::vector<std::string>& env,
               const fs::path& log, const std::string& bin) {
      std::vector<std::string> argv{bin};
      argv.insert(argv.end(), args.begin(), args.end());
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      pid_ = OpsSpawn(argv, OpsChildEnv(env), fd, fd);
      if (fd >= 0) ::close(fd);
    }
    void Kill() {
      if (pid_ <= 0) return;
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
    }

   private:
    pid_t pid_ = -1;
  };

  fs::path dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  Process daemon_;
  std::string root_password_;
  std::unique_ptr<daemon::EtcdClient> client_;
  bool tls_ = false;
  std::vector<std::string> tls_args_;
  std::string ca_, client_cert_, client_key_;
};

// A real etcd, a daemon serving namespace "app" of a configuration the test
// writes, and readers attached to it.
class EtcdDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdServer::Binary()) {
      GTEST_SKIP() << "the etcd binary is not installed (Debian package etcd-server); "
                      "skipping the etcd source tests";
    }
    char tmpl[] = "/tmp/shmconf-etcd-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    etcd_ = std::make_unique<EtcdServer>(dir_);
    BeforeEtcdStart();
    if (IsSkipped() || HasFatalFailure()) return;
    etcd_->Start();
    prefix_ = OpsUniquePrefix();
    key_ = "/" + prefix_ + "/app/";
  }
  // For fixtures that configure the server first (TLS).
  virtual void BeforeEtcdStart() {}

  void TearDown() override {
    daemon_.Kill();
    etcd_.reset();
    if (!prefix_.empty()) OpsUnlinkShm(prefix_);
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // A daemon configuration with one namespace "app" whose sources are
  // `sources` (YAML list items, indented by 6).
  fs::path WriteConfig(const std::string& sources, const std::string& extra = "") {
    const fs::path p = dir_ / "shmconfd.yaml";
    OpsWriteFile(p, "prefix: " + prefix_ + "\nsocket_dir: " + dir_.string() +
                        "\nstate_dir: " + (dir_ / "state").string() +
                        "\naudit_log: " + (dir_ / "audit.log").string() +
                        "\nnamespaces:\n  app:\n    guards: {max_deleted_percent: 100}\n" + extra +
                        "    sources:\n" + sources);
    return p;
  }
  std::string TreeSource(const std::string& more = "") const {
    return "      - etcd:\n          endpoints: [" + etcd_->url() + "]\n          prefix: " + key_ +
           "\n" + more;
  }

  void StartDaemon(const fs::path& config, bool wait_live = true) {
    fs::create_directories(dir_ / "state");
    daemon_.Start({"--config", config.string()}, {}, dir_ / "shmconfd.log");
    const bool up = OpsWaitUntil([&] {
      const auto s = Status();
      return s && (!wait_live || s->value("live_version", 0) > 0);
    });
    ASSERT_TRUE(up) << daemon_.Log();
  }
  std::optional<nlohmann::json> Status() { return OpsCall(Socket(), {{"cmd", "status"}}); }
  std::string Socket() const { return (dir_ / "app.sock").string(); }
  nlohmann::json Etcd() { return Status().value()["etcd"][0]; }

  Client Reader() {
    ClientOptions o;
    o.prefix = prefix_;
    return Client::open("app", o);
  }
  // Waits in wait_for_change until `key` reads `want`.
  ::testing::AssertionResult WaitInt(Client& c, const std::string& key, std::int64_t want) {
    const auto deadline = OpsClock::now() + kOpsDeadline;
    for (;;) {
      const auto v = c.version();
      const auto got = c.get_int(key);
      if (got && *got == want) return ::testing::AssertionSuccess();
      if (OpsClock::now() >= deadline) {
        return ::testing::AssertionFailure() << key << " never became " << want << "\n"
                                             << daemon_.Log();
      }
      (void)c.wait_for_change(v, std::chrono::milliseconds(500));
    }
  }

  fs::path dir_;
  std::unique_ptr<EtcdServer> etcd_;
  std::string prefix_;
  std::string key_;
  OpsDaemon daemon_;
};

}  // namespace shmconf::etcd_test
