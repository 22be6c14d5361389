// JSON and Prometheus renderings of a StatusReport (see status_render.h).
#include "gateway/status_render.h"

#include <cmath>
#include <cstdio>
#include <set>

namespace gw {

namespace {

constexpr const char* kClassNames[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

// ---- JSON ----

void json_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// Milliseconds with three decimals, a valid JSON number ("12.345").
std::string ms3(double ms) {
  if (!(ms >= 0)) ms = 0;
  auto micros = static_cast<unsigned long long>(std::llround(ms * 1000));
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%llu.%03llu", micros / 1000, micros % 1000);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string ns_as_ms3(uint64_t ns) {
  uint64_t micros = (ns + 500) / 1000;
  char buf[40];
  int n =
      std::snprintf(buf, sizeof buf, "%llu.%03llu", static_cast<unsigned long long>(micros / 1000),
                    static_cast<unsigned long long>(micros % 1000));
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

// A small writer for objects: key, value, commas.
class JsonObject {
 public:
  explicit JsonObject(std::string& out) : out_(out) { out_ += '{'; }
  void key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    json_string(k, out_);
    out_ += ':';
  }
  void number(std::string_view k, uint64_t v) {
    key(k);
    out_ += std::to_string(v);
  }
  void raw(std::string_view k, std::string_view v) {
    key(k);
    out_ += v;
  }
  void string(std::string_view k, std::string_view v) {
    key(k);
    json_string(v, out_);
  }
  void boolean(std::string_view k, bool v) { raw(k, v ? "true" : "false"); }
  void optional(std::string_view k, const std::optional<uint64_t>& v) {
    if (v) {
      number(k, *v);
    } else {
      raw(k, "null");
    }
  }
  void close() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

void json_histogram(const LatencyHistogram& h, std::string& out) {
  JsonObject o(out);
  o.number("count", h.count());
  o.raw("sum", ns_as_ms3(h.sum_ns()));
  o.raw("p50", ms3(h.percentile_ms(0.50)));
  o.raw("p90", ms3(h.percentile_ms(0.90)));
  o.raw("p99", ms3(h.percentile_ms(0.99)));
  o.key("buckets");
  out += '[';
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    if (i) out += ',';
    out += std::to_string(h.bucket(i));
  }
  out += ']';
  o.close();
}

// The counters' members, into an object already open.
void json_counters(const RequestCounters& c, JsonObject& o, std::string& out) {
  o.number("requests", c.requests);
  o.number("in_flight", c.in_flight);
  o.key("status");
  {
    JsonObject s(out);
    for (size_t i = 0; i < 5; ++i) s.number(kClassNames[i], c.by_class[i]);
    s.number("none", c.no_response);
    s.close();
  }
  o.number("bytes_in", c.bytes_in);
  o.number("bytes_out", c.bytes_out);
  o.number("aborted", c.aborted);
  o.number("slow", c.slow);
  o.key("latency_ms");
  json_histogram(c.latency, out);
  o.key("backend_ms");
  json_histogram(c.backend, out);
  o.key("first_byte_ms");
  json_histogram(c.first_byte, out);
}

const RequestCounters& counters_of(const std::map<std::string, RequestCounters>& map,
                                   const std::string& name) {
  static const RequestCounters kNone;
  auto it = map.find(name);
  return it == map.end() ? kNone : it->second;
}

// The configured names, then those only the counters know (in name order).
template <typename T>
std::vector<const T*> with_removed(const std::vector<T>& configured,
                                   const std::map<std::string, RequestCounters>& counted,
                                   std::vector<T>& removed_storage) {
  std::set<std::string> names;
  for (const T& t : configured) names.insert(t.name);
  for (const auto& [name, c] : counted) {
    if (!names.contains(name)) {
      T t;
      t.name = name;
      removed_storage.push_back(std::move(t));
    }
  }
  std::vector<const T*> all;
  for (const T& t : configured) all.push_back(&t);
  for (const T& t : removed_storage) all.push_back(&t);
  return all;
}

// ---- Prometheus ----

// Label values: backslash, double quote and line feed escaped (format 0.0.4).
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Exposition {
 public:
  explicit Exposition(std::string& out) : out_(out) {}
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels` is already rendered: `project="a",class="2xx"` (or "").
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }

 private:
  std::string& out_;
};

std::string join_labels(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "," + std::string(b);
}

struct Scope {
  std::string prefix;  // "gatewayd_", "gatewayd_project_", "gatewayd_listener_"
  std::string what;    // for HELP: "", " per project", " per listener"
  std::vector<std::pair<std::string, const RequestCounters*>> series;  // labels, counters
};

void prometheus_histogram(Exposition& e, const Scope& s, std::string_view suffix,
                          std::string_view help, const LatencyHistogram RequestCounters::*member) {
  std::string name = s.prefix + std::string(suffix);
  e.family(name, "histogram", std::string(help) + s.what + ".");
  for (const auto& [labels, c] : s.series) {
    const LatencyHistogram& h = c->*member;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      cumulative += h.bucket(i);
      std::string le = i < LatencyHistogram::kBoundsMs.size()
                           ? seconds_text(LatencyHistogram::kBoundsMs[i] * 1'000'000)
                           : "+Inf";
      e.sample(name + "_bucket", join_labels(labels, "le=\"" + le + "\""), cumulative);
    }
    e.sample(name + "_sum", labels, seconds_text(h.sum_ns()));
    e.sample(name + "_count", labels, h.count());
  }
}

void prometheus_scope(Exposition& e, const Scope& s) {
  const std::string requests = s.prefix + "requests_total";
  e.family(requests, "counter",
           "Requests finished" + s.what + ", by status class (none: no response was sent).");
  for (const auto& [labels, c] : s.series) {
    for (size_t i = 0; i < 5; ++i) {
      e.sample(requests, join_labels(labels, std::string("class=\"") + kClassNames[i] + "\""),
               c->by_class[i]);
    }
    e.sample(requests, join_labels(labels, "class=\"none\""), c->no_response);
  }
  struct Simple {
    const char* suffix;
    const char* type;
    const char* help;
    uint64_t RequestCounters::*member;
  };
  static const Simple kSimple[] = {
      {"requests_in_flight", "gauge", "Requests being served now", &RequestCounters::in_flight},
      {"request_bytes_total", "counter", "Request body bytes received", &RequestCounters::bytes_in},
      {"response_bytes_total", "counter", "Response body bytes sent", &RequestCounters::bytes_out},
      {"requests_aborted_total", "counter",
       "Requests cut off, or whose client went away before the end", &RequestCounters::aborted},
      {"slow_requests_total", "counter", "Requests over the slow-request threshold",
       &RequestCounters::slow},
  };
  for (const Simple& m : kSimple) {
    std::string name = s.prefix + m.suffix;
    e.family(name, m.type, std::string(m.help) + s.what + ".");
    for (const auto& [labels, c] : s.series) e.sample(name, labels, c->*(m.member));
  }
  prometheus_histogram(e, s, "request_duration_seconds",
                       "Time from the complete request head to the end of the response",
                       &RequestCounters::latency);
  prometheus_histogram(e, s, "backend_duration_seconds",
                       "Time from handing the request to the backend to the end of the response",
                       &RequestCounters::backend);
  prometheus_histogram(e, s, "backend_first_byte_seconds",
                       "Time from handing the request to the backend to its response head",
                       &RequestCounters::first_byte);
}

}  // namespace

std::string seconds_text(uint64_t ns) {
  uint64_t whole = ns / 1'000'000'000;
  uint64_t frac = ns % 1'000'000'000;
  std::string out = std::to_string(whole);
  if (frac != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%09llu", static_cast<unsigned long long>(frac));
    std::string f = buf;
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
  return out;
}

std::string render_status_json(const StatusReport& r) {
  std::string out;
  out.reserve(4096);
  JsonObject top(out);
  top.string("version", r.version);
  top.number("pid", static_cast<uint64_t>(r.pid < 0 ? 0 : r.pid));
  top.number("uptime_seconds", r.uptime_seconds);
  top.number("connections", r.connections);
  top.number("connection_buffer_bytes", r.connection_buffer_bytes);
  top.number("slow_request_ms", r.slow_request_ms);
  top.key("bucket_bounds_ms");
  out += '[';
  for (size_t i = 0; i < LatencyHistogram::kBoundsMs.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(LatencyHistogram::kBoundsMs[i]);
  }
  out += ']';
  top.key("total");
  {
    JsonObject t(out);
    json_counters(r.metrics.total, t, out);
    t.close();
  }
  top.key("listeners");
  out += '[';
  std::vector<StatusReport::Listener> removed_listeners;
  bool first = true;
  for (const auto* l : with_removed(r.listeners, r.metrics.listeners, removed_listeners)) {
    if (!first) out += ',';
    first = false;
    JsonObject o(out);
    o.string("name", l->name);
    o.string("protocol", l->protocol);
    o.boolean("status_listener", l->status);
    o.optional("connections", l->connections);
    json_counters(counters_of(r.metrics.listeners, l->name), o, out);
    o.close();
  }
  out += ']';
  top.key("projects");
  out += '[';
  std::vector<StatusReport::Project> removed_projects;
  first = true;
  for (const auto* p : with_removed(r.projects, r.metrics.projects, removed_projects)) {
    if (!first) out += ',';
    first = false;
    JsonObject o(out);
    o.string("name", p->name);
    o.string("backend", p->backend);
    json_counters(counters_of(r.metrics.projects, p->name), o, out);
    o.key("upstreams");
    out += '[';
    for (size_t i = 0; i < p->report.upstreams.size(); ++i) {
      const auto& u = p->report.upstreams[i];
      if (i) out += ',';
      JsonObject uo(out);
      uo.string("name", u.name);
      uo.optional("open", u.open);
      uo.optional("idle", u.idle);
      uo.optional("limit", u.limit);
      uo.close();
    }
    out += ']';
    o.key("processes");
    out += '[';
    for (size_t i = 0; i < p->report.processes.size(); ++i) {
      const auto& pr = p->report.processes[i];
      if (i) out += ',';
      JsonObject po(out);
      po.number("instance", pr.instance);
      po.number("pid", static_cast<uint64_t>(pr.pid < 0 ? 0 : pr.pid));
      po.string("state", pr.state);
      po.string("address", pr.address);
      po.number("requests", pr.requests);
      po.number("in_flight", pr.in_flight);
      po.number("restarts", pr.restarts);
      po.close();
    }
    out += ']';
    o.optional("cgi_processes", p->report.cgi_processes);
    o.close();
  }
  out += ']';
  top.close();
  out += '\n';
  return out;
}

std::string render_prometheus(const StatusReport& r) {
  std::string out;
  out.reserve(16384);
  Exposition e(out);
  e.family("gatewayd_info", "gauge", "The running gatewayd: its version (always 1).");
  e.sample("gatewayd_info", "version=\"" + label(r.version) + "\"", 1);
  e.family("gatewayd_pid", "gauge", "Process id of the gatewayd serving this status listener.");
  e.sample("gatewayd_pid", "", static_cast<uint64_t>(r.pid < 0 ? 0 : r.pid));
  e.family("gatewayd_uptime_seconds", "gauge", "Seconds since gatewayd started.");
  e.sample("gatewayd_uptime_seconds", "", r.uptime_seconds);
  e.family("gatewayd_connections", "gauge", "Client connections open now.");
  e.sample("gatewayd_connections", "", r.connections);
  e.family("gatewayd_connection_buffer_bytes", "gauge",
           "Bytes held by the input and output buffers of the client connections.");
  e.sample("gatewayd_connection_buffer_bytes", "", r.connection_buffer_bytes);

  std::vector<StatusReport::Listener> removed_listeners;
  auto listeners = with_removed(r.listeners, r.metrics.listeners, removed_listeners);
  e.family("gatewayd_listener_connections", "gauge", "Client connections open now per listener.");
  for (const auto* l : listeners) {
    if (l->connections) {
      e.sample("gatewayd_listener_connections", "listener=\"" + label(l->name) + "\"",
               *l->connections);
    }
  }

  Scope total{"gatewayd_", "", {{"", &r.metrics.total}}};
  prometheus_scope(e, total);
  std::vector<StatusReport::Project> removed_projects;
  auto projects = with_removed(r.projects, r.metrics.projects, removed_projects);
  Scope per_project{"gatewayd_project_", " per project", {}};
  for (const auto* p : projects) {
    per_project.series.push_back(
        {"project=\"" + label(p->name) + "\"", &counters_of(r.metrics.projects, p->name)});
  }
  prometheus_scope(e, per_project);
  Scope per_listener{"gatewayd_listener_", " per listener", {}};
  for (const auto* l : listeners) {
    per_listener.series.push_back(
        {"listener=\"" + label(l->name) + "\"", &counters_of(r.metrics.listeners, l->name)});
  }
  prometheus_scope(e, per_listener);

  e.family("gatewayd_upstream_connections", "gauge",
           "Connections to an app per project and upstream (state: open or idle).");
  for (const auto* p : projects) {
    for (const auto& u : p->report.upstreams) {
      std::string labels = "project=\"" + label(p->name) + "\",upstream=\"" + label(u.name) + "\"";
      if (u.open) e.sample("gatewayd_upstream_connections", labels + ",state=\"open\"", *u.open);
      if (u.idle) e.sample("gatewayd_upstream_connections", labels + ",state=\"idle\"", *u.idle);
    }
  }
  e.family("gatewayd_upstream_connection_limit", "gauge",
           "Most connections the app takes (FCGI_MAX_CONNS; 0: none known).");
  for (const auto* p : projects) {
    for (const auto& u : p->report.upstreams) {
      if (!u.limit) continue;
      e.sample("gatewayd_upstream_connection_limit",
               "project=\"" + label(p->name) + "\",upstream=\"" + label(u.name) + "\"", *u.limit);
    }
  }
  e.family("gatewayd_cgi_processes", "gauge", "CGI scripts running per project.");
  for (const auto* p : projects) {
    if (p->report.cgi_processes) {
      e.sample("gatewayd_cgi_processes", "project=\"" + label(p->name) + "\"",
               *p->report.cgi_processes);
    }
  }
  struct ProcessMetric {
    const char* name;
    const char* type;
    const char* help;
  };
  static const ProcessMetric kProcess[] = {
      {"gatewayd_app_process_info", "gauge",
       "A spawned app instance: its pid (0: none running) and state (always 1)."},
      {"gatewayd_app_process_requests_total", "counter",
       "Requests sent to a spawned app instance, all its processes together."},
      {"gatewayd_app_process_in_flight", "gauge", "Requests running on a spawned app instance."},
      {"gatewayd_app_process_restarts_total", "counter",
       "Processes of a spawned app instance started after the first."},
  };
  for (size_t m = 0; m < 4; ++m) {
    e.family(kProcess[m].name, kProcess[m].type, kProcess[m].help);
    for (const auto* p : projects) {
      for (const auto& pr : p->report.processes) {
        std::string labels =
            "project=\"" + label(p->name) + "\",instance=\"" + std::to_string(pr.instance) + "\"";
        switch (m) {
          case 0:
            e.sample(kProcess[m].name,
                     labels + ",pid=\"" + std::to_string(pr.pid) + "\",state=\"" + label(pr.state) +
                         "\"",
                     1);
            break;
          case 1:
            e.sample(kProcess[m].name, labels, pr.requests);
            break;
          case 2:
            e.sample(kProcess[m].name, labels, pr.in_flight);
            break;
          default:
            e.sample(kProcess[m].name, labels, pr.restarts);
        }
      }
    }
  }
  return out;
}

}  // namespace gw
