// uring-ceiling: fsync-ceiling's durable-delivery loop driven through io_uring from one thread, for
// issue #3's question whether an io_uring store would make a delivery cheaper for the machine than
// mailslot's disk threads do. N deliveries are in flight at once, each in its own DIR/t<i>/ and each
// one chain of linked requests on a direct descriptor:
//   openat tmp/NAME O_EXCL → write → fsync → close → linkat into new/ → fsync new/ → unlinkat tmp/NAME.
// The kernel runs what blocks (the fsyncs) on its io-wq workers, allowed N of them. Built only where
// liburing is installed (liburing-dev); an experiment, not part of bench/compare.
#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "machine_cpu.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: uring-ceiling --dir DIR --inflight N --seconds S [--size 4096]\n"
    "  N deliveries in flight through io_uring from one thread, each a linked chain: create\n"
    "  tmp/NAME O_EXCL, write SIZE bytes, fsync, close, link into new/NAME, fsync new/,\n"
    "  unlink tmp/NAME; in DIR/t<i>/. Everything it creates is removed at the end.\n";

struct Slot {
  int tmp = -1;
  int fresh = -1;
  unsigned long long seq = 0;
  char name[48] = {};
};

int usage(const char* why) {
  std::fprintf(stderr, "uring-ceiling: %s\n%s", why, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  long inflight = 0;
  double seconds = 0;
  long size = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    char* end = nullptr;
    if (flag == "--dir") {
      dir = argv[i + 1];
      continue;
    }
    const double v = std::strtod(argv[i + 1], &end);
    if (*end != '\0') return usage("not a number after a flag");
    if (flag == "--inflight") {
      inflight = static_cast<long>(v);
    } else if (flag == "--seconds") {
      seconds = v;
    } else if (flag == "--size") {
      size = static_cast<long>(v);
    } else {
      return usage("unknown flag");
    }
  }
  if (argc % 2 == 0) return usage("a flag without its value");
  if (dir.empty() || inflight < 1 || inflight > 4096 || !(seconds > 0) || seconds > 3600 || size < 0)
    return usage("--dir, --inflight (1-4096) and --seconds (0-3600) are required");

  const bool created_dir = !fs::exists(dir);
  std::vector<Slot> slots(static_cast<std::size_t>(inflight));
  std::vector<fs::path> trees;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    // Built by appending: g++ 12 gives a false -Wrestrict for "literal" + std::string (GCC PR 105329).
    const fs::path base = dir / std::string("t").append(std::to_string(i));
    if (fs::exists(base)) return usage((base.string() + " exists already").c_str());
    fs::create_directories(base / "tmp");
    fs::create_directories(base / "new");
    trees.push_back(base);
    slots[i].tmp = ::open((base / "tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    slots[i].fresh = ::open((base / "new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (slots[i].tmp < 0 || slots[i].fresh < 0) {
      std::perror("uring-ceiling: open tmp/ or new/");
      return 1;
    }
  }
  const auto n = static_cast<unsigned>(inflight);
  io_uring ring{};
  if (const int r = io_uring_queue_init(8 * n + 8, &ring, 0); r < 0) {
    std::fprintf(stderr, "uring-ceiling: io_uring_queue_init: %s\n", std::strerror(-r));
    return 1;
  }
  if (const int r = io_uring_register_files_sparse(&ring, n); r < 0) {
    std::fprintf(stderr, "uring-ceiling: register_files_sparse: %s\n", std::strerror(-r));
    return 1;
  }
  // io-wq allows 4 workers per CPU for file work by default: 8 on this VM, which would cap the
  // fsyncs in flight below the threads fsync-ceiling runs. One worker per delivery in flight.
  unsigned workers[2] = {n, n};
  if (const int r = io_uring_register_iowq_max_workers(&ring, workers); r < 0) {
    std::fprintf(stderr, "uring-ceiling: register_iowq_max_workers: %s\n", std::strerror(-r));
    return 1;
  }
  const std::string content(static_cast<std::size_t>(size), 'x');
  // One linked chain per delivery. With IOSQE_CQE_SKIP_SUCCESS only the last request (the unlink)
  // completes with a CQE when all goes well; a failed one completes with its error, and the rest of
  // its chain, the last request included, with -ECANCELED. user_data: the step in the high half, the
  // delivery's slot in the low half.
  constexpr unsigned long long kLast = 6;
  const auto start_delivery = [&](unsigned i) {
    Slot& s = slots[i];
    std::snprintf(s.name, sizeof s.name, "t%u.%llu", i, s.seq++);
    unsigned long long step = 0;
    // After the prep call, which clears flags and user_data.
    const auto link = [&](io_uring_sqe* q, unsigned flags) {
      io_uring_sqe_set_data64(q, (step << 32) | i);
      if (step++ < kLast) flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      q->flags |= static_cast<unsigned char>(flags);
    };
    const auto fd = static_cast<int>(i);  // the direct descriptor's index
    io_uring_sqe* q = io_uring_get_sqe(&ring);
    io_uring_prep_openat_direct(q, s.tmp, s.name, O_WRONLY | O_CREAT | O_EXCL, 0600, i);  // O_CLOEXEC: EINVAL
    link(q, 0);
    io_uring_prep_write(q = io_uring_get_sqe(&ring), fd, content.data(), static_cast<unsigned>(size), 0);
    link(q, IOSQE_FIXED_FILE);
    io_uring_prep_fsync(q = io_uring_get_sqe(&ring), fd, 0);
    link(q, IOSQE_FIXED_FILE);
    io_uring_prep_close_direct(q = io_uring_get_sqe(&ring), i);
    link(q, 0);
    io_uring_prep_linkat(q = io_uring_get_sqe(&ring), s.tmp, s.name, s.fresh, s.name, 0);
    link(q, 0);
    io_uring_prep_fsync(q = io_uring_get_sqe(&ring), s.fresh, 0);
    link(q, 0);
    io_uring_prep_unlinkat(q = io_uring_get_sqe(&ring), s.tmp, s.name, 0);
    link(q, 0);
  };

  const bench::MachineCpu cpu0 = bench::machine_cpu();
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (unsigned i = 0; i < n; ++i) start_delivery(i);
  unsigned long long ops = 0;
  unsigned running = n;
  int status = 0;
  bool stopping = false;
  while (running > 0) {
    if (const int r = io_uring_submit_and_wait(&ring, 1); r < 0 && r != -EINTR) {
      std::fprintf(stderr, "uring-ceiling: submit: %s\n", std::strerror(-r));
      return 1;
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const auto i = static_cast<unsigned>(cqe->user_data & 0xffffffffU);
      const unsigned long long step = cqe->user_data >> 32;
      if (cqe->res < 0 && cqe->res != -ECANCELED) {
        static const char* const kSteps[] = {"create", "write", "fsync", "close", "link", "fsync new/", "unlink"};
        std::fprintf(stderr, "uring-ceiling: %s of t%u: %s\n", kSteps[step <= kLast ? step : 0], i,
                     std::strerror(-cqe->res));
        status = 1;
        stopping = true;
      }
      if (step != kLast) continue;  // a failed step before the last: its chain ends with the last's CQE
      --running;
      if (cqe->res < 0) continue;
      ++ops;
      stopping = stopping || Clock::now() >= until;
      if (!stopping) {
        start_delivery(i);
        ++running;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const bench::MachineCpu cpu1 = bench::machine_cpu();
  io_uring_queue_exit(&ring);
  for (const Slot& s : slots) {
    ::close(s.tmp);
    ::close(s.fresh);
  }
  std::error_code ignored;
  for (const auto& t : trees) fs::remove_all(t, ignored);
  if (created_dir) fs::remove(dir, ignored);

  std::printf("inflight=%u ops=%llu seconds=%.3f ops_per_s=%.1f\n", n, ops, elapsed,
              static_cast<double>(ops) / elapsed);
  std::fputs(bench::machine_cpu_report(cpu0, cpu1, ops).line.c_str(), stdout);
  return status;
}
