// uring-ceiling: fsync-ceiling's durable-delivery loop driven through io_uring from one thread, for
// issue #3's question whether an io_uring store would make a delivery cheaper for the machine than
// mailslot's disk threads do. N deliveries are in flight at once, each in its own DIR/t<i>/ and each
// one chain of linked requests on a direct descriptor:
//   openat tmp/NAME O_EXCL → write → fsync → close → linkat into new/ → fsync new/ → unlinkat tmp/NAME.
// The kernel runs what blocks (the fsyncs) on its io-wq workers, allowed N of them. Built only where
// liburing is installed (liburing-dev); an experiment, not part of bench/compare.
#include <fcntl.h>
#include <liburing.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "machine_cpu.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: uring-ceiling --dir DIR --inflight N --seconds S [--size 4096] [--defer-taskrun 0|1]\n"
    "  N deliveries in flight through io_uring from one thread, each a linked chain: create\n"
    "  tmp/NAME O_EXCL, write SIZE bytes, fsync, close, link into new/NAME, fsync new/,\n"
    "  unlink tmp/NAME; in DIR/t<i>/. Everything it creates is removed at the end.\n"
    "  --defer-taskrun 1: set the ring up with SINGLE_ISSUER | DEFER_TASKRUN (completions run\n"
    "  only when this thread waits for them) instead of the default flags.\n";

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

int fail(const char* what, int negative_errno) {
  std::fprintf(stderr, "uring-ceiling: %s: %s\n", what, std::strerror(-negative_errno));
  return 1;
}

// What the run made, undone on every way out: descriptors, the ring, the directory trees. (After a
// stall, requests may still be in the kernel's hands when the ring goes; what they create after
// the trees are removed stays behind. A stall means the disk is stuck: that is the lesser worry.)
struct Made {
  std::vector<Slot> slots;
  std::vector<fs::path> trees;
  fs::path created;  // DIR itself, when this run made it
  io_uring ring{};
  bool ring_up = false;

  ~Made() {
    if (ring_up) io_uring_queue_exit(&ring);
    for (const Slot& s : slots) {
      if (s.tmp >= 0) ::close(s.tmp);
      if (s.fresh >= 0) ::close(s.fresh);
    }
    std::error_code ignored;
    for (const auto& t : trees) fs::remove_all(t, ignored);
    if (!created.empty()) fs::remove(created, ignored);
  }
};

constexpr const char* kSteps[] = {"create", "write", "fsync", "close", "link into new/", "fsync new/", "unlink"};
constexpr unsigned long long kLast = 6;  // the unlink: the one request whose success completes

