#include "protocols/cgi_params.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "protocols/http1_common.h"
#include "protocols/path.h"

namespace gw {

namespace {

// Variables that decide routing or identity: two different values would let
// the front end and us disagree about what was asked or who asked, so a
// duplicate is rejected instead of resolved.
constexpr std::array<std::string_view, 9> kUniqueVars = {
    "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
    "CONTENT_LENGTH", "REMOTE_USER", "AUTH_TYPE",   "HTTPS",
};

CodecError bad_request(std::string what) {
  return CodecError{400, std::move(what)};
}

bool is_unique_var(std::string_view name) {
  for (auto v : kUniqueVars) {
    if (v == name) return true;
  }
  return false;
}

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
char to_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}
char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// RFC 9110 tchar: what a method name or a header name may consist of. A
// table, since every response header's name is checked with it.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = is_alnum(static_cast<char>(c));
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();
bool is_tchar(char c) {
  return kTchar[static_cast<unsigned char>(c)];
}

std::optional<uint64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;  // 19 digits always fit in 64 bits
  uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

uint16_t parse_port(std::string_view s) {
  auto v = parse_digits(s);
  return (v && *v <= 65535) ? static_cast<uint16_t>(*v) : 0;
}

// "X_FOO_BAR" -> "X-Foo-Bar"; empty when the name cannot be a header name.
std::string header_name_from_cgi(std::string_view suffix) {
  std::string name;
  bool word_start = true;
  for (char c : suffix) {
    if (c == '_') {
      name.push_back('-');
      word_start = true;
    } else if (is_alnum(c)) {
      name.push_back(word_start ? to_upper(c) : to_lower(c));
      word_start = false;
    } else {
      return {};
    }
  }
  return name;
}

// The variables after duplicate resolution, with lookups by name. The
// resolution happens in place, in the caller's vector: no copy per request.
class VarTable {
 public:
  std::optional<CodecError> build(std::vector<Header>& vars) {
    size_t kept = 0;
    for (size_t i = 0; i < vars.size(); ++i) {
      Header& v = vars[i];
      if (Header* prev = find_mutable(vars, kept, v.name)) {
        if (is_unique_var(v.name)) {
          return bad_request("duplicate CGI variable " + v.name + ": " +
                             quote_for_log(prev->value) + " and " + quote_for_log(v.value));
        }
        prev->value = std::move(v.value);  // last one wins
      } else {
        if (kept != i) vars[kept] = std::move(v);
        ++kept;
      }
    }
    vars.resize(kept);
    vars_ = &vars;
    return std::nullopt;
  }
  const std::string* get(std::string_view name) const {
    for (const auto& v : *vars_) {
      if (v.name == name) return &v.value;
    }
    return nullptr;
  }
  std::vector<Header>& all() { return *vars_; }

