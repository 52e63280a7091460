// shmconfd's metrics and health from outside: /metrics scraped over HTTP
// from a running daemon and parsed strictly, counters that move on a reload
// and on a rejected edit, /healthz flipping on a deleted source, the
// `metrics` control command, and structured JSON logs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "multiprocess/harness.hpp"
#include "support/exposition_parser.hpp"

namespace shmconf::mptest {
namespace {

using testing_support::parse_exposition;
using testing_support::PromText;

struct HttpReply {
  int status = 0;
  std::string body;
};

// One HTTP/1.0 GET to 127.0.0.1:port; status 0 when it failed.
HttpReply http_get(int port, const std::string& path) {
  HttpReply r;
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return r;
  timeval tv{10, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!write_all(s.get(), "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n")) return r;
  std::string raw;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(s.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  const auto head_end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.") || head_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  r.body = raw.substr(head_end + 4);
  return r;
}

class OpsMetricsTest : public MultiProcessTest {
 protected:
  void start(const std::vector<std::string>& extra = {}) {
    sources_ = {"app.yaml"};
    write_source("app.yaml", "service:\n  port: 8080\n  name: \"a \\\"quoted\\\" name\"\n");
    std::vector<std::string> args = {"--metrics-listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    run_daemon(args);
    const auto st = status_json();
    const std::string listen = st.value("metrics_listen", std::string());
    ASSERT_TRUE(listen.starts_with("127.0.0.1:")) << st.dump(2);
    port_ = std::stoi(listen.substr(listen.find(':') + 1));
  }

  PromText scrape() {
    const HttpReply r = http_get(port_, "/metrics");
    EXPECT_EQ(r.status, 200);
    try {
      return parse_exposition(r.body);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "invalid exposition: " << e.what() << "\n" << r.body;
      return {};
    }
  }

  // Scrapes until `pred` holds (the daemon refreshes what scrapes see after
  // each event it handles); fails the test at the deadline.
  template <class Pred>
  PromText scrape_until(Pred pred, const char* what) {
    const auto until = deadline();
    for (;;) {
      PromText p = scrape();
      if (pred(p) || HasFailure()) return p;
      if (Clock::now() >= until) {
        ADD_FAILURE() << "metrics never showed: " << what;
        return p;
      }
      pollfd none{-1, 0, 0};
      (void)::poll(&none, 1, 20);
    }
  }

  HttpReply healthz_until(int want) {
    const auto until = deadline();
    for (;;) {
      HttpReply r = http_get(port_, "/healthz");
      if (r.status == want || Clock::now() >= until) return r;
      pollfd none{-1, 0, 0};
      (void)::poll(&none, 1, 20);
    }
  }

  static double val(const PromText& p, const std::string& name,
                    const std::map<std::string, std::string>& labels = {}) {
    return p.value(name, labels).value_or(-1);
  }

  int port_ = 0;
};

TEST_F(OpsMetricsTest, Scrape_ReloadAndRejectedEdit_CountersMove) {
  start();
  PromText p = scrape();
  EXPECT_EQ(val(p, "shmconf_reloads_total", {{"namespace", "app"}, {"result", "published"}}), 1);
  EXPECT_EQ(val(p, "shmconf_reloads_total", {{"result", "rejected"}}), 0);
  EXPECT_EQ(val(p, "shmconf_live_version", {{"namespace", "app"}}), 1);
  EXPECT_EQ(val(p, "shmconf_snapshot_keys"), 3);
  EXPECT_EQ(val(p, "shmconf_config_drift"), 0);
  EXPECT_EQ(val(p, "shmconf_source_up", {{"source", "file:" + path("app.yaml")}}), 1);
  EXPECT_EQ(p.types.at("shmconf_reload_duration_seconds"), "histogram");
  EXPECT_EQ(val(p, "shmconf_reload_duration_seconds_count", {{"stage", "build"}}), 1);
  EXPECT_TRUE(p.value("shmconf_seconds_since_last_success").has_value());
  const std::string hash = status_json().value("content_hash", std::string());
  EXPECT_EQ(val(p, "shmconf_snapshot_info", {{"content_hash", hash}}), 1);

  auto client = open_client();
  write_source("app.yaml", "service:\n  port: 9090\n");
  ASSERT_TRUE(await_version(client, 2));
  p = scrape_until(
      [](const PromText& t) {
        return t.value("shmconf_reloads_total", {{"result", "published"}}) == 2.0;
      },
      "a second published reload");
  EXPECT_EQ(val(p, "shmconf_live_version"), 2);
  EXPECT_EQ(val(p, "shmconf_retained_versions"), 2);

  write_source("app.yaml", "service: [\n");  // broken YAML: rejected, version 2 stays
  p = scrape_until(
      [](const PromText& t) {
        return t.value("shmconf_reloads_total", {{"result", "rejected"}}) == 1.0;
      },
      "a rejected reload");
  EXPECT_EQ(val(p, "shmconf_validation_failures_total", {{"kind", "parse"}}), 1);
  EXPECT_EQ(val(p, "shmconf_config_drift"), 1);
  EXPECT_EQ(val(p, "shmconf_live_version"), 2);
  EXPECT_EQ(val(p, "shmconf_source_up", {{"source", "file:" + path("app.yaml")}}), 1);
  // A clean rejection of a bad edit leaves the daemon healthy.
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);
  EXPECT_EQ(client.version(), 2u);
}

TEST_F(OpsMetricsTest, Healthz_DeletedSource_Flips503AndBack) {
  start();
  HttpReply h = http_get(port_, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");

  ASSERT_EQ(::unlink(path("app.yaml").c_str()), 0);
  h = healthz_until(503);
  ASSERT_EQ(h.status, 503) << h.body;
  EXPECT_TRUE(contains(h.body, path("app.yaml"))) << h.body;
  const CtlResult st = ctl({"status", "--json"});
  ASSERT_EQ(st.code, 0) << st;  // still serving the last good version
  const auto j = nlohmann::json::parse(st.out);
  EXPECT_FALSE(j.value("healthy", true)) << st.out;
  const PromText p = scrape();
  EXPECT_EQ(val(p, "shmconf_source_up", {{"source", "file:" + path("app.yaml")}}), 0);
  EXPECT_EQ(val(p, "shmconf_healthy"), 0);
  EXPECT_EQ(val(p, "shmconf_validation_failures_total", {{"kind", "source"}}), 1);

  write_source("app.yaml", "service:\n  port: 8080\n");
  h = healthz_until(200);
  EXPECT_EQ(h.status, 200) << h.body;
}

TEST_F(OpsMetricsTest, CtlMetrics_JsonLogs_SameTextAndStructuredLines) {
  start({"--log-format", "json"});
  const CtlResult m = ctl({"metrics"});
  ASSERT_EQ(m.code, 0) << m;
  const PromText p = parse_exposition(m.out);
  EXPECT_EQ(val(p, "shmconf_live_version", {{"namespace", "app"}}), 1);
  EXPECT_TRUE(p.value("shmconf_build_info").has_value());
  EXPECT_EQ(http_get(port_, "/nope").status, 404);

  // Every log line is one JSON object; the startup publish names its
  // version, content hash, trigger and duration, and never a value.
  bool published = false;
  std::istringstream lines(read_text(procs_.front().log));
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
    EXPECT_FALSE(contains(line, "8080")) << "a value reached the log: " << line;
    if (j.value("msg", "") == "reload published") {
      published = true;
      EXPECT_EQ(j.value("version", 0), 1) << line;
      EXPECT_EQ(j.value("trigger", ""), "startup") << line;
      EXPECT_EQ(j.value("content_hash", ""), status_json().value("content_hash", "")) << line;
      EXPECT_TRUE(j.contains("duration_ms")) << line;
    }
  }
  EXPECT_TRUE(published) << read_text(procs_.front().log);
}

TEST_F(OpsMetricsTest, MetricsListen_NonLoopback_RefusedAtStart) {
  sources_ = {"app.yaml"};
  write_source("app.yaml", "a: 1\n");
  Process& d = start_daemon({"--metrics-listen", "0.0.0.0:0"});
  const auto st = d.wait(deadline());
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(WEXITSTATUS(*st), 2);
  EXPECT_TRUE(contains(read_text(d.log), "--metrics-listen-any")) << read_text(d.log);
}

}  // namespace
}  // namespace shmconf::mptest
