// Prometheus text format 0.0.4: "# HELP", "# TYPE", then one sample per line; counters end in
// _total, durations are in seconds, histograms have cumulative _bucket{le=...}, _sum and _count.
#include "mailslot/server/metrics.hpp"

#include <fmt/format.h>

namespace mailslot::server {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;

void sample(std::string& out, const char* name, const char* type, const char* help, std::int64_t value) {
  fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

void counter(std::string& out, const char* name, const char* help, const Metrics::Counter& c) {
  sample(out, name, "counter", help, static_cast<std::int64_t>(c.load(relaxed)));
}

void gauge(std::string& out, const char* name, const char* help, std::int64_t v) {
  sample(out, name, "gauge", help, v < 0 ? 0 : v);
}

}  // namespace

void Histogram::observe(std::chrono::nanoseconds d) {
  const double secs = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < kBounds.size() && secs > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count()), relaxed);
  count_.fetch_add(1, relaxed);
}

void Histogram::render(std::string& out, const char* name, const char* help) const {
  fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  cumulative += buckets_[kBounds.size()].load(relaxed);
  // Read separately from the buckets: a scrape racing an observe() may be off by one, which
  // Prometheus tolerates (no lock on the hot path).
  fmt::format_to(std::back_inserter(out), "{0}_bucket{{le=\"+Inf\"}} {1}\n{0}_sum {2:.6f}\n{0}_count {1}\n", name,
                 cumulative, static_cast<double>(sum_ns_.load(relaxed)) / 1e9);
}

std::string Metrics::render(bool up) const {
  std::string o;
  o.reserve(8192);
  gauge(o, "mailslot_up", "1 while the LMTP listeners accept connections, 0 while draining", up ? 1 : 0);
  gauge(o, "mailslot_connections_open", "LMTP connections open now", connections_open.load(relaxed));
  counter(o, "mailslot_connections_total", "LMTP connections accepted", connections_total);
  counter(o, "mailslot_connections_refused_total", "connections refused with 421 (server.max_connections)",
          connections_refused_total);
  const auto open = connections_open.load(relaxed);
  const auto data = sessions_in_data.load(relaxed);
  o += "# HELP mailslot_sessions LMTP sessions by state: receiving a message (data) or at commands (command)\n"
       "# TYPE mailslot_sessions gauge\n";
  fmt::format_to(std::back_inserter(o), "mailslot_sessions{{state=\"command\"}} {}\nmailslot_sessions{{state=\"data\"}} {}\n",
                 open - data < 0 ? 0 : open - data, data < 0 ? 0 : data);
  o += "# HELP mailslot_deliveries_total per-recipient results after the final dot, by result\n"
       "# TYPE mailslot_deliveries_total counter\n";
  fmt::format_to(std::back_inserter(o),
                 "mailslot_deliveries_total{{result=\"delivered\"}} {}\n"
                 "mailslot_deliveries_total{{result=\"deferred\"}} {}\n"
                 "mailslot_deliveries_total{{result=\"rejected\"}} {}\n",
                 delivered_total.load(relaxed), deferred_total.load(relaxed), rejected_total.load(relaxed));
  counter(o, "mailslot_recipients_rejected_total", "RCPT commands refused (unknown user or domain, lookup failure)",
          rcpt_rejected_total);
  counter(o, "mailslot_messages_total", "transactions that reached the final dot", messages_total);
  counter(o, "mailslot_received_bytes_total", "message bytes received in those transactions", received_bytes_total);
  delivery_seconds.render(o, "mailslot_delivery_duration_seconds",
                          "from DATA to the per-recipient replies (what the MTA waits for)");
  commit_seconds.render(o, "mailslot_commit_duration_seconds",
                        "the disk job at the final dot: last write, fsync of the file, links, fsync of new/");
  fsync_seconds.render(o, "mailslot_fsync_duration_seconds", "each fsync(2) of a message file or a Maildir directory");
  gauge(o, "mailslot_disk_pool_queued", "disk jobs waiting for a worker thread", disk_queued.load(relaxed));
  gauge(o, "mailslot_disk_pool_running", "disk jobs running on a worker thread", disk_running.load(relaxed));
  counter(o, "mailslot_tls_handshakes_total", "completed STARTTLS handshakes", tls_handshakes_total);
  counter(o, "mailslot_tls_handshake_failures_total", "failed STARTTLS handshakes", tls_handshake_failures_total);
  counter(o, "mailslot_auth_failures_total", "failed AUTH attempts", auth_failures_total);
  counter(o, "mailslot_reloads_total", "configuration reloads applied (SIGHUP)", reloads_total);
  counter(o, "mailslot_reload_failures_total", "configuration reloads refused (bad new configuration)",
          reload_failures_total);
  return o;
}

}  // namespace mailslot::server
