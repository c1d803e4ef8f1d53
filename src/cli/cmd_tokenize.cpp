// `lineage tokenize`: text to token ids with the model's own vocabulary.
#include <cstdio>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace lineage::cli {

namespace {

struct TokenizeArgs {
  std::string model, text;
  bool ids_only = false, no_bos = false, no_special = false;
};

// Shows a piece with control characters escaped, so every token is one line.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out;
}

void tokenize(const TokenizeArgs& a) {
  auto f = GGUFFile::open(a.model);
  auto tok = Tokenizer::from_gguf(*f);
  std::vector<int32_t> ids = tok->encode(a.text, tok->add_bos_default() && !a.no_bos, !a.no_special);
  if (a.ids_only) {
    std::printf("[");
    for (size_t k = 0; k < ids.size(); ++k) std::printf("%s%d", k ? ", " : "", ids[k]);
    std::printf("]\n");
    return;
  }
  for (int32_t id : ids) {
    std::string piece = tok->is_control(id) ? tok->token_text(id) : tok->token_to_piece(id);
    std::printf("%6d -> '%s'\n", id, printable(piece).c_str());
  }
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* c = app.add_subcommand("tokenize", "split text into the model's tokens");
  c->add_option("-m,--model", a->model, "GGUF model or vocabulary file")->required();
  c->add_option("text", a->text, "text to tokenize")->required();
  c->add_flag("--ids", a->ids_only, "print only the ids, as a list");
  c->add_flag("--no-bos", a->no_bos, "do not add the BOS token");
  c->add_flag("--no-special", a->no_special, "treat special-token text as plain text");
  c->callback([a] { tokenize(*a); });
}

}  // namespace lineage::cli

LINEAGE_COMMAND(70, lineage::cli::add_tokenize);
