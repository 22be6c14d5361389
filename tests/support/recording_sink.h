// A ResponseSink for backend tests: records what a backend tells it and
// checks the calling rules of dispatch/backend.h on the way — one head before
// any body, no body while congested, nothing after the end or an error.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/backend.h"

namespace gw::test {

class RecordingSink : public ResponseSink {
 public:
  std::optional<ResponseHead> head;
  std::vector<std::string> pieces;  // each on_body call
  bool ended = false;
  std::optional<int> error_status;
  std::string why;  // of the error
  std::vector<std::string> logs;
  bool congested_now = false;
  bool congest_after_each_piece = false;
  int drained = 0;         // on_body_drained calls
  bool cancelled = false;  // set by a test that cancelled the exchange
  std::function<void()> after_body;
  std::function<void()> after_end;

  void on_head(ResponseHead h) override {
    CHECK_FALSE(finished());
    CHECK_FALSE(head.has_value());
    head = std::move(h);
  }
  void on_body(std::string_view data) override {
    CHECK_FALSE(finished());
    CHECK(head.has_value());
    CHECK_FALSE(congested_now);  // a backend must not write while congested
    pieces.emplace_back(data);
    if (congest_after_each_piece) congested_now = true;
    if (after_body) after_body();
  }
  void on_end() override {
    CHECK_FALSE(finished());
    ended = true;
    if (after_end) after_end();
  }
  void on_error(int status, std::string_view w) override {
    CHECK_FALSE(finished());
    error_status = status;
    why = std::string(w);
  }
  bool congested() const override { return congested_now; }
  void on_body_drained() override { ++drained; }
  void log_error(std::string_view message) override { logs.emplace_back(message); }

  bool finished() const { return cancelled || ended || error_status.has_value(); }
  int status() const { return head ? head->status : -1; }
  std::string body() const {
    std::string out;
    for (const auto& p : pieces) out += p;
    return out;
  }
  std::string header(std::string_view name) const {
    const std::string* v = head ? head->header(name) : nullptr;
    return v ? *v : std::string("<absent>");
  }
};

}  // namespace gw::test
