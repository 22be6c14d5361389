// Builds the Request and CGI variables gatewayd-client sends, as a web
// server in front of the app would.
#include "gateway/client/request_plan.h"

#include <algorithm>

#include "gateway/client/errors.h"
#include "protocols/cgi_params.h"
#include "protocols/path.h"

namespace gw::client {

namespace {

bool has_header(const std::vector<Header>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const Header& h) { return iequals(h.name, name); });
}

// --param NAME=VALUE replaces every variable of that name (the first keeps
// its place) or is appended.
void apply_params(std::vector<Header>& vars, const std::vector<Header>& params) {
  for (const Header& p : params) {
    auto first =
        std::find_if(vars.begin(), vars.end(), [&](const Header& v) { return v.name == p.name; });
    if (first == vars.end()) {
      vars.push_back(p);
      continue;
    }
    first->value = p.value;
    vars.erase(
        std::remove_if(first + 1, vars.end(), [&](const Header& v) { return v.name == p.name; }),
        vars.end());
  }
}

}  // namespace

RequestPlan make_plan(const ClientOptions& options, std::optional<uint64_t> body_length) {
  RequestPlan plan;
  plan.protocol = options.protocol;
  plan.keep_conn = options.keep_conn;
  plan.ajp_packet_size = options.ajp_packet_size;
  plan.ajp_secret = options.ajp_secret;
  plan.has_body = options.body.kind != BodySpec::Kind::None;
  plan.length = plan.has_body ? body_length : std::optional<uint64_t>(0);

  Request& r = plan.request;
  r.origin = options.protocol;
  r.method = options.method;
  r.target = options.target;
  size_t q = r.target.find('?');
  // check_target() made sure the path decodes.
  r.path = percent_decode(std::string_view(r.target).substr(0, q)).value_or("/");
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.script_name = "";
  r.path_info = r.path;
  r.server_protocol = "HTTP/1.1";
  if (!has_header(options.headers, "Host")) {
    r.headers.push_back({"Host", options.endpoint.authority});
  }
  if (!has_header(options.headers, "User-Agent")) {
    r.headers.push_back({"User-Agent", std::string(kProgram) + "/" GATEWAYD_VERSION});
  }
  r.headers.insert(r.headers.end(), options.headers.begin(), options.headers.end());
  if (plan.has_body && !has_header(options.headers, "Content-Type")) {
    r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  }
  // No body, no length: CONTENT_LENGTH is left out, as Apache does for a
  // GET (SCGI, which always sends one, takes plan.length).
  r.content_length = plan.has_body ? plan.length : std::nullopt;
  r.remote_addr = "127.0.0.1";
  r.server_name = options.endpoint.server_name;
  r.server_port = options.endpoint.server_port;

  if (plan.protocol == Protocol::FastCgi || plan.protocol == Protocol::Scgi) {
    CgiContext context;
    context.server_software = std::string(kProgram) + "/" GATEWAYD_VERSION;
    plan.cgi_vars = cgi_from_request(r, context);
    apply_params(plan.cgi_vars, options.params);
  }
  return plan;
}

}  // namespace gw::client
