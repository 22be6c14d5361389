// The status listener's renderings: JSON byte for byte for a fixed report,
// the Prometheus text checked line by line against the exposition format
// 0.0.4 grammar and for its exact samples, and the backend's routes.
#include <doctest/doctest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dispatch/backends/sendfile.h"
#include "dispatch/backends/static_mounts.h"
#include "gateway/config.h"
#include "gateway/request_metrics.h"
#include "gateway/status_backend.h"
#include "gateway/status_page.h"
#include "gateway/status_render.h"

namespace {

using gw::RequestRecord;
using gw::StatusReport;

constexpr uint64_t kMs = 1'000'000;

// One request of 3 ms, 2 of them in the backend, its head after 1.
RequestRecord request(const gw::ListenerConfig* l, const char* project, int status) {
  RequestRecord r;
  r.listener = l;
  r.project = project;
  r.status = status;
  r.bytes_in = 5;
  r.bytes_out = 50;
  r.start_ns = 10 * kMs;
  r.backend_start_ns = 11 * kMs;
  r.first_byte_ns = 12 * kMs;
  r.end_ns = 13 * kMs;
  return r;
}

StatusReport fixed_report(const gw::ListenerConfig& front) {
  gw::RequestMetrics m;
  RequestRecord a = request(&front, "a", 200);
  m.started(a);
  m.finished(a, false);
  RequestRecord old = request(&front, "old\"x", 404);  // a project removed by a reload
  old.backend_start_ns = old.first_byte_ns = 0;
  old.bytes_in = old.bytes_out = 0;
  m.started(old);
  m.finished(old, true);
  StatusReport r;
  r.version = "1.2.3";
  r.pid = 42;
  r.uptime_seconds = 7;
  r.connection_buffer_bytes = 4096;
  r.connections = 3;
  r.slow_request_ms = 2;
  r.listeners.push_back({"front", "http", false, 2});
  r.listeners.push_back({"stat", "http", true, std::nullopt});
  StatusReport::Project p;
  p.name = "a";
  p.backend = "fastcgi";
  p.report.upstreams.push_back({"app:9000 (127.0.0.1:9000)", 2, 1, 4});
  p.report.processes.push_back({0, 1234, "ready", "unix:/run/a.sock", 5, 1, 2});
  r.projects.push_back(p);
  StatusReport::Project c;
  c.name = "c";
  c.backend = "cgi";
  c.report.cgi_processes = 0;
  r.projects.push_back(c);
  r.metrics = m.snapshot();
  return r;
}

std::string buckets(std::map<size_t, int> nonzero) {
  std::string out = "[";
  for (size_t i = 0; i < gw::LatencyHistogram::kBuckets; ++i) {
    if (i) out += ",";
    out += std::to_string(nonzero.contains(i) ? nonzero[i] : 0);
  }
  return out + "]";
}

const std::string kEmptyHist =
    "{\"count\":0,\"sum\":0.000,\"p50\":0.000,\"p90\":0.000,\"p99\":0.000,"
    "\"buckets\":" +
    buckets({}) + "}";
// 3 ms: bucket (2,5]; 2 ms: (1,2]; 1 ms: [0,1].
const std::string kHist3 =
    "{\"count\":1,\"sum\":3.000,\"p50\":3.500,\"p90\":4.700,\"p99\":4.970,"
    "\"buckets\":" +
    buckets({{2, 1}}) + "}";
const std::string kHist2 =
    "{\"count\":1,\"sum\":2.000,\"p50\":1.500,\"p90\":1.900,\"p99\":1.990,"
    "\"buckets\":" +
    buckets({{1, 1}}) + "}";
const std::string kHist1 =
    "{\"count\":1,\"sum\":1.000,\"p50\":0.500,\"p90\":0.900,\"p99\":0.990,"
    "\"buckets\":" +
    buckets({{0, 1}}) + "}";

std::string counters(int requests, int c2, int c4, int bytes_in, int bytes_out, int slow,
                     const std::string& latency, const std::string& backend,
                     const std::string& first_byte) {
  return "\"requests\":" + std::to_string(requests) +
         ",\"in_flight\":0,\"status\":{\"1xx\":0,"
         "\"2xx\":" +
         std::to_string(c2) + ",\"3xx\":0,\"4xx\":" + std::to_string(c4) +
         ",\"5xx\":0,\"none\":0},\"bytes_in\":" + std::to_string(bytes_in) +
         ",\"bytes_out\":" + std::to_string(bytes_out) +
         ",\"aborted\":0,\"slow\":" + std::to_string(slow) + ",\"latency_ms\":" + latency +
         ",\"backend_ms\":" + backend + ",\"first_byte_ms\":" + first_byte;
}

// Exposition format 0.0.4: comments, and samples "name{labels} value".
void check_exposition(const std::string& text) {
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? ([0-9]+(\.[0-9]+)?|\+Inf))");
  static const std::regex kHelp(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]*)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  REQUIRE(text.ends_with("\n"));
  std::istringstream in(text);
  std::string line;
  std::map<std::string, std::string> types;
  std::string family;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.starts_with("# HELP ")) {
      CHECK_MESSAGE(std::regex_match(line, kHelp), line);
    } else if (std::regex_match(line, m, kType)) {
      CHECK_MESSAGE(!types.contains(m[1]), "a family typed twice: " << line);
      types[m[1]] = m[2];
      family = m[1];
    } else {
      REQUIRE_MESSAGE(std::regex_match(line, m, kSample), line);
      std::string name = m[1];
      // Every sample follows its family's TYPE line.
      bool ok =
          name == family ||
          (types[family] == "histogram" &&
           (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
      CHECK_MESSAGE(ok, "sample outside its family: " << line);
    }
  }
}

}  // namespace

