// TLS context and the connection's byte stream (issue #5).
#include "mailslot/server/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

namespace mailslot::server {
namespace {

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only. TLS 1.3 suites are
// OpenSSL's defaults (all modern).
constexpr const char* kModernCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("tls: " + what + ": " + openssl_reason()); }

void add_chain(SSL_CTX* ctx, const std::filesystem::path& chain) {
  std::FILE* f = std::fopen(chain.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("tls.chain " + chain.string() + ": cannot open");
  int added = 0;
  while (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
    // add0: the context owns the certificate from here on.
    if (SSL_CTX_add0_chain_cert(ctx, cert) != 1) {
      X509_free(cert);
      std::fclose(f);
      fail("tls.chain " + chain.string());
    }
    ++added;
  }
  std::fclose(f);
  ERR_clear_error();  // the end of the file is reported as a PEM "no start line" error
  if (added == 0) throw std::runtime_error("tls.chain " + chain.string() + ": no PEM certificate in it");
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_context(const config::Tls& t) {
  if (t.cert.empty() || t.key.empty()) throw std::runtime_error("tls: a listener uses TLS but tls.cert and tls.key are not set");
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  // TLS 1.2 minimum (RFC 8996 deprecates 1.0 and 1.1); no compression (CRIME), no client
  // renegotiation, server's cipher order.
  if (SSL_CTX_set_min_proto_version(native, t.min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION) != 1) {
    fail("tls.min_version");
  }
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, t.ciphers.empty() ? kModernCiphers : t.ciphers.c_str()) != 1) fail("tls.ciphers");
  if (SSL_CTX_use_certificate_chain_file(native, t.cert.c_str()) != 1) fail("tls.cert " + t.cert.string());
  if (!t.chain.empty()) add_chain(native, t.chain);
  if (SSL_CTX_use_PrivateKey_file(native, t.key.c_str(), SSL_FILETYPE_PEM) != 1) fail("tls.key " + t.key.string());
  if (SSL_CTX_check_private_key(native) != 1) fail("tls.key " + t.key.string() + " does not match tls.cert");
  // No session cache shared across reloads or processes: each handshake stands alone.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(native, 0);
  return ctx;
}

std::string tls_description(const SSL* ssl) {
  if (ssl == nullptr) return "";
  return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
}

// --stdio mode (issue #11): stdin and stdout as two stream descriptors. Asio puts each in
// non-blocking mode and waits for readiness through the reactor; a regular file (stdin redirected
// from a file) is not pollable, and Asio reads it directly (it never blocks).
struct ByteStream::Descriptors {
  asio::posix::stream_descriptor in;
  asio::posix::stream_descriptor out;
  Descriptors(const Socket::executor_type& ex, int in_fd, int out_fd) : in(ex, in_fd), out(ex, out_fd) {}
};

ByteStream::ByteStream(Socket& socket) : socket_(socket) {}
ByteStream::~ByteStream() = default;

void ByteStream::use_descriptors(int in_fd, int out_fd) {
  fds_ = std::make_unique<Descriptors>(socket_.get_executor(), in_fd, out_fd);
}

awaitable<std::size_t> ByteStream::read_some(asio::mutable_buffer b, error_code& ec) {
  if (fds_) co_return co_await fds_->in.async_read_some(b, asio::redirect_error(asio::use_awaitable, ec));
  if (tls_) co_return co_await tls_->async_read_some(b, asio::redirect_error(asio::use_awaitable, ec));
  co_return co_await socket_.async_read_some(b, asio::redirect_error(asio::use_awaitable, ec));
}

awaitable<std::size_t> ByteStream::write(asio::const_buffer b, error_code& ec) {
  if (fds_) co_return co_await asio::async_write(fds_->out, b, asio::redirect_error(asio::use_awaitable, ec));
  if (tls_) co_return co_await asio::async_write(*tls_, b, asio::redirect_error(asio::use_awaitable, ec));
  co_return co_await asio::async_write(socket_, b, asio::redirect_error(asio::use_awaitable, ec));
}

awaitable<void> ByteStream::start_tls(ssl::context& ctx, error_code& ec) {
  if (fds_) {  // never offered in --stdio mode; the last guard
    ec = asio::error::operation_not_supported;
    co_return;
  }
  tls_ = std::make_unique<ssl::stream<Socket&>>(socket_, ctx);
  co_await tls_->async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
}

std::string ByteStream::tls_description() const {
  return tls_ ? server::tls_description(const_cast<ssl::stream<Socket&>&>(*tls_).native_handle()) : "";
}

bool ByteStream::is_open() const {
  if (fds_) return fds_->in.is_open() && fds_->out.is_open();
  return socket_.is_open();
}

void ByteStream::cancel() {
  error_code ignored;
  if (fds_) {
    fds_->in.cancel(ignored);
    fds_->out.cancel(ignored);
    return;
  }
  socket_.cancel(ignored);
}

void ByteStream::close() {
  error_code ignored;
  if (fds_) {
    fds_->in.close(ignored);
    fds_->out.close(ignored);
    return;
  }
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void ByteStream::send_now(std::string_view text) {
  if (tls_ || !is_open()) return;  // text inside TLS would be garbage
  if (fds_) {
    error_code ignored;
    fds_->out.non_blocking(true, ignored);
    [[maybe_unused]] auto n = ::write(fds_->out.native_handle(), text.data(), text.size());
    return;
  }
  [[maybe_unused]] auto n = ::send(socket_.native_handle(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace mailslot::server
