// server::Connection: TLS (RFC 3207 STARTTLS and implicit TLS) and AUTH (RFC 4954) through the
// lmtp::Session's StartTls and Authenticate requests (issue #5).
#include <spdlog/spdlog.h>

#include "mailslot/server/connection.hpp"

namespace mailslot::server {
namespace {

using Clock = std::chrono::steady_clock;

lmtp::SessionOptions::TlsPolicy tls_policy(config::Listener::TlsPolicy p) {
  switch (p) {
    case config::Listener::TlsPolicy::offered:
      return lmtp::SessionOptions::TlsPolicy::offered;
    case config::Listener::TlsPolicy::required:
      return lmtp::SessionOptions::TlsPolicy::required;
    case config::Listener::TlsPolicy::off:
      break;
  }
  return lmtp::SessionOptions::TlsPolicy::off;
}

lmtp::SessionOptions::AuthPolicy auth_policy(config::Listener::AuthPolicy p) {
  switch (p) {
    case config::Listener::AuthPolicy::optional:
      return lmtp::SessionOptions::AuthPolicy::optional;
    case config::Listener::AuthPolicy::required:
      return lmtp::SessionOptions::AuthPolicy::required;
    case config::Listener::AuthPolicy::off:
      break;
  }
  return lmtp::SessionOptions::AuthPolicy::off;
}

}  // namespace

lmtp::SessionOptions Connection::with_security(lmtp::SessionOptions o, const Context& ctx,
                                               const config::Listener* settings) {
  if (settings == nullptr) return o;
  // Without a TLS context (no [tls] certificate) nothing TLS can be offered; build_resources
  // refuses such a configuration, this is only the last guard.
  if (ctx.tls) {
    o.tls_active = settings->tls;
    o.starttls = settings->tls ? lmtp::SessionOptions::TlsPolicy::off : tls_policy(settings->starttls);
  }
  o.auth = auth_policy(settings->auth);
  o.max_auth_failures = ctx.config->auth.max_failures;
  return o;
}

awaitable<void> Connection::begin_security() {
  if (implicit_tls_ && !co_await handshake()) {
    // Nothing can be said: the client expects TLS records. The loop sees a closed session.
    peer_gone_ = true;
    session_.receive_eof();
    co_return;
  }
  if (auth_ != config::Listener::AuthPolicy::off) {
    // libsasl2 may read files while listing mechanisms: on the disk pool.
    const bool tls = stream_.tls_active();
    auto mechanisms = co_await ctx_.disk->run([this, tls] {
      sasl_ = std::make_unique<SaslSession>(ctx_.config->hostname, "", "");
      return sasl_->mechanisms(tls, ctx_.config->auth.mechanisms);
    });
    if (mechanisms.empty()) spdlog::warn("session={} AUTH is on but libsasl2 offers no usable mechanism", id_);
    session_.offer_auth_mechanisms(std::move(mechanisms));
  }
}

awaitable<bool> Connection::handshake() {
  // The handshake has its own deadline: a client that connects and says nothing ties up
  // nothing for longer than tls.handshake_timeout.
  set_deadline(ctx_.config->tls.handshake_timeout);
  error_code ec;
  co_await stream_.start_tls(*ctx_.tls, ec);
  io_pending_ = false;
  if (ec) {
    // A failed handshake costs a log line (and a counter), nothing else.
    ctx_.metrics->tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("session={} client={} TLS handshake failed: {}", id_, client_,
                 timed_out_ ? std::string("timeout") : ec.message());
    co_return false;
  }
  ctx_.metrics->tls_handshakes_total.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("session={} client={} TLS established: {}", id_, client_, stream_.tls_description());
  co_return true;
}

awaitable<void> Connection::start_tls() {
  co_await flush();  // "220 2.0.0 Ready to start TLS" goes out in clear first (RFC 3207 §4)
  if (peer_gone_ || !stream_.is_open() || !co_await handshake()) {
    peer_gone_ = true;
    session_.tls_failed();
    co_return;
  }
  std::vector<std::string> mechanisms;
  if (sasl_) {
    // A new SASL connection: RFC 3207 §4.2, nothing from before TLS is kept.
    mechanisms = co_await ctx_.disk->run([this] {
      sasl_ = std::make_unique<SaslSession>(ctx_.config->hostname, "", "");
      return sasl_->mechanisms(true, ctx_.config->auth.mechanisms);
    });
  }
  session_.tls_started(std::move(mechanisms));
}

awaitable<void> Connection::authenticate(const lmtp::Authenticate& request) {
  const lmtp::Authenticate a = request;  // the answer replaces the session's request
  lmtp::AuthStep step;
  if (!sasl_ || !sasl_->ok()) {
    step = {lmtp::AuthStep::Kind::failure, "", lmtp::Reply{454, "4.7.0", "Temporary authentication failure"}, ""};
  } else {
    // libsasl2 may block (sasldb, saslauthd, LDAP): never on the event loop.
    SaslSession* sasl = sasl_.get();
    step = co_await ctx_.disk->run([sasl, &a] { return sasl->step(a); });
  }
  if (step.kind == lmtp::AuthStep::Kind::success) {
    spdlog::info("session={} client={} authenticated user={} mechanism={}", id_, client_, step.user, a.mechanism);
  } else if (step.kind == lmtp::AuthStep::Kind::failure) {
    ctx_.metrics->auth_failures_total.fetch_add(1, std::memory_order_relaxed);
    const unsigned failures = session_.auth_failures() + 1;
    spdlog::warn("session={} client={} authentication failed mechanism={} code={} {} failures={}", id_, client_,
                 a.mechanism, step.reply.code, step.reply.enhanced, failures);
    // Password guessing gets slower with every failure (and the session closes after
    // auth.max_failures): the delay grows with the count.
    asio::steady_timer pause(socket_.get_executor(), ctx_.config->auth.failure_delay * failures);
    error_code ignored;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  session_.auth_stepped(std::move(step));
}

}  // namespace mailslot::server