 private:
  static Header* find_mutable(std::vector<Header>& vars, size_t end, std::string_view name) {
    for (size_t i = 0; i < end; ++i) {
      if (vars[i].name == name) return &vars[i];
    }
    return nullptr;
  }
  std::vector<Header>* vars_ = nullptr;
};

std::string value_or_empty(const std::string* v) {
  return v ? *v : std::string();
}
bool non_empty(const std::string* v) {
  return v && !v->empty();
}

// The path part of a request target: origin-form as is; absolute-form
// ("http://host/p") reduced to its path, as a front end may pass it.
std::string_view target_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (!target.starts_with('/')) {
    size_t scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      size_t slash = target.find('/', scheme_end + 3);
      return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  return target;
}

std::optional<CodecError> map_target(const VarTable& vars, Request& out) {
  const std::string* uri = vars.get("REQUEST_URI");
  const std::string* script = vars.get("SCRIPT_NAME");
  const std::string* info = vars.get("PATH_INFO");
  const std::string* query = vars.get("QUERY_STRING");
  if (non_empty(uri)) {
    out.target = *uri;
    std::string_view raw_path = target_path(*uri);
    auto decoded = percent_decode(raw_path);
    if (!decoded) {
      return bad_request("REQUEST_URI path has a malformed escape or %00: " + quote_for_log(*uri));
    }
    out.path = std::move(*decoded);
    size_t q = uri->find('?');
    out.query = query ? *query : (q == std::string::npos ? std::string() : uri->substr(q + 1));
  } else {
    out.path = value_or_empty(script) + value_or_empty(info);
    if (out.path.empty()) out.path = "/";
    out.query = value_or_empty(query);
    out.target = percent_encode_path(out.path);
    if (!out.query.empty()) out.target += "?" + out.query;
  }
  if (!out.path.starts_with('/')) {
    return bad_request("request path does not start with '/': " + quote_for_log(out.path));
  }
  return std::nullopt;
}

// Compares paths the way the front end saw them: nginx's SCRIPT_NAME is the
// normalised $uri, while REQUEST_URI keeps "//" and "/./" as the client sent.
bool same_path(std::string_view a, std::string_view b) {
  if (a == b) return true;
  auto na = normalize_path(a);
  auto nb = normalize_path(b);
  return na && nb && *na == *nb;
}

void map_script_name(const VarTable& vars, Request& out) {
  const std::string* script = vars.get("SCRIPT_NAME");
  const std::string* info = vars.get("PATH_INFO");
  if (non_empty(info)) {
    out.script_name = value_or_empty(script);
    out.path_info = *info;
  } else if (!non_empty(script) || same_path(*script, out.path)) {
    out.script_name.clear();
    out.path_info = out.path;
  } else {
    out.script_name = *script;
    out.path_info.clear();
  }
}

std::optional<CodecError> map_content_length(const VarTable& vars, bool strict, Request& out) {
  const std::string* cl = vars.get("CONTENT_LENGTH");
  bool all_digits = non_empty(cl) && cl->find_first_not_of("0123456789") == std::string::npos;
  if (all_digits) {
    out.content_length = parse_digits(*cl);
    if (!out.content_length) return bad_request("CONTENT_LENGTH too large: " + quote_for_log(*cl));
  } else if (strict) {
    return bad_request(cl ? "CONTENT_LENGTH is not a number: " + quote_for_log(*cl)
                          : std::string("CONTENT_LENGTH missing"));
  }
  // Otherwise unknown (absent, "", caddy's "-1"): the body ends at its end
  // marker (the empty FCGI_STDIN record).
  return std::nullopt;
}

bool is_true_flag(const std::string* v) {
  return v && (iequals(*v, "on") || iequals(*v, "1") || iequals(*v, "yes"));
}

// Sorts one variable into a field, a header or params. Variables already
// used for the target, the length and the type are skipped, as are
// HTTP_PROXY (httpoxy) and HTTP_CONTENT_LENGTH (framing comes from
// CONTENT_LENGTH alone).
void map_other(Header& var, bool has_content_type, Request& out) {
  std::string_view name = var.name;
  static constexpr std::array<std::string_view, 9> kHandled = {
      "REQUEST_METHOD", "REQUEST_URI",  "SCRIPT_NAME", "PATH_INFO",           "QUERY_STRING",
      "CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_PROXY",  "HTTP_CONTENT_LENGTH",
  };
  for (auto h : kHandled) {
    if (name == h) return;
  }
  if (name == "REMOTE_ADDR") {
    out.remote_addr = std::move(var.value);
  } else if (name == "REMOTE_PORT") {
    out.remote_port = parse_port(var.value);
  } else if (name == "SERVER_NAME") {
    out.server_name = std::move(var.value);
  } else if (name == "SERVER_ADDR") {
    out.server_addr = std::move(var.value);
  } else if (name == "SERVER_PORT") {
    out.server_port = parse_port(var.value);
  } else if (name == "SERVER_PROTOCOL") {
    out.server_protocol = std::move(var.value);
  } else if (name == "REMOTE_USER") {
    out.remote_user = std::move(var.value);
  } else if (name == "AUTH_TYPE") {
    out.auth_type = std::move(var.value);
  } else if (name == "HTTPS") {
    out.https = out.https || is_true_flag(&var.value);
  } else if (name == "SSL_PROTOCOL") {
    out.ssl_protocol = std::move(var.value);
  } else if (name == "SSL_CIPHER") {
    out.ssl_cipher = std::move(var.value);
  } else if (name == "SSL_SESSION_ID") {
    out.ssl_session_id = std::move(var.value);
  } else if (name == "SSL_CLIENT_CERT") {
    out.ssl_client_cert = std::move(var.value);
  } else if (name == "SSL_CIPHER_USEKEYSIZE") {
    out.ssl_key_size = parse_port(var.value);  // key bits fit 16 bits, as in AJP
  } else if (name.starts_with("HTTP_")) {
    if (name == "HTTP_CONTENT_TYPE" && has_content_type) return;
    std::string header = header_name_from_cgi(name.substr(5));
    if (header.empty()) {
      out.params.push_back(std::move(var));
    } else {
      out.headers.push_back(Header{std::move(header), std::move(var.value)});
    }
  } else {
    if (name == "REQUEST_SCHEME" && iequals(var.value, "https")) out.https = true;
    out.params.push_back(std::move(var));
  }
}

}  // namespace

