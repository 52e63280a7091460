#include "sources/etcd/client.hpp"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

namespace shmconf::daemon {

struct EtcdClient::Endpoint {
  std::string url;      // as configured: "http://127.0.0.1:2379"
  std::string display;  // "127.0.0.1:2379"
  std::string token;    // auth token, "" = none yet
  std::unique_ptr<httplib::Client> unary;
};

namespace {

std::int64_t as_int(const nlohmann::json& j, const char* field) {
  const auto it = j.find(field);
  if (it == j.end()) return 0;  // proto3 leaves zero values out
  if (it->is_string()) return std::stoll(it->get<std::string>());
  if (it->is_number_integer()) return it->get<std::int64_t>();
  return 0;
}

// etcd's error replies: {"error": "...", "message": "...", "code": N}.
// Streams wrap it: {"error": {"message": "...", "http_code": 503, ...}}.
std::string etcd_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) j = j["error"];
  if (j.is_object()) {
    if (j.contains("message") && j["message"].is_string()) return j["message"];
    if (j.contains("error") && j["error"].is_string()) return j["error"];
  }
  return body.substr(0, 200);
}

// etcd's message, or for a reply that is not the gateway's JSON, what answered.
std::string reply_message(int status, const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && (j.contains("message") || j.contains("error"))) return etcd_message(body);
  return "HTTP " + std::to_string(status) + " (not an etcd v3 gateway reply?)" +
         (body.empty() ? "" : ": " + body.substr(0, 200));
}

std::string why(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::Read:
      return "connection lost while reading";
    case httplib::Error::Write:
      return "connection lost while writing";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return "TLS: " + httplib::to_string(e);
    default:
      return httplib::to_string(e);
  }
}

EtcdKv to_kv(const nlohmann::json& kv) {
  EtcdKv out;
  out.key = base64_decode(kv.value("key", ""));
  out.value = base64_decode(kv.value("value", ""));
  out.mod_revision = as_int(kv, "mod_revision");
  return out;
}

std::string display_of(const std::string& url) {
  const auto p = url.find("://");
  std::string d = p == std::string::npos ? url : url.substr(p + 3);
  while (!d.empty() && d.back() == '/') d.pop_back();
  return d;
}

// A POST whose reply body is kept even when reading the reply fails after
// it: etcd's gateway ends error replies with HTTP trailers, which
// cpp-httplib 0.11 cannot parse (its read fails after the body arrived).
struct Reply {
  int status = 0;
  std::string body;
  std::string error;  // "" when a status and a body arrived
};

Reply post_raw(httplib::Client& c, const std::string& path, const std::string& body,
               const std::string& token) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  if (!token.empty()) req.set_header("Authorization", token);
  Reply out;
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t len, std::uint64_t, std::uint64_t) {
    out.body.append(data, len);
    return true;
  };
  auto res = c.send(req);
  if (!res && (out.status == 0 || out.status == 200)) out.error = why(res.error());
  return out;
}

// With TLS 1.3 a server that refuses the client certificate says so after
// the handshake: the first read or write fails.
std::string with_tls_hint(const std::string& url, std::string error) {
  if (url.starts_with("https://") && error.starts_with("connection lost")) {
    error +=
        " (TLS: etcd closed the connection, as it does for a missing or refused client "
        "certificate)";
  }
  return error;
}

}  // namespace

EtcdClient::EtcdClient(const EtcdSpec& spec, std::string password)
    : spec_(spec), password_(std::move(password)) {
  if (spec_.endpoints.empty()) throw EtcdError("an etcd source needs at least one endpoint");
  for (const std::string& url : spec_.endpoints) {
    Endpoint e;
    e.url = url;
    e.display = display_of(url);
    endpoints_.push_back(std::move(e));
  }
}

EtcdClient::~EtcdClient() = default;

std::unique_ptr<httplib::Client> EtcdClient::connect(std::size_t i) const {
  const std::string& url = endpoints_[i].url;
  std::unique_ptr<httplib::Client> c;
  if (!spec_.cert_file.empty()) {
    c = std::make_unique<httplib::Client>(url, spec_.cert_file, spec_.key_file);
  } else {
    c = std::make_unique<httplib::Client>(url);
  }
  if (!c->is_valid()) throw EtcdError(endpoints_[i].display + ": not a valid endpoint URL");
  if (!spec_.ca_file.empty()) c->set_ca_cert_path(spec_.ca_file.c_str());
  const auto timeout = std::chrono::milliseconds(spec_.timeout_ms);
  c->set_connection_timeout(timeout);
  c->set_read_timeout(std::max(timeout, std::chrono::milliseconds(10000)));
  c->set_write_timeout(timeout);
  c->set_tcp_nodelay(true);
  return c;
}

