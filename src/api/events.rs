//! The events endpoints: what a profile's merchant was told by webhook, and every try at telling
//! them. `GET /v2/events` lists events (newest first; `object_id`, `limit`, `offset`),
//! `GET /v2/events/{id}` shows one with its last try, `GET /v2/events/{id}/attempts` every try.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::answer::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{page_limit, ApiQuery};
use super::types::time;
use crate::api::state::{AppState, Call};
use crate::domain::event::{Delivery, Event, EventStatus};
use crate::payments::Scope;
use crate::store::EventFilter;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, retrieve, attempts))]
pub(super) struct Doc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/events", get(list))
        .route("/v2/events/{id}", get(retrieve))
        .route("/v2/events/{id}/attempts", get(attempts))
}

/// `?object_id=&limit=&offset=` for the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only the events of this payment or refund.
    #[serde(default)]
    object_id: Option<String>,
    /// How many events to list, 20 unless given.
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// How many to skip.
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295_u32)]
    offset: Option<u32>,
}

/// `id`, the event's id, in a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
struct EventId {
    /// The event's id.
    #[allow(dead_code)]
    id: String,
}

/// An event the merchant was sent.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventListItemResponse)]
struct EventListItem<'a> {
    event_id: &'a str,
    merchant_id: &'a str,
    profile_id: &'a str,
    object_id: &'a str,
    event_type: &'a str,
    /// `payments` or `refunds`.
    event_class: &'a str,
    /// Unknown (null) while tries go on.
    is_delivery_successful: Option<bool>,
    initial_attempt_id: &'a str,
    #[serde(serialize_with = "time")]
    created: DateTime<Utc>,
}

impl<'a> EventListItem<'a> {
    fn of(event: &'a Event) -> Self {
        Self {
            event_id: &event.id,
            merchant_id: &event.merchant_id,
            profile_id: &event.profile_id,
            object_id: &event.object_id,
            event_type: &event.event_type,
            event_class: &event.class,
            is_delivery_successful: match event.status {
                EventStatus::Pending => None,
                EventStatus::Delivered => Some(true),
                EventStatus::Failed => Some(false),
            },
            initial_attempt_id: &event.id,
            created: event.created_at,
        }
    }
}

/// An event, the request sent and what came back.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventRetrieveResponse)]
struct EventAttempt<'a> {
    #[serde(flatten)]
    event: EventListItem<'a>,
    /// The try's own id (`{event_id}_{n}`); the event's id while it has had none.
    attempt_id: &'a str,
    request: Request<'a>,
    response: Answer<'a>,
    /// None while it has not been tried.
    delivery_attempt: Option<DeliveryAttempt>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WebhookDeliveryAttempt)]
enum DeliveryAttempt {
    InitialAttempt,
    AutomaticRetry,
}

/// The request sent: the body, exactly, and its headers as name and value pairs.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OutgoingWebhookRequestContent)]
struct Request<'a> {
    body: &'a str,
    #[schema(value_type = Vec<Vec<String>>)]
    headers: &'a [(String, String)],
}

/// What the merchant's endpoint answered, or why there was no answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OutgoingWebhookResponseContent)]
struct Answer<'a> {
    status_code: Option<u16>,
    body: Option<&'a str>,
    error_message: Option<&'a str>,
}

impl<'a> EventAttempt<'a> {
    fn of(event: &'a Event, delivery: Option<&'a Delivery>) -> Self {
        Self {
            event: EventListItem::of(event),
            attempt_id: delivery.map_or(&event.id, |d| &d.id),
            request: Request { body: &event.body, headers: delivery.map_or(&[], |d| &d.request_headers) },
            response: Answer {
                status_code: delivery.and_then(|d| d.status_code),
                body: delivery.and_then(|d| d.response_body.as_deref()),
                error_message: delivery.and_then(|d| d.error_message.as_deref()),
            },
            delivery_attempt: delivery.map(|d| match d.attempt {
                1 => DeliveryAttempt::InitialAttempt,
                _ => DeliveryAttempt::AutomaticRetry,
            }),
        }
    }
}

/// Events - List
///
/// The events the profile's merchant was sent by webhook, newest first.
#[utoipa::path(
    get,
    path = "/v2/events",
    tag = "Events",
    operation_id = "List Events",
    params(ListQuery),
    responses((status = 200, description = "The profile's events, newest first", body = Vec<EventListItem>)),
    security(("api_key" = []))
)]
async fn list(state: Call, caller: Scope, ApiQuery(query): ApiQuery<ListQuery>) -> Result<Response, ApiError> {
    let filter =
        EventFilter { object_id: query.object_id, limit: page_limit(query.limit)?, offset: query.offset.unwrap_or(0) };
    let events = state.core.store.events(&caller.merchant_id, caller.profile_id.as_deref(), &filter).await?;
    Ok(Json(events.iter().map(EventListItem::of).collect::<Vec<_>>()).into_response())
}

async fn find(state: &Call, caller: &Scope, id: &str) -> Result<(Event, Vec<Delivery>), ApiError> {
    let event = state
        .core
        .store
        .find_event(id, &caller.merchant_id, caller.profile_id.as_deref())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {id}")))?;
    let deliveries = state.core.store.deliveries(id).await?;
    Ok((event, deliveries))
}

/// Events - Retrieve
///
/// One event, with the request sent and the last answer.
#[utoipa::path(
    get,
    path = "/v2/events/{id}",
    tag = "Events",
    operation_id = "Retrieve an Event",
    params(EventId),
    responses((status = 200, description = "The event and its last try", body = EventAttempt)),
    security(("api_key" = []))
)]
async fn retrieve(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (event, deliveries) = find(&state, &caller, &id).await?;
    Ok(Json(EventAttempt::of(&event, deliveries.last())).into_response())
}

/// Events - Delivery Attempts
///
/// Every try at delivering an event, first first.
#[utoipa::path(
    get,
    path = "/v2/events/{id}/attempts",
    tag = "Events",
    operation_id = "List Delivery Attempts of an Event",
    params(EventId),
    responses((status = 200, description = "Every try, first first", body = Vec<EventAttempt>)),
    security(("api_key" = []))
)]
async fn attempts(state: Call, caller: Scope, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (event, deliveries) = find(&state, &caller, &id).await?;
    let tries: Vec<EventAttempt<'_>> = deliveries.iter().map(|d| EventAttempt::of(&event, Some(d))).collect();
    Ok(Json(tries).into_response())
}
