// tests/daemon/walk_skip_test.cpp — the shortcuts that spare a reload a
// walk of the tree must never change its result:
//   - scan_text (TextFacts) says "no '$'" or "no null" only when certain,
//     so an escaped '$' is still substituted and an escaped "null" string
//     is not taken for a null;
//   - the builder's own sensitivity rule (BuildInput::keys) marks exactly
//     the nodes SensitiveKeys::collect names, schema patterns included;
//   - a reload, whose plaintext-secret check rides on the build walk,
//     refuses (or warns about) exactly what validate_offline does, with the
//     same file:line:column and key.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "client/test_util.hpp"
#include "core/namespace_service.hpp"
#include "core/offline.hpp"
#include "parse/parse.hpp"
#include "publish/builder.hpp"
#include "sources/sources.hpp"
#include "support/shm_prefix.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

TEST(TextFacts, DollarOnlyRuledOutWhenNoByteOrEscapeCanSpellIt) {
  EXPECT_FALSE(scan_text(R"({"a": "x", "b": [1, 2]})", Format::kJson).may_have_dollar);
  EXPECT_TRUE(scan_text(R"({"a": "${X}"})", Format::kJson).may_have_dollar);
  EXPECT_TRUE(scan_text(R"({"a": "\u0024{X}"})", Format::kJson).may_have_dollar);
  EXPECT_FALSE(scan_text("a = 'x'\n", Format::kToml).may_have_dollar);
  EXPECT_TRUE(scan_text("a = \"\\U00000024{X}\"\n", Format::kToml).may_have_dollar);
  EXPECT_FALSE(scan_text("a: x\nb: [1, 2]\n", Format::kYaml).may_have_dollar);
  EXPECT_TRUE(scan_text("a: \"\\x24{X}\"\n", Format::kYaml).may_have_dollar);
  EXPECT_TRUE(scan_text("a: !!binary JHtYfQ==\n", Format::kYaml).may_have_dollar);
}

TEST(TextFacts, NullOnlyRuledOutForJsonWithoutNullAndForToml) {
  EXPECT_FALSE(scan_text(R"({"a": 1})", Format::kJson).may_have_null);
  EXPECT_TRUE(scan_text(R"({"a": null})", Format::kJson).may_have_null);
  EXPECT_FALSE(scan_text("a = 1\n", Format::kToml).may_have_null);
  EXPECT_TRUE(scan_text("a: 1\n", Format::kYaml).may_have_null);  // "a:" alone is null
}

class WalkSkipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("walkskip-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Value load(const std::string& name, const std::string& text,
             const std::map<std::string, std::string>& env = {}) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    ServiceOptions o;
    o.sources = {file_source(p.string())};
    SubstitutionContext ctx;
    ctx.getenv = [env](const std::string& k) -> std::optional<std::string> {
      const auto it = env.find(k);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    LoadedSources out;
    load_sources(o, ctx, out);
    return std::move(out.merged);
  }
  fs::path dir_;
};

TEST_F(WalkSkipTest, EscapedDollarInJson_StillSubstituted) {
  const Value v = load("a.json", R"({"host": "\u0024{HOST}", "n": 1})", {{"HOST", "db1"}});
  ASSERT_NE(find_path(v, "host"), nullptr);
  EXPECT_EQ(find_path(v, "host")->s, "db1");
}

TEST_F(WalkSkipTest, JsonNullsDroppedAndNullTextKept) {
  const Value v = load("a.json", R"({"a": null, "b": {"c": null, "d": "null"}})");
  EXPECT_EQ(find_path(v, "a"), nullptr);
  EXPECT_EQ(find_path(v, "b.c"), nullptr);
  ASSERT_NE(find_path(v, "b.d"), nullptr);
  EXPECT_EQ(find_path(v, "b.d")->s, "null");
}

