// The SASL bridge for AUTH (RFC 4954, issue #5): Cyrus libsasl2 behind lmtp::Authenticate
// requests. libsasl2 may block (sasldb file, saslauthd, LDAP), so step() runs on the disk pool.
#pragma once

#include <string>
#include <vector>

#include "mailslot/config/config.hpp"
#include "mailslot/lmtp/requests.hpp"
#include "mailslot/lmtp/session.hpp"

typedef struct sasl_conn sasl_conn_t;  // <sasl/sasl.h>

namespace mailslot::server {

// Once per process before the first SaslSession, and again on reload with the new [auth]
// settings (sasl_options answer libsasl2's option lookups; mech_list is only read the first time).
// Throws std::runtime_error when libsasl2 cannot start.
void configure_sasl(const config::Auth& auth);

class SaslSession {
 public:
  // service "smtp" (RFC 4954's registered SASL service name; libsasl2 plugins key on it);
  // addresses as "ip;port" for mechanisms that bind to them (empty for UNIX sockets).
  SaslSession(const std::string& hostname, const std::string& local, const std::string& remote);
  ~SaslSession();
  SaslSession(const SaslSession&) = delete;
  SaslSession& operator=(const SaslSession&) = delete;

  bool ok() const { return conn_ != nullptr; }
  // Mechanisms to offer now: over TLS everything libsasl2 has; in clear, none that sends the
  // password as it is (PLAIN, LOGIN: RFC 4954 §4 and §15). Limited to `allowed` when not empty.
  std::vector<std::string> mechanisms(bool tls, const std::vector<std::string>& allowed);
  // One step of the exchange (blocking).
  lmtp::AuthStep step(const lmtp::Authenticate& a);

 private:
  sasl_conn_t* conn_ = nullptr;
  bool tls_ = false;
};

}  // namespace mailslot::server
