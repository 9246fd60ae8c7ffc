// server.disk_queue: default, range, and the dump (--check-config) that round-trips it.
#include <gtest/gtest.h>

#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

const char* kBase = R"(
[mail]
root = "/var/mail"
domains = ["example.test"]
[server]
listen = ["127.0.0.1:2424"]
)";

TEST(DiskQueue, DefaultsTo1024) { EXPECT_EQ(load_string(kBase).disk_queue, 1024u); }

TEST(DiskQueue, SetZeroAndOutOfRange) {
  EXPECT_EQ(load_string(std::string(kBase) + "disk_queue = 8\n").disk_queue, 8u);
  EXPECT_EQ(load_string(std::string(kBase) + "disk_queue = 0\n").disk_queue, 0u);
  EXPECT_THROW(load_string(std::string(kBase) + "disk_queue = -1\n"), ConfigError);
  EXPECT_THROW(load_string(std::string(kBase) + "disk_queue = \"many\"\n"), ConfigError);
}

TEST(DiskQueue, DumpRoundTrips) {
  const Config c = load_string(std::string(kBase) + "disk_queue = 77\n");
  const std::string dumped = to_toml(c);
  EXPECT_NE(dumped.find("disk_queue = 77\n"), std::string::npos) << dumped;
  EXPECT_EQ(load_string(dumped).disk_queue, 77u);
}

}  // namespace
}  // namespace mailslot::config
