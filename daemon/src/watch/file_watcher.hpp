// daemon/src/watch/file_watcher.hpp — tells the daemon when its source files changed.
//
// Purpose: one inotify fd plus a stat() scan, driven by the daemon's single poll() loop,
// turning the many events of a save (editor rename-over, `sed -i`, truncate-then-write,
// `ln -sfn`, the Kubernetes ConfigMap `..data` swap) into exactly one "reload now" per
// settled burst. It watches DIRECTORIES, never files: a watch on a file follows the inode,
// and every atomic save replaces the inode, so a file watch goes deaf after the first save.
// For each source it watches the directory holding the name and, for a symlink, the
// directory holding every hop of the chain, re-resolving the chain after each event batch
// so the watches follow the swap. Events are filtered to the names that lead to a source.
//
// Reporting: an event batch that touches a relevant name starts (or extends) a burst; the
// burst is reported by tick() `debounce` after its last event, once a stat() of every
// source shows nothing changed during that quiet period ("settle", at most kMaxSettleRounds
// extra periods). A burst whose events never stop is reported anyway after
// (kMaxSettleRounds + 1) * debounce, so a file rewritten forever cannot starve reloads.
// In-place writers: a source that got IN_MODIFY and no IN_CLOSE_WRITE yet is still being
// written (`{ head -2; sleep 1; tail -n +3; } > app.yaml` keeps one file open across the
// pause). Its burst is held past the debounce until the writer closes it (or the name is
// replaced, renamed away or deleted), and then settles as usual; a writer that has not
// closed after `write_wait` is logged and the burst reported anyway, so a writer that
// never closes cannot block reloads forever. inotify cannot count writers: the first
// IN_CLOSE_WRITE of the name ends the wait. A file created and left empty before its
// first write raises no IN_MODIFY and is not waited for (an empty file is then refused).
// Beyond that the watcher only reports; reading, parsing and refusing a broken file is
// the daemon's job. A redundant report is harmless (an unchanged content hash publishes
// nothing), a missed one is not, so every doubt (queue overflow, a watched directory
// deleted or moved, a watch that could not be added) resolves to "rescan and report".
//
// Fallback: every poll_interval tick() stat()s every source (dev, inode, size, mtime,
// ctime, and the text of every symlink hop) and reports any difference against the
// previous scan; this catches network filesystems and anything inotify cannot see.
//
// Thread-safety: none; one thread (the daemon's loop) owns the object. No threads, no
// sleeps, no blocking reads.
// Cost: per relevant event batch and per debounce expiry, one scan: an lstat()/readlink()
// per path component that is a symlink, a stat() per source file, a readdir() per
// directory source, and an inotify_add_watch() per watched directory (a no-op when the
// watch exists). Irrelevant events (other files in a watched directory) cost only the read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shmconf::daemon {

