// libFuzzer target: bytes → lmtp::Session, answered by a deterministic owner (docs/testing.md).
//
// Input layout (short inputs are padded with zeros):
//   byte 0      limits: small command line / data line / message / recipient / body-chunk limits
//   bytes 1..4  chunk sizes, cycled: the client bytes reach receive() in pieces of 1 + b bytes
//   bytes 5..8  policy seed; 0 = every recipient exists and every open, append and commit succeeds
//   byte 9      extensions: bit 0 CHUNKING off, bit 1 SMTPUTF8 off, bit 2 DSN on (0 = defaults)
//   the rest    what the client sends; receive_eof() follows
//
// Invariants (abort when broken), checked after every call into the session:
//   - output is whole replies: lines "DDD[ -]text\r\n" (D a digit, first 2..5), no CR or LF inside
//     a line, every line of a multi-line reply carries the same code, the last one with ' ';
//   - never a reply before its command: complete replies ≤ greeting + command lines received
//     (a started line counts) + one per accepted recipient at each end of data + owner events
//     (timeout, shutdown, drain);
//     (a BDAT ... LAST that fails before any spool opened answers each recipient itself: the
//     transaction's recipients, when it ends outside a commit or discard, widen the budget);
//   - after the final "." (or BDAT LAST), exactly one reply per accepted recipient, in RCPT order: the answer to
//     CommitMessage is followed by the owner's replies (tagged, so nothing else can forge them),
//     the answer to DiscardMessage by one identical 4xx/5xx per recipient;
//   - a RCPT is answered with the owner's verdict;
//   - requests come in a sane order: OpenMessage only without an open spool, AppendBody,
//     CommitMessage and DiscardMessage only with one; CommitMessage only with ≥ 1 recipient and
//     all of the content appended; AppendBody never empty and never much over limits.body_chunk;
//   - buffered_input() ≤ 2 × (max_command_line + chunk);
//   - once closed(), nothing more: no request, no output, whatever is received;
//   - after the input and receive_eof(): closed, and no spool left open.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mailslot/lmtp/session.hpp"

namespace {

using namespace mailslot::lmtp;

[[noreturn]] void violated(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant violated: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) violated(what, detail);
}

// ---- the input ------------------------------------------------------------------------------

constexpr std::size_t kHeader = 10;

struct Input {
  SessionOptions options;
  std::uint8_t chunk_bytes[4] = {};
  std::uint32_t seed = 0;
  std::string_view client;
};

Input split_input(const std::uint8_t* data, std::size_t size) {
  std::uint8_t h[kHeader] = {};
  for (std::size_t i = 0; i < kHeader && i < size; ++i) h[i] = data[i];
  Input in;
  in.options.hostname = "mx.fuzz";
  Limits& l = in.options.limits;
  const std::uint8_t sel = h[0];  // 0 keeps every default
  if (sel & 0x01) l.max_command_line = 64;
  if (sel & 0x02) l.max_data_line = 80;
  if (sel & 0x04) l.max_data_line = 0;  // unlimited
  if (sel & 0x08) l.max_message_size = 256;
  if (sel & 0x10) l.max_recipients = 2;
  if (sel & 0x20) l.body_chunk = 1;
  if (sel & 0x40) l.body_chunk = 17;
  if (sel & 0x80) l.max_command_line = 512;
  for (int i = 0; i < 4; ++i) in.chunk_bytes[i] = h[1 + i];
  in.seed =
      std::uint32_t{h[5]} | std::uint32_t{h[6]} << 8 | std::uint32_t{h[7]} << 16 | std::uint32_t{h[8]} << 24;
  in.options.chunking = (h[9] & 0x01) == 0;
  in.options.smtputf8 = (h[9] & 0x02) == 0;
  in.options.dsn = (h[9] & 0x04) != 0;
  in.options.ignorequota = (h[9] & 0x08) != 0;  // issue #11: RCPT ... IGNOREQUOTA accepted
  if (size > kHeader)
    in.client = std::string_view(reinterpret_cast<const char*>(data) + kHeader, size - kHeader);
  return in;
}

// ---- the owner's policy ---------------------------------------------------------------------

// Deterministic decisions from the seed (xorshift32). Seed 0: everything succeeds, no events.
class Policy {
 public:
  explicit Policy(std::uint32_t seed) : state_(seed) {}
  bool all_success() const { return state_ == 0; }
  // A value in [0, n). Under the all-success policy always n - 1, which every table below puts
  // last as the success; `one_in(n)` is the rare outcome (a failure, an event).
  std::uint32_t pick(std::uint32_t n) {
    if (state_ == 0) return n - 1;
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_ % n;
  }
  bool one_in(std::uint32_t n) { return !all_success() && pick(n) == 0; }

