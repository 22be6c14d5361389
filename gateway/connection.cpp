#include "gateway/connection.h"

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <ctime>

#include "gateway/io/address.h"
#include "gateway/io/stream.h"
#include "gateway/log.h"
#include "gateway/server.h"
#include "protocols/ajp13_server.h"
#include "protocols/fastcgi_server.h"
#include "protocols/http1_server.h"
#include "protocols/scgi_server.h"

namespace gw {

namespace {

// HTTP's answer when a request head or body does not come in time.
constexpr std::string_view kRequestTimeout =
    "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    "Connection: close\r\n\r\n408 Request Timeout\n";

std::string http_date() {
  // Formatted once a second at most: this runs for every HTTP response.
  static thread_local time_t cached_at = 0;
  static thread_local char cached[40];
  time_t now = time(nullptr);
  if (now != cached_at) {
    struct tm tm_utc;
    gmtime_r(&now, &tm_utc);
    strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm_utc);
    cached_at = now;
  }
  return cached;
}

}  // namespace

std::unique_ptr<ServerCodec> make_server_codec(const ListenerConfig& listener,
                                               const Limits& limits) {
  switch (listener.protocol) {
    case Protocol::FastCgi: {
      if (!listener.max_connections) return std::make_unique<FastCgiServerCodec>(limits);
      // FCGI_MAX_CONNS: the smaller of the server's bound and the listener's.
      Limits fcgi_limits = limits;
      fcgi_limits.max_connections = std::min(limits.max_connections, *listener.max_connections);
      return std::make_unique<FastCgiServerCodec>(fcgi_limits);
    }
    case Protocol::Http:
      return std::make_unique<Http1ServerCodec>(limits);
    case Protocol::Scgi:
      return std::make_unique<ScgiServerCodec>(limits);
    case Protocol::Ajp13: {
      Limits ajp_limits = limits;
      ajp_limits.ajp_packet_size = listener.ajp_packet_size;
      AjpOptions options;
      options.secret = listener.ajp_secret;
      options.allowed_attributes = listener.ajp_allowed_attributes;
      return std::make_unique<AjpServerCodec>(ajp_limits, std::move(options));
    }
  }
  return nullptr;
}

// One request in flight: the sink its backend writes the response into.
class Connection::RequestState final : public ResponseSink {
 public:
  RequestState(Connection& conn, StreamId id) : conn_(conn), id_(id) {}

