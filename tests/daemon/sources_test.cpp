// sources/sources.hpp: files, conf.d directories, environment chains and
// environment variables, merged in priority order.
#include "sources/sources.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

class SourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "shmconf-src-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& v : vars_) ::unsetenv(v.c_str());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& rel, const std::string& text) {
    const fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  void setenv(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    vars_.push_back(name);
  }
  static SourceSpec spec(SourceSpec::Kind kind, std::string path, bool optional = false) {
    SourceSpec s;
    s.kind = kind;
    s.path = std::move(path);
    s.optional = optional;
    return s;
  }
  static SourceSpec env_spec(std::string prefix) {
    SourceSpec s;
    s.kind = SourceSpec::Kind::kEnvVars;
    s.prefix = std::move(prefix);
    return s;
  }
  LoadedSources load() {
    LoadedSources out;
    load_sources(opts_, SubstitutionContext{}, out);
    return out;
  }
  // The error a load throws.
  SourceError load_error() {
    LoadedSources out;
    try {
      load_sources(opts_, SubstitutionContext{}, out);
    } catch (const SourceError& e) {
      return e;
    }
    ADD_FAILURE() << "load succeeded";
    return SourceError("none", ConfigError("", 0, 0, "", ""));
  }

  std::string dir_;
  std::vector<std::string> vars_;
  ServiceOptions opts_;
};

TEST_F(SourcesTest, FilesOfEachFormat_MergeRulesAcrossLayers) {
  opts_.sources = {
      spec(SourceSpec::Kind::kFile,
           write("base.yaml",
                 "db:\n  host: a\n  pool: {min: 1, max: 5}\nlist: [1, 2, 3]\ngone: 1\nx: 1\n")),
      spec(SourceSpec::Kind::kFile,
           write("over.json", R"({"db": {"pool": {"max": 9}}, "list": [7], "gone": null})")),
      spec(SourceSpec::Kind::kFile, write("last.toml", "x = \"one\"\n[db]\nport = 5432\n")),
  };
  const LoadedSources l = load();
  EXPECT_EQ(to_json(l.merged),
            R"({"db":{"host":"a","pool":{"max":9,"min":1},"port":5432},"list":[7],"x":"one"})");
  ASSERT_EQ(l.names.size(), 3u);
  EXPECT_EQ(l.names[0], "file:" + dir_ + "/base.yaml");
  EXPECT_EQ(l.names[2], "file:" + dir_ + "/last.toml");
  EXPECT_FALSE(l.templates.has_value());
  ASSERT_EQ(l.status.size(), 3u);
  EXPECT_TRUE(l.status[0].ok && l.status[1].ok && l.status[2].ok);
}

TEST_F(SourcesTest, File_ValuesCarrySourceIndexLineAndColumn) {
  opts_.sources = {spec(SourceSpec::Kind::kFile, write("a.yaml", "a: 1\n")),
                   spec(SourceSpec::Kind::kFile, write("b.yaml", "b:\n  c: x\n"))};
  const LoadedSources l = load();
  const Value& c = l.merged.fields.at("b").fields.at("c");
  EXPECT_EQ(c.origin.source, 1u);
  EXPECT_EQ(c.origin.line, 2u);
  EXPECT_EQ(c.origin.column, 6u);
  EXPECT_EQ(l.merged.fields.at("a").origin.source, 0u);
}

TEST_F(SourcesTest, OptionalMissingFile_IsAnEmptyLayer) {
  opts_.sources = {spec(SourceSpec::Kind::kFile, dir_ + "/absent.yaml", true),
                   spec(SourceSpec::Kind::kFile, write("a.yaml", "a: 1\n"))};
  EXPECT_EQ(to_json(load().merged), R"({"a":1})");
}

TEST_F(SourcesTest, MissingFile_SourceError) {
  opts_.sources = {spec(SourceSpec::Kind::kFile, dir_ + "/absent.yaml")};
  const SourceError e = load_error();
  EXPECT_EQ(e.kind(), "source");
  EXPECT_EQ(e.file(), dir_ + "/absent.yaml");
}

