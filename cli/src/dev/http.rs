//! `imgflex dev`'s HTTP shell: binds the loopback port, accepts connections (HTTP/1.1, as
//! hyper serves it), takes each request apart for the app (`App::answer`), turns its
//! answer into a response, and stops cleanly on Ctrl-C.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use imgflex_core::{ACCEPT_CH, Viewer};
use tokio::net::TcpListener;

use super::{Answer, App, Asked};

/// How long Ctrl-C waits for open requests before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One request: its method, path, query, `Accept` and target handed to the app, the answer
/// made a response.
async fn respond(app: Arc<App>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
    let headers = request.headers();
    let viewer = Viewer::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()));
    let answer = app
        .answer(&Asked {
            method: &method,
            path: request.uri().path(),
            query: request.uri().query(),
            viewer,
            target: &target,
        })
        .await;
    into_response(answer, method == Method::HEAD)
}

fn into_response(answer: Answer, head: bool) -> Response<Full<Bytes>> {
    let length = answer.body.len();
    let body = if head { Bytes::new() } else { answer.body };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        // Keys are percent-encoded and messages ASCII, so every value is a valid header;
        // a value that somehow is not is dropped rather than failing the response.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    // As the deployed response headers policy (ContentTypeOptions): no browser guesses a
    // type other than the one sent.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // As the deployed response headers policy: the page (this server's `/` is one) opts in
    // to the client hints `w=auto` and `dpr=auto` read, and a browser keeps one answer per
    // hint. `Accept-CH` counts only on a page's own response: a site on another origin
    // delegates the hints to its CDN itself (README, "Client hints").
    headers.insert(
        HeaderName::from_static("accept-ch"),
        HeaderValue::from_static(ACCEPT_CH),
    );
    // HEAD says how long GET's body is, as S3 and the Lambda do.
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// How long a connection may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `127.0.0.1:port`. A port in use is the one error a user hits here, so it gets its
/// own message.
pub async fn bind(port: u16) -> Result<TcpListener, BindError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => BindError::InUse(port),
            _ => BindError::Other(port, e),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("port `{0}` is already in use")]
    InUse(u16),
    #[error("cannot listen on `127.0.0.1:{0}`: {1}")]
    Other(u16, std::io::Error),
}

/// Accepts connections until `shutdown` resolves, then lets open requests finish (up to
/// [`SHUTDOWN_GRACE`]) and returns.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer): (_, SocketAddr) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: say so, breathe, go on.
                        eprintln!("warning: cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Responses go out in one write; don't let Nagle hold the last segment.
                let _ = stream.set_nodelay(true);
                let app = Arc::clone(&app);
                let service = hyper::service::service_fn(move |request| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(respond(app, request).await) }
                });
                // A client gets HEADER_READ_TIMEOUT to send a request's headers, the first or
                // the next on a kept-alive connection: one that dribbles them, or holds a
                // connection open and says nothing, is closed rather than holding a file
                // descriptor that real requests need.
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    // A viewer hanging up mid-response is its business, not an error here.
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "warning: requests still open after {} s were cut off",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
