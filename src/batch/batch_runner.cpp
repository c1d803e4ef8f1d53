#include "batch/batch_runner.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "batch/batch_journal.h"
#include "batch/batch_progress.h"
#include "batch/batch_prompt.h"
#include "chat/chat_prompt.h"
#include "core/text_file.h"
#include "core/error.h"
#include "runtime/scheduler.h"

namespace lineage::batch {

namespace {

using ojson = nlohmann::ordered_json;

// FNV-1a: enough to notice that a file changed between two runs.
uint64_t fnv1a(const char* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string text_hash(const std::string& s) { return hex(fnv1a(s.data(), s.size())); }

// A model file is known by its size and its first 4 MiB (the header, the
// metadata with the vocabulary, and the first tensors): reading all of a
// multi-gigabyte file at every start would cost more than the check is worth.
ojson model_identity(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  std::ifstream f(path, std::ios::binary);
  std::string head(size_t{4} << 20, '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(f.gcount()));
  return ojson{{"file", std::filesystem::path(path).filename().string()},
               {"bytes", static_cast<uint64_t>(size)},
               {"head_fnv64", text_hash(head)}};
}

// Each row's seed comes from the run's seed and the row's id, so a sampled
// answer does not depend on which rows ran before it or beside it.
uint64_t row_seed(uint64_t base, const std::string& key) {
  uint64_t z = fnv1a(key.data(), key.size(), base ^ 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Everything that shapes an answer; --parallel, --threads and the file
// names do not (a row's answer is the same whatever batch it runs in).
ojson answer_settings(const BatchOptions& o, const BatchInputs& in, int n_ctx, const std::string& chat_source,
                      const std::vector<std::string>& stops) {
  const SamplerParams& s = o.gen.sampling;
  ojson j;
  j["format"] = 1;
  j["model"] = model_identity(o.model);
  j["template_fnv64"] = text_hash(in.row_template);
  j["chat"] = o.chat;
  if (o.chat) {
    j["chat_template_fnv64"] = text_hash(chat_source);
    j["system"] = o.system;
  }
  j["json_schema_fnv64"] = in.schema ? ojson(text_hash(in.schema->schema().dump())) : ojson(nullptr);
  j["n_predict"] = o.gen.n_predict;
  j["ctx_size"] = n_ctx;
  j["seed"] = s.seed;
  j["sampling"] = {{"temperature", s.temperature},
                   {"top_k", s.top_k},
                   {"top_p", s.top_p},
                   {"min_p", s.min_p},
                   {"repeat_penalty", s.repeat_penalty},
                   {"repeat_last_n", s.repeat_last_n},
                   {"frequency_penalty", s.frequency_penalty},
                   {"presence_penalty", s.presence_penalty}};
  j["stop"] = stops;
  j["ignore_eos"] = o.gen.ignore_eos;
  return j;
}

// One row on its way through the scheduler. The scheduler's thread fills
// it; the main thread reads it once it is on the finished list.
struct Flight {
  size_t row = 0;
  std::string text;
  CompletionResult result;
  std::shared_ptr<RequestHandle> handle;
};

struct Finished {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Flight>> list;
};

}  // namespace

BatchInputs read_inputs(const BatchOptions& o) {
  BatchInputs in;
  in.row_template = read_text_file(o.template_path, "template");
  check_row_template(in.row_template);
  if (!o.schema_path.empty()) {
    in.schema = AnswerSchema::load(o.schema_path);
    try {
      in.grammar = in.schema->grammar();
    } catch (const Error& e) {
      fail(o.schema_path, ": ", e.what());
    }
  }
  if (!o.chat && !o.system.empty()) fail("--system needs --chat (plain completion has no system message)");
  if (!o.chat && !o.chat_template_path.empty()) fail("--chat-template needs --chat");
  in.rows = read_rows(o.input);
  return in;
}

BatchSummary run_batch(const Engine& engine, const BatchOptions& o, const BatchInputs& in,
                       const std::atomic<int>& stop_signal) {
  const int n_ctx = o.ctx_size > 0 ? o.ctx_size : engine.default_context();
  std::optional<std::string> chat_source;
  std::vector<std::string> stops = o.gen.stop;
  for (auto& s : engine.default_stop_strings()) stops.push_back(s);
  if (o.chat) {
    chat::TemplateChoice tpl = chat::choose_template(engine.file(), o.chat_template_path);
    chat_source = tpl.source;
    if (tpl.is_fallback)
      for (auto& s : chat::fallback_stop_strings()) stops.push_back(s);
  }
  PromptMaker prompts(engine, in.row_template, chat_source, o.system);

  LineFile out(o.output);
  if (!out.try_lock()) fail(o.output, ": another `lineage batch` is writing this output");
  LineFile err(o.errors);
  // What earlier runs finished.
  const DoneRows answered = scan_done(o.output);
  const DoneRows errored = scan_done(o.errors);
  for (const DoneRows* d : {&answered, &errored})
    if (d->cut_bytes)
      std::fprintf(stderr, "batch: removed a partial last line (%zu bytes) left by an interrupted write\n", d->cut_bytes);
  check_settings(o.output, answer_settings(o, in, n_ctx, chat_source.value_or(""), stops),
                 answered.lines + errored.lines > 0);

  BatchSummary sum;
  sum.total = in.rows.size();
  std::vector<size_t> pending;
  for (size_t i = 0; i < in.rows.size(); ++i) {
    const std::string& k = in.rows[i].key;
    if (answered.keys.count(k))
      ++sum.answered_before;
    else if (errored.keys.count(k))
      ++sum.errors_before;
    else
      pending.push_back(i);
  }
  const size_t known = sum.answered_before + sum.errors_before;
  if (answered.keys.size() + errored.keys.size() > known)
    std::fprintf(stderr, "batch: note: %zu finished rows in %s or %s have ids that are not in %s\n",
                 answered.keys.size() + errored.keys.size() - known, o.output.c_str(), o.errors.c_str(),
                 o.input.c_str());
  if (known)
    std::fprintf(stderr, "batch: resuming: %zu of %zu rows done before (%zu answered, %zu errors)\n", known,
                 sum.total, sum.answered_before, sum.errors_before);

  auto write_error = [&](const InputRow& r, const std::string& why, const std::string* answer = nullptr) {
    ojson j{{"id", r.id}, {"line", r.line}, {"error", why}};
    if (answer) j["answer"] = *answer;
    err.append(to_line(j));
    ++sum.errors;
  };

  if (pending.empty()) {
    Progress(sum.total, known).finish(0, sum.errors_before, 0);
    return sum;
  }

  SchedulerOptions so;
  so.n_slots = o.parallel;
  so.n_ctx = n_ctx;
  // Twice the slots in flight keeps every slot fed while finished rows are written.
  const size_t max_flight = static_cast<size_t>(o.parallel) * 2;
  so.max_queue = static_cast<int>(max_flight);
  auto finished = std::make_shared<Finished>();
  Scheduler sched(engine, so);
  const auto t0 = std::chrono::steady_clock::now();
  Progress progress(sum.total, known);

  size_t next = 0, in_flight = 0;
  std::vector<std::shared_ptr<Flight>> flying;
  auto submit_row = [&](size_t idx) -> bool {
    const InputRow& r = in.rows[idx];
    if (!r.bad.empty()) {
      write_error(r, r.bad);
      return true;
    }
    std::vector<int32_t> ids;
    try {
      ids = prompts.tokens(ojson::parse(r.text));
    } catch (const Error& e) {
      write_error(r, std::string("template: ") + e.what());
      return true;
    }
    if (static_cast<int>(ids.size()) >= n_ctx) {
      write_error(r, "the prompt has " + std::to_string(ids.size()) + " tokens but the context holds " +
                         std::to_string(n_ctx) + " (it must leave room for at least one generated token; see -c)");
      return true;
    }
    auto f = std::make_shared<Flight>();
    f->row = idx;
    CompletionRequest req;
    req.prompt = std::move(ids);
    req.options = o.gen;
    req.options.stop = stops;
    req.options.sampling.seed = row_seed(o.gen.sampling.seed, r.key);
    if (!in.grammar.empty()) constrain(req.options, in.grammar);
    req.on_text = [f](const std::string& text, const std::vector<TokenLogprob>&) {
      f->text += text;
      return true;
    };
    req.on_done = [f, finished](const CompletionResult& res) {
      f->result = res;
      std::lock_guard<std::mutex> lk(finished->mu);
      finished->list.push_back(f);
      finished->cv.notify_all();
    };
    Scheduler::Submit s;
    try {
      s = sched.submit(std::move(req), &f->handle);
    } catch (const Error& e) {
      write_error(r, e.what());
      return true;
    }
    if (s != Scheduler::Submit::ok) return false;
    flying.push_back(f);
    ++in_flight;
    return true;
  };

  auto take_finished = [&] {
    std::deque<std::shared_ptr<Flight>> done;
    {
      std::lock_guard<std::mutex> lk(finished->mu);
      done.swap(finished->list);
    }
    for (auto& f : done) {
      --in_flight;
      std::erase(flying, f);
      const InputRow& r = in.rows[f->row];
      const CompletionResult& res = f->result;
      // Dropped rows are written nowhere: the next run does them.
      if (res.stop_reason == "cancelled" || res.stop_reason == "shutdown") continue;
      sum.prompt_tokens += static_cast<uint64_t>(res.n_prompt);
      sum.generated_tokens += res.tokens.size();
      if (res.stop_reason == "error") {
        write_error(r, "generation failed: " + res.error);
        continue;
      }
      ojson answer = f->text;
      if (in.schema) {
        std::string why;
        auto parsed = in.schema->parse(f->text, &why);
        if (!parsed) {
          if (res.stop_reason == "length" || res.stop_reason == "context")
            why += "; generation stopped at the token limit (" + res.stop_reason + "), see -n";
          write_error(r, why, &f->text);
          continue;
        }
        answer = std::move(*parsed);
      }
      ojson j{{"id", r.id},
              {"answer", std::move(answer)},
              {"finish_reason", res.stop_reason},
              {"prompt_tokens", res.n_prompt},
              {"completion_tokens", res.tokens.size()}};
      out.append(to_line(j));
      ++sum.answered;
    }
  };

  while (stop_signal.load() == 0) {
    while (in_flight < max_flight && next < pending.size() && stop_signal.load() == 0) {
      if (!submit_row(pending[next])) break;
      ++next;
    }
    if (in_flight == 0 && next == pending.size()) break;
    {
      std::unique_lock<std::mutex> lk(finished->mu);
      finished->cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return !finished->list.empty(); });
    }
    take_finished();
    progress.update(sum.answered + sum.errors, sum.errors_before + sum.errors, sum.generated_tokens);
  }
  if (stop_signal.load() != 0) {
    // Rows that finish while the others are cancelled are still whole
    // answers: keep them.
    for (auto& f : flying)
      if (f->handle) f->handle->cancel();
    while (in_flight > 0) {
      {
        std::unique_lock<std::mutex> lk(finished->mu);
        finished->cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return !finished->list.empty(); });
      }
      take_finished();
    }
  }
  sum.left = sum.total - sum.answered_before - sum.errors_before - sum.answered - sum.errors;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish(sum.answered + sum.errors, sum.errors_before + sum.errors, sum.generated_tokens);
  return sum;
}

}  // namespace lineage::batch
