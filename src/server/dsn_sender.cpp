// Success-DSN submission from the spool (dsn_sender.hpp): one thread, one report at a time.
#include "mailslot/server/dsn_sender.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "mailslot/delivery/dsn_spool.hpp"
#include "mailslot/delivery/fs.hpp"
#include "mailslot/server/log_format.hpp"

extern char** environ;

namespace mailslot::server {
namespace {

using namespace std::chrono_literals;
using delivery::fs::Fd;

// One submission may take this long (a command that hangs is killed, a silent MTA dropped).
constexpr auto kSubmitTimeout = 120s;
// Temporary files of a write that died half-way (crash between create and rename).
constexpr auto kStaleTemporary = 1h;

std::string first_line(std::string s) {
  s.erase(std::find_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }), s.end());
  if (s.size() > 300) s.resize(300);
  return s;
}

// --- a minimal SMTP client (RFC 5321) for the local MTA on loopback ---------------------------

class SmtpClient {
 public:
  explicit SmtpClient(int fd) : fd_(fd) {}
  // One reply, multi-line aware; its code (0 on I/O failure). `text` gets the last line.
  int reply(std::string& text) {
    lines_.clear();
    for (int lines = 0; lines < 1000; ++lines) {
      std::string line;
      if (!read_line(line)) return 0;
      text = line;
      if (line.size() < 3) return 0;
      lines_ += (line.size() > 4 ? line.substr(4) : std::string()) + "\n";
      if (line.size() == 3 || line[3] == ' ') return std::atoi(line.substr(0, 3).c_str());
    }
    return 0;
  }
  // MSG_NOSIGNAL: an MTA that hung up is an error here, never a SIGPIPE for the daemon.
  bool send(std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // The text of every line of the last reply (after EHLO: the domain, then one extension a line).
  const std::string& extensions() const { return lines_; }

 private:
  bool read_line(std::string& line) {
    for (;;) {
      if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
        line = buf_.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        buf_.erase(0, nl + 1);
        return true;
      }
      if (buf_.size() > 64 * 1024) return false;
      char tmp[4096];
      const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
  }
  int fd_;
  std::string buf_;
  std::string lines_;
};

bool has_extension(const std::string& ehlo, std::string_view name) {
  std::size_t pos = 0;
  while (pos < ehlo.size()) {
    const std::size_t end = ehlo.find('\n', pos);
    std::string_view line(ehlo.data() + pos, (end == std::string::npos ? ehlo.size() : end) - pos);
    if (line.size() >= name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0 &&
        (line.size() == name.size() || line[name.size()] == ' '))
      return true;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return false;
}

}  // namespace

DsnSender::DsnSender(config::Dsn settings) : settings_(std::move(settings)) {}

DsnSender::~DsnSender() { stop(); }

void DsnSender::start() {
  delivery::prepare_dsn_spool(settings_.spool);
  thread_ = std::thread([this] { run(); });
}

void DsnSender::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DsnSender::wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

bool DsnSender::stopping() {
  std::lock_guard lock(mu_);
  return stop_;
}

void DsnSender::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_ = false;
    lock.unlock();
    Clock::time_point next = Clock::now() + 1h;
    try {
      next = pass();
    } catch (const std::exception& e) {  // a spool that cannot be listed: try again later
      spdlog::error("dsn spool {}: {}", settings_.spool.string(), e.what());
      next = Clock::now() + settings_.retry;
    }
    lock.lock();
    if (stop_ || wake_) continue;
    cv_.wait_until(lock, next, [this] { return stop_ || wake_; });
  }
}

