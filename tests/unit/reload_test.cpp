// Reloading the project set: the plan (which names are kept, changed, added
// or removed), and a Server reloading real project directories — kept
// projects keep their very backend object, retired ones live on while a
// request holds them and are shut down and destroyed after, a set that
// fails to load leaves the running one alone, and the index template is
// read again (or kept when broken).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/backends/upstream.h"
#include "dispatch/project.h"
#include "gateway/config.h"
#include "gateway/server.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"

using gw::ProjectConfig;
using gw::ReloadPlan;
using gw::Server;
using gw::ServerConfig;

namespace {

ProjectConfig project(std::string name, std::string type = "echo", std::string description = "") {
  ProjectConfig p;
  p.name = name;
  p.dir = "/srv/" + name;
  p.description = std::move(description);
  p.backend.type = std::move(type);
  return p;
}

using Names = std::vector<std::string>;

// A fresh directory under /tmp holding project directories.
class ProjectsDir : public gw::test::TempDir {
 public:
  ProjectsDir() : TempDir("reload-test") {}
  void echo(const std::string& name, const std::string& description = "") const {
    write(name + "/project.json",
          R"({"description": ")" + description + R"(", "backend": {"type": "echo"}})");
  }
};

ServerConfig parent_config(const ProjectsDir& dir) {
  ServerConfig c;
  c.env_parent_dir = dir.path();
  return c;
}

std::vector<ProjectConfig> load(const ServerConfig& c) {
  std::vector<ProjectConfig> out;
  auto err = gw::load_projects(c, out);
  if (err) FAIL("load_projects: " << err->message());
  return out;
}

Names names_of(const Server& s) {
  Names out;
  for (size_t i = 0; i < s.project_count(); ++i) out.push_back(s.project_name(i));
  return out;
}

// The backend serving `name` now, or null.
std::shared_ptr<gw::Backend> backend_of(const Server& s, const std::string& name) {
  for (size_t i = 0; i < s.project_count(); ++i) {
    if (s.project_name(i) == name) return s.shared_backend(i);
  }
  return nullptr;
}

gw::Request get(const std::string& path) {
  gw::Request r;
  r.method = "GET";
  r.target = path;
  r.path = path;
  r.path_info = path;
  r.server_protocol = "HTTP/1.1";
  return r;
}

// A backend that counts its shutdown() calls and its destruction.
struct Counts {
  int shutdowns = 0;
  int destroyed = 0;
};
class CountingBackend : public gw::Backend {
 public:
  explicit CountingBackend(Counts& counts) : counts_(counts) {}
  ~CountingBackend() override { ++counts_.destroyed; }
  std::unique_ptr<gw::Exchange> start(const gw::Request&, gw::ResponseSink& sink) override {
    sink.on_error(500, "not for requests");
    return std::make_unique<gw::RefusedExchange>();
  }
  std::string_view kind() const override { return "counting"; }
  void shutdown() override { ++counts_.shutdowns; }

 private:
  Counts& counts_;
};

}  // namespace

TEST_CASE("reload: plan by name") {
  const std::vector<ProjectConfig> running = {project("a"), project("b"), project("c"),
                                              project("d")};
  SUBCASE("nothing changed") {
    ReloadPlan p = gw::plan_reload(running, running);
    CHECK(p.kept == Names{"a", "b", "c", "d"});
    CHECK(p.added.empty());
    CHECK(p.changed.empty());
    CHECK(p.removed.empty());
    CHECK(p.summary() == "added none; changed none; removed none; kept a, b, c, d");
  }
  SUBCASE("every kind at once") {
    std::vector<ProjectConfig> next = {project("e"), project("a"), project("b", "static"),
                                       project("d", "echo", "new words")};
    ReloadPlan p = gw::plan_reload(running, next);
    CHECK(p.added == Names{"e"});
    CHECK(p.changed == Names{"b", "d"});
    CHECK(p.removed == Names{"c"});
    CHECK(p.kept == Names{"a"});
    CHECK(p.summary() == "added e; changed b, d; removed c; kept a");
  }
  SUBCASE("any field counts as a change") {
    ProjectConfig moved = project("a");
    moved.dir = "/elsewhere/a";
    ProjectConfig with_mount = project("b");
    with_mount.mounts.push_back({});
    ProjectConfig upstream = project("c");
    upstream.backend.upstream = "127.0.0.1:9";
    ReloadPlan p = gw::plan_reload(running, {moved, with_mount, upstream, project("d")});
    CHECK(p.changed == Names{"a", "b", "c"});
    CHECK(p.kept == Names{"d"});
  }
  SUBCASE("from none, and to none") {
    ReloadPlan up = gw::plan_reload({}, running);
    CHECK(up.added == Names{"a", "b", "c", "d"});
    CHECK(up.kept.empty());
    ReloadPlan down = gw::plan_reload(running, {});
    CHECK(down.removed == Names{"a", "b", "c", "d"});
    CHECK(down.summary() == "added none; changed none; removed a, b, c, d; kept none");
  }
  SUBCASE("order follows the new set; removed follow the old") {
    ReloadPlan p = gw::plan_reload(running, {project("d"), project("b"), project("z")});
    CHECK(p.kept == Names{"d", "b"});
    CHECK(p.removed == Names{"a", "c"});
  }
}

