//! The HTTP server: an accept loop over hyper's HTTP/1 connections serving the
//! axum router, with per-connection information (peer address, and a way for the
//! fault injector to drop the connection without answering).

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

/// What a handler knows about its connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    drop: Arc<Notify>,
}

impl ConnInfo {
    /// A loopback peer with nothing to drop: for requests served in-process.
    pub(crate) fn loopback() -> ConnInfo {
        ConnInfo {
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            drop: Arc::new(Notify::new()),
        }
    }

    /// Closes the connection at once, without a response.
    pub fn drop_connection(&self) {
        self.drop.notify_one();
    }
}

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let mut stop = shutdown.clone();
                conns.spawn(async move {
                    let drop = Arc::new(Notify::new());
                    let info = ConnInfo { peer, drop: drop.clone() };
                    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                        req.extensions_mut().insert(info.clone());
                        let router = router.clone();
                        async move { router.oneshot(req.map(axum::body::Body::new)).await }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = drop.notified() => {}
                        _ = stop.changed() => {}
                    }
                });
                // Reap finished connection tasks.
                while conns.try_join_next().is_some() {}
            }
            _ = shutdown.changed() => break,
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
