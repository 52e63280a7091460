#include "loop/etcd_sources.hpp"

#include <algorithm>

namespace shmconf::daemon {

EtcdSources::EtcdSources(NamespaceService& service) : service_(service) {
  const auto& sources = service.options().sources;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].kind != SourceSpec::Kind::kEtcd) continue;
    auto w = std::make_unique<EtcdWatcher>(service.options().name, sources[i].etcd,
                                           SubstitutionContext::from_process());
    w->start();
    watchers_.emplace_back(i, std::move(w));
  }
  if (watchers_.empty()) return;
  service.set_etcd_provider([this](std::size_t index, const EtcdSpec& spec) {
    for (const auto& [i, w] : watchers_) {
      if (i == index) return w->content();
    }
    return etcd_read_now(spec, SubstitutionContext::from_process());
  });
}

EtcdSources::~EtcdSources() {
  if (!watchers_.empty()) service_.set_etcd_provider({});
}

void EtcdSources::fill_pollfds(std::vector<pollfd>& fds) const {
  for (const auto& [i, w] : watchers_) fds.push_back({w->fd(), POLLIN, 0});
}

void EtcdSources::on_poll(const std::vector<pollfd>& fds, Clock::time_point now) {
  for (const auto& [i, w] : watchers_) {
    for (const pollfd& p : fds) {
      if (p.fd != w->fd() || !(p.revents & POLLIN)) continue;
      w->drain();
      // Quiet time after the last change, as for files: a burst of puts
      // becomes one reload.
      due_ = now + std::chrono::milliseconds(w->spec().debounce_ms);
    }
  }
}

bool EtcdSources::tick(Clock::time_point now) {
  if (!due_ || now < *due_) return false;
  due_.reset();
  return true;
}

std::vector<ops::RemoteSample> EtcdSources::samples() const {
  std::vector<ops::RemoteSample> out;
  for (const auto& [i, w] : watchers_) {
    const EtcdWatcher::State s = w->state();
    ops::RemoteSample r;
    r.name = etcd_label(w->spec());
    r.loaded = s.loaded;
    r.connected = s.connected;
    r.revision = s.revision;
    r.endpoint = s.endpoint;
    r.error = s.error;
    r.reconnects = s.reconnects;
    r.full_reads = s.full_reads;
    r.events = s.events;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace shmconf::daemon