TEST_F(SourcesTest, BadSyntax_ParseError) {
  opts_.sources = {spec(SourceSpec::Kind::kFile, write("bad.json", "{\"a\": }"))};
  EXPECT_EQ(load_error().kind(), "parse");
}

TEST_F(SourcesTest, OverLimit_LimitError) {
  opts_.limits.max_file_size = 4;
  opts_.sources = {spec(SourceSpec::Kind::kFile, write("big.yaml", "a: 12345\n"))};
  EXPECT_EQ(load_error().kind(), "limit");
}

TEST_F(SourcesTest, OneBadSource_EveryStatusReportedFirstErrorThrown) {
  opts_.sources = {spec(SourceSpec::Kind::kFile, write("good.yaml", "a: 1\n")),
                   spec(SourceSpec::Kind::kFile, write("bad.yaml", "a: [\n")),
                   spec(SourceSpec::Kind::kDirectory, dir_ + "/nodir")};
  LoadedSources out;
  EXPECT_THROW(load_sources(opts_, SubstitutionContext{}, out), SourceError);
  ASSERT_EQ(out.status.size(), 3u);
  EXPECT_TRUE(out.status[0].ok);
  EXPECT_EQ(out.status[0].name, "file:" + dir_ + "/good.yaml");
  EXPECT_FALSE(out.status[1].ok);
  EXPECT_NE(out.status[1].error.find("bad.yaml"), std::string::npos);
  EXPECT_FALSE(out.status[2].ok);
  EXPECT_EQ(out.status[2].name, "dir:" + dir_ + "/nodir");
  EXPECT_EQ(out.status[2].error, dir_ + "/nodir: directory does not exist");
}

TEST_F(SourcesTest, Directory_BytewiseOrderEachFileItsOwnSource) {
  write("conf.d/10-b.yaml", "v: b\nb: 1\n");
  write("conf.d/02-a.json", R"({"v": "a", "a": 1})");
  write("conf.d/2-z.toml", "v = \"z\"\n");
  write("conf.d/Z.yml", "v: Z\n");  // uppercase sorts after digits, bytewise
  opts_.sources = {spec(SourceSpec::Kind::kDirectory, dir_ + "/conf.d")};
  const LoadedSources l = load();
  ASSERT_EQ(l.names.size(), 4u);
  EXPECT_EQ(l.names[0], "file:" + dir_ + "/conf.d/02-a.json");
  EXPECT_EQ(l.names[1], "file:" + dir_ + "/conf.d/10-b.yaml");
  EXPECT_EQ(l.names[2], "file:" + dir_ + "/conf.d/2-z.toml");
  EXPECT_EQ(l.names[3], "file:" + dir_ + "/conf.d/Z.yml");
  EXPECT_EQ(to_json(l.merged), R"({"a":1,"b":1,"v":"Z"})");
  EXPECT_EQ(l.merged.fields.at("b").origin.source, 1u);
}

TEST_F(SourcesTest, Directory_KubernetesLayout_FollowsFileLinksSkipsDotsDirsAndOthers) {
  const std::string d = dir_ + "/cm";
  write("cm/..2024_01_01_00_00_00.123/app.yaml", "app: 1\n");
  write("cm/..2024_01_01_00_00_00.123/extra.json", R"({"extra": true})");
  fs::create_directory_symlink("..2024_01_01_00_00_00.123", d + "/..data");
  fs::create_symlink("..data/app.yaml", d + "/app.yaml");
  fs::create_symlink("..data/extra.json", d + "/extra.json");
  fs::create_symlink("..data/missing.yaml", d + "/dangling.yaml");
  write("cm/.hidden.yaml", "hidden: 1\n");
  write("cm/README.txt", "not config\n");
  write("cm/sub.yaml/inner.yaml", "inner: 1\n");  // a directory named like a file
  opts_.sources = {spec(SourceSpec::Kind::kDirectory, d)};
  const LoadedSources l = load();
  EXPECT_EQ(to_json(l.merged), R"({"app":1,"extra":true})");
  ASSERT_EQ(l.names.size(), 2u);
  EXPECT_EQ(l.names[0], "file:" + d + "/app.yaml");
}