DsnSender::Clock::time_point DsnSender::pass() {
  namespace fsys = std::filesystem;
  const auto now = Clock::now();
  const auto wall_now = fsys::file_time_type::clock::now();
  Clock::time_point next = now + 1h;
  std::map<std::string, Pending> seen;
  for (const auto& entry : fsys::directory_iterator(settings_.spool)) {
    if (stopping()) break;
    const std::string name = entry.path().filename().string();
    std::error_code ec;
    const auto mtime = entry.last_write_time(ec);
    if (ec) continue;
    const auto age = wall_now - mtime;
    if (name.starts_with(".")) {
      if (name.ends_with(".tmp") && age > kStaleTemporary) fsys::remove(entry.path(), ec);
      continue;
    }
    if (!name.ends_with(delivery::kDsnSuffix)) continue;
    Pending p;
    if (auto it = pending_.find(name); it != pending_.end())
      p = it->second;
    else
      p.next_try = now;  // new, or left from before a restart: try it now
    if (p.next_try > now) {
      next = std::min(next, p.next_try);
      seen[name] = p;
      continue;
    }
    const auto header = delivery::read_spooled_dsn_header(entry.path());
    const std::string to = header ? header->recipient : std::string();
    // RFC 3461 §6.2 leaves the limit to the server; past dsn.max_age the report is given up loudly.
    if (age > settings_.max_age) {
      log_event(spdlog::level::err,
                {{"dsn_report", "expired"},
                 {"to", "<" + to + ">"},
                 {"file", name},
                 {"attempts", std::to_string(p.attempts), LogField::Kind::number},
                 {"reason", "not submitted within dsn.max_age; report removed", LogField::Kind::quoted}});
      fsys::remove(entry.path(), ec);
      continue;
    }
    const std::string why = submit(entry.path());
    ++p.attempts;
    if (why.empty()) {
      fsys::remove(entry.path(), ec);
      log_event(spdlog::level::info, {{"dsn_report", "sent"},
                                      {"to", "<" + to + ">"},
                                      {"file", name},
                                      {"via", method()},
                                      {"attempts", std::to_string(p.attempts), LogField::Kind::number}});
      continue;
    }
    // Exponential back-off: retry, 2×retry, 4×retry, ... up to retry_max.
    auto delay = settings_.retry;
    for (unsigned i = 1; i < p.attempts && delay < settings_.retry_max; ++i) delay *= 2;
    delay = std::min(delay, settings_.retry_max);
    p.next_try = Clock::now() + delay;
    next = std::min(next, p.next_try);
    seen[name] = p;
    log_event(spdlog::level::warn,
              {{"dsn_report", "deferred"},
               {"to", "<" + to + ">"},
               {"file", name},
               {"via", method()},
               {"attempts", std::to_string(p.attempts), LogField::Kind::number},
               {"retry_in", fmt::format("{:.3f}", std::chrono::duration<double>(delay).count()),
                LogField::Kind::number},
               {"reason", why, LogField::Kind::quoted}});
  }
  pending_ = std::move(seen);
  return next;
}

std::string DsnSender::submit(const std::filesystem::path& file) {
  const auto header = delivery::read_spooled_dsn_header(file);
  if (!header) return "cannot read the report";
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::string("open: ") + std::strerror(errno);
  if (::lseek(fd.get(), static_cast<off_t>(header->offset), SEEK_SET) < 0)
    return std::string("lseek: ") + std::strerror(errno);
  return settings_.sendmail.empty() ? submit_smtp(fd.get(), header->recipient)
                                    : submit_sendmail(fd.get(), header->recipient);
}

