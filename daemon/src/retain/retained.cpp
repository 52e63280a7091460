#include "retain/retained.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "publish/render.hpp"

namespace shmconf::daemon {
namespace {

constexpr std::size_t kSummaryKeys = 10;

}  // namespace

std::vector<RetainedVersion> RetainedVersions::add(RetainedVersion v,
                                                   const std::shared_ptr<Segment>& live) {
  versions_.push_back(std::move(v));
  std::sort(
      versions_.begin(), versions_.end(),
      [](const RetainedVersion& a, const RetainedVersion& b) { return a.version < b.version; });
  // Keep the live one plus `keep` others, dropping the oldest first.
  std::vector<RetainedVersion> dropped;
  while (versions_.size() > keep_ + 1u) {
    auto victim = versions_.begin();
    if (live && victim->segment == live) ++victim;
    dropped.push_back(std::move(*victim));
    versions_.erase(victim);
  }
  return dropped;
}

const RetainedVersion* RetainedVersions::find(std::uint64_t version) const {
  for (const RetainedVersion& r : versions_) {
    if (r.version == version) return &r;
  }
  return nullptr;
}

RetainedVersion* RetainedVersions::find(std::uint64_t version) {
  return const_cast<RetainedVersion*>(std::as_const(*this).find(version));
}

bool RetainedVersions::holds_segment(std::uint64_t segment_id) const {
  return std::any_of(versions_.begin(), versions_.end(),
                     [&](const RetainedVersion& r) { return r.segment->id == segment_id; });
}

const RetainedVersion* RetainedVersions::rollback_target(std::optional<unsigned> steps,
                                                         std::optional<std::uint64_t> to,
                                                         const std::shared_ptr<Segment>& live,
                                                         std::string* error) const {
  if (to) {
    const RetainedVersion* target = find(*to);
    if (target == nullptr) *error = "version " + std::to_string(*to) + " is not retained";
    return target;
  }
  const unsigned n = steps.value_or(1);
  auto it = std::find_if(versions_.begin(), versions_.end(),
                         [&](const RetainedVersion& r) { return r.segment == live; });
  const auto pos = static_cast<std::size_t>(it - versions_.begin());
  if (it == versions_.end() || n == 0 || pos < n) {
    *error = "cannot roll back " + std::to_string(n) +
             " step(s): " + std::to_string(it == versions_.end() ? 0 : pos) +
             " earlier version(s) retained";
    return nullptr;
  }
  return &versions_[pos - n];
}

void EventLog::record(nlohmann::json event) {
  events_.push_back(std::move(event));
  while (events_.size() > kMaxEvents) events_.pop_front();
}

nlohmann::json summarize(const std::vector<KeyChange>& changes) {
  nlohmann::json s = {{"added", 0}, {"removed", 0}, {"changed", 0}};
  auto keys = nlohmann::json::array();
  for (const KeyChange& c : changes) {
    s[change_name(c.kind)] = s[change_name(c.kind)].get<int>() + 1;
    if (keys.size() < kSummaryKeys) keys.push_back(c.key);
  }
  s["keys"] = keys;
  return s;
}

nlohmann::json summarize(const SegmentView& view) {
  std::vector<KeyChange> changes;
  for (const auto& c : view.changed()) {
    changes.push_back(
        {std::string(view.str(c.key_off, c.key_len)), static_cast<format::Change>(c.kind)});
  }
  return summarize(changes);
}

AdoptedSegments adopt_segments(Publisher& publisher, const std::string& ns) {
  AdoptedSegments out;
  const detail::Record rec = publisher.live();
  for (std::uint64_t id : publisher.list_segments()) {
    std::string why;
    auto seg = publisher.adopt(id, &why);
    if (!seg) {
      spdlog::warn("segment {} of namespace {} is unusable ({}); removing it", id, ns, why);
      publisher.unlink(id);
      continue;
    }
    // A segment newer than every version ever made live was never flipped
    // to: an orphan. (After a rollback the newer retained ones stay.) With
    // no record (nothing published yet, or torn by a daemon that died
    // mid-flip) max_version still bounds what readers can have seen; only a
    // block written before that field existed, with a torn record, gives no
    // bound, and then everything is kept.
    const std::uint64_t newest = std::max(rec.version, publisher.max_version());
    const bool bounded = newest != 0 || publisher.generation() == 0;
    if (bounded && seg->version() > newest && id != rec.segment_id) continue;
    RetainedVersion r;
    r.version = seg->version();
    r.time_ns = seg->view.header().publish_time_ns;
    r.trigger = std::string(seg->view.trigger());
    r.content_hash = seg->view.header().content_hash;
    r.summary = summarize(seg->view);
    r.segment = seg;
    if (id == rec.segment_id) out.live = seg;
    out.versions.push_back(std::move(r));
  }
  return out;
}

void remove_orphans(Publisher& publisher, const RetainedVersions& retained, const std::string& ns) {
  for (std::uint64_t id : publisher.list_segments()) {
    if (!retained.holds_segment(id)) {
      spdlog::info("removing orphan segment {} of namespace {}", id, ns);
      publisher.unlink(id);
    }
  }
}

}  // namespace shmconf::daemon
