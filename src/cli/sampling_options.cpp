// The sampling options `run` and `chat` share, with one set of ranges.
#include "cli/commands.h"
#include "sampling/sampler.h"

namespace lineage::cli {

void add_sampling_options(CLI::App* c, SamplerParams& s) {
  c->add_option("--temp", s.temperature, "temperature (0: greedy)")->capture_default_str()->check(CLI::Range(0.0f, 100.0f));
  c->add_option("--top-k", s.top_k, "top-k (0: off)")->capture_default_str();
  c->add_option("--top-p", s.top_p, "top-p (1: off)")->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  c->add_option("--min-p", s.min_p, "min-p (0: off)")->capture_default_str()->check(CLI::Range(0.0f, 1.0f));
  c->add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.01f, 100.0f));
  c->add_option("--repeat-last-n", s.repeat_last_n, "tokens the penalties look back over")->capture_default_str();
  c->add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty")
      ->capture_default_str()
      ->check(CLI::Range(-100.0f, 100.0f));
  c->add_option("--presence-penalty", s.presence_penalty, "presence penalty")
      ->capture_default_str()
      ->check(CLI::Range(-100.0f, 100.0f));
}

}  // namespace lineage::cli