// The configured command with "--" and the recipient appended, the report on stdin (read from the
// spool file where the report starts), stdout discarded, stderr kept for the log. posix_spawn:
// no fork of a threaded process's memory, and nothing but the three descriptors is inherited.
std::string DsnSender::submit_sendmail(int fd, const std::string& recipient) {
  std::vector<std::string> args = settings_.sendmail;
  args.push_back("--");
  args.push_back(recipient);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  Fd err(::memfd_create("mailslot-dsn-stderr", MFD_CLOEXEC));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fd, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (err.valid()) posix_spawn_file_actions_adddup2(&actions, err.get(), 2);
  // The daemon ignores SIGPIPE; the command gets the default back, as if started from a shell.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return args.front() + ": " + std::strerror(rc);

  int status = 0;
  const auto deadline = Clock::now() + kSubmitTimeout;
  for (;;) {  // bounded by the deadline
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return std::string("waitpid: ") + std::strerror(errno);
    if (Clock::now() >= deadline || stopping()) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return stopping() ? "shutting down" : "timed out";
    }
    std::this_thread::sleep_for(20ms);
  }
  std::string said;
  if (err.valid()) {
    char buf[512];
    const ssize_t n = ::pread(err.get(), buf, sizeof buf, 0);
    if (n > 0) said = ": " + first_line(std::string(buf, static_cast<std::size_t>(n)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status)) return args.front() + " exited " + std::to_string(WEXITSTATUS(status)) + said;
  return args.front() + " killed by signal " + std::to_string(WTERMSIG(status)) + said;
}

// RFC 5321 with the local MTA: EHLO, MAIL FROM:<> (RFC 3461 §6.2: reports have a null reverse-path),
// RCPT TO, DATA with dot-stuffing (§4.5.2), QUIT. Every read and write has a timeout.
std::string DsnSender::submit_smtp(int fd, const std::string& recipient) {
  const bool v6 = settings_.smtp_host.find(':') != std::string::npos;
  Fd sock(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return std::string("socket: ") + std::strerror(errno);
  timeval tv{
      static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(kSubmitTimeout).count() / 2), 0};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc = -1;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(settings_.smtp_port);
    ::inet_pton(AF_INET6, settings_.smtp_host.c_str(), &a.sin6_addr);
    rc = ::connect(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(settings_.smtp_port);
    ::inet_pton(AF_INET, settings_.smtp_host.c_str(), &a.sin_addr);
    rc = ::connect(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) return "connect " + settings_.smtp + ": " + std::strerror(errno);

  SmtpClient c(sock.get());
  std::string text;
  auto step = [&](const std::string& command, int want) -> std::string {
    if (!command.empty() && !c.send(command + "\r\n")) return "write failed";
    const int code = c.reply(text);
    if (code / 100 != want)
      return (command.empty() ? std::string("greeting") : command.substr(0, command.find(':'))) + ": " +
             (code == 0 ? "connection lost" : text);
    return {};
  };
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  if (auto e = step("", 2); !e.empty()) return e;
  if (auto e = step(std::string("EHLO ") + host, 2); !e.empty()) return e;
  std::string mail = "MAIL FROM:<>";
  if (has_extension(c.extensions(), "8BITMIME")) mail += " BODY=8BITMIME";  // the report says 8bit
  const bool utf8 = std::any_of(recipient.begin(), recipient.end(), [](char ch) { return (ch & 0x80) != 0; });
  if (utf8 && has_extension(c.extensions(), "SMTPUTF8")) mail += " SMTPUTF8";
  if (auto e = step(mail, 2); !e.empty()) return e;
  if (auto e = step("RCPT TO:<" + recipient + ">", 2); !e.empty()) return e;
  if (auto e = step("DATA", 3); !e.empty()) return e;

  // The spool file has CRLF line ends; a line starting with '.' gets one more (RFC 5321 §4.5.2).
  std::string out, buf(64 * 1024, '\0');
  bool line_start = true;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("read: ") + std::strerror(errno);
    if (n == 0) break;
    out.clear();
    for (ssize_t i = 0; i < n; ++i) {
      if (line_start && buf[static_cast<std::size_t>(i)] == '.') out += '.';
      out += buf[static_cast<std::size_t>(i)];
      line_start = buf[static_cast<std::size_t>(i)] == '\n';
    }
    if (!c.send(out)) return "write failed";
  }
  if (auto e = step(line_start ? "." : "\r\n.", 2); !e.empty()) return e;
  c.send("QUIT\r\n");
  return {};
}

}  // namespace mailslot::server
