// tests/client/c_api_fixture.hpp — the fixture the C ABI tests share: a
// shmconf_client opened on a TestPublisher's prefix, and the snapshot of
// what was last published (released, with the client, at the end).
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "client/test_util.hpp"
#include "shmconf/shmconf.h"

namespace shmconf::test {

class CApiFixture : public ::testing::Test {
 protected:
  // `config`: what publish_and_acquire() publishes when given nothing.
  explicit CApiFixture(std::string_view config) : config_(config) {}

  void SetUp() override {
    ASSERT_EQ(shmconf_open_prefix(TestPublisher::kNs, pub_.prefix().c_str(), &c_), 0);
  }
  void TearDown() override {
    if (snap_ != nullptr) shmconf_snapshot_release(snap_);
    shmconf_close(c_);
  }
  // Publishes `text` and acquires a snapshot of it into snap_.
  void publish_and_acquire(std::string_view text) {
    pub_.publish(text);
    if (snap_ != nullptr) shmconf_snapshot_release(snap_);
    snap_ = nullptr;
    ASSERT_EQ(shmconf_snapshot_acquire(c_, &snap_), 0);
  }
  void publish_and_acquire() { publish_and_acquire(config_); }

  TestPublisher pub_;
  shmconf_client* c_ = nullptr;
  shmconf_snapshot* snap_ = nullptr;

 private:
  std::string_view config_;
};

}  // namespace shmconf::test
