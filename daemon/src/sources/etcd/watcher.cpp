#include "sources/etcd/watcher.hpp"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <random>

namespace shmconf::daemon {

EtcdWatcher::EtcdWatcher(std::string name, EtcdSpec spec, SubstitutionContext ctx)
    : name_(std::move(name)), spec_(std::move(spec)), ctx_(std::move(ctx)) {
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) throw std::runtime_error("eventfd failed");
}

EtcdWatcher::~EtcdWatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    // A watch that was just starting may miss one stop(): repeat until the
    // thread is out.
    std::atomic<bool> done{false};
    std::thread joiner([&] {
      thread_.join();
      done = true;
    });
    while (!done) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (client_) client_->stop();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    joiner.join();
  }
  ::close(event_fd_);
}

void EtcdWatcher::start() {
  (void)full_read();
  thread_ = std::thread([this] { run(); });
}

void EtcdWatcher::drain() {
  std::uint64_t n = 0;
  while (::read(event_fd_, &n, sizeof n) == static_cast<ssize_t>(sizeof n)) {
  }
}

void EtcdWatcher::notify() {
  const std::uint64_t one = 1;
  (void)!::write(event_fd_, &one, sizeof one);
}

EtcdContent EtcdWatcher::content() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!state_.loaded) {
    throw EtcdError("not read yet: " + (state_.error.empty() ? "connecting" : state_.error));
  }
  EtcdContent c;
  c.endpoint = state_.endpoint;
  c.revision = state_.revision;
  c.kvs.reserve(kvs_.size());
  for (const auto& [key, kv] : kvs_) c.kvs.push_back(kv);
  return c;
}

EtcdWatcher::State EtcdWatcher::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void EtcdWatcher::set_error(const std::string& error) {
  bool worth_logging = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Not while stopping: the daemon is exiting, not losing etcd.
    worth_logging = (state_.connected || state_.error != error) && !stop_;
    state_.connected = false;
    state_.error = error;
  }
  if (worth_logging) {
    spdlog::warn("etcd source {} of namespace {}: {}; serving the last content read", spec_.key,
                 name_, error);
  }
}

// Reads everything; true on success (the copy replaced, the loop told).
bool EtcdWatcher::full_read() {
  try {
    if (!client_) {
      auto c = std::make_unique<EtcdClient>(spec_, etcd_password(spec_, ctx_));
      std::lock_guard<std::mutex> lock(mu_);
      client_ = std::move(c);
    }
    EtcdRange r = client_->range(spec_.key, spec_.layout == EtcdSpec::Layout::kTree);
    {
      std::lock_guard<std::mutex> lock(mu_);
      kvs_.clear();
      for (EtcdKv& kv : r.kvs) kvs_[kv.key] = std::move(kv);
      state_.loaded = true;
      state_.connected = true;
      state_.error.clear();
      state_.revision = r.revision;
      state_.endpoint = r.endpoint;
      ++state_.full_reads;
    }
    notify();
    return true;
  } catch (const std::exception& e) {  // EtcdError, or a ConfigError of the password
    set_error(e.what());
    return false;
  }
}

bool EtcdWatcher::back_off(std::uint64_t& delay_ms) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  // Full jitter over the upper half: hosts that lost etcd together come
  // back spread over the interval, not in one wave.
  std::uniform_int_distribution<std::uint64_t> d(delay_ms / 2, delay_ms);
  const auto wait = std::chrono::milliseconds(d(rng));
  delay_ms = std::min<std::uint64_t>(delay_ms * 2, spec_.backoff_max_ms);
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, wait, [this] { return stop_; });
}

void EtcdWatcher::run() {
  const bool prefix = spec_.layout == EtcdSpec::Layout::kTree;
  std::uint64_t delay = spec_.backoff_min_ms;
  bool need_full = !state().loaded;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    if (need_full) {
      if (!full_read()) {
        if (!back_off(delay)) return;
        continue;
      }
      need_full = false;
    } else if (!state().connected) {
      // Resume: find an endpoint that answers, then watch from where we were.
      try {
        (void)client_->probe(spec_.key);
      } catch (const EtcdError& e) {
        set_error(e.what());
        if (!back_off(delay)) return;
        continue;
      }
    }
    std::int64_t from = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!state_.error.empty()) {
        spdlog::info("etcd source {} of namespace {}: connected to {}, watching from revision {}",
                     spec_.key, name_, client_->endpoint(), state_.revision + 1);
      }
      from = state_.revision + 1;
      state_.connected = true;
      state_.error.clear();
      state_.endpoint = client_->endpoint();
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t compacted = 0;
    std::string error;
    const auto end = client_->watch(
        spec_.key, prefix, from,
        [this](std::vector<EtcdEvent>& events) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            for (EtcdEvent& e : events) {
              state_.revision = std::max(state_.revision, e.kv.mod_revision);
              if (e.deleted) {
                kvs_.erase(e.kv.key);
              } else {
                kvs_[e.kv.key] = std::move(e.kv);
              }
              ++state_.events;
            }
          }
          notify();
        },
        &compacted, &error);
    if (end == EtcdClient::WatchEnd::kStopped) return;
    if (end == EtcdClient::WatchEnd::kCompacted) {
      spdlog::warn(
          "etcd source {} of namespace {}: revision {} was compacted (now {}); reading "
          "everything again",
          spec_.key, name_, from, compacted);
      need_full = true;
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++state_.reconnects;
    }
    set_error(error);
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(2)) {
      delay = spec_.backoff_min_ms;  // the stream was up: start the backoff over
    }
    if (!back_off(delay)) return;
  }
}

}  // namespace shmconf::daemon
