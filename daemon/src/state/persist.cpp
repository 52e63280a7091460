#include "state/persist.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <span>
#include <stdexcept>

#include "sources/substitute.hpp"
#include "state/templates.hpp"

namespace shmconf::daemon {

SavedState read_state(const StateStore& store, const Limits& limits) {
  SavedState s;
  try {
    s.raw = store.load();
  } catch (const std::exception& e) {
    spdlog::error("state directory {}: state.json unreadable, starting without history: {}",
                  store.dir(), e.what());
    s.raw = nlohmann::json::object();
  }
  const nlohmann::json& j = s.raw;
  if (j.contains("overrides") && j["overrides"].is_object()) {
    // Overrides are stored as canonical JSON text and parsed like a source.
    s.overrides = parse_text(j["overrides"].dump(), Format::kJson, "state.json overrides",
                             format::kNoSource, limits);
  }
  s.next_version = std::max<std::uint64_t>(1, j.value("next_version", std::uint64_t{1}));
  s.live_version = j.value("live_version", std::uint64_t{0});
  s.last_source_hash = j.value("last_source_hash", std::uint64_t{0});
  s.rolled_back = j.value("rolled_back", false);
  return s;
}

void restore_events(const SavedState& saved, EventLog& log) {
  if (!saved.raw.contains("events")) return;
  for (const auto& e : saved.raw["events"]) log.record(e);
}

namespace {

// The pause before retrying a failed flush (StateWriter::retry_at()).
constexpr auto kFirstRetry = std::chrono::milliseconds(50);
constexpr auto kLastRetry = std::chrono::milliseconds(2000);

// One version from its file into a new shared-memory segment.
RetainedVersion restore_one(const nlohmann::json& v, std::uint64_t version,
                            const std::vector<std::string>& substituted, const std::string& bytes,
                            Publisher& publisher, const RetainedVersions& retained,
                            const SubstitutionContext& ctx) {
  RetainedVersion r;
  if (!substituted.empty()) {
    // Resolve the references again; the template text never reaches
    // shared memory. A reference that no longer resolves skips this
    // version, and an earlier one is restored instead.
    const SegmentView* previous = retained.empty() ? nullptr : &retained.newest().segment->view;
    const auto resolved = resolve_template_segment(bytes, substituted, previous, ctx);
    r.segment = publisher.create(std::span(resolved.data(), resolved.size()));
    r.substituted = substituted;
  } else {
    r.segment =
        publisher.create(std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  }
  if (r.segment->version() != version) throw std::runtime_error("version mismatch");
  r.version = version;
  r.time_ns = v.value("time_ns", std::uint64_t{0});
  r.trigger = v.value("trigger", std::string());
  r.content_hash = r.segment->view.header().content_hash;
  r.summary = v.value("summary", nlohmann::json::object());
  r.persisted = true;  // read from the state directory
  return r;
}

}  // namespace

void restore_versions(const SavedState& saved, const StateStore& store, Publisher& publisher,
                      RetainedVersions& retained, const SubstitutionContext& ctx,
                      const std::function<void(RetainedVersion)>& keep) {
  if (!saved.raw.contains("versions")) return;
  for (const auto& v : saved.raw["versions"]) {
    const std::uint64_t version = v.value("version", std::uint64_t{0});
    if (version == 0) continue;
    if (RetainedVersion* have = retained.find(version)) {
      // Adopted from shared memory; keep the richer metadata from disk.
      have->trigger = v.value("trigger", have->trigger);
      have->substituted = v.value("substituted", std::vector<std::string>());
      continue;
    }
    const auto substituted = v.value("substituted", std::vector<std::string>());
    auto bytes =
        substituted.empty() ? store.load_segment(version) : store.load_template_segment(version);
    if (!bytes) continue;
    try {
      keep(restore_one(v, version, substituted, *bytes, publisher, retained, ctx));
    } catch (const std::exception& e) {
      spdlog::warn("state: version {} not restored: {}", version, e.what());
    }
  }
}

nlohmann::json state_document(const StateFields& f, const RetainedVersions& retained,
                              const EventLog& events) {
  nlohmann::json versions = nlohmann::json::array();
  for (const RetainedVersion& r : retained.all()) {
    versions.push_back({{"version", r.version},
                        {"time_ns", r.time_ns},
                        {"trigger", r.trigger},
                        {"content_hash", r.content_hash},
                        {"summary", r.summary}});
    if (!r.substituted.empty()) versions.back()["substituted"] = r.substituted;
  }
  return {{"format", 1},
          {"namespace", f.ns},
          {"next_version", f.next_version},
          {"live_version", f.live_version},
          {"last_source_hash", f.last_source_hash},
          {"rolled_back", f.rolled_back},
          {"overrides",
           f.overrides ? nlohmann::json::parse(to_json(*f.overrides)) : nlohmann::json::object()},
          {"versions", versions},
          {"events", nlohmann::json(events.events())}};
}

void StateWriter::mark_template_pending(std::uint64_t version) noexcept {
  try {
    store_.mark_template_pending(version);
  } catch (const std::exception& e) {
    spdlog::error("state directory {}: {}", store_.dir(), e.what());
  }
}

void StateWriter::check_adopted(std::vector<RetainedVersion>& versions) const {
  for (RetainedVersion& r : versions) {
    if (r.persisted || !store_.enabled()) continue;
    if (store_.has_segment(r.version)) {
      r.persisted = true;
    } else if (store_.template_pending(r.version) || !r.substituted.empty()) {
      spdlog::warn(
          "state directory {}: version {} holds substituted strings and its template was not "
          "saved before the daemon stopped; it is served but not persisted (after a reboot an "
          "earlier version is restored)",
          store_.dir(), r.version);
      r.persisted = true;  // nothing that may be written
    }
  }
}

std::optional<double> StateWriter::flush(std::vector<RetainedVersion>& versions,
                                         const std::function<nlohmann::json()>& document) noexcept {
  if (!pending()) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  if (failures_ > 0 && t0 < retry_at_) return std::nullopt;
  // Whatever fails stays pending and is tried again at the next flush (the
  // loop calls it after every event and at least every poll interval), so a
  // full or read-only state directory catches up once it is writable again.
  std::string error;
  try {
    if (store_.enabled()) {
      std::vector<std::uint64_t> still_dropped;
      for (std::uint64_t v : dropped_) {
        try {
          store_.remove_segment(v);
        } catch (const std::exception& e) {
          still_dropped.push_back(v);
          if (error.empty()) error = e.what();
        }
      }
      dropped_ = std::move(still_dropped);
      for (RetainedVersion& r : versions) {
        if (r.persisted) continue;
        try {
          save(r);
        } catch (const std::exception& e) {
          if (error.empty())
            error = "cannot save version " + std::to_string(r.version) + ": " + e.what();
        }
      }
      try {
        store_.save(document());
      } catch (const std::exception& e) {
        // The publish already happened; losing state.json loses history, not
        // the live config.
        if (error.empty()) error = std::string("cannot save state: ") + e.what();
      }
    } else {
      for (RetainedVersion& r : versions) r.persisted = true;
      dropped_.clear();
    }
  } catch (const std::exception& e) {
    if (error.empty()) error = e.what();
  } catch (...) {
    if (error.empty()) error = "unknown error";
  }
  dirty_ = !error.empty();
  if (!error.empty()) {
    // Once per outage, not once per retry.
    const auto backoff = kFirstRetry * (1u << std::min<std::uint64_t>(failures_, 5));
    retry_at_ = std::chrono::steady_clock::now() + std::min(backoff, kLastRetry);
    if (failures_++ == 0) {
      spdlog::error(
          "state directory {}: {}; the live version is unaffected, the state is written again "
          "when the directory is writable",
          store_.dir(), error);
    }
  } else if (failures_ > 0) {
    spdlog::info("state directory {}: state written again after {} failed attempt(s)", store_.dir(),
                 failures_);
    failures_ = 0;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Throws when a file cannot be written; r stays unpersisted for a retry.
void StateWriter::save(RetainedVersion& r) const {
  if (r.pending_template) {
    // The snapshot as written (references unresolved), never these bytes.
    const RetainedVersion::PendingTemplate& t = *r.pending_template;
    BuildInput in;
    in.root = &t.tree;
    in.sources = &t.names;
    in.version = r.version;
    in.publish_time_ns = r.time_ns;
    in.content_hash = r.content_hash;
    in.trigger = r.trigger;
    in.previous = t.previous ? &t.previous->view : nullptr;
    in.sensitive = &t.sensitive;
    store_.save_template_segment(r.version, build_segment(in));
  } else if (r.substituted.empty()) {
    store_.save_segment(r.version, std::span(static_cast<const std::byte*>(r.segment->map.data()),
                                             r.segment->size()));
  }
  r.pending_template.reset();
  r.persisted = true;
}

}  // namespace shmconf::daemon
