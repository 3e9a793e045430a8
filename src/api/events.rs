//! The events endpoints: what a profile's merchant was told by webhook, and every try at telling
//! them. `GET /v2/events` lists events (newest first; `object_id`, `limit`, `offset`),
//! `GET /v2/events/{id}` shows one with its last try, `GET /v2/events/{id}/attempts` every try.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{page_limit, ApiQuery};
use super::types::time;
use crate::app::AppState;
use crate::events::{Delivery, Event, EventStatus};
use crate::store::EventFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/events", get(list))
        .route("/v2/events/{id}", get(retrieve))
        .route("/v2/events/{id}/attempts", get(attempts))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u32>,
}

/// `EventListItemResponse`.
#[derive(Debug, Serialize)]
struct EventListItem<'a> {
    event_id: &'a str,
    merchant_id: &'a str,
    profile_id: &'a str,
    object_id: &'a str,
    event_type: &'a str,
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

/// `EventRetrieveResponse`: the event, the request sent and what came back.
#[derive(Debug, Serialize)]
struct EventAttempt<'a> {
    #[serde(flatten)]
    event: EventListItem<'a>,
    /// The try's own id (`{event_id}_{n}`); the event's id while it has had none.
    attempt_id: &'a str,
    request: Request<'a>,
    response: Answer<'a>,
    delivery_attempt: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Request<'a> {
    body: &'a str,
    headers: &'a [(String, String)],
}

#[derive(Debug, Serialize)]
struct Answer<'a> {
    status_code: Option<u16>,
    body: Option<&'a str>,
    headers: Option<()>,
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
                headers: None,
                error_message: delivery.and_then(|d| d.error_message.as_deref()),
            },
            delivery_attempt: delivery.map(|d| match d.attempt {
                1 => "initial_attempt",
                _ => "automatic_retry",
            }),
        }
    }
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let filter =
        EventFilter { object_id: query.object_id, limit: page_limit(query.limit)?, offset: query.offset.unwrap_or(0) };
    let events = state.store.events(&caller.merchant_id, &caller.profile_id, &filter).await?;
    Ok(Json(events.iter().map(EventListItem::of).collect::<Vec<_>>()).into_response())
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<(Event, Vec<Delivery>), ApiError> {
    let event = state
        .store
        .find_event(id, &caller.merchant_id, &caller.profile_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {id}")))?;
    let deliveries = state.store.deliveries(id).await?;
    Ok((event, deliveries))
}

async fn retrieve(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (event, deliveries) = find(&state, &caller, &id).await?;
    Ok(Json(EventAttempt::of(&event, deliveries.last())).into_response())
}

async fn attempts(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (event, deliveries) = find(&state, &caller, &id).await?;
    let tries: Vec<EventAttempt<'_>> = deliveries.iter().map(|d| EventAttempt::of(&event, Some(d))).collect();
    Ok(Json(tries).into_response())
}
