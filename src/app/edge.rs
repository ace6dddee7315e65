//! The edge every routed request passes: the header limit, load shedding, the request metrics
//! and `Retry-After`, in one layer whose future is not boxed.
//!
//! Each of these was an axum middleware of its own, and each such middleware boxes its future
//! (some twice) and every `Router::layer` call adds a box more. A long poll holds its futures
//! for up to 20 s, so their bytes count per waiting connection; here they are a few words in
//! the one future of the router's single layer stack.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::{domain, http, telemetry::prometheus::RequestMetrics};

/// Most bytes of request headers (names, values and separators) a request may carry; a JWT or
/// a SigV4 `Authorization` header is well under a kilobyte.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    permits: Arc<Semaphore>,
}

impl EdgeLayer {
    /// Serves at most `max_concurrent` requests at once; beyond it, sheds load with 503.
    pub fn new(max_concurrent: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_concurrent)),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// The service of [`EdgeLayer`].
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    permits: Arc<Semaphore>,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let metrics = RequestMetrics::start(&request);
        let (inner, refused, permit) = if let Some(refusal) = refuse_large_headers(&request) {
            (None, Some(refusal), None)
        } else {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => (Some(self.inner.call(request)), None, Some(permit)),
                Err(_) => {
                    let overloaded = crate::api::ApiError::from(domain::Error::Overloaded);
                    (None, Some(overloaded.into_response()), None)
                }
            }
        };
        EdgeFuture {
            inner,
            refused,
            permit,
            metrics,
        }
    }
}

pin_project! {
    /// The response future of [`Edge`].
    pub struct EdgeFuture<F> {
        // The routed request's future; none when the edge answered itself (`refused`).
        #[pin]
        inner: Option<F>,
        refused: Option<Response>,
        // Counts the request against the concurrency limit until its response is ready.
        permit: Option<OwnedSemaphorePermit>,
        metrics: RequestMetrics,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.as_pin_mut() {
            Some(inner) => match ready!(inner.poll(cx)) {
                Ok(response) => response,
                Err(never) => match never {},
            },
            None => this.refused.take().expect("polled after completion"),
        };
        this.permit.take();
        retry_after(&mut response);
        this.metrics.finish(&response);
        Poll::Ready(Ok(response))
    }
}

/// A `431` in the error shape for requests whose headers exceed [`MAX_HEADER_BYTES`] (hyper
/// itself reads up to `server::MAX_READ_BUFFER` before giving up without a body).
fn refuse_large_headers(request: &Request) -> Option<Response> {
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (bytes > MAX_HEADER_BYTES).then(|| {
        http::error_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            &format!(
                "the request's headers take {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
            ),
        )
    })
}

/// Every 429 and 503, of either door, tells clients when to retry; a handler may set its own.
fn retry_after(response: &mut Response) {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static("1"));
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use axum::body::Body;
    use tower::{ServiceExt, service_fn};

    use super::*;

    /// A routed request that waits until it is dropped (a long poll).
    fn waits_forever()
    -> Edge<impl Service<Request, Response = Response, Error = Infallible> + Clone> {
        EdgeLayer::new(1).layer(service_fn(|_: Request| async {
            pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }))
    }

    #[tokio::test]
    async fn requests_over_the_limit_are_shed_with_retry_after_until_one_ends() {
        let edge = waits_forever();
        let mut first = Box::pin(edge.clone().oneshot(Request::new(Body::empty())));
        assert!(futures_util::poll!(first.as_mut()).is_pending());

        let shed = edge.clone().oneshot(Request::new(Body::empty())).await;
        let shed = shed.expect("infallible");
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");

        // A request that goes away (its client disconnected) frees its place.
        drop(first);
        let next = edge.oneshot(Request::new(Body::empty()));
        let mut next = std::pin::pin!(next);
        assert!(futures_util::poll!(next.as_mut()).is_pending());
    }

    #[tokio::test]
    async fn oversized_headers_are_refused_without_taking_a_place() {
        let edge = waits_forever();
        let mut request = Request::new(Body::empty());
        let big = HeaderValue::from_str(&"x".repeat(MAX_HEADER_BYTES)).expect("ascii");
        request.headers_mut().insert("x-big", big);
        let refused = edge.clone().oneshot(request).await.expect("infallible");
        assert_eq!(
            refused.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );

        let next = edge.oneshot(Request::new(Body::empty()));
        let mut next = std::pin::pin!(next);
        assert!(futures_util::poll!(next.as_mut()).is_pending());
    }
}
