// The orchestrator: start-up (adopt, restore), reload and its publish,
// rollback, overrides and the state flush, each calling the stages in
// pipeline order. Loading and checking the sources is in core/load.cpp.
#include "core/namespace_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "core/overrides.hpp"
#include "log/log.hpp"
#include "publish/render.hpp"
#include "sources/substitute.hpp"

namespace shmconf::daemon {
namespace {

std::size_t removed_keys(const std::vector<KeyChange>& changes) {
  return static_cast<std::size_t>(
      std::count_if(changes.begin(), changes.end(),
                    [](const KeyChange& k) { return k.kind == format::Change::kRemoved; }));
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The builder's marks for a template segment: the rule's keys and the
// sealed values.
std::set<std::string> sensitive_keys_of(const Value& root, const SensitiveKeys& keys,
                                        const std::set<std::string>& sealed) {
  std::set<std::string> out = keys.collect(root);
  out.insert(sealed.begin(), sealed.end());
  return out;
}

}  // namespace

std::uint64_t wall_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

NamespaceService::NamespaceService(ServiceOptions options)
    : opts_(std::move(options)), state_(opts_.state_dir, opts_.name), retained_(opts_.keep) {}

NamespaceService::~NamespaceService() { (void)write_state(); }

double NamespaceService::uptime_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

// ---- start ---------------------------------------------------------------

void NamespaceService::start() {
  publisher_ = std::make_unique<Publisher>(opts_.prefix, opts_.name, opts_.access);
  open_registry();
  const SavedState saved = read_state(state_.store(), opts_.limits);
  if (saved.overrides) overrides_ = *saved.overrides;
  next_version_ = saved.next_version;
  last_source_hash_ = saved.last_source_hash;
  rolled_back_ = saved.rolled_back;
  restore_events(saved, events_);

  adopt(saved);
  restore(saved);
  // A daemon killed between a flip and its state write left a version in
  // shared memory that the state directory lacks: the flush below saves it,
  // or after a reboot an older version would be restored as the last good
  // one. Never its resolved bytes when its strings were substituted.
  state_.check_adopted(retained_.all());
  for (const RetainedVersion& r : retained_.all()) {
    next_version_ = std::max(next_version_, r.version + 1);
  }
  next_version_ = std::max(next_version_, publisher_->max_version() + 1);
  remove_orphans(*publisher_, retained_, opts_.name);
  state_.mark_dirty();
  (void)flush_state();
}

void NamespaceService::adopt(const SavedState& saved) {
  AdoptedSegments found = adopt_segments(*publisher_, opts_.name);
  for (RetainedVersion& r : found.versions) {
    if (retained_.find(r.version) != nullptr) continue;
    if (r.segment == found.live) live_ = r.segment;
    retain(std::move(r));
  }
  if (!live_) return;
  ops::log_info("adopted", {{"namespace", opts_.name},
                            {"version", live_->version()},
                            {"content_hash", hex64(live_->view.header().content_hash)},
                            {"generation", publisher_->generation()},
                            {"retained", retained_.size()},
                            {"trigger", "startup"}});
  if (!publisher_->adopted()) return;
  // The control block is newer than a state.json that a daemon killed
  // between a flip and its state write left behind. Every publish takes a
  // number above max_version, so a live version below it was made live by
  // a rollback; a live version the state did not know was published.
  if (live_->version() < publisher_->max_version()) {
    rolled_back_ = true;
  } else if (live_->version() != saved.live_version) {
    rolled_back_ = false;
  }
}

void NamespaceService::restore(const SavedState& saved) {
  restore_versions(saved, state_.store(), *publisher_, retained_, substitution_context(),
                   [this](RetainedVersion r) { retain(std::move(r)); });
  if (live_ || retained_.empty()) return;
  // After a reboot (empty /dev/shm) or with a control block whose record
  // is gone: serve the last good version before reading any source.
  const RetainedVersion* r = retained_.find(saved.live_version);
  if (r == nullptr) r = &retained_.newest();
  const auto t0 = std::chrono::steady_clock::now();
  publisher_->flip(*r->segment);
  live_ = r->segment;
  ops::log_info("restored", {{"namespace", opts_.name},
                             {"version", r->version},
                             {"content_hash", hex64(r->content_hash)},
                             {"trigger", "startup"},
                             {"state_dir", state_dir()},
                             {"duration_ms", ms_since(t0)}});
  events_.record({{"event", "restore"}, {"version", r->version}, {"time_ns", wall_clock_ns()}});
}

void NamespaceService::retain(RetainedVersion r) {
  for (RetainedVersion& gone : retained_.add(std::move(r), live_)) {
    publisher_->unlink(gone.segment->id);
    state_.drop(gone.version);  // its files go at the next flush_state()
  }
}

std::optional<double> NamespaceService::flush_state() noexcept {
  const std::optional<double> seconds = write_state();
  retired_.clear();
  if (publisher_ && live_) publisher_->prepare_spare(live_->size());
  sweep_readers(/*every_second=*/true);
  return seconds;
}

std::optional<double> NamespaceService::write_state() noexcept {
  return state_.flush(retained_.all(), [this] {
    StateFields f;
    f.ns = opts_.name;
    f.next_version = next_version_;
    f.live_version = live_version();
    f.last_source_hash = last_source_hash_;
    f.rolled_back = rolled_back_;
    f.overrides = &overrides_;
    return state_document(f, retained_, events_);
  });
}

// ---- reload --------------------------------------------------------------

ReloadOutcome NamespaceService::reload(const std::string& trigger, bool force) {
  const auto t0 = std::chrono::steady_clock::now();
  force_ = force;
  ReloadOutcome out = load_and_publish(trigger, force, t0);
  force_ = false;
  if (templates_) retired_.push_back(std::move(*templates_));
  templates_.reset();
  out.version = live_version();
  out.duration_ms = ms_since(t0);
  out.stages.emplace_back("total", out.duration_ms / 1000.0);
  finish_reload(out, trigger);
  return out;
}

ReloadOutcome NamespaceService::load_and_publish(const std::string& trigger, bool force,
                                                 std::chrono::steady_clock::time_point t0) {
  ReloadOutcome out;
  out.from_version = live_version();
  std::vector<std::string> warnings;
  // Load and validate; publish_tree adds its own stages.
  std::vector<std::pair<std::string, double>> stages;
  std::uint64_t attempted_hash = 0;
  try {
    Candidate cand = load_checked(force, /*secrets_in_build=*/true, /*hash=*/false);
    stages = {{"load", cand.load_seconds}, {"validate", ms_since(t0) / 1000.0 - cand.load_seconds}};
    sensitive_ = SensitiveKeys(cand.schema);
    const auto warn = [&](const std::vector<ValidationIssue>& issues) {
      for (const ValidationIssue& w : issues) {
        warnings.push_back(w.text());
        ops::log_warn("reload warning",
                      {{"namespace", opts_.name}, {"kind", w.kind}, {"warning", w.text()}});
      }
    };
    warn(cand.warnings);
    templates_ = std::move(cand.templates);
    // Joined before `cand` goes: it reads cand.merged.
    AsyncContentHash hash(cand.merged);
    std::vector<ValidationIssue> accepted;
    out = publish_tree(cand, hash, &attempted_hash, trigger, &accepted);
    warn(accepted);
    // Clients may be reading the new version already; the tree is freed
    // after the reply (flush_state()).
    retired_.push_back(std::move(cand.merged));
  } catch (const ValidationFailure& e) {
    out.ok = false;
    out.error = e.what();
    out.error_kind = e.kind();
  } catch (const SourceError& e) {
    out.ok = false;
    out.error = e.what();
    out.error_kind = e.kind();
  } catch (const std::exception& e) {  // ConfigError and the rest
    out.ok = false;
    out.error = e.what();
  }
  out.warnings = std::move(warnings);
  out.source_hash = attempted_hash;
  stages.insert(stages.end(), out.stages.begin(), out.stages.end());
  out.stages = std::move(stages);
  return out;
}

void NamespaceService::finish_reload(ReloadOutcome& out, const std::string& trigger) {
  const std::string live_hash = live_ ? hex64(live_->view.header().content_hash) : "";
  if (!out.ok) {
    ++counters_.reloads_failed;
    ++counters_.rejections_by_kind[out.error_kind.empty() ? "other" : out.error_kind];
    out.message = "rejected; live version " + std::to_string(live_version()) + " unchanged";
    ops::log_error("reload rejected",
                   {{"namespace", opts_.name},
                    {"trigger", trigger},
                    {"version", live_version()},
                    {"content_hash", live_hash},
                    {"source_hash", out.source_hash != 0 ? hex64(out.source_hash) : ""},
                    {"kind", out.error_kind.empty() ? "other" : out.error_kind},
                    {"error", out.error},
                    {"duration_ms", out.duration_ms}});
    events_.record({{"event", "rejected"},
                    {"trigger", trigger},
                    {"version", live_version()},
                    {"error", out.error},
                    {"time_ns", wall_clock_ns()}});
    state_.mark_dirty();
  } else {
    ++counters_.reloads_ok;
    ops::log_info(out.published ? "reload published" : "reload unchanged",
                  {{"namespace", opts_.name},
                   {"trigger", trigger},
                   {"version", live_version()},
                   {"from_version", out.from_version},
                   {"content_hash", live_hash},
                   {"changed_keys", out.changes.size()},
                   {"duration_ms", out.duration_ms}});
  }
  last_reload_ = LastReload{out.ok,
                            out.published,
                            trigger,
                            wall_clock_ns(),
                            out.version,
                            out.message,
                            out.ok ? "" : out.error,
                            out.ok ? "" : out.error_kind,
                            out.warnings,
                            out.duration_ms};
}

// build -> publish (steps 1-6) -> retain; the state stage follows the reply.
std::optional<ReloadOutcome> NamespaceService::unchanged_outcome(std::uint64_t hash) {
  if (!live_) return std::nullopt;
  ReloadOutcome out;
  out.from_version = out.version = live_version();
  out.ok = true;
  if (hash == live_->view.header().content_hash) {
    out.message = "unchanged: content identical to live version " + std::to_string(live_version());
    last_source_hash_ = hash;
    return out;
  }
  if (rolled_back_ && hash == last_source_hash_) {
    out.message = "sources unchanged since the rollback to version " +
                  std::to_string(live_version()) + "; the rollback stays";
    return out;
  }
  return std::nullopt;
}

ReloadOutcome NamespaceService::publish_tree(const Candidate& cand, AsyncContentHash& async_hash,
                                             std::uint64_t* attempted, const std::string& trigger,
                                             std::vector<ValidationIssue>* warnings) {
  const Value& root = cand.merged;
  const SourceList& names = cand.names;
  const auto t_build = std::chrono::steady_clock::now();
  ReloadOutcome out;
  out.from_version = live_version();
  BuildInput in;
  in.root = &root;
  in.sources = &names;
  in.version = next_version_;
  in.publish_time_ns = wall_clock_ns();
  in.trigger = trigger;
  in.previous = live_ ? &live_->view : nullptr;
  in.keys = &sensitive_;  // the builder marks sensitive nodes as it lays them out
  // A value that came from ${sealed:...} is a secret whatever its name.
  const std::set<std::string> sealed =
      templates_ ? sealed_paths(*templates_) : std::set<std::string>();
  in.sensitive = &sealed;
  std::vector<SensitiveString> sensitive_strings;
  if (cand.secrets_in_build) in.sensitive_strings = &sensitive_strings;
  SnapshotBuilder builder(in);  // the layout, while `async_hash` runs
  const std::uint64_t hash = async_hash.get();
  *attempted = hash;
  if (auto unchanged = unchanged_outcome(hash)) return *unchanged;
  // A candidate identical to the live version publishes nothing, so the
  // guards have nothing to refuse (a version once forced stays quietly live).
  if (!force_ && !cand.guards_checked) throw_if_errors(check_size_guards(root, opts_.guards));
  builder.set_content_hash(hash);
  if (cand.secrets_in_build) {
    std::vector<ValidationIssue> secrets =
        check_plaintext_secrets(sensitive_strings, names, opts_.plaintext_secrets);
    throw_if_errors(secrets);
    for (ValidationIssue& w : secrets) warnings->push_back(std::move(w));
  }
  if (!force_ && live_) {
    throw_if_errors(check_change_guard(builder.changes().size(), removed_keys(builder.changes()),
                                       count_leaves(live_->view), opts_.guards));
  }
  RetainedVersion r;
  r.segment = publisher_->create(builder);  // step 1, with the self-check
  r.version = in.version;
  r.time_ns = in.publish_time_ns;
  r.trigger = trigger;
  r.content_hash = hash;
  // The version number is spent before the flip: flip() raises the control
  // block's max_version before it touches the record, and start() numbers
  // above max_version, so a restarted daemon never reuses it.
  ++next_version_;
  // A version holding substituted strings may reach the disk only as its
  // template, which the state stage builds after the reply. An empty marker
  // (no fsync) tells start() not to save the resolved bytes of a version a
  // killed daemon left in shared memory unsaved.
  if (templates_ && state_.enabled()) state_.mark_template_pending(r.version);
  const std::shared_ptr<Segment> was = live_;
  const auto t_flip = std::chrono::steady_clock::now();
  out.stages.emplace_back("build", std::chrono::duration<double>(t_flip - t_build).count());
  publisher_->flip(*r.segment);  // steps 2-6
  out.stages.emplace_back("publish", ms_since(t_flip) / 1000.0);
  // Clients see the new version from here on; what follows is bookkeeping
  // for the reply and the history.
  live_ = r.segment;
  last_source_hash_ = hash;
  rolled_back_ = false;
  r.summary = summarize(builder.changes());
  if (templates_) {
    r.substituted = substituted_paths(root, *templates_);
    if (!r.substituted.empty() && state_.enabled()) {
      r.pending_template =
          std::make_shared<RetainedVersion::PendingTemplate>(RetainedVersion::PendingTemplate{
              std::move(*templates_), names, sensitive_keys_of(root, sensitive_, sealed), was});
    }
  }
  events_.record({{"event", "publish"},
                  {"trigger", trigger},
                  {"version", r.version},
                  {"from", out.from_version},
                  {"time_ns", r.time_ns},
                  {"summary", r.summary}});
  retain(std::move(r));
  state_.mark_dirty();
  out.ok = true;
  out.published = true;
  out.version = live_version();
  out.changes = builder.changes();
  out.message = "published version " + std::to_string(out.version);
  return out;
}

// ---- rollback ------------------------------------------------------------

ReloadOutcome NamespaceService::rollback(std::optional<unsigned> steps,
                                         std::optional<std::uint64_t> to_version,
                                         const std::string& who) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string error;
  const RetainedVersion* target = retained_.rollback_target(steps, to_version, live_, &error);
  if (target == nullptr) {
    ReloadOutcome out;
    out.from_version = out.version = live_version();
    out.error = error;
    out.message = "rollback refused";
    out.duration_ms = ms_since(t0);
    ops::log_warn("rollback refused", {{"namespace", opts_.name},
                                       {"trigger", "rollback"},
                                       {"by", who},
                                       {"version", live_version()},
                                       {"error", out.error},
                                       {"duration_ms", out.duration_ms}});
    return out;
  }
  ReloadOutcome out = make_live(*target, "rollback", who, true, t0);
  ++counters_.rollbacks;
  ops::log_info("rollback", {{"namespace", opts_.name},
                             {"trigger", "rollback"},
                             {"by", who},
                             {"from_version", out.from_version},
                             {"version", out.version},
                             {"content_hash", hex64(target->content_hash)},
                             {"duration_ms", out.duration_ms}});
  return out;
}

ReloadOutcome NamespaceService::make_live(const RetainedVersion& r, const std::string& trigger,
                                          const std::string& who, bool rollback,
                                          std::chrono::steady_clock::time_point t0) {
  ReloadOutcome out;
  out.from_version = live_version();
  // No parse, no copy: the retained segment is already checked and mapped.
  // Flip first: the diff is O(keys) (80 ms for 350k keys in bench/) and only
  // feeds the reply and the audit log, so clients do not wait for it.
  const std::shared_ptr<Segment> was = live_;
  publisher_->flip(*r.segment);
  // What clients wait for ends here; the diff below is for the reply, and
  // the state directory follows the reply (flush_state()).
  out.duration_ms = ms_since(t0);
  live_ = r.segment;
  if (was && was != r.segment) {
    for (const SegmentChange& c : diff_segments(was->view, r.segment->view)) {
      out.changes.push_back({std::string(c.key), c.kind});
    }
  }
  rolled_back_ = rollback;
  events_.record({{"event", trigger},
                  {"by", who},
                  {"from", out.from_version},
                  {"version", r.version},
                  {"time_ns", wall_clock_ns()}});
  state_.mark_dirty();
  out.ok = true;
  out.published = true;
  out.version = r.version;
  out.message = "version " + std::to_string(r.version) + " is live";
  return out;
}

// ---- overrides -----------------------------------------------------------

ReloadOutcome NamespaceService::set_override(const std::string& key, const Value& value,
                                             const std::string& who) {
  Value saved = overrides_;
  try {
    set_path(overrides_, key, value);
  } catch (const std::exception& e) {
    ReloadOutcome out;
    out.error = e.what();
    out.from_version = out.version = live_version();  // unchanged: audited as such
    return out;
  }
  ReloadOutcome out = reload("override set " + key + " by " + who);
  if (!out.ok) overrides_ = std::move(saved);  // a rejected override is not kept
  state_.mark_dirty();
  return out;
}

ReloadOutcome NamespaceService::unset_override(const std::string& key, const std::string& who) {
  Value saved = overrides_;
  if (!erase_path(overrides_, key)) {
    ReloadOutcome out;
    out.error = "no override for " + key;
    out.from_version = out.version = live_version();  // unchanged: audited as such
    return out;
  }
  ReloadOutcome out = reload("override unset " + key + " by " + who);
  if (!out.ok) overrides_ = std::move(saved);
  state_.mark_dirty();
  return out;
}

}  // namespace shmconf::daemon
