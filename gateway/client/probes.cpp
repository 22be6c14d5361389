// The probes: AJP CPING (is the container alive, and how fast does it
// answer?) and FastCGI FCGI_GET_VALUES (what does the app say its limits
// are?). Neither sends a request.
#include <uv.h>

#include <cstdio>
#include <variant>

#include "gateway/client/link.h"
#include "gateway/client/one_request.h"
#include "gateway/client/wire.h"
#include "protocols/ajp13_client.h"
#include "protocols/fastcgi_client.h"

namespace gw::client {

namespace {

// Connects, sends one message, waits for one answer.
class Probe : public LinkUser {
 public:
  Probe(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
        const std::string& display, Output& out)
      : display_(display),
        out_(out),
        link_(loop, *this, options.protocol, address, display, options.timeout_ms) {}

  int run(uv_loop_s* loop) {
    out_.info("connecting to " + display_);
    link_.connect();
    uv_run(loop, UV_RUN_DEFAULT);
    if (!finished_) {
      out_.error("the event loop stopped before the probe ended");
      return kExitPeer;
    }
    return exit_;
  }

 protected:
  void send(std::string_view what, std::string_view bytes) {
    out_.info("connected");
    out_.sent(what);
    sent_ns_ = uv_hrtime();
    link_.write(bytes);
  }

  void answer(const std::string& line) {
    finished_ = true;
    link_.close();
    if (!out_.body(line + "\n") || !out_.flush()) {
      out_.error(out_.stdout_error()->what);
      exit_ = kExitOutput;
      return;
    }
    exit_ = kExitOk;
  }

  void fail(ClientError error) {
    if (finished_) return;
    finished_ = true;
    link_.close();
    out_.error(error.what);
    exit_ = exit_status(error.failure);
  }

  void on_link_failed(ClientError error) override { fail(std::move(error)); }

  std::string display_;
  Output& out_;
  ClientLink link_;
  uint64_t sent_ns_ = 0;
  bool finished_ = false;
  int exit_ = kExitPeer;
};

std::string_view ajp_event_name(const ajp::ClientEvent& event) {
  static constexpr std::string_view kNames[] = {"SEND_HEADERS", "SEND_BODY_CHUNK", "GET_BODY_CHUNK",
                                                "END_RESPONSE", "CPONG"};
  return kNames[event.index()];
}

std::string_view fcgi_event_name(const fcgi::ClientEvent& event) {
  static constexpr std::string_view kNames[] = {"FCGI_STDOUT",
                                                "FCGI_STDERR",
                                                "FCGI_STDOUT",
                                                "FCGI_END_REQUEST",
                                                "FCGI_GET_VALUES_RESULT",
                                                "FCGI_UNKNOWN_TYPE"};
  return kNames[event.index()];
}

class CPingProbe final : public Probe {
 public:
  CPingProbe(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
             const std::string& display, Output& out)
      : Probe(loop, options, address, display, out) {
    limits_.ajp_packet_size = options.ajp_packet_size;
    decoder_.emplace(limits_);
  }

 private:
  void on_connected() override {
    std::string bytes;
    ajp::encode_cping(bytes);
    send("CPING", bytes);
  }

  size_t on_input(std::string_view data) override {
    if (finished_) return data.size();
    events_.clear();
    FeedResult r = decoder_->feed(data, events_);
    for (const auto& event : events_) {
      if (!std::holds_alternative<ajp::CPong>(event)) {
        fail(ClientError{Failure::Malformed, "AJP: the container answered CPING with " +
                                                 std::string(ajp_event_name(event)) +
                                                 ", not CPONG"});
        return data.size();
      }
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(uv_hrtime() - sent_ns_) / 1e6);
      out_.received("CPONG");
      answer("CPONG from " + display_ + " in " + ms + " ms");
      return data.size();
    }
    if (r.error) {
      fail(ClientError{Failure::Malformed, "AJP: " + r.error->what});
      return data.size();
    }
    return r.consumed;
  }

  void on_peer_closed() override {
    fail(ClientError{Failure::Closed,
                     "AJP: the container closed the connection without answering CPING"});
  }

  std::string waiting_for() const override { return "CPONG"; }

  Limits limits_;
  std::optional<AjpClientDecoder> decoder_;
  std::vector<ajp::ClientEvent> events_;
};

class GetValuesProbe final : public Probe {
 public:
  using Probe::Probe;

 private:
  void on_connected() override {
    std::string bytes;
    fcgi::encode_get_values(bytes,
                            {std::string(fcgi::FCGI_MAX_CONNS), std::string(fcgi::FCGI_MAX_REQS),
                             std::string(fcgi::FCGI_MPXS_CONNS)});
    send("GET_VALUES FCGI_MAX_CONNS FCGI_MAX_REQS FCGI_MPXS_CONNS", bytes);
  }

  size_t on_input(std::string_view data) override {
    if (finished_) return data.size();
    events_.clear();
    FeedResult r = decoder_.feed(data, events_);
    for (const auto& event : events_) {
      if (const auto* result = std::get_if<fcgi::GetValuesResult>(&event)) {
        out_.received("GET_VALUES_RESULT, " + std::to_string(result->pairs.size()) + " values");
        std::string lines;
        for (const Header& pair : result->pairs) {
          lines += (lines.empty() ? "" : "\n") + pair.name + "=" + pair.value;
        }
        if (result->pairs.empty()) lines = "(no values)";
        answer(lines);
        return data.size();
      }
      if (const auto* unknown = std::get_if<fcgi::UnknownTypeReply>(&event)) {
        out_.received("UNKNOWN_TYPE " + std::to_string(unknown->type));
        answer("FCGI_UNKNOWN_TYPE (the app does not implement FCGI_GET_VALUES)");
        return data.size();
      }
      fail(ClientError{Failure::Malformed, "FastCGI: the app answered FCGI_GET_VALUES with " +
                                               std::string(fcgi_event_name(event))});
      return data.size();
    }
    if (r.error) {
      fail(ClientError{Failure::Malformed, "FastCGI: " + r.error->what});
      return data.size();
    }
    return r.consumed;
  }

  void on_peer_closed() override {
    fail(ClientError{Failure::Closed,
                     "FastCGI: the app closed the connection without answering FCGI_GET_VALUES"});
  }

  std::string waiting_for() const override { return "FCGI_GET_VALUES_RESULT"; }

  FastCgiClientDecoder decoder_;
  std::vector<fcgi::ClientEvent> events_;
};

}  // namespace

int run_cping(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
              const std::string& display, Output& out) {
  CPingProbe probe(loop, options, address, display, out);
  return probe.run(loop);
}

int run_get_values(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
                   const std::string& display, Output& out) {
  GetValuesProbe probe(loop, options, address, display, out);
  return probe.run(loop);
}

}  // namespace gw::client