void EtcdClient::authenticate(std::size_t i, httplib::Client& c) {
  Endpoint& e = endpoints_[i];
  if (spec_.user.empty() || !e.token.empty()) return;
  const nlohmann::json req = {{"name", spec_.user}, {"password", password_}};
  const Reply res = post_raw(c, "/v3/auth/authenticate", req.dump(), "");
  if (!res.error.empty()) {
    throw EtcdError(e.display + ": authenticate: " + with_tls_hint(e.url, res.error));
  }
  if (res.status != 200) {
    throw EtcdError(e.display + ": authenticate as '" + spec_.user +
                    "' refused: " + reply_message(res.status, res.body));
  }
  const auto j = nlohmann::json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("token"))
    throw EtcdError(e.display + ": authenticate: no token");
  e.token = j["token"].get<std::string>();
}

std::string EtcdClient::post_once(std::size_t i, const std::string& path, const std::string& body) {
  Endpoint& e = endpoints_[i];
  // The connection in use is visible to stop() (under mu_) while a request
  // is in flight, so a stop does not wait out a read timeout.
  const auto drop = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = nullptr;
    e.unary.reset();
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!e.unary) {
      auto c = connect(i);
      std::lock_guard<std::mutex> lock(mu_);
      e.unary = std::move(c);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = e.unary.get();
    }
    if (stop_) {
      drop();
      throw EtcdError("stopped");
    }
    try {
      authenticate(i, *e.unary);
    } catch (const EtcdError&) {
      drop();
      throw;
    }
    Reply res = post_raw(*e.unary, path, body, e.token);
    if (res.status == 200 && res.error.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = nullptr;
      return std::move(res.body);
    }
    drop();  // a failed trailer read leaves the connection unusable too
    if (!res.error.empty()) throw EtcdError(e.display + ": " + with_tls_hint(e.url, res.error));
    const std::string msg = reply_message(res.status, res.body);
    // An expired token: authenticate again, once.
    if (!e.token.empty() && msg.find("token") != std::string::npos && attempt == 0) {
      e.token.clear();
      continue;
    }
    throw EtcdError(e.display + ": " + msg);
  }
  throw EtcdError(e.display + ": authentication keeps failing");
}

std::string EtcdClient::post(const std::string& path, const std::string& body) {
  std::string errors;
  for (std::size_t n = 0; n < endpoints_.size(); ++n) {
    if (stop_) throw EtcdError("stopped");
    const std::size_t i = (current_ + n) % endpoints_.size();
    try {
      std::string out = post_once(i, path, body);
      current_ = i;
      return out;
    } catch (const EtcdError& e) {
      errors += (errors.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  throw EtcdError("no etcd endpoint answered: " + errors);
}

EtcdRange EtcdClient::range(const std::string& key, bool prefix, std::int64_t revision) {
  nlohmann::json req = {{"key", base64_encode(key)}};
  if (prefix) req["range_end"] = base64_encode(prefix_end(key));
  if (revision > 0) req["revision"] = std::to_string(revision);
  const auto j = nlohmann::json::parse(post("/v3/kv/range", req.dump()), nullptr, false);
  if (!j.is_object()) throw EtcdError(endpoint() + ": range: a reply that is not JSON");
  EtcdRange out;
  out.endpoint = endpoint();
  out.revision = as_int(j.value("header", nlohmann::json::object()), "revision");
  for (const auto& kv : j.value("kvs", nlohmann::json::array())) out.kvs.push_back(to_kv(kv));
  return out;
}

std::int64_t EtcdClient::probe(const std::string& key) {
  const nlohmann::json req = {{"key", base64_encode(key)}, {"count_only", true}};
  const auto j = nlohmann::json::parse(post("/v3/kv/range", req.dump()), nullptr, false);
  if (!j.is_object()) throw EtcdError(endpoint() + ": range: a reply that is not JSON");
  return as_int(j.value("header", nlohmann::json::object()), "revision");
}

std::int64_t EtcdClient::put_if(const std::string& key, const std::string& value,
                                std::int64_t expected_mod_revision) {
  const nlohmann::json req = {
      {"compare",
       {{{"result", "EQUAL"},
         {"target", "MOD"},
         {"key", base64_encode(key)},
         {"mod_revision", std::to_string(expected_mod_revision)}}}},
      {"success",
       {{{"request_put", {{"key", base64_encode(key)}, {"value", base64_encode(value)}}}}}}};
  const auto j = nlohmann::json::parse(post("/v3/kv/txn", req.dump()), nullptr, false);
  if (!j.is_object()) throw EtcdError(endpoint() + ": txn: a reply that is not JSON");
  if (!j.value("succeeded", false)) return 0;
  return as_int(j.value("header", nlohmann::json::object()), "revision");
}

std::int64_t EtcdClient::txn(const PrefixTxn& t) {
  nlohmann::json compare = nlohmann::json::array();
  compare.push_back({{"result", "LESS"},
                     {"target", "MOD"},
                     {"key", base64_encode(t.prefix)},
                     {"range_end", base64_encode(prefix_end(t.prefix))},
                     {"mod_revision", std::to_string(t.since + 1)}});
  for (const auto& [key, mod] : t.expect) {
    compare.push_back({{"result", "EQUAL"},
                       {"target", "MOD"},
                       {"key", base64_encode(key)},
                       {"mod_revision", std::to_string(mod)}});
  }
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& [key, value] : t.puts) {
    ops.push_back(
        {{"request_put", {{"key", base64_encode(key)}, {"value", base64_encode(value)}}}});
  }
  for (const auto& key : t.deletes) {
    ops.push_back({{"request_delete_range", {{"key", base64_encode(key)}}}});
  }
  const nlohmann::json req = {{"compare", compare}, {"success", ops}};
  const auto j = nlohmann::json::parse(post("/v3/kv/txn", req.dump()), nullptr, false);
  if (!j.is_object()) throw EtcdError(endpoint() + ": txn: a reply that is not JSON");
  if (!j.value("succeeded", false)) return 0;
  return as_int(j.value("header", nlohmann::json::object()), "revision");
}

std::int64_t EtcdClient::put(const std::string& key, const std::string& value) {
  const nlohmann::json req = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  const auto j = nlohmann::json::parse(post("/v3/kv/put", req.dump()), nullptr, false);
  return as_int(j.value("header", nlohmann::json::object()), "revision");
}

void EtcdClient::compact(std::int64_t revision) {
  (void)post("/v3/kv/compaction",
             nlohmann::json{{"revision", std::to_string(revision)}, {"physical", true}}.dump());
}

std::string EtcdClient::endpoint() const { return endpoints_[current_].display; }

void EtcdClient::stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (watching_ != nullptr) watching_->stop();
  if (in_flight_ != nullptr) in_flight_->stop();
}

namespace {

// One line of the watch stream; false ends the stream with `end` set.
bool on_watch_line(const std::string& line, EtcdClient::WatchEnd& end,
                   const std::function<void(std::vector<EtcdEvent>&)>& on_events,
                   std::int64_t* compact_revision, std::string* error) {
  if (line.find_first_not_of(" \r\t") == std::string::npos) return true;
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) {
    *error = "watch: a line that is not JSON";
    return false;
  }
  if (j.contains("error")) {
    *error = "watch: " + etcd_message(line);
    return false;
  }
  const auto& r = j.value("result", nlohmann::json::object());
  if (r.value("canceled", false)) {
    const std::int64_t compacted = as_int(r, "compact_revision");
    if (compacted > 0) {
      *compact_revision = compacted;
      end = EtcdClient::WatchEnd::kCompacted;
    } else {
      *error = "watch canceled: " + r.value("cancel_reason", std::string("no reason given"));
    }
    return false;
  }
  const auto it = r.find("events");
  if (it == r.end() || !it->is_array() || it->empty()) return true;
  std::vector<EtcdEvent> events;
  for (const auto& ev : *it) {
    EtcdEvent e;
    e.deleted = ev.value("type", std::string()) == "DELETE";
    e.kv = to_kv(ev.value("kv", nlohmann::json::object()));
    events.push_back(std::move(e));
  }
  on_events(events);
  return true;
}

}  // namespace

