// Figures of a run: per-session counters merged at the end (no sharing on the hot path), latency
// percentiles, the generator's own CPU, and the stable text and JSON output bench/compare parses.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mailslot::bench {

struct Stats {
  std::uint64_t messages = 0;    // transactions whose per-recipient replies were all read
  std::uint64_t deliveries = 0;  // 2xx per-recipient replies after the final dot
  std::uint64_t errors = 0;
  std::uint64_t closed = 0;  // sessions that ended with QUIT and 221
  std::uint64_t greeted = 0;        // sessions past LHLO
  std::uint64_t size_sessions = 0;  // of those, the ones that sent SIZE= (announced, no --no-size)
  std::vector<std::uint32_t> latency_us;
  struct ErrorKind {
    std::uint64_t count = 0;
    std::string sample;  // the first reply text or error message of this kind
  };
  std::map<std::string, ErrorKind> error_kinds;  // touched only when something goes wrong

  void error(const std::string& kind, std::string_view sample = {}) {
    ++errors;
    auto& k = error_kinds[kind];
    if (k.count++ == 0) k.sample = sample;
  }

  void merge(Stats&& other) {
    messages += other.messages;
    deliveries += other.deliveries;
    errors += other.errors;
    closed += other.closed;
    greeted += other.greeted;
    size_sessions += other.size_sessions;
    latency_us.insert(latency_us.end(), other.latency_us.begin(), other.latency_us.end());
    for (auto& [kind, other_kind] : other.error_kinds) {
      auto& k = error_kinds[kind];
      if (k.count == 0) k.sample = std::move(other_kind.sample);
      k.count += other_kind.count;
    }
  }
};

// User plus system CPU of this process, in seconds.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

struct Latency {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // milliseconds
};

// Nearest-rank percentiles: every figure is a latency that was actually measured.
inline Latency percentiles(std::vector<std::uint32_t>& us) {
  Latency l;
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  auto at = [&](double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(us.size())));
    return static_cast<double>(us[std::clamp<std::size_t>(rank, 1, us.size()) - 1]) / 1000.0;
  };
  l.p50 = at(50);
  l.p90 = at(90);
  l.p99 = at(99);
  l.max = static_cast<double>(us.back()) / 1000.0;
  return l;
}

struct CpuUse {
  double seconds = 0;
  double percent = 0;  // of the elapsed wall time (can exceed 100 with --threads)
};

// Rates and latencies are of the timed phase; messages, deliveries and errors also count the
// warm-up (`warmup`), so deliveries equals the files the run stored.
inline void print_load_report(Stats& s, const Stats& warmup, double elapsed, CpuUse cpu, bool json) {
  Latency l = percentiles(s.latency_us);
  double msgs_per_s = elapsed > 0 ? static_cast<double>(s.messages) / elapsed : 0;
  double deliveries_per_s = elapsed > 0 ? static_cast<double>(s.deliveries) / elapsed : 0;
  auto n = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("warmup_messages=%llu warmup_deliveries=%llu warmup_errors=%llu\n", n(warmup.messages),
              n(warmup.deliveries), n(warmup.errors));
  s.messages += warmup.messages;
  s.deliveries += warmup.deliveries;
  s.errors += warmup.errors;
  std::printf("messages=%llu deliveries=%llu errors=%llu elapsed=%.3fs\n", n(s.messages), n(s.deliveries),
              n(s.errors), elapsed);
  std::printf("msgs_per_s=%.1f deliveries_per_s=%.1f\n", msgs_per_s, deliveries_per_s);
  std::printf("latency_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n", l.p50, l.p90, l.p99, l.max);
  std::printf("bench_cpu_s=%.2f bench_cpu_pct=%.1f\n", cpu.seconds, cpu.percent);
  std::printf("size_sessions=%llu greeted_sessions=%llu\n", n(s.size_sessions), n(s.greeted));
  if (json) {
    std::printf(
        "{\"messages\":%llu,\"deliveries\":%llu,\"errors\":%llu,\"elapsed_s\":%.3f,\"msgs_per_s\":%.1f,"
        "\"deliveries_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
        "\"bench_cpu_s\":%.3f,\"bench_cpu_pct\":%.1f,\"size_sessions\":%llu,\"greeted_sessions\":%llu,"
        "\"warmup_deliveries\":%llu}\n",
        n(s.messages), n(s.deliveries), n(s.errors), elapsed, msgs_per_s, deliveries_per_s, l.p50, l.p90,
        l.p99, l.max, cpu.seconds, cpu.percent, n(s.size_sessions), n(s.greeted), n(warmup.deliveries));
  }
}

inline void print_idle_json(const Stats& s, std::size_t sessions, double greet_s, CpuUse cpu) {
  auto n = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "{\"idle_sessions\":%llu,\"greet_s\":%.3f,\"errors\":%llu,\"closed\":%llu,\"bench_cpu_s\":%.3f,"
      "\"bench_cpu_pct\":%.1f}\n",
      n(sessions), greet_s, n(s.errors), n(s.closed), cpu.seconds, cpu.percent);
}

// Why errors happened, on stderr, so that stdout stays the figures alone.
inline void print_error_kinds(const Stats& s) {
  for (const auto& [kind, k] : s.error_kinds) {
    std::fprintf(stderr, "mailslot-bench: %llu x %s%s%s\n", static_cast<unsigned long long>(k.count),
                 kind.c_str(), k.sample.empty() ? "" : ": ", k.sample.c_str());
  }
}

}  // namespace mailslot::bench
