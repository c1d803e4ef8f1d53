#include "convert/tokenizer_json.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

namespace lineage {

namespace {

using json = nlohmann::json;

constexpr int64_t kMaxVocab = 1 << 24;
constexpr const char* kSpaceMark = "\xE2\x96\x81";  // U+2581

// The split expressions of the byte-level tokenizers lineage can run,
// exactly as tokenizer.json spells them, and the tokenizer.ggml.pre name
// the common converter gives each.
struct KnownPre {
  const char* regex;
  const char* name;
};
const KnownPre kKnownPre[] = {
    {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     "llama-bpe"},
    {R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     "qwen2"},
    // Llama 4's tokenizer.json (the o200k expression GPT-4o also uses).
    {R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re",
     "llama4"},
};

std::optional<json> read_json_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, ": cannot open");
  std::ostringstream os;
  os << f.rdbuf();
  json j = json::parse(os.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) fail(path, ": not a well-formed JSON object");
  return j;
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string string_member(const json& obj, const char* key) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}

// Each pre-tokenizer of a (possibly nested) Sequence, in order.
void flatten(const json& node, const char* list_key, std::vector<const json*>& out) {
  if (!node.is_object()) return;
  if (string_member(node, "type") == "Sequence") {
    if (const json* items = member(node, list_key); items && items->is_array())
      for (const json& it : *items) flatten(it, list_key, out);
    return;
  }
  out.push_back(&node);
}

// A token entry of tokenizer_config.json: "text" or {"content": "text"}.
std::string config_token_text(const json& cfg, const std::string& key) {
  const json* v = member(cfg, key.c_str());
  if (!v) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) return string_member(*v, "content");
  return "";
}

