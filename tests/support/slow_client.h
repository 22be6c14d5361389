// A client connection that drains slowly, for backend tests: the response
// is taken one piece per resume_response(), each time the sink reports
// congestion, until the sink has finished.
#pragma once

#include "dispatch/backend.h"
#include "tests/support/recording_sink.h"
#include "tests/support/test_loop.h"

namespace gw::test {

// Returns how many resumes it took, or -1 when the loop's wait ran out
// before the sink finished.
inline int resume_until_finished(TestLoop& loop, RecordingSink& sink, Exchange& exchange) {
  int resumes = 0;
  bool finished = loop.run_until([&] {
    if (sink.congested_now) {
      sink.congested_now = false;
      ++resumes;
      exchange.resume_response();
    }
    return sink.finished();
  });
  return finished ? resumes : -1;
}

}  // namespace gw::test
