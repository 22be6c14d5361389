// gatewayd-client's option parser (see options.h for the conventions).
#include "gateway/client/options.h"

#include <charconv>
#include <cmath>

#include "gateway/client/options_help.h"
#include "gateway/optparse.h"
#include "protocols/cgi_params.h"
#include "protocols/http1_common.h"

namespace gw::client {

namespace {

enum class Opt : uint8_t {
  Protocol,
  Request,
  Header,
  Param,
  Data,
  AjpSecret,
  AjpPacketSize,
  Timeout,
  Include,
  Verbose,
  Fail,
  KeepConn,
  CPing,
  GetValues,
  Bench,
  Connections,
  Requests,
  Duration,
  Rate,
  AbortRatio,
  Help,
  Version,
};

struct OptionSpec {
  Opt id;
  char short_name;  // 0: none
  std::string_view long_name;
  bool takes_value;
};

constexpr OptionSpec kOptions[] = {
    {Opt::Protocol, 0, "protocol", true},
    {Opt::Request, 'X', "request", true},
    {Opt::Header, 'H', "header", true},
    {Opt::Param, 0, "param", true},
    {Opt::Data, 'd', "data", true},
    {Opt::Data, 0, "data-binary", true},
    {Opt::AjpSecret, 0, "ajp-secret", true},
    {Opt::AjpPacketSize, 0, "ajp-packet-size", true},
    {Opt::Timeout, 'm', "timeout", true},
    {Opt::Include, 'i', "include", false},
    {Opt::Verbose, 'v', "verbose", false},
    {Opt::Fail, 'f', "fail", false},
    {Opt::KeepConn, 0, "keep-conn", false},
    {Opt::CPing, 0, "cping", false},
    {Opt::GetValues, 0, "get-values", false},
    {Opt::Bench, 0, "bench", false},
    {Opt::Connections, 'c', "connections", true},
    {Opt::Requests, 'n', "requests", true},
    {Opt::Duration, 't', "duration", true},
    {Opt::Rate, 0, "rate", true},
    {Opt::AbortRatio, 0, "abort-ratio", true},
    {Opt::Help, 'h', "help", false},
    {Opt::Version, 0, "version", false},
};

constexpr uint32_t kMaxConnections = 10'000;
constexpr double kMaxSeconds = 1e7;

std::optional<uint64_t> parse_count(std::string_view text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < min ||
      value > max) {
    return std::nullopt;
  }
  return value;
}

// A positive decimal number ("30", "0.5").
std::optional<double> parse_positive(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      !std::isfinite(value) || value <= 0) {
    return std::nullopt;
  }
  return value;
}

// A decimal number from 0 to 1 ("0.05", "1").
std::optional<double> parse_fraction(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      !std::isfinite(value) || value < 0 || value > 1) {
    return std::nullopt;
  }
  return value;
}

std::optional<uint64_t> parse_milliseconds(std::string_view text) {
  auto seconds = parse_positive(text);
  if (!seconds || *seconds > kMaxSeconds) return std::nullopt;
  return static_cast<uint64_t>(std::ceil(*seconds * 1000));
}

std::optional<Protocol> protocol_named(std::string_view name) {
  for (Protocol p : {Protocol::FastCgi, Protocol::Scgi, Protocol::Ajp13, Protocol::Http}) {
    if (name == protocol_scheme(p)) return p;
  }
  return std::nullopt;
}

// What the options said, before finish() checks them against each other.
struct Seen {
  std::vector<std::string> positional;
  std::optional<Protocol> protocol;
  std::string protocol_flag;
  std::string mode_flag;     // --cping, --get-values or --bench
  std::string request_flag;  // first option that shapes a request
  std::string bench_flag;    // first of -c, -n, -t, --rate, --abort-ratio
  std::string ajp_flag;      // first of --ajp-*
  std::string param_flag;
  std::string data_flag;
  std::string include_flag;
  std::string keep_flag;
};

class Parser {
 public:
  explicit Parser(ClientOptions& out) : out_(out) {}

  std::optional<UsageError> run(int argc, const char* const* argv);

 private:
  std::optional<UsageError> apply(const OptionSpec& spec, const std::string& flag,
                                  const std::string& value);
  std::optional<std::string> apply_value(Opt id, const std::string& flag, const std::string& value);
  std::optional<std::string> set_mode(ClientOptions::Mode mode, const std::string& flag);
  std::optional<std::string> add_header(const std::string& value);
  std::optional<std::string> add_param(const std::string& value);
  std::optional<std::string> set_body(const std::string& value);
  std::optional<UsageError> finish();
  std::optional<UsageError> finish_endpoint();
  std::optional<UsageError> finish_mode();
  std::optional<UsageError> finish_protocol_options();

