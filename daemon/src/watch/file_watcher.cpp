// daemon/src/watch/file_watcher.cpp — see file_watcher.hpp for the contract.
#include "watch/file_watcher.hpp"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <filesystem>
#include <system_error>
#include <utility>

#include "log/log.hpp"

namespace shmconf::daemon {
namespace {

// Directory events that can change what a watched name refers to. IN_ATTRIB catches a
// chmod that makes a source readable (or not) and a `touch`; IN_MODIFY without a later
// IN_CLOSE_WRITE is a writer still at work, whose close the burst waits for.
// IN_ONLYDIR: a directory replaced by a file between scan and add must not be watched.
constexpr std::uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR;

// Same bound as the kernel's ELOOP, so a symlink loop ends the walk instead of the daemon.
constexpr int kMaxSymlinkHops = 40;

// A directory may vanish between the scan and inotify_add_watch (the Kubernetes swap
// deletes the old generation right after the rename); a fresh scan then sees the new
// layout. Bounded because a directory that keeps flapping is the poll fallback's job.
constexpr int kMaxWatchAttempts = 3;

// After IN_MODIFY the writer is done with the name when it closes it, or when the name
// stops referring to the inode it writes (replaced, renamed away, deleted).
constexpr std::uint32_t kWriterDone =
    IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;

std::int64_t to_ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

std::string parent_of(const std::string& dir) {
  const auto slash = dir.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return dir.substr(0, slash);
}

std::deque<std::string> split(std::string_view path) {
  std::deque<std::string> parts;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto part = path.substr(0, slash);
    if (!part.empty()) parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

std::optional<std::string> read_link(const std::string& path) {
  std::array<char, PATH_MAX + 1> buf;
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0 || static_cast<std::size_t>(n) >= buf.size()) return std::nullopt;
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

std::int64_t to_ns(const timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One (directory, name) whose change changes what a source path refers to: every symlink
// on the way (with its text), the final name, or the first missing component.
struct Hop {
  std::string dir;  // canonical: no symlinks, exists at the time of the walk
  std::string name;
  std::optional<std::string> link;
};
struct Chain {
  std::vector<Hop> hops;
  std::optional<std::string> target;  // canonical path of what `path` names, if it exists
};

// realpath(3) done one component at a time, so that we learn every directory a rename or
// symlink swap could happen in (realpath only gives the answer, not the route). For the
// Kubernetes layout `dir/app.yaml -> ..data/app.yaml`, `dir/..data -> ..2024_…` the hops
// are (dir, app.yaml), (dir, ..data), (dir/..2024_…, app.yaml).
Chain resolve_chain(const std::string& path) {
  Chain chain;
  std::deque<std::string> todo = split(path);
  std::string cur = "/";
  int links = 0;
  while (!todo.empty()) {
    std::string comp = std::move(todo.front());
    todo.pop_front();
    if (comp == ".") continue;
    if (comp == "..") {
      cur = parent_of(cur);
      continue;
    }
    const std::string next = join(cur, comp);
    struct stat st {};
    if (::lstat(next.c_str(), &st) != 0) {
      // Missing: watching `cur` for this name is how its creation gets noticed.
      chain.hops.push_back({cur, std::move(comp), std::nullopt});
      return chain;
    }
    if (S_ISLNK(st.st_mode)) {
      auto text = read_link(next);
      chain.hops.push_back({cur, std::move(comp), text});
      if (!text || ++links > kMaxSymlinkHops) return chain;
      if (!text->empty() && text->front() == '/') cur = "/";
      auto parts = split(*text);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (todo.empty() || !S_ISDIR(st.st_mode)) {
      chain.hops.push_back({cur, std::move(comp), std::nullopt});
      if (todo.empty()) chain.target = next;
      return chain;
    }
    cur = next;
  }
  chain.target = cur;  // the path was "/" or ended in "." or ".."
  return chain;
}

}  // namespace

bool FileWatcher::is_config_name(std::string_view name) {
  for (std::string_view ext : {".yaml", ".yml", ".json", ".toml"}) {
    if (name.size() > ext.size() && name.ends_with(ext)) return true;
  }
  return false;
}

FileWatcher::FileWatcher(std::vector<std::string> paths, Options opts) : opts_(opts) {
  // Absolute now: the daemon may chdir later, and the chain walk starts at "/". Not
  // lexically normalised: "a/../b" means something else when `a` is a symlink.
  for (auto& p : paths) {
    if (p.empty()) continue;
    paths_.push_back(p.front() == '/' ? std::move(p) : std::filesystem::absolute(p).string());
  }
  opts_.debounce = std::max(opts_.debounce, std::chrono::milliseconds{0});
  opts_.poll_interval = std::max(opts_.poll_interval, std::chrono::milliseconds{0});
  opts_.write_wait = std::max(opts_.write_wait, std::chrono::milliseconds{0});
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  poll_base_ = rescan_and_watch();
  next_poll_ = Clock::now() + opts_.poll_interval;
}

FileWatcher::~FileWatcher() {
  if (fd_ >= 0) ::close(fd_);  // drops every watch with it
}

void FileWatcher::scan_path(const std::string& path, bool top_level, Scan& out) const {
  Chain chain = resolve_chain(path);
  if (!top_level) {
    // A directory entry counts only if it ends at a regular file; skipping the rest keeps
    // e.g. emacs' dangling `.#app.yaml` lock symlink out of the poll signature.
    struct stat st {};
    if (!chain.target || ::stat(chain.target->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return;
    }
  }
  for (auto& hop : chain.hops) {
    if (hop.link) {
      Signature sig;
      sig.path = join(hop.dir, hop.name);
      sig.link = *hop.link;
      out.signatures.push_back(std::move(sig));
    }
    out.dirs[hop.dir].names.insert(std::move(hop.name));
  }
  Signature sig;
  sig.path = path;
  struct stat st {};
  if (!chain.target || ::stat(chain.target->c_str(), &st) != 0) {
    sig.err = chain.target ? errno : ENOENT;
    out.signatures.push_back(std::move(sig));
    return;
  }
  sig.dev = st.st_dev;
  sig.ino = st.st_ino;
  if (!S_ISDIR(st.st_mode) || !top_level) {
    sig.size = st.st_size;
    sig.mtime_ns = to_ns(st.st_mtim);
    sig.ctime_ns = to_ns(st.st_ctim);
    out.signatures.push_back(std::move(sig));
    return;
  }
  // A directory source: its identity only (its mtime moves with every unrelated file),
  // then each config file in it, non-recursively and in name order so scans compare.
  out.signatures.push_back(std::move(sig));
  out.dirs[*chain.target].config_files = true;
  std::vector<std::string> names;
  if (DIR* d = ::opendir(chain.target->c_str())) {  // glibc opens it O_CLOEXEC
    while (const dirent* e = ::readdir(d)) {
      if (is_config_name(e->d_name)) names.emplace_back(e->d_name);
    }
    ::closedir(d);
  } else {
    Signature failed;
    failed.path = *chain.target;
    failed.err = errno;
    out.signatures.push_back(std::move(failed));
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) scan_path(join(*chain.target, name), false, out);
}

FileWatcher::Scan FileWatcher::scan() const {
  Scan s;
  for (const auto& p : paths_) scan_path(p, true, s);
  return s;
}

bool FileWatcher::apply_watches(const Scan& s) {
  std::map<std::string, int> dir_wd;
  std::unordered_map<int, Interest> wd_interest;
  bool vanished = false;
  std::string failed_dir;
  int failed_errno = 0;
  for (const auto& [dir, interest] : s.dirs) {
    // Re-adding an existing watch returns its descriptor; a directory replaced by a new
    // inode at the same path gets a new one, and the old one is dropped below.
    const int wd = ::inotify_add_watch(fd_, dir.c_str(), kMask);
    if (wd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        vanished = true;
      } else {
        ++stats_.watch_failures;  // ENOSPC (watch limit), EACCES: the poll scan covers it
        if (failed_dir.empty()) {
          failed_dir = dir;
          failed_errno = errno;
        }
      }
      continue;
    }
    dir_wd.emplace(dir, wd);
    Interest& merged = wd_interest[wd];  // two paths to one inode share a descriptor
    merged.names.insert(interest.names.begin(), interest.names.end());
    merged.config_files = merged.config_files || interest.config_files;
    if (merged.dir.empty()) merged.dir = dir;
  }
  for (const auto& entry : wd_interest_) {
    // EINVAL when the kernel already dropped it (IN_IGNORED); nothing to do then.
    if (!wd_interest.contains(entry.first)) ::inotify_rm_watch(fd_, entry.first);
  }
  dir_wd_ = std::move(dir_wd);
  wd_interest_ = std::move(wd_interest);
  // A writer in a directory no longer watched writes something no source leads to now.
  std::erase_if(writing_, [&](const auto& w) { return !wd_interest_.contains(w.first.first); });
  stats_.watches = dir_wd_.size();
  // Said once when watching starts to fail and once when it works again: the
  // stat() scan every poll_interval stands in meanwhile, and retries.
  if (!failed_dir.empty() && !watch_degraded_) {
    ops::log_warn(
        failed_errno == ENOSPC
            ? "cannot watch a source directory: inotify watch limit reached "
              "(fs.inotify.max_user_watches); changes are found by the stat() scan until a watch "
              "can be added"
            : "cannot watch a source directory; changes are found by the stat() scan until a "
              "watch can be added",
        {{"namespace", opts_.name},
         {"directory", failed_dir},
         {"error", std::strerror(failed_errno)},
         {"poll_ms",
          (opts_.poll_interval.count() > 0 ? opts_.poll_interval : kDegradedPoll).count()}});
  } else if (failed_dir.empty() && watch_degraded_) {
    ops::log_info("source directories watched again",
                  {{"namespace", opts_.name}, {"watches", stats_.watches}});
  }
  if (!failed_dir.empty() && !watch_degraded_ && opts_.poll_interval.count() == 0) {
    next_poll_ = Clock::now() + kDegradedPoll;  // the scan was off: start it now
  }
  watch_degraded_ = !failed_dir.empty();
  return !vanished;
}

std::vector<FileWatcher::Signature> FileWatcher::rescan_and_watch() {
  for (int attempt = 1;; ++attempt) {
    Scan s = scan();
    if (apply_watches(s) || attempt == kMaxWatchAttempts) return std::move(s.signatures);
  }
}

void FileWatcher::on_readable() {
  const auto now = Clock::now();
  bool relevant = false;
  bool rescan = false;
  alignas(inotify_event) std::array<char, 16 * 1024> buf;
  for (;;) {
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained (other errors cannot be acted on here either)
    const auto len = static_cast<std::size_t>(n);
    for (std::size_t off = 0; off + sizeof(inotify_event) <= len;) {
      inotify_event ev;
      std::memcpy(&ev, buf.data() + off, sizeof ev);
      const char* raw_name = buf.data() + off + sizeof ev;
      off += sizeof ev + ev.len;
      if (ev.mask & IN_Q_OVERFLOW) {
        ++stats_.overflows;  // events were lost: only a full rescan knows what changed
        rescan = true;
        continue;
      }
      const auto it = wd_interest_.find(ev.wd);
      if (it == wd_interest_.end()) continue;  // stragglers of a watch we removed
      if (ev.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
        rescan = true;  // a watched directory went away: its names now resolve elsewhere
        continue;
      }
      if (ev.len == 0) continue;  // about the directory itself, not a name in it
      const std::string_view name(raw_name, ::strnlen(raw_name, ev.len));
      const Interest& interest = it->second;
      if (interest.names.contains(name) || (interest.config_files && is_config_name(name))) {
        relevant = true;
        note_writer(ev.wd, name, ev.mask, now);
      }
    }
  }
  if (rescan) ++stats_.rescans;
  // Re-resolve after every relevant batch: after a symlink swap the next event of
  // interest happens in the new target's directory, which must be watched by then.
  if (relevant || rescan) begin_or_extend_burst(now, rescan_and_watch());
}

void FileWatcher::note_writer(int wd, std::string_view name, std::uint32_t mask,
                              Clock::time_point now) {
  if (opts_.write_wait.count() <= 0) return;
  std::pair<int, std::string> key{wd, std::string(name)};
  if (mask & kWriterDone) writing_.erase(key);
  if (mask & IN_MODIFY) writing_.try_emplace(std::move(key), now);  // keeps the first one
}

bool FileWatcher::held_by_writer(Clock::time_point now) {
  auto path_of = [this](const std::pair<int, std::string>& w) {
    const auto it = wd_interest_.find(w.first);
    return it == wd_interest_.end() ? w.second : join(it->second.dir, w.second);
  };
  for (auto it = writing_.begin(); it != writing_.end();) {
    if (now - it->second < opts_.write_wait) {
      ++it;
      continue;
    }
    ++stats_.write_wait_timeouts;
    ops::log_warn("source still open for writing; reloading it anyway",
                  {{"namespace", opts_.name},
                   {"path", path_of(it->first)},
                   {"waited_ms", to_ms(now - it->second)}});
    it = writing_.erase(it);
  }
  if (writing_.empty()) {
    held_ = false;
    return false;
  }
  // The burst starts again when the writer lets go, so its close gets a debounce and a
  // settle of its own instead of the long-expired cap of the first event.
  burst_start_ = now;
  settle_rounds_ = 0;
  if (held_ || now < last_event_ + opts_.debounce) return true;  // not due yet, or logged
  held_ = true;
  ++stats_.write_waits;
  const auto oldest =
      std::min_element(writing_.begin(), writing_.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
  ops::log_info("reload deferred: source open for writing",
                {{"namespace", opts_.name},
                 {"path", path_of(oldest->first)},
                 {"writers", writing_.size()},
                 {"write_wait_ms", to_ms(opts_.write_wait)}});
  return true;
}

void FileWatcher::begin_or_extend_burst(Clock::time_point now, std::vector<Signature> sigs) {
  if (!pending_) {
    pending_ = true;
    burst_start_ = now;
    settle_rounds_ = 0;
  }
  last_event_ = now;
  settle_base_ = std::move(sigs);
}

bool FileWatcher::report(std::vector<Signature> sigs) {
  pending_ = false;
  held_ = false;
  settle_rounds_ = 0;
  settle_base_.clear();
  // The state being reported is the new poll baseline, so the next scan does not report
  // the same change a second time.
  poll_base_ = std::move(sigs);
  ++stats_.reports;
  return true;
}

std::optional<FileWatcher::Clock::time_point> FileWatcher::deadline() const {
  std::optional<Clock::time_point> d;
  if (pending_ && held_ && !writing_.empty()) {
    // Held for a writer: its close is an event; without one, the wait runs out.
    auto first = writing_.begin()->second;
    for (const auto& w : writing_) first = std::min(first, w.second);
    d = first + opts_.write_wait;
  } else if (pending_) {
    d = std::min(last_event_ + opts_.debounce,
                 burst_start_ + opts_.debounce * (kMaxSettleRounds + 1));
  }
  if (poll_period().count() > 0) d = d ? std::min(*d, next_poll_) : next_poll_;
  return d;
}

bool FileWatcher::tick(Clock::time_point now) {
  if (poll_period().count() > 0 && now >= next_poll_) {
    next_poll_ = now + poll_period();  // from now: a stalled loop must not catch up
    auto sigs = rescan_and_watch();    // also retries watches that failed before
    if (sigs != poll_base_) {
      poll_base_ = sigs;
      if (!pending_) {
        ++stats_.poll_changes;
        begin_or_extend_burst(now, std::move(sigs));
      }
    }
  }
  if (!pending_) return false;
  if (held_by_writer(now)) return false;
  // Events that never stop would otherwise postpone the reload forever.
  if (now >= burst_start_ + opts_.debounce * (kMaxSettleRounds + 1)) {
    return report(rescan_and_watch());
  }
  if (now < last_event_ + opts_.debounce) return false;
  // Quiet for a debounce by events; now make sure it was quiet on disk too (a writer on
  // a filesystem without inotify, or one whose events we missed, is still caught).
  auto sigs = rescan_and_watch();
  if (sigs == settle_base_ || settle_rounds_ >= kMaxSettleRounds) return report(std::move(sigs));
  ++settle_rounds_;
  ++stats_.settle_rounds;
  last_event_ = now;
  settle_base_ = std::move(sigs);
  return false;
}

void FileWatcher::rearm() {
  auto sigs = rescan_and_watch();
  if (sigs != poll_base_) {
    poll_base_ = sigs;
    begin_or_extend_burst(Clock::now(), std::move(sigs));
  }
}

std::vector<std::string> FileWatcher::watched_dirs() const {
  std::vector<std::string> out;
  out.reserve(dir_wd_.size());
  for (const auto& entry : dir_wd_) out.push_back(entry.first);
  return out;
}

}  // namespace shmconf::daemon
