// sources/sealed.hpp: sealed boxes, ${sealed:ID:BASE64} during substitution
// with its errors (file:line:col, key path), sealed values marked sensitive
// in the segment, and the state directory that holds only the sealed text.
#include "sources/sealed.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "config/daemon_config.hpp"
#include "core/namespace_service.hpp"
#include "shmconf/client.hpp"
#include "sources/sources.hpp"
#include "support/shm_prefix.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCanary = "canary-5be1f09d3a7c";

class SealedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "shmconf-seal-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    base_.credentials_dir = dir_ + "/creds";
    base_.getenv = [](const std::string&) { return std::nullopt; };
    write("creds/seal", sealed::to_base64(keys_.private_key) + "\n");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& rel, const std::string& text) {
    const fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::string sealed_ref(std::string_view plain, std::string_view id = "prod") {
    return sealed::reference(id, sealed::seal(plain, keys_.public_key));
  }
  SubstitutionContext ctx(std::map<std::string, std::string> keys = {
                              {"prod", "${credential:seal}"}}) {
    return sealed::with_sealing_keys(base_, keys);
  }
  std::string expand(std::string_view text, const SubstitutionContext& c) {
    return shmconf::daemon::expand(text, c, SubstitutionSite{"f.yaml", 3, 7, "a.b"});
  }
  std::string expand_error(std::string_view text, const SubstitutionContext& c) {
    try {
      const std::string out = expand(text, c);
      return "(no error; " + std::to_string(out.size()) + " bytes)";
    } catch (const ConfigError& e) {
      return e.what();
    }
  }

  std::string dir_;
  sealed::KeyPair keys_ = sealed::generate();
  SubstitutionContext base_;
};

TEST_F(SealedTest, SealThenOpen_RoundTrip) {
  const std::string c = sealed::seal(kCanary, keys_.public_key);
  EXPECT_EQ(c.size(), std::string_view(kCanary).size() + sealed::kOverheadBytes);
  EXPECT_EQ(c.find(kCanary), std::string::npos);
  EXPECT_EQ(sealed::open(c, keys_.private_key).value_or("<failed>"), kCanary);
  EXPECT_EQ(sealed::public_key_of(keys_.private_key), keys_.public_key);
  // Sealing is randomised: the same value twice gives two ciphertexts.
  EXPECT_NE(sealed::seal(kCanary, keys_.public_key), c);
}

TEST_F(SealedTest, OpenWithAnotherKey_Fails) {
  const sealed::KeyPair other = sealed::generate();
  EXPECT_FALSE(sealed::open(sealed::seal(kCanary, keys_.public_key), other.private_key));
}

TEST_F(SealedTest, TamperedCiphertext_Fails) {
  const std::string c = sealed::seal(kCanary, keys_.public_key);
  for (std::size_t i : {std::size_t{0}, std::size_t{33}, c.size() - 1}) {
    std::string t = c;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    EXPECT_FALSE(sealed::open(t, keys_.private_key)) << "byte " << i;
  }
  EXPECT_FALSE(sealed::open(c.substr(0, c.size() - 1), keys_.private_key));
  EXPECT_FALSE(sealed::open("short", keys_.private_key));
}

TEST_F(SealedTest, Base64_RoundTripAndRefusals) {
  EXPECT_EQ(sealed::to_base64("hello"), "aGVsbG8=");
  EXPECT_EQ(sealed::from_base64("aGVsbG8=").value_or("<bad>"), "hello");
  EXPECT_FALSE(sealed::from_base64("aGVsbG8"));     // padding required
  EXPECT_FALSE(sealed::from_base64("aGVs bG8="));   // no spaces
  EXPECT_FALSE(sealed::from_base64("aGVsbG8=\n"));  // nothing trailing
  EXPECT_FALSE(sealed::from_base64("aGV*bG8="));
  std::string why;
  EXPECT_FALSE(sealed::parse_key("aGVsbG8=", &why));
  EXPECT_NE(why.find("32 bytes"), std::string::npos);
  EXPECT_EQ(sealed::parse_key(sealed::to_base64(keys_.public_key) + "\n", &why), keys_.public_key);
}