  void on_head(ResponseHead head) override {
    if (finished_ || head_sent_) return;
    head_sent_ = true;
    record_.status = head.status;
    record_.first_byte_ns = uv_hrtime();
    if (conn_.listener_.protocol == Protocol::Http) {
      if (!head.header("Date")) head.headers.push_back({"Date", http_date()});
      if (!head.header("Server")) head.headers.push_back({"Server", "gatewayd"});
    }
    conn_.codec_->write_head(id_, head, conn_.out_);
    conn_.flush_soon();
  }
  void on_body(std::string_view data) override {
    if (finished_ || !head_sent_) return;
    record_.bytes_out += data.size();
    conn_.codec_->write_body(id_, data, conn_.out_);
    conn_.flush_soon();
  }
  void on_end() override {
    if (finished_) return;
    if (file_pending_) {
      end_after_file_ = true;  // the response ends with its file's last byte
      return;
    }
    finished_ = true;
    conn_.end_request(id_, false);
  }
  void on_error(int status, std::string_view why) override {
    if (finished_) return;
    log_error(why);
    if (!head_sent_) {
      conn_.respond_locally(
          *this, status, "text/plain; charset=utf-8",
          std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n");
      return;
    }
    finished_ = true;
    conn_.end_request(id_, true);
  }
  bool congested() const override {
    // Bytes still in out_ count too: while input is being processed, writes
    // are gathered there and only flushed at the end.
    bool full =
        conn_.stream_->queued() + conn_.out_.size() > conn_.server_.limits().output_high_water;
    if (full) conn_.congestion_signalled_ = true;
    return full;
  }
  void on_body_drained() override { conn_.resume_reading(); }
  // A plain socket and a Content-Length body (HTTP/1.1 listeners without
  // TLS): the codec frames nothing, so the file's bytes go to the socket as
  // they are.
  bool can_send_file() const override {
    return head_sent_ && !finished_ && !file_pending_ && conn_.stream_->sends_files() &&
           conn_.codec_->raw_body_allowance(id_) > 0;
  }
  void on_file(int fd, uint64_t offset, uint64_t length) override {
    if (!can_send_file()) {
      ::close(fd);
      return;
    }
    const uint64_t n = conn_.codec_->take_raw_body(id_, length);
    file_pending_ = true;
    // The head (gathered in out_) goes first, in one segment with the
    // file's first bytes. out_ is left empty: a response cut inside
    // send_file must not write the head again.
    std::string before;
    before.swap(conn_.out_);
    conn_.stream_->send_file(before, fd, offset, n,
                             [this](int status, uint64_t sent) { file_sent(status, sent); });
    if (conn_.out_.empty()) {
      before.clear();
      conn_.out_.swap(before);  // keeps its capacity
    }
  }
  void log_error(std::string_view message) override {
    // "GET /path" from the record, built only when a line is written.
    log::error(conn_.tag() + " " + record_.method + " " + record_.target + ": " +
               std::string(message));
  }

  // The stream is done with the file (maybe inside on_file already).
  void file_sent(int status, uint64_t sent) {
    file_pending_ = false;
    record_.bytes_out += sent;
    // Cancelled: the connection is closing, or the response was cut.
    if (status == UV_ECANCELED || finished_) return;
    if (status < 0) {
      log_error(status == UV_EOF ? std::string("file shrank while being sent")
                                 : "reading the file: " + io::uv_error_text(status));
      finished_ = true;
      conn_.end_request(id_, true);
      return;
    }
    if (end_after_file_) {
      end_after_file_ = false;
      finished_ = true;
      conn_.end_request(id_, false);
    }
  }

  // Tells the observer the request is over; once, whichever way it ended.
  void finish_record(bool aborted) {
    if (recorded_) return;
    recorded_ = true;
    record_.end_ns = uv_hrtime();
    record_.aborted = aborted || !finished_;
    if (RequestObserver* observer = conn_.server_.observer()) observer->request_finished(record_);
  }

  Connection& conn_;
  StreamId id_;
  // The backend the request started on, kept alive while its exchange
  // lives: a reload may retire it meanwhile. Declared before exchange_ so
  // that the exchange is destroyed first.
  std::shared_ptr<Backend> backend_;
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<io::Timer> deadline_;  // limits.request_timeout_ms, when set
  bool head_sent_ = false;
  bool finished_ = false;   // response complete (or abandoned)
  bool body_done_ = false;  // request body fully received
  RequestRecord record_;
  bool recorded_ = false;  // request_finished() was called

  bool file_pending_ = false;    // the stream is sending a file of the body
  bool end_after_file_ = false;  // on_end came while it was
};

Connection::Connection(Server& server, std::shared_ptr<const ListenerConfig> listener,
                       std::unique_ptr<io::Channel> channel, PeerInfo peer)
    : server_(server),
      listener_config_(std::move(listener)),
      listener_(*listener_config_),
      stream_(std::move(channel)),
      codec_(make_server_codec(listener_, server.limits())),
      peer_(std::move(peer)),
      idle_timer_(server.loop()),
      body_timer_(server.loop()) {
  stream_->set_handler(this);
}

Connection::~Connection() = default;

PeerInfo look_up_peer(int fd) {
  PeerInfo peer;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    io::describe_sockaddr(reinterpret_cast<sockaddr*>(&ss), peer.remote_addr, peer.remote_port);
  }
  len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    io::describe_sockaddr(reinterpret_cast<sockaddr*>(&ss), peer.local_addr, peer.local_port);
  }
  return peer;
}

const PeerInfo& Connection::peer() const {
  if (peer_.unread_fd >= 0) {
    // Once the socket is closing its descriptor may already be another
    // connection's: better no address than a wrong one.
    if (!stream_->closing()) peer_ = look_up_peer(peer_.unread_fd);
    peer_.unread_fd = -1;
  }
  return peer_;
}

void Connection::start() {
  stream_->read_start();
  arm_idle_timer();
}

std::string Connection::tag() const {
  std::string t = listener_.name;
  t += " ";
  const std::string& addr = peer().remote_addr;
  t += addr.empty() ? "local" : addr;
  return t;
}