TEST_CASE("observe status: JSON for a fixed report, byte for byte") {
  gw::ListenerConfig front;
  front.name = "front";
  StatusReport r = fixed_report(front);
  std::string c_none = counters(0, 0, 0, 0, 0, 0, kEmptyHist, kEmptyHist, kEmptyHist);
  std::string expected =
      "{\"version\":\"1.2.3\",\"pid\":42,\"uptime_seconds\":7,\"connections\":3,"
      "\"connection_buffer_bytes\":4096,\"slow_request_ms\":2,\"bucket_bounds_ms\":[1,2,5,10,25,50,"
      "100,250,500,1000,2500,5000,"
      "10000,30000,60000,300000],"
      "\"total\":{" +
      counters(2, 1, 1, 5, 50, 1,
               "{\"count\":2,\"sum\":6.000,\"p50\":3.500,"
               "\"p90\":4.700,\"p99\":4.970,\"buckets\":" +
                   buckets({{2, 2}}) + "}",
               kHist2, kHist1) +
      "},"
      "\"listeners\":["
      "{\"name\":\"front\",\"protocol\":\"http\",\"status_listener\":false,\"connections\":2," +
      counters(2, 1, 1, 5, 50, 1,
               "{\"count\":2,\"sum\":6.000,\"p50\":3.500,\"p90\":4.700,"
               "\"p99\":4.970,\"buckets\":" +
                   buckets({{2, 2}}) + "}",
               kHist2, kHist1) +
      "},"
      "{\"name\":\"stat\",\"protocol\":\"http\",\"status_listener\":true,\"connections\":null," +
      c_none +
      "}],"
      "\"projects\":["
      "{\"name\":\"a\",\"backend\":\"fastcgi\"," +
      counters(1, 1, 0, 5, 50, 0, kHist3, kHist2, kHist1) +
      ",\"upstreams\":[{\"name\":\"app:9000 (127.0.0.1:9000)\",\"open\":2,\"idle\":1,\"limit\":4}],"
      "\"processes\":[{\"instance\":0,\"pid\":1234,\"state\":\"ready\",\"address\":"
      "\"unix:/run/a.sock\",\"requests\":5,\"in_flight\":1,\"restarts\":2}],"
      "\"cgi_processes\":null},"
      "{\"name\":\"c\",\"backend\":\"cgi\"," +
      c_none +
      ",\"upstreams\":[],\"processes\":[],\"cgi_processes\":0},"
      "{\"name\":\"old\\\"x\",\"backend\":\"\"," +
      counters(1, 0, 1, 0, 0, 1, kHist3, kEmptyHist, kEmptyHist) +
      ",\"upstreams\":[],\"processes\":[],\"cgi_processes\":null}"
      "]}\n";
  CHECK(gw::render_status_json(r) == expected);
}

TEST_CASE("observe status: JSON strings are escaped") {
  StatusReport r;
  r.version = "a\"b\\c\nd\x01\x7f";
  std::string json = gw::render_status_json(r);
  CHECK(json.starts_with("{\"version\":\"a\\\"b\\\\c\\nd\\u0001\\u007f\",\"pid\":0,"));
}