  ClientOptions& out_;
  Seen seen_;
  bool stop_ = false;  // --help / --version: nothing else matters
};

std::optional<UsageError> Parser::run(int argc, const char* const* argv) {
  auto on_option = [this](const OptionSpec& spec, const std::string& flag,
                          const std::string& value) { return apply(spec, flag, value); };
  auto on_positional = [this](std::string_view arg) { seen_.positional.emplace_back(arg); };
  if (auto err = optparse::scan<UsageError>(argc, argv, std::span<const OptionSpec>(kOptions),
                                            on_option, on_positional, stop_)) {
    return err;
  }
  if (stop_) return std::nullopt;
  return finish();
}

std::optional<UsageError> Parser::apply(const OptionSpec& spec, const std::string& flag,
                                        const std::string& value) {
  switch (spec.id) {
    case Opt::Help:
      out_.action = ClientOptions::Action::Help;
      stop_ = true;
      return std::nullopt;
    case Opt::Version:
      out_.action = ClientOptions::Action::Version;
      stop_ = true;
      return std::nullopt;
    case Opt::Request:
    case Opt::Header:
    case Opt::Param:
    case Opt::Data:
    case Opt::Include:
    case Opt::Fail:
    case Opt::KeepConn:
      if (seen_.request_flag.empty()) seen_.request_flag = flag;
      break;
    case Opt::Connections:
    case Opt::Requests:
    case Opt::Duration:
    case Opt::Rate:
    case Opt::AbortRatio:
      if (seen_.bench_flag.empty()) seen_.bench_flag = flag;
      break;
    case Opt::AjpSecret:
    case Opt::AjpPacketSize:
      if (seen_.ajp_flag.empty()) seen_.ajp_flag = flag;
      break;
    default:
      break;
  }
  // An empty -d is an empty body; every other value must say something.
  if (spec.takes_value && value.empty() && spec.id != Opt::Data) {
    return UsageError{flag, "needs a value"};
  }
  if (auto why = apply_value(spec.id, flag, value)) return UsageError{flag, *why};
  return std::nullopt;
}

std::optional<std::string> Parser::apply_value(Opt id, const std::string& flag,
                                               const std::string& value) {
  switch (id) {
    case Opt::Protocol:
      seen_.protocol = protocol_named(value);
      seen_.protocol_flag = flag + "=" + value;
      if (!seen_.protocol) return "'" + value + "' is not one of fcgi, scgi, ajp, http";
      return std::nullopt;
    case Opt::Request:
      if (!http1::is_token(value)) return quote_for_log(value) + " is not a method name";
      out_.method = value;
      return std::nullopt;
    case Opt::Header:
      return add_header(value);
    case Opt::Param:
      if (seen_.param_flag.empty()) seen_.param_flag = flag;
      return add_param(value);
    case Opt::Data:
      seen_.data_flag = flag + (value == "@-" ? " @-" : "");
      return set_body(value);
    case Opt::AjpSecret:
      out_.ajp_secret = value;
      return std::nullopt;
    case Opt::AjpPacketSize: {
      auto size = parse_count(value, 8192, 65536);
      if (!size) return "'" + value + "' is not an AJP packet size (8192-65536)";
      out_.ajp_packet_size = static_cast<size_t>(*size);
      return std::nullopt;
    }
    case Opt::Timeout: {
      auto ms = parse_milliseconds(value);
      if (!ms) return "'" + value + "' is not a number of seconds (more than 0)";
      out_.timeout_ms = *ms;
      return std::nullopt;
    }
    case Opt::Include:
      out_.include_head = true;
      seen_.include_flag = flag;
      return std::nullopt;
    case Opt::Verbose:
      out_.verbose = true;
      return std::nullopt;
    case Opt::Fail:
      out_.fail_on_status = true;
      return std::nullopt;
    case Opt::KeepConn:
      out_.keep_conn = true;
      seen_.keep_flag = flag;
      return std::nullopt;
    case Opt::CPing:
      return set_mode(ClientOptions::Mode::CPing, flag);
    case Opt::GetValues:
      return set_mode(ClientOptions::Mode::GetValues, flag);
    case Opt::Bench:
      return set_mode(ClientOptions::Mode::Bench, flag);
    case Opt::Connections: {
      auto n = parse_count(value, 1, kMaxConnections);
      if (!n) {
        return "'" + value + "' is not a number of connections (1-" +
               std::to_string(kMaxConnections) + ")";
      }
      out_.bench.connections = static_cast<uint32_t>(*n);
      return std::nullopt;
    }
    case Opt::Requests: {
      auto n = parse_count(value, 1, uint64_t{1} << 40);
      if (!n) return "'" + value + "' is not a number of requests (1 or more)";
      out_.bench.requests = *n;
      return std::nullopt;
    }
    case Opt::Duration: {
      auto ms = parse_milliseconds(value);
      if (!ms) return "'" + value + "' is not a number of seconds (more than 0)";
      out_.bench.duration_ms = *ms;
      return std::nullopt;
    }
    case Opt::Rate: {
      auto rate = parse_positive(value);
      if (!rate) return "'" + value + "' is not a rate in requests per second (more than 0)";
      out_.bench.rate = *rate;
      return std::nullopt;
    }
    case Opt::AbortRatio: {
      auto ratio = parse_fraction(value);
      if (!ratio) return "'" + value + "' is not a fraction of the requests (0 to 1)";
      out_.bench.abort_ratio = *ratio;
      return std::nullopt;
    }
    case Opt::Help:
    case Opt::Version:
      break;
  }
  return std::nullopt;
}

