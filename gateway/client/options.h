// gatewayd-client's command line, parsed the way gatewayd parses its own
// (optparse conventions): "--opt=value" or "--opt value", "-Xvalue" or
// "-X value", clustered flags ("-iv"), unambiguous prefixes of long options,
// and "--" ending the options. Every check that needs no network happens
// here, so a bad command line fails at once with one line and status 2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/client/endpoint.h"
#include "protocols/request.h"

namespace gw::client {

struct BodySpec {
  enum class Kind : uint8_t {
    None,
    Text,   // -d TEXT: the bytes as given
    File,   // -d @FILE: streamed from the file
    Stdin,  // -d @-: streamed from standard input
  };
  Kind kind = Kind::None;
  std::string value;  // the text, or the file's path
};

struct BenchOptions {
  uint32_t connections = 8;
  std::optional<uint64_t> requests;  // -n
  // -t; when neither -n nor -t is given, kDefaultBenchMs.
  std::optional<uint64_t> duration_ms;
  std::optional<double> rate;  // requests per second over all connections
  // --abort-ratio: the fraction of requests abandoned on purpose at a random
  // point (0: none), to test how a server copes with clients that go away.
  double abort_ratio = 0;
};
inline constexpr uint64_t kDefaultBenchMs = 10'000;
inline constexpr uint64_t kDefaultTimeoutMs = 30'000;

struct ClientOptions {
  enum class Action : uint8_t { Run, Help, Version };
  enum class Mode : uint8_t { Request, CPing, GetValues, Bench };

  Action action = Action::Run;
  Mode mode = Mode::Request;
  Protocol protocol = Protocol::Http;
  Endpoint endpoint;
  std::string target = "/";     // path and query sent
  std::string method;           // -X, else GET, or POST with a body
  std::vector<Header> headers;  // -H, in order
  std::vector<Header> params;   // --param, in order
  BodySpec body;
  std::optional<std::string> ajp_secret;
  size_t ajp_packet_size = 8192;
  uint64_t timeout_ms = kDefaultTimeoutMs;  // for connecting, and between two bytes moved
  bool include_head = false;                // -i
  bool verbose = false;                     // -v
  bool fail_on_status = false;              // --fail
  bool keep_conn = false;
  BenchOptions bench;
};

struct UsageError {
  std::string flag;  // the option as typed, or the argument quoted
  std::string why;

  std::string message() const { return flag + ": " + why; }
};

std::optional<UsageError> parse_client_options(int argc, const char* const* argv,
                                               ClientOptions& out);

std::string_view client_help_text();

}  // namespace gw::client