EtcdClient::WatchEnd EtcdClient::watch(
    const std::string& key, bool prefix, std::int64_t start_revision,
    const std::function<void(std::vector<EtcdEvent>&)>& on_events, std::int64_t* compact_revision,
    std::string* error) {
  const std::size_t i = current_;
  std::unique_ptr<httplib::Client> c;
  try {
    c = connect(i);
    // Quiet streams are normal; progress notifications (every 10 minutes
    // by default) keep a live one from timing out.
    c->set_read_timeout(std::chrono::seconds(660));
    authenticate(i, *c);
  } catch (const EtcdError& e) {
    *error = e.what();
    return WatchEnd::kDisconnected;
  }
  nlohmann::json create = {{"key", base64_encode(key)},
                           {"start_revision", std::to_string(start_revision)},
                           {"progress_notify", true}};
  if (prefix) create["range_end"] = base64_encode(prefix_end(key));
  httplib::Request req;
  req.method = "POST";
  req.path = "/v3/watch";
  req.body = nlohmann::json{{"create_request", create}}.dump();
  req.set_header("Content-Type", "application/json");
  if (!endpoints_[i].token.empty()) req.set_header("Authorization", endpoints_[i].token);
  WatchEnd end = WatchEnd::kDisconnected;
  std::string buf;
  bool ended = false;
  req.content_receiver = [&](const char* data, std::size_t len, std::uint64_t, std::uint64_t) {
    buf.append(data, len);
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      const std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!on_watch_line(line, end, on_events, compact_revision, error)) {
        ended = true;
        return false;
      }
    }
    return !stop_.load();
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    watching_ = c.get();
  }
  if (!stop_) {
    auto res = c->send(req);
    if (!ended && !buf.empty()) {
      (void)on_watch_line(buf, end, on_events, compact_revision, error);
      ended = end != WatchEnd::kDisconnected || !error->empty();
    }
    if (!ended && error->empty()) {
      *error = res ? "watch stream ended (HTTP " + std::to_string(res->status) + ")"
                   : "watch: " + why(res.error());
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    watching_ = nullptr;
  }
  if (stop_) return WatchEnd::kStopped;
  if (error->find("token") != std::string::npos) endpoints_[i].token.clear();
  return end;
}

}  // namespace shmconf::daemon
