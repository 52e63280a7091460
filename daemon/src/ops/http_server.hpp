// daemon/src/ops/http_server.hpp — shmconfd's opt-in HTTP listener:
// GET /metrics (Prometheus text exposition) and GET /healthz (200 "ok", or
// 503 with the reason). Anything else is 404.
//
// The server runs cpp-httplib on a thread of its own with a small worker
// pool. It never touches the daemon's state: it calls the two functions it
// was given, which read the immutable snapshot DaemonMetrics publishes.
//
// Thread-safety: construct and destroy from one thread; the callbacks run on
// the server's threads. Cost: one listening socket, three threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace httplib {
class Server;
}

namespace shmconf::daemon::ops {

class MetricsHttpServer {
 public:
  using Scrape = std::function<std::string()>;
  using HealthCheck = std::function<std::pair<bool, std::string>()>;

  // Binds `host`:`port` (port 0 picks a free one) and starts serving.
  // Throws std::runtime_error when the address cannot be bound.
  MetricsHttpServer(const std::string& host, int port, Scrape scrape, HealthCheck health);
  // Stops accepting, finishes the requests in flight, joins the threads.
  ~MetricsHttpServer();

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:9469", "[::1]:9469".
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string address_;
};

}  // namespace shmconf::daemon::ops
