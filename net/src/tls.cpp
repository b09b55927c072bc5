#include "edgefed/net/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <exception>
#include <fstream>
#include <vector>

namespace edgefed::net {
namespace {

namespace ssl = boost::asio::ssl;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct KeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// PEM files are small; anything larger is not a certificate or key we would load.
constexpr std::uintmax_t kMaxPemBytes = 1u << 20;

// File contents that may hold a private key: wiped when dropped.
struct PemText {
  std::string text;
  PemText() = default;
  PemText(const PemText&) = delete;
  PemText(PemText&&) = default;
  ~PemText() { OPENSSL_cleanse(text.data(), text.size()); }
};

std::string describe(const std::filesystem::path& path, std::string_view what) {
  return std::string(what) + " " + path.string();
}

Result<PemText> read_pem_file(const std::filesystem::path& path, std::string_view what) {
  if (path.empty()) return fail(ErrorCode::invalid_argument, std::string(what) + ": no path given");
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return fail(ErrorCode::io_error, describe(path, what) + ": " + ec.message());
  if (size > kMaxPemBytes) return fail(ErrorCode::bad_encoding, describe(path, what) + ": over 1 MiB");
  std::ifstream in;
  in.rdbuf()->pubsetbuf(nullptr, 0);  // unbuffered: no stray copy of a key in the stream
  in.open(path, std::ios::binary);
  PemText pem;
  pem.text.resize(static_cast<std::size_t>(size));
  if (!in || !in.read(pem.text.data(), static_cast<std::streamsize>(size))) {
    return fail(ErrorCode::io_error, describe(path, what) + ": cannot read");
  }
  return pem;
}

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate in a PEM file, in order (leaf first for a chain file).
Result<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& path,
                                               std::string_view what) {
  EDGEFED_ASSIGN_OR_RETURN(PemText pem, read_pem_file(path, what));
  BioPtr bio = memory_bio(pem.text);
  if (!bio) return fail(ErrorCode::crypto_failure, "BIO_new_mem_buf");
  std::vector<X509Ptr> certs;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    certs.push_back(std::move(cert));
  }
  ERR_clear_error();  // the loop always ends on "no start line"
  if (certs.empty()) return fail(ErrorCode::bad_encoding, describe(path, what) + ": no PEM certificate");
  return certs;
}

// Never prompts for a passphrase (OpenSSL's default would read the terminal).
int refuse_password(char*, int, int, void*) { return -1; }

Result<KeyPtr> load_private_key(const std::filesystem::path& path) {
  EDGEFED_ASSIGN_OR_RETURN(PemText pem, read_pem_file(path, "private key"));
  BioPtr bio = memory_bio(pem.text);
  if (!bio) return fail(ErrorCode::crypto_failure, "BIO_new_mem_buf");
  KeyPtr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_password, nullptr)};
  ERR_clear_error();
  if (!key) {
    return fail(ErrorCode::bad_encoding,
                describe(path, "private key") + ": no PEM private key (encrypted keys are not supported)");
  }
  return key;
}

Status check(int openssl_ok, std::string_view what) {
  if (openssl_ok == 1) return {};
  ERR_clear_error();
  return fail(ErrorCode::crypto_failure, std::string(what) + " failed");
}

Status install_identity(SSL_CTX* ctx, const TlsConfig& config) {
  EDGEFED_ASSIGN_OR_RETURN(auto chain, load_certificates(config.cert_file, "certificate"));
  EDGEFED_ASSIGN_OR_RETURN(KeyPtr key, load_private_key(config.key_file));
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return fail(ErrorCode::invalid_argument, describe(config.key_file, "private key") +
                                                 " does not match " + config.cert_file.string());
  }
  EDGEFED_TRY(check(SSL_CTX_use_certificate(ctx, chain.front().get()), "SSL_CTX_use_certificate"));
  for (std::size_t i = 1; i < chain.size(); ++i) {
    EDGEFED_TRY(check(static_cast<int>(SSL_CTX_add1_chain_cert(ctx, chain[i].get())), "add chain"));
  }
  return check(SSL_CTX_use_PrivateKey(ctx, key.get()), "SSL_CTX_use_PrivateKey");
}