// Every node the builder marks sensitive, as full key paths.
std::set<std::string> marked(const Value& root, const SensitiveKeys& keys) {
  const SourceList names{"test"};
  BuildInput in;
  in.root = &root;
  in.sources = &names;
  in.version = 1;
  in.keys = &keys;
  const SnapshotBuilder builder(in);
  std::vector<std::byte> bytes(builder.size());
  builder.write(bytes);
  SegmentView view;
  EXPECT_EQ(SegmentView::open(bytes.data(), bytes.size(), 0, &view, nullptr), Errc::kOk);
  std::set<std::string> out;
  for (std::uint32_t i = 1; i < view.node_count(); ++i) {
    const format::Node& n = view.node(i);
    if (format::node_sensitive(n)) out.insert(view.key(n));
  }
  return out;
}

TEST(BuilderSensitivity, SameNodesAsCollect_NamesArraysAndSchemaPatterns) {
  const Value root = test::json(R"({
    "db": {"password": "p", "host": "h", "Api-Key": "k"},
    "token": ["a", {"x": 1}, ["b"]],
    "servers": [{"name": "s1", "dsn": "d1"}, {"name": "s2", "dsn": "d2"}],
    "credentials": {"inner": {"deep": 1}},
    "plain": {"secretive": 1, "n": 2}
  })");
  const SensitiveKeys by_name;
  const std::set<std::string> expected_by_name = by_name.collect(root);
  EXPECT_EQ(marked(root, by_name), expected_by_name);
  EXPECT_TRUE(expected_by_name.count("token[2][0]"));
  EXPECT_TRUE(expected_by_name.count("credentials.inner.deep"));

  const auto schema = Schema::parse(R"({"type": "object", "properties": {
    "servers": {"type": "array", "items": {"type": "object", "properties": {
      "dsn": {"type": "string", "x-sensitive": true}}}}}})",
                                    "s.json");
  const SensitiveKeys by_schema(schema);
  ASSERT_TRUE(by_schema.uses_patterns());
  const std::set<std::string> expected = by_schema.collect(root);
  EXPECT_TRUE(expected.count("servers[1].dsn"));
  EXPECT_EQ(marked(root, by_schema), expected);
}

// Each fixture of tests/data/bad/schema that holds a plaintext secret,
// through reload() (the check in the build walk) and validate_offline()
// (its own walk): the same error, the live version kept.
class SecretsInBuildTest : public testing::TestWithParam<const char*> {
 protected:
  void TearDown() override { test::unlink_prefix(prefix_); }
  std::string prefix_ = "uwsk" + std::to_string(::getpid());
};

TEST_P(SecretsInBuildTest, ReloadRefusesAsValidateOfflineDoes_WarnPolicyWarns) {
  const std::string dir = std::string(SHMCONF_TEST_DATA) + "/bad/schema/";
  ServiceOptions o;
  o.name = "secrets";
  o.prefix = prefix_;
  o.schema = dir + "schema.json";
  o.sources = {file_source(dir + GetParam())};
  const ValidationReport offline = validate_offline(o);
  ASSERT_EQ(offline.errors.size(), 1u);
  ASSERT_EQ(offline.errors[0].kind, "secret");
  {
    NamespaceService svc(o);
    svc.start();
    const ReloadOutcome out = svc.reload("test");
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.error_kind, "secret");
    EXPECT_NE(out.error.find(offline.errors[0].text()), std::string::npos)
        << out.error << "\nwant " << offline.errors[0].text();
    EXPECT_FALSE(svc.has_live());
  }
  o.plaintext_secrets = SecretPolicy::kWarn;
  NamespaceService svc(o);
  svc.start();
  const ReloadOutcome out = svc.reload("test");
  EXPECT_TRUE(out.published) << out.error;
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0], offline.errors[0].text());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SecretsInBuildTest,
                         testing::Values("plaintext_secret.yaml", "plaintext_secret.toml",
                                         "x_sensitive_plaintext.yaml"),
                         [](const testing::TestParamInfo<const char*>& i) {
                           std::string n = i.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace shmconf::daemon
