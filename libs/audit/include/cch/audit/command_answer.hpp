#pragma once
// A command's answer, recorded exactly once: the stored idempotent response (api.idempotency)
// and the command's row in the request audit log (api.request_log), written in the transaction
// that makes the command's effect.
//
// The life of a command the api forwards to its owning service (registry, settlement):
//   1. The api reserves the principal's Idempotency-Key (reserve_key): a row without an answer,
//      held by the request's id. A key already answered replays its answer; a key held by another
//      request waits for that request's answer.
//   2. The api forwards the command with the principal and the command's audit context
//      (forwarded_command_headers: the route, the public path, when it was received, the client's
//      address), holding no database connection.
//   3. The owning service runs the command in one transaction and, before it commits, records the
//      answer it is about to send (answer_in_transaction, record_answers): the reservation gets the
//      answer and the audit log the command's row. The effect, the answer and the audit row commit
//      together or not at all. A reservation that is no longer this request's (the api released
//      it, or a retry took it over) stops the transaction (ReservationLost): the effect never
//      happens, so a command has one effect whatever is retried or killed.
//   4. The api hands the answer to the client. An answer the service did not record (it refused
//      the command before any transaction: a malformed body, a missing object) the api records
//      itself, answer and audit row in one statement, before the answer leaves (answer_key). A
//      5xx releases the reservation (release_key) unless the service had recorded an answer, which
//      is then the answer (the effect happened: a lost connection after the commit).
// So a retry under the same key after any crash (the api's, the service's, between any two steps)
// gets the first answer if the command took effect, and runs afresh if it did not.
//
// Commands the api runs itself (credentials) store their answer and audit row in their own
// transaction (find_answer, store_answer).
//
// Thread safety: pure functions over the caller's transaction.

#include "cch/access/principal.hpp"
#include "cch/audit/request_log.hpp"
#include "cch/core/time.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/message.hpp"

#include <pqxx/transaction_base>

#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cch::audit {

// The audit context of a forwarded command, beyond the forwarded principal.
inline constexpr std::string_view kRouteHeader = "X-Cch-Route";
inline constexpr std::string_view kPublicPathHeader = "X-Cch-Path";
inline constexpr std::string_view kReceivedAtHeader = "X-Cch-Received-At";
inline constexpr std::string_view kRemoteAddressHeader = "X-Cch-Remote-Address";
// Set by an owning service on an answer it recorded (the api then records nothing more).
inline constexpr std::string_view kAnswerRecordedHeader = "X-Cch-Answer-Recorded";

// A command as the owning service knows it: who asked, under which key, and what its audit row says.
struct ForwardedCommand {
  access::Principal principal;
  std::string request_id;
  std::string idempotency_key;
  std::string method;
  std::string route;  // the public route pattern, e.g. "/v1/trades/{trade_id}/affirm"
  std::string path;   // the public path
  UtcTimestamp received_at{0};
  std::string remote_address;
};

// The headers the api adds to a forwarded command (besides the principal's and Idempotency-Key).
std::vector<http::NameValue> forwarded_command_headers(std::string_view route, std::string_view path,
                                                       UtcTimestamp received_at, std::string_view remote_address);

// The forwarded command a request carries; nullopt when it carries no Idempotency-Key or no audit
// context (a caller other than the api: tests calling a service's routes directly).
std::optional<ForwardedCommand> forwarded_command(const http::Request& request, const access::Principal& principal);

// A reservation that is no longer its command's: the transaction that met it must not commit.
class ReservationLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 409 idempotency_key_in_progress with Retry-After: another request holds the key.
http::Response key_in_progress();

struct CommandAnswer {
  const ForwardedCommand* command;
  const http::Response* response;
};

// Records each answer (status below 500) for its command in tx, in one statement: the reservation
// gets the answer, the audit log the row. Throws ReservationLost when any reservation is not its
// command's any more.
void record_answers(pqxx::transaction_base& tx, std::span<const CommandAnswer> answers);

// Runs work(tx) -> http::Response in one transaction; when the request is a forwarded command and
// the answer is below 500, records it in that transaction (record_answers) and marks it with
// kAnswerRecordedHeader. A lost reservation answers key_in_progress(), with nothing done.
template <class Work>
http::Response answer_in_transaction(db::ConnectionPool& pool, const db::RetryPolicy& retry,
                                     const std::optional<ForwardedCommand>& command, Work&& work) {
  try {
    http::Response response =
        db::run_transaction(pool, db::Isolation::read_committed, retry, [&](pqxx::transaction_base& tx) {
          http::Response answer = work(tx);
          if (command && answer.status < 500) {
            const CommandAnswer recorded{&*command, &answer};
            record_answers(tx, std::span<const CommandAnswer>(&recorded, 1));
          }
          return answer;
        });
    if (command && response.status < 500) response.headers.emplace_back(std::string(kAnswerRecordedHeader), "true");
    return response;
  } catch (const ReservationLost&) {
    return key_in_progress();
  }
}

// What is stored of an answer: a secret shown once (an API key's "token") is stored as null; the
// headers as a JSON array of pairs, without kAnswerRecordedHeader.
std::pair<std::string, std::string> stored_form(const http::Response& response);

// A stored answer as replayed: the first answer with Idempotent-Replayed: true.
http::Response replay(unsigned status, std::string content_type, std::string body, std::string_view headers_json);

// ---- The api's side ----

struct KeyRequest {
  std::int64_t principal_id = 0;
  std::string idempotency_key;
  std::string method;
  std::string path;
  std::string request_sha256;  // of method, target and body
  std::string request_id;
};

// What reserve_key found.
struct Reservation {
  enum class State {
    reserved,     // this request holds the key now
    answered,     // the key has an answer: `answer` is its replay
    other_body,   // the key was used for another request (422 idempotency_key_reused)
    held,         // another request holds it (wait and look again)
    held_stale,   // another request has held it longer than the stale bound (take_over may take it)
  };
  State state = State::held;
  std::optional<http::Response> answer;
  std::string held_by;  // held / held_stale: the request id holding it
};

// One statement: reserves the key for the request, or says who has it.
Reservation reserve_key(pqxx::transaction_base& tx, const KeyRequest& request, std::chrono::milliseconds stale_after);
// Takes over a stale reservation held by `stale_request_id`; false if it changed meanwhile.
bool take_over(pqxx::transaction_base& tx, const KeyRequest& request, std::string_view stale_request_id);
// Stores an answer the owning service did not record, with the command's audit row, in one
// statement (the answer only while the reservation is still this request's; the row always).
void answer_key(pqxx::transaction_base& tx, const KeyRequest& request, const http::Response& response,
                const AuditRecord& record);
// After a 5xx: releases the reservation, or, when the owning service recorded an answer before it
// failed to deliver it, returns that answer (as first given, not as a replay).
std::optional<http::Response> release_key(pqxx::transaction_base& tx, const KeyRequest& request);

// Commands of the api itself, in their own transaction (duplicates serialised by an advisory lock
// on the key): the stored answer, if any, or nullopt; then store_answer with the command's row.
struct StoredAnswer {
  bool same_request = true;  // false: the key was used for another request
  bool answered = true;      // false: reserved by a forwarded command, not answered yet
  std::optional<http::Response> replay;
};
std::optional<StoredAnswer> find_answer(pqxx::transaction_base& tx, const KeyRequest& request);
void store_answer(pqxx::transaction_base& tx, const KeyRequest& request, const http::Response& response,
                  const AuditRecord& record);

}  // namespace cch::audit
