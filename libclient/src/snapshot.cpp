// libclient/src/snapshot.cpp: Value and Snapshot, the reads from one pinned
// segment (the Client's attach, fast path and slow paths are in client.cpp).
#include <bit>
#include <string_view>
#include <vector>

#include "client_impl.hpp"
#include "node_read.hpp"

namespace shmconf {

using detail::node_bool;
using detail::node_double;
using detail::node_int;

// --- Value ---------------------------------------------------------------------

Result<bool> Value::as_bool() const noexcept {
  if (type() != Type::kBool) return Errc::kWrongType;
  return node_->payload != 0;
}
Result<std::int64_t> Value::as_int() const noexcept {
  if (type() != Type::kInt) return Errc::kWrongType;
  return static_cast<std::int64_t>(node_->payload);
}
Result<double> Value::as_double() const noexcept {
  if (type() == Type::kInt) return static_cast<double>(static_cast<std::int64_t>(node_->payload));
  if (type() != Type::kDouble) return Errc::kWrongType;
  return std::bit_cast<double>(node_->payload);
}
Result<std::string_view> Value::as_string() const noexcept {
  if (type() != Type::kString) return Errc::kWrongType;
  return view_->string_value(node_->payload);
}
Value::Children Value::children() const noexcept { return {view_, view_->children(*node_)}; }
std::size_t Value::size() const noexcept { return view_->children(*node_).size(); }
Origin Value::origin() const noexcept {
  const format::Origin& o = view_->origin(*node_);
  return Origin{view_->source_name(o.source), o.line, o.column};
}

// --- Snapshot ------------------------------------------------------------------

Snapshot::Snapshot(std::shared_ptr<const detail::Mapping> pin) noexcept
    : pin_(std::move(pin)), view_(pin_ ? &pin_->view : nullptr) {}

std::uint64_t Snapshot::version() const noexcept { return view_ ? view_->version() : 0; }
std::uint64_t Snapshot::publish_time_ns() const noexcept {
  return view_ ? view_->header().publish_time_ns : 0;
}
std::uint64_t Snapshot::content_hash() const noexcept {
  return view_ ? view_->header().content_hash : 0;
}
std::uint64_t Snapshot::prev_version() const noexcept {
  return view_ ? view_->header().prev_version : 0;
}
std::size_t Snapshot::key_count() const noexcept { return view_ ? view_->node_count() - 1u : 0; }

Result<Value> Snapshot::get(std::string_view key) const noexcept {
  if (view_ == nullptr) return Errc::kNoSnapshot;
  if (key.empty()) return Value(view_, &view_->root());
  const format::Node* n = view_->find(key);
  if (n == nullptr) return Errc::kNotFound;
  return Value(view_, n);
}
Result<Value> Snapshot::root() const noexcept { return get({}); }
Result<bool> Snapshot::get_bool(std::string_view key) const noexcept {
  if (view_ == nullptr) return Errc::kNoSnapshot;
  return node_bool(view_->find(key));
}
Result<std::int64_t> Snapshot::get_int(std::string_view key) const noexcept {
  if (view_ == nullptr) return Errc::kNoSnapshot;
  return node_int(view_->find(key));
}
Result<double> Snapshot::get_double(std::string_view key) const noexcept {
  if (view_ == nullptr) return Errc::kNoSnapshot;
  return node_double(view_->find(key));
}
Result<std::string_view> Snapshot::get_string(std::string_view key) const noexcept {
  if (view_ == nullptr) return Errc::kNoSnapshot;
  const format::Node* n = view_->find(key);
  if (n == nullptr) return Errc::kNotFound;
  if (format::node_type(*n) != Type::kString) return Errc::kWrongType;
  return view_->string_value(n->payload);
}

Result<FlagDecision> Snapshot::flag_decision(std::string_view name,
                                             std::string_view subject) const noexcept {
  if (view_ == nullptr) return Errc::kNoSnapshot;
  return evaluate_flag(*view_, name, subject);
}

Result<bool> Snapshot::flag(std::string_view name, std::string_view subject) const noexcept {
  auto d = flag_decision(name, subject);
  if (!d) return d.error();
  return d->on;
}

std::vector<std::string_view> Snapshot::sources() const {
  std::vector<std::string_view> out;
  if (view_ == nullptr) return out;
  for (const auto& s : view_->sources()) out.push_back(view_->str(s.off, s.len));
  return out;
}
std::vector<ChangedKey> Snapshot::changed_keys() const {
  std::vector<ChangedKey> out;
  if (view_ == nullptr) return out;
  for (const auto& c : view_->changed()) {
    out.push_back({view_->str(c.key_off, c.key_len), static_cast<format::Change>(c.kind)});
  }
  return out;
}
std::string_view Snapshot::trigger() const noexcept { return view_ ? view_->trigger() : ""; }

}  // namespace shmconf
