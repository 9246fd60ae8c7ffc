// lmtp::Session: BDAT (RFC 3030 CHUNKING). Message content arrives in chunks of a declared size;
// the octets of every chunk are read, whatever its fate, so the command stream stays in step.
//
// Replies, for a client that pipelines: one per BDAT command, except that a successful-or-failed
// BDAT ... LAST of a transaction with accepted recipients gets one reply per recipient instead
// (RFC 2033 §4.2 applied to the chunk that ends the message, as Dovecot does). A chunk that fails
// (too big, the spool could not be opened or written) fails the transaction: it and every later
// chunk is answered with the failure, LAST with that failure per recipient, and only RSET, LHLO or
// LAST end it (RFC 3030 §2: chunks already in the pipeline are read and discarded).
#include <algorithm>
#include <string>

#include "mailslot/lmtp/command.hpp"
#include "mailslot/lmtp/session.hpp"

namespace mailslot::lmtp {

void Session::on_bdat(const Command& c) {
  if (!opt_.chunking) {
    on_not_implemented(c);
    return;
  }
  if (c.error != SyntaxError::none) {
    // Without a chunk size the octets that follow cannot be told from commands: nothing said
    // after this could be trusted, so the session ends (RFC 3030 §2 gives no recovery either).
    close_with({501, "5.5.4", "Syntax: BDAT chunk-size [LAST]; closing connection"});
    return;
  }
  if (state_ != State::mail) {
    refuse_chunk(c, {503, "5.5.1", state_ == State::greeted ? "Send LHLO first" : "Need MAIL before BDAT"});
    return;
  }
  // RFC 2033 §4.2 (for DATA, applied to BDAT): no accepted recipient, no message.
  if (txn_.recipients.empty()) {
    refuse_chunk(c, {503, "5.5.1", "No valid recipients"});
    return;
  }
  chunk_size_ = c.chunk_size;
  chunk_left_ = c.chunk_size;
  chunk_last_ = c.last;
  state_ = State::bdat;
  // RFC 1870 §6.3 / RFC 3030 §2: the fixed maximum applies to the sum of the chunks. Decided
  // from the declared size, before any octet is stored; message_size never exceeds the limit.
  if (!data_failure_ && c.chunk_size > opt_.limits.max_message_size - txn_.message_size) {
    data_failure_ = Reply{552, "5.3.4", "Message size exceeds fixed maximum message size"};
  }
  if (!chunking_) {
    chunking_ = true;
    if (!data_failure_) request_ = OpenMessage{};  // no 354: the octets follow at once
  }
}

void Session::refuse_chunk(const Command& c, Reply r) {
  chunk_refusal_ = std::move(r);
  chunk_return_ = state_;
  chunk_size_ = c.chunk_size;
  chunk_left_ = c.chunk_size;
  chunk_last_ = c.last;
  state_ = State::bdat;
}

// Reads the current chunk's octets: into body_ (handed out in AppendBody pieces of at most
// limits.body_chunk) or, for a refused or failed chunk, nowhere. No line rules apply: a chunk is
// octets (RFC 3030 §2, §3), so no dot-stuffing and no line-length limit.
void Session::process_chunk() {
  const std::size_t chunk = std::max<std::size_t>(opt_.limits.body_chunk, 1);
  while (chunk_left_ > 0 && in_pos_ < in_.size()) {
    const std::size_t avail = static_cast<std::size_t>(std::min<std::uint64_t>(in_.size() - in_pos_, chunk_left_));
    if (chunk_refusal_ || data_failure_) {
      in_pos_ += avail;
      chunk_left_ -= avail;
      continue;
    }
    const std::size_t take = std::min(avail, chunk - std::min(body_.size(), chunk));
    body_.append(in_, in_pos_, take);
    in_pos_ += take;
    chunk_left_ -= take;
    txn_.message_size += take;
    if (body_.size() >= chunk) {
      request_ = AppendBody{body_};
      return;
    }
  }
  if (chunk_left_ == 0) finish_chunk();
}

// Every octet of the chunk was read (and, but for what body_ still holds, appended).
void Session::finish_chunk() {
  if (chunk_refusal_) {
    const Reply r = std::move(*chunk_refusal_);
    chunk_refusal_.reset();
    state_ = chunk_return_;
    reply(r);
    return;
  }
  if (chunk_last_) {
    data_done_ = true;
    if (!body_.empty() && !data_failure_) {
      request_ = AppendBody{body_};
      return;
    }
    finish_data();
    return;
  }
  state_ = State::mail;
  if (data_failure_) {
    body_.clear();
    reply(*data_failure_);
    return;
  }
  // What body_ still holds is appended with the next chunk (fewer, larger appends); a failure
  // there is reported on a later chunk or on LAST, and nothing is committed before LAST.
  reply({250, "2.0.0", std::to_string(chunk_size_) + " octets received"});
}

// RSET and LHLO: the transaction ends at once. An open spool (a BDAT message between chunks) is
// discarded without a reply of its own: the command's reply is the only one.
void Session::reset_with_discard() {
  const bool open = message_open_ && !has_request();
  reset_transaction();
  if (open) {
    request_ = DiscardMessage{};
    discard_silently_ = true;
  }
}

}  // namespace mailslot::lmtp
