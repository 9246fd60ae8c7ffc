// lmtp::Session: input framing, the DATA phase, answers to requests and the life cycle.
// The commands themselves live in session_commands.cpp.
#include "mailslot/lmtp/session.hpp"

#include <algorithm>
#include <utility>

namespace mailslot::lmtp {

namespace {

// Buffers larger than this are given back when they empty, so an idle session stays small
// (ARCHITECTURE.md: well under 64 KiB per idle session).
constexpr std::size_t kKeepCapacity = 16 * 1024;

void release_if_large(std::string& s) {
  if (s.empty() && s.capacity() > kKeepCapacity) std::string().swap(s);
}

bool is_2xx(const Reply& r) { return r.code >= 200 && r.code < 300; }

}  // namespace

Session::Session(SessionOptions options) : opt_(std::move(options)), decoder_(opt_.limits.max_data_line) {
  // RFC 2033 §4 / RFC 5321 §4.3.1: the greeting; RFC 2034 §3: no enhanced code on it.
  reply({220, "", opt_.hostname + " LMTP mailslot ready"});
}

void Session::receive(std::string_view bytes) {
  if (state_ == State::closed || eof_ || bytes.empty()) return;
  in_.append(bytes);
  process();
}

void Session::receive_eof() {
  if (state_ == State::closed || eof_) return;
  eof_ = true;
  process();
}

void Session::reply(const Reply& r) {
  r.render(out_);
  if (r.code >= 500 && r.code <= 504) ++errors_;  // syntax and sequence errors (Limits::max_errors)
}

// Issue #5: a client that keeps sending bad commands is cut off, like Postfix's
// smtpd_hard_error_limit; checked between commands, so every reply already given stands.
bool Session::cut_off_after_errors() {
  if (opt_.limits.max_errors == 0 || errors_ < opt_.limits.max_errors || state_ == State::closed ||
      state_ == State::data || state_ == State::bdat) {
    return false;
  }
  close_with({421, "4.7.0", opt_.hostname + " Too many errors, closing connection"});
  return true;
}

// Runs the input through the state machine until it is exhausted, a request is pending or the
// session closed. RFC 2920 §3.1: pipelined commands are answered in order, each only once decided.
void Session::process() {
  while (!has_request() && state_ != State::closed) {
    // Draining: what is in progress (a message in DATA) finishes; no new command is taken, even
    // one already pipelined behind the final ".".
    if (draining_ && state_ != State::data && state_ != State::bdat) {
      shutdown();
      break;
    }
    if (cut_off_after_errors()) break;
    if (state_ == State::data) {
      process_data();
      if (!has_request()) break;  // input exhausted inside the message
      continue;
    }
    if (state_ == State::bdat) {  // session_chunking.cpp
      process_chunk();
      if (!has_request() && state_ == State::bdat) break;  // input exhausted inside the chunk
      continue;
    }
    const std::string_view pending(in_.data() + in_pos_, in_.size() - in_pos_);
    const std::size_t lf = pending.find('\n');
    if (discarding_line_) {  // the rest of an overlong line, already answered
      if (lf == std::string_view::npos) {
        in_pos_ = in_.size();
        break;
      }
      in_pos_ += lf + 1;
      discarding_line_ = false;
      continue;
    }
    // RFC 5321 §4.5.3.1.4: a command line is at most max_command_line octets with its CRLF.
    // Answer as soon as the limit is certain and drop the bytes, so a client that never sends
    // LF cannot grow in_ past the limit; the same reply comes whatever the packet boundaries.
    const std::size_t max_line = opt_.limits.max_command_line;
    if (lf == std::string_view::npos) {
      if (!pending.empty() && pending.size() >= max_line) {
        reply({500, "5.5.2", "Line too long"});
        discarding_line_ = true;
        in_pos_ = in_.size();
      }
      break;
    }
    std::string_view line = pending.substr(0, lf);
    in_pos_ += lf + 1;
    if (lf + 1 > max_line) {
      reply({500, "5.5.2", "Line too long"});
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // bare LF is accepted too
    if (auth_exchange_) {  // RFC 4954 §4: a response to a 334 challenge, not a command
      process_auth_response(line);
      continue;
    }
    process_command_line(line);
  }

  if (!has_request()) cut_off_after_errors();
  if (eof_ && !has_request() && state_ != State::closed) {
    // The client is gone: nobody to answer. An incomplete last line is dropped; a message in
    // progress never saw its terminator and must not be delivered.
    state_ = State::closed;
    if (message_open_) request_ = DiscardMessage{};
  }

  // Compact: drop the processed prefix once it is at least as large as what remains, so the
  // copy is paid for by the bytes already consumed (amortised linear) and in_ never holds more
  // than twice the input not yet processable.
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
    release_if_large(in_);
  } else if (in_pos_ > 0 && in_pos_ >= in_.size() - in_pos_) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
}

// DATA phase: decode into body_, hand it out in chunks of limits.body_chunk.
void Session::process_data() {
  const std::size_t chunk = std::max<std::size_t>(opt_.limits.body_chunk, 1);
  while (in_pos_ < in_.size()) {
    // Feed no more than fits in the chunk, so body_ (and memory) stays bounded whatever the
    // size of the input buffer.
    const std::size_t room = body_.size() < chunk ? chunk - body_.size() : 1;
    const std::string_view piece(in_.data() + in_pos_, std::min(room, in_.size() - in_pos_));
    const std::size_t before = body_.size();
    const DataDecoder::Result r = decoder_.feed(piece, body_);
    in_pos_ += r.consumed;
    txn_.message_size += body_.size() - before;

    if (!data_failure_) {
      if (decoder_.line_too_long()) {
        // RFC 5321 §4.5.3.1.6 text line limit; RFC 3463 5.6.0: other or undefined media error.
        data_failure_ = Reply{554, "5.6.0", "Line too long in message content"};
      } else if (txn_.message_size > opt_.limits.max_message_size) {
        // RFC 1870 §6.3: the message is read to its end, then refused with 552.
        data_failure_ = Reply{552, "5.3.4", "Message size exceeds fixed maximum message size"};
      }
    }
    if (data_failure_) body_.clear();  // keep reading to the terminator, store nothing more

    if (r.done) {
      data_done_ = true;
      if (!body_.empty()) {
        request_ = AppendBody{body_};
        return;
      }
      finish_data();
      return;
    }
    if (body_.size() >= chunk) {
      request_ = AppendBody{body_};
      return;
    }
  }
}

// The terminator arrived and every byte was appended (or the message is refused).
void Session::finish_data() {
  if (data_failure_ && !message_open_) {
    // A BDAT message whose spool never opened (too big from its first chunk, open failed):
    // nothing to discard; RFC 2033 §4.2: the refusal once per accepted recipient.
    for (std::size_t i = 0; i < txn_.recipients.size(); ++i) reply(*data_failure_);
    reset_transaction();
  } else if (data_failure_) {
    request_ = DiscardMessage{};
  } else {
    request_ = CommitMessage{};
  }
}

void Session::reset_transaction() {
  txn_ = Transaction{};
  xforward_ = ForwardedClient{};  // XFORWARD_README: the attributes last one transaction
  body_.clear();
  release_if_large(body_);
  data_failure_.reset();
  data_done_ = false;
  decoder_.reset();
  chunking_ = false;
  chunk_left_ = 0;
  chunk_last_ = false;
  if (state_ == State::mail || state_ == State::data || state_ == State::bdat) state_ = State::ready;
}

void Session::close_with(const Reply& r) {
  if (state_ == State::closed) return;
  reply(r);
  state_ = State::closed;
  in_.clear();
  in_pos_ = 0;
  release_if_large(in_);
  discarding_line_ = false;
  // A pending request is finished by the owner first; its answer then asks for the discard.
  if (!has_request() && message_open_) request_ = DiscardMessage{};
}

// After an answer: when the session closed while the request was with the owner (timeout,
// shutdown), nothing more is said; an open spool still has to go.
bool Session::closed_after_answer() {
  if (state_ != State::closed) return false;
  if (message_open_) request_ = DiscardMessage{};
  return true;
}

void Session::recipient_checked(RecipientVerdict verdict) {
  auto* check = std::get_if<CheckRecipient>(&request_);
  if (check == nullptr) return;
  CheckRecipient req = std::move(*check);
  request_ = std::monostate{};
  if (closed_after_answer()) return;
  reply(verdict.reply);
  // Only a 2xx accepts the recipient (RFC 5321 §4.3.2: RCPT has no 3xx reply).
  if (is_2xx(verdict.reply)) {
    txn_.recipients.push_back(Recipient{std::move(req.forward_path), std::move(req.params),
                                        std::move(verdict.resolved), pending_notify_, std::move(pending_orcpt_),
                                        req.ignore_quota});
  }
  pending_notify_ = 0;
  pending_orcpt_.reset();
  process();
}

void Session::message_opened(std::optional<Reply> failure) {
  if (!std::holds_alternative<OpenMessage>(request_)) return;
  request_ = std::monostate{};
  if (!failure) message_open_ = true;
  if (closed_after_answer()) return;
  if (chunking_) {  // the first BDAT: no 354, its octets follow (session_chunking.cpp)
    if (failure) data_failure_ = std::move(failure);
    process();
    return;
  }
  if (failure) {
    reply(*failure);
    reset_transaction();
    process();
    return;
  }
  // RFC 5321 §4.3.2 / RFC 2034 §3: 354 carries no enhanced code.
  reply({354, "", "Start mail input; end with <CRLF>.<CRLF>"});
  state_ = State::data;
  decoder_.reset();
  body_.clear();
  data_failure_.reset();
  data_done_ = false;
  process();
}

void Session::body_appended(std::optional<Reply> failure) {
  if (!std::holds_alternative<AppendBody>(request_)) return;
  request_ = std::monostate{};
  body_.clear();
  if (failure && !data_failure_) data_failure_ = std::move(*failure);
  if (closed_after_answer()) return;
  if (data_done_) {
    finish_data();
    if (!has_request()) process();
    return;
  }
  process();
}

void Session::message_committed(std::vector<Reply> per_recipient) {
  if (!std::holds_alternative<CommitMessage>(request_)) return;
  request_ = std::monostate{};
  message_open_ = false;
  if (closed_after_answer()) return;
  // RFC 2033 §4.2: one reply per accepted RCPT, in RCPT order, never more or fewer. A missing
  // result is an owner bug; the safe answer for it is "try again later".
  bool any_delivered = false;
  for (std::size_t i = 0; i < txn_.recipients.size(); ++i) {
    const Reply r =
        i < per_recipient.size() ? per_recipient[i] : Reply{451, "4.3.0", "Temporary internal error"};
    reply(r);
    any_delivered = any_delivered || is_2xx(r);
  }
  if (any_delivered) ++messages_committed_;
  reset_transaction();
  process();
}

void Session::message_discarded() {
  if (!std::holds_alternative<DiscardMessage>(request_)) return;
  request_ = std::monostate{};
  message_open_ = false;
  if (state_ == State::closed) return;  // discarded because the client left or timed out
  if (discard_silently_) {              // RSET or LHLO already answered (reset_with_discard)
    discard_silently_ = false;
    process();
    return;
  }
  // RFC 2033 §4.2: the refusal is given once per accepted recipient.
  const Reply failure = data_failure_.value_or(Reply{451, "4.3.0", "Temporary internal error"});
  for (std::size_t i = 0; i < txn_.recipients.size(); ++i) reply(failure);
  reset_transaction();
  process();
}

void Session::timeout() {
  // RFC 5321 §4.5.3.2: the server may close after a timeout; 421 announces it (§3.8).
  close_with({421, "4.4.2", opt_.hostname + " Timeout, closing connection"});
}

void Session::drain() {
  if (draining_) return;
  draining_ = true;
  process();
}

void Session::shutdown() {
  // RFC 5321 §3.8: 421 when the service is shutting down.
  close_with({421, "4.3.2", opt_.hostname + " Service shutting down"});
}

}  // namespace mailslot::lmtp
