#include "protocols/fastcgi_server.h"

#include <algorithm>
#include <cstring>

#include "protocols/cgi_params.h"

namespace gw {

using namespace fcgi;

namespace {

std::string id_text(StreamId id) {
  return "FastCGI request id " + std::to_string(id);
}

// A complete CGI answer the codec gives by itself when a request cannot be
// handed on (its params do not map, or its body is declared too large).
std::string local_response(int status) {
  std::string body = std::to_string(status) + " ";
  body.append(reason_phrase(status));
  body += "\n";
  ResponseHead head;
  head.status = status;
  head.headers = {{"Content-Type", "text/plain"}, {"Content-Length", std::to_string(body.size())}};
  return format_cgi_head(head) + body;
}

}  // namespace

FastCgiServerCodec::FastCgiServerCodec(const Limits& limits, bool multiplex)
    : limits_(limits), multiplex_(multiplex) {}

CodecError FastCgiServerCodec::protocol_error(std::string what) const {
  return CodecError{400, std::move(what)};
}

FeedResult FastCgiServerCodec::feed(std::string_view in, std::vector<Event>& events,
                                    std::string& out) {
  if (error_) return FeedResult{0, error_};
  std::optional<CodecError> err;
  size_t pos = framer_.feed(
      in, err, [&](const RecordHeader& h) { return on_header(h); },
      [&](std::string_view data) { return on_content(data, events, out); },
      [&] { return on_record_end(events, out); });
  if (err) error_ = err;
  FeedResult result{pos, std::move(err), std::move(refused_)};
  refused_.clear();  // moved from: valid but unspecified
  return result;
}

// Decides, from the header alone, where the content goes and what follows
// the record. Errors here never resynchronise: the connection closes.
std::optional<CodecError> FastCgiServerCodec::on_header(const RecordHeader& header) {
  record_ = header;
  if (record_.version != FCGI_VERSION_1) {
    return protocol_error("FastCGI record version " + std::to_string(record_.version) +
                          " (only 1 is supported)");
  }
  sink_ = Sink::Skip;
  action_ = Action::None;
  record_buf_.clear();
  if (record_.request_id == FCGI_NULL_REQUEST_ID) {
    sink_ = record_.type == FCGI_GET_VALUES ? Sink::Buffer : Sink::Skip;
    action_ = Action::Management;
    return std::nullopt;
  }
  auto it = streams_.find(record_.request_id);
  if (record_.type == FCGI_BEGIN_REQUEST) {
    if (it != streams_.end()) {
      return protocol_error("FCGI_BEGIN_REQUEST for " + id_text(record_.request_id) +
                            ", which is already active");
    }
    if (record_.content_length != kBeginRequestBodyLen) {
      return protocol_error("FCGI_BEGIN_REQUEST with " + std::to_string(record_.content_length) +
                            " content bytes (expected 8)");
    }
    sink_ = Sink::Buffer;
    action_ = Action::Begin;
    return std::nullopt;
  }
  // Records for inactive ids are ignored (spec 1.3), as is everything for a
  // request that was aborted: its END_REQUEST follows from write_end().
  if (it == streams_.end() || it->second.phase == Phase::Aborted) return std::nullopt;
  return on_app_header(it->second);
}

std::optional<CodecError> FastCgiServerCodec::on_app_header(Stream& s) {
  // Only an error needs the id as text: no string is built per record.
  auto id = [this] { return id_text(record_.request_id); };
  bool empty = record_.content_length == 0;
  switch (record_.type) {
    case FCGI_ABORT_REQUEST:
      action_ = Action::Abort;
      return std::nullopt;
    case FCGI_PARAMS:
      if (s.phase != Phase::Params)
        return protocol_error("FCGI_PARAMS after the end of " + id() + "'s params");
      sink_ = Sink::Params;
      action_ = empty ? Action::ParamsEnd : Action::None;
      return std::nullopt;
    case FCGI_STDIN:
      if (s.phase == Phase::Params) {
        return protocol_error("FCGI_STDIN for " + id() + " before its params ended");
      }
      if (s.phase == Phase::StdinDone) {
        return protocol_error("FCGI_STDIN for " + id() + " after its stdin ended");
      }
      sink_ = Sink::Stdin;
      action_ = empty ? Action::StdinEnd : Action::None;
      return check_body_bound(s);
    default:
      return protocol_error("unexpected " + std::string(record_type_name(record_.type)) +
                            " (type " + std::to_string(record_.type) + ") for active " + id());
  }
}

// Checked per record header, before any of its bytes is passed on, so that
// the outcome does not depend on how the input was split. A body longer than
// CONTENT_LENGTH would smuggle bytes past what the front end announced.
std::optional<CodecError> FastCgiServerCodec::check_body_bound(const Stream& s) const {
  uint64_t total = s.body_bytes + record_.content_length;
  if (s.content_length && total > *s.content_length) {
    return protocol_error("FCGI_STDIN for " + id_text(record_.request_id) + " carries more than " +
                          "its CONTENT_LENGTH of " + std::to_string(*s.content_length) + " bytes");
  }
  if (limits_.max_body_bytes != 0 && total > limits_.max_body_bytes) {
    return CodecError{413, "request body of " + id_text(record_.request_id) + " exceeds " +
                               std::to_string(limits_.max_body_bytes) +
                               " bytes (limits.max_body_bytes)"};
  }
  return std::nullopt;
}

std::optional<CodecError> FastCgiServerCodec::on_content(std::string_view data,
                                                         std::vector<Event>& events,
                                                         std::string& out) {
  if (sink_ == Sink::Skip || data.empty()) return std::nullopt;
  if (sink_ == Sink::Buffer) {
    record_buf_.append(data);
    return std::nullopt;
  }
  // The stream may have ended (write_end) while its record was arriving.
  auto it = streams_.find(record_.request_id);
  if (it == streams_.end() || it->second.phase == Phase::Aborted) return std::nullopt;
  Stream& s = it->second;
  if (sink_ == Sink::Params) {
    auto err = s.params->feed(data, s.vars);
    if (!err) return std::nullopt;
    if (err->http_status == 431) {
      // Well-formed but over a limit: the request gets its 431 (the front
      // end passes it on instead of a bare 502); the rest of its records
      // are ignored as those of an inactive id. Malformed pairs close.
      sink_ = Sink::Skip;
      return reject(record_.request_id, *err, out);
    }
    err->what = id_text(record_.request_id) + ": " + err->what;
    return err;
  }
  // on_app_header() checked the whole record against the body bounds.
  s.body_bytes += data.size();
  events.push_back(BodyData{record_.request_id, data});
  return std::nullopt;
}

std::optional<CodecError> FastCgiServerCodec::on_record_end(std::vector<Event>& events,
                                                            std::string& out) {
  Action action = action_;
  action_ = Action::None;
  if (action == Action::Management) return on_management(out);
  if (action == Action::Begin) return on_begin(out);
  if (action == Action::None) return std::nullopt;
  auto it = streams_.find(record_.request_id);
  if (it == streams_.end() || it->second.phase == Phase::Aborted) return std::nullopt;
  switch (action) {
    case Action::Abort:
      return on_abort(it->second, events, out);
    case Action::ParamsEnd:
      return on_params_end(it->second, events, out);
    case Action::StdinEnd:
      on_stdin_end(it->second, events);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// Management records (id 0, spec 1.8): GET_VALUES is answered with the
// values we understand; every other type with FCGI_UNKNOWN_TYPE.
std::optional<CodecError> FastCgiServerCodec::on_management(std::string& out) {
  open_ = {};
  if (record_.type != FCGI_GET_VALUES) {
    append_unknown_type(out, record_.type);
    return std::nullopt;
  }
  PairDecoder decoder(PairDecoder::Bounds{limits_.name_bytes, limits_.value_bytes,
                                          kMaxContentLength, limits_.header_count});
  std::vector<Header> names;
  auto err = decoder.feed(record_buf_, names);
  if (!err && !decoder.at_pair_boundary()) {
    err = protocol_error("FCGI_GET_VALUES ends inside a name-value pair");
  }
  if (err) return err;
  std::string body;
  bool conns = false, reqs = false, mpxs = false;
  for (const auto& n : names) {
    if (n.name == FCGI_MAX_CONNS && !conns) {
      conns = append_pair(body, n.name, std::to_string(limits_.max_connections));
    } else if (n.name == FCGI_MAX_REQS && !reqs) {
      reqs = append_pair(body, n.name, std::to_string(limits_.streams_per_connection));
    } else if (n.name == FCGI_MPXS_CONNS && !mpxs) {
      mpxs = append_pair(body, n.name, multiplex_ ? "1" : "0");
    }
  }
  append_record(out, FCGI_GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, body);
  return std::nullopt;
}

std::optional<CodecError> FastCgiServerCodec::on_begin(std::string& out) {
  StreamId id = record_.request_id;
  auto b = [this](size_t i) { return static_cast<uint8_t>(record_buf_[i]); };
  uint16_t role = static_cast<uint16_t>((b(0) << 8) | b(1));
  bool keep_conn = (b(2) & FCGI_KEEP_CONN) != 0;
  open_ = {};
  // The id stays inactive after these answers; its later records are ignored.
  if (role != FCGI_RESPONDER) {
    append_end_request(out, id, 0, FCGI_UNKNOWN_ROLE);
  } else if (!multiplex_ && !streams_.empty()) {
    append_end_request(out, id, 0, FCGI_CANT_MPX_CONN);
  } else if (streams_.size() >= limits_.streams_per_connection) {
    append_end_request(out, id, 0, FCGI_OVERLOADED);
    refused_.push_back(CodecError{503, id_text(id) +
                                           ": FCGI_OVERLOADED: " + std::to_string(streams_.size()) +
                                           " requests in flight on this connection "
                                           "(limits.streams_per_connection)"});
  } else {
    Stream& s = streams_[id];
    s.keep_conn = keep_conn;
    s.params.emplace(limits_);
    // nginx's stock fastcgi_params and a browser's headers come to 25 to 35
    // variables: room for them at once, rather than a vector that grows
    // five times and moves every variable each time.
    s.vars.reserve(std::min<size_t>(32, limits_.header_count));
  }
  return std::nullopt;
}

std::optional<CodecError> FastCgiServerCodec::on_abort(Stream& s, std::vector<Event>& events,
                                                       std::string& out) {
  StreamId id = record_.request_id;
  if (s.phase != Phase::Params) {
    s.phase = Phase::Aborted;
    events.push_back(StreamAborted{id});
    return std::nullopt;
  }
  // Nobody downstream knows this request yet: end it here (spec 1.9 still
  // wants an END_REQUEST).
  bool keep = s.keep_conn;
  streams_.erase(id);
  append_end(id, 0, out);
  if (keep) return std::nullopt;
  return protocol_error(id_text(id) + " aborted before its params ended (no FCGI_KEEP_CONN)");
}

std::optional<CodecError> FastCgiServerCodec::on_params_end(Stream& s, std::vector<Event>& events,
                                                            std::string& out) {
  StreamId id = record_.request_id;
  if (!s.params->at_pair_boundary()) {
    return protocol_error("FastCGI params of " + id_text(id) + " end inside a name-value pair");
  }
  s.params.reset();
  Request request;
  if (auto err = request_from_cgi(std::move(s.vars), Protocol::FastCgi, false, request)) {
    return reject(id, *err, out);
  }
  s.vars = {};
  if (limits_.max_body_bytes != 0 && request.content_length &&
      *request.content_length > limits_.max_body_bytes) {
    return reject(
        id,
        CodecError{413, "CONTENT_LENGTH " + std::to_string(*request.content_length) + " exceeds " +
                            std::to_string(limits_.max_body_bytes) + " (limits.max_body_bytes)"},
        out);
  }
  s.phase = Phase::Stdin;
  s.content_length = request.content_length;
  s.head_only = request.method == "HEAD";
  events.push_back(RequestStarted{id, std::move(request)});
  return std::nullopt;
}

void FastCgiServerCodec::on_stdin_end(Stream& s, std::vector<Event>& events) {
  StreamId id = record_.request_id;
  if (s.content_length && s.body_bytes < *s.content_length) {
    // The front end ended the body early: its client went away (spec 1.7).
    s.phase = Phase::Aborted;
    events.push_back(StreamAborted{id});
    return;
  }
  s.phase = Phase::StdinDone;
  events.push_back(BodyEnd{id});
}

// Answers a request that never reaches the gateway. Without FCGI_KEEP_CONN
// the connection must close after END_REQUEST, and an error is the one way
// feed() can ask for that; it also carries the reason to the error log.
std::optional<CodecError> FastCgiServerCodec::reject(StreamId id, const CodecError& why,
                                                     std::string& out) {
  bool keep = streams_[id].keep_conn;
  streams_.erase(id);
  open_ = {};
  append_stream_data(out, FCGI_STDOUT, id, local_response(why.http_status));
  append_end(id, 0, out);
  CodecError said{why.http_status, id_text(id) + ": " + why.what};
  if (!keep) return said;
  refused_.push_back(std::move(said));
  return std::nullopt;
}

void FastCgiServerCodec::write_head(StreamId stream, const ResponseHead& head, std::string& out) {
  if (!streams_.contains(stream)) return;
  append_stdout(stream, format_cgi_head(head), out);
}

void FastCgiServerCodec::write_body(StreamId stream, std::string_view data, std::string& out) {
  auto it = streams_.find(stream);
  if (it == streams_.end() || it->second.head_only) return;
  append_stdout(stream, data, out);
}

bool FastCgiServerCodec::write_end(StreamId stream, std::string& out) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return false;
  bool keep = it->second.keep_conn;
  streams_.erase(it);
  append_end(stream, 0, out);
  peer_finished_ = !keep;
  return keep;
}

// Mid-response failure. Alone on the connection, closing it is the clearest
// signal (nginx: "upstream prematurely closed"). With other requests in
// flight, END_REQUEST with appStatus 1 ends just this one.
bool FastCgiServerCodec::write_abort(StreamId stream, std::string& out) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return false;
  bool keep = it->second.keep_conn;
  streams_.erase(it);
  peer_finished_ = !keep;
  if (streams_.empty()) return false;
  append_end(stream, 1, out);
  return keep;
}

// The empty STDOUT record ends the stream (nginx without keep-alive stops
// there); END_REQUEST frees the id for reuse.
void FastCgiServerCodec::append_end(StreamId id, uint32_t app_status, std::string& out) {
  open_ = {};
  append_record(out, FCGI_STDOUT, id, {});
  append_end_request(out, id, app_status, FCGI_REQUEST_COMPLETE);
}

void FastCgiServerCodec::append_stdout(StreamId id, std::string_view data, std::string& out) {
  while (!data.empty()) {
    if (can_extend(id, out)) {
      size_t len = (static_cast<uint8_t>(out[open_.start + 4]) << 8) |
                   static_cast<uint8_t>(out[open_.start + 5]);
      size_t n = std::min(data.size(), kMaxContentLength - len);
      if (n > 0) {
        len += n;
        out[open_.start + 4] = static_cast<char>(len >> 8);
        out[open_.start + 5] = static_cast<char>(len & 0xFF);
        out.append(data.substr(0, n));
        data.remove_prefix(n);
        continue;
      }
    }
    size_t n = std::min(data.size(), kMaxContentLength);
    open_ = OpenRecord{&out, out.size(), id};
    append_record(out, FCGI_STDOUT, id, data.substr(0, n));
    data.remove_prefix(n);
  }
}

// True when the tail of `out` is still the STDOUT record of `id` this codec
// appended last, so growing it changes nothing but the record count.
bool FastCgiServerCodec::can_extend(StreamId id, const std::string& out) const {
  if (open_.buf != &out || open_.id != id || open_.start + FCGI_HEADER_LEN > out.size()) {
    return false;
  }
  auto at = [&](size_t i) { return static_cast<uint8_t>(out[open_.start + i]); };
  size_t len = (at(4) << 8) | at(5);
  return at(0) == FCGI_VERSION_1 && at(1) == FCGI_STDOUT && ((at(2) << 8) | at(3)) == id &&
         at(6) == 0 && open_.start + FCGI_HEADER_LEN + len == out.size();
}

}  // namespace gw