TEST_F(SealedTest, Substitution_OpensSealedReferenceAlsoInsideALongerString) {
  const SubstitutionContext c = ctx();
  EXPECT_EQ(expand(sealed_ref(kCanary), c), kCanary);
  EXPECT_EQ(expand("pw=" + sealed_ref("x${y}") + ";", c), "pw=x${y};");  // one pass
}

TEST_F(SealedTest, Substitution_KeyFileByPathAndSeveralKeyIds) {
  const sealed::KeyPair next = sealed::generate();
  const std::string p = write("next.key", sealed::to_base64(next.private_key) + "\n");
  const SubstitutionContext c =
      ctx({{"prod", "${credential:seal}"}, {"prod-2", "${file:" + p + "}"}});
  EXPECT_EQ(expand(sealed_ref("old"), c), "old");
  EXPECT_EQ(expand(sealed::reference("prod-2", sealed::seal("new", next.public_key)), c), "new");
}

TEST_F(SealedTest, HasSealedReference_OnlyARealReference) {
  EXPECT_TRUE(has_sealed_reference("${sealed:k:AAAA}"));
  EXPECT_TRUE(has_sealed_reference("a ${HOST} b ${sealed:k:AAAA}"));
  EXPECT_FALSE(has_sealed_reference("$${sealed:k:AAAA}"));
  EXPECT_FALSE(has_sealed_reference("${HOST:-sealed:}"));
  EXPECT_FALSE(has_sealed_reference("sealed:k:AAAA"));
}

TEST_F(SealedTest, Errors_NameSiteKeyIdAndCause_NeverThePlaintext) {
  const SubstitutionContext c = ctx();
  const std::string ref = sealed_ref(kCanary);
  const std::string b64 = ref.substr(14, ref.size() - 15);  // after "${sealed:prod:"
  const std::string shown = b64.substr(0, 12) + "...}";

  const std::string unknown = expand_error("${sealed:old:" + b64 + "}", c);
  EXPECT_EQ(unknown, "f.yaml:3:7: a.b: ${sealed:old:" + shown +
                         ": no sealing key 'old' is configured for this namespace "
                         "(sealing_keys: prod)");

  EXPECT_EQ(expand_error("${sealed:prod:not*base64}", c),
            "f.yaml:3:7: a.b: ${sealed:prod:not*base64}: the ciphertext is not valid base64");
  EXPECT_EQ(expand_error("${sealed:prod:aGVsbG8=}", c),
            "f.yaml:3:7: a.b: ${sealed:prod:aGVsbG8=}: the ciphertext is too short to be a sealed "
            "box (5 bytes)");

  std::string tampered = sealed::from_base64(b64).value();
  tampered[40] = static_cast<char>(tampered[40] ^ 0x20);
  const std::string t64 = sealed::to_base64(tampered);
  EXPECT_EQ(expand_error("${sealed:prod:" + t64 + "}", c),
            "f.yaml:3:7: a.b: ${sealed:prod:" + t64.substr(0, 12) +
                "...}: cannot be opened with sealing key 'prod': sealed to another key, or "
                "altered");

  const sealed::KeyPair other = sealed::generate();
  const std::string wrong = sealed::reference("prod", sealed::seal(kCanary, other.public_key));
  EXPECT_NE(expand_error(wrong, c).find("cannot be opened with sealing key 'prod'"),
            std::string::npos);

  EXPECT_EQ(expand_error(ref, base_), "f.yaml:3:7: a.b: ${sealed:prod:" + shown +
                                          ": no sealing_keys are configured for this namespace");
  EXPECT_NE(expand_error("${sealed:prod}", c).find("a sealed reference is ${sealed:KEY_ID:BASE64}"),
            std::string::npos);
  EXPECT_NE(expand_error("${sealed:a/b:AAAA}", c).find("KEY_ID in [A-Za-z0-9_.-]{1,64}"),
            std::string::npos);
  for (const std::string& e :
       {unknown, expand_error(wrong, c), expand_error("${sealed:prod:" + t64 + "}", c)}) {
    EXPECT_EQ(e.find(kCanary), std::string::npos) << e;
  }
}

