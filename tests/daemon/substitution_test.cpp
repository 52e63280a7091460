// sources/substitute.hpp and state/templates.hpp: ${...} references, their
// errors with file:line:col and key path, and the state directory that
// never holds what a reference resolved to.
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "control/replies.hpp"
#include "core/namespace_service.hpp"
#include "shmconf/client.hpp"
#include "sources/sources.hpp"
#include "sources/substitute.hpp"
#include "support/shm_prefix.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

class SubstitutionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "shmconf-sub-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ctx_.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    ctx_.credentials_dir = dir_ + "/creds";
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
  std::string expand(std::string_view text) {
    return shmconf::daemon::expand(text, ctx_, SubstitutionSite{"f.yaml", 3, 7, "a.b"});
  }
  std::string expand_error(std::string_view text) {
    try {
      expand(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  // Loads one file source and returns the error text, kind checked.
  std::string load_error(const std::string& file) {
    ServiceOptions o;
    o.sources = {file_source(file)};
    LoadedSources out;
    try {
      load_sources(o, ctx_, out);
    } catch (const SourceError& e) {
      EXPECT_EQ(e.kind(), "substitution");
      return e.what();
    }
    return "(no error)";
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
  SubstitutionContext ctx_;
};

TEST_F(SubstitutionTest, Variable_Replaced) {
  env_["HOST"] = "db1";
  EXPECT_EQ(expand("${HOST}"), "db1");
  EXPECT_EQ(expand("postgres://${HOST}:5432/${HOST}"), "postgres://db1:5432/db1");
}

TEST_F(SubstitutionTest, Default_UsedWhenUnsetOrEmpty) {
  EXPECT_EQ(expand("${PORT:-5432}"), "5432");
  EXPECT_EQ(expand("${PORT:5432}"), "5432");
  EXPECT_EQ(expand("${PORT:-}"), "");
  EXPECT_EQ(expand("${URL:-http://x:1/y}"), "http://x:1/y");
  env_["PORT"] = "";
  EXPECT_EQ(expand("${PORT:-5432}"), "5432");
  env_["PORT"] = "6000";
  EXPECT_EQ(expand("${PORT:-5432}"), "6000");
  EXPECT_EQ(expand("${PORT:5432}"), "6000");
}

TEST_F(SubstitutionTest, EmptyVariableWithoutDefault_IsEmpty) {
  env_["EMPTY"] = "";
  EXPECT_EQ(expand("[${EMPTY}]"), "[]");
}

TEST_F(SubstitutionTest, File_ContentWithOneTrailingNewlineStripped) {
  const std::string p = write("secret.txt", "s3cret\n\n");
  EXPECT_EQ(expand("${file:" + p + "}"), "s3cret\n");
  write("secret.txt", "line1\nline2");
  EXPECT_EQ(expand("${file:" + p + "}"), "line1\nline2");
}

TEST_F(SubstitutionTest, Credential_ReadFromCredentialsDirectory) {
  write("creds/db_password", "hunter2\n");
  EXPECT_EQ(expand("${credential:db_password}"), "hunter2");
}

TEST_F(SubstitutionTest, DollarDollarBrace_IsALiteral) {
  env_["X"] = "x";
  EXPECT_EQ(expand("$${X}"), "${X}");
  EXPECT_EQ(expand("a $${X} ${X} $5 $ $x"), "a ${X} x $5 $ $x");
}

TEST_F(SubstitutionTest, ExpansionIsOnePass) {
  env_["A"] = "${B}";
  env_["B"] = "b";
  EXPECT_EQ(expand("${A}"), "${B}");
}

TEST_F(SubstitutionTest, Errors_NameSiteAndReference) {
  EXPECT_EQ(expand_error("${NOPE}"),
            "f.yaml:3:7: a.b: ${NOPE}: environment variable NOPE is not set and has no default");
  EXPECT_EQ(expand_error("x ${NOPE"),
            "f.yaml:3:7: a.b: unterminated \"${\" at character 3 of the string; write \"$${\" "
            "for a literal \"${\"");
  EXPECT_EQ(expand_error("${}"), "f.yaml:3:7: a.b: empty reference \"${}\"");
  EXPECT_EQ(expand_error("${file:" + dir_ + "/none}"), "f.yaml:3:7: a.b: ${file:" + dir_ +
                                                           "/none}: cannot read " + dir_ +
                                                           "/none: No such file or directory");
  EXPECT_EQ(expand_error("${file:relative.txt}"),
            "f.yaml:3:7: a.b: ${file:relative.txt}: the file path must be absolute");
  EXPECT_EQ(expand_error("${credential:none}"),
            "f.yaml:3:7: a.b: ${credential:none}: cannot read credential none: No such file or "
            "directory");
  EXPECT_EQ(expand_error("${credential:../x}"),
            "f.yaml:3:7: a.b: ${credential:../x}: a credential name is non-empty and holds no "
            "'/'");
  EXPECT_EQ(expand_error("${a-b}"),
            "f.yaml:3:7: a.b: ${a-b}: 'a-b' is not a variable name ([A-Za-z_][A-Za-z0-9_]*), "
            "'file:', 'credential:' or 'sealed:'");
}

TEST_F(SubstitutionTest, Credential_WithoutCredentialsDirectory_Error) {
  ctx_.credentials_dir.reset();
  const char* saved = std::getenv("CREDENTIALS_DIRECTORY");
  const std::string keep = saved ? saved : "";
  ::unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_EQ(expand_error("${credential:x}"),
            "f.yaml:3:7: a.b: ${credential:x}: CREDENTIALS_DIRECTORY is not set (systemd "
            "LoadCredential=)");
  if (saved) ::setenv("CREDENTIALS_DIRECTORY", keep.c_str(), 1);
}

TEST_F(SubstitutionTest, File_OverTheSizeLimit_Error) {
  ctx_.max_file_size = 4;
  const std::string p = write("big.txt", "12345");
  EXPECT_EQ(expand_error("${file:" + p + "}"), "f.yaml:3:7: a.b: ${file:" + p + "}: cannot read " +
                                                   p + ": larger than the limit of 4 bytes");
}

TEST_F(SubstitutionTest, LoadedFile_ErrorNamesFileLineColumnAndKeyPath) {
  const std::string f = write("app.yaml", "db:\n  host: ${DB_HOST}\n");
  EXPECT_EQ(load_error(f), f + ":2:9: db.host: ${DB_HOST}: environment variable DB_HOST is not "
                               "set and has no default");
  const std::string g =
      write("list.yaml", "servers:\n  - name: a\n    token: \"${file:/nonexistent/t}\"\n");
  EXPECT_EQ(load_error(g), g + ":3:12: servers[0].token: ${file:/nonexistent/t}: cannot read "
                               "/nonexistent/t: No such file or directory");
  const std::string h = write("u.json", "{\n  \"a\": {\"b\": \"x${\"}\n}");
  const std::string e = load_error(h);
  EXPECT_TRUE(e.starts_with(h + ":2:")) << e;
  EXPECT_NE(e.find(": a.b: unterminated \"${\""), std::string::npos) << e;
}

TEST_F(SubstitutionTest, Load_EachFormatSubstitutedBeforeMerge) {
  env_["A"] = "from-env";
  write("creds/pw", "pw1\n");
  ServiceOptions o;
  o.sources = {file_source(write("a.yaml", "a: ${A}\nkeep: $${A}\nlist: ['${A:-x}']\n")),
               file_source(write("b.json", R"({"pw": "${credential:pw}"})")),
               file_source(write("c.toml", "t = \"${MISSING:-dflt}\"\n"))};
  LoadedSources l;
  load_sources(o, ctx_, l);
  EXPECT_EQ(to_json(l.merged),
            R"({"a":"from-env","keep":"${A}","list":["from-env"],"pw":"pw1","t":"dflt"})");
  ASSERT_TRUE(l.templates.has_value());
  EXPECT_EQ(to_json(*l.templates),
            R"({"a":"${A}","keep":"$${A}","list":["${A:-x}"],"pw":"${credential:pw}",)"
            R"("t":"${MISSING:-dflt}"})");
  EXPECT_EQ(substituted_paths(l.merged, *l.templates),
            (std::vector<std::string>{"a", "keep", "list[0]", "pw", "t"}));
}

TEST_F(SubstitutionTest, Load_ErrorInALayerFailsEvenIfALaterLayerReplacesTheKey) {
  ServiceOptions o;
  o.sources = {file_source(write("a.yaml", "a: ${NOPE}\n")),
               file_source(write("b.yaml", "a: 1\n"))};
  LoadedSources l;
  EXPECT_THROW(load_sources(o, ctx_, l), SourceError);
}

TEST_F(SubstitutionTest, Load_OverriddenReferenceLeavesNoSubstitutedPath) {
  env_["A"] = "x";
  ServiceOptions o;
  o.sources = {file_source(write("a.yaml", "a: ${A}\nb: 1\n")),
               file_source(write("b.yaml", "a: plain\n"))};
  LoadedSources l;
  load_sources(o, ctx_, l);
  ASSERT_TRUE(l.templates.has_value());
  EXPECT_TRUE(substituted_paths(l.merged, *l.templates).empty());
}

// ---- the state directory -----------------------------------------------------

std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void unlink_shm(const std::string& prefix) { test::unlink_prefix(prefix); }

class StateSecretsTest : public SubstitutionTest {
 protected:
  void SetUp() override {
    SubstitutionTest::SetUp();
    prefix_ = "ut" + std::to_string(::getpid()) + "s" + std::to_string(++counter_);
    var_ = "SHMT_TOKEN_" + std::to_string(::getpid());
    ::setenv(var_.c_str(), kToken, 1);
    saved_creds_ = std::getenv("CREDENTIALS_DIRECTORY") ? std::getenv("CREDENTIALS_DIRECTORY") : "";
    ::setenv("CREDENTIALS_DIRECTORY", (dir_ + "/creds").c_str(), 1);
    write("creds/db_password", std::string(kPassword) + "\n");
    opts_.name = "app";
    opts_.prefix = prefix_;
    opts_.state_dir = dir_ + "/state";
    opts_.sources = {file_source(write("app.yaml",
                                       "db:\n  host: h\n  password: "
                                       "${credential:db_password}\ntoken: ${" +
                                           var_ + "}\nplain: p\n"))};
  }
  void TearDown() override {
    ::unsetenv(var_.c_str());
    if (saved_creds_.empty()) {
      ::unsetenv("CREDENTIALS_DIRECTORY");
    } else {
      ::setenv("CREDENTIALS_DIRECTORY", saved_creds_.c_str(), 1);
    }
    unlink_shm(prefix_);
    SubstitutionTest::TearDown();
  }
  std::string read(const char* key) {
    ClientOptions co;
    co.prefix = prefix_;
    auto c = Client::open("app", co);
    auto v = c.snapshot().get_string(key);
    return v ? std::string(*v) : std::string("<missing>");
  }
  void expect_no_secret_on_disk() {
    for (const auto& f : files_under(opts_.state_dir)) {
      const std::string text = slurp(f);
      EXPECT_EQ(text.find(kPassword), std::string::npos) << f;
      EXPECT_EQ(text.find(kToken), std::string::npos) << f;
    }
  }

  static constexpr const char* kPassword = "pw-7f3a9c51e2";
  static constexpr const char* kToken = "tok-b84d02c6aa";
  inline static int counter_ = 0;
  std::string prefix_, var_, saved_creds_;
  ServiceOptions opts_;
};

TEST_F(StateSecretsTest, Publish_StateDirHoldsTemplatesNeverResolvedValues) {
  {
    NamespaceService svc(opts_);
    svc.start();
    const ReloadOutcome out = svc.reload("test");
    ASSERT_TRUE(out.ok) << out.error;
    EXPECT_EQ(read("db.password"), kPassword);
    EXPECT_EQ(read("token"), kToken);
  }
  ASSERT_FALSE(files_under(opts_.state_dir).empty());
  expect_no_secret_on_disk();
  EXPECT_FALSE(fs::exists(opts_.state_dir + "/app/versions/1.seg"));
  EXPECT_TRUE(fs::exists(opts_.state_dir + "/app/versions/1.tmpl.seg"));
  EXPECT_NE(slurp(opts_.state_dir + "/app/versions/1.tmpl.seg").find("${credential:db_password}"),
            std::string::npos);
}

TEST_F(StateSecretsTest, Reload_StateDirFollowsTheReply_MarkerUntilTemplateSaved) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  const std::string v1 = opts_.state_dir + "/app/versions/1";
  // Live in shared memory, not yet on disk: only the marker precedes the flip.
  EXPECT_EQ(read("token"), kToken);
  EXPECT_TRUE(fs::exists(v1 + ".tmpl.pending"));
  EXPECT_FALSE(fs::exists(v1 + ".tmpl.seg"));
  ASSERT_TRUE(svc.flush_state().has_value());
  EXPECT_TRUE(fs::exists(v1 + ".tmpl.seg"));
  EXPECT_FALSE(fs::exists(v1 + ".tmpl.pending"));
  EXPECT_FALSE(fs::exists(v1 + ".seg"));
  EXPECT_FALSE(svc.flush_state().has_value());  // nothing left to write
  expect_no_secret_on_disk();
}

TEST_F(StateSecretsTest, KilledBeforeTemplateSaved_RestartNeverSavesResolvedBytes) {
  {
    NamespaceService svc(opts_);
    svc.start();
    ASSERT_TRUE(svc.reload("test").ok);
  }
  // What a daemon killed between the flip and flush_state() leaves: the
  // version live in shared memory, only its marker on disk.
  const std::string v1 = opts_.state_dir + "/app/versions/1";
  ASSERT_TRUE(fs::remove(v1 + ".tmpl.seg"));
  std::ofstream(v1 + ".tmpl.pending").close();
  {
    NamespaceService svc(opts_);  // adopts version 1 from shared memory
    svc.start();
    EXPECT_EQ(svc.live_version(), 1u);
    EXPECT_EQ(read("db.password"), kPassword);
  }
  EXPECT_FALSE(fs::exists(v1 + ".seg"));
  expect_no_secret_on_disk();
}

TEST_F(StateSecretsTest, RestoreAfterReboot_ResolvesAgain) {
  {
    NamespaceService svc(opts_);
    svc.start();
    ASSERT_TRUE(svc.reload("test").ok);
  }
  unlink_shm(prefix_);  // a reboot empties /dev/shm
  NamespaceService svc(opts_);
  svc.start();  // restores from the state directory before reading any source
  ASSERT_TRUE(svc.has_live());
  EXPECT_EQ(svc.live_version(), 1u);
  EXPECT_EQ(read("db.password"), kPassword);
  EXPECT_EQ(read("token"), kToken);
  EXPECT_EQ(read("plain"), "p");
  expect_no_secret_on_disk();
}

TEST_F(StateSecretsTest, RestoreWithUnresolvableReference_FallsBackToAnEarlierVersion) {
  const std::string file = opts_.sources[0].path;
  {
    NamespaceService svc(opts_);
    svc.start();
    std::ofstream(file, std::ios::trunc) << "plain: v1\n";
    ASSERT_TRUE(svc.reload("v1").ok);
    std::ofstream(file, std::ios::trunc) << "plain: v2\npw: ${credential:db_password}\n";
    ASSERT_TRUE(svc.reload("v2").ok);
    EXPECT_EQ(svc.live_version(), 2u);
  }
  expect_no_secret_on_disk();
  unlink_shm(prefix_);
  fs::remove(dir_ + "/creds/db_password");
  opts_.sources.clear();
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.has_live());
  EXPECT_EQ(svc.live_version(), 1u);
  EXPECT_EQ(read("plain"), "v1");
}

TEST_F(StateSecretsTest, RestartWithShmIntact_KeepsTemplatesOnDisk) {
  {
    NamespaceService svc(opts_);
    svc.start();
    ASSERT_TRUE(svc.reload("test").ok);
  }
  {
    NamespaceService svc(opts_);  // adopts from shared memory
    svc.start();
    EXPECT_EQ(svc.live_version(), 1u);
  }
  expect_no_secret_on_disk();
  unlink_shm(prefix_);
  NamespaceService svc(opts_);
  svc.start();
  EXPECT_EQ(read("db.password"), kPassword);
}

TEST_F(StateSecretsTest, SourceStatus_ReportsEachSource) {
  opts_.sources.push_back(file_source(dir_ + "/missing.yaml"));
  NamespaceService svc(opts_);
  svc.start();
  const ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "source");
  ASSERT_EQ(svc.source_status().size(), 2u);
  EXPECT_TRUE(svc.source_status()[0].ok);
  EXPECT_FALSE(svc.source_status()[1].ok);
  const auto st = status_json(svc);
  ASSERT_EQ(st["source_health"].size(), 2u);
  EXPECT_EQ(st["source_health"][1]["ok"], false);
}

TEST_F(StateSecretsTest, Reload_SubstitutionFailureHasItsKind) {
  ::unsetenv(var_.c_str());
  NamespaceService svc(opts_);
  svc.start();
  const ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "substitution");
  EXPECT_NE(out.error.find(":4:8: token: ${" + var_ + "}"), std::string::npos) << out.error;
}

}  // namespace
}  // namespace shmconf::daemon