// With no request in flight the connection may sit idle for the keep-alive
// timeout (front ends that keep FastCGI connections, nginx keepalive and
// LiteSpeed, reconnect); once bytes of a new request come, its head has the
// header timeout from its first byte (on_read). A request in flight stops
// both: the body and the backend have timeouts of their own.
void Connection::arm_idle_timer() {
  if (closing_) return;
  head_timer_on_ = false;
  if (!requests_.empty()) {
    idle_timer_.stop();
    return;
  }
  const uint64_t ms = server_.limits().keepalive_timeout_ms;
  if (ms == 0) {
    idle_timer_.stop();
  } else {
    idle_timer_.start(ms, [this] { close(false); });
  }
}

// Between requests a connection keeps its buffers for the next one, but not
// what a large request or response made them grow to (up to
// limits.input_buffer_bytes in, output_high_water and a piece out): ten
// thousand kept-alive connections would otherwise each hold that much after
// one upload. Small buffers stay, so that the usual request allocates nothing.
void Connection::trim_idle_buffers() {
  constexpr size_t kIdleBufferBytes = 16 * 1024;
  if (in_process_ || !requests_.empty()) return;
  if (in_.empty() && in_.capacity() > kIdleBufferBytes) std::string().swap(in_);
  if (out_.empty() && out_.capacity() > kIdleBufferBytes) std::string().swap(out_);
}

void Connection::update_body_timer(bool progress) {
  const uint64_t ms = server_.limits().body_timeout_ms;
  const bool waiting = !all_bodies_read();
  // Only while we read: a body paused by a congested backend is not late.
  if (closing_ || ms == 0 || !waiting || !stream_->reading()) {
    if (body_timer_on_) body_timer_.stop();
    body_timer_on_ = false;
    return;
  }
  if (progress || !body_timer_on_) {
    body_timer_on_ = true;
    body_timer_.start(ms, [this] { on_body_timeout(); });
  }
}

void Connection::on_header_timeout() {
  log::info(tag() + ": request head not complete after " +
            std::to_string(server_.limits().header_timeout_ms) +
            " ms (limits.header_timeout_ms), closing");
  if (listener_.protocol == Protocol::Http) out_.append(kRequestTimeout);
  close_after_timeout();
}

void Connection::on_body_timeout() {
  body_timer_on_ = false;
  if (closing_) return;
  log::info(tag() + ": no request body bytes for " +
            std::to_string(server_.limits().body_timeout_ms) +
            " ms (limits.body_timeout_ms), closing");
  std::vector<StreamId> late;
  for (const auto& [id, state] : requests_) {
    if (!state->body_done_ && !state->head_sent_ && !state->finished_) late.push_back(id);
  }
  for (StreamId id : late) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    RequestState& st = *it->second;
    if (st.exchange_) st.exchange_->cancel();
    st.exchange_.reset();
    respond_locally(st, 408, "text/plain; charset=utf-8", "408 Request Timeout\n");
    if (closing_) return;
  }
  close_after_timeout();
}

void Connection::on_request_timeout(StreamId id) {
  auto it = requests_.find(id);
  if (it == requests_.end() || closing_) return;
  RequestState& st = *it->second;
  if (st.finished_) return;
  const std::string why = "request not complete after " +
                          std::to_string(server_.limits().request_timeout_ms) +
                          " ms (limits.request_timeout_ms)";
  if (st.exchange_) st.exchange_->cancel();
  // A request whose body never came is the client's delay; otherwise the app's.
  st.on_error(st.body_done_ ? 504 : 408, why);
}

void Connection::close_after_timeout() {
  flush();
  stream_->close_lingering();
  close(true);
}

void Connection::on_read(std::string_view data) {
  bytes_read_ += data.size();
  if (requests_.empty() && !head_timer_on_ && !closing_) {
    // The first bytes of a request head: from now on it has to be complete
    // within the header timeout (slowloris), however slowly it trickles in.
    head_timer_on_ = true;
    const uint64_t ms = server_.limits().header_timeout_ms;
    if (ms == 0) {
      idle_timer_.stop();
    } else {
      idle_timer_.start(ms, [this] { on_header_timeout(); });
    }
  }
  in_.append(data);
  // A bounded input buffer: past the limit, stop reading until the codec
  // consumes (the codec itself rejects a unit larger than the limit).
  if (in_.size() >= server_.limits().input_buffer_bytes) stream_->read_stop();
  process_input();
  update_body_timer(/*progress=*/true);
}

