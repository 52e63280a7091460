// daemon/src/loop/etcd_sources.hpp — a namespace's etcd sources in the
// daemon's loop: one EtcdWatcher per source (sources/etcd/watcher.hpp),
// their eventfds in the loop's poll(), a debounce deadline, and the
// provider through which the namespace's reloads read the watchers' copies.
//
// Thread-safety: the loop thread; the watchers run their own threads.
// Cost: nothing while etcd is quiet.
#pragma once

#include <poll.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/namespace_service.hpp"
#include "ops/metrics.hpp"
#include "sources/etcd/watcher.hpp"

namespace shmconf::daemon {

class EtcdSources {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts a watcher for each etcd source of `service` (each tries one
  // read at once) and points the service's reloads at them.
  explicit EtcdSources(NamespaceService& service);
  ~EtcdSources();

  bool empty() const { return watchers_.empty(); }
  void fill_pollfds(std::vector<pollfd>& fds) const;
  // Takes the watchers' wake-ups; a change arms the debounce.
  void on_poll(const std::vector<pollfd>& fds, Clock::time_point now);
  std::optional<Clock::time_point> deadline() const { return due_; }
  // True once when the debounce has run out: reload now.
  bool tick(Clock::time_point now);

  // For the metrics, the status reply and the health verdict.
  std::vector<ops::RemoteSample> samples() const;

 private:
  NamespaceService& service_;
  std::vector<std::pair<std::size_t, std::unique_ptr<EtcdWatcher>>> watchers_;  // by source index
  std::optional<Clock::time_point> due_;
};

}  // namespace shmconf::daemon