 private:
  std::uint32_t state_;
};

// ---- the wire -------------------------------------------------------------------------------

// Splits output written by one session call into reply groups, aborting on anything that is not
// a well-formed RFC 5321 §4.2 reply. A call always writes whole replies.
std::vector<std::string_view> split_replies(std::string_view out) {
  std::vector<std::string_view> groups;
  std::size_t group_start = 0;
  std::size_t pos = 0;
  std::string_view group_code;
  while (pos < out.size()) {
    const std::size_t eol = out.find("\r\n", pos);
    check(eol != std::string_view::npos, "output ends mid-line", out);
    const std::string_view line = out.substr(pos, eol - pos);
    check(line.size() >= 3, "reply line shorter than its code", out);
    check(line[0] >= '2' && line[0] <= '5', "reply code does not start with 2..5", out);
    check(line[1] >= '0' && line[1] <= '9' && line[2] >= '0' && line[2] <= '9', "reply code not three digits",
          out);
    check(line.find_first_of("\r\n") == std::string_view::npos, "CR or LF inside a reply line", out);
    const char sep = line.size() == 3 ? ' ' : line[3];
    check(sep == ' ' || sep == '-', "reply code followed by neither ' ' nor '-'", out);
    check(group_code.empty() || group_code == line.substr(0, 3), "code changes inside a multi-line reply",
          out);
    group_code = line.substr(0, 3);
    pos = eol + 2;
    if (sep == ' ') {
      groups.push_back(out.substr(group_start, pos - group_start));
      group_start = pos;
      group_code = {};
    }
  }
  check(group_start == out.size(), "multi-line reply left open", out);
  return groups;
}

// ---- the owner ------------------------------------------------------------------------------

// Starts every reply text the owner writes: a byte no client can get into a reply (paths and
// keywords, the only client text replies echo, are printable ASCII), so the owner's replies are
// told apart from the session's own.
const std::string kOwnerMark = "\x01";

// Answers the session's requests with the policy, the way server::Connection and delivery do,
// and checks every invariant above after each call.
class Owner {
 public:
  explicit Owner(const Input& in) : s_(in.options), limits_(in.options.limits), policy_(in.seed) {
    after_call("constructor");
  }

  void feed(std::string_view chunk) {
    const bool was_closed = s_.closed();
    note_client_bytes(chunk);
    s_.receive(chunk);
    check(s_.buffered_input() <= 2 * (limits_.max_command_line + chunk.size()), "buffered input unbounded");
    const std::string_view out = after_call("receive");
    if (was_closed) check(out.empty() && !s_.has_request(), "closed session answered input");
    pump();
  }

  void eof() {
    s_.receive_eof();
    after_call("receive_eof");
    pump();
    check(s_.closed(), "session still open after EOF and every request answered");
    check(!spool_open_, "spool left open after EOF");
  }

  // Owner decisions between reads: a timer fires, the daemon stops.
  void maybe_event() {
    if (!policy_.one_in(64)) return;
    ++owner_events_;
    switch (policy_.pick(3)) {
      case 0:
        s_.drain();
        break;
      case 1:
        s_.timeout();
        break;
      default:
        s_.shutdown();
        break;
    }
    after_call("event");
  }

 private:
  // Answers requests until none is pending. Now and then an event arrives while one is pending.
  void pump() {
    while (s_.has_request()) {
      maybe_event();
      answer();
    }
  }

  void answer() {
    const Request req = s_.request();  // copy: the answer replaces it
    if (const auto* c = std::get_if<CheckRecipient>(&req)) {
      on_check(*c);
    } else if (std::holds_alternative<OpenMessage>(req)) {
      on_open();
    } else if (const auto* a = std::get_if<AppendBody>(&req)) {
      on_append(*a);
    } else if (std::holds_alternative<CommitMessage>(req)) {
      on_commit();
    } else if (std::holds_alternative<DiscardMessage>(req)) {
      on_discard();
    }
  }