bool Connection::input_paused() const {
  for (const auto& [id, state] : requests_) {
    if (state->exchange_ && !state->body_done_ && state->exchange_->body_congested()) return true;
  }
  return false;
}

void Connection::resume_reading() {
  if (closing_ || input_paused()) return;
  process_input();
  if (!closing_ && !input_eof_ && in_.size() < server_.limits().input_buffer_bytes &&
      !input_paused()) {
    stream_->read_start();
  }
}

void Connection::process_input() {
  if (in_process_) {
    refeed_ = true;
    return;
  }
  in_process_ = true;
  do {
    refeed_ = false;
    while (!closing_ && !in_.empty() && !input_paused()) {
      events_.clear();
      FeedResult r = codec_->feed(in_, events_, out_);
      for (auto& ev : events_) {
        handle_event(ev);
        if (closing_) break;
      }
      for (const CodecError& why : r.refused) log::warn(tag() + ": refused: " + why.what);
      if (r.error) {
        log::warn(tag() + ": protocol error: " + r.error->what);
        flush();
        // The peer may still be sending: no reset may overtake our answer.
        stream_->close_lingering();
        close(true);
        break;
      }
      in_.erase(0, r.consumed);
      if (r.consumed == 0) break;
    }
  } while (refeed_ && !closing_);
  in_process_ = false;
  request_more_body();
  flush();
  if (closing_) return;
  // A request answered inside this pass ended while its bytes were still
  // in in_: the graceful stop's idle check is only true now.
  if (draining_ && idle()) {
    close(true);
    return;
  }
  // A backend paused on bytes that were only gathered, and the socket took
  // them all at once: no drain callback will come, so resume it here.
  if (congestion_signalled_ && stream_->queued() == 0) on_drain();
  trim_idle_buffers();
  if (closing_) return;
  if (input_paused()) {
    stream_->read_stop();
  } else if (!input_eof_ && in_.size() < server_.limits().input_buffer_bytes) {
    stream_->read_start();
  }
  update_body_timer(false);
}

void Connection::request_more_body() {
  // AJP sends body packets only when asked; the codec asks at most once per
  // packet, so this may run after every pass. Other codecs ignore it.
  for (const auto& [id, state] : requests_) {
    if (state->body_done_) continue;
    if (state->exchange_ && state->exchange_->body_congested()) continue;
    codec_->want_body(id, out_);
  }
}

void Connection::handle_event(Event& event) {
  if (auto* started = std::get_if<RequestStarted>(&event)) {
    start_request(*started);
  } else if (auto* body = std::get_if<BodyData>(&event)) {
    auto it = requests_.find(body->stream);
    if (it == requests_.end()) return;
    it->second->record_.bytes_in += body->data.size();
    if (!it->second->exchange_) return;  // answered already: discard
    it->second->exchange_->send_body(body->data);
  } else if (auto* end = std::get_if<BodyEnd>(&event)) {
    auto it = requests_.find(end->stream);
    if (it == requests_.end()) return;
    it->second->body_done_ = true;
    if (it->second->exchange_) it->second->exchange_->finish_body();
  } else if (auto* aborted = std::get_if<StreamAborted>(&event)) {
    auto it = requests_.find(aborted->stream);
    if (it == requests_.end()) return;
    RequestState& state = *it->second;
    if (state.exchange_) state.exchange_->cancel();
    state.finished_ = true;
    state.finish_record(true);
    // FCGI_ABORT_REQUEST still gets a real END_REQUEST (FastCGI spec 5.4).
    end_request(aborted->stream, false);
  }
}