bool valid_cgi_name(std::string_view name) {
  // A table: this runs for every variable of every request.
  static constexpr std::array<bool, 256> kRefused = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = true;
    t[0x7F] = true;
    t['='] = true;
    return t;
  }();
  if (name.empty()) return false;
  for (char ch : name) {
    if (kRefused[static_cast<unsigned char>(ch)]) return false;
  }
  return true;
}

std::string quote_for_log(std::string_view value, size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < value.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7F || c == '\\' || c == '\'') {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out += value.size() > max ? "'..." : "'";
  return out;
}

std::optional<CodecError> request_from_cgi(std::vector<Header> vars, Protocol origin,
                                           bool strict_content_length, Request& out) {
  out = Request{};
  out.origin = origin;
  VarTable table;
  if (auto err = table.build(vars)) return err;

  const std::string* method = table.get("REQUEST_METHOD");
  if (!non_empty(method)) return bad_request("REQUEST_METHOD missing");
  for (char c : *method) {
    if (!is_tchar(c)) return bad_request("REQUEST_METHOD invalid: " + quote_for_log(*method));
  }
  out.method = *method;
  if (auto err = map_target(table, out)) return err;
  map_script_name(table, out);
  if (auto err = map_content_length(table, strict_content_length, out)) return err;

  // Room for every variable at once: growing the vectors one variable at a
  // time cost several allocations per request.
  const size_t http_vars = static_cast<size_t>(
      std::count_if(table.all().begin(), table.all().end(),
                    [](const Header& v) { return v.name.starts_with("HTTP_"); }));
  out.headers.reserve(http_vars + 2);
  out.params.reserve(table.all().size() - http_vars);
  const std::string* content_type = table.get("CONTENT_TYPE");
  bool has_content_type = non_empty(content_type);
  if (has_content_type) out.headers.push_back(Header{"Content-Type", *content_type});
  if (out.content_length) {
    out.headers.push_back(Header{"Content-Length", std::to_string(*out.content_length)});
  }
  for (auto& var : table.all()) map_other(var, has_content_type, out);
  return std::nullopt;
}

