// daemon/src/sources/etcd/watcher.hpp — keeps a copy of one etcd source
// current, on its own thread, and tells the daemon's loop when it changed.
//
// The thread reads the whole key or prefix once, then watches from that
// revision + 1 (etcd's streaming watch). Each event is applied to the copy
// and the revision advances to the event's mod_revision, so after a lost
// connection the watch resumes exactly after the last change it applied:
// nothing is missed. When etcd has compacted that revision away, the
// watch is cancelled with compact_revision and the thread reads everything
// again. A failed connection is retried with capped exponential backoff
// and full jitter (a recovering cluster is not stampeded by a fleet), on
// the next endpoint that answers. While etcd is away the copy stays as it
// was: reloads keep using the last content read.
//
// The loop polls fd() (an eventfd, readable after the copy changed),
// debounces, and reloads; the reload reads content().
//
// Thread-safety: every public member may be called from the loop thread
// while the watcher's thread runs; content() and state() lock a mutex held
// only for copies. Cost: one idle HTTP stream per source; a copy of the
// source's keys per reload.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sources/etcd/layers.hpp"

namespace shmconf::daemon {

class EtcdWatcher {
 public:
  struct State {
    bool loaded = false;     // a full read succeeded once
    bool connected = false;  // the watch stream is (believed) up
    std::int64_t revision = 0;
    std::string endpoint;
    std::string error;  // why not connected; never holds the password
    std::uint64_t reconnects = 0;
    std::uint64_t full_reads = 0;
    std::uint64_t events = 0;
  };

  EtcdWatcher(std::string name, EtcdSpec spec, SubstitutionContext ctx);
  ~EtcdWatcher();  // stops and joins the thread
  EtcdWatcher(const EtcdWatcher&) = delete;
  EtcdWatcher& operator=(const EtcdWatcher&) = delete;

  // One full read now (bounded by the connect timeout per endpoint), so a
  // daemon that starts with etcd up publishes its content at once; then the
  // thread. Never throws: an unreachable etcd is retried by the thread.
  void start();

  int fd() const { return event_fd_; }
  // Clears fd()'s readiness.
  void drain();
  // The copy. Throws EtcdError when no full read has succeeded yet.
  EtcdContent content() const;
  State state() const;
  const EtcdSpec& spec() const { return spec_; }
  const std::string& name() const { return name_; }

 private:
  void run();
  bool full_read();
  // Sleeps the current backoff with jitter; false when stopping.
  bool back_off(std::uint64_t& delay_ms);
  void notify();
  void set_error(const std::string& error);

  std::string name_;
  EtcdSpec spec_;
  SubstitutionContext ctx_;
  int event_fd_ = -1;

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stop_ = false;
  std::unique_ptr<EtcdClient> client_;
  std::map<std::string, EtcdKv> kvs_;
  State state_;
  std::thread thread_;
};

}  // namespace shmconf::daemon