TEST_CASE("reload: share_backend shuts down and destroys with its last owner") {
  Counts counts;
  auto shared = gw::share_backend(std::make_unique<CountingBackend>(counts));
  auto request_holds = shared;
  shared.reset();
  CHECK(counts.shutdowns == 0);
  CHECK(counts.destroyed == 0);
  request_holds.reset();
  CHECK(counts.shutdowns == 1);
  CHECK(counts.destroyed == 1);
}

TEST_CASE("reload: the server applies added, changed and removed projects") {
  gw::test::TestLoop loop;
  ProjectsDir dir;
  dir.echo("alpha");
  dir.echo("beta");
  dir.echo("gamma");
  ServerConfig config = parent_config(dir);
  Server server(loop.get(), config, load(config));
  REQUIRE_FALSE(server.start().has_value());
  REQUIRE(names_of(server) == Names{"alpha", "beta", "gamma"});

  auto alpha = backend_of(server, "alpha");
  auto beta_in_flight = backend_of(server, "beta");  // as a request holds it
  std::weak_ptr<gw::Backend> gamma = backend_of(server, "gamma");

  dir.echo("beta", "changed");
  dir.remove("gamma");
  dir.echo("delta");
  ReloadPlan plan;
  CHECK_FALSE(server.reload(&plan).has_value());
  CHECK(plan.added == Names{"delta"});
  CHECK(plan.changed == Names{"beta"});
  CHECK(plan.removed == Names{"gamma"});
  CHECK(plan.kept == Names{"alpha"});
  CHECK(names_of(server) == Names{"alpha", "beta", "delta"});

  CHECK(backend_of(server, "alpha") == alpha);          // the very same object
  CHECK(backend_of(server, "beta") != beta_in_flight);  // a new one
  CHECK(beta_in_flight.use_count() == 1);               // retired: only the request holds it
  CHECK(gamma.expired());                               // retired, no request: gone
  CHECK(backend_of(server, "delta") != nullptr);

  // Routes follow the new set at once.
  gw::ListenerConfig listener;
  gw::Route gone = server.route(get("/gamma/x"), listener);
  CHECK(gone.kind == gw::RouteKind::NotFound);
  gw::Route added = server.route(get("/delta/x"), listener);
  REQUIRE(added.kind == gw::RouteKind::Project);
  CHECK(server.project_name(added.project) == "delta");
  CHECK(server.index_page("").find("href=\"/gamma/\"") == std::string::npos);
  CHECK(server.index_page("").find("href=\"/delta/\"") != std::string::npos);

  // The retired backend still serves the request that holds it.
  gw::test::RecordingSink sink;
  gw::Request req = get("/x");
  req.script_name = "/beta";
  auto exchange = beta_in_flight->start(req, sink);
  if (exchange) exchange->finish_body();
  CHECK(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.status() == 200);
  exchange.reset();
  beta_in_flight.reset();
}

