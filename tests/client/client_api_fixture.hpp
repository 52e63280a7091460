// tests/client/client_api_fixture.hpp — the ClientApi fixture the C++
// client tests share: a real Publisher in this process on a unique shm
// prefix, the configuration they publish, and the hang guard for waits.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/test_util.hpp"

namespace shmconf::client_api {

using namespace std::chrono_literals;
using format::Change;

constexpr auto kHangGuard = 20s;

class ClientApi : public ::testing::Test {
 protected:
  Client open_client() {
    auto r = Client::try_open(test::TestPublisher::kNs, pub_.options());
    EXPECT_TRUE(r.has_value()) << static_cast<int>(r.error());
    return std::move(r).value();
  }

  // Puts `bytes` on segment id `id` of this namespace, mode `mode`,
  // without the Publisher's self-check.
  void create_segment_object(std::uint64_t id, const std::vector<std::byte>& bytes,
                             mode_t mode = 0644) {
    const std::string name = segment_object_name(pub_.prefix(), test::TestPublisher::kNs, id);
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::fchmod(fd, mode), 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

  // Points the control block at segment `id` with the record of `view`.
  void flip_to_id(std::uint64_t id, const SegmentView& view) {
    daemon::Segment seg;
    seg.id = id;
    seg.view = view;
    pub_.publisher().flip(seg);
  }

  test::TestPublisher pub_;
};

// The configuration most tests publish.
inline constexpr std::string_view kConfig = R"({
  "db": {"host": "db.internal", "port": 5432, "ratio": 0.25, "tls": true, "none": null},
  "servers": [{"host": "a"}, {"host": "b"}],
  "empty": {}
})";

}  // namespace shmconf::client_api
