#include "cch/access/api_key.hpp"

#include <openssl/crypto.h>

#include <cassert>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

#include "cch/core/sha256.hpp"

namespace cch::access {

VerifiedKeyCache::VerifiedKeyCache(std::size_t max_entries, Clock::duration time_to_live)
    : max_entries_(max_entries), time_to_live_(time_to_live) {
  assert(max_entries > 0 && "VerifiedKeyCache needs room for one entry");
  assert(time_to_live > Clock::duration::zero() && "VerifiedKeyCache entries must live a while");
}

bool VerifiedKeyCache::check(std::string_view key_id, std::string_view secret, Clock::time_point now) {
  const SecretDigest digest = sha256(secret);  // outside the lock: the only real work
  const std::lock_guard lock(mutex_);
  const auto found = index_.find(key_id);
  if (found == index_.end()) {
    return false;
  }
  const EntryList::iterator entry = found->second;
  if (now >= entry->expires_at) {
    index_.erase(found);
    entries_.erase(entry);
    return false;
  }
  if (CRYPTO_memcmp(entry->secret_digest.data(), digest.data(), digest.size()) != 0) {
    return false;
  }
  entries_.splice(entries_.begin(), entries_, entry);
  return true;
}

void VerifiedKeyCache::remember(std::string_view key_id, std::string_view secret, Clock::time_point now) {
  const SecretDigest digest = sha256(secret);
  const std::lock_guard lock(mutex_);
  if (const auto found = index_.find(key_id); found != index_.end()) {
    const EntryList::iterator entry = found->second;
    entry->secret_digest = digest;
    entry->expires_at = now + time_to_live_;
    entries_.splice(entries_.begin(), entries_, entry);
    return;
  }
  if (entries_.size() >= max_entries_) {
    index_.erase(entries_.back().key_id);
    entries_.pop_back();
  }
  entries_.push_front(Entry{std::string(key_id), digest, now + time_to_live_});
  index_.emplace(entries_.front().key_id, entries_.begin());
}

void VerifiedKeyCache::forget(std::string_view key_id) {
  const std::lock_guard lock(mutex_);
  const auto found = index_.find(key_id);
  if (found == index_.end()) {
    return;
  }
  const EntryList::iterator entry = found->second;
  index_.erase(found);
  entries_.erase(entry);
}

std::size_t VerifiedKeyCache::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace cch::access
