// Sealed secrets end to end (docs/SECRETS.md): keys made and a value sealed
// with shmconfctl, a real shmconfd opening it with a key from
// $CREDENTIALS_DIRECTORY, a reader in this process seeing the plaintext, and
// the plaintext nowhere else: not in the state directory, the daemon's log,
// the audit log, `history`, `diff`, `dump`, `get`, `explain` or `status`.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

constexpr const char* kCanary1 = "canary-one-4e0c91d7b2";
constexpr const char* kCanary2 = "canary-two-a83f5c1e66";

class SealedSecretsTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    std::filesystem::create_directories(path("creds"));
    daemon_env_ = {"CREDENTIALS_DIRECTORY=" + path("creds")};
    socket_ = path("app.sock");
    audit_log_ = path("audit.log");
  }

  // seal-keygen into the credentials directory; the public key (base64).
  std::string keygen(const std::string& credential) {
    const CtlResult r = ctl_raw({"seal-keygen", "--out", path("creds/" + credential), "--public",
                                 path(credential + ".pub")});
    EXPECT_EQ(r.code, 0) << r;
    EXPECT_EQ(::access(path("creds/" + credential).c_str(), R_OK), 0);
    struct stat st {};
    EXPECT_EQ(::stat(path("creds/" + credential).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string pub = r.out;
    if (pub.ends_with('\n')) pub.pop_back();
    return pub;
  }

  std::string seal(const std::string& value, const std::string& key_id,
                   const std::string& pub_file) {
    const CtlResult r = ctl_raw({"seal", "--public-key", pub_file, "--key-id", key_id, value});
    EXPECT_EQ(r.code, 0) << r;
    std::string ref = r.out;
    if (ref.ends_with('\n')) ref.pop_back();
    EXPECT_TRUE(ref.starts_with("${sealed:" + key_id + ":")) << ref;
    // The plaintext is not in the sealed text. Only checked for values of
    // 8 bytes or more: a short one ("va") turns up in random base64 by chance.
    if (value.size() >= 8) {
      EXPECT_EQ(ref.find(value), std::string::npos);
    }
    return ref;
  }

  void write_config(const std::string& keys) {
    write_source("shmconfd.yaml",
                 "socket_dir: .\n"
                 "state_dir: state\n"
                 "audit_log: audit.log\n"
                 "log_level: debug\n"
                 "watch: false\n"
                 "namespaces:\n"
                 "  app:\n"
                 "    sources: [{file: app.yaml}]\n"
                 "    sealing_keys:\n" +
                     keys);
  }

  Process& start() {
    Process& d = start_daemon_argv({SHMCONFD_BIN, "--config", path("shmconfd.yaml")});
    EXPECT_TRUE(wait_ready(d));
    return d;
  }

  CtlResult ctl_ns(std::vector<std::string> args) {
    args.insert(args.end(), {"--name", "app", "--socket", socket_, "--prefix", prefix_});
    return ctl_raw(args);
  }

  // Every file under `dir`, with its text.
  std::vector<std::pair<std::string, std::string>> files_under(const std::string& dir) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) out.emplace_back(e.path().string(), read_text(e.path().string()));
    }
    return out;
  }
};

