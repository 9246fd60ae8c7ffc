// The daemon's counters, gauges and histograms, rendered in the Prometheus text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Every figure is one relaxed
// atomic: counting costs an uncontended add on the hot path, and a scrape reads them without
// locks. To add a figure: a member here, one line in render() (metrics.cpp), one in
// docs/operations.md.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace mailslot::server {

// A fixed-bucket histogram of durations in seconds (Prometheus `_bucket`, `_sum`, `_count`).
class Histogram {
 public:
  // Upper bounds in seconds: 0.5 ms .. 10 s, the span between a page-cache fsync and a stalled disk.
  static constexpr std::array<double, 14> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1.0,   2.5,   5.0,  10.0};

  void observe(std::chrono::nanoseconds d);
  // Appends the text lines for metric `name` (with its # HELP and # TYPE).
  void render(std::string& out, const char* name, const char* help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> count_{0};
};

struct Metrics {
  using Counter = std::atomic<std::uint64_t>;
  using Gauge = std::atomic<std::int64_t>;

  // Connections (server.cpp).
  Gauge connections_open{0};
  Counter connections_total{0};
  Counter connections_refused_total{0};  // over server.max_connections
  // Sessions by state (connection.cpp): those receiving a message; the rest are at commands.
  Gauge sessions_in_data{0};
  // Per-recipient results after DATA / BDAT LAST, and recipients refused at RCPT.
  Counter delivered_total{0};
  Counter deferred_total{0};
  Counter rejected_total{0};
  Counter rcpt_rejected_total{0};
  Counter messages_total{0};        // transactions that reached the final "."
  Counter received_bytes_total{0};  // message bytes of those transactions (as received, once each)
  Histogram delivery_seconds;       // DATA → per-recipient replies ready (the MTA's wait)
  Histogram commit_seconds;         // the disk job at the final ".": write rest, fsync, link, fsync new/
  Histogram fsync_seconds;          // each fsync(2) of a message file or a directory (delivery/fs.cpp)
  // Worker pool (disk_pool.hpp).
  Gauge disk_queued{0};
  Gauge disk_running{0};
  // Defined now so dashboards need no change when STARTTLS and AUTH arrive (issue #5).
  Counter tls_handshakes_total{0};
  Counter tls_handshake_failures_total{0};
  Counter auth_failures_total{0};
  // Reloads (SIGHUP).
  Counter reloads_total{0};
  Counter reload_failures_total{0};

  // The whole exposition. `up` is 1 while the listeners accept.
  std::string render(bool up) const;
};

}  // namespace mailslot::server
