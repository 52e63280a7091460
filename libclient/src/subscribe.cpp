// Client::subscribe: a library-owned thread asleep on the control block's
// futex word (and a private stop word), which diffs each new snapshot
// against the last one it saw and calls back with the keys under a prefix.
#include <atomic>
#include <thread>

#include "client_impl.hpp"

namespace shmconf {

struct Client::Subscription::State {
  std::uint32_t stop_word = 0;  // private futex: 1 = stop
  std::thread thread;
};

Client::Subscription::Subscription(Subscription&&) noexcept = default;
Client::Subscription& Client::Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    stop();
    state_ = std::move(o.state_);
  }
  return *this;
}
Client::Subscription::~Subscription() { stop(); }

void Client::Subscription::stop() {
  if (!state_) return;
  __atomic_store_n(&state_->stop_word, 1u, __ATOMIC_RELEASE);
  detail::futex_wake_private(&state_->stop_word);
  if (state_->thread.joinable()) state_->thread.join();
  state_.reset();
}

namespace {

// `keys` owns the strings the returned changes' keys point into.
std::vector<Client::Change> changes_between(const Snapshot& from, const Snapshot& to,
                                            std::string_view prefix,
                                            std::vector<SegmentChange>* keys) {
  static const SegmentView kEmpty;
  const SegmentView& a = from.empty() ? kEmpty : *from.view();
  std::vector<Client::Change> out;
  *keys = diff_segments(a, *to.view(), prefix);
  for (const SegmentChange& c : *keys) {
    Client::Change ch{c.key, c.kind, std::nullopt, std::nullopt};
    if (c.from_node != nullptr) ch.old_value = *from.get(c.key);
    if (c.to_node != nullptr) ch.new_value = *to.get(c.key);
    out.push_back(std::move(ch));
  }
  return out;
}

}  // namespace

Client::Subscription Client::subscribe(std::string prefix, Callback callback) const {
  Subscription sub;
  sub.state_ = std::make_unique<Subscription::State>();
  Subscription::State* st = sub.state_.get();
  const detail::ClientImpl* impl = impl_.get();
  // The first snapshot is taken here, so every version published after
  // subscribe() returns is reported.
  Snapshot first = snapshot();
  st->thread = std::thread([st, impl, prefix = std::move(prefix), cb = std::move(callback),
                            prev = std::move(first)]() mutable {
    const auto* ctl = impl->control();
    while (__atomic_load_n(&st->stop_word, __ATOMIC_ACQUIRE) == 0) {
      // The word is read before the snapshot, so a publish in between makes
      // the wait below return at once (pairs with publish step 6).
      const std::uint32_t word = format::load_acquire(&ctl->futex_word);
      Snapshot cur(impl->current_pinned());
      if (!cur.empty() && (prev.empty() || cur.version() != prev.version() ||
                           cur.content_hash() != prev.content_hash())) {
        std::vector<SegmentChange> keys;
        auto changes = changes_between(prev, cur, prefix, &keys);
        if (!changes.empty()) cb(prev, cur, changes);
        prev = std::move(cur);
      }
      detail::futex_wait(&ctl->futex_word, word, &st->stop_word, -1);
    }
  });
  return sub;
}

}  // namespace shmconf
