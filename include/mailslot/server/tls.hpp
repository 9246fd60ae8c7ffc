// TLS for LMTP (issue #5): the server context built from [tls], and the connection's byte stream
// that is plain or TLS (RFC 3207 STARTTLS upgrades it in place; implicit TLS starts with it).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl.hpp>

#include "mailslot/config/config.hpp"
#include "mailslot/server/asio.hpp"

namespace mailslot::server {

namespace ssl = asio::ssl;

// Builds the server context: certificate (+ chain), key checked against it, TLS 1.2 minimum,
// modern ciphers, no compression or renegotiation. Throws std::runtime_error naming the file
// and OpenSSL's reason (a reload with a bad certificate is refused whole).
std::shared_ptr<ssl::context> make_tls_context(const config::Tls& t);

// "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs.
std::string tls_description(const SSL* ssl);

// The bytes of one connection: over the socket itself, or over TLS on that socket. The socket
// stays the connection's (cancel, close, shutdown act on it and so on the TLS stream too).
// Another transport (stdio for --stdio mode) becomes one more alternative here.
class ByteStream {
 public:
  explicit ByteStream(Socket& socket) : socket_(socket) {}

  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec);
  awaitable<std::size_t> write(asio::const_buffer b, error_code& ec);
  // Server-side handshake; from then on reads and writes are encrypted.
  awaitable<void> start_tls(ssl::context& ctx, error_code& ec);
  bool tls_active() const { return tls_ != nullptr; }
  std::string tls_description() const;

 private:
  Socket& socket_;
  std::unique_ptr<ssl::stream<Socket&>> tls_;
};

}  // namespace mailslot::server
