// The etcd source without an etcd: the configuration file's etcd section,
// a tree of keys and a document key turned into layers, the value rules,
// provenance names, and what is refused.
#include <gtest/gtest.h>

#include "config/daemon_config.hpp"
#include "sources/etcd/layers.hpp"
#include "sources/sources.hpp"

namespace shmconf::daemon {
namespace {

EtcdContent Content(std::vector<EtcdKv> kvs, std::int64_t revision = 9) {
  return EtcdContent{"10.0.0.1:2379", revision, std::move(kvs)};
}

EtcdSpec Tree(EtcdSpec::Values values = EtcdSpec::Values::kScalar) {
  EtcdSpec s;
  s.endpoints = {"http://10.0.0.1:2379"};
  s.key = "/cfg/app/";
  s.values = values;
  return s;
}

std::string What(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(EtcdLayers, Tree_KeysBecomePaths_ValuesByScalarRule_ProvenancePerKey) {
  SourceList names;
  const Value v = etcd_layer(Tree(), false,
                             Content({{"/cfg/app/database/port", "5432", 7},
                                      {"/cfg/app/database/host", "db1", 8},
                                      {"/cfg/app/debug", "true", 9}}),
                             Limits{}, names);
  EXPECT_EQ(to_json(v), R"({"database":{"host":"db1","port":5432},"debug":true})");
  const Value* port = find_path(v, "database.port");
  ASSERT_NE(port, nullptr);
  EXPECT_EQ(names.at(port->origin.source), "etcd:10.0.0.1:2379/cfg/app/database/port@7");
}

TEST(EtcdLayers, Tree_StringRule_KeepsText_JsonRule_TakesDocuments) {
  SourceList names;
  const EtcdContent c = Content({{"/cfg/app/a", "8080", 1}, {"/cfg/app/b", "[1,{\"x\":2}]", 2}});
  EXPECT_EQ(to_json(etcd_layer(Tree(EtcdSpec::Values::kString), false, c, Limits{}, names)),
            R"({"a":"8080","b":"[1,{\"x\":2}]"})");
  EXPECT_EQ(to_json(etcd_layer(Tree(EtcdSpec::Values::kJson), false, c, Limits{}, names)),
            R"({"a":8080,"b":[1,{"x":2}]})");
}

TEST(EtcdLayers, Tree_BadJsonValue_ErrorNamesKeyAndRevision) {
  SourceList names;
  const std::string e = What([&] {
    etcd_layer(Tree(EtcdSpec::Values::kJson), false, Content({{"/cfg/app/x/y", "{nope", 41}}),
               Limits{}, names);
  });
  EXPECT_NE(e.find("etcd:10.0.0.1:2379/cfg/app/x/y@41"), std::string::npos) << e;
  EXPECT_NE(e.find("x.y"), std::string::npos) << e;
}

TEST(EtcdLayers, Tree_BadKeys_Refused) {
  for (const std::string key : {"/cfg/app/a//b", "/cfg/app/a.b", "/cfg/app/a[0]", "/cfg/app/"}) {
    SourceList names;
    EXPECT_NE(What([&] {
                etcd_layer(Tree(), false, Content({{key, "1", 3}}), Limits{}, names);
              }).find("does not name a configuration key"),
              std::string::npos)
        << key;
  }
  SourceList names;
  EXPECT_NE(What([&] {
              etcd_layer(Tree(), false, Content({{"/cfg/app/a", "1", 1}, {"/cfg/app/a/b", "2", 2}}),
                         Limits{}, names);
            }).find("holds a value of its own"),
            std::string::npos);
}

TEST(EtcdLayers, Document_ParsedByKeySuffix_MissingKeyRefusedUnlessOptional) {
  EtcdSpec s = Tree();
  s.layout = EtcdSpec::Layout::kDocument;
  s.key = "/cfg/app.yaml";
  SourceList names;
  const Value v =
      etcd_layer(s, false, Content({{"/cfg/app.yaml", "db:\n  port: 1\n", 5}}), Limits{}, names);
  EXPECT_EQ(to_json(v), R"({"db":{"port":1}})");
  EXPECT_EQ(names.back(), "etcd:10.0.0.1:2379/cfg/app.yaml@5");
  const std::string bad = What([&] {
    etcd_layer(s, false, Content({{"/cfg/app.yaml", "a: [", 6}}), Limits{}, names);
  });
  EXPECT_NE(bad.find("etcd:10.0.0.1:2379/cfg/app.yaml@6:"), std::string::npos) << bad;
  EXPECT_NE(What([&] {
              etcd_layer(s, false, Content({}), Limits{}, names);
            }).find("does not exist (at revision 9)"),
            std::string::npos);
  EXPECT_EQ(to_json(etcd_layer(s, true, Content({}), Limits{}, names)), "{}");
}

std::string ConfigError(const std::string& etcd) {
  return What([&] {
    parse_daemon_config("namespaces:\n  app:\n    sources:\n      - etcd:\n" + etcd,
                        "/etc/shmconf/shmconfd.yaml");
  });
}

TEST(EtcdConfig, FullSection_Parsed) {
  const DaemonConfig c = parse_daemon_config(
      "namespaces:\n  app:\n    sources:\n      - etcd:\n"
      "          endpoints: [http://a:2379, https://b:2379]\n"
      "          prefix: /cfg/app\n          values: json\n          user: u\n"
      "          password: ${credential:etcd}\n          tls: {ca: ca.pem, cert: c.pem, key: "
      "k.pem}\n"
      "          debounce_ms: 5\n          backoff_max_ms: 3000\n",
      "/etc/shmconf/shmconfd.yaml");
  const SourceSpec& s = c.namespaces.at(0).options.sources.at(0);
  ASSERT_EQ(s.kind, SourceSpec::Kind::kEtcd);
  EXPECT_EQ(s.etcd.endpoints.size(), 2u);
  EXPECT_EQ(s.etcd.key, "/cfg/app/");  // a tree prefix ends in '/'
  EXPECT_EQ(s.etcd.layout, EtcdSpec::Layout::kTree);
  EXPECT_EQ(s.etcd.values, EtcdSpec::Values::kJson);
  EXPECT_EQ(s.etcd.ca_file, "/etc/shmconf/ca.pem");
  EXPECT_EQ(s.etcd.debounce_ms, 5u);
  EXPECT_EQ(s.etcd.backoff_max_ms, 3000u);
  EXPECT_EQ(source_label(s), "etcd:/cfg/app/");
}

TEST(EtcdConfig, Mistakes_RefusedWithPosition) {
  EXPECT_NE(ConfigError("          key: /a.yaml\n").find("needs endpoints"), std::string::npos);
  EXPECT_NE(ConfigError("          endpoints: [a:2379]\n          key: /a.yaml\n")
                .find("must start with http:// or https://"),
            std::string::npos);
  EXPECT_NE(ConfigError("          endpoints: [http://a]\n          key: /a\n").find("set format:"),
            std::string::npos);
  const std::string literal = ConfigError(
      "          endpoints: [http://a]\n          key: /a.yaml\n          password: hunter2\n");
  EXPECT_NE(literal.find("sources[0].etcd.password: give the password as"), std::string::npos)
      << literal;
  EXPECT_EQ(literal.find("hunter2"), std::string::npos) << literal;
  EXPECT_NE(
      ConfigError("          endpoints: [http://a]\n          key: /a.yaml\n          prefx: /b\n")
          .find("unknown key"),
      std::string::npos);
  EXPECT_NE(ConfigError(
                "          endpoints: [http://a]\n          key: /a.yaml\n          layout: tree\n")
                .find("layout tree takes prefix:"),
            std::string::npos);
}

TEST(EtcdClientCodec, Base64AndPrefixEnd) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("/cfg/app/"), "L2NmZy9hcHAv");
  EXPECT_EQ(prefix_end("/cfg/app/"), "/cfg/app0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
}

}  // namespace
}  // namespace shmconf::daemon