TEST_CASE("observe status: Prometheus text") {
  gw::ListenerConfig front;
  front.name = "front";
  StatusReport r = fixed_report(front);
  std::string text = gw::render_prometheus(r);
  check_exposition(text);
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  for (const char* expected : {
           "# TYPE gatewayd_info gauge",
           "gatewayd_info{version=\"1.2.3\"} 1",
           "gatewayd_pid 42",
           "gatewayd_uptime_seconds 7",
           "gatewayd_connections 3",
           "gatewayd_connection_buffer_bytes 4096",
           "gatewayd_listener_connections{listener=\"front\"} 2",
           "# TYPE gatewayd_requests_total counter",
           "gatewayd_requests_total{class=\"1xx\"} 0",
           "gatewayd_requests_total{class=\"2xx\"} 1",
           "gatewayd_requests_total{class=\"4xx\"} 1",
           "gatewayd_requests_total{class=\"none\"} 0",
           "gatewayd_requests_in_flight 0",
           "gatewayd_request_bytes_total 5",
           "gatewayd_response_bytes_total 50",
           "gatewayd_requests_aborted_total 0",
           "gatewayd_slow_requests_total 1",
           "# TYPE gatewayd_request_duration_seconds histogram",
           "gatewayd_request_duration_seconds_bucket{le=\"0.001\"} 0",
           "gatewayd_request_duration_seconds_bucket{le=\"0.002\"} 0",
           "gatewayd_request_duration_seconds_bucket{le=\"0.005\"} 2",
           "gatewayd_request_duration_seconds_bucket{le=\"0.025\"} 2",
           "gatewayd_request_duration_seconds_bucket{le=\"2.5\"} 2",
           "gatewayd_request_duration_seconds_bucket{le=\"300\"} 2",
           "gatewayd_request_duration_seconds_bucket{le=\"+Inf\"} 2",
           "gatewayd_request_duration_seconds_sum 0.006",
           "gatewayd_request_duration_seconds_count 2",
           "gatewayd_backend_duration_seconds_bucket{le=\"0.002\"} 1",
           "gatewayd_backend_duration_seconds_sum 0.002",
           "gatewayd_backend_first_byte_seconds_count 1",
           "gatewayd_project_requests_total{project=\"a\",class=\"2xx\"} 1",
           "gatewayd_project_requests_total{project=\"c\",class=\"2xx\"} 0",
           "gatewayd_project_requests_total{project=\"old\\\"x\",class=\"4xx\"} 1",
           "gatewayd_project_slow_requests_total{project=\"old\\\"x\"} 1",
           "gatewayd_project_request_duration_seconds_bucket{project=\"a\",le=\"+Inf\"} 1",
           "gatewayd_listener_requests_total{listener=\"front\",class=\"2xx\"} 1",
           "gatewayd_listener_requests_total{listener=\"stat\",class=\"2xx\"} 0",
           "gatewayd_upstream_connections{project=\"a\",upstream=\"app:9000 (127.0.0.1:9000)\","
           "state=\"open\"} 2",
           "gatewayd_upstream_connections{project=\"a\",upstream=\"app:9000 (127.0.0.1:9000)\","
           "state=\"idle\"} 1",
           "gatewayd_upstream_connection_limit{project=\"a\",upstream=\"app:9000 "
           "(127.0.0.1:9000)\"} 4",
           "gatewayd_cgi_processes{project=\"c\"} 0",
           "gatewayd_app_process_info{project=\"a\",instance=\"0\",pid=\"1234\",state=\"ready\"} 1",
           "gatewayd_app_process_requests_total{project=\"a\",instance=\"0\"} 5",
           "gatewayd_app_process_in_flight{project=\"a\",instance=\"0\"} 1",
           "gatewayd_app_process_restarts_total{project=\"a\",instance=\"0\"} 2",
       }) {
    CHECK_MESSAGE(lines.contains(expected), expected);
  }
  // The status listener's own connections are unknown: no sample, not a 0.
  CHECK(text.find("gatewayd_listener_connections{listener=\"stat\"}") == std::string::npos);
  // Histogram buckets are cumulative and end with +Inf equal to _count.
  CHECK(text.find("gatewayd_project_request_duration_seconds_bucket{project=\"c\",le=\"+Inf\"} 0\n"
                  "gatewayd_project_request_duration_seconds_sum{project=\"c\"} 0\n"
                  "gatewayd_project_request_duration_seconds_count{project=\"c\"} 0\n") !=
        std::string::npos);
}