TEST_F(SourcesTest, Directory_MissingIsAnErrorUnlessOptional) {
  opts_.sources = {spec(SourceSpec::Kind::kDirectory, dir_ + "/none")};
  const SourceError e = load_error();
  EXPECT_EQ(e.kind(), "source");
  EXPECT_STREQ(e.what(), (dir_ + "/none: directory does not exist").c_str());
  opts_.sources = {spec(SourceSpec::Kind::kDirectory, dir_ + "/none", true)};
  EXPECT_EQ(to_json(load().merged), "{}");
}

TEST_F(SourcesTest, Directory_EmptyContributesNothing) {
  fs::create_directories(dir_ + "/empty");
  opts_.sources = {spec(SourceSpec::Kind::kFile, write("a.yaml", "a: 1\n")),
                   spec(SourceSpec::Kind::kDirectory, dir_ + "/empty")};
  EXPECT_EQ(to_json(load().merged), R"({"a":1})");
}

TEST_F(SourcesTest, EnvironmentChain_BaseMostFirst) {
  opts_.environment = "production";
  opts_.environment_parents = {{"production", "staging"}, {"staging", "common"}};
  EXPECT_EQ(environment_chain(opts_),
            (std::vector<std::string>{"common", "staging", "production"}));
  opts_.environment.clear();
  EXPECT_TRUE(environment_chain(opts_).empty());
}

TEST_F(SourcesTest, Environments_AppliedInChainOrderOverEarlierLayers) {
  write("envs/common.yaml", "db: {host: common, port: 1}\nlist: [1]\n");
  write("envs/staging.json", R"({"db": {"host": "staging"}, "debug": true})");
  write("envs/production.toml", "debug = false\n[db]\nport = 5432\n");
  write("envs/other.yaml", "other: 1\n");
  opts_.environment = "production";
  opts_.environment_parents = {{"production", "staging"}, {"staging", "common"}};
  opts_.sources = {spec(SourceSpec::Kind::kFile, write("base.yaml", "db: {user: u}\nlist: [0]\n")),
                   spec(SourceSpec::Kind::kEnvironments, dir_ + "/envs")};
  const LoadedSources l = load();
  EXPECT_EQ(to_json(l.merged),
            R"({"db":{"host":"staging","port":5432,"user":"u"},"debug":false,"list":[1]})");
  ASSERT_EQ(l.names.size(), 4u);
  EXPECT_EQ(l.names[1], "file:" + dir_ + "/envs/common.yaml");
  EXPECT_EQ(l.names[3], "file:" + dir_ + "/envs/production.toml");
}

TEST_F(SourcesTest, Environments_CycleIsAnError) {
  write("envs/a.yaml", "a: 1\n");
  write("envs/b.yaml", "b: 1\n");
  opts_.environment = "a";
  opts_.environment_parents = {{"a", "b"}, {"b", "a"}};
  opts_.sources = {spec(SourceSpec::Kind::kEnvironments, dir_ + "/envs")};
  const SourceError e = load_error();
  EXPECT_EQ(e.kind(), "source");
  EXPECT_EQ(e.message(), "environment parents form a cycle: a -> b -> a");
}

TEST_F(SourcesTest, Environments_EveryFileOfTheChainMustExist) {
  write("envs/production.yaml", "a: 1\n");
  opts_.environment = "production";
  opts_.environment_parents = {{"production", "staging"}};
  opts_.sources = {spec(SourceSpec::Kind::kEnvironments, dir_ + "/envs")};
  const SourceError e = load_error();
  EXPECT_EQ(e.kind(), "source");
  EXPECT_NE(e.message().find("environment 'staging'"), std::string::npos) << e.what();
}

TEST_F(SourcesTest, Environments_NoEnvironmentSet_ContributesNothing) {
  write("envs/production.yaml", "a: 1\n");
  opts_.sources = {spec(SourceSpec::Kind::kEnvironments, dir_ + "/envs")};
  EXPECT_EQ(to_json(load().merged), "{}");
}

