// How many heap allocations a codec makes to parse one request, counted by
// replacing the global operator new for this test binary. A request needs
// one allocation per string too long to be stored in place (in the variables
// as they arrive and in the Request built from them) and one per vector;
// the codec's own bookkeeping may add only a few more. A per-variable hash
// set, a vector growing one element at a time or a copy of every variable
// breaks the bound.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <vector>

#include "protocols/fastcgi_server.h"
#include "protocols/scgi_server.h"

namespace {

// Counted only while a test asks; the rest of the binary is not affected.
thread_local bool counting = false;
thread_local size_t allocations = 0;

}  // namespace

// GCC inlines the replaced operators into std::allocator and then sees free()
// paired with operator new; they are this file's own malloc-based pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too: with a sanitizer's own operator new left in place
// for them, a block could be allocated by one allocator and freed by another.
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  if (counting) ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

using gw::Event;
using gw::Header;
using gw::Request;

// Longer than this, std::string stores its bytes on the heap (libstdc++).
constexpr size_t kInPlace = 15;

std::string read_vector(const std::string& path) {
  std::ifstream f(std::string(GW_VECTORS_DIR) + "/" + path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing vector " << path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

size_t long_strings(const std::vector<Header>& pairs) {
  size_t n = 0;
  for (const auto& p : pairs) n += (p.name.size() > kInPlace) + (p.value.size() > kInPlace);
  return n;
}

size_t long_strings(const Request& r) {
  size_t n = long_strings(r.headers) + long_strings(r.params);
  for (const std::string* s :
       {&r.method, &r.target, &r.path, &r.query, &r.script_name, &r.path_info, &r.server_protocol,
        &r.remote_addr, &r.server_name, &r.server_addr, &r.remote_user, &r.auth_type,
        &r.ssl_protocol, &r.ssl_cipher, &r.ssl_session_id, &r.ssl_client_cert, &r.route}) {
    n += s->size() > kInPlace;
  }
  return n;
}

// The variables as the front end sent them, from an SCGI netstring.
std::vector<Header> scgi_vars(std::string_view in) {
  size_t colon = in.find(':');
  size_t length = std::stoul(std::string(in.substr(0, colon)));
  std::string_view block = in.substr(colon + 1, length);
  std::vector<Header> vars;
  while (!block.empty()) {
    size_t a = block.find('\0');
    size_t b = block.find('\0', a + 1);
    vars.push_back({std::string(block.substr(0, a)), std::string(block.substr(a + 1, b - a - 1))});
    block.remove_prefix(b + 1);
  }
  return vars;
}

// The variables of the FCGI_PARAMS records of a FastCGI capture (one request).
std::vector<Header> fastcgi_vars(std::string_view in) {
  std::string params;
  while (in.size() >= 8) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(in[i]); };
    const size_t content = (size_t{byte(4)} << 8) | byte(5);
    if (byte(1) == 4) params.append(in.substr(8, content));  // FCGI_PARAMS
    in.remove_prefix(8 + content + byte(6));
  }
  std::vector<Header> vars;
  std::string_view p = params;
  const auto length = [&p] {
    size_t n = static_cast<unsigned char>(p[0]);
    if (n < 0x80) {
      p.remove_prefix(1);
      return n;
    }
    n = ((n & 0x7F) << 24) | (size_t{static_cast<unsigned char>(p[1])} << 16) |
        (size_t{static_cast<unsigned char>(p[2])} << 8) | static_cast<unsigned char>(p[3]);
    p.remove_prefix(4);
    return n;
  };
  while (!p.empty()) {
    const size_t name_length = length();
    const size_t value_length = length();
    vars.push_back(
        {std::string(p.substr(0, name_length)), std::string(p.substr(name_length, value_length))});
    p.remove_prefix(name_length + value_length);
  }
  return vars;
}

// Feeds `in` whole and returns the allocations feed() made; `request` gets
// the parsed request.
size_t count_feed(gw::ServerCodec& codec, std::string_view in, Request& request) {
  std::vector<Event> events;
  events.reserve(8);
  std::string out;
  out.reserve(1024);
  allocations = 0;
  counting = true;
  gw::FeedResult r = codec.feed(in, events, out);
  counting = false;
  REQUIRE_FALSE(r.error.has_value());
  for (auto& e : events) {
    if (auto* started = std::get_if<gw::RequestStarted>(&e)) request = started->request;
  }
  REQUIRE_FALSE(request.method.empty());
  return allocations;
}

// The codec's own allocations beyond one per long string and per vector.
constexpr size_t kBookkeeping = 4;

// Parses the capture `name` with a fresh Codec and checks the count against
// the bound: the variables' vector, the Request's headers and params, and
// one per long string in the variables (`vars_of` decodes them) and in the
// Request.
template <class Codec>
void check_within_bound(const char* name, std::vector<Header> (*vars_of)(std::string_view)) {
  CAPTURE(name);
  const std::string in = read_vector(name);
  const std::vector<Header> vars = vars_of(in);
  REQUIRE(vars.size() > 10);
  Codec codec{gw::Limits{}};
  Request request;
  const size_t made = count_feed(codec, in, request);
  const size_t needed = long_strings(vars) + long_strings(request) + 3;
  INFO(std::string(name) << ": " << made << " allocations, " << vars.size() << " variables, bound "
                         << needed + kBookkeeping);
  CHECK(made <= needed + kBookkeeping);
}

}  // namespace

TEST_CASE("allocations: SCGI parses nginx's request with one allocation per long string") {
  for (const char* name : {"scgi/nginx-scgi-get.bin", "scgi/apache-proxy-scgi-post.bin",
                           "scgi/lighttpd-scgi-get.bin"}) {
    check_within_bound<gw::ScgiServerCodec>(name, scgi_vars);
  }
}

TEST_CASE("allocations: FastCGI parses a request with one allocation per long string") {
  for (const char* name : {"fastcgi/nginx-fcgi-get.bin", "fastcgi/apache-proxy-fcgi-post.bin",
                           "fastcgi/lighttpd-fcgi-get.bin"}) {
    check_within_bound<gw::FastCgiServerCodec>(name, fastcgi_vars);
  }
}
