#include "control/replies.hpp"

#include <stdexcept>
#include <string>

#include "publish/render.hpp"

namespace shmconf::daemon {

nlohmann::json outcome_json(const ReloadOutcome& out) {
  nlohmann::json j = {{"ok", out.ok},           {"published", out.published},
                      {"version", out.version}, {"from_version", out.from_version},
                      {"message", out.message}, {"duration_ms", out.duration_ms}};
  if (!out.ok) j["error"] = out.error;
  if (!out.ok && !out.error_kind.empty()) j["code"] = out.error_kind;
  if (!out.warnings.empty()) j["warnings"] = out.warnings;
  auto keys = nlohmann::json::array();
  for (const KeyChange& c : out.changes) {
    keys.push_back({{"key", c.key}, {"change", change_name(c.kind)}});
  }
  j["changes"] = keys;
  return j;
}

namespace {

nlohmann::json last_reload_json(const std::optional<LastReload>& last) {
  if (!last) return nullptr;
  const LastReload& r = *last;
  return {{"ok", r.ok},
          {"trigger", r.trigger},
          {"time_ns", r.time_ns},
          {"version", r.version},
          {"published", r.published},
          {"message", r.message},
          {"error", r.ok ? nlohmann::json(nullptr) : nlohmann::json(r.error)},
          {"error_kind", r.ok ? nlohmann::json(nullptr) : nlohmann::json(r.error_kind)},
          {"warnings", r.warnings},
          {"duration_ms", r.duration_ms}};
}

nlohmann::json sources_json(const NamespaceService& service) {
  auto sources = nlohmann::json::array();
  for (const SourceSpec& spec : service.options().sources) sources.push_back(source_label(spec));
  return sources;
}

}  // namespace

nlohmann::json status_json(const NamespaceService& service, bool show_secrets) {
  nlohmann::json j;
  j["namespace"] = service.options().name;
  j["prefix"] = service.options().prefix;
  j["live_version"] = service.live_version();
  j["generation"] = service.generation();
  if (const Segment* live = service.live()) {
    const auto& h = live->view.header();
    j["content_hash"] = hex64(h.content_hash);
    j["segment_id"] = live->id;
    j["segment_bytes"] = h.segment_size;
    j["keys"] = h.node_count - 1;
    j["publish_time_ns"] = h.publish_time_ns;
  }
  j["rolled_back"] = service.rolled_back();
  j["retained"] = service.retained().size();
  j["sources"] = sources_json(service);
  // Health of each source at the last reload attempt (same order as
  // "sources"; empty before the first).
  auto health = nlohmann::json::array();
  for (const SourceStatus& h : service.source_status()) {
    nlohmann::json one = {{"name", h.name}, {"ok", h.ok}, {"error", h.error}};
    if (h.revision != 0) {  // etcd: what the last reload read
      one["revision"] = h.revision;
      one["endpoint"] = h.endpoint;
    }
    health.push_back(std::move(one));
  }
  j["source_health"] = std::move(health);
  j["state_dir"] = service.state_dir();
  j["last_reload"] = last_reload_json(service.last_reload());
  const ServiceCounters& c = service.counters();
  j["reloads_ok"] = c.reloads_ok;
  j["reloads_failed"] = c.reloads_failed;
  j["rollbacks"] = c.rollbacks;
  j["uptime_s"] = service.uptime_seconds();
  j["overrides"] = show_secrets ? nlohmann::json::parse(to_json(service.overrides()))
                                : service.sensitive_keys().redact(service.overrides());
  j["rejections_by_kind"] = c.rejections_by_kind;
  return j;
}

nlohmann::json history_json(const NamespaceService& service) {
  nlohmann::json versions = nlohmann::json::array();
  const auto& all = service.retained().all();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    versions.push_back({{"version", it->version},
                        {"live", it->segment.get() == service.live()},
                        {"time_ns", it->time_ns},
                        {"trigger", it->trigger},
                        {"content_hash", hex64(it->content_hash)},
                        {"summary", it->summary}});
  }
  return {{"versions", versions}, {"events", nlohmann::json(service.events().events())}};
}

nlohmann::json diff_json(const NamespaceService& service, std::uint64_t a, std::uint64_t b,
                         bool show_secrets) {
  const RetainedVersion* ra = service.retained().find(a);
  const RetainedVersion* rb = service.retained().find(b);
  if (ra == nullptr || rb == nullptr) {
    throw std::runtime_error("version " + std::to_string(ra == nullptr ? a : b) +
                             " is not retained");
  }
  nlohmann::json changes = nlohmann::json::array();
  const RenderOptions ro{show_secrets};
  for (const SegmentChange& c : diff_segments(ra->segment->view, rb->segment->view)) {
    nlohmann::json e = {{"key", std::string(c.key)}, {"change", change_name(c.kind)}};
    if (c.from_node) e["old"] = node_to_json(ra->segment->view, *c.from_node, ro);
    if (c.to_node) e["new"] = node_to_json(rb->segment->view, *c.to_node, ro);
    changes.push_back(std::move(e));
  }
  return {{"from", a}, {"to", b}, {"changes", changes}};
}

nlohmann::json explain_json(const Explanation& e, bool show_secrets) {
  auto layers = nlohmann::json::array();
  for (const Value& v : e.layers) {
    nlohmann::json l;
    l["source"] = v.origin.source < e.names.size() ? e.names[v.origin.source] : "?";
    if (v.origin.line != 0) {
      l["line"] = v.origin.line;
      l["column"] = v.origin.column;
    }
    if (v.type == Type::kNull) {
      l["deleted"] = true;
    } else {
      l["value"] = e.sensitive && !show_secrets ? nlohmann::json(kRedactedValue)
                                                : nlohmann::json::parse(to_json(v));
    }
    layers.push_back(std::move(l));
  }
  return {{"key", e.key}, {"sensitive", e.sensitive}, {"layers", std::move(layers)}};
}

}  // namespace shmconf::daemon
