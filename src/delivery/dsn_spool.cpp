// The success-DSN spool: one durable file per report (dsn_spool.hpp).
#include "mailslot/delivery/dsn_spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "mailslot/delivery/dsn_report.hpp"
#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/maildir_name.hpp"

namespace mailslot::delivery {
namespace {

// RET=HDRS: the header block is read from the start of the copy; a header larger than this is
// cut (the report stays small, and the recipient list of a huge header is no one's business).
constexpr std::size_t kMaxReturnedHeaders = 256 * 1024;

// Opens the first readable copy just delivered (a fast IMAP client may already have moved one out
// of new/). -1 when none can be opened.
int open_delivered_copy(const std::vector<Outcome>& outcomes, const std::vector<std::size_t>& which) {
  for (std::size_t i : which) {
    const int fd = ::open(outcomes[i].location.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) return fd;
  }
  return -1;
}

std::string errno_text(int err, const char* what) { return std::string(what) + ": " + std::strerror(err); }

}  // namespace

void prepare_dsn_spool(const std::filesystem::path& spool) {
  std::error_code ec;
  std::filesystem::create_directories(spool, ec);
  if (ec) throw std::runtime_error("dsn.spool " + spool.string() + ": " + ec.message());
  if (!std::filesystem::is_directory(spool))
    throw std::runtime_error("dsn.spool " + spool.string() + " is not a directory");
  ::chmod(spool.c_str(), 0700);  // reports hold message headers: the daemon's only
}

std::optional<std::filesystem::path> spool_success_dsn(const std::filesystem::path& spool,
                                                       const Envelope& envelope,
                                                       const std::vector<Outcome>& outcomes,
                                                       std::string& error) {
  const std::vector<std::size_t> which = success_dsn_recipients(envelope, outcomes);
  if (which.empty()) return std::nullopt;
  const DsnReport report = success_dsn(success_dsn_input(envelope, which));

  fs::Fd dir(::open(spool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) {
    error = errno_text(errno, ("open " + spool.string()).c_str());
    return std::nullopt;
  }
  const std::string base = next_unique_name(sanitize_maildir_host(envelope.hostname)).base();
  const std::string tmp_name = "." + base + ".tmp", final_name = base + kDsnSuffix;
  std::string created;
  fs::Fd out;
  if (int err = fs::create_exclusive(
          dir.get(), [&] { return tmp_name; }, 1, created, out)) {
    error = errno_text(err, "create");
    return std::nullopt;
  }
  auto fail = [&](int err, const char* what) {
    error = errno_text(err, what);
    out.close();
    ::unlinkat(dir.get(), tmp_name.c_str(), 0);
    return std::nullopt;
  };

  // First line: where the report goes (the sender reads it back); the report follows.
  if (int err = fs::write_all(out.get(), envelope.reverse_path + "\n")) return fail(err, "write");
  fs::Fd copy(open_delivered_copy(outcomes, which));
  if (!copy.valid()) {
    if (int err = fs::write_all(out.get(), report.head_without_content)) return fail(err, "write");
  } else if (report.full) {
    if (int err = fs::write_all(out.get(), report.head)) return fail(err, "write");
    if (int err = fs::copy_file(copy.get(), out.get())) return fail(err, "copy");
  } else {
    std::string head(kMaxReturnedHeaders, '\0');
    const ssize_t n = ::pread(copy.get(), head.data(), head.size(), 0);
    if (n < 0) return fail(errno, "read");
    head.resize(static_cast<std::size_t>(n));
    if (int err = fs::write_all(out.get(), report.head)) return fail(err, "write");
    if (int err = fs::write_all(out.get(), header_block(head))) return fail(err, "write");
  }
  if (int err = fs::write_all(out.get(), report.tail)) return fail(err, "write");
  // Durable before it counts as queued: fsync the file, rename it to its final name, fsync the
  // directory (the Maildir discipline, ARCHITECTURE.md "Durability contract").
  if (int err = fs::fsync_fd(out.get())) return fail(err, "fsync");
  if (int err = out.close()) return fail(err, "close");
  if (::renameat(dir.get(), tmp_name.c_str(), dir.get(), final_name.c_str()) != 0)
    return fail(errno, "rename");
  if (int err = fs::fsync_dir(dir.get())) {
    error = errno_text(err, "fsync spool directory");
    return std::nullopt;
  }
  return spool / final_name;
}

std::optional<SpooledDsn> read_spooled_dsn_header(const std::filesystem::path& file) {
  fs::Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::nullopt;
  char buf[1024];
  const ssize_t n = ::pread(fd.get(), buf, sizeof buf, 0);
  if (n <= 0) return std::nullopt;
  const std::string_view s(buf, static_cast<std::size_t>(n));
  const std::size_t nl = s.find('\n');
  if (nl == std::string_view::npos || nl == 0) return std::nullopt;
  return SpooledDsn{std::string(s.substr(0, nl)), nl + 1};
}

}  // namespace mailslot::delivery
