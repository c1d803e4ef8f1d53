// The checks made before routing (API key, Host header against DNS
// rebinding) and the Prometheus text of /metrics.
#include <gtest/gtest.h>

#include "server/http_guard.h"
#include "server/metrics.h"

namespace lineage::server {
namespace {

TEST(ServerGuard, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("secret", ""));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), "a"));
}

TEST(ServerGuard, BearerToken) {
  EXPECT_EQ(bearer_token("Bearer sk-123"), "sk-123");
  EXPECT_EQ(bearer_token("bearer   sk-123 "), "sk-123");
  EXPECT_EQ(bearer_token("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(bearer_token("Bearer "), "");
  EXPECT_EQ(bearer_token(""), "");
}

TEST(ServerGuard, LocalHostHeaders) {
  for (const char* h : {"localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1", "127.0.0.1:65535", "127.1.2.3:80",
                        "[::1]", "[::1]:8080", "app.localhost:3000", "localhost."})
    EXPECT_TRUE(is_local_host_header(h)) << h;
  for (const char* h : {"evil.com", "evil.com:8080", "localhost.evil.com", "127.0.0.1.evil.com", "128.0.0.1",
                        "127.0.0.256", "127.0.0", "10.0.0.1:8080", "[::2]:80", "localhost:80x", "", ":8080",
                        "[::1]x", "0.0.0.0:8080", "localhost:"})
    EXPECT_FALSE(is_local_host_header(h)) << h;
}

TEST(ServerGuard, LoopbackBind) {
  EXPECT_TRUE(is_loopback_bind("127.0.0.1"));
  EXPECT_TRUE(is_loopback_bind("localhost"));
  EXPECT_TRUE(is_loopback_bind("::1"));
  EXPECT_FALSE(is_loopback_bind("0.0.0.0"));
  EXPECT_FALSE(is_loopback_bind("192.168.1.5"));
}

TEST(ServerMetrics, PrometheusText) {
  SchedulerStats s;
  s.requests_total = 3;
  s.prompt_tokens_total = 30;
  s.generated_tokens_total = 50;
  s.busy_seconds_total = 2.0;
  s.queue_depth = 1;
  s.busy_slots = 2;
  s.n_slots = 4;
  RequestCounter rc;
  rc.count("/v1/completions", 200);
  rc.count("/v1/completions", 200);
  rc.count("other", 404);
  const std::string t = render_metrics(s, rc.snapshot());
  auto has = [&](const std::string& line) { return t.find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("lineage_requests_total 3"));
  EXPECT_TRUE(has("lineage_prompt_tokens_total 30"));
  EXPECT_TRUE(has("lineage_generated_tokens_total 50"));
  EXPECT_TRUE(has("lineage_tokens_per_second 40"));  // (30 + 50) / 2
  EXPECT_TRUE(has("lineage_generated_tokens_per_second 25"));
  EXPECT_TRUE(has("lineage_queue_depth 1"));
  EXPECT_TRUE(has("lineage_busy_slots 2"));
  EXPECT_TRUE(has("# TYPE lineage_requests_total counter"));
  EXPECT_TRUE(has("lineage_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2"));
  EXPECT_TRUE(has("lineage_http_requests_total{endpoint=\"other\",status=\"404\"} 1"));
}

}  // namespace
}  // namespace lineage::server
