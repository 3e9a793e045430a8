//! The HTTP/1 server of the API's listener and of the metrics' own: the accept loop, with the
//! limits that keep a slow or oversized client from holding the daemon, and a graceful stop.
//!
//! A request's head may be at most `server.max_header_bytes` (431 beyond it) and must arrive
//! within `server.header_timeout_ms` of the connection opening or its previous answer: a client
//! that dribbles its head, or holds a connection open without sending anything, is cut off. At
//! most `server.max_connections` are open at once: past that the loop stops accepting, and the
//! kernel's listen queue holds newcomers until a connection closes, so a flood of clients costs
//! a bounded number of descriptors and tasks. On stop no connection is taken any more; the loop
//! waits for those open to finish their requests and for request work that outlived its
//! connection (`api::deadline`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use metrics::Gauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;

use crate::api::deadline::Drained;
use crate::config::ServerConfig;

/// The smallest read buffer the HTTP/1 layer takes.
const MIN_BUFFER: usize = 8192;

/// How long to wait before accepting again after the process ran out of something (descriptors,
/// memory): connections under way end meanwhile.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

fn http1(config: &ServerConfig) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.header_timeout_ms))
        .max_header_size(config.max_header_bytes)
        // Room for a head somewhat over the limit, read whole and answered 431, rather than a
        // connection cut off mid-read; and a bound on what a connection buffers before that.
        .max_buf_size((2 * config.max_header_bytes).max(MIN_BUFFER));
    builder
}

/// Serves `app` on `listener` until `stop` resolves, then drains. `name` tells the listener's
/// connections apart from another's in metrics.
pub async fn serve<App>(
    listener: TcpListener,
    name: &'static str,
    app: App,
    config: &ServerConfig,
    drained: Drained,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    App: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    App::Future: Send + 'static,
{
    let builder = http1(config);
    let graceful = GracefulShutdown::new();
    let room = Arc::new(Semaphore::new(config.max_connections));
    let connections = metrics::gauge!("switchyard_http_connections", "listener" => name);
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, held) = tokio::select! {
            accepted = accept(&listener, &room, &connections) => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept connections; trying again shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _held = held;
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    // New connections are refused from here on.
    drop(listener);
    drop(app);
    graceful.shutdown().await;
    drained.wait().await;
    Ok(())
}

/// A connection open, holding its place among `server.max_connections` and counted in `gauge`.
struct Open {
    _place: OwnedSemaphorePermit,
    gauge: Gauge,
}

impl Open {
    fn new(place: OwnedSemaphorePermit, gauge: &Gauge) -> Self {
        gauge.increment(1.0);
        Self { _place: place, gauge: gauge.clone() }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// The next connection, once there is room for it.
async fn accept(listener: &TcpListener, room: &Arc<Semaphore>, gauge: &Gauge) -> std::io::Result<(TcpStream, Open)> {
    let place = Arc::clone(room).acquire_owned().await.expect("the semaphore is never closed");
    let (stream, _) = listener.accept().await?;
    Ok((stream, Open::new(place, gauge)))
}

/// Descriptors the daemon holds besides its client connections: the database, providers' pooled
/// connections, the metrics listener, the runtime's own. A generous margin.
const OTHER_DESCRIPTORS: u64 = 256;

/// Makes room for `max_connections` open at once: raises the process's soft limit on open
/// descriptors as far as they need, up to the hard limit (the usual soft default of 1,024 would
/// have the listener fail to accept, and back off, well before the cap), and warns when even the
/// hard limit leaves too few.
#[cfg(unix)]
pub fn make_room_for(max_connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = (max_connections as u64).saturating_add(OTHER_DESCRIPTORS);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return;
    }
    let raised = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
    let soft = match raised > soft && setrlimit(Resource::Nofile, Rlimit { current: Some(raised), ..limit }).is_ok() {
        true => {
            tracing::info!(from = soft, to = raised, "raised the limit on open descriptors");
            raised
        }
        false => soft,
    };
    if soft < wanted {
        tracing::warn!(
            descriptors = soft,
            max_connections,
            "the limit on open descriptors (ulimit -n) is too low for server.max_connections; \
             raise it or lower max_connections"
        );
    }
}

#[cfg(not(unix))]
pub fn make_room_for(_max_connections: usize) {}

/// Errors of one connection that went away before it was accepted, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
