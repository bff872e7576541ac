#pragma once
// Verifying the hash chains: recompute every journal's content hash from its stored rows and
// every link's hash from its journals and the previous link, and compare with what is stored.
// An edit made outside the application (a superuser changing a posting, a journal field or a
// link) breaks the comparison at the first link it touched; verification names that link and,
// where the content changed, the journal.
//
// Verification can start from a checkpoint (chain, link sequence, link hash) that an earlier
// verification produced and the auditor kept: links up to it are taken as verified, so a daily
// verification reads only the new links.
//
// Thread safety: takes the caller's transaction (use REPEATABLE READ for a consistent view).

#include "cch/core/sha256.hpp"

#include <pqxx/transaction_base>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cch::ledger {

struct ChainCheckpoint {
  int chain_id = 0;
  std::int64_t link_sequence = 0;  // verified up to and including this link (0: nothing yet)
  Sha256Digest link_sha256{};      // that link's hash (the genesis hash when link_sequence is 0)
};

enum class BreakKind {
  journal_content_changed,  // a journal's rows no longer hash to its stored content hash
  link_hash_mismatch,       // a link's stored hash is not the hash of its journals and predecessor
  link_not_chained,         // a link's previous hash is not its predecessor's hash
  journal_count_mismatch,   // a link covers another number of journals than it says
  head_mismatch,            // the chain head is not the last link
  checkpoint_mismatch,      // the link at the checkpoint no longer has the checkpoint's hash
};
std::string_view to_string(BreakKind kind);

struct ChainBreak {
  BreakKind kind = BreakKind::link_hash_mismatch;
  int chain_id = 0;
  std::int64_t link_sequence = 0;
  std::optional<std::int64_t> journal_id;
  std::string detail;  // one line for people
};

struct VerifyReport {
  std::int64_t links_checked = 0;
  std::int64_t journals_checked = 0;
  std::optional<ChainBreak> first_break;        // the first broken link of the first broken chain
  std::vector<ChainCheckpoint> checkpoints;     // per chain: where this run verified up to
  [[nodiscard]] bool ok() const { return !first_break.has_value(); }
};

// Verifies every chain, from the given checkpoints (by chain id) or from genesis.
VerifyReport verify_chains(pqxx::transaction_base& tx, const std::map<int, ChainCheckpoint>& from = {});

// Checkpoints as text lines "chain_id link_sequence link_sha256_hex", for a file an auditor keeps.
std::string format_checkpoints(const std::vector<ChainCheckpoint>& checkpoints);
std::optional<std::map<int, ChainCheckpoint>> parse_checkpoints(std::string_view text);

}  // namespace cch::ledger