class FileWatcher {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::chrono::milliseconds debounce{100};        // quiet time after the last event
    std::chrono::milliseconds poll_interval{2000};  // fallback stat() scan period (0 = off)
    // Longest wait for an in-place writer to close a modified source (0 = do not wait).
    std::chrono::milliseconds write_wait{5000};
    std::string name;  // the namespace, for log lines
  };

  // Counters for the daemon's status and metrics; they never affect behaviour.
  struct Stats {
    std::uint64_t reports = 0;              // times tick() returned true
    std::uint64_t rescans = 0;              // forced by overflow, IN_IGNORED, a dir deleted/moved
    std::uint64_t overflows = 0;            // IN_Q_OVERFLOW: the kernel dropped events
    std::uint64_t poll_changes = 0;         // changes first noticed by the stat() scan
    std::uint64_t settle_rounds = 0;        // extra debounce periods waited for a busy writer
    std::uint64_t watch_failures = 0;       // inotify_add_watch errors (limit, EACCES…)
    std::uint64_t write_waits = 0;          // due reports held for a source open for writing
    std::uint64_t write_wait_timeouts = 0;  // writers still open after write_wait
    std::size_t watches = 0;                // directories watched right now
  };

  // A settle round is one more debounce period waited because a source's stat() changed
  // during the previous one; bounded so a file that never stops changing still reloads.
  static constexpr int kMaxSettleRounds = 20;

  // `paths`: the source files (and/or directories, whose regular files named *.yaml,
  // *.yml, *.json, *.toml count — see is_config_name()) the daemon reads. Relative paths
  // are made absolute now. Paths that do not exist yet are fine: the nearest existing
  // ancestor is watched so their creation is noticed.
  // Throws std::system_error if the inotify instance cannot be created.
  FileWatcher(std::vector<std::string> paths, Options opts);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // The inotify fd (O_NONBLOCK | O_CLOEXEC), to put in poll() with POLLIN.
  int fd() const { return fd_; }

  // Drains every queued inotify event without blocking. Call when fd() is readable.
  void on_readable();

  // When the daemon must call tick() even if fd() stays quiet (debounce expiry, the next
  // stat() scan), or nullopt when nothing is pending and polling is off.
  std::optional<Clock::time_point> deadline() const;

  // Runs the due stat() scan and settles a pending burst. Returns true exactly once per
  // settled burst: the daemon should reload now. Call after on_readable() and whenever
  // deadline() passes; extra calls are cheap and harmless.
  bool tick(Clock::time_point now);

  // Rescans every source and re-adds watches (e.g. after a reload, or on a timer when a
  // directory could not be watched). A difference against the last scan starts a burst,
  // so a change that slipped in between the reload's read and this call is not lost.
  void rearm();

  const Stats& stats() const { return stats_; }

  // The directories currently watched, sorted (for the status command and tests).
  std::vector<std::string> watched_dirs() const;

  // True for a name a directory source reads: ends in .yaml, .yml, .json or .toml with a
  // non-empty stem. The loader should use this too, so the two never disagree.
  static bool is_config_name(std::string_view name);

 private:
  // Names that matter inside one watched directory.
  struct Interest {
    std::set<std::string, std::less<>> names;  // symlink hops, sources, missing components
    bool config_files = false;                 // a directory source: any is_config_name()
    std::string dir;                           // one path of the directory, for log lines
  };
  // What a scan found for one file or symlink hop; any difference between two scans is a
  // change. `err` is the stat() errno (0 when present), `link` a symlink hop's text.
  struct Signature {
    std::string path;
    int err = 0;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::string link;
    bool operator==(const Signature&) const = default;
  };
  struct Scan {
    std::map<std::string, Interest> dirs;  // canonical directory → names of interest
    std::vector<Signature> signatures;
  };

  Scan scan() const;
  void scan_path(const std::string& path, bool top_level, Scan& out) const;
  // Scans, applies the watches and returns the signatures; retries a few times if a
  // directory vanished between the scan and inotify_add_watch.
  std::vector<Signature> rescan_and_watch();
  // Adds the watches `s` needs and removes the ones it no longer needs. Returns false if a
  // directory vanished in between (the caller rescans).
  bool apply_watches(const Scan& s);
  bool watch_degraded_ = false;  // a directory could not be watched at the last scan
  // The stat() scan's period while a directory cannot be watched, when the
  // options turned the scan off.
  static constexpr std::chrono::milliseconds kDegradedPoll{2000};
  std::chrono::milliseconds poll_period() const {
    if (opts_.poll_interval.count() > 0 || !watch_degraded_) return opts_.poll_interval;
    return kDegradedPoll;
  }
  void begin_or_extend_burst(Clock::time_point now, std::vector<Signature> signatures);
  // Tracks in-place writers from one relevant event of `name` in the directory of `wd`.
  void note_writer(int wd, std::string_view name, std::uint32_t mask, Clock::time_point now);
  // True while a source is open for writing and its wait has not run out (logs the
  // deferral once per burst, and each writer that timed out).
  bool held_by_writer(Clock::time_point now);
  bool report(std::vector<Signature> signatures);

  std::vector<std::string> paths_;  // made absolute, otherwise as given
  Options opts_;
  int fd_ = -1;

  std::map<std::string, int> dir_wd_;              // canonical dir → watch descriptor
  std::unordered_map<int, Interest> wd_interest_;  // merged: two dirs may share an inode

  bool pending_ = false;                // a burst is waiting to be reported
  Clock::time_point burst_start_{};     // first event of the pending burst
  Clock::time_point last_event_{};      // last event (or failed settle) of the burst
  int settle_rounds_ = 0;               // extra debounce periods waited in this burst
  std::vector<Signature> settle_base_;  // stat()s at the last event, compared at expiry
  std::vector<Signature> poll_base_;    // stat()s at the last poll scan or report
  Clock::time_point next_poll_{};
  // (watch descriptor, name) of each source modified in place and not closed yet → the
  // time of its first unclosed IN_MODIFY. Non-empty only while a burst is pending.
  std::map<std::pair<int, std::string>, Clock::time_point> writing_;
  bool held_ = false;  // the pending burst was due and is held for a writer

  Stats stats_;
};

}  // namespace shmconf::daemon
