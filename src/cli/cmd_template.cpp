// `lineage template`: renders a chat template with a JSON context, exactly
// as the model would be prompted (no newline added).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat/template.h"
#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace lineage::cli {

namespace {

struct TemplateArgs {
  std::string model, template_file, context_file;
};

std::string read_file(const std::string& path, const char* what) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", what, " '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("cannot read ", what, " '", path, "'");
  return ss.str();
}

void render_template(const TemplateArgs& a) {
  if (a.model.empty() == a.template_file.empty()) fail("give exactly one of -m/--model and --template");
  nlohmann::ordered_json context;
  try {
    context = nlohmann::ordered_json::parse(read_file(a.context_file, "context file"));
  } catch (const nlohmann::json::exception& e) {
    fail("context file '", a.context_file, "' is not valid JSON: ", e.what());
  }
  if (!context.is_object()) fail("context file '", a.context_file, "' must hold a JSON object");

  std::string source;
  if (!a.model.empty()) {
    auto f = GGUFFile::open(a.model);
    auto tmpl = f->get_string("tokenizer.chat_template");
    if (!tmpl) fail("model '", a.model, "' has no chat template (tokenizer.chat_template)");
    source = *tmpl;
    // Like apply_chat_template, which passes the tokenizer's special tokens,
    // and llama.cpp, which passes its vocabulary's BOS/EOS text: only tokens
    // the vocabulary defines; the context's own values win.
    bool need_bos = !context.contains("bos_token"), need_eos = !context.contains("eos_token");
    if (need_bos || need_eos) {
      auto tok = Tokenizer::from_gguf(*f);
      if (need_bos && tok->bos_id() >= 0) context["bos_token"] = tok->token_text(tok->bos_id());
      if (need_eos && tok->eos_id() >= 0) context["eos_token"] = tok->token_text(tok->eos_id());
    }
  } else {
    source = read_file(a.template_file, "template file");
  }
  std::string out;
  try {
    out = chat::Template::parse(source).render(context);
  } catch (const Error& e) {
    fail(a.model.empty() ? "template '" + a.template_file + "'" : std::string("chat template"), ": ", e.what());
  }
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0)
    fail("cannot write the output");
}

}  // namespace

void add_template(CLI::App& app) {
  auto a = std::make_shared<TemplateArgs>();
  CLI::App* c = app.add_subcommand("template", "render a chat template with a JSON context, as the model sees it");
  c->footer(
      "The members of the context object become template variables: messages, tools,\n"
      "add_generation_prompt, bos_token, eos_token, date_string, and any others.\n"
      "The template renders as Hugging Face's apply_chat_template renders it (Jinja with\n"
      "trim_blocks and lstrip_blocks) and the result is printed as is, no newline added.\n"
      "With -m, a context without bos_token/eos_token gets the text of the vocabulary's\n"
      "BOS/EOS tokens, as apply_chat_template and llama.cpp pass them; a vocabulary\n"
      "without one leaves that variable undefined. Key order in the context is kept.");
  auto* m = c->add_option("-m,--model", a->model, "GGUF model whose tokenizer.chat_template to render");
  auto* t = c->add_option("--template", a->template_file, "Jinja template file to render instead");
  m->excludes(t);
  c->add_option("--context", a->context_file, "JSON file with the variables ('-' reads stdin)")->required();
  c->callback([a] { render_template(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(75, lineage::cli::add_template);