  void on_check(const CheckRecipient&) {
    // The last one is the success (Policy::pick under seed 0); 251 also accepts (any 2xx does).
    static const Reply kVerdicts[] = {
        {550, "5.1.1", ""}, {450, "4.2.1", ""}, {553, "5.1.3", ""}, {251, "2.1.5", ""}, {250, "2.1.5", ""}};
    Reply verdict = kVerdicts[policy_.pick(5)];
    verdict.text = kOwnerMark + "verdict";
    const bool was_closed = s_.state() == Session::State::closed;
    // An accepted recipient joins before anything else this call does (for the reply budget).
    if (!was_closed && verdict.code / 100 == 2) ++last_rcpts_;
    s_.recipient_checked({verdict, nullptr});
    const std::string_view out = after_call("recipient_checked");
    if (!was_closed)
      check(out.substr(0, verdict.wire().size()) == verdict.wire(), "RCPT not answered with the verdict",
            out);
  }

  void on_open() {
    check(!spool_open_, "OpenMessage with a spool already open");
    check(!s_.transaction().recipients.empty(), "OpenMessage without an accepted recipient");
    std::optional<Reply> failure;
    if (policy_.one_in(8)) failure = Reply{451, "4.3.0", kOwnerMark + "open failed"};
    if (!failure) {
      spool_open_ = true;
      appended_ = 0;
      append_failure_.reset();
    }
    s_.message_opened(failure);
    after_call("message_opened");
  }

  void on_append(const AppendBody& a) {
    check(spool_open_, "AppendBody without an open spool");
    check(!a.data.empty(), "empty AppendBody");
    // The chunk may run over by the few bytes the decoder holds back ("\r\n." awaiting a verdict).
    check(a.data.size() <= limits_.body_chunk + 8, "AppendBody much larger than limits.body_chunk");
    appended_ += a.data.size();
    std::optional<Reply> failure;
    if (policy_.one_in(16)) failure = Reply{452, "4.3.1", kOwnerMark + "append failed"};
    if (failure && !append_failure_) append_failure_ = failure;
    s_.body_appended(failure);
    after_call("body_appended");
  }

  void on_commit() {
    check(spool_open_, "CommitMessage without an open spool");
    check(!append_failure_, "CommitMessage after a failed append");
    const Transaction& t = s_.transaction();
    const std::size_t n = t.recipients.size();
    check(n >= 1, "CommitMessage without recipients");
    check(n <= limits_.max_recipients, "more recipients than limits.max_recipients");
    check(appended_ == t.message_size, "appended bytes differ from the transaction's message_size");
    check(t.message_size <= limits_.max_message_size, "oversized message committed");

    // One reply per recipient, tagged with the message and the recipient. Now and then the owner
    // gets it wrong (one too few or too many): the session must still answer each recipient once.
    ++message_;
    std::size_t given = n;
    if (policy_.one_in(32)) given = policy_.pick(2) == 0 ? n - 1 : n + 1;
    static const Reply kResults[] = {{452, "4.2.2", ""}, {552, "5.2.2", ""}, {250, "2.0.0", ""}};
    std::vector<Reply> replies;
    for (std::size_t i = 0; i < given; ++i) {
      replies.push_back(kResults[policy_.pick(3)]);
      replies.back().text = kOwnerMark + "m" + std::to_string(message_) + "r" + std::to_string(i);
    }
    std::string expected;
    for (std::size_t i = 0; i < n; ++i) {
      (i < given ? replies[i] : Reply{451, "4.3.0", "Temporary internal error"}).render(expected);
    }
    const bool was_closed = s_.state() == Session::State::closed;
    const std::size_t pipelined = replies_left_in_input();
    data_end_replies_ += n;
    spool_open_ = false;
    s_.message_committed(std::move(replies));
    const std::string_view out = after_call("message_committed");
    if (was_closed) {
      check(out.empty(), "replies after the session closed");
      return;
    }
    // RFC 2033 §4.2: exactly one reply per accepted recipient, in RCPT order.
    check(out.substr(0, expected.size()) == expected, "commit replies differ from one per recipient", out);
    const std::string tag = kOwnerMark + "m" + std::to_string(message_) + "r";
    std::size_t tagged = 0;
    const std::vector<std::string_view> groups = split_replies(out);
    for (std::string_view g : groups) tagged += g.find(tag) != std::string_view::npos;
    check(tagged == std::min(n, given), "a recipient's commit reply sent twice", out);
    check(groups.size() <= n + pipelined + error_cutoff_reply(out), "more replies after the final '.' than recipients", out);
  }

