// `lineage convert`: a Hugging Face checkpoint directory to a GGUF file, or
// with --vocab-only its tokenizer alone.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "convert/hf_convert.h"
#include "core/error.h"

namespace lineage::cli {

namespace {

struct ConvertArgs {
  std::string dir, out, type = "f16";
  bool vocab_only = false;
};

DType parse_type(const std::string& s) {
  if (s == "f16" || s == "F16") return DType::F16;
  if (s == "bf16" || s == "BF16") return DType::BF16;
  if (s == "f32" || s == "F32") return DType::F32;
  fail("--type must be f16, bf16 or f32, not \"", s, "\"");
}

// Redraws one line in place; only used when stderr is a terminal.
void draw_bar(const ConvertProgress& p) {
  constexpr int kWidth = 30;
  const double frac = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  const bool gb = p.bytes_total >= 1000000000;
  const double unit = gb ? 1e9 : 1e6;
  std::fprintf(stderr, "\r[%s] %3.0f%% %zu/%zu tensors, %.2f/%.2f %s  %-32.32s", bar.c_str(), frac * 100, p.done,
               p.total, p.bytes_done / unit, p.bytes_total / unit, gb ? "GB" : "MB", p.name.c_str());
  if (p.done == p.total) std::fputc('\n', stderr);
  std::fflush(stderr);
}

void convert(const ConvertArgs& a) {
  if (a.vocab_only) {
    convert_hf_vocab(a.dir, a.out);
    std::fprintf(stderr, "lineage: wrote the vocabulary of %s to %s\n", a.dir.c_str(), a.out.c_str());
    return;
  }
  ConvertOptions opt;
  opt.type = parse_type(a.type);
  if (isatty(fileno(stderr))) opt.on_tensor = draw_bar;
  ConvertReport r = convert_hf_model(a.dir, a.out, opt);
  std::fprintf(stderr, "lineage: wrote %s: %zu tensors, %.1f MB of weights (%s)%s\n", a.out.c_str(), r.n_tensors,
               r.bytes / 1e6, a.type.c_str(),
               r.has_vocab ? "" : "; no tokenizer.json, so the file has no vocabulary (eval works; run and tokenize do not)");
}

}  // namespace

void add_convert(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* c = app.add_subcommand("convert", "convert a Hugging Face model directory to GGUF");
  c->add_option("dir", a->dir, "model directory (config.json, *.safetensors, tokenizer files)")->required();
  c->add_option("out", a->out, "output GGUF file")->required();
  c->add_option("--type", a->type, "type of the weight matrices: f16, bf16 or f32")->capture_default_str();
  c->add_flag("--vocab-only", a->vocab_only, "write only the vocabulary (needs tokenizer.json)");
  c->callback([a] { convert(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(85, lineage::cli::add_convert);
