// `lineage batch`: every row of a JSONL dataset through the batched
// scheduler, each result appended to the output (or the errors file) as it
// finishes, so the run can be killed at any point and started again with
// the same arguments to do only what is left.
#pragma once
#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "batch/batch_input.h"
#include "batch/batch_schema.h"
#include "runtime/engine.h"

namespace lineage::batch {

struct BatchOptions {
  std::string model, input, output, errors, template_path, chat_template_path, schema_path, system;
  bool chat = false;
  int parallel = 8;
  int ctx_size = 0;  // 0: the model's default
  GenerateOptions gen;  // n_predict, sampling (its seed is the run's base seed), stop, ignore_eos
};

// What is read before the model is loaded, so a bad argument fails fast.
struct BatchInputs {
  std::vector<InputRow> rows;
  std::string row_template;
  std::optional<AnswerSchema> schema;
  std::string grammar;  // the schema as GBNF (empty without one)
};

BatchInputs read_inputs(const BatchOptions& o);

struct BatchSummary {
  size_t total = 0;
  size_t answered_before = 0, errors_before = 0;  // rows earlier runs finished
  size_t answered = 0, errors = 0;                // rows this run finished
  size_t left = 0;                                // rows not done (interrupted)
  uint64_t prompt_tokens = 0, generated_tokens = 0;
  double seconds = 0;
};

// Runs every row not done yet. stop_signal != 0 (set from another thread)
// stops submitting rows, drops those in flight (they are done on the next
// run) and returns.
BatchSummary run_batch(const Engine& engine, const BatchOptions& o, const BatchInputs& in,
                       const std::atomic<int>& stop_signal);

}  // namespace lineage::batch