TEST_F(SealedTest, Errors_KeyMissingOrNotAKey) {
  const std::string ref = sealed_ref("x");
  EXPECT_EQ(expand_error(ref, ctx({{"prod", "${credential:none}"}})).substr(0, 49),
            "f.yaml:3:7: a.b: ${sealed:prod:" + ref.substr(14, 12) + "...}: ");
  EXPECT_NE(expand_error(ref, ctx({{"prod", "${credential:none}"}}))
                .find(": sealing key 'prod': ${credential:none}: cannot read "
                      "credential none: No such file or directory"),
            std::string::npos);
  write("creds/bad", "not a key\n");
  EXPECT_NE(expand_error(sealed_ref("x"), ctx({{"prod", "${credential:bad}"}}))
                .find(": sealing key 'prod' (${credential:bad}): not a key: expected one line of "
                      "base64 holding 32 bytes"),
            std::string::npos);
}

TEST_F(SealedTest, LoadedFile_ErrorNamesFileLineColumnAndKeyPath) {
  const std::string f = write("app.yaml", "svc:\n  auth: \"${sealed:gone:AAAA}\"\n");
  ServiceOptions o;
  o.sources = {file_source(f)};
  LoadedSources out;
  try {
    load_sources(o, ctx(), out);
    ADD_FAILURE() << "no error";
  } catch (const SourceError& e) {
    EXPECT_EQ(e.kind(), "substitution");
    EXPECT_EQ(std::string(e.what()), f + ":2:9: svc.auth: ${sealed:gone:AAAA}: no sealing key "
                                         "'gone' is configured for this namespace "
                                         "(sealing_keys: prod)");
  }
}

TEST_F(SealedTest, SealedPaths_FromTheTreeAsWritten) {
  const std::string f = write("app.yaml", "a: " + sealed_ref("1") + "\nb: plain\nl: [x, \"" +
                                              sealed_ref("2") + "\"]\nc: $${sealed:k:AAAA}\n");
  ServiceOptions o;
  o.sources = {file_source(f)};
  LoadedSources out;
  load_sources(o, ctx(), out);
  ASSERT_TRUE(out.templates);
  EXPECT_EQ(sealed_paths(*out.templates), (std::set<std::string>{"a", "l[1]"}));
  EXPECT_EQ(to_json(out.merged), R"({"a":"1","b":"plain","c":"${sealed:k:AAAA}","l":["x","2"]})");
}