TEST_F(SealedSecretsTest, CanaryReadableByClients_AbsentFromStateLogsHistoryDiffAndDump) {
  keygen("shmconf-seal");
  write_config("      prod: ${credential:shmconf-seal}\n");
  // endpoint_auth is no secret by name: only the seal makes it sensitive.
  write_source("app.yaml", "svc:\n  host: h\n  endpoint_auth: " +
                               seal(kCanary1, "prod", path("shmconf-seal.pub")) + "\n");
  Process& d = start();
  auto c = shmconf::Client::open("app", client_options());
  {
    auto snap = c.snapshot();
    EXPECT_EQ(std::string(snap.get_string("svc.endpoint_auth").value_or("")), kCanary1);
    ASSERT_TRUE(snap.get("svc.endpoint_auth"));
    EXPECT_TRUE(snap.get("svc.endpoint_auth")->sensitive());
  }

  // Version 2 seals another value at the same key, so diff has it to show.
  write_source("app.yaml", "svc:\n  host: h2\n  endpoint_auth: " +
                               seal(kCanary2, "prod", path("shmconf-seal.pub")) + "\n");
  const CtlResult reload = ctl_ns({"reload"});
  ASSERT_EQ(reload.code, 0) << reload;
  ASSERT_TRUE(await_version(c, 2));
  EXPECT_EQ(std::string(c.snapshot().get_string("svc.endpoint_auth").value_or("")), kCanary2);

  std::vector<std::pair<std::string, CtlResult>> outputs;
  for (const auto& args : std::vector<std::vector<std::string>>{{"dump"},
                                                                {"dump", "--json"},
                                                                {"get", "svc.endpoint_auth"},
                                                                {"explain", "svc.endpoint_auth"},
                                                                {"history"},
                                                                {"history", "--json"},
                                                                {"diff", "1", "2"},
                                                                {"diff", "1", "2", "--json"},
                                                                {"status", "--json"}}) {
    CtlResult r = ctl_ns(args);
    EXPECT_EQ(r.code, 0) << testing::PrintToString(args) << r;
    outputs.emplace_back(testing::PrintToString(args), std::move(r));
  }
  // The checks can see the canary where it is allowed: dump --show-secrets.
  const CtlResult shown = ctl_ns({"dump", "--show-secrets"});
  EXPECT_TRUE(contains(shown.out, kCanary2)) << shown;
  EXPECT_TRUE(contains(outputs[0].second.out, "<redacted>")) << outputs[0].second;
  EXPECT_TRUE(contains(outputs[6].second.out, "svc.endpoint_auth")) << outputs[6].second;

  ASSERT_TRUE(stop_daemon(d).has_value());
  std::vector<std::pair<std::string, std::string>> texts;
  for (auto& [what, r] : outputs) {
    texts.emplace_back("shmconfctl " + what + " stdout", r.out);
    texts.emplace_back("shmconfctl " + what + " stderr", r.err);
  }
  texts.emplace_back("daemon log", read_text(d.log));
  texts.emplace_back("audit log", read_text(audit_log_));
  const auto state = files_under(path("state"));
  ASSERT_FALSE(state.empty());
  texts.insert(texts.end(), state.begin(), state.end());
  bool saw_sealed_template = false;
  for (const auto& [what, text] : texts) {
    EXPECT_FALSE(contains(text, kCanary1)) << what << ":\n" << text;
    EXPECT_FALSE(contains(text, kCanary2)) << what << ":\n" << text;
    saw_sealed_template = saw_sealed_template || contains(text, "${sealed:prod:");
  }
  EXPECT_TRUE(saw_sealed_template);  // the state directory keeps the sealed text

  // After a reboot (empty /dev/shm) the restarted daemon restores version 2
  // from its sealed template with the key from the credentials directory,
  // while the sources are broken.
  unlink_shm_objects(prefix_);
  write_source("app.yaml", "svc: [\n");
  start();
  auto again = shmconf::Client::open("app", client_options());
  EXPECT_EQ(again.version(), 2u);
  EXPECT_EQ(std::string(again.snapshot().get_string("svc.endpoint_auth").value_or("")), kCanary2);
}

TEST_F(SealedSecretsTest, KeyRotation_TwoIdsThenTheOldOneRemoved_UnknownIdRejectsWithPosition) {
  keygen("seal-old");
  keygen("seal-new");
  write_config(
      "      old: ${credential:seal-old}\n"
      "      new: ${credential:seal-new}\n");
  // Mid-rotation: one value still sealed with the old key, one re-sealed.
  write_source("app.yaml", "a: " + seal("va", "old", path("seal-old.pub")) +
                               "\nb: " + seal("vb", "new", path("seal-new.pub")) + "\n");
  Process& d = start();
  auto c = shmconf::Client::open("app", client_options());
  EXPECT_EQ(std::string(c.snapshot().get_string("a").value_or("")), "va");
  EXPECT_EQ(std::string(c.snapshot().get_string("b").value_or("")), "vb");

  // The old id removed before every value was re-sealed: the reload is
  // refused with the file, line, column and key path; version 1 stays.
  ASSERT_TRUE(stop_daemon(d).has_value());
  write_config("      new: ${credential:seal-new}\n");
  start();
  const CtlResult r = ctl_ns({"reload"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(contains(r.out + r.err, path("app.yaml") + ":1:4: a: ${sealed:old:")) << r;
  EXPECT_TRUE(contains(r.out + r.err, "no sealing key 'old' is configured")) << r;
  EXPECT_EQ(c.version(), 1u);
  EXPECT_EQ(std::string(c.snapshot().get_string("a").value_or("")), "va");

  // Re-sealed with the new key: accepted.
  write_source("app.yaml", "a: " + seal("va2", "new", path("seal-new.pub")) +
                               "\nb: " + seal("vb", "new", path("seal-new.pub")) + "\n");
  const CtlResult ok = ctl_ns({"reload"});
  EXPECT_EQ(ok.code, 0) << ok;
  EXPECT_EQ(std::string(c.snapshot().get_string("a").value_or("")), "va2");
}

TEST_F(SealedSecretsTest, FlagsMode_SealingKeyFlagOpensTheValue) {
  const std::string pub = keygen("seal");
  // The public key given inline, as a pipeline would.
  const CtlResult r = ctl_raw({"seal", "--public-key-base64", pub, "--key-id", "k1", kCanary1});
  ASSERT_EQ(r.code, 0) << r;
  write_source("app.yaml", "token: " + r.out);
  sources_ = {"app.yaml"};
  socket_ = path("ctl.sock");
  run_daemon({"--sealing-key", "k1=${credential:seal}"});
  auto c = open_client();
  EXPECT_EQ(std::string(c.snapshot().get_string("token").value_or("")), kCanary1);
  const CtlResult get = ctl({"get", "token"});
  EXPECT_EQ(get.code, 0) << get;
  EXPECT_FALSE(contains(get.out, kCanary1)) << get;
  EXPECT_TRUE(contains(get.out, "<redacted>")) << get;
}

}  // namespace
}  // namespace shmconf::mptest
