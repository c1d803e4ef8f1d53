#include "tokenizer/spm.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lineage {

namespace {

// SentencePiece only merges into pieces it could emit as text; byte and
// control pieces live in a separate table there and are never merge results.
bool mergeable(TokenType t) {
  return t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused ||
         t == TokenType::Undefined;
}

struct Symbol {
  uint32_t begin = 0;  // byte span in the text
  uint32_t len = 0;
  int32_t prev = -1;
  int32_t next = -1;
  // Merge tree for resegmenting unused pieces: the two symbols this one was
  // built from (-1 for an original character).
  int32_t left_child = -1;
  int32_t right_child = -1;
};

struct Candidate {
  float score;
  int32_t left;   // symbol index
  int32_t right;
  uint32_t len;   // combined length when queued; a mismatch later means stale
  int32_t id;     // the piece the pair would become
  bool operator<(const Candidate& o) const {
    // Highest score first; ties go to the leftmost pair, as SentencePiece does.
    if (score != o.score) return score < o.score;
    return left > o.left;
  }
};

}  // namespace

SpmModel::SpmModel(const Vocab& vocab, int32_t unk_id) : vocab_(vocab), unk_id_(unk_id) {
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    int32_t id = vocab.find(name);
    if (id < 0) {
      const char raw = static_cast<char>(b);
      id = vocab.find(std::string_view(&raw, 1));
    }
    byte_ids_[b] = id;
  }
}

void SpmModel::emit(std::string_view piece, std::vector<int32_t>& out) const {
  const int32_t id = vocab_.find(piece);
  if (id >= 0 && mergeable(vocab_.type(id))) {
    out.push_back(id);
    return;
  }
  bool spellable = true;
  for (char c : piece) spellable = spellable && byte_ids_[static_cast<uint8_t>(c)] >= 0;
  if (spellable) {
    for (char c : piece) out.push_back(byte_ids_[static_cast<uint8_t>(c)]);
    return;
  }
  // Without byte fallback SentencePiece maps the whole piece to unknown.
  if (unk_id_ < 0) fail("tokenizer: text has a piece that neither the vocabulary, its byte tokens nor an unknown token can spell");
  out.push_back(unk_id_);
}

void SpmModel::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (text.size() > UINT32_MAX / 2) fail("tokenizer: input of ", text.size(), " bytes is too long");

  std::vector<Symbol> sym;
  sym.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = utf8::char_len(text, pos);
    Symbol s;
    s.begin = static_cast<uint32_t>(pos);
    s.len = static_cast<uint32_t>(n);
    s.prev = static_cast<int32_t>(sym.size()) - 1;
    s.next = pos + n < text.size() ? static_cast<int32_t>(sym.size()) + 1 : -1;
    sym.push_back(s);
    pos += n;
  }

  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t l, int32_t r) {
    if (l < 0 || r < 0) return;
    const std::string_view joined = text.substr(sym[l].begin, sym[l].len + sym[r].len);
    const int32_t id = vocab_.find(joined);
    if (id < 0 || !mergeable(vocab_.type(id))) return;
    queue.push({vocab_.score(id), l, r, static_cast<uint32_t>(joined.size()), id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(sym.size()); ++i) consider(i, i + 1);

  // Merged symbols keep the left index; the right one is unlinked. Keeping
  // the pre-merge parts as extra entries lets unused pieces be undone.
  std::vector<Symbol> parts;
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = sym[c.left];
    Symbol& r = sym[c.right];
    if (l.len == 0 || r.len == 0 || l.next != c.right || l.len + r.len != c.len) continue;
    int32_t lc = -1, rc = -1;
    if (vocab_.type(c.id) == TokenType::Unused || l.left_child >= 0 || r.left_child >= 0) {
      lc = static_cast<int32_t>(parts.size());
      parts.push_back(l);
      rc = static_cast<int32_t>(parts.size());
      parts.push_back(r);
    }
    l.len += r.len;
    l.left_child = lc;
    l.right_child = rc;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    r.len = 0;
    consider(l.prev, c.left);
    consider(c.left, l.next);
  }

  // Unused pieces are split back into the parts they were merged from, as
  // SentencePiece does, so they are never emitted.
  std::vector<const Symbol*> stack;
  for (int32_t i = 0; i >= 0 && i < static_cast<int32_t>(sym.size()); i = sym[i].next) {
    stack.push_back(&sym[i]);
    while (!stack.empty()) {
      const Symbol* s = stack.back();
      stack.pop_back();
      const std::string_view piece = text.substr(s->begin, s->len);
      const int32_t id = vocab_.find(piece);
      if (id >= 0 && vocab_.type(id) == TokenType::Unused && s->left_child >= 0) {
        stack.push_back(&parts[s->right_child]);
        stack.push_back(&parts[s->left_child]);
        continue;
      }
      emit(piece, out);
    }
  }
}

}  // namespace lineage