TEST_F(SealedTest, DaemonConfig_SealingKeys) {
  const DaemonConfig c = parse_daemon_config(
      "namespaces:\n  app:\n    sources: [{file: a.yaml}]\n"
      "    sealing_keys:\n      prod: ${credential:seal}\n      old.1: keys/old.key\n",
      "/etc/shmconf/shmconfd.yaml");
  ASSERT_EQ(c.namespaces.size(), 1u);
  EXPECT_EQ(c.namespaces[0].options.sealing_keys,
            (std::map<std::string, std::string>{{"old.1", "${file:/etc/shmconf/keys/old.key}"},
                                                {"prod", "${credential:seal}"}}));
  const auto error = [](const std::string& keys) -> std::string {
    try {
      parse_daemon_config(
          "namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    sealing_keys: " + keys + "\n",
          "/etc/d.yaml");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error("{\"a/b\": x}"),
            "/etc/d.yaml:4:27: namespaces.app.sealing_keys.a/b: a key id must match "
            "[A-Za-z0-9_.-]{1,64}");
  EXPECT_NE(error("{k: \"${sealed:x:AAAA}\"}").find("cannot itself be sealed"), std::string::npos);
  EXPECT_NE(error("{}").find("must name at least one key"), std::string::npos);
}

TEST_F(SealedTest, SealingKeyFlag_ReferenceOrPath) {
  EXPECT_EQ(sealed::parse_sealing_key_flag("prod=${credential:seal}"),
            (std::pair<std::string, std::string>{"prod", "${credential:seal}"}));
  EXPECT_EQ(sealed::parse_sealing_key_flag("k=/etc/x/../k.key"),
            (std::pair<std::string, std::string>{"k", "${file:/etc/k.key}"}));
  EXPECT_THROW(sealed::parse_sealing_key_flag("prod"), std::invalid_argument);
  EXPECT_THROW(sealed::parse_sealing_key_flag("prod="), std::invalid_argument);
  EXPECT_THROW(sealed::parse_sealing_key_flag("a/b=x"), std::invalid_argument);
  EXPECT_THROW(sealed::parse_sealing_key_flag("k=${sealed:k:AAAA}"), std::invalid_argument);
}

// ---- publish, redaction marks and the state directory ------------------------

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class SealedServiceTest : public SealedTest {
 protected:
  void SetUp() override {
    SealedTest::SetUp();
    prefix_ = "ut" + std::to_string(::getpid()) + "seal" + std::to_string(++counter_);
    opts_.name = "app";
    opts_.prefix = prefix_;
    opts_.state_dir = dir_ + "/state";
    // A key whose name the built-in rule does not call secret, and one it does.
    opts_.sources = {file_source(write(
        "app.yaml",
        "svc:\n  endpoint_auth: " + sealed_ref(kCanary) +
            "\n  host: h\ndb:\n  password: " + sealed_ref("pw-" + std::string(kCanary)) + "\n"))};
    opts_.sealing_keys = {{"prod", "${file:" + dir_ + "/creds/seal}"}};
  }
  void TearDown() override {
    test::unlink_prefix(prefix_);
    SealedTest::TearDown();
  }
  Client client() {
    ClientOptions co;
    co.prefix = prefix_;
    return Client::open("app", co);
  }
  void expect_no_canary_on_disk() {
    std::size_t files = 0;
    for (const auto& e : fs::recursive_directory_iterator(opts_.state_dir)) {
      if (!e.is_regular_file()) continue;
      ++files;
      EXPECT_EQ(slurp(e.path()).find(kCanary), std::string::npos) << e.path();
    }
    EXPECT_GT(files, 0u);
  }

  inline static int counter_ = 0;
  std::string prefix_;
  ServiceOptions opts_;
};

TEST_F(SealedServiceTest, Publish_PlaintextLiveAndSensitive_StateHoldsOnlySealedText) {
  {
    NamespaceService svc(opts_);
    svc.start();
    const ReloadOutcome out = svc.reload("test");
    ASSERT_TRUE(out.ok) << out.error;  // a sealed reference is not a plaintext secret
    ASSERT_TRUE(svc.flush_state().has_value());
    auto c = client();
    auto snap = c.snapshot();
    EXPECT_EQ(std::string(snap.get_string("svc.endpoint_auth").value_or("")), kCanary);
    ASSERT_TRUE(snap.get("svc.endpoint_auth"));
    EXPECT_TRUE(snap.get("svc.endpoint_auth")->sensitive());
    EXPECT_TRUE(snap.get("db.password")->sensitive());
    EXPECT_FALSE(snap.get("svc.host")->sensitive());
    EXPECT_TRUE(svc.explain("svc.endpoint_auth").sensitive);
  }
  expect_no_canary_on_disk();
  EXPECT_NE(slurp(opts_.state_dir + "/app/versions/1.tmpl.seg").find("${sealed:prod:"),
            std::string::npos);
}

TEST_F(SealedServiceTest, Restore_AfterReboot_OpensWithTheNamespaceKeysAndKeepsTheMark) {
  {
    NamespaceService svc(opts_);
    svc.start();
    ASSERT_TRUE(svc.reload("test").ok);
    ASSERT_TRUE(svc.flush_state().has_value());
  }
  test::unlink_prefix(prefix_);  // a reboot empties /dev/shm
  // The sources are broken now: only the state directory can serve.
  write("app.yaml", "svc: [\n");
  NamespaceService svc(opts_);
  svc.start();
  EXPECT_EQ(svc.live_version(), 1u);
  auto snap = client().snapshot();
  EXPECT_EQ(std::string(snap.get_string("svc.endpoint_auth").value_or("")), kCanary);
  EXPECT_TRUE(snap.get("svc.endpoint_auth")->sensitive());
}

TEST_F(SealedServiceTest, UnknownKeyId_RejectsTheReloadAndTheLiveVersionStays) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write("app.yaml", "svc:\n  endpoint_auth: \"${sealed:next:AAAA}\"\n");
  const ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "substitution");
  EXPECT_NE(out.error.find("app.yaml:2:18: svc.endpoint_auth: ${sealed:next:AAAA}: no sealing key "
                           "'next'"),
            std::string::npos)
      << out.error;
  EXPECT_EQ(svc.live_version(), 1u);
  EXPECT_EQ(std::string(client().snapshot().get_string("svc.endpoint_auth").value_or("")), kCanary);
}

}  // namespace
}  // namespace shmconf::daemon
