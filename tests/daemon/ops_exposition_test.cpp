// The Prometheus text renderer and DaemonMetrics: escaping, histogram
// buckets, drift and health, each checked through a strict parser.
#include <gtest/gtest.h>

#include "ops/exposition.hpp"
#include "ops/metrics.hpp"
#include "support/exposition_parser.hpp"

namespace shmconf::daemon::ops {
namespace {

using testing_support::parse_exposition;

TEST(Exposition, LabelValue_BackslashQuoteNewline_Escaped) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  Exposition e;
  e.family("shmconf_x", "gauge", "help with \\ and\nnewline");
  e.sample("shmconf_x", {{"path", "C:\\tmp\\\"x\"\n"}}, 1);
  const auto parsed = parse_exposition(e.text());
  EXPECT_EQ(parsed.samples.at(0).labels.at("path"), "C:\\tmp\\\"x\"\n");
  EXPECT_NE(e.text().find("# HELP shmconf_x help with \\\\ and\\nnewline\n"), std::string::npos);
}

TEST(Exposition, Values_SpecialAndIntegral_Formatted) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(INFINITY), "+Inf");
  EXPECT_EQ(format_value(-INFINITY), "-Inf");
}

TEST(Exposition, Histogram_Observations_CumulativeBucketsEndInInf) {
  Histogram h({0.1, 1, 0.5});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.7);
  h.observe(3);
  Exposition e;
  e.family("shmconf_d_seconds", "histogram", "durations");
  e.histogram("shmconf_d_seconds", {{"stage", "load"}}, h);
  const auto p = parse_exposition(e.text());
  EXPECT_EQ(p.value("shmconf_d_seconds_bucket", {{"le", "0.1"}}), 2);
  EXPECT_EQ(p.value("shmconf_d_seconds_bucket", {{"le", "0.5"}}), 2);
  EXPECT_EQ(p.value("shmconf_d_seconds_bucket", {{"le", "1"}}), 3);
  EXPECT_EQ(p.value("shmconf_d_seconds_bucket", {{"le", "+Inf"}}), 4);
  EXPECT_EQ(p.value("shmconf_d_seconds_count", {{"stage", "load"}}), 4);
  EXPECT_DOUBLE_EQ(*p.value("shmconf_d_seconds_sum"), 3.85);
}

TEST(Exposition, InvalidNames_Throw) {
  Exposition e;
  EXPECT_THROW(e.family("2bad", "gauge", ""), std::invalid_argument);
  e.family("shmconf_ok", "gauge", "");
  EXPECT_THROW(e.family("shmconf_ok", "gauge", ""), std::invalid_argument);
  EXPECT_THROW(e.sample("shmconf_ok", {{"bad-label", "v"}}, 1), std::invalid_argument);
  EXPECT_THROW(e.sample("shmconf_ok", {{"__reserved", "v"}}, 1), std::invalid_argument);
}