TEST_F(SourcesTest, EnvScalar_JsonScalarsElseLiteralString) {
  EXPECT_EQ(to_json(env_scalar("42", {})), "42");
  EXPECT_EQ(env_scalar("42", {}).type, Type::kInt);
  EXPECT_EQ(env_scalar("-7", {}).i, -7);
  EXPECT_EQ(env_scalar("1.5", {}).type, Type::kDouble);
  EXPECT_EQ(env_scalar("1e3", {}).d, 1000.0);
  EXPECT_EQ(env_scalar("true", {}).type, Type::kBool);
  EXPECT_FALSE(env_scalar("false", {}).b);
  EXPECT_EQ(env_scalar("null", {}).type, Type::kNull);
  for (const char* s : {"abc", "", " 42", "42 ", "01", "True", "\"q\"", "[1]", "{}", "1e999",
                        "9223372036854775808"}) {
    const Value v = env_scalar(s, {});
    EXPECT_EQ(v.type, Type::kString) << s;
    EXPECT_EQ(v.s, s);
  }
}

TEST_F(SourcesTest, EnvKey_StripsPrefixSplitsOnDoubleUnderscoreLowerCases) {
  EXPECT_EQ(env_key("APP_DATABASE__HOST", "APP_"), (std::vector<std::string>{"database", "host"}));
  EXPECT_EQ(env_key("APP_LOG_LEVEL", "APP_"), (std::vector<std::string>{"log_level"}));
  EXPECT_FALSE(env_key("APP_", "APP_"));
  EXPECT_FALSE(env_key("OTHER_X", "APP_"));
  EXPECT_FALSE(env_key("APP_A____B", "APP_"));
  EXPECT_FALSE(env_key("APP_A__", "APP_"));
}

TEST_F(SourcesTest, EnvVars_EachVariableItsOwnSourceInNameOrder) {
  const std::string p = "SHMT" + std::to_string(::getpid()) + "_";
  setenv(p + "PORT", "8080");
  setenv(p + "RATIO", "0.25");
  setenv(p + "DEBUG", "true");
  setenv(p + "DATABASE__HOST", "db.internal");
  setenv(p + "DATABASE__POOL__MAX", "20");
  setenv(p + "GONE", "null");
  setenv(p + "LIST", "[1,2]");
  opts_.sources = {
      spec(SourceSpec::Kind::kFile,
           write("base.yaml", "database: {host: a, user: u}\ngone: 1\nport: 1\nlist: [0]\n")),
      env_spec(p)};
  const LoadedSources l = load();
  EXPECT_EQ(to_json(l.merged),
            R"({"database":{"host":"db.internal","pool":{"max":20},"user":"u"},"debug":true,)"
            R"("list":"[1,2]","port":8080,"ratio":0.25})");
  ASSERT_EQ(l.names.size(), 8u);
  EXPECT_EQ(l.names[1], "env:" + p + "DATABASE__HOST");
  EXPECT_EQ(l.names[2], "env:" + p + "DATABASE__POOL__MAX");
  EXPECT_EQ(l.names[7], "env:" + p + "RATIO");
  const Value& host = l.merged.fields.at("database").fields.at("host");
  EXPECT_EQ(l.names[host.origin.source], "env:" + p + "DATABASE__HOST");
  EXPECT_EQ(l.status.size(), 2u);
  EXPECT_EQ(l.status[1].name, "env:" + p);
}

TEST_F(SourcesTest, EnvVars_ValuesAreNotSubstituted) {
  const std::string p = "SHMU" + std::to_string(::getpid()) + "_";
  setenv(p + "TEXT", "${HOME}");
  opts_.sources = {env_spec(p)};
  const LoadedSources l = load();
  EXPECT_EQ(l.merged.fields.at("text").s, "${HOME}");
  EXPECT_FALSE(l.templates.has_value());
}

TEST_F(SourcesTest, EnvVars_EnvironmentReadAtEachLoad) {
  const std::string p = "SHMV" + std::to_string(::getpid()) + "_";
  opts_.sources = {env_spec(p)};
  EXPECT_EQ(to_json(load().merged), "{}");
  setenv(p + "A", "1");
  EXPECT_EQ(to_json(load().merged), R"({"a":1})");
}

}  // namespace
}  // namespace shmconf::daemon
