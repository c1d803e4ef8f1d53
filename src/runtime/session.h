// One sequence kept alive across requests: the KV cache and the token ids
// whose keys and values it holds. Each request gives the whole prompt (a chat
// re-renders the whole conversation every turn); the longest prefix it shares
// with what is cached is kept and only the rest is computed. Because the
// cache is indexed by position, dropping old turns from the front of a
// conversation keeps only the part before the first change (the system
// prompt, typically) and recomputes the rest.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/kv_cache.h"

namespace lineage {

class Session {
 public:
  // Error when n_ctx is not positive or the cache cannot be allocated.
  Session(const Engine& engine, int n_ctx);

  int n_ctx() const { return cache_.n_ctx(); }
  // Ids whose keys and values are in the cache, in position order.
  const std::vector<int32_t>& tokens() const { return tokens_; }
  // Prompt tokens the last generate() found already computed.
  int last_reused() const { return reused_; }

  // Forgets the cache, and restarts the seed sequence, so what follows is
  // exactly what a new Session would produce.
  void reset();

  // Like generate() in engine.h, but keeps the cached prefix shared with
  // prompt (at least the last prompt token is always recomputed, since its
  // logits are needed). The sampler's seed is opt.sampling.seed plus the
  // number of answers since the start or the last reset, so one seed gives
  // one reproducible conversation without repeating itself each turn.
  // When *cancel becomes true (a signal handler may set it) generation stops
  // before the next forward pass with stop_reason "cancelled"; what was
  // shown so far stays shown and its tokens stay cached.
  GenerateResult generate(const std::vector<int32_t>& prompt, const GenerateOptions& opt,
                          const std::function<void(const std::string&)>& on_text,
                          const std::atomic<bool>* cancel = nullptr);

 private:
  const Engine& engine_;
  KVCache cache_;
  std::vector<int32_t> tokens_;
  int reused_ = 0;
  uint64_t answers_ = 0;
};

}  // namespace lineage