namespace {

// "X-Foo-Bar" -> "HTTP_X_FOO_BAR"; empty for names that must not be sent.
std::string cgi_name_from_header(std::string_view name) {
  if (name.empty() || iequals(name, "Proxy") || iequals(name, "Content-Type") ||
      iequals(name, "Content-Length")) {
    return {};
  }
  std::string out = "HTTP_";
  for (char c : name) {
    if (c == '-') {
      out.push_back('_');
    } else if (is_alnum(c)) {
      out.push_back(to_upper(c));
    } else {
      return {};  // '_' and friends: could impersonate another header
    }
  }
  return out;
}

// Whether `name` is one of the comma-separated tokens of the request's
// Connection fields: a field the client meant for the hop it spoke to.
bool named_in_connection(const Request& request, std::string_view name) {
  for (const auto& h : request.headers) {
    if (!iequals(h.name, "Connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (iequals(http1::trim_ows(rest.substr(0, comma)), name)) return true;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return false;
}

void add_http_vars(const Request& request, std::vector<Header>& vars) {
  size_t first = vars.size();
  for (const auto& h : request.headers) {
    // gatewayd is a hop: what the client said about its connection to the
    // front end (and the framing the front end already undid) is not the
    // app's, whichever protocol brought the request.
    if (http1::is_hop_by_hop(h.name) || named_in_connection(request, h.name)) continue;
    std::string name = cgi_name_from_header(h.name);
    if (name.empty()) continue;
    bool merged = false;
    for (size_t i = first; i < vars.size(); ++i) {
      if (vars[i].name == name) {
        vars[i].value += (name == "HTTP_COOKIE" ? "; " : ", ") + h.value;
        merged = true;
        break;
      }
    }
    if (!merged) vars.push_back(Header{std::move(name), h.value});
  }
}

}  // namespace

std::vector<Header> cgi_from_request(const Request& r, const CgiContext& context) {
  std::vector<Header> vars;
  auto add = [&vars](std::string name, std::string value) {
    vars.push_back(Header{std::move(name), std::move(value)});
  };
  if (r.content_length) add("CONTENT_LENGTH", std::to_string(*r.content_length));
  if (const std::string* type = r.header("Content-Type")) add("CONTENT_TYPE", *type);
  if (!context.document_root.empty()) add("DOCUMENT_ROOT", context.document_root);
  add("GATEWAY_INTERFACE", "CGI/1.1");
  if (r.https) add("HTTPS", "on");
  add("PATH_INFO", r.path_info);
  add("QUERY_STRING", r.query);
  add("REMOTE_ADDR", r.remote_addr);
  if (r.remote_port != 0) add("REMOTE_PORT", std::to_string(r.remote_port));
  if (!r.auth_type.empty()) add("AUTH_TYPE", r.auth_type);
  if (!r.remote_user.empty()) add("REMOTE_USER", r.remote_user);
  add("REQUEST_METHOD", r.method);
  add("REQUEST_URI", r.target);
  if (!context.script_filename.empty()) add("SCRIPT_FILENAME", context.script_filename);
  add("SCRIPT_NAME", r.script_name);
  add("SERVER_NAME", r.server_name);
  add("SERVER_PORT", std::to_string(r.server_port));
  add("SERVER_PROTOCOL", r.server_protocol.empty() ? "HTTP/1.1" : r.server_protocol);
  add("SERVER_SOFTWARE", context.server_software);
  // TLS facts under mod_ssl's names, which PHP and most CGI apps read.
  if (!r.ssl_protocol.empty()) add("SSL_PROTOCOL", r.ssl_protocol);
  if (!r.ssl_cipher.empty()) add("SSL_CIPHER", r.ssl_cipher);
  if (r.ssl_key_size != 0) add("SSL_CIPHER_USEKEYSIZE", std::to_string(r.ssl_key_size));
  if (!r.ssl_session_id.empty()) add("SSL_SESSION_ID", r.ssl_session_id);
  if (!r.ssl_client_cert.empty()) add("SSL_CLIENT_CERT", r.ssl_client_cert);
  add_http_vars(r, vars);
  return vars;
}

}  // namespace gw

namespace gw {

namespace {

bool is_header_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_safe_value(std::string_view v) {
  // One pass (find_first_of walked its set for every byte).
  for (char c : v) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

bool listed_in_connection(const ResponseHead& head, std::string_view name) {
  for (const auto& h : head.headers) {
    if (!iequals(h.name, "Connection")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view token = v.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
        token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
        token.remove_suffix(1);
      if (iequals(token, name)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

// `has_connection`: whether the head has a Connection field at all, found
// once per head rather than by a scan of every field for every field.
bool is_dropped_response_header(const ResponseHead& head, std::string_view name,
                                bool has_connection) {
  static constexpr std::array<std::string_view, 8> kDropped = {
      "Connection", "Keep-Alive",        "Proxy-Connection", "TE",
      "Trailer",    "Transfer-Encoding", "Upgrade",          "Status",
  };
  for (auto d : kDropped) {
    if (iequals(name, d)) return true;
  }
  return has_connection && listed_in_connection(head, name);
}

}  // namespace

std::string format_cgi_head(const ResponseHead& head) {
  int status = (head.status >= 100 && head.status <= 999) ? head.status : 500;
  std::string_view reason = head.reason;
  bool reason_ok = !reason.empty() && status == head.status;
  for (char c : reason) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) reason_ok = false;
  }
  if (!reason_ok) reason = reason_phrase(status);
  size_t estimate = 32 + reason.size();
  bool has_connection = false;
  for (const auto& h : head.headers) {
    estimate += h.name.size() + h.value.size() + 4;
    has_connection = has_connection || iequals(h.name, "Connection");
  }
  std::string out;
  out.reserve(estimate);
  out += "Status: ";
  out += std::to_string(status);
  out += ' ';
  out.append(reason);
  out += "\r\n";
  for (const auto& h : head.headers) {
    if (!is_header_token(h.name) || !is_safe_value(h.value)) continue;
    if (is_dropped_response_header(head, h.name, has_connection)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

}  // namespace gw