bool looks_special(const std::string& t) {
  auto starts = [&](const char* s) { return t.rfind(s, 0) == 0; };
  auto ends = [&](const char* s) {
    const size_t n = std::strlen(s);
    return t.size() >= n && t.compare(t.size() - n, n, s) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || (starts("<|") && ends("|>")) ||
         (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) || (starts("<unused") && ends(">"));
}

bool is_byte_piece(const std::string& t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

struct Builder {
  std::string where;  // tokenizer.json path, for messages
  bool byte_level = false;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // byte-level only, "left right"
  std::unordered_map<std::string, int32_t> id_of;

  void put(int64_t id, const std::string& text, TokenType type) {
    if (id < 0 || id >= static_cast<int64_t>(tokens.size()))
      fail(where, ": token \"", text.substr(0, 40), "\" has id ", id, ", outside the vocabulary of ", tokens.size());
    tokens[id] = text;
    types[id] = static_cast<int32_t>(type);
  }
};

std::string pre_tokenizer_name(const json& tj, const std::string& where) {
  std::vector<const json*> pres;
  if (const json* p = member(tj, "pre_tokenizer")) flatten(*p, "pretokenizers", pres);
  std::string regex;
  bool byte_level_regex = false;
  for (const json* p : pres) {
    const std::string type = string_member(*p, "type");
    if (type == "Split") {
      if (!regex.empty()) fail(where, ": more than one Split pre-tokenizer; lineage does not know this tokenizer");
      const json* pat = member(*p, "pattern");
      regex = pat ? string_member(*pat, "Regex") : "";
      if (regex.empty()) fail(where, ": a Split pre-tokenizer without a regular expression");
    } else if (type == "ByteLevel") {
      const json* r = member(*p, "use_regex");
      byte_level_regex = !r || (r->is_boolean() && r->get<bool>());
    }
  }
  if (!regex.empty()) {
    for (const KnownPre& k : kKnownPre)
      if (regex == k.regex) return k.name;
    fail(where, ": the pre-tokenizer expression ", json(regex).dump(), " is not one lineage knows (known: Llama 3, Qwen 2, Llama 4, GPT-2)");
  }
  if (byte_level_regex) return "gpt-2";
  fail(where, ": byte-level BPE without a pre-tokenizer lineage knows");
}

// tokenizer.json's add-BOS/EOS intent, from a TemplateProcessing post-processor.
void template_flags(const json& tj, const std::string& bos, const std::string& eos, std::optional<bool>& add_bos,
                    std::optional<bool>& add_eos) {
  std::vector<const json*> procs;
  if (const json* p = member(tj, "post_processor")) {
    if (const json* list = member(*p, "processors"); list && list->is_array())
      for (const json& x : *list) procs.push_back(&x);
    else
      procs.push_back(p);
  }
  for (const json* p : procs) {
    if (string_member(*p, "type") != "TemplateProcessing") continue;
    const json* single = member(*p, "single");
    if (!single || !single->is_array() || single->size() < 2) continue;
    auto special_id = [](const json& item) {
      const json* s = member(item, "SpecialToken");
      return s ? string_member(*s, "id") : std::string();
    };
    if (std::string first = special_id(single->front()); !first.empty()) add_bos = first == bos;
    if (std::string last = special_id(single->back()); !last.empty()) add_eos = last == eos;
  }
}

void add_chat_template(GGUFWriter& w, const json* cfg, const std::string& dir) {
  const json* t = cfg ? member(*cfg, "chat_template") : nullptr;
  if (t && t->is_string()) {
    w.set_string("tokenizer.chat_template", t->get<std::string>());
    return;
  }
  if (t && t->is_array()) {
    for (const json& item : *t) {
      const std::string name = string_member(item, "name"), text = string_member(item, "template");
      if (name.empty() || text.empty()) continue;
      w.set_string(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name, text);
    }
    return;
  }
  const std::string file = dir + "/chat_template.jinja";
  std::error_code ec;
  if (std::filesystem::is_regular_file(file, ec)) {
    std::ifstream f(file, std::ios::binary);
    std::ostringstream os;
    os << f.rdbuf();
    w.set_string("tokenizer.chat_template", os.str());
  }
}

GGUFValue string_array(std::vector<std::string> v) {
  GGUFValue g;
  g.type = GGUFType::ARRAY;
  g.elem_type = GGUFType::STRING;
  g.strs = std::move(v);
  return g;
}

}  // namespace

bool add_hf_vocab(GGUFWriter& w, const std::string& dir, int64_t n_vocab) {
  const std::string where = dir + "/tokenizer.json";
  std::optional<json> tj = read_json_file(where);
  if (!tj) return false;
  std::optional<json> cfg = read_json_file(dir + "/tokenizer_config.json");
  std::optional<json> model_cfg = read_json_file(dir + "/config.json");
  std::optional<json> gen_cfg = read_json_file(dir + "/generation_config.json");

  const json* model = member(*tj, "model");
  if (!model || !model->is_object()) fail(where, ": no model object");
  const std::string mtype = string_member(*model, "type");
  if (mtype != "BPE") fail(where, ": tokenizer model \"", mtype, "\" is not supported (lineage converts BPE tokenizers)");
  const json* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail(where, ": model.vocab is not an object");
  const json* byte_fallback = member(*model, "byte_fallback");
  Builder b;
  b.where = where;
  b.byte_level = !(byte_fallback && byte_fallback->is_boolean() && byte_fallback->get<bool>());
  const std::string pre = b.byte_level ? pre_tokenizer_name(*tj, where) : "default";

  // The vocabulary spans the model's embedding rows, or every id the
  // tokenizer uses when there is no model.
  const json* added = member(*tj, "added_tokens");
  if (added && !added->is_array()) fail(where, ": added_tokens is not a list");
  int64_t max_id = -1;
  auto check_id = [&](const json& v, const std::string& text) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= kMaxVocab)
      fail(where, ": token \"", text.substr(0, 40), "\" has an invalid id ", v.dump());
    max_id = std::max(max_id, v.get<int64_t>());
    return v.get<int64_t>();
  };
  for (const auto& [text, id] : vocab->items()) check_id(id, text);
  if (added)
    for (const json& a : *added) check_id(a.contains("id") ? a["id"] : json(), string_member(a, "content"));
  const int64_t n = n_vocab > 0 ? n_vocab : max_id + 1;
  if (max_id >= n) fail(where, ": token id ", max_id, " does not fit the model's vocabulary of ", n, " (config.json vocab_size)");
  if (n <= 0) fail(where, ": the vocabulary is empty");

  b.tokens.assign(n, "");
  b.types.assign(n, static_cast<int32_t>(TokenType::Unused));
  std::vector<bool> filled(n, false);
  for (const auto& [text, id] : vocab->items()) {
    const int64_t i = id.get<int64_t>();
    if (filled[i]) fail(where, ": two tokens share id ", i);
    filled[i] = true;
    b.put(i, text, !b.byte_level && is_byte_piece(text) ? TokenType::Byte : TokenType::Normal);
  }

  const std::string unk = string_member(*model, "unk_token");
  std::unordered_map<std::string, int64_t> added_ids;  // content -> id, for the special-token names
  if (added) {
    for (const json& a : *added) {
      if (!a.is_object() || !member(a, "content") || !a["content"].is_string()) fail(where, ": an added token has no content");
      std::string text = a["content"].get<std::string>();
      const int64_t id = a["id"].get<int64_t>();
      const json* sp = member(a, "special");
      const bool special = sp && sp->is_boolean() && sp->get<bool>();
      added_ids.emplace(text, id);
      filled[id] = true;
      TokenType type;
      if (!b.byte_level && text == unk) {
        type = TokenType::Unknown;
      } else if (special || (b.byte_level && looks_special(text))) {
        type = TokenType::Control;
      } else {
        type = TokenType::UserDefined;
        if (b.byte_level) text = replace_all(text, kSpaceMark, " ");
      }
      b.put(id, text, type);
    }
  }
  for (int64_t i = 0; i < n; ++i)
    if (!filled[i]) b.tokens[i] = "[PAD" + std::to_string(i) + "]";

  // Merges: byte-level files keep them; SentencePiece-style ones become
  // scores, the earliest merge that makes a token giving its rank.
  const json* merges = member(*model, "merges");
  if (merges && !merges->is_array()) fail(where, ": model.merges is not a list");
  std::vector<float> rank_score(n, 0.0f);
  std::vector<bool> made(n, false);
  std::unordered_map<std::string, int64_t> text_id;
  if (!b.byte_level)
    for (int64_t i = 0; i < n; ++i) text_id.emplace(b.tokens[i], i);
  int64_t rank = 0;
  if (merges) {
    for (const json& m : *merges) {
      std::string left, right;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ', 1);
        if (sp == std::string::npos) fail(where, ": merge ", rank, " \"", s.substr(0, 40), "\" is not two pieces");
        left = s.substr(0, sp);
        right = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
        if (b.byte_level) {
          // Spaces inside a piece would break the "left right" form; the
          // common converter writes them as U+0120.
          left = replace_all(left, " ", "\xC4\xA0");
          right = replace_all(right, " ", "\xC4\xA0");
        }
      } else {
        fail(where, ": merge ", rank, " is neither \"left right\" nor [left, right]");
      }
      if (b.byte_level) {
        b.merges.push_back(left + " " + right);
      } else if (auto it = text_id.find(left + right); it != text_id.end() && !made[it->second]) {
        made[it->second] = true;
        rank_score[it->second] = -static_cast<float>(rank);
      }
      ++rank;
    }
  }
  if (b.byte_level && b.merges.empty()) fail(where, ": byte-level BPE without merges");
  if (!b.byte_level) {
    // Pieces no merge makes (single characters) rank after every merge.
    b.scores.resize(n);
    for (int64_t i = 0; i < n; ++i) {
      const auto t = static_cast<TokenType>(b.types[i]);
      b.scores[i] = made[i] ? rank_score[i] : (t == TokenType::Normal ? -static_cast<float>(rank + i) : 0.0f);
    }
  }

  w.set_string("tokenizer.ggml.model", b.byte_level ? "gpt2" : "llama");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set("tokenizer.ggml.tokens", string_array(b.tokens));
  if (!b.byte_level) {
    GGUFValue g;
    g.type = GGUFType::ARRAY;
    g.elem_type = GGUFType::F32;
    g.floats.assign(b.scores.begin(), b.scores.end());
    w.set("tokenizer.ggml.scores", g);
  }
  GGUFValue types;
  types.type = GGUFType::ARRAY;
  types.elem_type = GGUFType::I32;
  types.ints.assign(b.types.begin(), b.types.end());
  w.set("tokenizer.ggml.token_type", types);
  if (b.byte_level) w.set("tokenizer.ggml.merges", string_array(std::move(b.merges)));

  // Special tokens: named in tokenizer_config.json and found among the added
  // tokens, else taken from config.json's ids.
  struct Special {
    const char* name;
    const char* key;
  };
  const Special specials[] = {{"bos", "tokenizer.ggml.bos_token_id"},       {"eos", "tokenizer.ggml.eos_token_id"},
                              {"unk", "tokenizer.ggml.unknown_token_id"},   {"sep", "tokenizer.ggml.seperator_token_id"},
                              {"pad", "tokenizer.ggml.padding_token_id"},   {"cls", "tokenizer.ggml.cls_token_id"},
                              {"mask", "tokenizer.ggml.mask_token_id"}};
  std::unordered_map<std::string, int64_t> ids;
  std::vector<std::pair<const char*, int64_t>> ordered;
  auto set_id = [&](const Special& s, int64_t id) {
    if (id < 0 || id >= n || ids.count(s.name)) return;
    ids[s.name] = id;
    ordered.emplace_back(s.key, id);
  };
  if (cfg)
    for (const Special& s : specials) {
      const std::string text = config_token_text(*cfg, std::string(s.name) + "_token");
      if (auto it = added_ids.find(text); !text.empty() && it != added_ids.end()) set_id(s, it->second);
    }
  if (model_cfg)
    for (const Special& s : specials)
      if (const json* v = member(*model_cfg, (std::string(s.name) + "_token_id").c_str()); v && v->is_number_integer())
        set_id(s, v->get<int64_t>());
  for (const auto& [key, id] : ordered) w.set_u32(key, static_cast<uint32_t>(id));

  std::optional<bool> add_bos, add_eos;
  template_flags(*tj, cfg ? config_token_text(*cfg, "bos_token") : "", cfg ? config_token_text(*cfg, "eos_token") : "",
                 add_bos, add_eos);
  if (cfg) {
    if (const json* v = member(*cfg, "add_bos_token"); v && v->is_boolean()) add_bos = v->get<bool>();
    if (const json* v = member(*cfg, "add_eos_token"); v && v->is_boolean()) add_eos = v->get<bool>();
  }
  if (add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *add_bos);
  if (add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *add_eos);

  // Chat models list every end-of-turn token as an EOS in
  // generation_config.json (Llama 3: <|end_of_text|>, <|eom_id|>, <|eot_id|>);
  // the ones beyond the tokenizer's EOS become the EOM and EOT ids.
  if (gen_cfg) {
    const json* e = member(*gen_cfg, "eos_token_id");
    std::vector<int64_t> extra;
    if (e && e->is_array())
      for (const json& x : *e)
        if (x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < n &&
            (!ids.count("eos") || x.get<int64_t>() != ids["eos"]))
          extra.push_back(x.get<int64_t>());
    // Named tokens first: Llama 3.1 lists <|eom_id|> before <|eot_id|>
    // (Llama 4: <|eom|> before <|eot|>, and <|eot|> is also its
    // tokenizer's EOS, so that one counts too).
    int64_t eot = -1, eom = -1;
    std::vector<int64_t> named = extra;
    if (ids.count("eos")) named.push_back(ids["eos"]);
    for (int64_t id : named) {
      if (b.tokens[id] == "<|eom_id|>" || b.tokens[id] == "<|eom|>") eom = id;
      if (b.tokens[id] == "<|eot_id|>" || b.tokens[id] == "<|eot|>") eot = id;
    }
    for (int64_t id : extra)
      if (eot < 0 && id != eom) eot = id;
    if (eot >= 0) w.set_u32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(eot));
    if (eom >= 0) w.set_u32("tokenizer.ggml.eom_token_id", static_cast<uint32_t>(eom));
  }

  add_chat_template(w, cfg ? &*cfg : nullptr, dir);

  if (!b.byte_level) {
    // SentencePiece-style tokenizers put a space before the text either as
    // a Prepend normalizer (legacy files) or in a Metaspace pre-tokenizer.
    bool prefix = false;
    std::vector<const json*> nodes;
    if (const json* nz = member(*tj, "normalizer")) flatten(*nz, "normalizers", nodes);
    if (const json* p = member(*tj, "pre_tokenizer")) flatten(*p, "pretokenizers", nodes);
    for (const json* node : nodes) {
      const std::string type = string_member(*node, "type");
      if (type == "Prepend" && string_member(*node, "prepend") == kSpaceMark) prefix = true;
      if (type == "Metaspace") {
        const std::string scheme = string_member(*node, "prepend_scheme");
        const json* aps = member(*node, "add_prefix_space");
        if (scheme == "always" || scheme == "first" || (scheme.empty() && aps && aps->is_boolean() && aps->get<bool>()))
          prefix = true;
      }
    }
    w.set_bool("tokenizer.ggml.add_space_prefix", prefix);
  }
  return true;
}

}  // namespace lineage