void Connection::start_request(RequestStarted& started) {
  Request& req = started.request;
  if (req.remote_addr.empty()) {
    // HTTP carries no CGI variables: the socket tells who is talking.
    const PeerInfo& ends = peer();
    req.remote_addr = ends.remote_addr;
    req.remote_port = ends.remote_port;
    req.server_addr = ends.local_addr;
    req.server_port = ends.local_port;
  }
  if (listener_.tls) {
    // Our own TLS: the facts come from the handshake, not from the client.
    req.https = true;
    if (const io::TlsFacts* tls = stream_->tls()) {
      req.ssl_protocol = tls->protocol;
      req.ssl_cipher = tls->cipher;
      req.ssl_session_id = tls->session_id;
      req.ssl_client_cert = tls->client_cert;
      req.ssl_key_size = tls->key_bits;
    }
  }
  if (req.server_name.empty()) {
    if (const std::string* host = req.header("Host")) {
      std::string_view h = *host;
      size_t colon = h.rfind(':');
      if (colon != std::string_view::npos && h.find(']', colon) == std::string_view::npos) {
        h = h.substr(0, colon);
      }
      req.server_name = std::string(h);
    }
  }
  auto state = std::make_unique<RequestState>(*this, started.stream);
  RequestState& st = *state;
  requests_[started.stream] = std::move(state);
  arm_idle_timer();
  begin_record(st.record_, req);
  if (const uint64_t ms = server_.limits().request_timeout_ms; ms != 0) {
    st.deadline_ = std::make_unique<io::Timer>(server_.loop());
    st.deadline_->start(ms, [this, id = started.stream] { on_request_timeout(id); });
  }

  if (started.reject_status != 0) {  // e.g. AJP: wrong secret, attribute not allowed
    st.log_error("refused: " + started.reject_reason);
    int status = started.reject_status;
    respond_locally(st, status, "text/plain; charset=utf-8",
                    std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n");
    return;
  }

  if (listener_.status) {  // never routed to a project
    st.backend_ = server_.status_backend();
    if (!st.backend_) {
      respond_locally(st, 404, "text/plain; charset=utf-8", "404 Not Found\n");
      return;
    }
    st.record_.backend = st.backend_->kind();
    st.record_.backend_start_ns = uv_hrtime();
    st.exchange_ = st.backend_->start(req, st);
    return;
  }

  // The route's project index is used here and now, never kept: a reload
  // between two loop callbacks may renumber the projects.
  Route route = server_.route(req, listener_);
  switch (route.kind) {
    case RouteKind::Project: {
      req.script_name = route.script_name;
      req.path_info = route.path_info;
      st.backend_ = server_.shared_backend(route.project);
      st.record_.project = server_.project_name(route.project);
      st.record_.backend = st.backend_->kind();
      st.record_.backend_start_ns = uv_hrtime();
      st.exchange_ = st.backend_->start(req, st);
      return;
    }
    case RouteKind::Index:
      respond_locally(st, 200, "text/html; charset=utf-8", server_.index_page(route.script_name));
      return;
    case RouteKind::Redirect:
      respond_locally(st, 301, "text/plain; charset=utf-8", "Moved\n",
                      {{"Location", route.location}});
      return;
    case RouteKind::BadRequest:
      st.log_error(route.why);
      respond_locally(st, 400, "text/plain; charset=utf-8", "400 Bad Request\n");
      return;
    case RouteKind::NotFound:
      respond_locally(st, 404, "text/plain; charset=utf-8", "404 Not Found: " + route.why + "\n");
      return;
  }
}

void Connection::begin_record(RequestRecord& record, const Request& req) {
  record.listener = &listener_;
  record.remote_addr = req.remote_addr;
  record.remote_user = req.remote_user;
  record.method = req.method;
  record.target = req.target;
  record.server_protocol = req.server_protocol;
  if (const std::string* referer = req.header("Referer")) record.referer = *referer;
  if (const std::string* agent = req.header("User-Agent")) record.user_agent = *agent;
  record.start_ns = uv_hrtime();
  clock_gettime(CLOCK_REALTIME, &record.started_at);
  if (RequestObserver* observer = server_.observer()) observer->request_started(record);
}

void Connection::respond_locally(RequestState& state, int status, std::string_view content_type,
                                 std::string body, std::vector<Header> extra) {
  ResponseHead head;
  head.status = status;
  head.headers = std::move(extra);
  head.headers.push_back({"Content-Type", std::string(content_type)});
  head.headers.push_back({"Content-Length", std::to_string(body.size())});
  state.on_head(std::move(head));
  state.on_body(body);
  state.on_end();
}

void Connection::end_request(StreamId id, bool aborted) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  // A cut response stops its file; its bytes sent so far are counted first.
  if (it->second->file_pending_) stream_->cancel_file();
  it->second->finish_record(aborted);
  const bool input_whole = all_bodies_read();
  bool keep;
  if (aborted) {
    keep = codec_->write_abort(id, out_);
  } else {
    keep = codec_->write_end(id, out_);
  }
  retire(id);
  served_ = true;
  flush_soon();
  if (requests_.empty()) bytes_at_idle_ = bytes_read_;
  if (!keep) {
    // Unread input (a body nobody asked for) would turn the close into a
    // reset. What is gathered in out_ goes first: a lingering stream takes
    // no more writes. No lingering is needed once every byte was read (those
    // already in in_ cannot cause a reset, only those left in the kernel)
    // and the peer sends nothing more (ServerCodec::peer_finished), or a
    // graceful stop closes, as it closes an idle connection: the plain close
    // saves the half-close, a timer and a loop turn, and does not hold the
    // stop for a client that keeps its end open.
    flush();
    const bool settled =
        input_whole && (codec_->peer_finished() || draining_) && !stream_->input_pending();
    if (!input_eof_ && !settled) stream_->close_lingering();
    close(true);
    return;
  }
  if ((input_eof_ && requests_.empty()) || (draining_ && idle())) {
    close(true);
    return;
  }
  arm_idle_timer();
  // The codec may hold a pipelined request that waited for this response.
  if (!in_.empty()) {
    if (in_process_) {
      refeed_ = true;
    } else {
      process_input();
    }
  } else {
    trim_idle_buffers();
  }
}

