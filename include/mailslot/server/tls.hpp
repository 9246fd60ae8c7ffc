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

// The bytes of one connection: over the socket itself, over TLS on that socket, or (--stdio mode,
// issue #11) over two descriptors: stdin to read, stdout to write (pipes from an MTA, a TTY, or
// one socket twice from inetd). The socket stays the connection's: cancel, close and shutdown act
// on whichever transport is in use.
class ByteStream {
 public:
  explicit ByteStream(Socket& socket);
  ~ByteStream();

  // --stdio mode: from now on read `in_fd` and write `out_fd` (both owned, closed by close()).
  // TLS is never started on them.
  void use_descriptors(int in_fd, int out_fd);

  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec);
  awaitable<std::size_t> write(asio::const_buffer b, error_code& ec);
  // Server-side handshake; from then on reads and writes are encrypted.
  awaitable<void> start_tls(ssl::context& ctx, error_code& ec);
  bool tls_active() const { return tls_ != nullptr; }
  std::string tls_description() const;

  bool is_open() const;
  void cancel();  // pending reads and writes complete with operation_aborted
  void close();   // shutdown and close; the peer sees the end of the stream
  // A best-effort write that never blocks (a last 421 before closing); in clear only.
  void send_now(std::string_view text);

 private:
  struct Descriptors;
  Socket& socket_;
  std::unique_ptr<ssl::stream<Socket&>> tls_;
  std::unique_ptr<Descriptors> fds_;
};

}  // namespace mailslot::server