// Trusts exactly the CAs in `ca_file` (never the system store). The server also names them
// to clients (TLS 1.3 certificate_authorities), which helps a device holding several certs.
Status install_trust(SSL_CTX* ctx, const std::filesystem::path& ca_file, bool name_to_clients) {
  EDGEFED_ASSIGN_OR_RETURN(auto cas, load_certificates(ca_file, "CA certificate"));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const X509Ptr& ca : cas) {
    EDGEFED_TRY(check(X509_STORE_add_cert(store, ca.get()), "X509_STORE_add_cert"));
    if (name_to_clients) EDGEFED_TRY(check(SSL_CTX_add_client_CA(ctx, ca.get()), "add client CA"));
  }
  return {};
}

Result<TlsContextPtr> new_tls13_context(ssl::context::method method) {
  TlsContextPtr ctx;
  try {
    ctx = std::make_shared<ssl::context>(method);
  } catch (const std::exception& e) {
    return fail(ErrorCode::crypto_failure, std::string("SSL_CTX_new: ") + e.what());
  }
  SSL_CTX* native = ctx->native_handle();
  EDGEFED_TRY(check(static_cast<int>(SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION)), "min version"));
  EDGEFED_TRY(check(static_cast<int>(SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION)), "max version"));
  return ctx;
}

bool valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<TlsContextPtr> make_server_tls_context(const TlsConfig& config) {
  EDGEFED_ASSIGN_OR_RETURN(TlsContextPtr ctx, new_tls13_context(ssl::context::tls_server));
  SSL_CTX* native = ctx->native_handle();
  EDGEFED_TRY(install_identity(native, config));
  EDGEFED_TRY(install_trust(native, config.ca_file, /*name_to_clients=*/true));
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // No session resumption: every connection proves its certificate again, and a device
  // saves the ticket bytes. The id context is still required with client verification.
  EDGEFED_TRY(check(SSL_CTX_set_num_tickets(native, 0), "SSL_CTX_set_num_tickets"));
  // An idle connection gives its 2 × 16 KiB record buffers back (a server holds thousands of
  // mostly idle devices; the buffers are re-allocated on the next record).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  static constexpr unsigned char kSessionContext[] = "edgefed";
  EDGEFED_TRY(check(SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1),
                    "SSL_CTX_set_session_id_context"));
  return ctx;
}

Result<TlsContextPtr> make_client_tls_context(const TlsConfig& config) {
  if (config.server_name.empty()) return fail(ErrorCode::invalid_argument, "TLS server_name is empty");
  if (config.cert_file.empty() != config.key_file.empty()) {
    return fail(ErrorCode::invalid_argument, "TLS cert_file and key_file must be given together");
  }
  EDGEFED_ASSIGN_OR_RETURN(TlsContextPtr ctx, new_tls13_context(ssl::context::tls_client));
  SSL_CTX* native = ctx->native_handle();
  if (!config.cert_file.empty()) EDGEFED_TRY(install_identity(native, config));
  EDGEFED_TRY(install_trust(native, config.ca_file, /*name_to_clients=*/false));
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

Status prepare_client_stream(ssl_st* ssl, const std::string& server_name) {
  if (server_name.empty()) return fail(ErrorCode::invalid_argument, "TLS server_name is empty");
  boost::system::error_code ec;
  boost::asio::ip::make_address(server_name, ec);
  if (!ec) {  // SNI carries names only; an IP is checked against the certificate's IP SANs
    return check(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()),
                 "X509_VERIFY_PARAM_set1_ip_asc");
  }
  EDGEFED_TRY(check(static_cast<int>(SSL_set_tlsext_host_name(ssl, server_name.c_str())), "SNI"));
  return check(SSL_set1_host(ssl, server_name.c_str()), "SSL_set1_host");
}

Result<std::string> verified_peer_id(const ssl_st* ssl) {
  const X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return fail(ErrorCode::bad_signature, "peer presented no certificate");
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return fail(ErrorCode::bad_signature,
                std::string("peer certificate: ") + X509_verify_cert_error_string(verify));
  }
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return fail(ErrorCode::bad_value, "peer certificate has no subject CN");
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) {
    return fail(ErrorCode::bad_value, "peer certificate has several subject CNs");
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return fail(ErrorCode::bad_value, "peer certificate CN is not a string");
  std::string id(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  if (!valid_device_id(id)) return fail(ErrorCode::bad_value, "peer certificate CN is not a device id");
  return id;
}

}  // namespace edgefed::net
