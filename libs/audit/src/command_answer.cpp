#include "cch/audit/command_answer.hpp"

#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace cch::audit {
namespace {

std::string text_of(std::optional<std::string_view> value) { return value ? std::string(*value) : std::string(); }

std::int64_t microseconds_since(UtcTimestamp start) {
  return std::max<std::int64_t>(0, UtcTimestamp::now().unix_microseconds() - start.unix_microseconds());
}

std::optional<std::string> optional_text(const std::string& text) {
  return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

}  // namespace

std::vector<http::NameValue> forwarded_command_headers(std::string_view route, std::string_view path,
                                                       UtcTimestamp received_at, std::string_view remote_address) {
  return {{std::string(kRouteHeader), std::string(route)},
          {std::string(kPublicPathHeader), std::string(path.substr(0, 2048))},
          {std::string(kReceivedAtHeader), received_at.format()},
          {std::string(kRemoteAddressHeader), std::string(remote_address.substr(0, 64))}};
}

std::optional<ForwardedCommand> forwarded_command(const http::Request& request, const access::Principal& principal) {
  const auto key = request.header("Idempotency-Key");
  const auto route = request.header(kRouteHeader);
  const auto path = request.header(kPublicPathHeader);
  const auto received = request.header(kReceivedAtHeader);
  if (!key || !route || !path || !received) return std::nullopt;
  const auto received_at = UtcTimestamp::parse(*received);
  if (!received_at) return std::nullopt;
  return ForwardedCommand{.principal = principal,
                          .request_id = request.request_id,
                          .idempotency_key = std::string(*key),
                          .method = request.method,
                          .route = std::string(*route),
                          .path = std::string(*path),
                          .received_at = *received_at,
                          .remote_address = text_of(request.header(kRemoteAddressHeader))};
}

http::Response key_in_progress() {
  http::Response response = http::problem(409, "idempotency_key_in_progress", "Request in progress",
                                          "a request with this Idempotency-Key is still being answered; "
                                          "retry with the same key shortly");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

std::pair<std::string, std::string> stored_form(const http::Response& response) {
  std::string body = response.body;
  if (response.body.find("\"token\"") != std::string::npos) {
    auto json = nlohmann::json::parse(response.body, nullptr, false);
    if (json.is_object() && json.contains("token")) {
      json["token"] = nullptr;
      body = json.dump();
    }
  }
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& [name, value] : response.headers) {
    if (name != kAnswerRecordedHeader) headers.push_back({name, value});
  }
  return {std::move(body), headers.dump()};
}

http::Response replay(unsigned status, std::string content_type, std::string body, std::string_view headers_json) {
  http::Response answer;
  answer.status = status;
  answer.content_type = std::move(content_type);
  answer.body = std::move(body);
  for (const auto& pair : nlohmann::json::parse(headers_json)) {
    answer.headers.emplace_back(pair[0].get<std::string>(), pair[1].get<std::string>());
  }
  answer.headers.emplace_back("Idempotent-Replayed", "true");
  return answer;
}

void record_answers(pqxx::transaction_base& tx, std::span<const CommandAnswer> answers) {
  if (answers.empty()) return;
  std::vector<std::int64_t> principal_ids, statuses, durations;
  std::vector<std::string> keys, request_ids, content_types, bodies, headers, received, names, roles, credentials,
      methods, routes, paths, addresses;
  std::vector<std::optional<std::string>> reasons;
  for (const CommandAnswer& answer : answers) {
    const ForwardedCommand& command = *answer.command;
    const http::Response& response = *answer.response;
    principal_ids.push_back(command.principal.id.value());
    keys.push_back(command.idempotency_key);
    request_ids.push_back(command.request_id);
    statuses.push_back(response.status);
    content_types.push_back(response.content_type);
    auto [body, header_json] = stored_form(response);
    bodies.push_back(std::move(body));
    headers.push_back(std::move(header_json));
    received.push_back(command.received_at.format());
    names.push_back(command.principal.name);
    roles.emplace_back(access::to_string(command.principal.role));
    credentials.emplace_back(access::to_string(command.principal.credential));
    methods.push_back(command.method);
    routes.push_back(command.route);
    paths.push_back(command.path.substr(0, 2048));
    reasons.push_back(optional_text(problem_reason(response)));
    addresses.push_back(command.remote_address.substr(0, 64));
    durations.push_back(microseconds_since(command.received_at));
  }
  // The audit rows are written for the answers that found their reservation; all must have.
  const auto written = db::exec_cached(
      tx,
      "WITH a AS ("
      "  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], "
      "    $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], "
      "    $15::text[], $16::text[], $17::bigint[]) "
      "  AS x (principal_id, idempotency_key, request_id, status, content_type, body, headers, received_at, "
      "        principal_name, role, credential, method, route, path, reason, remote_address, duration_us)), "
      "answered AS ("
      "  UPDATE api.idempotency i SET response_status = a.status, response_content_type = a.content_type, "
      "         response_body = a.body, response_headers = a.headers::jsonb "
      "    FROM a WHERE i.principal_id = a.principal_id AND i.idempotency_key = a.idempotency_key "
      "     AND i.reserved_by = a.request_id AND i.response_status IS NULL "
      "  RETURNING i.principal_id, i.idempotency_key), "
      "logged AS ("
      "  INSERT INTO api.request_log (received_at, request_id, principal_id, principal_name, role, credential, "
      "                               method, route, path, status, reason, remote_address, duration_us) "
      "  SELECT a.received_at, a.request_id, a.principal_id, a.principal_name, a.role, a.credential, a.method, "
      "         a.route, a.path, a.status, a.reason, a.remote_address, a.duration_us "
      "    FROM a JOIN answered USING (principal_id, idempotency_key) "
      "  RETURNING 1) "
      "SELECT count(*) FROM logged",
      db::integer_array(principal_ids), db::text_array(keys), db::text_array(request_ids),
      db::integer_array(statuses), db::text_array(content_types), db::text_array(bodies), db::text_array(headers),
      db::text_array(received), db::text_array(names), db::text_array(roles), db::text_array(credentials),
      db::text_array(methods), db::text_array(routes), db::text_array(paths), db::nullable_text_array(reasons),
      db::text_array(addresses), db::integer_array(durations));
  if (written[0][0].as<std::size_t>() != answers.size()) {
    throw ReservationLost("an Idempotency-Key reservation is no longer its command's");
  }
}

Reservation reserve_key(pqxx::transaction_base& tx, const KeyRequest& request, std::chrono::milliseconds stale_after) {
  const auto found = db::exec_cached(
      tx,
      "WITH reserved AS ("
      "  INSERT INTO api.idempotency (principal_id, idempotency_key, method, path, request_sha256, reserved_by) "
      "  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (principal_id, idempotency_key) DO NOTHING RETURNING 1) "
      "SELECT EXISTS (SELECT 1 FROM reserved), i.request_sha256, i.response_status, i.response_content_type, "
      "       i.response_body, i.response_headers::text, i.reserved_by, "
      "       i.created_at < clock_timestamp() - make_interval(secs => $7::bigint / 1000.0) "
      "FROM (SELECT 1) AS one LEFT JOIN api.idempotency i ON i.principal_id = $1 AND i.idempotency_key = $2",
      request.principal_id, request.idempotency_key, request.method, request.path.substr(0, 2048),
      request.request_sha256, request.request_id, static_cast<std::int64_t>(stale_after.count()));
  const auto row = found[0];
  Reservation reservation;
  if (row[0].as<bool>()) {
    reservation.state = Reservation::State::reserved;
  } else if (row[1].is_null()) {
    reservation.state = Reservation::State::held;  // the row was not visible yet: look again
  } else if (row[1].as<std::string>() != request.request_sha256) {
    reservation.state = Reservation::State::other_body;
  } else if (!row[2].is_null()) {
    reservation.state = Reservation::State::answered;
    reservation.answer = replay(row[2].as<unsigned>(), row[3].as<std::string>(), row[4].as<std::string>(),
                                row[5].as<std::string>());
  } else {
    reservation.state = row[7].as<bool>() ? Reservation::State::held_stale : Reservation::State::held;
    reservation.held_by = row[6].as<std::string>();
  }
  return reservation;
}

bool take_over(pqxx::transaction_base& tx, const KeyRequest& request, std::string_view stale_request_id) {
  const auto taken = db::exec_cached(
      tx,
      "UPDATE api.idempotency SET reserved_by = $3, created_at = clock_timestamp() "
      "WHERE principal_id = $1 AND idempotency_key = $2 AND reserved_by = $4 AND response_status IS NULL",
      request.principal_id, request.idempotency_key, request.request_id, std::string(stale_request_id));
  return taken.affected_rows() == 1;
}

void answer_key(pqxx::transaction_base& tx, const KeyRequest& request, const http::Response& response,
                const AuditRecord& record) {
  const auto [body, headers] = stored_form(response);
  db::exec_cached(tx,
                  "UPDATE api.idempotency SET response_status = $4, response_content_type = $5, response_body = $6, "
                  "response_headers = $7::jsonb "
                  "WHERE principal_id = $1 AND idempotency_key = $2 AND reserved_by = $3 AND response_status IS NULL",
                  request.principal_id, request.idempotency_key, request.request_id, static_cast<int>(response.status),
                  response.content_type, body, headers);
  insert_record(tx, record);
}

std::optional<http::Response> release_key(pqxx::transaction_base& tx, const KeyRequest& request) {
  const auto released = db::exec_cached(tx, "SELECT api.release_idempotency($1, $2, $3)", request.principal_id,
                                        request.idempotency_key, request.request_id);
  if (released[0][0].as<bool>()) return std::nullopt;
  // Not released: answered meanwhile by the owning service (read in a snapshot taken after the
  // release waited for the service's transaction), or no longer this request's.
  const auto stored = db::exec_cached(
      tx,
      "SELECT response_status, response_content_type, response_body, response_headers::text FROM api.idempotency "
      "WHERE principal_id = $1 AND idempotency_key = $2 AND reserved_by = $3 AND response_status IS NOT NULL",
      request.principal_id, request.idempotency_key, request.request_id);
  if (stored.empty()) return std::nullopt;
  http::Response answer = replay(stored[0][0].as<unsigned>(), stored[0][1].as<std::string>(),
                                 stored[0][2].as<std::string>(), stored[0][3].as<std::string>());
  answer.headers.pop_back();  // the first answer, not a replay of it
  return answer;
}

std::optional<StoredAnswer> find_answer(pqxx::transaction_base& tx, const KeyRequest& request) {
  // Requests with one key wait for each other here: the first runs, the others then find its answer.
  db::exec_cached(tx, "SELECT pg_advisory_xact_lock(($1 % 2147483647)::int, hashtext($2))", request.principal_id,
                  request.idempotency_key);
  const auto stored = db::exec_cached(
      tx,
      "SELECT request_sha256, response_status, response_content_type, response_body, response_headers::text "
      "FROM api.idempotency WHERE principal_id = $1 AND idempotency_key = $2",
      request.principal_id, request.idempotency_key);
  if (stored.empty()) return std::nullopt;
  const auto row = stored[0];
  if (row[0].as<std::string>() != request.request_sha256) {
    return StoredAnswer{.same_request = false, .answered = true, .replay = std::nullopt};
  }
  if (row[1].is_null()) return StoredAnswer{.same_request = true, .answered = false, .replay = std::nullopt};
  return StoredAnswer{.same_request = true, .answered = true, .replay = replay(row[1].as<unsigned>(), row[2].as<std::string>(), row[3].as<std::string>(),
                                       row[4].as<std::string>())};
}

void store_answer(pqxx::transaction_base& tx, const KeyRequest& request, const http::Response& response,
                  const AuditRecord& record) {
  const auto [body, headers] = stored_form(response);
  db::exec_cached(tx,
                  "INSERT INTO api.idempotency (principal_id, idempotency_key, method, path, request_sha256, "
                  "response_status, response_content_type, response_body, response_headers) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
                  request.principal_id, request.idempotency_key, request.method, request.path.substr(0, 2048),
                  request.request_sha256, static_cast<int>(response.status), response.content_type, body, headers);
  insert_record(tx, record);
}

}  // namespace cch::audit