TEST_CASE("reload: a set that fails to load leaves the running one alone") {
  gw::test::TestLoop loop;
  ProjectsDir dir;
  dir.echo("alpha");
  dir.echo("beta");
  ServerConfig config = parent_config(dir);
  Server server(loop.get(), config, load(config));
  REQUIRE_FALSE(server.start().has_value());
  auto alpha = backend_of(server, "alpha");
  auto beta = backend_of(server, "beta");

  SUBCASE("broken project.json") {
    std::string path = dir.write("beta/project.json", R"({"backend": {"type": "echo"})");
    dir.echo("gamma");
    auto err = server.reload();
    REQUIRE(err.has_value());
    CHECK(err->starts_with(path));
  }
  SUBCASE("unknown backend type") {
    std::string path = dir.write("beta/project.json", R"({"backend": {"type": "nope"}})");
    auto err = server.reload();
    REQUIRE(err.has_value());
    CHECK(*err == path + ": backend.type: must be one of static, echo, http, fastcgi, scgi, cgi");
  }
  SUBCASE("the parent directory is gone") {
    std::filesystem::rename(dir.path(), dir.path() + "-moved");
    auto err = server.reload();
    std::filesystem::rename(dir.path() + "-moved", dir.path());
    REQUIRE(err.has_value());
    CHECK(*err == dir.path() + ": cannot list: No such file or directory");
  }
  CHECK(names_of(server) == Names{"alpha", "beta"});
  CHECK(backend_of(server, "alpha") == alpha);
  CHECK(backend_of(server, "beta") == beta);

  // Repaired, the next reload applies.
  dir.echo("beta");
  ReloadPlan plan;
  CHECK_FALSE(server.reload(&plan).has_value());
  CHECK(backend_of(server, "beta") == beta);
  CHECK(plan.kept.size() + plan.added.size() == names_of(server).size());
}

TEST_CASE("reload: single-env mode reloads its one project") {
  gw::test::TestLoop loop;
  ProjectsDir dir;
  dir.echo("solo");
  ServerConfig config;
  config.single_env = true;
  config.project_dirs = {dir.path() + "/solo"};
  Server server(loop.get(), config, load(config));
  REQUIRE_FALSE(server.start().has_value());
  auto first = backend_of(server, "solo");

  ReloadPlan plan;
  CHECK_FALSE(server.reload(&plan).has_value());
  CHECK(plan.kept == Names{"solo"});
  CHECK(backend_of(server, "solo") == first);

  dir.echo("solo", "now described");
  CHECK_FALSE(server.reload(&plan).has_value());
  CHECK(plan.changed == Names{"solo"});
  CHECK(backend_of(server, "solo") != first);
  gw::Route r = server.route(get("/any/path"), gw::ListenerConfig{});
  CHECK(r.kind == gw::RouteKind::Project);
  CHECK(r.project == 0);
}

TEST_CASE("reload: the index template is read again, and kept when broken") {
  gw::test::TestLoop loop;
  ProjectsDir dir;
  dir.echo("alpha", "first");
  std::string tmpl = dir.write("index.html", "[{% for p in projects %}{{ p.name }}{% endfor %}]");
  ServerConfig config = parent_config(dir);
  config.index_template = tmpl;
  Server server(loop.get(), config, load(config));
  REQUIRE_FALSE(server.start().has_value());
  CHECK(server.index_page("/m") == "[alpha]");

  dir.write("index.html", "{{ count }}:{% for p in projects %}{{ p.href }}{% endfor %}");
  dir.echo("beta");
  CHECK_FALSE(server.reload().has_value());
  CHECK(server.index_page("/m") == "2:/m/alpha//m/beta/");

  dir.write("index.html", "line one\n{{ broken");
  dir.echo("gamma");
  auto err = server.reload();
  REQUIRE(err.has_value());
  CHECK(*err == "--index-template " + tmpl + ": line 2: '{{' is not closed by '}}'");
  // The projects still reload; the page keeps the old template.
  CHECK(server.index_page("") == "3:/alpha//beta//gamma/");
}

TEST_CASE("reload: a broken index template fails start") {
  gw::test::TestLoop loop;
  ProjectsDir dir;
  dir.echo("alpha");
  std::string tmpl = dir.write("index.html", "{% for p in projects %}");
  ServerConfig config = parent_config(dir);
  config.index_template = tmpl;
  Server server(loop.get(), config, load(config));
  auto err = server.start();
  REQUIRE(err.has_value());
  CHECK(*err ==
        "--index-template " + tmpl + ": line 1: '{% for %}' is not closed by '{% endfor %}'");
}

TEST_CASE("reload: refused before start and after stop") {
  gw::test::TestLoop loop;
  ProjectsDir dir;
  dir.echo("alpha");
  ServerConfig config = parent_config(dir);
  Server server(loop.get(), config, load(config));
  CHECK(server.reload().has_value());
  REQUIRE_FALSE(server.start().has_value());
  server.stop();
  dir.echo("beta");
  CHECK(server.reload().has_value());
  CHECK(names_of(server) == Names{"alpha"});
}