int run(const fs::path& dir, unsigned n, double seconds, unsigned size, bool defer_taskrun) {
  // Two directory descriptors per delivery in flight: past about 500 the default soft limit of
  // 1,024 open files is too low, so take the hard limit.
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  Made made;
  if (!fs::exists(dir)) made.created = dir;
  made.slots.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    // Built by appending: g++ 12 gives a false -Wrestrict for "literal" + std::string (GCC PR 105329).
    const fs::path base = dir / std::string("t").append(std::to_string(i));
    if (fs::exists(base)) {
      std::fprintf(stderr, "uring-ceiling: %s exists already\n", base.c_str());
      return 1;
    }
    fs::create_directories(base / "tmp");
    fs::create_directories(base / "new");
    made.trees.push_back(base);
    made.slots[i].tmp = ::open((base / "tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    made.slots[i].fresh = ::open((base / "new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (made.slots[i].tmp < 0 || made.slots[i].fresh < 0) return fail("open tmp/ or new/", -errno);
  }
  io_uring& ring = made.ring;
  const unsigned setup = defer_taskrun ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0U;
  if (const int r = io_uring_queue_init(8 * n + 8, &ring, setup); r < 0) return fail("io_uring_queue_init", r);
  made.ring_up = true;
  if (!(ring.features & IORING_FEAT_CQE_SKIP)) return fail("this kernel has no IOSQE_CQE_SKIP_SUCCESS", -ENOSYS);
  if (const int r = io_uring_register_files_sparse(&ring, n); r < 0) return fail("register_files_sparse", r);
  // io-wq allows 4 workers per CPU for file work by default: 8 on a 2-vCPU machine, which would cap
  // the fsyncs in flight below the threads fsync-ceiling runs. One worker per delivery in flight.
  unsigned workers[2] = {n, n};
  if (const int r = io_uring_register_iowq_max_workers(&ring, workers); r < 0)
    return fail("register_iowq_max_workers", r);

  const std::string content(size, 'x');
  // One linked chain per delivery, 7 requests (8 × N SQEs fit in the ring). With
  // IOSQE_CQE_SKIP_SUCCESS only the last request completes with a CQE when all goes well; a failed
  // one completes with its error, and whether the cancelled rest of its chain posts CQEs too
  // depends on the kernel: the first failure ends the chain here, and the slot is not used again.
  // user_data: the step in the high half, the delivery's slot in the low half.
  // A slot's chain is started again only after it completed, so at most 7 × N SQEs wait to be
  // submitted at any time, and the ring has 8 × N + 8: io_uring_get_sqe() cannot run out.
  const auto sqe = [&ring] {
    io_uring_sqe* q = io_uring_get_sqe(&ring);
    if (q == nullptr) throw std::runtime_error("submission queue full");
    return q;
  };
  const auto start_delivery = [&](unsigned i) {
    Slot& s = made.slots[i];
    std::snprintf(s.name, sizeof s.name, "t%u.%llu", i, s.seq++);
    unsigned long long step = 0;
    // After the prep call, which clears flags and user_data.
    const auto link = [&](io_uring_sqe* q, unsigned flags) {
      io_uring_sqe_set_data64(q, (step << 32) | i);
      if (step++ < kLast) flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      q->flags |= static_cast<unsigned char>(flags);
    };
    const auto fd = static_cast<int>(i);  // the direct descriptor's index
    io_uring_sqe* q = sqe();
    io_uring_prep_openat_direct(q, s.tmp, s.name, O_WRONLY | O_CREAT | O_EXCL, 0600, i);  // O_CLOEXEC: EINVAL
    link(q, 0);
    io_uring_prep_write(q = sqe(), fd, content.data(), size, 0);
    link(q, IOSQE_FIXED_FILE);
    io_uring_prep_fsync(q = sqe(), fd, 0);
    link(q, IOSQE_FIXED_FILE);
    io_uring_prep_close_direct(q = sqe(), i);
    link(q, 0);
    io_uring_prep_linkat(q = sqe(), s.tmp, s.name, s.fresh, s.name, 0);
    link(q, 0);
    io_uring_prep_fsync(q = sqe(), s.fresh, 0);
    link(q, 0);
    io_uring_prep_unlinkat(q = sqe(), s.tmp, s.name, 0);
    link(q, 0);
  };

  const bench::MachineCpu cpu0 = bench::machine_cpu();
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  // A chain that never completes (a kernel that skips the CQEs of a failed chain's last request
  // after all) must not hang the tool: 30 s past the window without a completion ends it.
  __kernel_timespec stall{.tv_sec = 30, .tv_nsec = 0};
  for (unsigned i = 0; i < n; ++i) start_delivery(i);
  std::vector<bool> ended(n, false);  // a chain that failed: its later CQEs are ignored
  unsigned long long ops = 0;
  unsigned running = n;
  int status = 0;
  bool stopping = false;
  while (running > 0) {
    // One io_uring_enter per turn: submit what was queued and wait for at least one completion.
    io_uring_cqe* first = nullptr;
    if (const int r = io_uring_submit_and_wait_timeout(&ring, &first, 1, &stall, nullptr); r == -ETIME) {
      std::fprintf(stderr, "uring-ceiling: %u deliveries did not complete within 30 s\n", running);
      return 1;
    } else if (r < 0 && r != -EINTR) {
      return fail("wait", r);
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const auto i = static_cast<unsigned>(cqe->user_data & 0xffffffffU);
      const unsigned long long step = cqe->user_data >> 32;
      if (i >= n || ended[i]) continue;
      // A short write breaks the chain like an error (it does not complete the delivery).
      const bool failed = cqe->res < 0 || (step == 1 && cqe->res != static_cast<int>(size));
      if (failed) {
        if (cqe->res != -ECANCELED) {
          std::fprintf(stderr, "uring-ceiling: %s of t%u: %s\n", kSteps[step <= kLast ? step : 0], i,
                       cqe->res < 0 ? std::strerror(-cqe->res) : "short write");
        }
        ended[i] = true;
        --running;
        status = 1;
        stopping = true;
        continue;
      }
      if (step != kLast) continue;  // not posted when it succeeds (IOSQE_CQE_SKIP_SUCCESS)
      --running;
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
  std::printf("inflight=%u ops=%llu seconds=%.3f ops_per_s=%.1f defer_taskrun=%d\n", n, ops, elapsed,
              static_cast<double>(ops) / elapsed, defer_taskrun ? 1 : 0);
  std::fputs(bench::machine_cpu_report(cpu0, cpu1, ops).line.c_str(), stdout);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  double inflight = 0, seconds = 0, size = 4096, defer = 0;
  if (argc % 2 == 0) return usage("a flag without its value");
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--dir") {
      dir = argv[i + 1];
      continue;
    }
    char* end = nullptr;
    const double v = std::strtod(argv[i + 1], &end);
    if (*end != '\0') return usage("not a number after a flag");
    if (flag == "--inflight") {
      inflight = v;
    } else if (flag == "--seconds") {
      seconds = v;
    } else if (flag == "--size") {
      size = v;
    } else if (flag == "--defer-taskrun") {
      defer = v;
    } else {
      return usage("unknown flag");
    }
  }
  // 8 SQEs per delivery in flight, and a ring holds at most 32,768.
  if (dir.empty() || !(inflight >= 1 && inflight <= 4000) || !(seconds > 0 && seconds <= 3600) ||
      !(size >= 0 && size <= 64 * 1024 * 1024))
    return usage("--dir, --inflight (1-4000) and --seconds (0-3600) are required; --size at most 64 MiB");
  try {
    return run(dir, static_cast<unsigned>(inflight), seconds, static_cast<unsigned>(size), defer != 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uring-ceiling: %s\n", e.what());
    return 1;
  }
}
