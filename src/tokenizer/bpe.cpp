#include "tokenizer/bpe.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace lineage {

namespace {

// GPT-2 keeps bytes that are visible Latin-1 characters as themselves and
// moves the rest (controls, space, DEL, NBSP, soft hyphen) to 256 and up, in
// byte order, so that no token text contains whitespace.
bool byte_is_visible(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct ByteTable {
  uint32_t to_cp[256];
  int from_cp[512];
  ByteTable() {
    for (int& v : from_cp) v = -1;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      to_cp[b] = byte_is_visible(b) ? static_cast<uint32_t>(b) : next++;
      from_cp[to_cp[b]] = b;
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t left_id;
  int32_t right_id;
  bool operator<(const Candidate& o) const {
    // Lowest rank first; ties go to the leftmost pair.
    if (rank != o.rank) return rank > o.rank;
    return left > o.left;
  }
};

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return byte_table().to_cp[b]; }

int codepoint_to_byte(uint32_t cp) { return cp < 512 ? byte_table().from_cp[cp] : -1; }

BpeModel::BpeModel(const Vocab& vocab, const std::vector<std::string>& merges, bool ignore_merges)
    : vocab_(vocab), ignore_merges_(ignore_merges) {
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    utf8::append(ch, byte_to_codepoint(static_cast<uint8_t>(b)));
    byte_ids_[b] = vocab.find(ch);
  }
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    // Searching from 1 lets the left part itself be a lone space.
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos) fail("tokenizer.ggml.merges[", rank, "] = \"", m, "\" is not two pieces separated by a space");
    const std::string_view l(m.data(), sp);
    const std::string_view r(m.data() + sp + 1, m.size() - sp - 1);
    const int32_t lid = vocab.find(l);
    const int32_t rid = vocab.find(r);
    joined.assign(l);
    joined.append(r);
    const int32_t res = vocab.find(joined);
    // A merge whose parts or result are not tokens can never fire on token
    // ids; Hugging Face refuses such files, so they are skipped here.
    if (lid < 0 || rid < 0 || res < 0) continue;
    merges_.try_emplace(pair_key(lid, rid), Merge{static_cast<int32_t>(rank), res});
  }
}

const BpeModel::Merge* BpeModel::find_merge(int32_t l, int32_t r) const {
  auto it = merges_.find(pair_key(l, r));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::encode(const std::vector<std::string_view>& words, std::vector<int32_t>& out) const {
  std::vector<Symbol> sym;
  std::vector<Candidate> heap;  // reused across words; a max-heap on Candidate
  std::string mapped;
  for (std::string_view word : words) {
    if (word.empty()) continue;
    if (ignore_merges_) {
      mapped.clear();
      for (char c : word) utf8::append(mapped, byte_to_codepoint(static_cast<uint8_t>(c)));
      const int32_t whole = vocab_.find(mapped);
      if (whole >= 0) {
        out.push_back(whole);
        continue;
      }
    }
    const int32_t n = static_cast<int32_t>(word.size());
    sym.resize(word.size());
    for (int32_t i = 0; i < n; ++i) {
      sym[i] = Symbol{byte_ids_[static_cast<uint8_t>(word[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
    }
    heap.clear();
    auto consider = [&](int32_t l) {
      if (l < 0) return;
      const int32_t r = sym[l].next;
      if (r < 0 || sym[l].id < 0 || sym[r].id < 0) return;
      if (const Merge* m = find_merge(sym[l].id, sym[r].id)) {
        heap.push_back({m->rank, l, sym[l].id, sym[r].id});
        std::push_heap(heap.begin(), heap.end());
      }
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      const Candidate c = heap.back();
      heap.pop_back();
      Symbol& l = sym[c.left];
      if (!l.alive || l.next < 0 || l.id != c.left_id) continue;
      Symbol& r = sym[l.next];
      if (r.id != c.right_id) continue;
      l.id = find_merge(c.left_id, c.right_id)->result;
      r.alive = false;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = c.left;
      consider(l.prev);
      consider(c.left);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
      // A byte whose character is missing from the vocabulary cannot be
      // written at all; it is dropped rather than guessed.
      if (sym[i].id >= 0) out.push_back(sym[i].id);
    }
  }
}

}  // namespace lineage