std::optional<std::string> Parser::set_mode(ClientOptions::Mode mode, const std::string& flag) {
  if (!seen_.mode_flag.empty() && out_.mode != mode) {
    return "cannot be combined with " + seen_.mode_flag;
  }
  out_.mode = mode;
  seen_.mode_flag = flag;
  return std::nullopt;
}

std::optional<std::string> Parser::add_header(const std::string& value) {
  size_t colon = value.find(':');
  if (colon == std::string::npos) return quote_for_log(value) + " is not 'Name: value'";
  std::string name = value.substr(0, colon);
  std::string_view field = http1::trim_ows(std::string_view(value).substr(colon + 1));
  if (!http1::is_token(name)) {
    return quote_for_log(name) + " is not a header name (no spaces, nothing before ':')";
  }
  if (!http1::is_field_value(field)) {
    return "the value of " + name + " holds a control character (CR, LF, NUL)";
  }
  if (iequals(name, "Content-Length")) {
    return "Content-Length comes from the body (-d); to send a wrong one on purpose use "
           "--param CONTENT_LENGTH=N (FastCGI)";
  }
  if (iequals(name, "Expect")) return "Expect is not supported: the body is sent at once";
  if (http1::is_hop_by_hop(name)) {
    return name + " is managed by gatewayd-client (connection reuse is --keep-conn)";
  }
  out_.headers.push_back({std::move(name), std::string(field)});
  return std::nullopt;
}

std::optional<std::string> Parser::add_param(const std::string& value) {
  size_t eq = value.find('=');
  if (eq == std::string::npos || eq == 0) return quote_for_log(value) + " is not NAME=VALUE";
  out_.params.push_back({value.substr(0, eq), value.substr(eq + 1)});
  return std::nullopt;
}

std::optional<std::string> Parser::set_body(const std::string& value) {
  if (out_.body.kind != BodySpec::Kind::None) return "a second body (give one -d)";
  if (value == "@") return "needs a file name after '@' (or @- for standard input)";
  if (value == "@-") {
    out_.body.kind = BodySpec::Kind::Stdin;
  } else if (value.starts_with('@')) {
    out_.body.kind = BodySpec::Kind::File;
    out_.body.value = value.substr(1);
  } else {
    out_.body.kind = BodySpec::Kind::Text;
    out_.body.value = value;
  }
  return std::nullopt;
}

std::optional<UsageError> Parser::finish() {
  if (auto err = finish_endpoint()) return err;
  if (auto err = finish_mode()) return err;
  if (auto err = finish_protocol_options()) return err;
  if (out_.method.empty()) out_.method = out_.body.kind == BodySpec::Kind::None ? "GET" : "POST";
  return std::nullopt;
}

