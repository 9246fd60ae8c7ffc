// The whole machine's CPU time, for the ceiling tools (fsync-ceiling, uring-ceiling): what the
// file-system work costs beyond the tool's own process (the journal's and the loop device's kernel
// threads, interrupts), for bench/compare's "VM CPU per delivery" rows.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace bench {

// Seconds of CPU time so far over every CPU, every process and kernel thread (the first line of
// /proc/stat).
struct MachineCpu {
  bool ok = false;
  double busy = 0;    // user + nice + system + irq + softirq
  double idle = 0;    // idle, not waiting for I/O
  double iowait = 0;  // idle with I/O outstanding: a CPU that could have run something
  double steal = 0;   // taken by the hypervisor
  double process = 0;  // this process's own user + system time, all its threads
};

inline MachineCpu machine_cpu() {
  MachineCpu m;
  rusage self{};
  const double process =
      ::getrusage(RUSAGE_SELF, &self) == 0
          ? static_cast<double>(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                static_cast<double>(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6
          : 0;
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return m;
  unsigned long long v[8] = {};
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                            &v[5], &v[6], &v[7]);
  std::fclose(f);
  const long tck = ::sysconf(_SC_CLK_TCK);
  if (n != 8 || tck <= 0) return m;
  const auto s = [tck](unsigned long long t) { return static_cast<double>(t) / static_cast<double>(tck); };
  m = {true, s(v[0] + v[1] + v[2] + v[5] + v[6]), s(v[3]), s(v[4]), s(v[7]), process};
  return m;
}

// The text line and the JSON fields for the window between two readings ("" for both when either
// failed or nothing was done).
struct MachineCpuReport {
  std::string line;  // "machine_cpu busy_s=... busy_us_per_op=... process_us_per_op=...\n"
  std::string json;  // ",\"machine_busy_s\":...,..." (to append inside an object)
};

inline MachineCpuReport machine_cpu_report(const MachineCpu& a, const MachineCpu& b, unsigned long long ops) {
  MachineCpuReport r;
  if (!a.ok || !b.ok || ops == 0) return r;
  const double busy = b.busy - a.busy, idle = b.idle - a.idle, iowait = b.iowait - a.iowait, steal = b.steal - a.steal;
  const double per_op = 1e6 / static_cast<double>(ops);
  char buf[240];
  std::snprintf(buf, sizeof buf,
                "machine_cpu busy_s=%.2f idle_s=%.2f iowait_s=%.2f steal_s=%.2f busy_us_per_op=%.1f "
                "process_us_per_op=%.1f\n",
                busy, idle, iowait, steal, busy * per_op, (b.process - a.process) * per_op);
  r.line = buf;
  std::snprintf(buf, sizeof buf,
                ",\"machine_busy_s\":%.2f,\"machine_idle_s\":%.2f,\"machine_iowait_s\":%.2f,\"machine_steal_s\":%.2f",
                busy, idle, iowait, steal);
  r.json = buf;
  return r;
}

}  // namespace bench
