// Cyrus SASL (libsasl2) behind AUTH (RFC 4954, issue #5).
#include "mailslot/server/sasl.hpp"

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include <algorithm>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace mailslot::server {
namespace {

using Options = std::map<std::string, std::string>;

// Option sets are kept for the life of the process: libsasl2 holds the returned char pointers,
// and a reload must not free what another thread's lookup just returned.
std::mutex g_mu;
std::list<Options> g_all_options;
const Options* g_options = nullptr;
bool g_initialised = false;

int getopt_callback(void*, const char*, const char* option, const char** result, unsigned* len) {
  std::lock_guard lock(g_mu);
  if (g_options == nullptr || option == nullptr) return SASL_FAIL;
  auto it = g_options->find(option);
  if (it == g_options->end()) return SASL_FAIL;  // libsasl2 then reads its own config file
  *result = it->second.c_str();
  if (len != nullptr) *len = static_cast<unsigned>(it->second.size());
  return SASL_OK;
}

int log_callback(void*, int, const char*) { return SASL_OK; }  // failures are logged by the caller

// libsasl2 stores every callback as int (*)(void); void (*)() is the generic function pointer
// a cast may go through without -Wcast-function-type.
using Callback = int (*)();
using Generic = void (*)();
const sasl_callback_t kCallbacks[] = {
    {SASL_CB_GETOPT, reinterpret_cast<Callback>(reinterpret_cast<Generic>(&getopt_callback)), nullptr},
    {SASL_CB_LOG, reinterpret_cast<Callback>(reinterpret_cast<Generic>(&log_callback)), nullptr},
    {SASL_CB_LIST_END, nullptr, nullptr},
};

lmtp::AuthStep failure(int code, const char* enhanced, std::string text) {
  return {lmtp::AuthStep::Kind::failure, "", lmtp::Reply{code, enhanced, std::move(text)}, ""};
}

}  // namespace

void configure_sasl(const config::Auth& auth) {
  {
    std::lock_guard lock(g_mu);
    Options o(auth.sasl_options.begin(), auth.sasl_options.end());
    g_all_options.push_back(std::move(o));
    g_options = &g_all_options.back();
    if (g_initialised) return;
  }
  // "mailslot": libsasl2 reads mailslot.conf from its configuration path for options the
  // config file does not give.
  const int rc = sasl_server_init(kCallbacks, "mailslot");
  if (rc != SASL_OK) throw std::runtime_error(std::string("auth: sasl_server_init: ") + sasl_errstring(rc, nullptr, nullptr));
  std::lock_guard lock(g_mu);
  g_initialised = true;
}

SaslSession::SaslSession(const std::string& hostname, const std::string& local, const std::string& remote) {
  const int rc = sasl_server_new("smtp", hostname.c_str(), nullptr, local.empty() ? nullptr : local.c_str(),
                                 remote.empty() ? nullptr : remote.c_str(), nullptr, 0, &conn_);
  if (rc != SASL_OK) conn_ = nullptr;
}

SaslSession::~SaslSession() {
  if (conn_ != nullptr) sasl_dispose(&conn_);
}

std::vector<std::string> SaslSession::mechanisms(bool tls, const std::vector<std::string>& allowed) {
  std::vector<std::string> out;
  if (conn_ == nullptr) return out;
  tls_ = tls;
  sasl_security_properties_t props{};
  props.max_ssf = 0;  // no SASL security layer: LMTP has none (TLS is the encryption)
  props.maxbufsize = 0;
  // Anonymous logins make no sense for delivery; in clear, no plaintext mechanisms.
  props.security_flags = SASL_SEC_NOANONYMOUS | (tls ? 0 : SASL_SEC_NOPLAINTEXT);
  sasl_setprop(conn_, SASL_SEC_PROPS, &props);
  if (tls) {
    sasl_ssf_t ssf = 128;  // external security of the TLS layer
    sasl_setprop(conn_, SASL_SSF_EXTERNAL, &ssf);
  }
  const char* list = nullptr;
  unsigned len = 0;
  int count = 0;
  if (sasl_listmech(conn_, nullptr, "", " ", "", &list, &len, &count) != SASL_OK || list == nullptr) return out;
  std::istringstream words(std::string(list, len));
  for (std::string m; words >> m;) {
    if (!tls && (m == "PLAIN" || m == "LOGIN")) continue;  // belt and braces: RFC 4954 §15
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), m) == allowed.end()) continue;
    out.push_back(m);
  }
  return out;
}

lmtp::AuthStep SaslSession::step(const lmtp::Authenticate& a) {
  if (conn_ == nullptr) return failure(454, "4.7.0", "Temporary authentication failure");
  // The client's data is base64 (RFC 4954 §4); an empty initial response ("=") is empty data.
  std::string decoded;
  if (a.response && !a.response->empty()) {
    decoded.resize(a.response->size());
    unsigned n = 0;
    if (sasl_decode64(a.response->data(), static_cast<unsigned>(a.response->size()), decoded.data(),
                      static_cast<unsigned>(decoded.size()), &n) != SASL_OK) {
      return failure(501, "5.5.2", "Cannot decode response");
    }
    decoded.resize(n);
  }
  const char* out = nullptr;
  unsigned out_len = 0;
  int rc = 0;
  if (a.start) {
    rc = sasl_server_start(conn_, a.mechanism.c_str(), a.response ? decoded.data() : nullptr,
                           static_cast<unsigned>(decoded.size()), &out, &out_len);
  } else {
    rc = sasl_server_step(conn_, decoded.data(), static_cast<unsigned>(decoded.size()), &out, &out_len);
  }
  if (rc == SASL_CONTINUE) {
    std::string encoded(out_len * 4 / 3 + 8, '\0');
    unsigned n = 0;
    if (sasl_encode64(out, out_len, encoded.data(), static_cast<unsigned>(encoded.size()), &n) != SASL_OK) {
      return failure(454, "4.7.0", "Temporary authentication failure");
    }
    encoded.resize(n);
    return {lmtp::AuthStep::Kind::challenge, std::move(encoded), {}, ""};
  }
  if (rc == SASL_OK) {
    const void* user = nullptr;
    sasl_getprop(conn_, SASL_USERNAME, &user);
    return {lmtp::AuthStep::Kind::success, "", lmtp::Reply{235, "2.7.0", "Authentication successful"},
            user != nullptr ? static_cast<const char*>(user) : ""};
  }
  // RFC 4954 §6: 535 5.7.8 for bad credentials, 454 4.7.0 when the check itself failed (so the
  // client retries rather than bouncing), 534 5.7.9 when the mechanism is too weak here.
  switch (rc) {
    case SASL_BADAUTH:
    case SASL_NOUSER:
    case SASL_NOAUTHZ:
    case SASL_BADPROT:
    case SASL_BADPARAM:
    case SASL_EXPIRED:
    case SASL_DISABLED:
      return failure(535, "5.7.8", "Authentication credentials invalid");
    case SASL_TOOWEAK:
    case SASL_ENCRYPT:
      return failure(534, "5.7.9", "Authentication mechanism is too weak");
    case SASL_NOMECH:
      return failure(504, "5.5.4", "Unrecognized authentication type");
    default:
      break;
  }
  return failure(454, "4.7.0", std::string("Temporary authentication failure"));
}

}  // namespace mailslot::server