std::optional<UsageError> Parser::finish_endpoint() {
  const auto& args = seen_.positional;
  if (args.empty()) return UsageError{"command line", "no URL or address given (see --help)"};
  if (args.size() > 2) {
    return UsageError{quote_for_log(args[2]), "one URL-or-ADDRESS and one PATH at most"};
  }
  auto parsed = parse_endpoint(args[0]);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    return UsageError{quote_for_log(args[0], 200), *why};
  }
  out_.endpoint = std::get<Endpoint>(std::move(parsed));
  const Endpoint& e = out_.endpoint;
  if (e.protocol && seen_.protocol && *e.protocol != *seen_.protocol) {
    return UsageError{seen_.protocol_flag,
                      "contradicts the URL's " + std::string(protocol_scheme(*e.protocol)) + "://"};
  }
  if (e.protocol) {
    out_.protocol = *e.protocol;
  } else if (seen_.protocol) {
    out_.protocol = *seen_.protocol;
  } else {
    return UsageError{quote_for_log(args[0], 200),
                      "which protocol? Give --protocol=fcgi|scgi|ajp|http or a URL such as "
                      "fcgi://127.0.0.1:8000/"};
  }
  if (args.size() == 2) {
    if (!e.target.empty()) {
      return UsageError{quote_for_log(args[1], 200), "the URL has a path already"};
    }
    if (auto why = check_target(args[1])) return UsageError{quote_for_log(args[1], 200), *why};
    out_.target = args[1];
    if (seen_.request_flag.empty()) seen_.request_flag = "PATH " + quote_for_log(args[1], 200);
  } else if (!e.target.empty()) {
    out_.target = e.target;
  }
  return std::nullopt;
}

std::optional<UsageError> Parser::finish_mode() {
  using Mode = ClientOptions::Mode;
  const Mode mode = out_.mode;
  if (mode != Mode::Bench && !seen_.bench_flag.empty()) {
    return UsageError{seen_.bench_flag, "needs --bench"};
  }
  if (mode == Mode::CPing || mode == Mode::GetValues) {
    if (!seen_.request_flag.empty()) {
      return UsageError{seen_.request_flag,
                        "has no effect with " + seen_.mode_flag + " (it sends no request)"};
    }
    if (mode == Mode::CPing && out_.protocol != Protocol::Ajp13) {
      return UsageError{seen_.mode_flag, "is an AJP message (ajp:// or --protocol=ajp)"};
    }
    if (mode == Mode::GetValues && out_.protocol != Protocol::FastCgi) {
      return UsageError{seen_.mode_flag, "is a FastCGI record (fcgi:// or --protocol=fcgi)"};
    }
  }
  if (mode == Mode::Bench) {
    if (!seen_.include_flag.empty()) {
      return UsageError{seen_.include_flag, "cannot be combined with --bench"};
    }
    if (out_.body.kind == BodySpec::Kind::Stdin) {
      return UsageError{seen_.data_flag, "--bench sends the body many times: give a file"};
    }
    if (!out_.bench.requests && !out_.bench.duration_ms) out_.bench.duration_ms = kDefaultBenchMs;
  }
  return std::nullopt;
}

std::optional<UsageError> Parser::finish_protocol_options() {
  const Protocol p = out_.protocol;
  if (!seen_.ajp_flag.empty() && p != Protocol::Ajp13) {
    return UsageError{seen_.ajp_flag, "needs the AJP protocol (ajp:// or --protocol=ajp)"};
  }
  if (!seen_.param_flag.empty() && p != Protocol::FastCgi && p != Protocol::Scgi) {
    return UsageError{seen_.param_flag,
                      "sets a CGI variable, which only FastCGI and SCGI carry (use -H)"};
  }
  if (p == Protocol::Scgi) {
    if (out_.body.kind == BodySpec::Kind::Stdin) {
      return UsageError{seen_.data_flag,
                        "SCGI sends the body's length first: give a file (-d @FILE)"};
    }
    if (!seen_.keep_flag.empty()) {
      return UsageError{seen_.keep_flag, "SCGI carries one request per connection"};
    }
    for (const Header& param : out_.params) {
      if (param.name == "CONTENT_LENGTH" || param.name == "SCGI") {
        return UsageError{seen_.param_flag,
                          "SCGI: " + param.name + " is sent by gatewayd-client itself"};
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<UsageError> parse_client_options(int argc, const char* const* argv,
                                               ClientOptions& out) {
  try {
    out = ClientOptions{};
    Parser parser(out);
    return parser.run(argc, argv);
  } catch (const std::exception& e) {  // allocation failure: nothing else throws here
    return UsageError{"command line", e.what()};
  }
}

std::string_view client_help_text() {
  return kClientHelpText;
}

}  // namespace gw::client