bool Connection::all_bodies_read() const {
  for (const auto& [id, state] : requests_) {
    if (!state->body_done_) return false;
  }
  return true;
}

void Connection::retire(StreamId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  it->second->finish_record(false);
  // The exchange may be the caller on the stack (it just called on_end):
  // free it on a later loop turn.
  std::shared_ptr<RequestState> dying(it->second.release());
  requests_.erase(it);
  io::defer(server_.loop(), [dying] {});
}

void Connection::flush_soon() {
  // Inside process_input() the response of a request answered at once (head,
  // body, end) is gathered and written with one system call at the end.
  if (!in_process_) flush();
}

void Connection::flush() {
  if (out_.empty() || stream_->closing()) {
    out_.clear();
    return;
  }
  stream_->write(out_);
  out_.clear();
}

void Connection::on_eof() {
  input_eof_ = true;
  const bool waiting_for_body = !all_bodies_read();
  // A front end closing mid-request has given up on it (FastCGI: "connection
  // close = abort of every request on it"; nginx itself takes a client's EOF
  // for an abort): its requests are cancelled, so that a CGI process or an
  // app request does not run on for nobody, unless the protocol lets a client
  // half-close after a whole request (SCGI).
  const bool half_close_allowed = codec_->answers_after_half_close() && !waiting_for_body;
  if (requests_.empty() || !half_close_allowed) close(false);
}

void Connection::on_error(int uv_error) {
  std::string detail = stream_->error_detail();  // TLS: the handshake's reason
  if (!detail.empty()) {
    log::info(tag() + ": " + detail);
  } else if (uv_error != UV_ECONNRESET && uv_error != UV_EPIPE) {
    log::info(tag() + ": " + io::uv_error_text(uv_error));
  }
  close(false);
}

void Connection::on_drain() {
  congestion_signalled_ = false;
  // Iterate over a snapshot: resume_response may end a request and erase it.
  std::vector<StreamId> ids;
  for (const auto& [id, state] : requests_) ids.push_back(id);
  for (StreamId id : ids) {
    auto it = requests_.find(id);
    if (it == requests_.end() || closing_) continue;
    if (it->second->exchange_ && !it->second->finished_) it->second->exchange_->resume_response();
  }
}

void Connection::drain() {
  draining_ = true;
  codec_->close_after_current();
  // A connection accepted just before the stop has its request on the way:
  // it is closed once that request is answered (or by the timeouts), not
  // now. Only a kept-alive connection between requests is closed at once.
  if (!closing_ && idle() && served_) close(true);
}

void Connection::close(bool flush_first) {
  if (closing_) {
    if (!flush_first) stream_->close(false);
    return;
  }
  if (flush_first) flush();
  closing_ = true;
  idle_timer_.stop();
  body_timer_.stop();
  for (auto& [id, state] : requests_) {
    // Only what is queued is flushed: the rest of a file is not.
    if (state->file_pending_) stream_->cancel_file();
    if (state->exchange_ && !state->finished_) {
      state->finished_ = true;
      state->exchange_->cancel();
    }
  }
  stream_->close(flush_first);
}

void Connection::on_closed() {
  // The single place a connection's life ends.
  for (auto& [id, state] : requests_) {
    if (state->exchange_ && !state->finished_) state->exchange_->cancel();
    state->finish_record(true);
  }
  server_.release(this);
}

}  // namespace gw
