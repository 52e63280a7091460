// daemon/src/sources/etcd/client.hpp — a small etcd v3 client over etcd's
// JSON gateway (HTTP on the client port, keys and values base64): range,
// a compare-and-swap txn, authenticate and the streaming watch. No gRPC:
// cpp-httplib (with OpenSSL for https:// endpoints and client TLS).
//
// Endpoints are tried in the order given, starting with the one that last
// answered; a request fails only when every endpoint failed, with each
// endpoint's reason in the message. The password is sent to etcd only: no
// message, log line or exception text ever holds it.
//
// Thread-safety: one thread uses a client; stop() may be called from any
// thread and ends a watch or a request in progress. Cost: one HTTP request per call
// (plus an authenticate per connection when a user is set).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "sources/etcd/spec.hpp"

namespace httplib {
class Client;
}

namespace shmconf::daemon {

struct EtcdKv {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;
};

// What a range read returned: the store revision it is at and the keys.
struct EtcdRange {
  std::string endpoint;  // host:port that answered
  std::int64_t revision = 0;
  std::vector<EtcdKv> kvs;  // in key order
};

struct EtcdEvent {
  bool deleted = false;
  EtcdKv kv;  // value empty for a delete
};

// A request that failed on every endpoint, or an error etcd returned.
class EtcdError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EtcdClient {
 public:
  // `password` is resolved (no ${...}); kept in memory for authenticate.
  EtcdClient(const EtcdSpec& spec, std::string password);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // `key` alone, or every key starting with it (`prefix`), now or as of
  // `revision` (0 = now). Throws EtcdError (a compacted revision included).
  EtcdRange range(const std::string& key, bool prefix, std::int64_t revision = 0);
  // The cheapest request (a count of `key`): finds an endpoint that answers
  // and returns its store revision. Throws EtcdError.
  std::int64_t probe(const std::string& key);

  // One txn: if `key`'s mod_revision is `expected_mod_revision` (0: the key
  // does not exist), put `value`. Returns the new store revision, or 0 when
  // the compare failed (someone changed the key). Throws EtcdError.
  std::int64_t put_if(const std::string& key, const std::string& value,
                      std::int64_t expected_mod_revision);
  // One txn over a prefix: if no key under `prefix` has changed since
  // `since` (none modified or created after it, and each of `expect` still
  // at its mod_revision: none deleted), put `puts` and delete `deletes`.
  // Returns the new revision, or 0 when the compare failed. Throws EtcdError
  // (etcd refuses more than --max-txn-ops, 128 by default, per list).
  struct PrefixTxn {
    std::string prefix;
    std::int64_t since = 0;
    std::vector<std::pair<std::string, std::int64_t>> expect;  // key, mod_revision
    std::vector<std::pair<std::string, std::string>> puts;
    std::vector<std::string> deletes;
  };
  std::int64_t txn(const PrefixTxn& t);
  // Unconditional put and compaction (tests and benchmarks). Return the revision.
  std::int64_t put(const std::string& key, const std::string& value);
  void compact(std::int64_t revision);

  enum class WatchEnd {
    kDisconnected,  // the stream ended or failed: reconnect and resume
    kCompacted,     // start revision compacted away: *compact_revision set; read everything
    kStopped,       // stop() was called
  };
  // Watches `key` (or the prefix) from `start_revision` on the current
  // endpoint (after a range() chose it), calling `on_events` for each
  // response that holds events, with the events in revision order. Blocks
  // until the stream ends. `error` gets the reason of a disconnect.
  WatchEnd watch(const std::string& key, bool prefix, std::int64_t start_revision,
                 const std::function<void(std::vector<EtcdEvent>&)>& on_events,
                 std::int64_t* compact_revision, std::string* error);

  // Any thread: ends a watch in progress and makes later calls fail fast.
  void stop();

  // host:port of the endpoint that answered last.
  std::string endpoint() const;

 private:
  struct Endpoint;
  std::string post(const std::string& path, const std::string& body);
  std::string post_once(std::size_t i, const std::string& path, const std::string& body);
  std::unique_ptr<httplib::Client> connect(std::size_t i) const;
  void authenticate(std::size_t i, httplib::Client& c);

  EtcdSpec spec_;
  std::string password_;
  std::vector<Endpoint> endpoints_;
  std::size_t current_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;                 // guards the two pointers below
  httplib::Client* watching_ = nullptr;   // the watch's connection, for stop()
  httplib::Client* in_flight_ = nullptr;  // a unary request's connection, for stop()
};

// Base64 (RFC 4648, with padding), as the gateway encodes bytes.
std::string base64_encode(std::string_view in);
// Throws EtcdError on a character outside the alphabet.
std::string base64_decode(std::string_view in);
// The end of the range of keys starting with `prefix` (etcd's range_end).
std::string prefix_end(const std::string& prefix);

}  // namespace shmconf::daemon