TEST_CASE("observe status: seconds as exact decimals") {
  CHECK(gw::seconds_text(0) == "0");
  CHECK(gw::seconds_text(1'000'000) == "0.001");
  CHECK(gw::seconds_text(2'500'000'000) == "2.5");
  CHECK(gw::seconds_text(300'000'000'000) == "300");
  CHECK(gw::seconds_text(1) == "0.000000001");
}

namespace {

struct CaptureSink final : gw::ResponseSink {
  gw::ResponseHead head;
  std::string body;
  int heads = 0, ends = 0;
  void on_head(gw::ResponseHead h) override {
    head = std::move(h);
    ++heads;
  }
  void on_body(std::string_view d) override { body += d; }
  void on_end() override { ++ends; }
  void on_error(int, std::string_view) override { FAIL("no error expected"); }
  bool congested() const override { return false; }
  void on_body_drained() override {}
  void log_error(std::string_view) override {}
};

CaptureSink get(gw::StatusBackend& backend, std::string method, std::string path) {
  gw::Request req;
  req.method = std::move(method);
  req.path = path;
  req.target = path;
  CaptureSink sink;
  auto exchange = backend.start(req, sink);
  REQUIRE(exchange);
  exchange->finish_body();
  CHECK(sink.heads == 1);
  CHECK(sink.ends == 1);
  return sink;
}

}  // namespace

TEST_CASE("observe status backend: routes") {
  int reports = 0;
  gw::StatusBackend backend([&reports] {
    ++reports;
    StatusReport r;
    r.version = "9.9";
    r.pid = 7;
    return r;
  });
  CHECK(backend.kind() == "status");
  auto page = get(backend, "GET", "/");
  CHECK(page.head.status == 200);
  CHECK(*page.head.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(page.body == gw::kStatusPageHtml);
  CHECK(*page.head.header("Content-Length") == std::to_string(page.body.size()));
  CHECK(reports == 0);  // the page itself holds no data

  for (const char* path : {"/status", "/status.json"}) {
    auto json = get(backend, "GET", path);
    CHECK(json.head.status == 200);
    CHECK(*json.head.header("Content-Type") == "application/json");
    CHECK(*json.head.header("Cache-Control") == "no-store");
    CHECK(json.body.starts_with("{\"version\":\"9.9\",\"pid\":7,"));
  }
  auto metrics = get(backend, "GET", "/metrics");
  CHECK(*metrics.head.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body.find("gatewayd_pid 7\n") != std::string::npos);
  CHECK(reports == 3);

  auto head = get(backend, "HEAD", "/metrics");
  CHECK(head.head.status == 200);
  CHECK(head.body.empty());
  CHECK(std::stoul(*head.head.header("Content-Length")) > 0);

  auto missing = get(backend, "GET", "/projects/a");
  CHECK(missing.head.status == 404);
  auto post = get(backend, "POST", "/status.json");
  CHECK(post.head.status == 405);
  CHECK(*post.head.header("Allow") == "GET, HEAD");
}

TEST_CASE("observe status page: self-contained, numbers in elements with ids") {
  std::string_view page = gw::kStatusPageHtml;
  CHECK(page.find("src=\"http") == std::string_view::npos);
  CHECK(page.find("href=\"http") == std::string_view::npos);
  CHECK(page.find("<link") == std::string_view::npos);
  for (const char* id : {"id=\"version\"", "id=\"pid\"", "id=\"total-requests\"",
                         "id=\"total-2xx\"", "id=\"total-5xx\"", "id=\"chart-rps\"",
                         "id=\"chart-latency\"", "id=\"polls\"", "id=\"projects\""}) {
    CHECK_MESSAGE(page.find(id) != std::string_view::npos, id);
  }
  // Server-supplied text only through textContent.
  CHECK(page.find("innerHTML") == std::string_view::npos);
}

namespace {

class ReportingBackend final : public gw::Backend {
 public:
  std::unique_ptr<gw::Exchange> start(const gw::Request&, gw::ResponseSink&) override {
    return nullptr;
  }
  std::string_view kind() const override { return "fake"; }
  void report(gw::BackendReport& out) const override {
    out.processes.push_back({3, 99, "ready", "unix:/x", 1, 0, 0});
  }
};

}  // namespace

TEST_CASE("observe status: wrappers pass report() on to the backend they wrap") {
  std::unique_ptr<gw::Backend> b = std::make_unique<ReportingBackend>();
  b = gw::wrap_static_mounts(std::move(b), {{"/chrome", "/tmp"}});
  gw::SendfileOptions sendfile;
  sendfile.mode = gw::SendfileOptions::Mode::Pass;
  b = gw::wrap_sendfile(std::move(b), sendfile);
  gw::BackendReport report;
  b->report(report);
  REQUIRE(report.processes.size() == 1);
  CHECK(report.processes[0].pid == 99);
  CHECK(report.processes[0].instance == 3);
}
