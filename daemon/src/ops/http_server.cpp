#include "ops/http_server.hpp"

#include <httplib.h>

#include <chrono>
#include <stdexcept>

namespace shmconf::daemon::ops {
namespace {

constexpr const char* kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

MetricsHttpServer::MetricsHttpServer(const std::string& host, int port, Scrape scrape,
                                     HealthCheck health)
    : server_(std::make_unique<httplib::Server>()) {
  // Scrapes are rare and cheap: two workers are plenty, and bound what a
  // flood of connections can take from the host.
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->set_keep_alive_max_count(10);
  server_->set_read_timeout(5, 0);
  server_->set_write_timeout(5, 0);
  server_->set_payload_max_length(64 * 1024);
  server_->Get("/metrics", [scrape](const httplib::Request&, httplib::Response& res) {
    res.set_content(scrape(), kExpositionType);
  });
  server_->Get("/healthz", [health](const httplib::Request&, httplib::Response& res) {
    const auto [ok, reason] = health();
    res.status = ok ? 200 : 503;
    // "ok", or the reason: why not healthy, or "degraded: ..." (still 200).
    res.set_content(reason + "\n", "text/plain; charset=utf-8");
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ < 0) throw std::runtime_error("metrics listener: cannot bind " + host);
  } else {
    if (!server_->bind_to_port(host, port)) {
      throw std::runtime_error("metrics listener: cannot bind " + host + ":" +
                               std::to_string(port) + " (in use, or not an address of this host)");
    }
    port_ = port;
  }
  address_ =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port_);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() only stops a server that is running: wait until it is, so the
  // destructor can never leave the thread blocked in accept().
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

MetricsHttpServer::~MetricsHttpServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace shmconf::daemon::ops