  void on_discard() {
    check(spool_open_, "DiscardMessage without an open spool");
    const std::size_t n = s_.transaction().recipients.size();
    const bool was_closed = s_.state() == Session::State::closed;
    const std::size_t pipelined = replies_left_in_input();
    if (!was_closed) data_end_replies_ += n;
    spool_open_ = false;
    s_.message_discarded();
    const std::string_view out = after_call("message_discarded");
    if (was_closed) {
      check(out.empty(), "replies after the session closed");
      return;
    }
    // The same refusal once per accepted recipient: the failed append's, or the session's own.
    const std::vector<std::string_view> groups = split_replies(out);
    check(groups.size() >= n, "fewer discard replies than recipients", out);
    check(groups.size() <= n + pipelined + error_cutoff_reply(out), "more replies after the final '.' than recipients", out);
    for (std::size_t i = 0; i < n; ++i) {
      check(groups[i] == groups[0], "discard replies differ between recipients", out);
      check(groups[i][0] == '4' || groups[i][0] == '5', "discard reply not 4xx/5xx", out);
    }
    if (n > 0 && append_failure_)
      check(groups[0] == append_failure_->wire(), "discard reply not the append failure", out);
  }

  // Line accounting for "never a reply before its command": every LF ends a line, and a started
  // line may be answered early (500 5.5.2 when it is already too long).
  void note_client_bytes(std::string_view chunk) {
    client_.append(chunk);
    for (char c : chunk) {
      if (c == '\n') {
        ++lines_ended_;
        line_started_ = false;
      } else {
        line_started_ = true;
      }
    }
  }

  // How many replies the input not yet processed could still earn: the session holds at most the
  // last buffered_input() bytes received; each line in them one reply, a started line one more
  // (500 5.5.2 when too long), and a drain its 421.
  // 1 when `out` ends the session with the Limits::max_errors 421, a reply that answers no command.
  static std::size_t error_cutoff_reply(std::string_view out) {
    return out.find(" Too many errors, closing connection\r\n") != std::string_view::npos ? 1 : 0;
  }

  std::size_t replies_left_in_input() const {
    const std::string_view tail = std::string_view(client_).substr(client_.size() - s_.buffered_input());
    std::size_t n = 0;
    for (char c : tail) n += c == '\n';
    if (!tail.empty() && tail.back() != '\n') ++n;
    return n + (s_.draining() ? 1 : 0);
  }

  // Takes the output of the last call, checks it and every standing invariant, returns it.
  std::string_view after_call(const char* call) {
    last_out_.assign(s_.output());
    s_.consume_output(last_out_.size());
    replies_ += split_replies(last_out_).size();

    // A transaction that ended here other than by a commit or discard answer (RSET, or a BDAT
    // LAST failing with no spool open, which answers each recipient itself) may have earned one
    // reply per recipient.
    const std::size_t rcpts = s_.transaction().recipients.size();
    const std::string_view name(call);
    if (rcpts < last_rcpts_ && name != "message_committed" && name != "message_discarded")
      data_end_replies_ += last_rcpts_;
    last_rcpts_ = rcpts;

    // Limits::max_errors: the session closes with its own 421 before reading the next command,
    // a reply that answers no command (once).
    if (!error_cutoff_ && last_out_.find(" Too many errors, closing connection\r\n") != std::string::npos &&
        (last_out_.rfind("421 4.7.0 ", 0) == 0 || last_out_.find("\r\n421 4.7.0 ") != std::string::npos)) {
      error_cutoff_ = true;
      ++owner_events_;
    }
    const std::size_t allowed =
        1 + lines_ended_ + (line_started_ ? 1 : 0) + data_end_replies_ + owner_events_;
    if (replies_ > allowed) violated("a reply before its command", call);

    if (closed_seen_) {
      check(last_out_.empty(), "output after the session closed", call);
      check(!s_.has_request(), "request after the session closed", call);
    }
    closed_seen_ = s_.closed();
    return last_out_;
  }

  Session s_;
  Limits limits_;
  Policy policy_;

  std::string client_;  // every byte received so far
  std::size_t lines_ended_ = 0;
  bool line_started_ = false;
  std::size_t data_end_replies_ = 0;
  std::size_t owner_events_ = 0;
  bool error_cutoff_ = false;  // the max_errors 421 was seen
  std::size_t replies_ = 0;
  bool closed_seen_ = false;
  std::string last_out_;
  std::size_t last_rcpts_ = 0;

  bool spool_open_ = false;
  std::uint64_t appended_ = 0;
  std::optional<Reply> append_failure_;
  std::uint64_t message_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Input in = split_input(data, size);
  Owner owner(in);
  std::string_view rest = in.client;
  for (std::size_t i = 0; !rest.empty(); ++i) {
    const std::size_t n = std::min<std::size_t>(rest.size(), 1 + in.chunk_bytes[i % 4]);
    owner.feed(rest.substr(0, n));
    rest.remove_prefix(n);
    owner.maybe_event();
  }
  owner.eof();
  return 0;
}