TEST(Exposition, Parser_MalformedLines_Rejected) {
  EXPECT_THROW(parse_exposition("x{a=\"b} 1\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("x 1 2 3\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("x{a=\"\\t\"} 1\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("x one\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx 2\n"),
               std::runtime_error);
  EXPECT_NO_THROW(parse_exposition("# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"2\"} NaN\n"));
}

NamespaceSample live_sample(std::uint64_t hash) {
  NamespaceSample s;
  s.name = "app";
  s.live = true;
  s.live_version = 3;
  s.generation = 4;
  s.content_hash_value = hash;
  s.content_hash = "00000000000000ab";
  s.snapshot_bytes = 4096;
  s.snapshot_keys = 12;
  s.retained = 3;
  s.sources = {{"file:/etc/app.yaml", true, ""}};
  return s;
}

ReloadOutcome outcome(bool ok, bool published, std::uint64_t hash, std::string kind = "") {
  ReloadOutcome o;
  o.ok = ok;
  o.published = published;
  o.source_hash = hash;
  o.error_kind = std::move(kind);
  if (!ok) o.error = "/etc/app.yaml:3:1: bad";
  o.duration_ms = 2;
  o.stages = {{"load", 0.001}, {"total", 0.002}};
  return o;
}

TEST(DaemonMetrics, Render_EveryLineValid_CountersByResult) {
  DaemonMetrics m("1.2.3");
  m.observe_reload("app", outcome(true, true, 0xab));
  m.observe_reload("app", outcome(true, false, 0xab));
  m.observe_reload("app", outcome(false, false, 0, "parse"));
  DaemonSample d;
  d.control_requests = 5;
  m.refresh({live_sample(0xab)}, d);
  const auto p = parse_exposition(m.scrape());
  EXPECT_EQ(p.value("shmconf_reloads_total", {{"result", "published"}}), 1);
  EXPECT_EQ(p.value("shmconf_reloads_total", {{"result", "unchanged"}}), 1);
  EXPECT_EQ(p.value("shmconf_reloads_total", {{"result", "rejected"}}), 1);
  EXPECT_EQ(p.value("shmconf_validation_failures_total", {{"kind", "parse"}}), 1);
  EXPECT_EQ(p.value("shmconf_reload_duration_seconds_count", {{"stage", "load"}}), 3);
  EXPECT_EQ(p.value("shmconf_reload_duration_seconds_count", {{"stage", "validate"}}), 0);
  EXPECT_EQ(p.value("shmconf_snapshot_info", {{"content_hash", "00000000000000ab"}}), 1);
  EXPECT_EQ(p.value("shmconf_build_info", {{"version", "1.2.3"}}), 1);
  EXPECT_EQ(p.value("shmconf_control_requests_total"), 5);
  EXPECT_EQ(p.value("shmconf_config_drift"), 1);  // the rejected edit is what the sources hold
  EXPECT_TRUE(p.value("shmconf_seconds_since_last_success").has_value());
  EXPECT_EQ(p.types.at("shmconf_reload_duration_seconds"), "histogram");
}

TEST(DaemonMetrics, Drift_RollbackThenReloadOfSameSources_Stays) {
  DaemonMetrics m("x");
  m.observe_reload("app", outcome(true, true, 0xcd));
  m.observe_rollback("app", outcome(true, true, 0));
  m.refresh({live_sample(0xab)}, {});  // live is the older content now
  auto p = parse_exposition(m.scrape());
  EXPECT_EQ(p.value("shmconf_config_drift"), 1);
  EXPECT_EQ(p.value("shmconf_rollbacks_total"), 1);
  m.observe_reload("app", outcome(true, true, 0xab));
  m.refresh({live_sample(0xab)}, {});
  p = parse_exposition(m.scrape());
  EXPECT_EQ(p.value("shmconf_config_drift"), 0);
}

TEST(DaemonMetrics, Health_RejectedEdit_StaysHealthy) {
  DaemonMetrics m("x");
  m.observe_reload("app", outcome(true, true, 0xab));
  m.observe_reload("app", outcome(false, false, 0, "schema"));
  m.refresh({live_sample(0xab)}, {});
  EXPECT_TRUE(m.health().ok) << m.health().reason;
}

TEST(DaemonMetrics, Health_UnreachableSource_Unhealthy) {
  DaemonMetrics m("x");
  m.observe_reload("app", outcome(true, true, 0xab));
  ReloadOutcome gone = outcome(false, false, 0, "source");
  gone.error = "/etc/app.yaml: No such file or directory";
  m.observe_reload("app", gone);
  m.refresh({live_sample(0xab)}, {});
  EXPECT_FALSE(m.health().ok);
  EXPECT_NE(m.health().reason.find("/etc/app.yaml"), std::string::npos) << m.health().reason;
  const auto p = parse_exposition(m.scrape());
  EXPECT_EQ(p.value("shmconf_source_up", {{"source", "file:/etc/app.yaml"}}), 0);
  EXPECT_EQ(p.value("shmconf_healthy"), 0);
}

TEST(DaemonMetrics, Health_NothingLive_Unhealthy) {
  DaemonMetrics m("x");
  NamespaceSample s;
  s.name = "app";
  m.refresh({s}, {});
  EXPECT_FALSE(m.health().ok);
  EXPECT_NO_THROW(parse_exposition(m.scrape()));
}

TEST(ListenAddress, NonLoopback_RefusedUnlessAllowed) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:9469", false),
            std::make_pair(std::string("127.0.0.1"), 9469));
  EXPECT_EQ(parse_listen_address("[::1]:0", false).first, "::1");
  EXPECT_EQ(parse_listen_address("localhost:80", false).second, 80);
  EXPECT_THROW(parse_listen_address("0.0.0.0:9469", false), std::invalid_argument);
  EXPECT_EQ(parse_listen_address("0.0.0.0:9469", true).first, "0.0.0.0");
  EXPECT_THROW(parse_listen_address("127.0.0.1", false), std::invalid_argument);
  EXPECT_THROW(parse_listen_address("127.0.0.1:99999", false), std::invalid_argument);
  EXPECT_THROW(parse_listen_address("example.com:80", true), std::invalid_argument);
}

}  // namespace
}  // namespace shmconf::daemon::ops
